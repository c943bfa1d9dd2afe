/*
 * AUTHORIZE: verifies the signer's factors (PIN and TOTP) for one credential and issues an SAD
 * bound to the signer, the credential, the exact set of hashes, the hash algorithm, the number
 * of signatures, an expiry and the audit record of the authentication.
 *
 * 1. The request is checked (ids, digest lengths, no duplicate hash, 1 <= hashes <=
 *    NUM_SIGNATURES <= [sad] max_signatures).
 * 2. One READ COMMITTED transaction that locks each row it writes (FOR UPDATE: the credential,
 *    then the PIN and the TOTP factor) before reading it: authorizations of one credential or
 *    one signer are serialized by those row locks, those of different signers never wait for
 *    each other.  (SERIALIZABLE would make them fail each other with serialization failures:
 *    its predicate locks cover index pages shared by many signers' rows, the Argon2id check
 *    keeps the transaction open for most of a second, and each retry would repeat that check.)
 *    The MACs of the credential, user and factor rows are checked; the credential must be the
 *    user's and enabled (a locked one is refused before any factor is looked at); the PIN and
 *    the TOTP code are verified (a time step is accepted once: the matched step is stored); the
 *    per-credential failure counter decides the lockout (qs_lockout_decide), the per-factor
 *    counters count wrong values; every changed row is written with a new MAC.  Failures commit
 *    too: the counters must survive.
 * 3. On success the SAD handle is made (only its SHA-256 is stored), the sad.issued audit record
 *    is appended and durably committed, and only then is the SAD inserted, referencing that
 *    record.  The handle goes to the client with EXPIRES_IN.
 *
 * Audit: sad.issued, auth.failed (which factor failed, the counter, whether it locked),
 * credential.locked (on lockout), authorize.refused (with the reason).
 */
#define QS_LOG_MODULE "sam"
#include <stdlib.h>
#include <string.h>

#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"
#include "util/secret.h"

/* Upper bound of the failure counters (the schema's CHECK). */
#define COUNTER_MAX 1000000

typedef enum otp_outcome {
    OTP_NOT_CHECKED = 0,
    OTP_OK,
    OTP_WRONG,
    OTP_REPLAY,
} otp_outcome;

typedef struct auth_ctx {
    sam_req *rq;
    uint8_t user_id[QS_DB_SAM_UUID_LEN];
    uint8_t cred_id[QS_DB_SAM_UUID_LEN];
    const char *pin, *otp;
    size_t pin_len, otp_len;
    int64_t now_us;
    qs_db_credential *cred; /* scratch row in guarded memory */
    /* outcome of the transaction */
    const char *reason;  /* a refusal before the factors, for the audit record */
    bool locked_refusal; /* refused because the credential is locked (committed) */
    bool factors_checked;
    bool pin_ok;
    otp_outcome otp_result;
    uint64_t matched_step;
    bool newly_locked;
    int32_t failed_attempts;
} auth_ctx;

static int32_t bump(int32_t v)
{
    return v >= COUNTER_MAX ? COUNTER_MAX : v + 1;
}

static qs_err check_rec(sam_req *rq, const qs_rec *rec, const uint8_t *mac, const char *table,
                        const uint8_t *user_id, const uint8_t *cred_id, const char **reason)
{
    qs_err r = qs_rec_check(rq->w->hs, rec, mac);
    if (r == QS_ERR_MAC) {
        sam_mac_mismatch(rq, table, user_id, cred_id, NULL);
        *reason = "record_mac";
    }
    return r;
}

/* Verifies the TOTP code against the stored factor. */
static qs_err verify_otp(auth_ctx *a, const qs_db_factor_totp *f)
{
    sam_req *rq = a->rq;
    qs_totp_params tp;
    uint8_t aad[SAM_TOTP_AAD_LEN];
    uint8_t *seed = NULL;
    size_t seed_len = 0;

    if (sam_totp_params(f, &tp) != QS_OK || f->last_step < 0) {
        qs_bug("stored TOTP parameters not supported");
        return QS_ERR_INTERNAL;
    }
    sam_totp_aad(a->user_id, aad);
    qs_err r = qs_hsm_decrypt(rq->w->hs, aad, sizeof aad, f->seed_ciphertext,
                              f->seed_ciphertext_len, &seed, &seed_len);
    if (r == QS_ERR_MAC) {
        sam_mac_mismatch(rq, "factor_totp", a->user_id, a->cred_id, NULL);
        a->reason = "record_mac";
        return r;
    }
    if (r != QS_OK)
        return r;
    r = qs_totp_verify(&tp, seed, seed_len, a->otp, a->otp_len, a->now_us / 1000000,
                       (uint64_t)f->last_step, &a->matched_step);
    qs_secret_free(seed);
    switch (r) {
    case QS_OK:
        a->otp_result = OTP_OK;
        return QS_OK;
    case QS_ERR_AUTH_FAILED:
        a->otp_result = OTP_WRONG;
        return QS_OK;
    case QS_ERR_AUTH_REPLAY:
        a->otp_result = OTP_REPLAY;
        return QS_OK;
    default:
        return r;
    }
}

static qs_err authorize_txn(qs_db *db, void *cls)
{
    auth_ctx *a = cls;
    sam_req *rq = a->rq;
    qs_hsm_session *hs = rq->w->hs;
    qs_db_credential *cred = a->cred;
    qs_db_user user;
    qs_db_factor_pin pin;
    qs_db_factor_totp totp;
    bool found = false;
    qs_err r;

    memset(&pin, 0, sizeof pin);
    memset(&totp, 0, sizeof totp);
    a->reason = NULL;
    a->now_us = sam_now_us(); /* per attempt: a retry may come much later */
    a->locked_refusal = a->factors_checked = a->pin_ok = a->newly_locked = false;
    a->otp_result = OTP_NOT_CHECKED;
    a->matched_step = 0;

    if ((r = qs_db_credential_lock(db, a->cred_id, cred, &found)) != QS_OK)
        goto out;
    if (!found || memcmp(cred->user_id, a->user_id, sizeof a->user_id) != 0) {
        /* another user's credential looks like an unknown one */
        a->reason = found ? "not_owner" : "unknown_credential";
        r = QS_ERR_NOT_FOUND;
        goto out;
    }
    qs_rec rec = qs_rec_credential(cred);
    if ((r = check_rec(rq, &rec, cred->record_mac, "credentials", a->user_id, a->cred_id,
                       &a->reason)) != QS_OK)
        goto out;
    if ((r = sam_load_user(rq, db, a->user_id, &user)) != QS_OK) {
        a->reason = r == QS_ERR_MAC ? "record_mac" : "unknown_user";
        goto out;
    }
    if (strcmp(user.status, QS_DB_USER_ACTIVE) != 0) {
        a->reason = "user_inactive";
        r = QS_ERR_USER_INACTIVE;
        goto out;
    }
    if (strcmp(cred->status, QS_DB_CRED_LOCKED) == 0) {
        a->reason = "credential_locked";
        r = QS_ERR_AUTH_LOCKED;
        goto out;
    }
    if (strcmp(cred->status, QS_DB_CRED_ENABLED) != 0) {
        a->reason = strcmp(cred->status, QS_DB_CRED_DESTROYED) == 0 ? "credential_destroyed"
                                                                    : "credential_disabled";
        r = QS_ERR_CREDENTIAL_DISABLED;
        goto out;
    }
    uint32_t max = (uint32_t)rq->w->s->cfg->max_failed_attempts;
    if (cred->failed_attempts < 0 || (uint32_t)cred->failed_attempts >= max) {
        /* the limit was lowered since the last failure: lock now, without checking factors */
        snprintf(cred->status, sizeof cred->status, "%s", QS_DB_CRED_LOCKED);
        rec = qs_rec_credential(cred);
        if ((r = qs_rec_mac(hs, &rec, cred->record_mac)) != QS_OK ||
            (r = qs_db_credential_update(db, cred)) != QS_OK)
            goto out;
        a->reason = "credential_locked";
        a->locked_refusal = a->newly_locked = true;
        a->failed_attempts = cred->failed_attempts;
        goto out; /* commit the lock */
    }

    bool has_pin = false, has_totp = false;
    if ((r = qs_db_factor_pin_lock(db, a->user_id, &pin, &has_pin)) != QS_OK ||
        (r = qs_db_factor_totp_lock(db, a->user_id, &totp, &has_totp)) != QS_OK)
        goto out;
    if (!has_pin || !has_totp) {
        a->reason = "not_enrolled";
        r = QS_ERR_NOT_FOUND;
        goto out;
    }
    qs_rec pin_rec = qs_rec_factor_pin(&pin), totp_rec = qs_rec_factor_totp(&totp);
    if ((r = check_rec(rq, &pin_rec, pin.record_mac, "factor_pin", a->user_id, a->cred_id,
                       &a->reason)) != QS_OK ||
        (r = check_rec(rq, &totp_rec, totp.record_mac, "factor_totp", a->user_id, a->cred_id,
                       &a->reason)) != QS_OK)
        goto out;

    /* Both factors are checked whatever the other's result; an error (not the signer's fault)
     * changes nothing. */
    r = qs_pin_verify(pin.verifier, a->pin, a->pin_len, sam_pin_pepper, hs);
    if (r != QS_OK && r != QS_ERR_AUTH_FAILED) {
        if (r == QS_ERR_PARSE) {
            qs_bug("stored PIN verifier is not an Argon2id verifier");
            r = QS_ERR_INTERNAL;
        }
        goto out;
    }
    a->pin_ok = r == QS_OK;
    if ((r = verify_otp(a, &totp)) != QS_OK)
        goto out;
    a->factors_checked = true;

    bool ok = a->pin_ok && a->otp_result == OTP_OK;
    qs_lockout_decision d = qs_lockout_decide((uint32_t)cred->failed_attempts, max,
                                              ok ? QS_FACTOR_OK : QS_FACTOR_FAILED);
    switch (d.action) {
    case QS_LOCKOUT_RESET:
    case QS_LOCKOUT_RECORD_FAILURE:
    case QS_LOCKOUT_LOCK:
    case QS_LOCKOUT_REFUSE_LOCKED:
        cred->failed_attempts =
            d.failed_attempts > COUNTER_MAX ? COUNTER_MAX : (int32_t)d.failed_attempts;
        break;
    case QS_LOCKOUT_NO_CHANGE:
        break;
    }
    if (d.locked && strcmp(cred->status, QS_DB_CRED_LOCKED) != 0) {
        snprintf(cred->status, sizeof cred->status, "%s", QS_DB_CRED_LOCKED);
        a->newly_locked = true;
    }
    if (!d.accept && ok) {
        /* a correct attempt on a credential the counter says is locked */
        a->reason = "credential_locked";
        a->locked_refusal = true;
    }
    a->failed_attempts = cred->failed_attempts;

    pin.failed_attempts = a->pin_ok ? 0 : bump(pin.failed_attempts);
    if (a->pin_ok && d.accept) {
        bool rehash = false;
        char fresh[QS_PIN_VERIFIER_MAX];
        if (qs_pin_needs_rehash(&rq->w->s->cfg->pin, pin.verifier, &rehash) == QS_OK && rehash) {
            if (qs_pin_hash(&rq->w->s->cfg->pin, a->pin, a->pin_len, sam_pin_pepper, hs, fresh,
                            NULL) == QS_OK)
                memcpy(pin.verifier, fresh, sizeof pin.verifier);
            else
                qs_warn("PIN verifier not upgraded to the configured Argon2id limits");
        }
        qs_wipe(fresh, sizeof fresh);
    }
    totp.failed_attempts = a->otp_result == OTP_OK ? 0 : bump(totp.failed_attempts);
    if (a->otp_result == OTP_OK)
        totp.last_step = (int64_t)a->matched_step;

    rec = qs_rec_credential(cred);
    pin_rec = qs_rec_factor_pin(&pin);
    totp_rec = qs_rec_factor_totp(&totp);
    if ((r = qs_rec_mac(hs, &rec, cred->record_mac)) != QS_OK ||
        (r = qs_rec_mac(hs, &pin_rec, pin.record_mac)) != QS_OK ||
        (r = qs_rec_mac(hs, &totp_rec, totp.record_mac)) != QS_OK ||
        (r = qs_db_credential_update(db, cred)) != QS_OK ||
        (r = qs_db_factor_pin_update(db, &pin, false)) != QS_OK ||
        (r = qs_db_factor_totp_update(db, &totp, false)) != QS_OK)
        goto out;
    r = QS_OK;
out:
    qs_wipe(&pin, sizeof pin);
    qs_wipe(&totp, sizeof totp);
    return r;
}

typedef struct store_ctx {
    const qs_db_sad *sad;
    const qs_db_sad_hash *hashes;
    size_t n;
} store_ctx;

static qs_err store_txn(qs_db *db, void *cls)
{
    store_ctx *s = cls;
    qs_err r = qs_db_sad_insert(db, s->sad);
    if (r == QS_OK)
        r = qs_db_sad_hashes_insert(db, s->sad->sad_hash, s->hashes, s->n);
    return r;
}

/* Audits and answers a failed factor check. */
static qs_err factor_failure(sam_req *rq, const auth_ctx *a)
{
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "pin", a->pin_ok ? "ok" : "wrong");
    sam_json_str(&j, "otp",
                 a->otp_result == OTP_OK       ? "ok"
                 : a->otp_result == OTP_REPLAY ? "replay"
                                               : "wrong");
    sam_json_int(&j, "failed_attempts", a->failed_attempts);
    sam_json_bool(&j, "locked", a->newly_locked);
    const char *details = sam_json_finish(&j);
    if (details != NULL)
        (void)sam_audit(rq, "auth.failed", false, a->user_id, a->cred_id, NULL, details, NULL);
    sam_json_free(&j);

    qs_err code = !a->pin_ok                    ? QS_ERR_AUTH_PIN
                  : a->otp_result == OTP_REPLAY ? QS_ERR_AUTH_REPLAY
                                                : QS_ERR_AUTH_OTP;
    char msg[128];
    snprintf(msg, sizeof msg, "%s%s", qs_err_str(code),
             a->newly_locked ? "; the credential is now locked" : "");
    return sam_fail(rq, code, msg);
}

static void audit_lockout(sam_req *rq, const auth_ctx *a)
{
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "reason", "failed_attempts");
    sam_json_int(&j, "failed_attempts", a->failed_attempts);
    const char *details = sam_json_finish(&j);
    if (details != NULL)
        (void)sam_audit(rq, "credential.locked", true, a->user_id, a->cred_id, NULL, details, NULL);
    sam_json_free(&j);
}

static const char *refusal_message(qs_err r)
{
    switch (r) {
    case QS_ERR_NOT_FOUND:
        return "unknown credential, or the user has no factors";
    case QS_ERR_AUTH_LOCKED:
        return "Credential locked";
    case QS_ERR_MAC:
        return "a stored record failed its integrity check";
    default:
        return NULL;
    }
}

qs_err sam_h_authorize(sam_req *rq)
{
    static const char refused[] = "authorize.refused";
    const sam_config *cfg = rq->w->s->cfg;
    auth_ctx a;
    sam_digest *digests = NULL;
    qs_db_sad_hash *rows = NULL;
    qs_db_sad sad;
    char sad_b64[QS_SAD_B64_BUF];
    size_t n = 0;
    uint32_t wire_hash = 0, num = 0;
    qs_hash_alg halg;
    qs_err r;

    memset(&a, 0, sizeof a);
    memset(&sad, 0, sizeof sad);
    memset(sad_b64, 0, sizeof sad_b64);
    a.rq = rq;
    if ((r = sam_req_uuid(rq, QS_SAM_T_USER_ID, "user id", refused, a.user_id)) != QS_OK ||
        (r = sam_req_uuid(rq, QS_SAM_T_CREDENTIAL_ID, "credential id", refused, a.cred_id)) !=
            QS_OK)
        return r;
    (void)qs_sam_msg_get_u32(rq->msg, QS_SAM_T_HASH_ALG, &wire_hash);
    (void)qs_sam_msg_get_u32(rq->msg, QS_SAM_T_NUM_SIGNATURES, &num);
    if (!sam_hash_alg_from_wire(wire_hash, &halg)) {
        a.reason = "hash_alg";
        r = sam_fail(rq, QS_ERR_UNSUPPORTED, "unknown hash algorithm");
        goto out;
    }
    if (num > (uint64_t)cfg->max_signatures) {
        a.reason = "too_many_signatures";
        r = sam_fail(rq, QS_ERR_TOO_MANY_SIGNATURES, "Numbers of signatures is too high");
        goto out;
    }
    if ((r = sam_req_hashes(rq, halg, refused, a.user_id, a.cred_id, &digests, &n)) != QS_OK)
        return r;
    if (n > num) {
        a.reason = "hashes_above_num_signatures";
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT, "more hashes than numSignatures");
        goto out;
    }
    a.pin = qs_sam_msg_get_str(rq->msg, QS_SAM_T_PIN, &a.pin_len);
    a.otp = qs_sam_msg_get_str(rq->msg, QS_SAM_T_OTP, &a.otp_len);
    if (a.pin == NULL || a.otp == NULL) {
        a.reason = "missing_factor";
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT, NULL);
        goto out;
    }
    if ((a.cred = qs_secret_alloc(sizeof *a.cred)) == NULL) {
        r = sam_fail(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }

    r = qs_db_run_txn_opt(rq->w->db, "authorize", QS_DB_TXN_READ_COMMITTED, authorize_txn, &a);
    if (r != QS_OK) {
        if (a.reason == NULL)
            a.reason = "error";
        sam_fail(rq, r, refusal_message(r));
        goto out;
    }
    if (a.newly_locked) {
        audit_lockout(rq, &a);
        rq->locked = true; /* whatever the answer, it says this attempt locked the credential */
    }
    if (a.locked_refusal) {
        r = sam_fail(rq, QS_ERR_AUTH_LOCKED, "Credential locked");
        goto out;
    }
    if (!(a.pin_ok && a.otp_result == OTP_OK)) {
        r = factor_failure(rq, &a);
        goto out;
    }

    /* Authenticated: the SAD, audit-first. */
    if ((r = qs_sad_handle_new(sad_b64, sad.sad_hash)) != QS_OK) {
        a.reason = "sad_handle";
        sam_fail(rq, r, NULL);
        goto out;
    }
    memcpy(sad.user_id, a.user_id, sizeof sad.user_id);
    memcpy(sad.credential_id, a.cred_id, sizeof sad.credential_id);
    snprintf(sad.hash_alg, sizeof sad.hash_alg, "%s", sam_hash_alg_oid(halg));
    sad.num_signatures = (int32_t)num;
    sad.remaining = (int32_t)num;
    sad.created_at_us = a.now_us;
    int64_t lifetime =
        cfg->sad_lifetime < cfg->sad_max_lifetime ? cfg->sad_lifetime : cfg->sad_max_lifetime;
    sad.expires_at_us = a.now_us + lifetime * 1000000;
    if ((rows = calloc(n, sizeof *rows)) == NULL) {
        r = sam_fail(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }
    {
        sam_digest *sorted = calloc(n, sizeof *sorted);
        if (sorted == NULL) {
            r = sam_fail(rq, QS_ERR_NOMEM, NULL);
            goto out;
        }
        memcpy(sorted, digests, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, sam_digest_cmp);
        sam_hashes_sha256(sorted, n, sad.hashes_sha256);
        free(sorted);
    }

    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "factors", "pin,totp");
    sam_json_int(&j, "totp_step", (int64_t)a.matched_step);
    sam_json_str(&j, "hash_alg", sad.hash_alg);
    sam_json_int(&j, "num_signatures", num);
    sam_json_int(&j, "hashes", (int64_t)n);
    sam_json_hex(&j, "hashes_sha256", sad.hashes_sha256, sizeof sad.hashes_sha256);
    sam_json_int(&j, "lifetime", lifetime);
    const char *desc = qs_sam_msg_get_str(rq->msg, QS_SAM_T_DESCRIPTION, NULL);
    if (desc != NULL)
        sam_json_str(&j, "description", desc);
    const char *details = sam_json_finish(&j);
    qs_audit_ref ref;
    memset(&ref, 0, sizeof ref);
    r = details == NULL
            ? QS_ERR_NOMEM
            : sam_audit(rq, "sad.issued", true, a.user_id, a.cred_id, sad.sad_hash, details, &ref);
    sam_json_free(&j);
    if (r != QS_OK) {
        sam_fail(rq, r, "the authorization could not be audited");
        goto out;
    }
    snprintf(sad.auth_event_writer, sizeof sad.auth_event_writer, "%s", ref.writer_id);
    sad.auth_event_seq = (int64_t)ref.seq;

    qs_rec rec = qs_rec_sad(&sad);
    if ((r = qs_rec_mac(rq->w->hs, &rec, sad.record_mac)) != QS_OK) {
        a.reason = "hsm_error";
        sam_fail(rq, r, NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(rows[i].digest, digests[i].p, digests[i].len);
        rows[i].digest_len = digests[i].len;
        qs_rec hrec = qs_rec_sad_hash(sad.sad_hash, &rows[i]);
        if ((r = qs_rec_mac(rq->w->hs, &hrec, rows[i].record_mac)) != QS_OK) {
            a.reason = "hsm_error";
            sam_fail(rq, r, NULL);
            goto out;
        }
    }
    store_ctx st = {&sad, rows, n};
    if ((r = qs_db_run_txn(rq->w->db, "authorize_store_sad", store_txn, &st)) != QS_OK) {
        a.reason = "sad_not_stored";
        sam_fail(rq, r, NULL);
        goto out;
    }

    if ((r = sam_resp_begin(rq)) != QS_OK)
        goto out;
    if (qs_sam_msg_put_strn(rq->resp, QS_SAM_T_SAD, sad_b64, QS_SAD_B64_LEN) != QS_OK ||
        qs_sam_msg_put_u32(rq->resp, QS_SAM_T_EXPIRES_IN,
                           sam_expires_in(sad.expires_at_us, sam_now_us())) != QS_OK) {
        r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
        goto out;
    }
    qs_info("SAD issued for %zu hash%s (audit %s/%llu)", n, n == 1 ? "" : "es", ref.writer_id,
            (unsigned long long)ref.seq);
    r = QS_OK;
out:
    if (r != QS_OK && a.reason != NULL)
        sam_audit_refusal(rq, refused, a.reason, a.user_id, a.cred_id,
                          sad.auth_event_seq > 0 ? sad.sad_hash : NULL);
    qs_wipe(sad_b64, sizeof sad_b64);
    qs_secret_free(a.cred);
    free(digests);
    free(rows);
    qs_wipe(&a, sizeof a);
    return r;
}
