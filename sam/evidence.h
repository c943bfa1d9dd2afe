/*
 * Evidence of sole control: for one signature, a self-contained JSON bundle of the audit
 * records that show who authorized it and how (docs/evidence.md is the format's reference),
 * and the offline check of such a bundle.
 *
 * What it is for: an auditor or a relying party asks "who made this signature, and did the
 * signer alone control the key?".  The builder reads the audit log as qsign_audit (read-only)
 * and gathers the signature record, the authorization whose SAD covered it, the signer's
 * enrolment and identity-validation records, the credential's key generation and certificate
 * issuance records, the certificate and the CA chain, and for each of these records the chain
 * segment from it to the first signed checkpoint at or after it.  The checker needs nothing but
 * the bundle, the audit public key and the CA certificate: no database, no HSM.
 *
 * Trust: the record MACs are HMACs made in the HSM, so a third party cannot check them and the
 * bundle does not carry them.  A bundle's integrity comes from the hash chain (each record_hash
 * recomputed from the record's fields, each prev_hash linked) up to a checkpoint signed with the
 * audit key.  The bundle has one canonical serialization that the checker re-creates and
 * compares byte for byte, so no byte of it can change unnoticed.
 *
 * Threads: no shared state; each call uses only what it is given.
 */
#ifndef QS_SAM_EVIDENCE_H
#define QS_SAM_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "sam/audit.h"
#include "util/err.h"

/* The bundle format and version, the value of its "format" member. */
#define QS_EVIDENCE_FORMAT "qsign-evidence-v1"
/* Largest bundle accepted, in bytes. */
#define QS_EVIDENCE_MAX (64u << 20)
/* Most records one bundle carries (all segments together). */
#define QS_EVIDENCE_RECORDS_MAX 50000
/* Most candidates an ambiguous lookup reports. */
#define QS_EVIDENCE_CANDIDATES_MAX 50
/* Longest signature value (RSA-4096). */
#define QS_EVIDENCE_SIGNATURE_MAX 512
#define QS_EVIDENCE_DIGEST_MAX    64 /* SHA-512 */
#define QS_EVIDENCE_WHY_MAX       512

/* ---- Building (database, role qsign_audit) ------------------------------------------------ */

/* Which signature: by its record (writer_id and seq), or by the digest it signed, or by its
 * value; the value may also come with a record or a digest, which then must match it. */
typedef struct qs_evidence_query {
    const char *writer_id; /* with seq: the signature.created record */
    uint64_t seq;
    const uint8_t *hash; /* the signed digest (32, 48 or 64 bytes), or NULL */
    size_t hash_len;
    const uint8_t *signature; /* the signature value, or NULL */
    size_t signature_len;
} qs_evidence_query;

/* A signature record an ambiguous lookup matched. */
typedef struct qs_evidence_candidate {
    char writer_id[QS_AUDIT_WRITER_ID_MAX + 1];
    uint64_t seq;
    int64_t event_time_us;
    uint8_t user_id[QS_AUDIT_UUID_LEN];
    uint8_t credential_id[QS_AUDIT_UUID_LEN];
    uint8_t sad_ref[QS_AUDIT_SAD_REF_LEN];
} qs_evidence_candidate;

typedef enum qs_evidence_outcome {
    QS_EVIDENCE_BUILT = 1,    /* *bundle holds it */
    QS_EVIDENCE_NO_MATCH = 2, /* no signature record matches the query */
    /* Several signature records match (a digest signed under several SADs): the candidates
     * are listed; ask again by record. */
    QS_EVIDENCE_AMBIGUOUS = 3,
    /* A record the bundle needs has no signed checkpoint at or after it yet: try again after
     * its writer's next checkpoint. */
    QS_EVIDENCE_NOT_CHECKPOINTED = 4,
    /* A record or row the bundle needs is missing (why says which). */
    QS_EVIDENCE_INCOMPLETE = 5,
} qs_evidence_outcome;

typedef struct qs_evidence_build_result {
    qs_evidence_outcome outcome;
    char why[QS_EVIDENCE_WHY_MAX]; /* for people, unless BUILT */
    qs_evidence_candidate candidates[QS_EVIDENCE_CANDIDATES_MAX];
    size_t n_candidates;         /* those listed */
    bool more_candidates;        /* more matched than listed */
    char *bundle;                /* BUILT: the canonical bundle, malloc'd (free it) */
    size_t bundle_len;           /* its length in bytes (it ends with a line feed) */
    qs_evidence_candidate found; /* BUILT: the signature record */
} qs_evidence_build_result;

/*
 * Looks the signature up and builds its bundle, reading everything in one read-only
 * transaction on `db` (qsign_audit, or any role that may read the audit log, sad_hashes,
 * certificates and ca_state; not inside a transaction).  Returns QS_OK when the outcome is
 * decided (res->outcome says which; res->bundle is set only for QS_EVIDENCE_BUILT), or
 * QS_ERR_INVALID_ARGUMENT for a malformed query, QS_ERR_NOMEM, a database error.
 */
QS_MUST_CHECK qs_err qs_evidence_build(qs_db *db, const qs_evidence_query *q,
                                       qs_evidence_build_result *res);

/* Frees res->bundle and clears res.  NULL is a no-op. */
void qs_evidence_build_result_clear(qs_evidence_build_result *res);

/* ---- Checking (offline) ------------------------------------------------------------------ */

/* What the checker trusts: the audit public keys and the CA certificates. */
typedef struct qs_evidence_trust qs_evidence_trust;

/*
 * From PEM text: audit_pem holds one or more "PUBLIC KEY" blocks (EC P-256, as `qsignctl audit
 * key export` writes them), ca_pem one or more "CERTIFICATE" blocks (trust anchors: the CA's
 * own certificate, or the root above it).  QS_ERR_PARSE with the reason in why when either is
 * empty or holds anything else; QS_ERR_NOMEM.
 */
QS_MUST_CHECK qs_err qs_evidence_trust_new(const char *audit_pem, size_t audit_len,
                                           const char *ca_pem, size_t ca_len,
                                           qs_evidence_trust **out, char *why, size_t why_len);

/* NULL is a no-op. */
void qs_evidence_trust_free(qs_evidence_trust *t);

/* The checks, in the order they run and are reported. */
typedef enum qs_evidence_check_id {
    QS_EVIDENCE_CHECK_FORMAT = 0,           /* a well-formed bundle of this version */
    QS_EVIDENCE_CHECK_CANONICAL,            /* byte for byte the canonical serialization */
    QS_EVIDENCE_CHECK_RECORD_HASHES,        /* every record_hash recomputed from its fields */
    QS_EVIDENCE_CHECK_HASH_LINKS,           /* consecutive seqs, each prev_hash linked */
    QS_EVIDENCE_CHECK_CHECKPOINT_HEADS,     /* each segment ends at its checkpoint's head */
    QS_EVIDENCE_CHECK_CHECKPOINT_SIGS,      /* each checkpoint signed with an audit key */
    QS_EVIDENCE_CHECK_RECORD_MACS,          /* never checkable without the HSM: always skipped */
    QS_EVIDENCE_CHECK_REFERENCES,           /* every named record present, nothing extra */
    QS_EVIDENCE_CHECK_SIGNATURE_RECORD,     /* the signature record and its fields */
    QS_EVIDENCE_CHECK_AUTHORIZATION,        /* its SAD = the authorization's, same signer */
    QS_EVIDENCE_CHECK_AUTHORIZED_HASHES,    /* the signed hash is among the authorized ones */
    QS_EVIDENCE_CHECK_ENROLMENT,            /* the signer's enrolment before the authorization */
    QS_EVIDENCE_CHECK_IDENTITY,             /* the identity validation the certificate names */
    QS_EVIDENCE_CHECK_KEY_GENERATION,       /* the generated key is the certificate's */
    QS_EVIDENCE_CHECK_CERTIFICATE_ISSUANCE, /* the issuance record names this certificate */
    QS_EVIDENCE_CHECK_CERTIFICATE_CHAIN,    /* the certificate chains to the CA certificate */
    QS_EVIDENCE_CHECK_SIGNATURE_VALUE,      /* the value's digest and its verification */
    QS_EVIDENCE_CHECK_COUNT
} qs_evidence_check_id;

/* The check's short name, e.g. "checkpoint-signatures". */
const char *qs_evidence_check_name(qs_evidence_check_id id);

typedef enum qs_evidence_state {
    QS_EVIDENCE_PASS = 1,
    QS_EVIDENCE_FAIL = 2,
    /* Not checkable (the record MACs) or nothing to check (no signature value in the bundle). */
    QS_EVIDENCE_SKIP = 3,
    /* Not run: the bundle could not be read, so there was nothing to check; or, with
     * QS_EVIDENCE_STOP_AT_FIRST, an earlier check failed. */
    QS_EVIDENCE_NOT_RUN = 4,
} qs_evidence_state;

/* Told the outcome of each check, in qs_evidence_check_id order, with one line for people. */
typedef void (*qs_evidence_report_cb)(void *cls, qs_evidence_check_id id, qs_evidence_state st,
                                      const char *what);

/* What the check saw. */
typedef struct qs_evidence_verdict {
    qs_evidence_state state[QS_EVIDENCE_CHECK_COUNT];
    bool any_failed;
    qs_evidence_check_id first_failed; /* meaningful when any_failed */
    size_t records, checkpoints;       /* in the bundle */
} qs_evidence_verdict;

/* Flag of qs_evidence_check: after the first failing check, report the rest as not run
 * instead of running them (the verdict and the first failing check are the same). */
#define QS_EVIDENCE_STOP_AT_FIRST 0x1u

/*
 * Checks a bundle (buf, len bytes, as read from the file) against `t`: every check above, each
 * reported through cb (may be NULL), in order.  Returns QS_OK when no check failed (skips
 * allowed), QS_ERR_MAC when one did (v->first_failed names the first), QS_ERR_NOMEM when the
 * check itself could not run.  `flags`: 0 or QS_EVIDENCE_STOP_AT_FIRST.  `v` may be NULL.  The
 * buffer is only read.
 */
QS_MUST_CHECK qs_err qs_evidence_check(const qs_evidence_trust *t, const uint8_t *buf, size_t len,
                                       unsigned flags, qs_evidence_report_cb cb, void *cls,
                                       qs_evidence_verdict *v);

#endif
