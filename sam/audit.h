/*
 * The SAM's audit log writer: an append-only, tamper-evident chain of records per writer, with
 * group commit.
 *
 * What it is for: invariant 1 (no signature leaves the SAM before its audit record is durably
 * committed) and invariant 4 (append-only, tamper-evident: per-writer sequence numbers, a hash
 * chain, a MAC per record made in the HSM, and signed checkpoints).  Each SAM instance is one
 * writer, with its own id and a gap-free sequence 1, 2, 3, ...; writers never share a chain.
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
 * Checkpoints: after a batch committed, the writer thread signs a checkpoint of the committed
 * head (seq and record_hash, with the time) with the HSM's audit signing key and stores it in
 * its own transaction, when checkpoint_every_records records or checkpoint_every_seconds
 * seconds have passed since the last one; an idle writer wakes up for the time limit; and
 * qs_audit_stop signs the final head.  Callers never wait for a checkpoint, and a checkpoint
 * that fails fails no caller (it is logged and tried again later).  The writer's public key is
 * registered once in audit_writers.checkpoint_spki; a writer whose HSM holds another audit key
 * refuses to start (a chain keeps one checkpoint key; a new key needs a new writer id).
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
 *
 * ---- Checkpoint statement, version 1 ----------------------------------------------------------
 *
 *   signature = ECDSA-P256-Sign(audit key, SHA-256(C)), DER Ecdsa-Sig-Value
 *
 * C is the concatenation, with the same u64/i64/str as above, of:
 *
 *   1. str("qsign-audit-checkpoint-v1")
 *   2. str(writer_id)
 *   3. u64(seq)              the head: seq of the last record the checkpoint covers (>= 1)
 *   4. head_hash             record_hash of that record, 32 bytes
 *   5. i64(checkpoint_time)  microseconds since the Unix epoch, when it was signed
 *
 * The audit key is the HSM's EC P-256 key "qsign-audit-sign"; its public key (DER
 * SubjectPublicKeyInfo) is audit_writers.checkpoint_spki.  As record_hash commits to the whole
 * chain before it, a valid checkpoint at seq n vouches for records 1..n: a chain that no longer
 * reaches n was cut short, and one whose record n has another hash was rewritten.
 */
#ifndef QS_SAM_AUDIT_H
#define QS_SAM_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* Domain strings of the record encoding (version 1), of the MAC input and of the checkpoint
 * statement (version 1). */
#define QS_AUDIT_RECORD_DOMAIN     "qsign-audit-record-v1"
#define QS_AUDIT_MAC_DOMAIN        "qsign-audit-mac-v1"
#define QS_AUDIT_CHECKPOINT_DOMAIN "qsign-audit-checkpoint-v1"

#define QS_AUDIT_SIG_MAX  72   /* DER ECDSA P-256 signature */
#define QS_AUDIT_SPKI_MAX 2048 /* a checkpoint key's SubjectPublicKeyInfo */

typedef struct qs_audit_params {
    const char *writer_id;   /* this SAM instance's writer id (config), copied */
    const char *description; /* free text for audit_writers (host, instance); NULL = "" */
    const char *conninfo;    /* libpq conninfo as role qsign_sam; not kept */
    qs_hsm *hsm;             /* open HSM; the writer opens its own session on it */
    size_t max_batch;        /* most records per transaction; 0 = QS_AUDIT_MAX_BATCH_DEFAULT */
    /* A checkpoint once this many records were committed since the last one; 0 = never for
     * this reason. */
    uint64_t checkpoint_every_records;
    /* A checkpoint once this many seconds passed since the last one (or the start) and records
     * were committed meanwhile; 0 = never for this reason.  qs_audit_stop always signs the
     * final head if it is not checkpointed yet. */
    unsigned checkpoint_every_seconds;
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
 * key QS_AUDIT_MAC_KEY_LABEL) and its checkpoint key (the HSM's audit key) if it has none,
 * takes the writer's advisory lock (waiting a few seconds for a holder that is going away),
 * loads the chain's head and verifies its record_hash and record_mac, reads the last
 * checkpoint, then starts the writer thread.
 *
 * Errors: QS_ERR_INVALID_ARGUMENT (bad params), QS_ERR_EXISTS (another process holds this
 * writer id), QS_ERR_MAC (the head record fails verification: the chain was altered; the log
 * says how), QS_ERR_CONFIG (the writer is registered with another MAC key or another checkpoint
 * key, or synchronous_commit is off so commits would not be durable), QS_ERR_DB_*, QS_ERR_HSM*.
 * *out is NULL on error.
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

/* Writes what is queued, signs a checkpoint of the final head unless it has one, stops the
 * writer thread, closes its connection and HSM session, and frees.  Every append call must have
 * been made before, from threads that are done or blocked in it (they get their results).  NULL
 * is a no-op. */
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
    uint64_t checkpoints;   /* checkpoints stored by this writer since start */
    uint64_t failed_checkpoints;
    uint64_t checkpoint_seq; /* seq of the chain's last checkpoint known stored (0: none) */
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

/* What a verifier found wrong with a record or a checkpoint. */
typedef enum qs_audit_problem {
    QS_AUDIT_SEQ_GAP = 1,  /* seq is not the previous one + 1 (1 for the first record) */
    QS_AUDIT_BAD_LINK = 2, /* prev_hash is not the previous record's record_hash */
    QS_AUDIT_BAD_HASH = 3, /* record_hash is not the hash of the stored columns */
    QS_AUDIT_BAD_MAC = 4,  /* record_mac is not the HSM's MAC of record_hash */
    /* A checkpoint's signature does not verify with its key (or the writer has no key). */
    QS_AUDIT_BAD_CHECKPOINT = 5,
    /* The record at a checkpoint's seq is missing or has another record_hash: the chain was
     * rewritten after the checkpoint was signed. */
    QS_AUDIT_CHECKPOINT_MISMATCH = 6,
    /* The chain ends before a checkpoint's seq: records were cut off its end. */
    QS_AUDIT_TRUNCATED = 7,
    /* An exported checkpoint was signed with another key than the writer's registered one. */
    QS_AUDIT_KEY_MISMATCH = 8,
} qs_audit_problem;

/* Short name of a problem ("seq-gap", "bad-link", "bad-hash", "bad-mac", "bad-checkpoint",
 * "checkpoint-mismatch", "truncated", "checkpoint-key"). */
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

/* ---- Checkpoints ------------------------------------------------------------------------- */

/* A signed checkpoint, as stored or exported. */
typedef struct qs_audit_checkpoint {
    char writer_id[QS_AUDIT_WRITER_ID_MAX + 1];
    uint64_t seq;
    uint8_t head_hash[QS_AUDIT_HASH_LEN];
    int64_t time_us;
    uint8_t signature[QS_AUDIT_SIG_MAX];
    size_t signature_len;
} qs_audit_checkpoint;

/* SHA-256 of the checkpoint statement C (the encoding comment above); the signature is
 * ignored.  QS_ERR_INVALID_ARGUMENT for an invalid writer id or seq 0. */
QS_MUST_CHECK qs_err qs_audit_checkpoint_digest(const qs_audit_checkpoint *cp,
                                                uint8_t digest[static QS_AUDIT_HASH_LEN]);

/* Signs the statement of cp in the HSM with the audit key, filling signature. */
QS_MUST_CHECK qs_err qs_audit_checkpoint_sign(qs_hsm_session *hs, qs_audit_checkpoint *cp);

/* Checks cp's signature with a DER SubjectPublicKeyInfo, in software: QS_OK, QS_ERR_MAC when it
 * does not verify, QS_ERR_PARSE when spki is not an EC P-256 public key. */
QS_MUST_CHECK qs_err qs_audit_checkpoint_verify(const qs_audit_checkpoint *cp, const uint8_t *spki,
                                                size_t spki_len);

/*
 * Checkpoint export, one JSON object per line (docs/audit-log.md):
 *   {"writer":"sam-1","seq":1000,"head_hash":"<64 hex>","time":"2024-05-01T12:00:00.123456Z",
 *    "signature":"<base64>","spki":"<base64>"}
 * time is RFC 3339 in UTC with exactly six fractional digits, so it gives back the signed
 * microseconds.  qs_audit_checkpoint_to_json writes one line without its newline into a
 * malloc'd string; qs_audit_checkpoint_from_json parses one (the spki into a malloc'd buffer)
 * and returns QS_ERR_PARSE for anything else (field missing, unknown, mistyped or out of range).
 */
QS_MUST_CHECK qs_err qs_audit_checkpoint_to_json(const qs_audit_checkpoint *cp, const uint8_t *spki,
                                                 size_t spki_len, char **line);
QS_MUST_CHECK qs_err qs_audit_checkpoint_from_json(const char *line, qs_audit_checkpoint *cp,
                                                   uint8_t **spki, size_t *spki_len);

/*
 * Writes every stored checkpoint, writer by writer in byte order of the id and by seq, as
 * export lines to `out`, a page at a time.  `db` reads as qsign_audit (or qsign_sam), not
 * inside a transaction.  *count (may be NULL) is the number written.  A write error is
 * QS_ERR_IO.
 */
QS_MUST_CHECK qs_err qs_audit_checkpoints_export(qs_db *db, FILE *out, uint64_t *count);

/* ---- Verification ------------------------------------------------------------------------ */

/* Told how far verification got: after each page, and once more at the end of a writer. */
typedef void (*qs_audit_progress_cb)(void *cls, const char *writer_id, uint64_t records,
                                     uint64_t head_seq);

/* What the verification of one writer saw. */
typedef struct qs_audit_verify_result {
    uint64_t records;               /* records read */
    uint64_t last_seq;              /* stored seq of the last record read (0: none) */
    uint64_t checkpoints;           /* stored checkpoints checked */
    uint64_t exported;              /* exported checkpoints checked */
    uint64_t findings;              /* problems found */
    uint64_t first_seq;             /* seq of the first finding (in reading order) */
    qs_audit_problem first_problem; /* and its kind (0: no finding) */
} qs_audit_verify_result;

/* Hands over the next exported checkpoint of writer_id (the writer being verified), in
 * increasing seq order: *have = false when it has none left.  spki points to the key it was
 * exported with, valid until the next call.  An error stops the verification with that
 * error. */
typedef qs_err (*qs_audit_exported_cb)(void *cls, const char *writer_id, qs_audit_checkpoint *cp,
                                       const uint8_t **spki, size_t *spki_len, bool *have);

/* Most threads checking MACs at once (QS_AUDIT_VERIFY_MAC_THREADS_MAX HSM sessions). */
#define QS_AUDIT_VERIFY_MAC_THREADS_MAX 16

typedef struct qs_audit_verify_opts {
    qs_audit_finding_cb finding; /* may be NULL */
    void *finding_cls;
    qs_audit_exported_cb exported; /* NULL: no exported checkpoints */
    void *exported_cls;
    qs_audit_progress_cb progress; /* may be NULL */
    void *progress_cls;
    /* With hsm set, record MACs are checked by mac_threads threads (1..16; 0 = 1), each with
     * an HSM session of its own, while the calling thread reads the next page and checks
     * sequence, links, hashes and checkpoints: the HSM is the bottleneck.  Without, MACs are
     * checked one after the other through `hs`. */
    qs_hsm *hsm;
    unsigned mac_threads;
} qs_audit_verify_opts;

/*
 * Verifies a writer's whole chain: streams its records in seq order, a page at a time (bounded
 * memory; each page in its own read-only transaction), and checks each as the encoding comment
 * says, MACs in the HSM through `hs`.  Alongside, it streams the writer's stored checkpoints
 * and checks each signature with audit_writers.checkpoint_spki and that the chain's record at
 * its seq exists and has its head_hash; likewise for the exported checkpoints `o->exported`
 * hands over, which must moreover carry the writer's registered key.  A checkpoint beyond the
 * chain's end is QS_AUDIT_TRUNCATED.  `db` is any role that may read the audit tables
 * (qsign_audit, qsign_sam), not inside a transaction.  `o` may be NULL; *res (may be NULL)
 * says what was seen.
 *
 * Returns QS_OK when everything is intact, QS_ERR_MAC when there were findings,
 * QS_ERR_NOT_FOUND for an unknown writer, QS_ERR_UNSUPPORTED when the writer's MAC key is not
 * QS_AUDIT_MAC_KEY_LABEL, or a database, HSM or callback error.
 */
QS_MUST_CHECK qs_err qs_audit_verify_writer(qs_db *db, qs_hsm_session *hs, const char *writer_id,
                                            const qs_audit_verify_opts *o,
                                            qs_audit_verify_result *res);

/* qs_audit_verify_writer with only a finding callback; *count (may be NULL) is the number of
 * records read. */
QS_MUST_CHECK qs_err qs_audit_verify_chain(qs_db *db, qs_hsm_session *hs, const char *writer_id,
                                           qs_audit_finding_cb cb, void *cls, uint64_t *count);

typedef struct qs_audit_verify_all_opts {
    qs_audit_finding_cb finding; /* may be NULL */
    void *finding_cls;
    qs_audit_progress_cb progress; /* may be NULL */
    void *progress_cls;
    /* Told when a writer is done (res->records 0 for a writer only the export knows). */
    void (*writer_done)(void *cls, const char *writer_id, qs_err r,
                        const qs_audit_verify_result *res);
    void *writer_done_cls;
    qs_hsm *hsm; /* as in qs_audit_verify_opts */
    unsigned mac_threads;
    /* An earlier export (qs_audit_checkpoints_export), read line by line, or NULL.  Its lines
     * must be in the order the export writes them. */
    FILE *exported;
    char *why; /* room for the reason a malformed export was refused, or NULL */
    size_t why_len;
} qs_audit_verify_all_opts;

/*
 * Verifies every registered writer (qs_audit_verify_writer), in byte order of the id, with the
 * exported checkpoints of each; a writer the export names but the database does not know is
 * reported as QS_AUDIT_TRUNCATED at its first exported seq.  *findings (may be NULL) totals
 * the problems.  Returns QS_OK when every chain is intact, QS_ERR_MAC when any has findings,
 * QS_ERR_PARSE for a malformed or disordered export (o->why says where), or a database or HSM
 * error.
 */
QS_MUST_CHECK qs_err qs_audit_verify_all(qs_db *db, qs_hsm_session *hs,
                                         const qs_audit_verify_all_opts *o, uint64_t *findings);

/* ---- Search ------------------------------------------------------------------------------- */

typedef enum qs_audit_format {
    QS_AUDIT_FORMAT_JSONL = 1, /* one JSON object per line */
    QS_AUDIT_FORMAT_CSV = 2,   /* RFC 4180, a header line first */
} qs_audit_format;

typedef struct qs_audit_search_params {
    const char *writer_id;        /* NULL: any */
    const uint8_t *user_id;       /* QS_AUDIT_UUID_LEN bytes or NULL */
    const uint8_t *credential_id; /* likewise */
    const char *event_type;       /* exact, or a prefix ending in '.'; NULL: any */
    bool has_from, has_to;        /* event_time >= from, event_time < to */
    int64_t from_us, to_us;       /* microseconds since the Unix epoch */
    int result;                   /* 1 success, 0 failure, -1 either */
    qs_audit_format format;
} qs_audit_search_params;

/*
 * Writes the matching records to `out` in (event_time, writer, seq) order, streaming a page at
 * a time, one record per line with every column: writer_id, seq, event_time (RFC 3339, UTC,
 * microseconds), event_type, actor, user_id and credential_id (UUID text or null/empty),
 * sad_ref, prev_hash, record_hash and record_mac (hex), result, details (the stored text,
 * byte for byte, as a JSON string resp. CSV field).  *count (may be NULL) is the number
 * written.  QS_ERR_INVALID_ARGUMENT for a malformed writer id or event type, QS_ERR_IO for a
 * write error, or a database error.
 */
QS_MUST_CHECK qs_err qs_audit_search(qs_db *db, const qs_audit_search_params *p, FILE *out,
                                     uint64_t *count);

struct qs_db_audit_found;

/*
 * The text of `n` records found by a search, in the form qs_audit_search writes (with the CSV
 * header line first when `header`): a malloc'd NUL-terminated buffer of *len bytes, empty for
 * no record.  qsignd's audit API writes its pages with it, so both give the same bytes.
 * QS_OK, QS_ERR_NOMEM, QS_ERR_INVALID_ARGUMENT for an unknown format, or QS_ERR_DB for a record
 * that cannot be written (a time beyond the year 9999).
 */
QS_MUST_CHECK qs_err qs_audit_rows_text(const struct qs_db_audit_found *found, size_t n,
                                        qs_audit_format f, bool header, char **out, size_t *len);

/* ---- Text forms --------------------------------------------------------------------------- */

#define QS_AUDIT_TIME_LEN 27 /* "2024-05-01T12:00:00.123456Z" */

/* RFC 3339 in UTC with six fractional digits; buf holds QS_AUDIT_TIME_LEN + 1 bytes.  false for
 * a time outside the years 0001..9999. */
bool qs_audit_time_format(int64_t us, char buf[static QS_AUDIT_TIME_LEN + 1]);

/* Parses an RFC 3339 date-time (offset Z or +hh:mm / -hh:mm, up to six fractional digits) or a
 * bare date (midnight UTC) into microseconds since the Unix epoch.  false for anything else. */
bool qs_audit_time_parse(const char *s, int64_t *us);

/* A UUID in its 36-character text form (either case) into its 16 bytes; false otherwise. */
bool qs_audit_uuid_parse(const char *s, uint8_t out[static QS_AUDIT_UUID_LEN]);

#endif
