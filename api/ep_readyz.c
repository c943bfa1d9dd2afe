/*
 * GET /readyz: ready to serve: PostgreSQL answers (at this binary's schema version) and the SAM
 * answers a PING.  503 in the CSC error shape naming what is not ready.
 */
#include "api/api_internal.h"

static void handle(api_request *rq)
{
    qs_db *db = NULL;
    qs_err r = api_db(rq, &db);
    if (r == QS_OK)
        r = qs_db_check_schema(db);
    if (r != QS_OK) {
        api_reply_error(rq, r == QS_ERR_DB_SCHEMA ? QS_ERR_DB_SCHEMA : QS_ERR_DB_UNAVAILABLE,
                        r == QS_ERR_DB_SCHEMA ? "Database schema version mismatch"
                                              : "Database unavailable");
        return;
    }
    r = api_sam_ping(api_cfg(rq));
    if (r != QS_OK) {
        api_reply_error(rq, r == QS_ERR_TIMEOUT ? QS_ERR_TIMEOUT : QS_ERR_EOF, "SAM unavailable");
        return;
    }
    api_reply_json(rq, 200,
                   json_pack("{s:s, s:s, s:s}", "status", "ready", "database", "ok", "sam", "ok"));
}

const api_endpoint api_ep_readyz = {
    .name = "readyz",
    .method = "GET",
    .versions = 0,
    .auth = API_AUTH_NONE,
    .handler = handle,
};
