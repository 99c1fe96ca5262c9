#include "run_batch.h"

#include <string.h>

#include "run_simworker.h"
#include "run_spec.h"

G_DEFINE_QUARK(natlab-run-batch-error-quark, run_batch_error)

static const run_spec_t *same_name(GPtrArray *all, guint before, const char *name)
{
    for (guint k = 0; k < before; k++) {
        const run_spec_t *other = g_ptr_array_index(all, k);
        if (strcmp(other->scenario->name, name) == 0)
            return other;
    }
    return NULL;
}

GPtrArray *run_batch_select(GPtrArray *all, const run_batch_options_t *o, rng_t *seeds,
                            GError **error)
{
    g_autoptr(GPtrArray) chosen = g_ptr_array_new();
    for (guint i = 0; i < all->len; i++) {
        run_spec_t *spec = g_ptr_array_index(all, i);
        const run_spec_t *other = same_name(all, i, spec->scenario->name);
        if (other) {
            g_set_error(error, RUN_BATCH_ERROR, RUN_BATCH_ERROR_NAME,
                        "two scenarios are named '%s' (%s and %s); names must differ",
                        spec->scenario->name, other->scenario->path, spec->scenario->path);
            return NULL;
        }
        if (o->repeat)
            spec->repeat = o->repeat;
        if (o->seed_set) {
            spec->scenario->seed = o->seed;
            spec->scenario->seed_set = true;
        } else if (!spec->scenario->seed_set) {
            spec->scenario->seed = rng_next(seeds) >> 1; /* 0 .. 2^63-1, as a file's seed */
            spec->scenario->seed_set = true;
        }
        if (run_shard_takes(o->shard, i))
            g_ptr_array_add(chosen, spec);
    }
    for (guint i = 0; o->sim && i < chosen->len; i++) {
        g_autofree char *why = run_simworker_check(g_ptr_array_index(chosen, i));
        if (why) {
            g_set_error(error, RUN_BATCH_ERROR, RUN_BATCH_ERROR_SIM, "%s", why);
            return NULL;
        }
    }
    return g_steal_pointer(&chosen);
}
