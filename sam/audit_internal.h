/*
 * Private to the audit writer (sam/audit*.c) and its tests: event validation and the bridge
 * between stored rows and the record encoding.
 */
#ifndef QS_SAM_AUDIT_INTERNAL_H
#define QS_SAM_AUDIT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "db/db_audit.h"
#include "sam/audit.h"

/* Whether a writer id matches [A-Za-z0-9][A-Za-z0-9._-]{0,63} (audit_writers' CHECK). */
bool qs_audit_writer_id_valid(const char *id);

/* Number of code points in valid UTF-8 without NUL, or -1 when s is not that. */
long qs_audit_utf8_chars(const char *s, size_t len);

/* Checks an event against every rule the audit_log table enforces (so one bad event cannot fail
 * other callers' batch): QS_OK or QS_ERR_INVALID_ARGUMENT, logged as our bug with the field. */
QS_MUST_CHECK qs_err qs_audit_event_check(const qs_audit_event *ev);

/* The record view of a stored row (pointing into it). */
void qs_audit_record_from_row(const char *writer_id, const qs_db_audit_row *row,
                              qs_audit_record *rec);

/* Checks a stored record on its own: record_hash recomputed from the columns, then the MAC.
 * QS_OK, QS_ERR_MAC (with *problem QS_AUDIT_BAD_HASH or QS_AUDIT_BAD_MAC), or an HSM error. */
QS_MUST_CHECK qs_err qs_audit_row_check(qs_hsm_session *hs, const char *writer_id,
                                        const qs_db_audit_row *row, qs_audit_problem *problem);

/* Longest checkpoint statement: two length-prefixed strings, u64, hash, i64. */
#define QS_AUDIT_CHECKPOINT_ENC_MAX                                                                \
    (4 + sizeof QS_AUDIT_CHECKPOINT_DOMAIN - 1 + 4 + QS_AUDIT_WRITER_ID_MAX + 8 +                  \
     QS_AUDIT_HASH_LEN + 8)

/* The checkpoint statement C of cp (sam/audit.h); QS_ERR_INVALID_ARGUMENT for an invalid writer
 * id or seq. */
QS_MUST_CHECK qs_err qs_audit_checkpoint_encode(const qs_audit_checkpoint *cp,
                                                uint8_t out[static QS_AUDIT_CHECKPOINT_ENC_MAX],
                                                size_t *len);

/* An EC P-256 public key from its DER SubjectPublicKeyInfo (nothing after it), or NULL. */
EVP_PKEY *qs_audit_key_parse(const uint8_t *spki, size_t spki_len);

/* Checks cp's signature with a parsed key: QS_OK, QS_ERR_MAC, QS_ERR_CRYPTO. */
QS_MUST_CHECK qs_err qs_audit_checkpoint_verify_key(const qs_audit_checkpoint *cp, EVP_PKEY *key);

/* The checkpoint of a stored row. */
void qs_audit_checkpoint_from_db(const char *writer_id, const qs_db_audit_checkpoint *row,
                                 qs_audit_checkpoint *cp);

/* Whether an event type matches [a-z][a-z0-9_.]{0,63} (audit_log's CHECK). */
bool qs_audit_event_type_valid(const char *t);

/* Lowercase hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void qs_audit_hex(const uint8_t *b, size_t n, char *out);

/* The 36-character lowercase text form of a UUID. */
void qs_audit_uuid_text(const uint8_t u[static QS_AUDIT_UUID_LEN], char out[static 37]);

#endif
