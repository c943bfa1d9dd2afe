/*
 * POST /audit/v1/search (an auditor's session): the audit records matching every criterion
 * given, oldest first (event_time, then writer, then seq), a page at a time, as JSON lines
 * (application/jsonl) or CSV (text/csv) with every column (api/audit.h).  When more records
 * match, the X-Next-Cursor header carries the cursor of the next page ("cursor" in the next
 * request, with the same criteria).
 *
 * Order of work: the body is checked (400 naming the field, nothing else happens); a connection
 * of the audit pool is taken (role qsign_audit, read-only; 503 when [audit] conninfo is not set
 * or the database is unreachable); the SAM records the search in the auditor's name
 * (AUDIT_SEARCH: audit.searched, after checking the session again with its MAC), and only then
 * are the records read.  A search the SAM could not record returns nothing.
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/audit.h"
#include "util/log.h"

typedef struct search_ctx {
    qs_db_audit_filter filter;
    qs_db_audit_cursor start, next;
    size_t limit;
    qs_db_audit_found *found;
    size_t n;
} search_ctx;

static qs_err search_txn(qs_db *db, void *cls)
{
    search_ctx *c = cls;
    qs_db_audit_found_free(c->found, c->n);
    c->found = NULL;
    c->n = 0;
    c->next = c->start; /* a retried attempt starts from the same place */
    return qs_db_audit_search(db, &c->filter, &c->next, c->limit, &c->found, &c->n);
}

static void handle(api_request *rq)
{
    api_audit_query q;
    char desc[API_DESC_MAX];
    search_ctx c;
    qs_sam_client *sam = NULL;
    qs_db *db = NULL;
    char *body = NULL;
    size_t body_len = 0;
    qs_err r;

    memset(&c, 0, sizeof c);
    if ((r = api_body_parse(rq->body, rq->body_len, &rq->json, desc, sizeof desc)) != QS_OK ||
        (r = api_audit_search_parse(rq->json, &q, desc, sizeof desc)) != QS_OK) {
        api_reply_error(rq, r, r == QS_ERR_NOMEM ? NULL : desc);
        return;
    }
    if ((r = api_audit_db(rq, &db)) != QS_OK) {
        api_reply_error(rq, r, NULL);
        return;
    }

    qs_sam_audit_search_req req = {
        .session = rq->ra_session,
        .user_id = q.has_user ? q.user_id_str : NULL,
        .credential_id = q.has_credential ? q.credential_id_str : NULL,
        .event_type = q.event_type,
        .has_from = q.has_from,
        .has_to = q.has_to,
        .from_us = (uint64_t)q.from_us,
        .to_us = (uint64_t)q.to_us,
        .result = q.result < 0    ? 0
                  : q.result == 1 ? QS_SAM_AUDIT_SUCCESS
                                  : QS_SAM_AUDIT_FAILURE,
        .writer_id = q.writer_id,
    };
    if ((r = api_sam_open(api_cfg(rq), &sam)) == QS_OK)
        r = qs_sam_client_audit_search(sam, &req);
    if (r == QS_ERR_FORBIDDEN) {
        api_reply_error(rq, QS_ERR_TOKEN_INVALID, "Invalid or expired auditor session");
        goto out;
    }
    if (r != QS_OK) {
        api_reply_sam_error(rq, sam, r);
        goto out;
    }

    c.filter = (qs_db_audit_filter){
        .writer_id = q.writer_id,
        .user_id = q.has_user ? q.user_id : NULL,
        .credential_id = q.has_credential ? q.credential_id : NULL,
        .event_type = q.event_type,
        .has_from = q.has_from,
        .has_to = q.has_to,
        .from_us = q.from_us,
        .to_us = q.to_us,
        .result = q.result,
    };
    c.start = q.cursor;
    c.limit = (size_t)q.limit + 1; /* one more tells whether a next page exists */
    if ((r = qs_db_run_txn_opt(db, "audit_search_page",
                               QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED, search_txn, &c)) !=
        QS_OK) {
        api_reply_error(rq, r, NULL);
        goto out;
    }
    bool more = c.n > q.limit;
    size_t shown = more ? q.limit : c.n;
    if ((r = api_audit_rows(c.found, shown, q.format, &body, &body_len)) != QS_OK) {
        api_reply_error(rq, r, NULL);
        goto out;
    }
    char next[API_AUDIT_CURSOR_MAX + 1] = "";
    if (more) {
        const qs_db_audit_found *last = &c.found[shown - 1];
        qs_db_audit_cursor after = {
            .started = true, .time_us = last->row.event_time_us, .seq = last->row.seq};
        memcpy(after.writer_id, last->writer_id, sizeof after.writer_id);
        if (!api_audit_cursor_format(&after, next, sizeof next)) {
            qs_bug("audit cursor does not fit");
            free(body);
            api_reply_error(rq, QS_ERR_INTERNAL, NULL);
            goto out;
        }
    }
    qs_info("audit search auditor=%s records=%zu more=%s format=%s", rq->user_id_str, shown,
            more ? "yes" : "no", q.format == API_AUDIT_CSV ? "csv" : "jsonl");
    api_reply_text(rq, 200,
                   q.format == API_AUDIT_CSV ? "text/csv; charset=utf-8; header=present"
                                             : "application/jsonl; charset=utf-8",
                   body, body_len);
    if (more)
        api_reply_header(rq, "X-Next-Cursor", next);
out:
    qs_db_audit_found_free(c.found, c.n);
    qs_sam_client_close(sam);
}

const api_endpoint api_ep_audit_search = {
    .name = "audit/search",
    .method = "POST",
    .auth = API_AUTH_AUDIT,
    .handler = handle,
};
