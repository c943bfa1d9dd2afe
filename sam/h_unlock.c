/*
 * UNLOCK (admin peers, or an officer's RA session): after re-identifying the signer, an officer
 * unlocks a credential the failure counter locked: status enabled, counter reset, new MAC.
 * Only a locked credential is unlocked (disabled and destroyed ones stay as they are).  The
 * REASON is audited with the officer (credential.unlocked) or the refusal (unlock.refused).
 */
#define QS_LOG_MODULE "sam"
#include <string.h>

#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"
#include "util/secret.h"

typedef struct unlock_ctx {
    sam_req *rq;
    uint8_t cred_id[QS_DB_SAM_UUID_LEN];
    qs_db_credential *cred;
    bool found;
    const char *reason;
} unlock_ctx;

static qs_err unlock_txn(qs_db *db, void *cls)
{
    unlock_ctx *c = cls;
    c->reason = NULL;
    qs_err r = qs_db_credential_lock(db, c->cred_id, c->cred, &c->found);
    if (r != QS_OK)
        return r;
    if (!c->found) {
        c->reason = "unknown_credential";
        return QS_ERR_NOT_FOUND;
    }
    qs_rec rec = qs_rec_credential(c->cred);
    if ((r = qs_rec_check(c->rq->w->hs, &rec, c->cred->record_mac)) != QS_OK) {
        if (r == QS_ERR_MAC) {
            sam_mac_mismatch(c->rq, "credentials", c->cred->user_id, c->cred_id, NULL);
            c->reason = "record_mac";
        }
        return r;
    }
    if (strcmp(c->cred->status, QS_DB_CRED_LOCKED) != 0) {
        c->reason = "not_locked";
        return QS_ERR_INVALID_ARGUMENT;
    }
    snprintf(c->cred->status, sizeof c->cred->status, "%s", QS_DB_CRED_ENABLED);
    c->cred->failed_attempts = 0;
    rec = qs_rec_credential(c->cred);
    if ((r = qs_rec_mac(c->rq->w->hs, &rec, c->cred->record_mac)) != QS_OK)
        return r;
    return qs_db_credential_update(db, c->cred);
}

qs_err sam_h_unlock(sam_req *rq)
{
    static const char refused[] = "unlock.refused";
    unlock_ctx c;
    qs_err r;

    memset(&c, 0, sizeof c);
    c.rq = rq;
    if ((r = sam_ra_authorize(rq, refused)) != QS_OK)
        return r;
    if ((r = sam_req_uuid(rq, QS_SAM_T_CREDENTIAL_ID, "credential id", refused, c.cred_id)) !=
        QS_OK)
        return r;
    if ((c.cred = qs_secret_alloc(sizeof *c.cred)) == NULL)
        return sam_fail(rq, QS_ERR_NOMEM, NULL);
    r = qs_db_run_txn(rq->w->db, "unlock", unlock_txn, &c);
    if (r != QS_OK) {
        if (c.reason == NULL)
            c.reason = "database_error";
        sam_fail(rq, r,
                 r == QS_ERR_NOT_FOUND          ? "unknown credential"
                 : r == QS_ERR_INVALID_ARGUMENT ? "the credential is not locked"
                 : r == QS_ERR_MAC              ? "a stored record failed its integrity check"
                                                : NULL);
        sam_audit_refusal(rq, refused, c.reason, c.found ? c.cred->user_id : NULL, c.cred_id, NULL);
        goto out;
    }
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "action", "unlock");
    sam_json_str(&j, "from", QS_DB_CRED_LOCKED);
    sam_json_str(&j, "to", QS_DB_CRED_ENABLED);
    sam_json_str(&j, "reason", qs_sam_msg_get_str(rq->msg, QS_SAM_T_REASON, NULL));
    const char *details = sam_json_finish(&j);
    r = details == NULL ? QS_ERR_NOMEM
                        : sam_audit(rq, "credential.unlocked", true, c.cred->user_id, c.cred_id,
                                    NULL, details, NULL);
    sam_json_free(&j);
    if (r != QS_OK) {
        sam_fail(rq, r, "unlocked, but the audit record failed");
        goto out;
    }
    r = sam_resp_begin(rq);
out:
    qs_secret_free(c.cred);
    return r;
}
