/*
 * CREDENTIAL_STATE (admin peers only): an officer locks, unlocks, disables or destroys a
 * credential.
 *
 *   lock     enabled -> locked (locked stays locked)
 *   unlock   locked or disabled -> enabled, failure counter reset (after re-identification)
 *   disable  enabled or locked -> disabled
 *   destroy  any -> destroyed: the wrapped key is erased (NULL); final, nothing changes a
 *            destroyed credential again
 *
 * The credential row is locked and its MAC checked before the change; the new row gets a new
 * MAC.  Audited with the ACTOR and REASON of the request as credential.locked,
 * credential.unlocked, credential.disabled, key.destroyed, or credential.state_refused.
 */
#define QS_LOG_MODULE "sam"
#include <string.h>

#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"
#include "util/secret.h"

typedef struct state_ctx {
    sam_req *rq;
    uint8_t cred_id[QS_DB_SAM_UUID_LEN];
    qs_sam_state_action action;
    qs_db_credential *cred;
    /* out */
    char old_status[QS_DB_SAM_NAME_MAX];
    bool has_user;
    const char *reason;
} state_ctx;

static const char *action_name(qs_sam_state_action a)
{
    switch (a) {
    case QS_SAM_STATE_LOCK:
        return "lock";
    case QS_SAM_STATE_UNLOCK:
        return "unlock";
    case QS_SAM_STATE_DISABLE:
        return "disable";
    case QS_SAM_STATE_DESTROY:
        return "destroy";
    }
    return "?";
}

static const char *action_event(qs_sam_state_action a)
{
    switch (a) {
    case QS_SAM_STATE_LOCK:
        return "credential.locked";
    case QS_SAM_STATE_UNLOCK:
        return "credential.unlocked";
    case QS_SAM_STATE_DISABLE:
        return "credential.disabled";
    case QS_SAM_STATE_DESTROY:
        return "key.destroyed";
    }
    return "credential.state_refused";
}

static qs_err state_txn(qs_db *db, void *cls)
{
    state_ctx *s = cls;
    qs_db_credential *c = s->cred;
    bool found = false;

    s->reason = NULL;
    s->has_user = false;
    qs_err r = qs_db_credential_lock(db, s->cred_id, c, &found);
    if (r != QS_OK)
        return r;
    if (!found) {
        s->reason = "unknown_credential";
        return QS_ERR_NOT_FOUND;
    }
    s->has_user = true;
    qs_rec rec = qs_rec_credential(c);
    if ((r = qs_rec_check(s->rq->w->hs, &rec, c->record_mac)) != QS_OK) {
        if (r == QS_ERR_MAC) {
            sam_mac_mismatch(s->rq, "credentials", c->user_id, s->cred_id, NULL);
            s->reason = "record_mac";
        }
        return r;
    }
    snprintf(s->old_status, sizeof s->old_status, "%s", c->status);
    bool enabled = strcmp(c->status, QS_DB_CRED_ENABLED) == 0;
    bool locked = strcmp(c->status, QS_DB_CRED_LOCKED) == 0;
    bool disabled = strcmp(c->status, QS_DB_CRED_DISABLED) == 0;
    if (strcmp(c->status, QS_DB_CRED_DESTROYED) == 0) {
        s->reason = "credential_destroyed";
        return QS_ERR_CREDENTIAL_DISABLED;
    }
    const char *to = NULL;
    switch (s->action) {
    case QS_SAM_STATE_LOCK:
        if (!enabled && !locked) {
            s->reason = "not_enabled";
            return QS_ERR_CREDENTIAL_DISABLED;
        }
        to = QS_DB_CRED_LOCKED;
        break;
    case QS_SAM_STATE_UNLOCK:
        if (!enabled && !locked && !disabled)
            return QS_ERR_INTERNAL;
        to = QS_DB_CRED_ENABLED;
        c->failed_attempts = 0;
        break;
    case QS_SAM_STATE_DISABLE:
        to = QS_DB_CRED_DISABLED;
        break;
    case QS_SAM_STATE_DESTROY:
        to = QS_DB_CRED_DESTROYED;
        qs_wipe(c->wrapped_key, sizeof c->wrapped_key);
        c->has_wrapped_key = false;
        c->wrapped_key_len = 0;
        break;
    }
    if (to == NULL)
        return QS_ERR_INVALID_ARGUMENT;
    snprintf(c->status, sizeof c->status, "%s", to);
    rec = qs_rec_credential(c);
    if ((r = qs_rec_mac(s->rq->w->hs, &rec, c->record_mac)) != QS_OK)
        return r;
    return qs_db_credential_update(db, c);
}

qs_err sam_h_credential_state(sam_req *rq)
{
    static const char refused[] = "credential.state_refused";
    state_ctx s;
    uint32_t action = 0;
    qs_err r;

    memset(&s, 0, sizeof s);
    s.rq = rq;
    if ((r = sam_req_uuid(rq, QS_SAM_T_CREDENTIAL_ID, "credential id", refused, s.cred_id)) !=
        QS_OK)
        return r;
    (void)qs_sam_msg_get_u32(rq->msg, QS_SAM_T_STATE_ACTION, &action);
    s.action = (qs_sam_state_action)action;
    if (action < QS_SAM_STATE_LOCK || action > QS_SAM_STATE_DESTROY) {
        s.reason = "state_action";
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT, "unknown state action");
        goto out;
    }
    if ((s.cred = qs_secret_alloc(sizeof *s.cred)) == NULL) {
        r = sam_fail(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }
    r = qs_db_run_txn(rq->w->db, "credential_state", state_txn, &s);
    if (r != QS_OK) {
        if (s.reason == NULL)
            s.reason = "error";
        sam_fail(rq, r,
                 r == QS_ERR_NOT_FOUND             ? "unknown credential"
                 : r == QS_ERR_CREDENTIAL_DISABLED ? "the credential is destroyed or not enabled"
                 : r == QS_ERR_MAC                 ? "a stored record failed its integrity check"
                                                   : NULL);
        goto out;
    }

    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "action", action_name(s.action));
    sam_json_str(&j, "from", s.old_status);
    sam_json_str(&j, "to", s.cred->status);
    sam_json_str(&j, "reason", qs_sam_msg_get_str(rq->msg, QS_SAM_T_REASON, NULL));
    const char *details = sam_json_finish(&j);
    r = details == NULL ? QS_ERR_NOMEM
                        : sam_audit(rq, action_event(s.action), true, s.cred->user_id, s.cred_id,
                                    NULL, details, NULL);
    sam_json_free(&j);
    if (r != QS_OK) {
        sam_fail(rq, r, "state changed, but its audit record failed");
        goto out;
    }
    char id[SAM_UUID_STR_LEN + 1];
    sam_uuid_format(s.cred_id, id);
    qs_info("credential %s: %s (was %s)", id, action_name(s.action), s.old_status);
    r = sam_resp_begin(rq);
out:
    if (r != QS_OK && s.reason != NULL) {
        /* the refusal names the officer's reason too */
        sam_json rj;
        sam_json_init(&rj);
        sam_json_str(&rj, "reason", s.reason);
        sam_json_str(&rj, "action", action_name(s.action));
        sam_json_str(&rj, "error", qs_err_name(rq->err));
        const char *why = qs_sam_msg_get_str(rq->msg, QS_SAM_T_REASON, NULL);
        if (why != NULL)
            sam_json_str(&rj, "officer_reason", why);
        const char *rdetails = sam_json_finish(&rj);
        if (rdetails != NULL)
            (void)sam_audit(rq, refused, false,
                            s.has_user && s.cred != NULL ? s.cred->user_id : NULL, s.cred_id, NULL,
                            rdetails, NULL);
        sam_json_free(&rj);
    }
    qs_secret_free(s.cred);
    return r;
}
