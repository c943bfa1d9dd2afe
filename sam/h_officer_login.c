/*
 * OFFICER_LOGIN (every peer): the second factor of a registration officer's RA login.  qsignd
 * has checked the login password; the SAM checks the officer's TOTP code (a time step is
 * accepted once, wrong codes are counted and at [auth] max_failed_attempts the officer is
 * refused until an admin re-enrols them) and opens an RA session: a random handle, stored as
 * its SHA-256 with a MAC, valid [ra] session_lifetime.  The handle authorizes CREATE_SIGNER,
 * ISSUE_CERT, REVOKE and UNLOCK from a non-admin peer.  Audited as officer.login or
 * officer.login_refused.
 */
#define QS_LOG_MODULE "sam"
#include <sodium.h>
#include <string.h>

#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"
#include "util/secret.h"

#define COUNTER_MAX 1000000

typedef struct login_ctx {
    sam_req *rq;
    uint8_t user_id[QS_DB_SAM_UUID_LEN];
    const char *otp;
    size_t otp_len;
    qs_db_ra_session session;
    bool ok;
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
    c->reason = NULL;
    qs_err r = sam_load_user(rq, db, c->user_id, &user);
    if (r == QS_ERR_NOT_FOUND) {
        c->reason = "unknown_user";
        return QS_OK;
    }
    if (r != QS_OK)
        return r;
    if (strcmp(user.kind, QS_DB_USER_OFFICER) != 0 || strcmp(user.status, QS_DB_USER_ACTIVE) != 0) {
        c->reason = "not_an_active_officer";
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
        c->reason = "officer_locked";
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

qs_err sam_h_officer_login(sam_req *rq)
{
    static const char refused[] = "officer.login_refused";
    uint8_t raw[32];
    char handle[QS_SAM_SAD_LEN + 1];
    login_ctx c;
    qs_err r;

    memset(&c, 0, sizeof c);
    c.rq = rq;
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
        sam_fail(rq, r, r == QS_ERR_AUTH_FAILED ? "officer authentication failed" : NULL);
        sam_audit_refusal(rq, refused, c.reason != NULL ? c.reason : "error", c.user_id, NULL,
                          NULL);
        goto out;
    }
    sam_json j;
    sam_json_init(&j);
    sam_json_int(&j, "expires_at", c.session.expires_at_us / 1000000);
    sam_json_hex(&j, "session_sha256", c.session.session_hash, 8);
    const char *details = sam_json_finish(&j);
    r = details == NULL
            ? QS_ERR_NOMEM
            : sam_audit(rq, "officer.login", true, c.user_id, NULL, NULL, details, NULL);
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
