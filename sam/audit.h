/*
 * The SAM's audit log writer: an append-only, tamper-evident chain of records per writer, with
 * group commit.
 *
 * What it is for: invariant 1 (no signature leaves the SAM before its audit record is durably
 * committed) and invariant 4 (append-only, tamper-evident: per-writer sequence numbers, a hash
 * chain, a MAC per record made in the HSM).  Each SAM instance is one writer, with its own id and
 * a gap-free sequence 1, 2, 3, ...; writers never share a chain.
 *
 * Threads: any number of request threads call qs_audit_append / qs_audit_append_many at once.
 * Each call validates and copies its events, queues them and blocks.  One writer thread, with its
 * own database connection (role qsign_sam) and its own HSM session, takes everything queued (up
 * to max_batch records, never splitting one call's events), gives the records consecutive
 * sequence numbers, computes their hashes and MACs, inserts them in one transaction, commits,
 * and wakes each caller with the result.  One commit serves many requests while the chain stays
 * strictly ordered.
 *
 * Failure: a batch that fails fails every call in it, each with the error, and nothing of it is
 * stored (one transaction).  The writer then reloads its head (last seq and record_hash) from
 * the database, verifying that record's hash and MAC, before the next batch, so the chain stays
 * consistent whatever happened.  When the connection was lost during COMMIT (outcome unknown),
 * the writer reads the head back at once: if it is the batch's last record, byte for byte, the
 * batch committed and the callers get QS_OK; otherwise they get the error.
 *
 * Trust boundary: event contents come from SAM code, never secrets (no PIN, OTP, SAD handle, key
 * bytes).  Details are a JSON object the SAM builds; they are stored as text, byte for byte, so
 * a verifier recomputes the hash from what is stored.
 *
 * ---- Record encoding, version 1 (docs/audit-log.md says the same, with a test vector) --------
 *
 *   record_hash = SHA-256(E)
 *   record_mac  = HMAC-SHA-256(K, "qsign-audit-mac-v1" || record_hash)
 *
 * K is the HSM's record-MAC key (label "qsign-record-mac"; audit_writers.mac_key_label).  The
 * MAC input is the 18 ASCII bytes of the domain string, no length and no terminator, then the 32
 * bytes of record_hash.  E is the concatenation of these fields, in this order:
 *
 *   1. str("qsign-audit-record-v1")  the domain and version of the encoding
 *   2. str(writer_id)                audit_log.writer_id
 *   3. u64(seq)                      audit_log.seq (>= 1)
 *   4. i64(event_time)               audit_log.event_time as microseconds since
 *                                    1970-01-01T00:00:00Z, two's complement; timestamptz holds
 *                                    exactly microseconds, so the stored value gives it back
 *   5. str(event_type)               audit_log.event_type
 *   6. str(actor)                    audit_log.actor
 *   7. opt(user_id, 16)              audit_log.user_id, the 16 bytes of the UUID (RFC 4122
 *                                    order, as PostgreSQL's binary format sends them)
 *   8. opt(credential_id, 16)        audit_log.credential_id, likewise
 *   9. opt(sad_ref, 32)              audit_log.sad_ref
 *  10. u8(result)                    1 for 'success', 0 for 'failure'
 *  11. str(details)                  audit_log.details, the stored text's bytes
 *  12. prev_hash                     audit_log.prev_hash, 32 bytes (32 zero bytes for seq 1)
 *
 * where
 *   u8(x)     one byte
 *   u32(x)    4 bytes, big-endian
 *   u64(x)    8 bytes, big-endian, unsigned
 *   i64(x)    8 bytes, big-endian, two's complement
 *   str(s)    u32(byte length of s) || the bytes of s (UTF-8 as stored, no terminator)
 *   opt(v, n) the byte 0x00 when the column is NULL, else the byte 0x01 || the n bytes of v
 *
 * Every field has a fixed length or a length prefix, so two different records never encode to
 * the same bytes.  A verifier checks, per writer, in seq order: seq runs 1, 2, 3, ... without a
 * gap; prev_hash equals the previous record's record_hash (zeros for seq 1); record_hash equals
 * SHA-256(E) recomputed from the stored columns; record_mac equals the HMAC above.  A change to
 * a later version of this encoding changes the domain string.
 */
#ifndef QS_SAM_AUDIT_H
#define QS_SAM_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "hsm/hsm.h"
#include "util/err.h"

typedef struct qs_audit qs_audit;

#define QS_AUDIT_WRITER_ID_MAX   64    /* bytes; [A-Za-z0-9][A-Za-z0-9._-]{0,63} */
#define QS_AUDIT_DESCRIPTION_MAX 256   /* characters */
#define QS_AUDIT_EVENT_TYPE_MAX  64    /* bytes; [a-z][a-z0-9_.]{0,63} */
#define QS_AUDIT_ACTOR_MAX       200   /* characters (UTF-8), at least 1 */
#define QS_AUDIT_DETAILS_MAX     16384 /* bytes of the JSON text */
#define QS_AUDIT_UUID_LEN        16
#define QS_AUDIT_SAD_REF_LEN     32
#define QS_AUDIT_HASH_LEN        32
#define QS_AUDIT_MAC_LEN         32

/* Records one batch carries when max_batch is 0. */
#define QS_AUDIT_MAX_BATCH_DEFAULT 512
/* Most events one qs_audit_append_many call may carry (a SAD allows up to 1000 signatures). */
#define QS_AUDIT_APPEND_MANY_MAX 2048

/* Label of the HSM key that MACs audit records, recorded in audit_writers.mac_key_label. */
#define QS_AUDIT_MAC_KEY_LABEL "qsign-record-mac"

/* Domain strings of the record encoding (version 1) and of the MAC input. */
#define QS_AUDIT_RECORD_DOMAIN "qsign-audit-record-v1"
#define QS_AUDIT_MAC_DOMAIN    "qsign-audit-mac-v1"

typedef struct qs_audit_params {
    const char *writer_id;   /* this SAM instance's writer id (config), copied */
    const char *description; /* free text for audit_writers (host, instance); NULL = "" */
    const char *conninfo;    /* libpq conninfo as role qsign_sam; not kept */
    qs_hsm *hsm;             /* open HSM; the writer opens its own session on it */
    size_t max_batch;        /* most records per transaction; 0 = QS_AUDIT_MAX_BATCH_DEFAULT */
} qs_audit_params;

/* One event to record.  Everything is copied by the append functions. */
typedef struct qs_audit_event {
    const char *event_type;       /* dotted lowercase, e.g. "signature.created" */
    const char *actor;            /* who acted, 1..200 characters of UTF-8 */
    const uint8_t *user_id;       /* QS_AUDIT_UUID_LEN bytes, or NULL */
    const uint8_t *credential_id; /* QS_AUDIT_UUID_LEN bytes, or NULL */
    const uint8_t *sad_ref;       /* QS_AUDIT_SAD_REF_LEN bytes (sads.sad_hash), or NULL */
    bool success;
    const char *details_json; /* the text of a JSON object, never secrets; NULL = "{}" */
} qs_audit_event;

/* Where a record sits: writer id and sequence number (sads.auth_event_writer/_seq). */
typedef struct qs_audit_ref {
    char writer_id[QS_AUDIT_WRITER_ID_MAX + 1];
    uint64_t seq;
} qs_audit_ref;

/*
 * Starts a writer: connects as qsign_sam, checks the schema version and that commits are
 * durable (synchronous_commit not off), registers the writer in audit_writers if it is new (MAC
 * key QS_AUDIT_MAC_KEY_LABEL), takes the writer's advisory lock (waiting a few seconds for a
 * holder that is going away), loads the chain's head and verifies its record_hash and
 * record_mac, then starts the writer thread.
 *
 * Errors: QS_ERR_INVALID_ARGUMENT (bad params), QS_ERR_EXISTS (another process holds this
 * writer id), QS_ERR_MAC (the head record fails verification: the chain was altered; the log
 * says how), QS_ERR_CONFIG (the writer is registered with another MAC key, or synchronous_commit
 * is off so commits would not be durable), QS_ERR_DB_*, QS_ERR_HSM*.  *out is NULL on error.
 */
QS_MUST_CHECK qs_err qs_audit_start(const qs_audit_params *p, qs_audit **out);

/*
 * Records one event and returns once it is durably committed (QS_OK) or has failed.  On success
 * *out (may be NULL) says where it sits.  QS_ERR_INVALID_ARGUMENT when the event breaks the
 * rules above (nothing is queued; the log says which field), QS_ERR_NOMEM, or the error that
 * failed its batch (QS_ERR_DB_*, QS_ERR_HSM*, QS_ERR_MAC, QS_ERR_EXISTS when another process
 * took the writer id while the connection was down).  No error means the record is committed.
 */
QS_MUST_CHECK qs_err qs_audit_append(qs_audit *a, const qs_audit_event *ev, qs_audit_ref *out);

/*
 * Records n events (1..QS_AUDIT_APPEND_MANY_MAX) of one request, e.g. one per signature, all or
 * nothing in one commit, at consecutive sequence numbers in the given order: on success
 * out->seq (out may be NULL) is the first one's, event i sits at out->seq + i.  One invalid
 * event refuses the whole call.  Otherwise as qs_audit_append.
 */
QS_MUST_CHECK qs_err qs_audit_append_many(qs_audit *a, const qs_audit_event *evs, size_t n,
                                          qs_audit_ref *out);

/* Writes what is queued, stops the writer thread, closes its connection and HSM session, and
 * frees.  Every append call must have been made before, from threads that are done or blocked
 * in it (they get their results).  NULL is a no-op. */
void qs_audit_stop(qs_audit *a);

/* Counters of a running writer, for /metrics, tests and benchmarks. */
typedef struct qs_audit_stats {
    uint64_t head_seq;       /* last sequence number known committed (0: empty chain) */
    uint64_t records;        /* records committed by this writer since start */
    uint64_t batches;        /* transactions committed */
    uint64_t failed_records; /* records whose batch failed */
    uint64_t failed_batches;
    uint64_t largest_batch; /* most records in one committed batch */
    size_t queued;          /* records waiting for the writer thread */
    size_t in_flight;       /* records in the batch being written */
} qs_audit_stats;

/* A snapshot of the counters. */
void qs_audit_get_stats(qs_audit *a, qs_audit_stats *out);

/* ---- Records and verification ------------------------------------------------------------- */

/* One record as stored, the input of the encoding above.  Strings are NUL-terminated UTF-8. */
typedef struct qs_audit_record {
    const char *writer_id;
    uint64_t seq;
    int64_t event_time_us; /* microseconds since the Unix epoch */
    const char *event_type;
    const char *actor;
    const uint8_t *user_id;       /* 16 bytes or NULL */
    const uint8_t *credential_id; /* 16 bytes or NULL */
    const uint8_t *sad_ref;       /* 32 bytes or NULL */
    bool success;
    const char *details;
    const uint8_t *prev_hash; /* 32 bytes */
} qs_audit_record;

/* record_hash of a record: SHA-256 over its encoding.  QS_ERR_INVALID_ARGUMENT for a NULL
 * string or prev_hash. */
QS_MUST_CHECK qs_err qs_audit_record_hash(const qs_audit_record *rec,
                                          uint8_t hash[static QS_AUDIT_HASH_LEN]);

/* record_mac of a record_hash, made in the HSM with the record-MAC key. */
QS_MUST_CHECK qs_err qs_audit_record_mac(qs_hsm_session *hs,
                                         const uint8_t hash[static QS_AUDIT_HASH_LEN],
                                         uint8_t mac[static QS_AUDIT_MAC_LEN]);

/* Recomputes the MAC in the HSM and compares in constant time: QS_OK or QS_ERR_MAC. */
QS_MUST_CHECK qs_err qs_audit_record_mac_verify(qs_hsm_session *hs,
                                                const uint8_t hash[static QS_AUDIT_HASH_LEN],
                                                const uint8_t mac[static QS_AUDIT_MAC_LEN]);

/* Whether `s` (len bytes, NUL-free) is the text of a JSON object (RFC 8259) that PostgreSQL's
 * jsonb also accepts, within QS_AUDIT_DETAILS_MAX bytes.  Stricter than PostgreSQL in two
 * corners, never laxer: nesting deeper than 64 levels and numbers longer than 256 characters or
 * with an exponent beyond +-1000 are refused. */
bool qs_audit_details_valid(const char *s, size_t len);

/* What a verifier found wrong with a record. */
typedef enum qs_audit_problem {
    QS_AUDIT_SEQ_GAP = 1,  /* seq is not the previous one + 1 (1 for the first record) */
    QS_AUDIT_BAD_LINK = 2, /* prev_hash is not the previous record's record_hash */
    QS_AUDIT_BAD_HASH = 3, /* record_hash is not the hash of the stored columns */
    QS_AUDIT_BAD_MAC = 4,  /* record_mac is not the HSM's MAC of record_hash */
} qs_audit_problem;

/* Short name of a problem ("seq-gap", "bad-link", "bad-hash", "bad-mac"). */
const char *qs_audit_problem_name(qs_audit_problem p);

typedef struct qs_audit_finding {
    const char *writer_id;
    uint64_t seq; /* the stored seq of the record found wrong */
    qs_audit_problem problem;
    const char *what; /* one line for people, e.g. "expected seq 5, found 6" */
} qs_audit_finding;

/* Told about each finding, in seq order (one record may give several).  Return true to go on,
 * false to stop the verification there. */
typedef bool (*qs_audit_finding_cb)(void *cls, const qs_audit_finding *f);

/*
 * Verifies a writer's whole chain: streams its records in seq order, a page at a time (bounded
 * memory; each page in its own read-only transaction), and checks each as the encoding comment
 * says, MACs in the HSM through `hs`.  `db` is any role that may read audit_log (qsign_audit,
 * qsign_sam), not inside a transaction.  `cb` (may be NULL) hears every finding; *count (may be
 * NULL) is the number of records read.  Returns QS_OK when the chain is intact, QS_ERR_MAC when
 * there were findings, QS_ERR_NOT_FOUND for an unknown writer, QS_ERR_UNSUPPORTED when the
 * writer's MAC key is not QS_AUDIT_MAC_KEY_LABEL, or a database or HSM error.
 *
 * A chain cut short at its end (the last records deleted) looks intact here; signed checkpoints
 * (a later issue) close that gap.
 */
QS_MUST_CHECK qs_err qs_audit_verify_chain(qs_db *db, qs_hsm_session *hs, const char *writer_id,
                                           qs_audit_finding_cb cb, void *cls, uint64_t *count);

#endif
