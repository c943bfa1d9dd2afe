/*
 * POST /account/v1/info (the caller's access token from auth/login): the caller's own account,
 * {"userID", "username", "kind", "activated"}, so the web page knows whether to show the
 * activation screen (activated: the signing PIN and the TOTP authenticator are set).  No body
 * is read.
 */
#define QS_LOG_MODULE "api"
#include "api/api_internal.h"
#include "db/db_api.h"
#include "util/log.h"

typedef struct status_ctx {
    const uint8_t *user_id;
    qs_db_api_account_status st;
    bool found;
} status_ctx;

static qs_err status_txn(qs_db *db, void *cls)
{
    status_ctx *c = cls;
    return qs_db_account_status(db, c->user_id, &c->st, &c->found);
}

static void handle(api_request *rq)
{
    status_ctx c = {.user_id = rq->user_id};
    qs_db *db = NULL;
    qs_err r = api_db(rq, &db);
    if (r == QS_OK)
        r = qs_db_run_txn_opt(db, "account_info", QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED,
                              status_txn, &c);
    if (r != QS_OK) {
        api_reply_error(rq, r, NULL);
        return;
    }
    if (!c.found) {
        /* The token was valid a moment ago: the user row went away in between. */
        api_reply_error(rq, QS_ERR_TOKEN_INVALID, NULL);
        return;
    }
    api_reply_json(rq, 200,
                   json_pack("{s:s, s:s, s:s, s:b}", "userID", rq->user_id_str, "username",
                             c.st.username, "kind", c.st.kind, "activated", c.st.activated));
}

const api_endpoint api_ep_account_info = {
    .name = "account/info",
    .method = "POST",
    .auth = API_AUTH_BEARER,
    .handler = handle,
};
