#include "nat_records.h"

#define NAT_RECORDS_PRUNE_MIN 64 /* records before the first sweep */

struct nat_records {
    GHashTable *table; /* nat_record_t, each its own key */
    GDestroyNotify free_data;
    guint prune_at;
};

static guint record_hash(gconstpointer p)
{
    const nat_record_t *r = p;
    return (r->internal.ip * 2654435761u) ^ r->internal.port ^ ((guint)r->proto << 17);
}

static gboolean record_equal(gconstpointer a, gconstpointer b)
{
    const nat_record_t *x = a, *y = b;
    return x->proto == y->proto && addr_endpoint_equal(x->internal, y->internal);
}

static void record_free(nat_records_t *records, nat_record_t *r)
{
    if (r->data && records->free_data)
        records->free_data(r->data);
    g_free(r);
}

static gboolean remove_record(gpointer key, gpointer value, gpointer ctx)
{
    (void)value;
    record_free(ctx, key);
    return TRUE;
}

nat_records_t *nat_records_new(GDestroyNotify free_data)
{
    nat_records_t *records = g_new0(nat_records_t, 1);
    records->table = g_hash_table_new(record_hash, record_equal);
    records->free_data = free_data;
    records->prune_at = NAT_RECORDS_PRUNE_MIN;
    return records;
}

void nat_records_clear(nat_records_t *records)
{
    g_hash_table_foreach_remove(records->table, remove_record, records);
    records->prune_at = NAT_RECORDS_PRUNE_MIN;
}

void nat_records_free(nat_records_t *records)
{
    if (!records)
        return;
    nat_records_clear(records);
    g_hash_table_destroy(records->table);
    g_free(records);
}

bool nat_records_live(const nat_engine_t *engine, const nat_record_t *r, usec_t now)
{
    nat_mapping_info_t info;
    return nat_engine_find_explicit(engine, r->proto, r->internal, now, &info) &&
           addr_endpoint_equal(info.external, r->external) && info.expires_at == r->expires_at;
}

static void take_out(nat_records_t *records, nat_record_t *r)
{
    g_hash_table_remove(records->table, r);
    record_free(records, r);
}

nat_record_t *nat_records_find(nat_records_t *records, const nat_engine_t *engine,
                               nat_proto_t proto, addr_endpoint_t internal, usec_t now)
{
    nat_record_t key = { .proto = proto, .internal = internal };
    nat_record_t *r = g_hash_table_lookup(records->table, &key);
    if (r && !nat_records_live(engine, r, now)) {
        take_out(records, r);
        r = NULL;
    }
    return r;
}

typedef struct prune_ctx {
    const nat_engine_t *engine;
    usec_t now;
} prune_ctx_t;

static bool is_stale(nat_record_t *r, void *ctx)
{
    const prune_ctx_t *p = ctx;
    return !nat_records_live(p->engine, r, p->now);
}

void nat_records_set(nat_records_t *records, const nat_engine_t *engine, nat_proto_t proto,
                     addr_endpoint_t internal, addr_endpoint_t external, usec_t expires_at,
                     void *data, usec_t now)
{
    nat_record_t key = { .proto = proto, .internal = internal };
    nat_record_t *r = g_hash_table_lookup(records->table, &key);
    if (!r) {
        r = g_new0(nat_record_t, 1);
        r->proto = proto;
        r->internal = internal;
        g_hash_table_add(records->table, r);
    }
    if (r->data && records->free_data)
        records->free_data(r->data);
    r->external = external;
    r->expires_at = expires_at;
    r->data = data;
    if (g_hash_table_size(records->table) > records->prune_at) {
        prune_ctx_t ctx = { engine, now };
        nat_records_filter(records, is_stale, &ctx);
        records->prune_at = MAX(NAT_RECORDS_PRUNE_MIN, 2 * g_hash_table_size(records->table));
    }
}

guint nat_records_count(const nat_records_t *records)
{
    return g_hash_table_size(records->table);
}

void nat_records_remove(nat_records_t *records, nat_proto_t proto, addr_endpoint_t internal)
{
    nat_record_t key = { .proto = proto, .internal = internal };
    nat_record_t *r = g_hash_table_lookup(records->table, &key);
    if (r)
        take_out(records, r);
}

void nat_records_filter(nat_records_t *records, bool (*visit)(nat_record_t *record, void *ctx),
                        void *ctx)
{
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, records->table);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        if (visit(key, ctx)) {
            g_hash_table_iter_steal(&it);
            record_free(records, key);
        }
    }
}
