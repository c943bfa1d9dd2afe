/*
 * The signing path SIGN and SIGN_DOC share (sam/sign.h): the request, the SAD's verification
 * and the consumption of the digests in one READ COMMITTED transaction, and the audit records.
 * h_sign.c's header describes the steps and argues why locking and MAC-checking only the SAD row
 * and the requested digest rows keeps invariants 2 and 3.
 *
 * The SAD row lock, taken first, serializes every use of one SAD: the digest rows are read (and
 * locked) only after it, by a statement that sees what an earlier holder committed.
 * SERIALIZABLE would add nothing to that but false conflicts between different SADs (index-page
 * predicate locks), enough under sustained concurrent signing to exhaust the transaction
 * retries.
 */
#define QS_LOG_MODULE "sam"
#include "sam/sign.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "sam/ca.h"
#include "sam/records.h"
#include "util/log.h"
#include "util/secret.h"

static bool scheme_fits(qs_key_alg alg, qs_sig_scheme s)
{
    if (sam_key_alg_is_ec(alg))
        return s == QS_SIG_ECDSA;
    return s == QS_SIG_RSA_PKCS1 || s == QS_SIG_RSA_PSS;
}

static qs_err refuse(sam_sign *s, const char *reason, qs_err code)
{
    s->reason = reason;
    return code;
}

/* Finds the row of digest d among rows, sorted in ascending byte order by the database (all of
 * d's length: the statement selects equal digests only). */
static const qs_db_sad_hash *find_row(const qs_db_sad_hash *rows, size_t count, const sam_digest *d)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = rows[mid].digest_len != d->len ? (rows[mid].digest_len < d->len ? -1 : 1)
                                               : memcmp(rows[mid].digest, d->p, d->len);
        if (c == 0)
            return &rows[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Locks the rows of the requested digests (and only those), checks their MACs, and fills
 * use[i] with the row of the i-th requested digest: present and unconsumed. */
static qs_err lock_requested(sam_sign *s, qs_db *db, qs_db_sad_hash *use)
{
    sam_req *rq = s->rq;
    qs_db_sad_hash *rows = NULL;
    const uint8_t **dptrs = calloc(s->n, sizeof *dptrs);
    size_t *lens = calloc(s->n, sizeof *lens);
    size_t count = 0;
    qs_err r;

    if (dptrs == NULL || lens == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < s->n; i++) {
        dptrs[i] = s->digests[i].p;
        lens[i] = s->digests[i].len;
    }
    if ((r = qs_db_sad_hashes_lock_some(db, s->sad_hash, dptrs, lens, s->n, &rows, &count)) !=
        QS_OK)
        goto out;
    /* Every row returned is checked, before anything is decided from any of them: a forged
     * row, one moved from another SAD, or one whose digest or consumption was changed, is a
     * MAC mismatch, not a digest that merely is not authorized. */
    for (size_t k = 0; k < count; k++) {
        qs_rec rec = qs_rec_sad_hash(s->sad_hash, &rows[k]);
        if ((r = qs_rec_check(rq->w->hs, &rec, rows[k].record_mac)) != QS_OK) {
            if (r == QS_ERR_MAC) {
                sam_mac_mismatch(rq, "sad_hashes", s->user_id, s->cred_id, s->sad_hash);
                s->reason = "record_mac";
            }
            goto out;
        }
    }
    for (size_t i = 0; i < s->n; i++) {
        const qs_db_sad_hash *h = find_row(rows, count, &s->digests[i]);
        if (h == NULL) {
            r = refuse(s, "hash_not_authorized", QS_ERR_HASH_NOT_AUTHORIZED);
            goto out;
        }
        if (h->consumed) {
            r = refuse(s, "hash_consumed", QS_ERR_HASH_CONSUMED);
            goto out;
        }
        use[i] = *h;
    }
    r = QS_OK;
out:
    free(rows);
    free(dptrs);
    free(lens);
    return r;
}

static qs_err sign_txn(qs_db *db, void *cls)
{
    sam_sign *s = cls;
    sam_req *rq = s->rq;
    qs_hsm_session *hs = rq->w->hs;
    qs_db_sad_hash *use = NULL;
    bool found = false;
    qs_err r;

    s->reason = NULL;
    s->now_us = sam_now_us(); /* per attempt: a retry may come much later */
    if ((r = sam_sad_lock_usable(rq, db, s->sad_hash, s->user_id, s->cred_id, s->halg, s->now_us,
                                 &s->sad, &s->reason)) != QS_OK)
        goto out;
    if (s->n > (size_t)s->sad.remaining) {
        r = refuse(s, "too_many_signatures", QS_ERR_TOO_MANY_SIGNATURES);
        goto out;
    }
    if ((use = calloc(s->n, sizeof *use)) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    if ((r = lock_requested(s, db, use)) != QS_OK)
        goto out;

    if ((r = qs_db_credential_get(db, s->cred_id, s->cred, &found)) != QS_OK)
        goto out;
    if (!found) {
        qs_bug("SAD refers to a credential that does not exist");
        r = QS_ERR_INTERNAL;
        goto out;
    }
    qs_rec rec = qs_rec_credential(s->cred);
    if ((r = qs_rec_check(hs, &rec, s->cred->record_mac)) != QS_OK) {
        if (r == QS_ERR_MAC) {
            sam_mac_mismatch(rq, "credentials", s->user_id, s->cred_id, s->sad_hash);
            s->reason = "record_mac";
        }
        goto out;
    }
    if (memcmp(s->cred->user_id, s->user_id, sizeof s->user_id) != 0) {
        r = refuse(s, "not_owner", QS_ERR_SAD_INVALID);
        goto out;
    }
    /* ETSI TS 119 431-1: the certificate, if the credential has one, is checked before use */
    if ((r = sam_cert_check_use(rq, db, s->cred_id, s->now_us, &s->reason, s->cert)) != QS_OK)
        goto out;
    if (strcmp(s->cred->status, QS_DB_CRED_LOCKED) == 0) {
        r = refuse(s, "credential_locked", QS_ERR_AUTH_LOCKED);
        goto out;
    }
    if (strcmp(s->cred->status, QS_DB_CRED_ENABLED) != 0 || !s->cred->has_wrapped_key) {
        r = refuse(s, "credential_disabled", QS_ERR_CREDENTIAL_DISABLED);
        goto out;
    }
    if (!sam_key_alg_from_db(s->cred->key_alg, &s->key_alg)) {
        qs_bug("stored key algorithm not known");
        r = QS_ERR_INTERNAL;
        goto out;
    }
    if (!scheme_fits(s->key_alg, s->scheme)) {
        r = refuse(s, "scheme_does_not_fit_key", QS_ERR_UNSUPPORTED);
        goto out;
    }
    if (s->check != NULL && (r = s->check(s, db)) != QS_OK)
        goto out;

    /* consume */
    for (size_t i = 0; i < s->n; i++) {
        use[i].consumed = true;
        use[i].consumed_at_us = s->now_us;
        qs_rec hrec = qs_rec_sad_hash(s->sad_hash, &use[i]);
        if ((r = qs_rec_mac(hs, &hrec, use[i].record_mac)) != QS_OK)
            goto out;
    }
    s->sad.remaining -= (int32_t)s->n;
    rec = qs_rec_sad(&s->sad);
    if ((r = qs_rec_mac(hs, &rec, s->sad.record_mac)) != QS_OK ||
        (r = qs_db_sad_hashes_consume(db, s->sad_hash, use, s->n)) != QS_OK ||
        (r = qs_db_sad_update_remaining(db, s->sad_hash, s->sad.remaining, s->sad.record_mac)) !=
            QS_OK)
        goto out;
    r = QS_OK;
out:
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
    case QS_ERR_CERT_MISSING:
        return "the credential has no certificate";
    default:
        return NULL;
    }
}

/* Reads SIG_SCHEME and the PSS parameters; only default PSS parameters are supported. */
static qs_err read_scheme(sam_req *rq, qs_hash_alg halg, uint32_t wire_hash, qs_sig_scheme *scheme,
                          const char **reason)
{
    uint32_t v = 0, salt = 0, mgf = 0;
    bool has_salt = qs_sam_msg_get_u32(rq->msg, QS_SAM_T_PSS_SALT_LEN, &salt);
    bool has_mgf = qs_sam_msg_get_u32(rq->msg, QS_SAM_T_PSS_MGF_HASH, &mgf);

    (void)qs_sam_msg_get_u32(rq->msg, QS_SAM_T_SIG_SCHEME, &v);
    switch ((qs_sam_sig_scheme)v) {
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

qs_err sam_sign_authorize(sam_sign *s)
{
    sam_req *rq = s->rq;
    size_t sad_len = 0;
    uint32_t wire_hash = 0;
    qs_err r;

    s->reason = NULL;
    if ((r = sam_req_uuid(rq, QS_SAM_T_USER_ID, "user id", s->refused_event, s->user_id)) !=
            QS_OK ||
        (r = sam_req_uuid(rq, QS_SAM_T_CREDENTIAL_ID, "credential id", s->refused_event,
                          s->cred_id)) != QS_OK)
        return r; /* audited already */
    const char *sad_b64 = qs_sam_msg_get_str(rq->msg, QS_SAM_T_SAD, &sad_len);
    if (sad_b64 == NULL || qs_sad_handle_hash(sad_b64, sad_len, s->sad_hash) != QS_OK) {
        s->reason = "malformed_sad";
        return sam_fail(rq, QS_ERR_SAD_INVALID, "malformed SAD");
    }
    s->sad_parsed = true;
    (void)qs_sam_msg_get_u32(rq->msg, QS_SAM_T_HASH_ALG, &wire_hash);
    if (!sam_hash_alg_from_wire(wire_hash, &s->halg)) {
        s->reason = "hash_alg";
        return sam_fail(rq, QS_ERR_UNSUPPORTED, "unknown hash algorithm");
    }
    if ((r = read_scheme(rq, s->halg, wire_hash, &s->scheme, &s->reason)) != QS_OK)
        return r;
    if ((r = sam_req_hashes(rq, s->halg, s->refused_event, s->user_id, s->cred_id, &s->digests,
                            &s->n)) != QS_OK)
        return r; /* audited already */
    if ((s->cred = qs_secret_alloc(sizeof *s->cred)) == NULL)
        return sam_fail(rq, QS_ERR_NOMEM, NULL);
    if (s->need_cert && (s->cert = malloc(sizeof *s->cert)) == NULL)
        return sam_fail(rq, QS_ERR_NOMEM, NULL);

    r = qs_db_run_txn_opt(rq->w->db, "sign", QS_DB_TXN_READ_COMMITTED, sign_txn, s);
    if (r != QS_OK) {
        if (s->reason == NULL)
            s->reason = "error";
        return sam_fail(rq, r, refusal_message(r));
    }
    s->reason = NULL; /* from here on failures are failed_event, not refusals */
    return QS_OK;
}

qs_err sam_sign_audit(sam_sign *s, const uint8_t (*sig_sha)[QS_SHA256_LEN],
                      sam_sign_details_fn more, void *cls)
{
    sam_req *rq = s->rq;
    qs_audit_event *evs = calloc(s->n, sizeof *evs);
    sam_json *js = calloc(s->n, sizeof *js);
    char actor[QS_AUDIT_ACTOR_MAX + 1];
    qs_err r = QS_OK;

    if (evs == NULL || js == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    sam_actor(rq, s->user_id, actor);
    for (size_t i = 0; i < s->n; i++) {
        sam_json_init(&js[i]);
        sam_json_hex(&js[i], "hash", s->digests[i].p, s->digests[i].len);
        sam_json_str(&js[i], "hash_alg", s->sad.hash_alg);
        sam_json_str(&js[i], "sig_scheme", sam_sig_scheme_name(s->scheme));
        sam_json_str(&js[i], "key_alg", s->cred->key_alg);
        sam_json_hex(&js[i], "signature_sha256", sig_sha[i], QS_SHA256_LEN);
        sam_json_str(&js[i], "auth_event_writer", s->sad.auth_event_writer);
        sam_json_int(&js[i], "auth_event_seq", s->sad.auth_event_seq);
        if (more != NULL)
            more(s, i, &js[i], cls);
        const char *details = sam_json_finish(&js[i]);
        if (details == NULL) {
            r = QS_ERR_NOMEM;
            goto out;
        }
        evs[i] = (qs_audit_event){
            .event_type = "signature.created",
            .actor = actor,
            .user_id = s->user_id,
            .credential_id = s->cred_id,
            .sad_ref = s->sad_hash,
            .success = true,
            .details_json = details,
        };
    }
    r = qs_audit_append_many(rq->w->s->audit, evs, s->n, NULL);
    if (r != QS_OK)
        qs_error("signature audit records not written: %s", qs_err_name(r));
out:
    if (js != NULL) {
        for (size_t i = 0; i < s->n; i++)
            sam_json_free(&js[i]);
    }
    free(js);
    free(evs);
    return r;
}

qs_err sam_sign_failed(sam_sign *s, const char *stage, qs_err r)
{
    sam_fail(s->rq, r, NULL);
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "stage", stage);
    sam_json_str(&j, "error", qs_err_name(r));
    sam_json_int(&j, "hashes_consumed", (int64_t)s->n);
    const char *details = sam_json_finish(&j);
    if (details != NULL)
        (void)sam_audit(s->rq, s->failed_event, false, s->user_id, s->cred_id, s->sad_hash, details,
                        NULL);
    sam_json_free(&j);
    return r;
}

void sam_sign_end(sam_sign *s, qs_err r)
{
    if (r != QS_OK && s->reason != NULL)
        sam_audit_refusal(s->rq, s->refused_event, s->reason, s->user_id, s->cred_id,
                          s->sad_parsed ? s->sad_hash : NULL);
    free(s->digests);
    s->digests = NULL;
    qs_secret_free(s->cred);
    s->cred = NULL;
    free(s->cert);
    s->cert = NULL;
    qs_wipe(s->sad_hash, sizeof s->sad_hash);
}
