/*
 * Database operations of the audit log (qsign.audit_writers, qsign.audit_log,
 * qsign.audit_checkpoints), for the SAM's audit writer, the verifier and the search
 * (sam/audit.h).  Each runs inside a qs_db_run_txn callback, like every
 * qs_db_<operation>.  The database stores what the writer computed; what the hash and MAC cover
 * is the writer's business (sam/audit.h, docs/audit-log.md).
 */
#ifndef QS_DB_DB_AUDIT_H
#define QS_DB_DB_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

#define QS_DB_AUDIT_UUID_LEN    16
#define QS_DB_AUDIT_SAD_REF_LEN 32
#define QS_DB_AUDIT_HASH_LEN    32   /* prev_hash, record_hash */
#define QS_DB_AUDIT_MAC_LEN     32   /* record_mac */
#define QS_DB_AUDIT_WRITER_MAX  64   /* writer_id, bytes */
#define QS_DB_AUDIT_SIG_MAX     72   /* audit_checkpoints.signature (DER ECDSA P-256) */
#define QS_DB_AUDIT_SPKI_MAX    2048 /* audit_writers.checkpoint_spki */

/*
 * One audit_log row.  For qs_db_audit_insert the strings are borrowed from the caller; rows read
 * by qs_db_audit_head and qs_db_audit_page own theirs (malloc'd; release with
 * qs_db_audit_row_clear or qs_db_audit_rows_free).
 */
typedef struct qs_db_audit_row {
    int64_t seq;
    int64_t event_time_us; /* microseconds since the Unix epoch, exactly as stored */
    char *event_type;
    char *actor;
    bool has_user_id, has_credential_id, has_sad_ref;
    uint8_t user_id[QS_DB_AUDIT_UUID_LEN];
    uint8_t credential_id[QS_DB_AUDIT_UUID_LEN];
    uint8_t sad_ref[QS_DB_AUDIT_SAD_REF_LEN];
    bool success;  /* result: 'success' or 'failure' */
    char *details; /* the stored text, byte for byte */
    uint8_t prev_hash[QS_DB_AUDIT_HASH_LEN];
    uint8_t record_hash[QS_DB_AUDIT_HASH_LEN];
    uint8_t record_mac[QS_DB_AUDIT_MAC_LEN];
} qs_db_audit_row;

/* Frees the strings of a row that owns them and zeroes it.  NULL is a no-op. */
void qs_db_audit_row_clear(qs_db_audit_row *row);

/* Frees an array of n owning rows.  NULL is a no-op. */
void qs_db_audit_rows_free(qs_db_audit_row *rows, size_t n);

/* Registers a writer unless it exists (an existing row is left as it is: rows never change).
 * *created tells whether this call made it. */
QS_MUST_CHECK qs_err qs_db_audit_writer_register(qs_db *db, const char *writer_id,
                                                 const char *description, const char *mac_key_label,
                                                 bool *created);

/* The MAC key label of a writer: *label is malloc'd (free it), NULL with QS_ERR_NOT_FOUND when
 * the writer is not registered. */
QS_MUST_CHECK qs_err qs_db_audit_writer_label(qs_db *db, const char *writer_id, char **label);

/*
 * Tries to take the session-level advisory lock of a writer id without waiting; *locked tells
 * whether this connection holds it now.  Held until the connection ends (also across rollbacks),
 * so it is lost with the connection: after a reconnect (qs_db_generation changed) take it again.
 * The key is the first 8 bytes of SHA-256("qsign-audit-writer-lock-v1" || writer_id), read as a
 * big-endian int64.  Taking it twice on one connection nests (harmless, released at close).
 */
QS_MUST_CHECK qs_err qs_db_audit_writer_try_lock(qs_db *db, const char *writer_id, bool *locked);

/* Whether commits on this session are durable when COMMIT returns: synchronous_commit is not
 * off (db/roles.sql sets it on for qsign_sam). */
QS_MUST_CHECK qs_err qs_db_audit_session_durable(qs_db *db, bool *durable);

/* The writer's record with the highest seq, into *row (owning; clear it), or *found = false when
 * the chain is empty. */
QS_MUST_CHECK qs_err qs_db_audit_head(qs_db *db, const char *writer_id, qs_db_audit_row *row,
                                      bool *found);

/*
 * Inserts n >= 1 consecutive records of one writer in one statement (INSERT ... SELECT FROM
 * unnest of array parameters), in the order given.  The table's trigger checks that each links
 * to its predecessor: a stale head is QS_ERR_DB_CONSTRAINT (23514, or 23505 for a taken seq).
 */
QS_MUST_CHECK qs_err qs_db_audit_insert(qs_db *db, const char *writer_id,
                                        const qs_db_audit_row *rows, size_t n);

/* Up to `limit` records of the writer with seq > after_seq, in seq order (keyset pagination):
 * *rows is a malloc'd array of *n owning rows (free with qs_db_audit_rows_free), NULL when
 * *n == 0. */
QS_MUST_CHECK qs_err qs_db_audit_page(qs_db *db, const char *writer_id, int64_t after_seq,
                                      size_t limit, qs_db_audit_row **rows, size_t *n);

/* ---- Checkpoints (0003-audit-checkpoints) ------------------------------------------------ */

/* One audit_checkpoints row (of a writer named elsewhere). */
typedef struct qs_db_audit_checkpoint {
    int64_t seq;
    uint8_t head_hash[QS_DB_AUDIT_HASH_LEN];
    int64_t time_us; /* checkpoint_time, microseconds since the Unix epoch */
    uint8_t signature[QS_DB_AUDIT_SIG_MAX];
    size_t signature_len;
} qs_db_audit_checkpoint;

/* The checkpoint key of a writer: *spki is malloc'd (free it) and *spki_len its length, or NULL
 * and 0 while the writer has none.  QS_ERR_NOT_FOUND when the writer is not registered. */
QS_MUST_CHECK qs_err qs_db_audit_writer_key(qs_db *db, const char *writer_id, uint8_t **spki,
                                            size_t *spki_len);

/* Sets the writer's checkpoint key if it has none yet (a trigger refuses any other change):
 * *set tells whether this call set it. */
QS_MUST_CHECK qs_err qs_db_audit_writer_set_key(qs_db *db, const char *writer_id,
                                                const uint8_t *spki, size_t spki_len, bool *set);

/* Every registered writer id, in byte order (COLLATE "C"): *ids is a malloc'd array of *n
 * malloc'd strings (free with qs_db_audit_writers_free), NULL when there is none. */
QS_MUST_CHECK qs_err qs_db_audit_writers(qs_db *db, char ***ids, size_t *n);

/* Frees what qs_db_audit_writers returned.  NULL is a no-op. */
void qs_db_audit_writers_free(char **ids, size_t n);

/* Inserts one checkpoint.  The table's trigger checks that head_hash is the stored record_hash
 * at seq and that seq is beyond the writer's last checkpoint (QS_ERR_DB_CONSTRAINT otherwise). */
QS_MUST_CHECK qs_err qs_db_audit_checkpoint_insert(qs_db *db, const char *writer_id,
                                                   const qs_db_audit_checkpoint *cp);

/* The writer's checkpoint with the highest seq into *cp, or *found = false. */
QS_MUST_CHECK qs_err qs_db_audit_checkpoint_last(qs_db *db, const char *writer_id,
                                                 qs_db_audit_checkpoint *cp, bool *found);

/* Up to `limit` checkpoints of the writer with seq > after_seq, in seq order: *cps is a malloc'd
 * array of *n (free it), NULL when *n == 0. */
QS_MUST_CHECK qs_err qs_db_audit_checkpoint_page(qs_db *db, const char *writer_id,
                                                 int64_t after_seq, size_t limit,
                                                 qs_db_audit_checkpoint **cps, size_t *n);

/* ---- Search ------------------------------------------------------------------------------- */

/* What a search keeps; every criterion is optional and they all hold together. */
typedef struct qs_db_audit_filter {
    const char *writer_id;        /* NULL: any writer */
    const uint8_t *user_id;       /* QS_DB_AUDIT_UUID_LEN bytes, or NULL */
    const uint8_t *credential_id; /* likewise */
    const char *event_type;       /* exact type, or a prefix when it ends with '.'; NULL: any */
    bool has_from, has_to;
    int64_t from_us, to_us; /* event_time >= from, event_time < to (microseconds) */
    int result;             /* 1 success, 0 failure, -1 either */
} qs_db_audit_filter;

/* Where a search page ends: the sort key of its last record. */
typedef struct qs_db_audit_cursor {
    bool started; /* false: from the beginning */
    int64_t time_us;
    char writer_id[QS_DB_AUDIT_WRITER_MAX + 1];
    int64_t seq;
} qs_db_audit_cursor;

/* A record found by a search: its writer and the row (owning). */
typedef struct qs_db_audit_found {
    char writer_id[QS_DB_AUDIT_WRITER_MAX + 1];
    qs_db_audit_row row;
} qs_db_audit_found;

/*
 * Up to `limit` records matching `f`, in (event_time, writer_id, seq) order after the cursor
 * (keyset pagination), all parameters bound ($n), never spliced into the SQL.  *found is a
 * malloc'd array of *n (free with qs_db_audit_found_free), NULL when *n == 0; the cursor is
 * moved to the last one.
 */
QS_MUST_CHECK qs_err qs_db_audit_search(qs_db *db, const qs_db_audit_filter *f,
                                        qs_db_audit_cursor *cursor, size_t limit,
                                        qs_db_audit_found **found, size_t *n);

/* Frees what qs_db_audit_search returned.  NULL is a no-op. */
void qs_db_audit_found_free(qs_db_audit_found *found, size_t n);

/* ---- Evidence of a signature ------------------------------------------------------------- */

/* Most records one qs_db_audit_find call returns. */
#define QS_DB_AUDIT_FIND_MAX 10000

/* What qs_db_audit_find keeps: successful records of event_type matching every criterion
 * given (NULL: no restriction). */
typedef struct qs_db_audit_match {
    const char *event_type;       /* exact; required */
    const uint8_t *user_id;       /* QS_DB_AUDIT_UUID_LEN bytes, or NULL */
    const uint8_t *credential_id; /* likewise */
    const uint8_t *sad_ref;       /* QS_DB_AUDIT_SAD_REF_LEN bytes, or NULL */
    const char *detail_key;       /* with detail_value: details::jsonb ->> key = value */
    const char *detail_value;
    bool has_to; /* event_time <= to_us */
    int64_t to_us;
} qs_db_audit_match;

/* Up to `limit` (1..QS_DB_AUDIT_FIND_MAX) successful records matching `m`, in (event_time,
 * writer_id, seq) order, every criterion a bound parameter: *found is a malloc'd array of *n
 * (free with qs_db_audit_found_free), NULL when *n == 0. */
QS_MUST_CHECK qs_err qs_db_audit_find(qs_db *db, const qs_db_audit_match *m, size_t limit,
                                      qs_db_audit_found **found, size_t *n);

/* Most digests one SAD authorizes (sads.num_signatures is at most 1000). */
#define QS_DB_AUDIT_SAD_DIGESTS_MAX 1000
#define QS_DB_AUDIT_DIGEST_MAX      64 /* bytes: SHA-512 */

/* One digest an SAD authorized. */
typedef struct qs_db_audit_digest {
    uint8_t digest[QS_DB_AUDIT_DIGEST_MAX];
    size_t len;
} qs_db_audit_digest;

/* Every digest the SAD sad_ref authorized (qsign.sad_hashes), ordered by length then bytes:
 * *digests is a malloc'd array of *n (free it), NULL when the SAD has none stored. */
QS_MUST_CHECK qs_err qs_db_audit_sad_digests(qs_db *db,
                                             const uint8_t sad_ref[static QS_DB_AUDIT_SAD_REF_LEN],
                                             qs_db_audit_digest **digests, size_t *n);

#endif
