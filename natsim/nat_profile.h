/* A NAT profile: every RFC 4787 dimension natsim emulates, as parsed from
 * the [nat] group of a GLib key file, a preset, or a preset plus overrides. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/duration.h"
#include "common/keyfile.h"

typedef enum nat_type {
    NAT_TYPE_NAT,      /* translates addresses and ports */
    NAT_TYPE_FIREWALL, /* no translation; stateful filtering only */
    NAT_TYPE_OPEN,     /* no NAT, no filter: the open internet */
    NAT_TYPE_BLOCKED,  /* drops all UDP */
} nat_type_t;

/* RFC 4787 section 4.1 (mapping) and section 5 (filtering) use the same three. */
typedef enum nat_dependence {
    NAT_ENDPOINT_INDEPENDENT,
    NAT_ADDRESS_DEPENDENT,
    NAT_ADDRESS_AND_PORT_DEPENDENT,
} nat_dependence_t;

typedef enum nat_allocation {
    NAT_ALLOC_PRESERVE,
    NAT_ALLOC_SEQUENTIAL,
    NAT_ALLOC_RANDOM,
} nat_allocation_t;

typedef enum nat_parity { NAT_PARITY_IGNORE, NAT_PARITY_PRESERVE } nat_parity_t;
typedef enum nat_refresh { NAT_REFRESH_OUTBOUND, NAT_REFRESH_BOTH } nat_refresh_t;
typedef enum nat_pooling { NAT_POOLING_PAIRED, NAT_POOLING_ARBITRARY } nat_pooling_t;

typedef enum nat_hairpin {
    NAT_HAIRPIN_OFF,
    NAT_HAIRPIN_ON,              /* RFC 4787 REQ-9a: source is the sender's external endpoint */
    NAT_HAIRPIN_INTERNAL_SOURCE, /* non-compliant: the sender's private endpoint leaks */
} nat_hairpin_t;

enum nat_port_mapping_flags {
    NAT_PORT_MAPPING_NATPMP = 1 << 0,
    NAT_PORT_MAPPING_PCP = 1 << 1,
    NAT_PORT_MAPPING_UPNP = 1 << 2, /* UPnP IGD:1 (SSDP + SOAP) */
};

#define NAT_PROFILE_MAX_PUBLIC_IPS 256

/* RFC 5382 REQ-4 and what real routers do instead: the answer to an inbound
 * SYN that no session, mapping or filter admits. */
typedef enum nat_tcp_unsolicited {
    NAT_TCP_UNSOLICITED_HOLD, /* REQ-4: keep it 6 s; an outbound SYN of the pair drops it, else ICMP 3/3 */
    NAT_TCP_UNSOLICITED_DROP, /* silence */
    NAT_TCP_UNSOLICITED_RST,  /* a reset, as Linux/OpenWrt's REJECT answers */
    NAT_TCP_UNSOLICITED_ICMP, /* ICMP port unreachable at once */
} nat_tcp_unsolicited_t;

/* A non-SYN segment from inside that belongs to no session (its session
 * timed out, or it never passed this NAT). */
typedef enum nat_tcp_no_session {
    NAT_TCP_NO_SESSION_DROP,   /* RFC 6146 section 3.5.2.2: silently discarded */
    NAT_TCP_NO_SESSION_RST,    /* answered with a reset, so the host gives up at once */
    NAT_TCP_NO_SESSION_PICKUP, /* taken up as established, as Linux conntrack's tcp_loose does */
} nat_tcp_no_session_t;

/* An inbound SYN from the remote of a session a reset closed (RFC 6146's
 * transitory state). */
typedef enum nat_tcp_reset_session {
    NAT_TCP_RESET_REOPEN,  /* RFC 6146 section 3.5.2.2: a new connection opens it again */
    NAT_TCP_RESET_INVALID, /* Linux conntrack: a reply-direction SYN on a CLOSE entry is invalid
                              and meets the unsolicited-SYN answer */
} nat_tcp_reset_session_t;

typedef enum nat_port_space {
    NAT_PORT_SPACE_SEPARATE, /* RFC 7857 section 5: each protocol has its own ports */
    NAT_PORT_SPACE_SHARED,   /* one pool: a port held by UDP is not free for TCP */
} nat_port_space_t;

typedef enum nat_refused { NAT_REFUSED_DROP, NAT_REFUSED_REJECT } nat_refused_t;

/* An outbound allow-list of destination ports for one protocol. */
#define NAT_ALLOW_MAX_RANGES 16
typedef struct nat_allow {
    bool all;
    unsigned n; /* 0 with !all: nothing goes out */
    uint16_t lo[NAT_ALLOW_MAX_RANGES], hi[NAT_ALLOW_MAX_RANGES];
} nat_allow_t;

bool nat_allow_has(const nat_allow_t *allow, uint16_t port);

/* The behaviours a profile may set apart for TCP (`tcp-mapping`, ...);
 * `set` says which were given, the others follow the protocol-wide keys.
 * Pooling and CGN blocks are per subscriber and stay shared. */
enum nat_tcp_override {
    NAT_TCP_SET_MAPPING = 1 << 0,
    NAT_TCP_SET_FILTERING = 1 << 1,
    NAT_TCP_SET_ALLOCATION = 1 << 2,
    NAT_TCP_SET_PRESERVE_FALLBACK = 1 << 3,
    NAT_TCP_SET_SEQUENTIAL_STEP = 1 << 4,
    NAT_TCP_SET_PORT_RANGE = 1 << 5,
    NAT_TCP_SET_PORT_PARITY = 1 << 6,
    NAT_TCP_SET_HAIRPIN = 1 << 7,
    NAT_TCP_SET_PORT_QUOTA = 1 << 8,
};

/* Link impairments for one direction; natsim applies them itself (no netem). */
typedef struct nat_impairment {
    usec_t latency;
    usec_t jitter;
    double loss;    /* probability 0..1 */
    double reorder; /* probability 0..1 that a packet is held back behind the next */
} nat_impairment_t;

typedef struct nat_tcp_overrides {
    unsigned set; /* enum nat_tcp_override */
    int mapping, filtering, allocation, preserve_fallback; /* the enums, as the key parser stores them */
    uint16_t sequential_step;
    uint16_t port_min, port_max;
    int port_parity, hairpin;
    uint32_t port_quota;
} nat_tcp_overrides_t;

typedef struct nat_profile {
    char *name; /* the preset it came from, or the file */
    nat_type_t type;
    nat_dependence_t mapping;
    nat_dependence_t filtering;
    nat_allocation_t allocation;
    nat_allocation_t preserve_fallback; /* where a preserved port is taken */
    uint16_t sequential_step;
    uint16_t port_min, port_max;
    nat_parity_t port_parity;
    usec_t timeout;
    usec_t timeout_unreplied; /* 0: same as timeout */
    usec_t hold_down;
    usec_t icmp_timeout; /* ICMP query mappings (RFC 5508 REQ-2) */
    nat_refresh_t refresh;
    nat_hairpin_t hairpin;
    unsigned public_ip_count;
    uint32_t public_ips[NAT_PROFILE_MAX_PUBLIC_IPS]; /* host order; all 0 = topology assigns */
    nat_pooling_t pooling;
    uint16_t port_block;      /* CGN block size; 0 = no blocks */
    uint16_t port_blocks_max; /* blocks per subscriber */
    uint32_t port_quota;      /* live mappings per subscriber; 0 = unlimited */
    unsigned port_mapping;    /* nat_port_mapping_flags */
    usec_t port_mapping_lifetime_max;
    nat_impairment_t inbound, outbound;
    /* TCP (RFC 5382, RFC 7857) */
    nat_tcp_overrides_t tcp;
    usec_t tcp_established_timeout; /* REQ-5: at least 2 h 4 min by default */
    usec_t tcp_transitory_timeout;  /* RFC 7857 section 2.2: 4 min by default */
    nat_tcp_unsolicited_t tcp_unsolicited_syn;
    nat_tcp_no_session_t tcp_no_session;
    nat_tcp_reset_session_t tcp_reset_session;
    nat_port_space_t tcp_ports;
    /* Outbound allow-lists by destination port, and what refusal looks like. */
    nat_allow_t allow_out_udp, allow_out_tcp;
    nat_refused_t refused;
} nat_profile_t;

#define NAT_PROFILE_ERROR (nat_profile_error_quark())
GQuark nat_profile_error_quark(void);
enum { NAT_PROFILE_ERROR_INVALID, NAT_PROFILE_ERROR_UNKNOWN_PRESET };

typedef struct nat_preset_info {
    const char *name;
    const char *description;
} nat_preset_info_t;

const nat_preset_info_t *nat_profile_presets(size_t *count);
/* Port-mapping flags as the profile key writes them: "none", "nat-pmp,pcp,upnp". */
char *nat_profile_port_mapping_text(unsigned flags);

/* A preset by name; NULL with an error listing the presets if unknown. */
nat_profile_t *nat_profile_new_preset(const char *name, GError **error);
/* Parses the keys of one key-file group on top of `profile`. A "preset" key
 * first replaces the profile with that preset. Keys listed in `foreign_keys`
 * belong to the caller (a scenario's "behind") and are skipped; any other
 * unknown key is an error. Every error names file, line, key, value and the
 * allowed values. Cross-key checks run too (nat_profile_validate). */
bool nat_profile_apply_group(nat_profile_t *profile, const keyfile_t *kf, const char *group,
                             const char *const *foreign_keys, GError **error);
/* Loads a profile file ([nat] group) or text; checks that span keys run
 * last. The file variant is the shell half (nat_profile_file.c). */
nat_profile_t *nat_profile_load_file(const char *path, GError **error);
nat_profile_t *nat_profile_load_data(const char *data, size_t len, const char *origin,
                                     GError **error);
/* Checks that span several keys (port range vs parity, blocks vs range, ...). */
bool nat_profile_validate(const nat_profile_t *profile, GError **error);
/* Every key a profile understands, NULL-terminated (for help and fuzzing). */
const char *const *nat_profile_keys(void);
/* Applies one KEY VALUE (the control socket's `set`). */
bool nat_profile_set(nat_profile_t *profile, const char *key, const char *value,
                     GError **error);
nat_profile_t *nat_profile_copy(const nat_profile_t *profile);
void nat_profile_free(nat_profile_t *profile);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(nat_profile_t, nat_profile_free)

/* The normalised key file text: every key that has meaning for this type. */
char *nat_profile_to_keyfile(const nat_profile_t *profile);
/* The same keys and values as a JSON object (no trailing newline). */
char *nat_profile_to_json(const nat_profile_t *profile);
JsonNode *nat_profile_to_json_node(const nat_profile_t *profile);
/* The profile as TCP sees it: `view` becomes a copy of `profile` with the
 * tcp-* overrides written over the protocol-wide fields. */
void nat_profile_tcp_view(const nat_profile_t *profile, nat_profile_t *view);
/* One line: "EIM/APDF preserve hairpin" style summary for tables. */
char *nat_profile_summary(const nat_profile_t *profile);

const char *nat_type_name(nat_type_t v);
const char *nat_dependence_name(nat_dependence_t v);
const char *nat_allocation_name(nat_allocation_t v);
const char *nat_hairpin_name(nat_hairpin_t v);
const char *nat_pooling_name(nat_pooling_t v);
const char *nat_refresh_name(nat_refresh_t v);
const char *nat_parity_name(nat_parity_t v);
const char *nat_tcp_unsolicited_name(nat_tcp_unsolicited_t v);
const char *nat_tcp_no_session_name(nat_tcp_no_session_t v);
const char *nat_tcp_reset_session_name(nat_tcp_reset_session_t v);
