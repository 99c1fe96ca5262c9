/* The population model: the share of endpoints behind each NAT type in the
 * field (a key file, docs/report.md), and what it makes of a measured
 * matrix: the direct-connection rate to expect if peers were drawn from
 * that population, next to figures others have published. */
#pragma once
#include <glib.h>
#include <stddef.h>

#include "reports/report_stats.h"

typedef struct population {
    char *origin;      /* the file, or "built-in" */
    char *name;        /* [about] name */
    char *description; /* [about] description; NULL */
    char *sources;     /* [about] sources; NULL */
    GPtrArray *nats;   /* char *, in file order */
    GArray *weights;   /* double, normalised to sum 1, same order */
} population_t;

/* The built-in model's key file text (docs/report.md explains its weights). */
const char *population_default_text(void);
population_t *population_new_default(void);
population_t *population_load_data(const char *data, size_t len, const char *origin,
                                   GError **error);
/* population_file.c: the same from a file, named in errors. */
population_t *population_load_file(const char *path, GError **error);
void population_free(population_t *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(population_t, population_free)

/* Normalised weight of a NAT name; 0 when the model does not list it. */
double population_weight(const population_t *p, const char *nat);

typedef struct population_estimate {
    double direct;    /* expected shares; NAN when no weighted pair was measured */
    double relayed;
    double failed;
    double direct_se; /* standard error of direct from the attempts' binomial noise */
    double coverage;  /* share of the population's peer pairs the matrix measured */
    size_t cells;     /* measured unordered pairs with weight */
} population_estimate_t;

/* Peers drawn independently: pair {i, j} has probability w_i w_j (twice that
 * for i != j, both orders); both orders of a measured pair are pooled. The
 * expectation is over measured pairs only, renormalised by coverage. */
void population_estimate(const population_t *p, const report_stats_t *s,
                         population_estimate_t *out);

typedef struct population_published {
    const char *who;   /* "Ford, Srisuresh and Kegel 2005" */
    const char *what;  /* what was measured, in a few words */
    const char *shown; /* the figure as published: "82%" */
    double low;        /* the direct share it implies, as a range */
    double high;
    const char *url;
} population_published_t;

const population_published_t *population_published(size_t *n);
