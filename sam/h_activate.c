/*
 * ACTIVATE (every peer; qsignd relays it for the signer logged in with the account password):
 * the signer presents the activation code the officer handed over and chooses the signing PIN;
 * the SAM sets the PIN and a new TOTP authenticator and returns the otpauth:// URI once.  Until
 * then the signer has no factors, so no credential of theirs can be authorized.
 *
 * The code is single use, expires ([ra] activation_lifetime) and is void after [auth]
 * max_failed_attempts wrong tries; a wrong code counts (committed with a new MAC) and is
 * refused like an unknown one (QS_ERR_AUTH_FAILED).  A signer who has factors already is
 * refused (QS_ERR_FORBIDDEN).  The PIN is kept only as its peppered Argon2id verifier, the seed
 * encrypted in the HSM, both rows MACed, as ENROL_FACTORS does.  Audited as signer.activated or
 * signer.activation_refused.
 */
#define QS_LOG_MODULE "sam"
#include <string.h>

#include "sam/records.h"
#include "sam/sam.h"
#include "sam/signer.h"
#include "util/log.h"
#include "util/secret.h"

/* Upper bound of the failure counter (the schema's CHECK). */
#define COUNTER_MAX 1000000

typedef enum act_outcome {
    ACT_OK = 0,
    ACT_WRONG_CODE,
    ACT_REFUSED,
} act_outcome;

typedef struct act_ctx {
    sam_req *rq;
    uint8_t user_id[QS_DB_SAM_UUID_LEN];
    uint8_t code_hash[SAM_ACTIVATION_HASH_LEN];
    const uint8_t *seed;
    const char *issuer;
    const char *account;
    qs_db_factor_pin pin;
    qs_db_factor_totp totp;
    /* out */
    act_outcome outcome;
    const char *reason;
    char *uri; /* qs_secret_alloc memory */
} act_ctx;

static qs_err act_txn(qs_db *db, void *cls)
{
    act_ctx *c = cls;
    sam_req *rq = c->rq;
    qs_db_user user;
    qs_db_activation a;
    qs_db_factor_pin old_pin;
    qs_db_factor_totp old_totp;
    bool found = false, has_pin = false, has_totp = false;
    qs_totp_params tp = QS_TOTP_PARAMS_DEFAULT;
    int64_t now = sam_now_us();

    qs_secret_free(c->uri);
    c->uri = NULL;
    c->outcome = ACT_REFUSED;
    c->reason = NULL;
    qs_err r = sam_load_user(rq, db, c->user_id, &user);
    if (r == QS_ERR_NOT_FOUND) {
        c->reason = "unknown_user";
        return QS_OK;
    }
    if (r != QS_OK) {
        c->reason = r == QS_ERR_MAC ? "record_mac" : NULL;
        return r;
    }
    if (strcmp(user.status, QS_DB_USER_ACTIVE) != 0) {
        c->reason = "user_inactive";
        return QS_OK;
    }
    if ((r = qs_db_activation_lock(db, c->user_id, &a, &found)) != QS_OK)
        return r;
    if (!found) {
        c->reason = "no_activation_code";
        return QS_OK;
    }
    qs_rec rec = qs_rec_activation(&a);
    if ((r = qs_rec_check(rq->w->hs, &rec, a.record_mac)) != QS_OK) {
        if (r == QS_ERR_MAC) {
            sam_mac_mismatch(rq, "activation_codes", c->user_id, NULL, NULL);
            c->reason = "record_mac";
        }
        return r;
    }
    if (a.used) {
        c->reason = "code_used";
        return QS_OK;
    }
    if (now >= a.expires_at_us) {
        c->reason = "code_expired";
        return QS_OK;
    }
    if (a.failed_attempts < 0 || a.failed_attempts >= rq->w->s->cfg->max_failed_attempts) {
        c->reason = "code_void";
        return QS_OK;
    }
    if (!qs_ct_equal(a.code_hash, c->code_hash, sizeof a.code_hash)) {
        a.failed_attempts = a.failed_attempts >= COUNTER_MAX ? COUNTER_MAX : a.failed_attempts + 1;
        rec = qs_rec_activation(&a);
        if ((r = qs_rec_mac(rq->w->hs, &rec, a.record_mac)) != QS_OK ||
            (r = qs_db_activation_put(db, &a)) != QS_OK)
            return r;
        c->outcome = ACT_WRONG_CODE;
        c->reason = "wrong_code";
        return QS_OK; /* commit the count */
    }
    if ((r = qs_db_factor_pin_lock(db, c->user_id, &old_pin, &has_pin)) != QS_OK ||
        (r = qs_db_factor_totp_lock(db, c->user_id, &old_totp, &has_totp)) != QS_OK)
        goto out;
    if (has_pin || has_totp) {
        c->reason = "already_enrolled";
        r = QS_ERR_FORBIDDEN;
        goto out;
    }
    if ((r = qs_totp_uri(&tp, c->issuer, c->account != NULL ? c->account : user.username, c->seed,
                         QS_TOTP_SEED_LEN, &c->uri)) != QS_OK) {
        c->reason = "bad_totp_label";
        goto out;
    }
    a.used = true;
    a.used_at_us = now;
    rec = qs_rec_activation(&a);
    if ((r = qs_rec_mac(rq->w->hs, &rec, a.record_mac)) != QS_OK ||
        (r = qs_db_activation_put(db, &a)) != QS_OK ||
        (r = qs_db_factor_pin_insert(db, &c->pin)) != QS_OK ||
        (r = qs_db_factor_totp_insert(db, &c->totp)) != QS_OK)
        goto out;
    c->outcome = ACT_OK;
out:
    qs_wipe(&old_pin, sizeof old_pin);
    qs_wipe(&old_totp, sizeof old_totp);
    return r;
}

/* The factor rows before the transaction: verifier, seed ciphertext, MACs. */
static qs_err prepare(sam_req *rq, act_ctx *c, const char *pin, size_t pin_len)
{
    qs_hsm_session *hs = rq->w->hs;
    qs_pin_rule rule = QS_PIN_RULE_OK;
    uint8_t aad[SAM_TOTP_AAD_LEN];

    memcpy(c->pin.user_id, c->user_id, QS_DB_SAM_UUID_LEN);
    qs_err r =
        qs_pin_hash(&rq->w->s->cfg->pin, pin, pin_len, sam_pin_pepper, hs, c->pin.verifier, &rule);
    if (r == QS_ERR_AUTH_POLICY) {
        c->reason = "pin_policy";
        return sam_fail(rq, r, qs_pin_rule_str(rule));
    }
    if (r != QS_OK) {
        c->reason = "pin_hash_error";
        return sam_fail(rq, r, NULL);
    }
    memcpy(c->totp.user_id, c->user_id, QS_DB_SAM_UUID_LEN);
    sam_totp_aad(c->user_id, aad);
    c->totp.seed_ciphertext_len = sizeof c->totp.seed_ciphertext;
    r = qs_hsm_encrypt(hs, aad, sizeof aad, c->seed, QS_TOTP_SEED_LEN, c->totp.seed_ciphertext,
                       &c->totp.seed_ciphertext_len);
    if (r != QS_OK) {
        c->reason = "hsm_error";
        return sam_fail(rq, r, NULL);
    }
    snprintf(c->totp.algorithm, sizeof c->totp.algorithm, "SHA1");
    c->totp.digits = QS_TOTP_DEFAULT_DIGITS;
    c->totp.period = QS_TOTP_DEFAULT_PERIOD;
    qs_rec pin_rec = qs_rec_factor_pin(&c->pin);
    qs_rec totp_rec = qs_rec_factor_totp(&c->totp);
    if ((r = qs_rec_mac(hs, &pin_rec, c->pin.record_mac)) != QS_OK ||
        (r = qs_rec_mac(hs, &totp_rec, c->totp.record_mac)) != QS_OK) {
        c->reason = "hsm_error";
        return sam_fail(rq, r, NULL);
    }
    return QS_OK;
}

qs_err sam_h_activate(sam_req *rq)
{
    static const char refused[] = "signer.activation_refused";
    uint8_t seed[QS_TOTP_SEED_LEN];
    act_ctx *c = NULL;
    size_t pin_len = 0, code_len = 0;
    qs_err r;

    if ((c = qs_secret_alloc(sizeof *c)) == NULL)
        return sam_fail(rq, QS_ERR_NOMEM, NULL);
    memset(c, 0, sizeof *c);
    c->rq = rq;
    if ((r = sam_req_uuid(rq, QS_SAM_T_USER_ID, "user id", refused, c->user_id)) != QS_OK) {
        qs_secret_free(c);
        return r;
    }
    const char *pin = qs_sam_msg_get_str(rq->msg, QS_SAM_T_PIN, &pin_len);
    const char *code = qs_sam_msg_get_str(rq->msg, QS_SAM_T_ACTIVATION_CODE, &code_len);
    c->issuer = qs_sam_msg_get_str(rq->msg, QS_SAM_T_TOTP_ISSUER, NULL);
    if (c->issuer == NULL)
        c->issuer = rq->w->s->cfg->totp_issuer;
    c->account = qs_sam_msg_get_str(rq->msg, QS_SAM_T_TOTP_ACCOUNT, NULL);
    qs_totp_seed_new(seed);
    c->seed = seed;

    if (code == NULL || !sam_activation_code_hash(code, code_len, c->code_hash)) {
        c->reason = "malformed_code";
        r = sam_fail(rq, QS_ERR_AUTH_FAILED, "invalid activation code");
        goto out;
    }
    if ((r = prepare(rq, c, pin, pin_len)) != QS_OK)
        goto out;
    r = qs_db_run_txn(rq->w->db, "activate", act_txn, c);
    if (r != QS_OK) {
        if (c->reason == NULL)
            c->reason = "database_error";
        sam_fail(rq, r,
                 r == QS_ERR_FORBIDDEN ? "the signer is activated already"
                 : r == QS_ERR_INVALID_ARGUMENT
                     ? "TOTP issuer or account not usable (1..64/128 bytes, no ':')"
                     : NULL);
        goto out;
    }
    if (c->outcome != ACT_OK) {
        r = sam_fail(rq, QS_ERR_AUTH_FAILED, "invalid activation code");
        goto out;
    }

    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "factors", "pin,totp");
    sam_json_str(&j, "totp_algorithm", c->totp.algorithm);
    sam_json_int(&j, "totp_digits", c->totp.digits);
    sam_json_int(&j, "totp_period", c->totp.period);
    const char *details = sam_json_finish(&j);
    r = details == NULL
            ? QS_ERR_NOMEM
            : sam_audit(rq, "signer.activated", true, c->user_id, NULL, NULL, details, NULL);
    sam_json_free(&j);
    if (r != QS_OK) {
        sam_fail(rq, r, "activated, but the audit record failed");
        goto out;
    }
    if ((r = sam_resp_begin(rq)) != QS_OK)
        goto out;
    if (qs_sam_msg_put_str(rq->resp, QS_SAM_T_OTPAUTH_URI, c->uri) != QS_OK) {
        r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
        goto out;
    }
    char id[SAM_UUID_STR_LEN + 1];
    sam_uuid_format(c->user_id, id);
    qs_info("signer %s activated", id);
    r = QS_OK;
out:
    if (r != QS_OK && c->reason != NULL)
        sam_audit_refusal(rq, refused, c->reason, c->user_id, NULL, NULL);
    qs_wipe(seed, sizeof seed);
    qs_secret_free(c->uri);
    qs_secret_free(c);
    return r;
}
