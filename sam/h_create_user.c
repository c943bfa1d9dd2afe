/*
 * CREATE_USER (admin peers only): a new user with a random id, status active, and its record
 * MAC.  Answers CREATE_USER_RESP with the USER_ID.  Audited as user.created or
 * user.create_refused.
 */
#define QS_LOG_MODULE "sam"
#include <string.h>

#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"

static bool username_valid(const char *s, size_t len)
{
    if (len == 0 || len > QS_DB_USERNAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || strchr("._@+-", c) == NULL || c == '\0'))
            return false;
    }
    return true;
}

static const char *kind_name(uint32_t k)
{
    switch ((qs_sam_user_kind)k) {
    case QS_SAM_USER_SIGNER:
        return QS_DB_USER_SIGNER;
    case QS_SAM_USER_OFFICER:
        return QS_DB_USER_OFFICER;
    case QS_SAM_USER_AUDITOR:
        return QS_DB_USER_AUDITOR;
    }
    return NULL;
}

static qs_err insert_txn(qs_db *db, void *cls)
{
    return qs_db_user_insert(db, cls);
}

qs_err sam_h_create_user(sam_req *rq)
{
    static const char refused[] = "user.create_refused";
    size_t len = 0;
    uint32_t kind = 0;
    const char *username = qs_sam_msg_get_str(rq->msg, QS_SAM_T_USERNAME, &len);
    qs_db_user u;
    qs_err r;

    memset(&u, 0, sizeof u);
    (void)qs_sam_msg_get_u32(rq->msg, QS_SAM_T_USER_KIND, &kind);
    const char *kname = kind_name(kind);
    if (username == NULL || !username_valid(username, len) || kname == NULL) {
        sam_fail(rq, QS_ERR_INVALID_ARGUMENT,
                 "username: 1..128 characters of [A-Za-z0-9._@+-], starting with a letter or "
                 "digit");
        sam_audit_refusal(rq, refused, "malformed_username", NULL, NULL, NULL);
        return rq->err;
    }
    sam_uuid_new(u.id);
    memcpy(u.username, username, len + 1);
    snprintf(u.kind, sizeof u.kind, "%s", kname);
    snprintf(u.status, sizeof u.status, "%s", QS_DB_USER_ACTIVE);
    qs_rec rec = qs_rec_user(&u);
    if ((r = qs_rec_mac(rq->w->hs, &rec, u.record_mac)) != QS_OK) {
        sam_fail(rq, r, NULL);
        sam_audit_refusal(rq, refused, "hsm_error", u.id, NULL, NULL);
        return r;
    }
    r = qs_db_run_txn(rq->w->db, "create_user", insert_txn, &u);
    if (r != QS_OK) {
        sam_fail(rq, r, r == QS_ERR_EXISTS ? "username already taken" : NULL);
        sam_audit_refusal(rq, refused, r == QS_ERR_EXISTS ? "username_taken" : "database_error",
                          u.id, NULL, NULL);
        return r;
    }

    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "username", u.username);
    sam_json_str(&j, "kind", u.kind);
    const char *details = sam_json_finish(&j);
    r = details == NULL ? QS_ERR_NOMEM
                        : sam_audit(rq, "user.created", true, u.id, NULL, NULL, details, NULL);
    sam_json_free(&j);
    if (r != QS_OK)
        return sam_fail(rq, r, "user created, but its audit record failed");

    char id[SAM_UUID_STR_LEN + 1];
    sam_uuid_format(u.id, id);
    if ((r = sam_resp_begin(rq)) != QS_OK)
        return r;
    if ((r = qs_sam_msg_put_str(rq->resp, QS_SAM_T_USER_ID, id)) != QS_OK)
        return sam_fail(rq, QS_ERR_INTERNAL, NULL);
    qs_info("user %s created (%s)", id, u.kind);
    return QS_OK;
}
