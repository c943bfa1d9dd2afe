/*
 * Record MACs: how the SAM authenticates the rows it relies on (invariant 3).
 *
 * Every row of users, credentials, factor_pin, factor_totp, sads, sad_hashes and of the CA's
 * and RA's tables (certificates, ca_state, identity_evidence, activation_codes, ra_sessions)
 * record_mac, an HMAC-SHA-256 made in the HSM with the record-MAC key (QS_HSM_RECORD_MAC, label
 * "qsign-record-mac"), which never leaves the HSM.  The SAM checks the MAC of a row before it
 * uses the row for anything, and writes a fresh MAC with every change.  A row written or
 * altered by anyone else, or a MAC moved to another row or table, fails the check.
 *
 * ---- Encoding, version 1 ---------------------------------------------------------------------
 *
 *   record_mac = HMAC-SHA-256(K, E)
 *   E = f("qsign-record-v1") || f(table name) || f(column 1) || ... || f(column n)
 *
 * Each f(x) is u32(length of x) || x, u32 big-endian; SQL NULL is the length 0xFFFFFFFF with no
 * bytes.  Values, by column type:
 *   uuid         its 16 bytes (RFC 4122 order, as PostgreSQL's binary format sends them)
 *   text         the UTF-8 bytes as stored, no terminator
 *   bytea        the bytes
 *   integers     8 bytes, big-endian two's complement, whatever the column's width
 *   timestamptz  microseconds since 1970-01-01T00:00:00Z as such an integer (8 bytes)
 *
 * The MACed columns, in this order (the column comments of the schema say "MACed"; the primary
 * key is always among them, so a MAC cannot be moved to another row):
 *   users        id, username, kind, status
 *   credentials  id, user_id, key_alg, spki, wrapped_key (NULL once destroyed), status,
 *                failed_attempts
 *   factor_pin   user_id, verifier, failed_attempts
 *   factor_totp  user_id, seed_ciphertext, algorithm, digits, period, last_step,
 *                failed_attempts
 *   sads         sad_hash, user_id, credential_id, hash_alg, num_signatures, remaining,
 *                hashes_sha256, created_at, expires_at, auth_event_writer, auth_event_seq
 *   sad_hashes   sad_hash, digest, consumed_at (NULL while unused)
 *   certificates serial, credential_id, issuer, subject, not_before, not_after, der, profile,
 *                status, revoked_at (NULL unless revoked), reason (NULL unless revoked)
 *   ca_state     id, key_label, key_alg, status, ca_cert, csr, ocsp_key_label, ocsp_cert
 *                (each of the three NULL when absent), crl_number
 *   identity_evidence  id, user_id, method, document_type, document_number_hash,
 *                document_salt, issuing_country, officer, verified_at, notes, profile, country,
 *                common_name, given_name, surname, pseudonym, serial_number, organization,
 *                organization_id (optional text NULL when absent)
 *   activation_codes  user_id, code_hash, created_at, expires_at, used_at (NULL while
 *                unused), failed_attempts
 *   ra_sessions  session_hash, officer_id, role, created_at, expires_at
 *
 * Every value has a length prefix and the table name is inside E, so different rows never
 * encode to the same bytes, in one table or across tables.  The audit log's MACs use the same
 * HSM key over "qsign-audit-mac-v1" || record_hash (sam/audit.h): that input starts with the
 * byte 'q', E with the 0x00 of a length prefix, so the two can never collide.  A later version
 * of this encoding changes the domain string.
 *
 * Freshness is not covered: an older, validly MACed version of a row could be put back by
 * someone able to write the table (only qsign_sam and the schema owner can).
 *
 * Threads: stateless; the HSM session is the calling thread's.
 */
#ifndef QS_SAM_RECORDS_H
#define QS_SAM_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "db/db_ca.h"
#include "db/db_sam.h"
#include "hsm/hsm.h"
#include "util/err.h"

#define QS_REC_DOMAIN  "qsign-record-v1"
#define QS_REC_MAC_LEN QS_HSM_HMAC_LEN
/* u32 length value that stands for SQL NULL */
#define QS_REC_NULL_LEN 0xFFFFFFFFu

typedef enum qs_rec_table {
    QS_REC_USERS = 1,
    QS_REC_CREDENTIALS = 2,
    QS_REC_FACTOR_PIN = 3,
    QS_REC_FACTOR_TOTP = 4,
    QS_REC_SADS = 5,
    QS_REC_SAD_HASHES = 6,
    QS_REC_CERTIFICATES = 7,
    QS_REC_CA_STATE = 8,
    QS_REC_EVIDENCE = 9,
    QS_REC_ACTIVATION = 10,
    QS_REC_RA_SESSION = 11,
} qs_rec_table;

/* One row to MAC: the table and a pointer to its row struct (sad_hashes rows also need the
 * SAD's hash, their first column).  Build with the qs_rec_* constructors below. */
typedef struct qs_rec {
    qs_rec_table table;
    const void *row;
    const uint8_t *sad_hash; /* QS_REC_SAD_HASHES only: 32 bytes */
} qs_rec;

static inline qs_rec qs_rec_user(const qs_db_user *u)
{
    return (qs_rec){QS_REC_USERS, u, NULL};
}
static inline qs_rec qs_rec_credential(const qs_db_credential *c)
{
    return (qs_rec){QS_REC_CREDENTIALS, c, NULL};
}
static inline qs_rec qs_rec_factor_pin(const qs_db_factor_pin *f)
{
    return (qs_rec){QS_REC_FACTOR_PIN, f, NULL};
}
static inline qs_rec qs_rec_factor_totp(const qs_db_factor_totp *f)
{
    return (qs_rec){QS_REC_FACTOR_TOTP, f, NULL};
}
static inline qs_rec qs_rec_sad(const qs_db_sad *s)
{
    return (qs_rec){QS_REC_SADS, s, NULL};
}
static inline qs_rec qs_rec_sad_hash(const uint8_t sad_hash[static QS_DB_SAM_SHA256_LEN],
                                     const qs_db_sad_hash *h)
{
    return (qs_rec){QS_REC_SAD_HASHES, h, sad_hash};
}

static inline qs_rec qs_rec_certificate(const qs_db_certificate *c)
{
    return (qs_rec){QS_REC_CERTIFICATES, c, NULL};
}
static inline qs_rec qs_rec_ca_state(const qs_db_ca_state *s)
{
    return (qs_rec){QS_REC_CA_STATE, s, NULL};
}
static inline qs_rec qs_rec_evidence(const qs_db_evidence *e)
{
    return (qs_rec){QS_REC_EVIDENCE, e, NULL};
}
static inline qs_rec qs_rec_activation(const qs_db_activation *a)
{
    return (qs_rec){QS_REC_ACTIVATION, a, NULL};
}
static inline qs_rec qs_rec_ra_session(const qs_db_ra_session *s)
{
    return (qs_rec){QS_REC_RA_SESSION, s, NULL};
}

/* The table's SQL name ("users", ...); "?" for a value outside the enum. */
const char *qs_rec_table_name(qs_rec_table t);

/* Computes the record MAC of a row in the HSM.  QS_ERR_INVALID_ARGUMENT for a malformed qs_rec
 * or row (a length over its buffer), or the HSM's error. */
QS_MUST_CHECK qs_err qs_rec_mac(qs_hsm_session *hs, const qs_rec *rec,
                                uint8_t mac[static QS_REC_MAC_LEN]);

/* Recomputes the MAC and compares it with `mac` in constant time: QS_OK, QS_ERR_MAC, or an
 * error as for qs_rec_mac. */
QS_MUST_CHECK qs_err qs_rec_check(qs_hsm_session *hs, const qs_rec *rec,
                                  const uint8_t mac[static QS_REC_MAC_LEN]);

/* The encoding E of a row, for tests and documentation: *out is malloc'd (*len bytes); free it
 * with qs_free_wiped (it may hold a wrapped key or a verifier). */
QS_MUST_CHECK qs_err qs_rec_encode(const qs_rec *rec, uint8_t **out, size_t *len);

#endif
