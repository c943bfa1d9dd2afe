/*
 * AUDIT_SEARCH (every peer, with an auditor's session): records that an auditor searches the
 * audit log, with the criteria, before qsignd reads the records.  qsignd reads them itself, as
 * the read-only database role qsign_audit; the SAM, the only writer of the log, vouches for
 * who asked and what.  The session must be an active auditor's (sam_auditor_authorize); the
 * criteria are checked as the search will use them (UUIDs, an event type or a prefix ending in
 * '.', a writer id, from before to).
 *
 * Audited as audit.searched (actor "... auditor=<username>"; user_id and credential_id are the
 * ones searched for, so a later search by a signer also shows who looked at their records;
 * details name the other criteria) or audit.search_refused with the reason.
 */
#define QS_LOG_MODULE "sam"
#include <string.h>

#include "sam/audit_internal.h"
#include "sam/sam.h"
#include "util/log.h"

/* An optional UUID field: QS_OK (absent: *has false), or QS_ERR_INVALID_ARGUMENT. */
static qs_err opt_uuid(sam_req *rq, uint16_t tag, uint8_t out[static QS_DB_SAM_UUID_LEN], bool *has)
{
    const char *s = qs_sam_msg_get_str(rq->msg, tag, NULL);
    *has = s != NULL;
    if (s == NULL)
        return QS_OK;
    return sam_uuid_parse(s, out) ? QS_OK : QS_ERR_INVALID_ARGUMENT;
}

qs_err sam_h_audit_search(sam_req *rq)
{
    static const char refused[] = "audit.search_refused";
    uint8_t user[QS_DB_SAM_UUID_LEN], cred[QS_DB_SAM_UUID_LEN];
    bool has_user = false, has_cred = false;
    uint64_t from = 0, to = 0;
    uint32_t result = 0;
    const char *reason = NULL;
    qs_err r;

    if ((r = sam_auditor_authorize(rq, refused)) != QS_OK)
        return r;
    const char *type = qs_sam_msg_get_str(rq->msg, QS_SAM_T_EVENT_TYPE, NULL);
    const char *writer = qs_sam_msg_get_str(rq->msg, QS_SAM_T_WRITER_ID, NULL);
    bool has_from = qs_sam_msg_get_u64(rq->msg, QS_SAM_T_TIME_FROM, &from);
    bool has_to = qs_sam_msg_get_u64(rq->msg, QS_SAM_T_TIME_TO, &to);
    bool has_result = qs_sam_msg_get_u32(rq->msg, QS_SAM_T_AUDIT_RESULT, &result);
    if (opt_uuid(rq, QS_SAM_T_USER_ID, user, &has_user) != QS_OK)
        reason = "malformed_user_id";
    else if (opt_uuid(rq, QS_SAM_T_CREDENTIAL_ID, cred, &has_cred) != QS_OK)
        reason = "malformed_credential_id";
    else if (type != NULL && !qs_audit_event_type_valid(type))
        reason = "malformed_event_type";
    else if (writer != NULL && !qs_audit_writer_id_valid(writer))
        reason = "malformed_writer_id";
    else if (has_from && has_to && from >= to)
        reason = "empty_time_range";
    if (reason != NULL) {
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT, reason);
        sam_audit_refusal(rq, refused, reason, has_user ? user : NULL, has_cred ? cred : NULL,
                          NULL);
        return r;
    }

    char t[QS_AUDIT_TIME_LEN + 1];
    sam_json j;
    sam_json_init(&j);
    if (type != NULL)
        sam_json_str(&j, "event_type", type);
    if (has_from && qs_audit_time_format((int64_t)from, t))
        sam_json_str(&j, "from", t);
    if (has_to && qs_audit_time_format((int64_t)to, t))
        sam_json_str(&j, "to", t);
    if (has_result)
        sam_json_str(&j, "result", result == QS_SAM_AUDIT_SUCCESS ? "success" : "failure");
    if (writer != NULL)
        sam_json_str(&j, "writer_id", writer);
    const char *details = sam_json_finish(&j);
    r = details == NULL ? QS_ERR_NOMEM
                        : sam_audit(rq, "audit.searched", true, has_user ? user : NULL,
                                    has_cred ? cred : NULL, NULL, details, NULL);
    sam_json_free(&j);
    if (r != QS_OK)
        return sam_fail(rq, r, "the search could not be audited");
    qs_info("audit search by auditor=%s", rq->officer);
    return sam_resp_begin(rq);
}
