/* What a port-mapping protocol remembers beside the engine's explicit
 * mappings (PCP's nonce, UPnP's description), keyed by (protocol, internal
 * endpoint). A record is valid while the engine holds the explicit mapping
 * it was made for, as last granted (same external endpoint and expiry): if
 * the mapping expired, was deleted or renewed by another protocol, the
 * record is stale. Stale records go lazily, and in a sweep whenever the
 * table has doubled since the last: amortised O(1) per record. */
#pragma once
#include <glib.h>

#include "nat_engine.h"

typedef struct nat_record {
    nat_proto_t proto;
    addr_endpoint_t internal; /* with proto, the key */
    addr_endpoint_t external;
    usec_t expires_at;
    void *data; /* the protocol's own; freed by the table's free_data */
} nat_record_t;

typedef struct nat_records nat_records_t;

nat_records_t *nat_records_new(GDestroyNotify free_data);
void nat_records_free(nat_records_t *records);
void nat_records_clear(nat_records_t *records);
bool nat_records_live(const nat_engine_t *engine, const nat_record_t *record, usec_t now);
/* The live record of (proto, internal), or NULL (a stale one is dropped). */
nat_record_t *nat_records_find(nat_records_t *records, const nat_engine_t *engine,
                               nat_proto_t proto, addr_endpoint_t internal, usec_t now);
/* Records what the engine just granted, with `data` (taken; the old data freed). */
void nat_records_set(nat_records_t *records, const nat_engine_t *engine, nat_proto_t proto,
                     addr_endpoint_t internal, addr_endpoint_t external, usec_t expires_at,
                     void *data, usec_t now);
/* Records held, stale ones not yet dropped included. */
guint nat_records_count(const nat_records_t *records);
void nat_records_remove(nat_records_t *records, nat_proto_t proto, addr_endpoint_t internal);
/* Visits every record, live or not; those `visit` returns true for are removed. */
void nat_records_filter(nat_records_t *records, bool (*visit)(nat_record_t *record, void *ctx),
                        void *ctx);
