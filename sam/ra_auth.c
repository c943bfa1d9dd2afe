/*
 * Who may register signers, issue and revoke certificates and unlock credentials: an admin
 * peer (qsignctl as an operator), or any peer presenting the RA_SESSION of a registration
 * officer.  qsignd is not an admin peer: it gets an RA session only through OFFICER_LOGIN,
 * which needs the officer's TOTP code checked here in the SAM, so a compromised qsignd alone
 * registers nobody.  The session row, the officer's user row and their MACs are checked.
 */
#define QS_LOG_MODULE "sam"
#include <sodium.h>
#include <string.h>

#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"
#include "util/secret.h"

typedef struct ra_ctx {
    sam_req *rq;
    uint8_t hash[QS_DB_SAM_SHA256_LEN];
    int64_t now_us;
    qs_db_user officer;
    const char *reason;
} ra_ctx;

static qs_err ra_txn(qs_db *db, void *cls)
{
    ra_ctx *c = cls;
    qs_db_ra_session s;
    bool found = false;

    c->reason = NULL;
    qs_err r = qs_db_ra_session_get(db, c->hash, &s, &found);
    if (r != QS_OK)
        return r;
    if (!found) {
        c->reason = "unknown_ra_session";
        return QS_ERR_FORBIDDEN;
    }
    qs_rec rec = qs_rec_ra_session(&s);
    if ((r = qs_rec_check(c->rq->w->hs, &rec, s.record_mac)) != QS_OK) {
        if (r == QS_ERR_MAC) {
            sam_mac_mismatch(c->rq, "ra_sessions", s.officer_id, NULL, NULL);
            c->reason = "record_mac";
        }
        return r;
    }
    if (c->now_us >= s.expires_at_us) {
        c->reason = "ra_session_expired";
        return QS_ERR_FORBIDDEN;
    }
    if ((r = sam_load_user(c->rq, db, s.officer_id, &c->officer)) != QS_OK) {
        c->reason = r == QS_ERR_MAC ? "record_mac" : "unknown_officer";
        return r == QS_ERR_NOT_FOUND ? QS_ERR_FORBIDDEN : r;
    }
    if (strcmp(c->officer.kind, QS_DB_USER_OFFICER) != 0 ||
        strcmp(c->officer.status, QS_DB_USER_ACTIVE) != 0) {
        c->reason = "not_an_active_officer";
        return QS_ERR_FORBIDDEN;
    }
    return QS_OK;
}

qs_err sam_ra_authorize(sam_req *rq, const char *event_type)
{
    size_t len = 0;
    const char *session = qs_sam_msg_get_str(rq->msg, QS_SAM_T_RA_SESSION, &len);
    ra_ctx c;

    if (session == NULL) {
        if (rq->peer->admin)
            return QS_OK;
        sam_fail(rq, QS_ERR_FORBIDDEN, "registration needs an officer's RA session");
        sam_audit_refusal(rq, event_type, "no_ra_session", NULL, NULL, NULL);
        return QS_ERR_FORBIDDEN;
    }
    memset(&c, 0, sizeof c);
    c.rq = rq;
    c.now_us = sam_now_us();
    crypto_hash_sha256(c.hash, (const unsigned char *)session, len);
    qs_err r = qs_db_run_txn_opt(rq->w->db, "ra_authorize",
                                 QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED, ra_txn, &c);
    if (r != QS_OK) {
        sam_fail(rq, r,
                 r == QS_ERR_FORBIDDEN ? "RA session unknown, expired or not an officer's" : NULL);
        sam_audit_refusal(rq, event_type, c.reason != NULL ? c.reason : "error", NULL, NULL, NULL);
        return r;
    }
    rq->has_officer = true;
    memcpy(rq->officer_id, c.officer.id, sizeof rq->officer_id);
    snprintf(rq->officer, sizeof rq->officer, "%s", c.officer.username);
    return QS_OK;
}
