/*
 * SIGN: signs digests an SAD authorized, each at most once (invariant 2), and releases the
 * signatures only after their audit records are durably committed (invariant 1).
 *
 * 1. The request is checked: ids, digest lengths, no duplicate hash, the PSS parameters (only
 *    the defaults: salt length and MGF1 hash of the digest's algorithm).
 * 2. One READ COMMITTED transaction: the SAD row (found by the SHA-256 of the presented handle)
 *    is locked and its MAC checked; it must be the user's and the credential's, unexpired, for
 *    this hash algorithm, with signatures remaining and at least as many as requested; its
 *    digest rows are locked, their MACs checked and their set compared with the SAD's
 *    hashes_sha256; every requested digest must be among them and unconsumed; the credential's
 *    MAC is checked, its certificate (if it has one) must be neither revoked nor expired, it
 *    must be enabled with its wrapped key present, and the scheme must fit the key.  The
 *    digests are then marked consumed and remaining decremented (new MACs), and the
 *    transaction commits.  The SAD row lock, taken first, serializes every use of one SAD:
 *    the digest rows are read (and locked) only after it, by a statement that sees what an
 *    earlier holder committed.  SERIALIZABLE would add nothing to that but false conflicts
 *    between different SADs (index-page predicate locks), enough under sustained concurrent
 *    signing to exhaust the transaction retries.
 * 3. The key is unwrapped in the HSM, all digests are signed in one session, the key object is
 *    destroyed.
 * 4. One signature.created audit record per signature (qs_audit_append_many, one commit).  Only
 *    when that returns QS_OK are the signatures answered; on any failure after step 2 they are
 *    wiped, the failure is audited (sign.failed) and an error is answered.  The digests stay
 *    consumed: failing closed never allows a second signature.
 *
 * Every refusal is audited as sign.refused with its reason and answered with its own code.
 */
#define QS_LOG_MODULE "sam"
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "sam/ca.h"
#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"
#include "util/secret.h"

typedef struct sign_ctx {
    sam_req *rq;
    uint8_t user_id[QS_DB_SAM_UUID_LEN];
    uint8_t cred_id[QS_DB_SAM_UUID_LEN];
    uint8_t sad_hash[QS_DB_SAM_SHA256_LEN];
    qs_hash_alg halg;
    qs_sig_scheme scheme;
    const sam_digest *digests; /* request order */
    size_t n;
    int64_t now_us;
    /* out */
    qs_db_credential *cred; /* guarded memory: holds the wrapped key */
    qs_db_sad sad;
    qs_key_alg key_alg;
    const char *reason;
} sign_ctx;

static bool scheme_fits(qs_key_alg alg, qs_sig_scheme s)
{
    if (sam_key_alg_is_ec(alg))
        return s == QS_SIG_ECDSA;
    return s == QS_SIG_RSA_PKCS1 || s == QS_SIG_RSA_PSS;
}

static qs_err refuse(sign_ctx *c, const char *reason, qs_err code)
{
    c->reason = reason;
    return code;
}

/* Checks the SAD's digest rows: MACs and the set digest. */
static qs_err check_sad_hashes(sign_ctx *c, const qs_db_sad_hash *rows, size_t count)
{
    sam_req *rq = c->rq;
    sam_digest *set = calloc(count == 0 ? 1 : count, sizeof *set);
    uint8_t set_sha[QS_DB_SAM_SHA256_LEN];
    qs_err r = QS_OK;

    if (set == NULL)
        return QS_ERR_NOMEM;
    for (size_t i = 0; i < count; i++) {
        qs_rec rec = qs_rec_sad_hash(c->sad_hash, &rows[i]);
        r = qs_rec_check(rq->w->hs, &rec, rows[i].record_mac);
        if (r != QS_OK)
            goto out;
        set[i] = (sam_digest){rows[i].digest, rows[i].digest_len};
    }
    qsort(set, count, sizeof *set, sam_digest_cmp);
    sam_hashes_sha256(set, count, set_sha);
    if (!qs_ct_equal(set_sha, c->sad.hashes_sha256, sizeof set_sha))
        r = QS_ERR_MAC; /* rows added to or removed from the SAD */
out:
    if (r == QS_ERR_MAC) {
        sam_mac_mismatch(rq, "sad_hashes", c->user_id, c->cred_id, c->sad_hash);
        c->reason = "record_mac";
    }
    free(set);
    return r;
}

static qs_err sign_txn(qs_db *db, void *cls)
{
    sign_ctx *c = cls;
    sam_req *rq = c->rq;
    qs_hsm_session *hs = rq->w->hs;
    qs_db_sad_hash *rows = NULL, *use = NULL;
    size_t count = 0;
    bool found = false;
    qs_err r;

    c->reason = NULL;
    c->now_us = sam_now_us(); /* per attempt: a retry may come much later */
    if ((r = qs_db_sad_lock(db, c->sad_hash, &c->sad, &found)) != QS_OK)
        goto out;
    if (!found) {
        r = refuse(c, "unknown_sad", QS_ERR_SAD_INVALID);
        goto out;
    }
    qs_rec rec = qs_rec_sad(&c->sad);
    if ((r = qs_rec_check(hs, &rec, c->sad.record_mac)) != QS_OK) {
        if (r == QS_ERR_MAC) {
            sam_mac_mismatch(rq, "sads", c->user_id, c->cred_id, c->sad_hash);
            c->reason = "record_mac";
        }
        goto out;
    }
    if (memcmp(c->sad.user_id, c->user_id, sizeof c->user_id) != 0) {
        r = refuse(c, "other_user", QS_ERR_SAD_INVALID);
        goto out;
    }
    if (memcmp(c->sad.credential_id, c->cred_id, sizeof c->cred_id) != 0) {
        r = refuse(c, "other_credential", QS_ERR_SAD_INVALID);
        goto out;
    }
    if (c->now_us >= c->sad.expires_at_us) {
        r = refuse(c, "sad_expired", QS_ERR_SAD_EXPIRED);
        goto out;
    }
    if (strcmp(c->sad.hash_alg, sam_hash_alg_oid(c->halg)) != 0) {
        r = refuse(c, "hash_alg_mismatch", QS_ERR_HASH_NOT_AUTHORIZED);
        goto out;
    }
    if (c->sad.remaining <= 0) {
        r = refuse(c, "sad_used_up", QS_ERR_SAD_INVALID);
        goto out;
    }
    if (c->n > (size_t)c->sad.remaining) {
        r = refuse(c, "too_many_signatures", QS_ERR_TOO_MANY_SIGNATURES);
        goto out;
    }
    if ((r = qs_db_sad_hashes_lock(db, c->sad_hash, &rows, &count)) != QS_OK ||
        (r = check_sad_hashes(c, rows, count)) != QS_OK)
        goto out;
    if ((use = calloc(c->n, sizeof *use)) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < c->n; i++) {
        const qs_db_sad_hash *h = NULL;
        for (size_t k = 0; k < count && h == NULL; k++) {
            if (rows[k].digest_len == c->digests[i].len &&
                memcmp(rows[k].digest, c->digests[i].p, c->digests[i].len) == 0)
                h = &rows[k];
        }
        if (h == NULL) {
            r = refuse(c, "hash_not_authorized", QS_ERR_HASH_NOT_AUTHORIZED);
            goto out;
        }
        if (h->consumed) {
            r = refuse(c, "hash_consumed", QS_ERR_HASH_CONSUMED);
            goto out;
        }
        use[i] = *h;
    }

    if ((r = qs_db_credential_get(db, c->cred_id, c->cred, &found)) != QS_OK)
        goto out;
    if (!found) {
        qs_bug("SAD refers to a credential that does not exist");
        r = QS_ERR_INTERNAL;
        goto out;
    }
    rec = qs_rec_credential(c->cred);
    if ((r = qs_rec_check(hs, &rec, c->cred->record_mac)) != QS_OK) {
        if (r == QS_ERR_MAC) {
            sam_mac_mismatch(rq, "credentials", c->user_id, c->cred_id, c->sad_hash);
            c->reason = "record_mac";
        }
        goto out;
    }
    if (memcmp(c->cred->user_id, c->user_id, sizeof c->user_id) != 0) {
        r = refuse(c, "not_owner", QS_ERR_SAD_INVALID);
        goto out;
    }
    /* ETSI TS 119 431-1: the certificate, if the credential has one, is checked before use */
    if ((r = sam_cert_check_use(rq, db, c->cred_id, c->now_us, &c->reason)) != QS_OK)
        goto out;
    if (strcmp(c->cred->status, QS_DB_CRED_LOCKED) == 0) {
        r = refuse(c, "credential_locked", QS_ERR_AUTH_LOCKED);
        goto out;
    }
    if (strcmp(c->cred->status, QS_DB_CRED_ENABLED) != 0 || !c->cred->has_wrapped_key) {
        r = refuse(c, "credential_disabled", QS_ERR_CREDENTIAL_DISABLED);
        goto out;
    }
    if (!sam_key_alg_from_db(c->cred->key_alg, &c->key_alg)) {
        qs_bug("stored key algorithm not known");
        r = QS_ERR_INTERNAL;
        goto out;
    }
    if (!scheme_fits(c->key_alg, c->scheme)) {
        r = refuse(c, "scheme_does_not_fit_key", QS_ERR_UNSUPPORTED);
        goto out;
    }

    /* consume */
    for (size_t i = 0; i < c->n; i++) {
        use[i].consumed = true;
        use[i].consumed_at_us = c->now_us;
        qs_rec hrec = qs_rec_sad_hash(c->sad_hash, &use[i]);
        if ((r = qs_rec_mac(hs, &hrec, use[i].record_mac)) != QS_OK)
            goto out;
    }
    c->sad.remaining -= (int32_t)c->n;
    rec = qs_rec_sad(&c->sad);
    if ((r = qs_rec_mac(hs, &rec, c->sad.record_mac)) != QS_OK ||
        (r = qs_db_sad_hashes_consume(db, c->sad_hash, use, c->n)) != QS_OK ||
        (r = qs_db_sad_update_remaining(db, c->sad_hash, c->sad.remaining, c->sad.record_mac)) !=
            QS_OK)
        goto out;
    r = QS_OK;
out:
    free(rows);
    free(use);
    return r;
}

static const char *refusal_message(qs_err r)
{
    switch (r) {
    case QS_ERR_SAD_INVALID:
        return "SAD invalid for this user and credential";
    case QS_ERR_SAD_EXPIRED:
        return "SAD expired";
    case QS_ERR_HASH_NOT_AUTHORIZED:
        return "Hash is not authorized by the SAD";
    case QS_ERR_HASH_CONSUMED:
        return "Hash already signed with this SAD";
    case QS_ERR_TOO_MANY_SIGNATURES:
        return "Numbers of signatures is too high";
    case QS_ERR_AUTH_LOCKED:
        return "Credential locked";
    case QS_ERR_UNSUPPORTED:
        return "signature scheme does not fit the key";
    case QS_ERR_MAC:
        return "a stored record failed its integrity check";
    case QS_ERR_CERT_REVOKED:
        return "Signing certificate is revoked";
    case QS_ERR_CERT_EXPIRED:
        return "Signing certificate is expired";
    default:
        return NULL;
    }
}

/* Reads SIG_SCHEME and the PSS parameters; only default PSS parameters are supported. */
static qs_err read_scheme(sam_req *rq, qs_hash_alg halg, uint32_t wire_hash, qs_sig_scheme *scheme,
                          const char **reason)
{
    uint32_t s = 0, salt = 0, mgf = 0;
    bool has_salt = qs_sam_msg_get_u32(rq->msg, QS_SAM_T_PSS_SALT_LEN, &salt);
    bool has_mgf = qs_sam_msg_get_u32(rq->msg, QS_SAM_T_PSS_MGF_HASH, &mgf);

    (void)qs_sam_msg_get_u32(rq->msg, QS_SAM_T_SIG_SCHEME, &s);
    switch ((qs_sam_sig_scheme)s) {
    case QS_SAM_SIG_ECDSA:
        *scheme = QS_SIG_ECDSA;
        break;
    case QS_SAM_SIG_RSA_PKCS1:
        *scheme = QS_SIG_RSA_PKCS1;
        break;
    case QS_SAM_SIG_RSA_PSS:
        *scheme = QS_SIG_RSA_PSS;
        break;
    default:
        *reason = "sig_scheme";
        return sam_fail(rq, QS_ERR_UNSUPPORTED, "unknown signature scheme");
    }
    if ((has_salt || has_mgf) && *scheme != QS_SIG_RSA_PSS) {
        *reason = "pss_parameters";
        return sam_fail(rq, QS_ERR_INVALID_ARGUMENT, "PSS parameters for a non-PSS scheme");
    }
    if ((has_salt && salt != qs_hash_len(halg)) || (has_mgf && mgf != wire_hash)) {
        *reason = "pss_parameters";
        return sam_fail(rq, QS_ERR_UNSUPPORTED,
                        "only PSS with MGF1 and salt length of the digest's hash are supported");
    }
    return QS_OK;
}

/* Audits one signature.created record per signature, in one commit. */
static qs_err audit_signatures(sam_req *rq, const sign_ctx *c, uint8_t *const sigs[],
                               const size_t sig_lens[])
{
    qs_audit_event *evs = calloc(c->n, sizeof *evs);
    sam_json *js = calloc(c->n, sizeof *js);
    char actor[QS_AUDIT_ACTOR_MAX + 1];
    qs_err r = QS_OK;

    if (evs == NULL || js == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    sam_actor(rq, c->user_id, actor);
    for (size_t i = 0; i < c->n; i++) {
        uint8_t sig_sha[crypto_hash_sha256_BYTES];
        crypto_hash_sha256(sig_sha, sigs[i], sig_lens[i]);
        sam_json_init(&js[i]);
        sam_json_hex(&js[i], "hash", c->digests[i].p, c->digests[i].len);
        sam_json_str(&js[i], "hash_alg", c->sad.hash_alg);
        sam_json_str(&js[i], "sig_scheme", sam_sig_scheme_name(c->scheme));
        sam_json_str(&js[i], "key_alg", c->cred->key_alg);
        sam_json_hex(&js[i], "signature_sha256", sig_sha, sizeof sig_sha);
        sam_json_str(&js[i], "auth_event_writer", c->sad.auth_event_writer);
        sam_json_int(&js[i], "auth_event_seq", c->sad.auth_event_seq);
        const char *details = sam_json_finish(&js[i]);
        if (details == NULL) {
            r = QS_ERR_NOMEM;
            goto out;
        }
        evs[i] = (qs_audit_event){
            .event_type = "signature.created",
            .actor = actor,
            .user_id = c->user_id,
            .credential_id = c->cred_id,
            .sad_ref = c->sad_hash,
            .success = true,
            .details_json = details,
        };
    }
    r = qs_audit_append_many(rq->w->s->audit, evs, c->n, NULL);
    if (r != QS_OK)
        qs_error("signature audit records not written: %s", qs_err_name(r));
out:
    if (js != NULL) {
        for (size_t i = 0; i < c->n; i++)
            sam_json_free(&js[i]);
    }
    free(js);
    free(evs);
    return r;
}

/* A failure after the digests were consumed: audited, answered with the error. */
static qs_err sign_failed(sam_req *rq, const sign_ctx *c, const char *stage, qs_err r)
{
    sam_fail(rq, r, NULL);
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "stage", stage);
    sam_json_str(&j, "error", qs_err_name(r));
    sam_json_int(&j, "hashes_consumed", (int64_t)c->n);
    const char *details = sam_json_finish(&j);
    if (details != NULL)
        (void)sam_audit(rq, "sign.failed", false, c->user_id, c->cred_id, c->sad_hash, details,
                        NULL);
    sam_json_free(&j);
    return r;
}

qs_err sam_h_sign(sam_req *rq)
{
    static const char refused[] = "sign.refused";
    sign_ctx c;
    sam_digest *digests = NULL;
    uint8_t **sigs = NULL;
    size_t *sig_lens = NULL;
    const uint8_t **dptrs = NULL;
    size_t sad_len = 0, cap = 0;
    uint32_t wire_hash = 0;
    bool sad_parsed = false;
    qs_err r;

    memset(&c, 0, sizeof c);
    c.rq = rq;
    if ((r = sam_req_uuid(rq, QS_SAM_T_USER_ID, "user id", refused, c.user_id)) != QS_OK ||
        (r = sam_req_uuid(rq, QS_SAM_T_CREDENTIAL_ID, "credential id", refused, c.cred_id)) !=
            QS_OK)
        return r;
    const char *sad_b64 = qs_sam_msg_get_str(rq->msg, QS_SAM_T_SAD, &sad_len);
    if (sad_b64 == NULL || qs_sad_handle_hash(sad_b64, sad_len, c.sad_hash) != QS_OK) {
        c.reason = "malformed_sad";
        r = sam_fail(rq, QS_ERR_SAD_INVALID, "malformed SAD");
        goto out;
    }
    sad_parsed = true;
    (void)qs_sam_msg_get_u32(rq->msg, QS_SAM_T_HASH_ALG, &wire_hash);
    if (!sam_hash_alg_from_wire(wire_hash, &c.halg)) {
        c.reason = "hash_alg";
        r = sam_fail(rq, QS_ERR_UNSUPPORTED, "unknown hash algorithm");
        goto out;
    }
    if ((r = read_scheme(rq, c.halg, wire_hash, &c.scheme, &c.reason)) != QS_OK)
        goto out;
    if ((r = sam_req_hashes(rq, c.halg, refused, c.user_id, c.cred_id, &digests, &c.n)) != QS_OK)
        return r;
    c.digests = digests;
    if ((c.cred = qs_secret_alloc(sizeof *c.cred)) == NULL) {
        r = sam_fail(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }

    r = qs_db_run_txn_opt(rq->w->db, "sign", QS_DB_TXN_READ_COMMITTED, sign_txn, &c);
    if (r != QS_OK) {
        if (c.reason == NULL)
            c.reason = "error";
        sam_fail(rq, r, refusal_message(r));
        goto out;
    }
    c.reason = NULL; /* from here on failures are sign.failed, not refusals */

    cap = qs_hsm_sig_max(c.key_alg);
    sigs = calloc(c.n, sizeof *sigs);
    sig_lens = calloc(c.n, sizeof *sig_lens);
    dptrs = calloc(c.n, sizeof *dptrs);
    if (sigs == NULL || sig_lens == NULL || dptrs == NULL) {
        r = sign_failed(rq, &c, "memory", QS_ERR_NOMEM);
        goto out;
    }
    for (size_t i = 0; i < c.n; i++) {
        if ((sigs[i] = malloc(cap)) == NULL) {
            r = sign_failed(rq, &c, "memory", QS_ERR_NOMEM);
            goto out;
        }
        sig_lens[i] = cap;
        dptrs[i] = c.digests[i].p;
    }
    r = qs_hsm_sign_digests(rq->w->hs, c.key_alg, c.cred->wrapped_key, c.cred->wrapped_key_len,
                            c.scheme, c.halg, dptrs, c.n, sigs, sig_lens);
    qs_wipe(c.cred->wrapped_key, sizeof c.cred->wrapped_key);
    if (r != QS_OK) {
        qs_error("signing with credential failed in the HSM: %s", qs_err_name(r));
        r = sign_failed(rq, &c, "hsm", r);
        goto out;
    }
    if ((r = audit_signatures(rq, &c, sigs, sig_lens)) != QS_OK) {
        r = sign_failed(rq, &c, "audit", r);
        goto out;
    }

    /* audited and committed: the signatures may leave */
    if ((r = sam_resp_begin(rq)) != QS_OK)
        goto out;
    for (size_t i = 0; i < c.n; i++) {
        if (qs_sam_msg_put_bytes(rq->resp, QS_SAM_T_SIGNATURE, sigs[i], sig_lens[i]) != QS_OK) {
            r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
            goto out;
        }
    }
    qs_info("%zu signature%s made (%s)", c.n, c.n == 1 ? "" : "s", sam_sig_scheme_name(c.scheme));
    r = QS_OK;
out:
    if (r != QS_OK && c.reason != NULL)
        sam_audit_refusal(rq, refused, c.reason, c.user_id, c.cred_id,
                          sad_parsed ? c.sad_hash : NULL);
    if (sigs != NULL) {
        for (size_t i = 0; i < c.n; i++)
            qs_free_wiped(sigs[i], sigs[i] != NULL ? cap : 0);
    }
    free(sigs);
    free(sig_lens);
    free(dptrs);
    free(digests);
    qs_secret_free(c.cred);
    qs_wipe(&c, sizeof c);
    return r;
}
