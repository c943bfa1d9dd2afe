/*
 * What SIGN (h_sign.c) and SIGN_DOC (h_sign_doc.c) share, private to sam/: reading the
 * signing request, the one transaction that verifies the SAD and consumes the digests it is
 * asked to sign, the signature.created audit records, and the audit of refusals and of
 * failures after consumption.  h_sign.c's header says why checking only the requested digest
 * rows keeps invariants 2 and 3.
 *
 * A handler fills the first block of a sam_sign, calls sam_sign_authorize, and on QS_OK signs
 * the n digests (each failure from then on goes through sam_sign_failed: the digests stay
 * consumed), audits with sam_sign_audit, answers, and always ends with sam_sign_end.
 *
 * Threads: a sam_sign belongs to the request's worker thread.
 */
#ifndef QS_SAM_SIGN_H
#define QS_SAM_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db_ca.h"
#include "db/db_sam.h"
#include "hsm/hsm.h"
#include "sam/sam.h"

typedef struct sam_sign sam_sign;

/* A handler's own check inside the transaction, after every shared check and before the
 * digests are consumed: QS_OK, or an error with s->reason set for a refusal. */
typedef qs_err (*sam_sign_check_fn)(sam_sign *s, qs_db *db);

/* Adds a handler's own fields to the details of the i-th signature.created record. */
typedef void (*sam_sign_details_fn)(const sam_sign *s, size_t i, sam_json *j, void *cls);

struct sam_sign {
    /* set by the handler */
    sam_req *rq;
    const char *refused_event; /* "sign.refused" */
    const char *failed_event;  /* "sign.failed" */
    bool need_cert;            /* the credential must have a certificate: loaded into cert */
    sam_sign_check_fn check;   /* may be NULL */
    void *cls;                 /* the handler's */

    /* filled by sam_sign_authorize */
    uint8_t user_id[QS_DB_SAM_UUID_LEN];
    uint8_t cred_id[QS_DB_SAM_UUID_LEN];
    uint8_t sad_hash[QS_DB_SAM_SHA256_LEN];
    bool sad_parsed;
    qs_hash_alg halg;
    qs_sig_scheme scheme;
    sam_digest *digests; /* request order, pointing into the request */
    size_t n;
    int64_t now_us;          /* the transaction's time */
    qs_db_credential *cred;  /* guarded memory: holds the wrapped key */
    qs_db_certificate *cert; /* need_cert: the credential's certificate, MAC checked */
    qs_db_sad sad;
    qs_key_alg key_alg;
    const char *reason; /* a refusal's reason, audited by sam_sign_end */
};

/*
 * Reads the request (USER_ID, CREDENTIAL_ID, SAD, HASH_ALG, SIG_SCHEME with the default PSS
 * parameters only, HASH), then runs the transaction: the SAD row locked and MAC-checked, the
 * user's, the credential's, unexpired, of this hash algorithm, with enough signatures left; the
 * rows of the requested digests locked and MAC-checked, each present and unconsumed; the
 * credential MAC-checked, owned, enabled with its key, its certificate (if any; required with
 * need_cert) valid, the scheme fitting the key; the handler's check; then the digests marked
 * consumed and the SAD's remaining count lowered, with new MACs, and committed.
 *
 * QS_OK: the digests are consumed.  Otherwise the request has failed (sam_fail) and the refusal
 * is audited by sam_sign_end.
 */
QS_MUST_CHECK qs_err sam_sign_authorize(sam_sign *s);

/* One signature.created record per digest, in one commit: hash, hash_alg, sig_scheme, key_alg,
 * signature_sha256 (sig_sha[i], the digest of the i-th signature value), the authentication
 * event, and what `more` adds (may be NULL).  QS_OK only once they are durably committed. */
QS_MUST_CHECK qs_err sam_sign_audit(sam_sign *s, const uint8_t (*sig_sha)[QS_SHA256_LEN],
                                    sam_sign_details_fn more, void *cls);

/* A failure after the digests were consumed: answered with r and audited as failed_event with
 * the stage.  Returns r. */
qs_err sam_sign_failed(sam_sign *s, const char *stage, qs_err r);

/* Ends the request: audits a refusal (r != QS_OK with a reason) as refused_event, frees and
 * wipes what sam_sign_authorize made. */
void sam_sign_end(sam_sign *s, qs_err r);

#endif
