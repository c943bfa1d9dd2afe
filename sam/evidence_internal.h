/*
 * Private to the evidence builder and checker (sam/evidence*.c) and their tests: the bundle as
 * a C value, its one canonical serialization and its strict parser (docs/evidence.md).
 */
#ifndef QS_SAM_EVIDENCE_INTERNAL_H
#define QS_SAM_EVIDENCE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db_audit.h"
#include "sam/audit.h"
#include "sam/evidence.h"

/* Event types the bundle's roles name. */
#define QS_EV_SIGNATURE     "signature.created"
#define QS_EV_SAD_ISSUED    "sad.issued"
#define QS_EV_SAD_EXTENDED  "sad.extended"
#define QS_EV_USER_CREATED  "user.created"
#define QS_EV_SIGNER        "signer.created"
#define QS_EV_ACTIVATED     "signer.activated"
#define QS_EV_FACTORS       "factors.enrolled"
#define QS_EV_KEY_GENERATED "credential.created"
#define QS_EV_CERT_ISSUED   "cert.issued"

/* Most extensions of one SAD, enrolment records of one signer, CA certificates in a chain. */
#define QS_EVIDENCE_EXTENSIONS_MAX 1000
#define QS_EVIDENCE_ENROLMENT_MAX  1000
#define QS_EVIDENCE_CA_CHAIN_MAX   8
#define QS_EVIDENCE_CERT_MAX       16384 /* bytes of one DER certificate */

/* A record named by writer and seq. */
typedef struct qs_ev_ref {
    char writer[QS_AUDIT_WRITER_ID_MAX + 1];
    uint64_t seq;
} qs_ev_ref;

typedef struct qs_ev_bytes {
    uint8_t *p; /* malloc'd */
    size_t len;
} qs_ev_bytes;

/* Consecutive records of one writer and the checkpoint that covers the last of them (its seq
 * and head_hash are the last record's). */
typedef struct qs_ev_segment {
    qs_db_audit_row *records; /* malloc'd, owning rows; record_mac unused (zero) */
    size_t n;
    qs_audit_checkpoint cp; /* writer_id is the chain's */
} qs_ev_segment;

/* The segments of one writer, by seq, not overlapping. */
typedef struct qs_ev_chain {
    char writer[QS_AUDIT_WRITER_ID_MAX + 1];
    qs_ev_segment *segs; /* malloc'd */
    size_t n;
} qs_ev_chain;

typedef struct qs_ev_bundle {
    qs_ev_ref signature; /* signature.created */
    bool has_value;
    qs_ev_bytes value;       /* the signature value, when known */
    qs_ev_ref authorization; /* sad.issued */
    qs_ev_ref *extensions;   /* sad.extended, oldest first */
    size_t n_extensions;
    qs_ev_bytes *hashes; /* what the signing SAD authorized, by length then bytes */
    size_t n_hashes;
    qs_ev_ref *enrolment; /* by (event_time, writer, seq) */
    size_t n_enrolment;
    qs_ev_ref identity;             /* signer.created */
    qs_ev_ref key_generation;       /* credential.created */
    qs_ev_ref certificate_issuance; /* cert.issued */
    qs_ev_bytes certificate;        /* DER */
    qs_ev_bytes *ca_chain;          /* DER, the issuer first */
    size_t n_ca_chain;
    qs_ev_chain *chains; /* by writer id, byte order */
    size_t n_chains;
} qs_ev_bundle;

/* Frees everything the bundle owns and zeroes it.  NULL is a no-op. */
void qs_ev_bundle_clear(qs_ev_bundle *b);

/* The canonical serialization: compact JSON with members sorted by key, then one line feed.
 * *out is malloc'd (free it).  QS_ERR_INVALID_ARGUMENT for a value that has no serialization
 * (an invalid writer id or time, a seq beyond INT64_MAX), QS_ERR_NOMEM. */
QS_MUST_CHECK qs_err qs_ev_bundle_serialize(const qs_ev_bundle *b, char **out, size_t *len);

/* Parses a bundle strictly (every member known, of its type and within its limits; nothing
 * missing) into *b (clear it after).  Does not compare with the canonical form.  QS_ERR_PARSE
 * with the reason in why, QS_ERR_TOO_LARGE, QS_ERR_NOMEM. */
QS_MUST_CHECK qs_err qs_ev_bundle_parse(const uint8_t *buf, size_t len, qs_ev_bundle *b, char *why,
                                        size_t why_len);

/* The record a reference names, or NULL when the bundle does not hold it. */
const qs_db_audit_row *qs_ev_bundle_record(const qs_ev_bundle *b, const qs_ev_ref *r);

/* Whether digest a sorts before b in the order of the SAD's hashes_sha256: by length, then
 * byte by byte.  0 when equal. */
int qs_ev_digest_cmp(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);

#endif
