/*
 * Who may make the SAM's staff requests, by the role of the session they carry:
 *  - registration (signers, certificates, revocations, unlocks): an admin peer (qsignctl as an
 *    operator), or any peer presenting the session of an active registration officer (role
 *    officer);
 *  - the auditors' requests (AUDIT_SEARCH): any peer presenting the session of an active
 *    auditor (role auditor); an admin peer too needs one, since the record names the auditor.
 * qsignd is not an admin peer: it gets a session only through OFFICER_LOGIN, which needs the
 * user's TOTP code checked here in the SAM, so a compromised qsignd alone registers nobody and
 * reads nothing in an auditor's name.  The session row, the user's row and their MACs are
 * checked, and the session's role must be the one the request needs and the user's kind.
 */
#define QS_LOG_MODULE "sam"
#include <sodium.h>
#include <string.h>

#include "db/db_ca.h"
#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"
#include "util/secret.h"

typedef struct session_ctx {
    sam_req *rq;
    const char *role; /* QS_DB_ROLE_* the request needs */
    uint8_t hash[QS_DB_SAM_SHA256_LEN];
    int64_t now_us;
    qs_db_user user;
    const char *reason;
} session_ctx;

static qs_err session_txn(qs_db *db, void *cls)
{
    session_ctx *c = cls;
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
    if (strcmp(s.role, c->role) != 0) {
        c->reason = "wrong_role";
        return QS_ERR_FORBIDDEN;
    }
    if ((r = sam_load_user(c->rq, db, s.officer_id, &c->user)) != QS_OK) {
        c->reason = r == QS_ERR_MAC ? "record_mac" : "unknown_user";
        return r == QS_ERR_NOT_FOUND ? QS_ERR_FORBIDDEN : r;
    }
    /* the role is a kind of user: an officer's row cannot carry an auditor's session */
    if (strcmp(c->user.kind, c->role) != 0 || strcmp(c->user.status, QS_DB_USER_ACTIVE) != 0) {
        c->reason = strcmp(c->role, QS_DB_ROLE_AUDITOR) == 0 ? "not_an_active_auditor"
                                                             : "not_an_active_officer";
        return QS_ERR_FORBIDDEN;
    }
    return QS_OK;
}

/* Checks the RA_SESSION of the request for `role`; fills rq->officer for the audit actor. */
static qs_err session_authorize(sam_req *rq, const char *role, const char *event_type,
                                const char *session, size_t len)
{
    session_ctx c;

    memset(&c, 0, sizeof c);
    c.rq = rq;
    c.role = role;
    c.now_us = sam_now_us();
    crypto_hash_sha256(c.hash, (const unsigned char *)session, len);
    qs_err r = qs_db_run_txn_opt(rq->w->db, "session_authorize",
                                 QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED, session_txn, &c);
    if (r != QS_OK) {
        sam_fail(rq, r,
                 r != QS_ERR_FORBIDDEN ? NULL
                 : strcmp(role, QS_DB_ROLE_AUDITOR) == 0
                     ? "session unknown, expired or not an auditor's"
                     : "RA session unknown, expired or not an officer's");
        sam_audit_refusal(rq, event_type, c.reason != NULL ? c.reason : "error", NULL, NULL, NULL);
        qs_wipe(&c, sizeof c);
        return r;
    }
    rq->has_officer = true;
    rq->session_role = role;
    memcpy(rq->officer_id, c.user.id, sizeof rq->officer_id);
    snprintf(rq->officer, sizeof rq->officer, "%s", c.user.username);
    qs_wipe(&c, sizeof c);
    return QS_OK;
}

qs_err sam_ra_authorize(sam_req *rq, const char *event_type)
{
    size_t len = 0;
    const char *session = qs_sam_msg_get_str(rq->msg, QS_SAM_T_RA_SESSION, &len);

    if (session == NULL) {
        if (rq->peer->admin)
            return QS_OK;
        sam_fail(rq, QS_ERR_FORBIDDEN, "registration needs an officer's RA session");
        sam_audit_refusal(rq, event_type, "no_ra_session", NULL, NULL, NULL);
        return QS_ERR_FORBIDDEN;
    }
    return session_authorize(rq, QS_DB_ROLE_OFFICER, event_type, session, len);
}

qs_err sam_auditor_authorize(sam_req *rq, const char *event_type)
{
    size_t len = 0;
    const char *session = qs_sam_msg_get_str(rq->msg, QS_SAM_T_RA_SESSION, &len);

    if (session == NULL) {
        sam_fail(rq, QS_ERR_FORBIDDEN, "an auditor's session is needed");
        sam_audit_refusal(rq, event_type, "no_session", NULL, NULL, NULL);
        return QS_ERR_FORBIDDEN;
    }
    return session_authorize(rq, QS_DB_ROLE_AUDITOR, event_type, session, len);
}
