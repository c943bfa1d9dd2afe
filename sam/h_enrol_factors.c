/*
 * ENROL_FACTORS: sets a user's signing PIN and a new TOTP authenticator, and returns the
 * otpauth:// URI once (it holds the seed; nothing else ever shows it again).
 *
 * The PIN must meet the policy ([auth]); it is stored only as an Argon2id verifier of the PIN
 * HMAC-peppered in the HSM.  The TOTP seed is random, stored encrypted in the HSM (AES-GCM) with
 * an AAD that binds the ciphertext to the user and the table.  Both rows carry record MACs.
 *
 * First enrolment is open to every peer, except for a signer registered with an activation
 * code (CREATE_SIGNER), who sets the factors alone through ACTIVATE; replacing existing
 * factors only to admin peers, so a compromised qsignd cannot take over a signer by re-enrolling
 * them.  Audited as factors.enrolled or factors.enrol_refused.
 */
#define QS_LOG_MODULE "sam"
#include <string.h>

#include "db/db_ca.h"
#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"
#include "util/secret.h"

typedef struct enrol_ctx {
    sam_req *rq;
    uint8_t user_id[QS_DB_SAM_UUID_LEN];
    const uint8_t *seed;
    const char *issuer;  /* request or config */
    const char *account; /* request, or NULL for the username */
    qs_db_factor_pin pin;
    qs_db_factor_totp totp;
    /* out */
    bool re_enrolment;
    const char *reason; /* the refusal's, for the audit record */
    char *uri;          /* qs_secret_alloc memory */
} enrol_ctx;

static qs_err enrol_txn(qs_db *db, void *cls)
{
    enrol_ctx *e = cls;
    sam_req *rq = e->rq;
    qs_db_user user;
    qs_db_factor_pin old_pin;
    qs_db_factor_totp old_totp;
    bool has_pin = false, has_totp = false;
    qs_totp_params tp = QS_TOTP_PARAMS_DEFAULT;

    qs_secret_free(e->uri);
    e->uri = NULL;
    e->re_enrolment = false;
    e->reason = NULL;
    qs_err r = sam_load_user(rq, db, e->user_id, &user);
    if (r == QS_ERR_NOT_FOUND)
        e->reason = "unknown_user";
    else if (r == QS_ERR_MAC)
        e->reason = "record_mac";
    if (r != QS_OK)
        return r;
    if (strcmp(user.status, QS_DB_USER_ACTIVE) != 0) {
        e->reason = "user_inactive";
        return QS_ERR_USER_INACTIVE;
    }
    if ((r = qs_db_factor_pin_lock(db, e->user_id, &old_pin, &has_pin)) != QS_OK ||
        (r = qs_db_factor_totp_lock(db, e->user_id, &old_totp, &has_totp)) != QS_OK)
        goto out;
    e->re_enrolment = has_pin || has_totp;
    if (e->re_enrolment && !rq->peer->admin) {
        e->reason = "already_enrolled";
        r = QS_ERR_FORBIDDEN;
        goto out;
    }
    if (!rq->peer->admin) {
        /* a signer registered with an activation code sets the factors alone (ACTIVATE) */
        qs_db_activation act;
        bool has_code = false;
        if ((r = qs_db_activation_lock(db, e->user_id, &act, &has_code)) != QS_OK)
            goto out;
        if (has_code) {
            e->reason = "activation_pending";
            r = QS_ERR_FORBIDDEN;
            goto out;
        }
    }
    r = qs_totp_uri(&tp, e->issuer, e->account != NULL ? e->account : user.username, e->seed,
                    QS_TOTP_SEED_LEN, &e->uri);
    if (r != QS_OK) {
        e->reason = "bad_totp_label";
        goto out;
    }
    if (has_pin)
        r = qs_db_factor_pin_update(db, &e->pin, true);
    else
        r = qs_db_factor_pin_insert(db, &e->pin);
    if (r != QS_OK)
        goto out;
    if (has_totp)
        r = qs_db_factor_totp_update(db, &e->totp, true);
    else
        r = qs_db_factor_totp_insert(db, &e->totp);
out:
    qs_wipe(&old_pin, sizeof old_pin);
    qs_wipe(&old_totp, sizeof old_totp);
    return r;
}

/* The factor rows, before the transaction: verifier, seed ciphertext, MACs. */
static qs_err prepare(sam_req *rq, enrol_ctx *e, const char *pin, size_t pin_len)
{
    qs_hsm_session *hs = rq->w->hs;
    qs_pin_rule rule = QS_PIN_RULE_OK;
    uint8_t aad[SAM_TOTP_AAD_LEN];

    memcpy(e->pin.user_id, e->user_id, QS_DB_SAM_UUID_LEN);
    qs_err r =
        qs_pin_hash(&rq->w->s->cfg->pin, pin, pin_len, sam_pin_pepper, hs, e->pin.verifier, &rule);
    if (r == QS_ERR_AUTH_POLICY) {
        e->reason = "pin_policy";
        return sam_fail(rq, r, qs_pin_rule_str(rule));
    }
    if (r != QS_OK) {
        e->reason = "pin_hash_error";
        return sam_fail(rq, r, NULL);
    }
    e->pin.failed_attempts = 0;

    memcpy(e->totp.user_id, e->user_id, QS_DB_SAM_UUID_LEN);
    sam_totp_aad(e->user_id, aad);
    e->totp.seed_ciphertext_len = sizeof e->totp.seed_ciphertext;
    r = qs_hsm_encrypt(hs, aad, sizeof aad, e->seed, QS_TOTP_SEED_LEN, e->totp.seed_ciphertext,
                       &e->totp.seed_ciphertext_len);
    if (r != QS_OK) {
        e->reason = "hsm_error";
        return sam_fail(rq, r, NULL);
    }
    snprintf(e->totp.algorithm, sizeof e->totp.algorithm, "SHA1");
    e->totp.digits = QS_TOTP_DEFAULT_DIGITS;
    e->totp.period = QS_TOTP_DEFAULT_PERIOD;
    e->totp.last_step = 0;
    e->totp.failed_attempts = 0;

    qs_rec pin_rec = qs_rec_factor_pin(&e->pin);
    qs_rec totp_rec = qs_rec_factor_totp(&e->totp);
    if ((r = qs_rec_mac(hs, &pin_rec, e->pin.record_mac)) != QS_OK ||
        (r = qs_rec_mac(hs, &totp_rec, e->totp.record_mac)) != QS_OK) {
        e->reason = "hsm_error";
        return sam_fail(rq, r, NULL);
    }
    return QS_OK;
}

qs_err sam_h_enrol_factors(sam_req *rq)
{
    static const char refused[] = "factors.enrol_refused";
    uint8_t seed[QS_TOTP_SEED_LEN];
    enrol_ctx e;
    size_t pin_len = 0;
    qs_err r;

    memset(&e, 0, sizeof e);
    e.rq = rq;
    if ((r = sam_req_uuid(rq, QS_SAM_T_USER_ID, "user id", refused, e.user_id)) != QS_OK)
        return r;
    const char *pin = qs_sam_msg_get_str(rq->msg, QS_SAM_T_PIN, &pin_len);
    e.issuer = qs_sam_msg_get_str(rq->msg, QS_SAM_T_TOTP_ISSUER, NULL);
    if (e.issuer == NULL)
        e.issuer = rq->w->s->cfg->totp_issuer;
    e.account = qs_sam_msg_get_str(rq->msg, QS_SAM_T_TOTP_ACCOUNT, NULL);
    qs_totp_seed_new(seed);
    e.seed = seed;

    if (pin == NULL) {
        e.reason = "missing_pin";
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT, NULL);
        goto out;
    }
    if ((r = prepare(rq, &e, pin, pin_len)) != QS_OK)
        goto out;
    r = qs_db_run_txn(rq->w->db, "enrol_factors", enrol_txn, &e);
    if (r != QS_OK) {
        const char *msg = NULL;
        if (r == QS_ERR_NOT_FOUND)
            msg = "unknown user";
        else if (r == QS_ERR_FORBIDDEN && e.reason != NULL &&
                 strcmp(e.reason, "activation_pending") == 0)
            msg = "the signer sets the factors with the activation code (ACTIVATE)";
        else if (r == QS_ERR_FORBIDDEN)
            msg = "the user is enrolled already; only an officer may replace the factors";
        else if (r == QS_ERR_INVALID_ARGUMENT)
            msg = "TOTP issuer or account not usable (1..64/128 bytes, no ':')";
        if (e.reason == NULL)
            e.reason = "database_error";
        sam_fail(rq, r, msg);
        goto out;
    }

    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "factors", "pin,totp");
    sam_json_bool(&j, "re_enrolment", e.re_enrolment);
    sam_json_str(&j, "totp_algorithm", e.totp.algorithm);
    sam_json_int(&j, "totp_digits", e.totp.digits);
    sam_json_int(&j, "totp_period", e.totp.period);
    const char *details = sam_json_finish(&j);
    r = details == NULL
            ? QS_ERR_NOMEM
            : sam_audit(rq, "factors.enrolled", true, e.user_id, NULL, NULL, details, NULL);
    sam_json_free(&j);
    if (r != QS_OK) {
        sam_fail(rq, r, "factors stored, but their audit record failed");
        goto out;
    }
    if ((r = sam_resp_begin(rq)) != QS_OK)
        goto out;
    if (qs_sam_msg_put_str(rq->resp, QS_SAM_T_OTPAUTH_URI, e.uri) != QS_OK) {
        r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
        goto out;
    }
    char id[SAM_UUID_STR_LEN + 1];
    sam_uuid_format(e.user_id, id);
    qs_info("factors of user %s %s", id, e.re_enrolment ? "replaced" : "enrolled");
    r = QS_OK;
out:
    if (r != QS_OK && e.reason != NULL)
        sam_audit_refusal(rq, refused, e.reason, e.user_id, NULL, NULL);
    qs_wipe(seed, sizeof seed);
    qs_secret_free(e.uri);
    qs_wipe(&e, sizeof e);
    return r;
}
