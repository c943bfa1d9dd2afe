/*
 * OFFICER_LOGIN (every peer): the second factor of a staff login, by role: a registration
 * officer's (USER_KIND absent or officer) or an auditor's (USER_KIND auditor).  qsignd has
 * checked the login password; the SAM checks that the user is active and of that kind, and
 * their TOTP code (a time step is accepted once, wrong codes are counted and at [auth]
 * max_failed_attempts the account is refused until an admin re-enrols it: the attempt that gets
 * there answers with LOCKED), and opens a session of that role: a random handle, stored as its
 * SHA-256 with a MAC over the role too, valid [ra] session_lifetime.  An officer's handle
 * authorizes CREATE_SIGNER, ISSUE_CERT, REVOKE and UNLOCK from a non-admin peer; an auditor's
 * AUDIT_SEARCH, and nothing else.  Audited as <role>.login or <role>.login_refused, and
 * <role>.locked when the failures reach the limit.
 */
#define QS_LOG_MODULE "sam"
#include <sodium.h>
#include <string.h>

#include "db/db_ca.h"
#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"
#include "util/secret.h"

#define COUNTER_MAX 1000000

/* A role that logs in here: the user kind, the session role and the audit event types. */
typedef struct login_role {
    const char *kind; /* users.kind and ra_sessions.role */
    const char *login, *refused, *locked;
    const char *not_active;     /* the refusal reason for another kind or an inactive user */
    const char *locked_reason;  /* the refusal reason once the failures reached the limit */
    const char *failed_message; /* the ERROR message of a refusal */
} login_role;

static const login_role roles[] = {
    {QS_DB_USER_OFFICER, "officer.login", "officer.login_refused", "officer.locked",
     "not_an_active_officer", "officer_locked", "officer authentication failed"},
    {QS_DB_USER_AUDITOR, "auditor.login", "auditor.login_refused", "auditor.locked",
     "not_an_active_auditor", "auditor_locked", "auditor authentication failed"},
};

typedef struct login_ctx {
    sam_req *rq;
    const login_role *role;
    uint8_t user_id[QS_DB_SAM_UUID_LEN];
    const char *otp;
    size_t otp_len;
    qs_db_ra_session session;
    bool ok;
    bool newly_locked;
    int32_t failed_attempts;
    const char *reason;
} login_ctx;

static qs_err login_txn(qs_db *db, void *cls)
{
    login_ctx *c = cls;
    sam_req *rq = c->rq;
    qs_db_user user;
    qs_db_factor_totp totp;
    qs_totp_params tp;
    uint8_t aad[SAM_TOTP_AAD_LEN];
    uint8_t *seed = NULL;
    size_t seed_len = 0;
    uint64_t step = 0;
    bool found = false;
    int64_t now = sam_now_us();

    c->ok = false;
    c->newly_locked = false;
    c->failed_attempts = 0;
    c->reason = NULL;
    qs_err r = sam_load_user(rq, db, c->user_id, &user);
    if (r == QS_ERR_NOT_FOUND) {
        c->reason = "unknown_user";
        return QS_OK;
    }
    if (r != QS_OK)
        return r;
    if (strcmp(user.kind, c->role->kind) != 0 || strcmp(user.status, QS_DB_USER_ACTIVE) != 0) {
        c->reason = c->role->not_active;
        return QS_OK;
    }
    if ((r = qs_db_factor_totp_lock(db, c->user_id, &totp, &found)) != QS_OK)
        goto out;
    if (!found) {
        c->reason = "not_enrolled";
        goto out;
    }
    qs_rec rec = qs_rec_factor_totp(&totp);
    if ((r = qs_rec_check(rq->w->hs, &rec, totp.record_mac)) != QS_OK) {
        if (r == QS_ERR_MAC) {
            sam_mac_mismatch(rq, "factor_totp", c->user_id, NULL, NULL);
            c->reason = "record_mac";
        }
        goto out;
    }
    if (totp.failed_attempts >= rq->w->s->cfg->max_failed_attempts) {
        c->reason = c->role->locked_reason;
        goto out;
    }
    if (sam_totp_params(&totp, &tp) != QS_OK || totp.last_step < 0) {
        qs_bug("stored TOTP parameters not supported");
        r = QS_ERR_INTERNAL;
        goto out;
    }
    sam_totp_aad(c->user_id, aad);
    r = qs_hsm_decrypt(rq->w->hs, aad, sizeof aad, totp.seed_ciphertext, totp.seed_ciphertext_len,
                       &seed, &seed_len);
    if (r == QS_ERR_MAC) {
        sam_mac_mismatch(rq, "factor_totp", c->user_id, NULL, NULL);
        c->reason = "record_mac";
    }
    if (r != QS_OK)
        goto out;
    r = qs_totp_verify(&tp, seed, seed_len, c->otp, c->otp_len, now / 1000000,
                       (uint64_t)totp.last_step, &step);
    qs_secret_free(seed);
    if (r == QS_ERR_AUTH_FAILED || r == QS_ERR_AUTH_REPLAY) {
        c->reason = r == QS_ERR_AUTH_REPLAY ? "otp_replayed" : "wrong_otp";
        totp.failed_attempts =
            totp.failed_attempts >= COUNTER_MAX ? COUNTER_MAX : totp.failed_attempts + 1;
        c->failed_attempts = totp.failed_attempts;
        c->newly_locked = totp.failed_attempts == rq->w->s->cfg->max_failed_attempts;
    } else if (r != QS_OK) {
        goto out;
    } else {
        totp.last_step = (int64_t)step;
        totp.failed_attempts = 0;
        c->ok = true;
    }
    rec = qs_rec_factor_totp(&totp);
    if ((r = qs_rec_mac(rq->w->hs, &rec, totp.record_mac)) != QS_OK ||
        (r = qs_db_factor_totp_update(db, &totp, false)) != QS_OK)
        goto out;
    if (c->ok) {
        memcpy(c->session.officer_id, c->user_id, sizeof c->session.officer_id);
        snprintf(c->session.role, sizeof c->session.role, "%s", c->role->kind);
        c->session.created_at_us = now;
        c->session.expires_at_us = now + rq->w->s->cfg->ra_session_lifetime * 1000000;
        rec = qs_rec_ra_session(&c->session);
        if ((r = qs_rec_mac(rq->w->hs, &rec, c->session.record_mac)) != QS_OK ||
            (r = qs_db_ra_session_insert(db, &c->session)) != QS_OK)
            goto out;
    }
    r = QS_OK;
out:
    qs_wipe(&totp, sizeof totp);
    return r;
}

/* Audits that wrong codes reached the limit: the account is refused from now on. */
static void audit_locked(sam_req *rq, const login_ctx *c)
{
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "reason", "failed_attempts");
    sam_json_int(&j, "failed_attempts", c->failed_attempts);
    const char *details = sam_json_finish(&j);
    if (details != NULL)
        (void)sam_audit(rq, c->role->locked, true, c->user_id, NULL, NULL, details, NULL);
    sam_json_free(&j);
}

qs_err sam_h_officer_login(sam_req *rq)
{
    uint8_t raw[32];
    char handle[QS_SAM_SAD_LEN + 1];
    login_ctx c;
    uint32_t kind = QS_SAM_USER_OFFICER;
    qs_err r;

    memset(&c, 0, sizeof c);
    c.rq = rq;
    (void)qs_sam_msg_get_u32(rq->msg, QS_SAM_T_USER_KIND, &kind);
    c.role = &roles[0];
    if (kind == QS_SAM_USER_AUDITOR)
        c.role = &roles[1];
    const char *refused = c.role->refused;
    if (kind == QS_SAM_USER_SIGNER) {
        /* signers have no staff session: they log in at auth/login and authorize with factors */
        r = sam_fail(rq, QS_ERR_AUTH_FAILED, c.role->failed_message);
        sam_audit_refusal(rq, refused, "not_a_staff_kind", NULL, NULL, NULL);
        return r;
    }
    if ((r = sam_req_uuid(rq, QS_SAM_T_USER_ID, "user id", refused, c.user_id)) != QS_OK)
        return r;
    c.otp = qs_sam_msg_get_str(rq->msg, QS_SAM_T_OTP, &c.otp_len);
    qs_random(raw, sizeof raw);
    sodium_bin2base64(handle, sizeof handle, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    crypto_hash_sha256(c.session.session_hash, (const unsigned char *)handle, QS_SAM_SAD_LEN);
    r = qs_db_run_txn(rq->w->db, "officer_login", login_txn, &c);
    if (r == QS_OK && !c.ok)
        r = QS_ERR_AUTH_FAILED;
    if (r != QS_OK) {
        sam_fail(rq, r, r == QS_ERR_AUTH_FAILED ? c.role->failed_message : NULL);
        sam_audit_refusal(rq, refused, c.reason != NULL ? c.reason : "error", c.user_id, NULL,
                          NULL);
        if (r == QS_ERR_AUTH_FAILED && c.newly_locked) {
            audit_locked(rq, &c);
            rq->locked = true;
        }
        goto out;
    }
    sam_json j;
    sam_json_init(&j);
    sam_json_int(&j, "expires_at", c.session.expires_at_us / 1000000);
    sam_json_hex(&j, "session_sha256", c.session.session_hash, 8);
    const char *details = sam_json_finish(&j);
    r = details == NULL ? QS_ERR_NOMEM
                        : sam_audit(rq, c.role->login, true, c.user_id, NULL, NULL, details, NULL);
    sam_json_free(&j);
    if (r != QS_OK) {
        sam_fail(rq, r, "session opened, but its audit record failed");
        goto out;
    }
    if ((r = sam_resp_begin(rq)) != QS_OK)
        goto out;
    if (qs_sam_msg_put_u32(rq->resp, QS_SAM_T_EXPIRES_IN,
                           (uint32_t)rq->w->s->cfg->ra_session_lifetime) != QS_OK ||
        qs_sam_msg_put_str(rq->resp, QS_SAM_T_RA_SESSION, handle) != QS_OK) {
        r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
        goto out;
    }
    r = QS_OK;
out:
    qs_wipe(raw, sizeof raw);
    qs_wipe(handle, sizeof handle);
    qs_wipe(&c, sizeof c);
    return r;
}
