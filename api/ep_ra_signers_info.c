/*
 * POST /ra/v1/signers/info (RA session): one signer by userID, as signers/list shows it.
 * A user who is not a signer, or none, is "Invalid parameter userID".
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>

#include "api/api_internal.h"
#include "api/ra.h"
#include "db/db_ca.h"

typedef struct info_ctx {
    uint8_t id[API_UUID_LEN];
    qs_db_ra_signer *row;
    size_t n;
} info_ctx;

static qs_err info_txn(qs_db *db, void *cls)
{
    info_ctx *c = cls;
    bool more = false;
    return qs_db_ra_signers(db, c->id, 0, 1, c->row, &c->n, &more);
}

static void handle(api_request *rq)
{
    api_ra_query q;
    info_ctx c = {0};
    char desc[API_DESC_MAX];
    qs_db *db = NULL;
    qs_err r;

    if ((r = api_body_parse(rq->body, rq->body_len, &rq->json, desc, sizeof desc)) != QS_OK ||
        (r = api_ra_info_parse(rq->json, &q, desc, sizeof desc)) != QS_OK ||
        (r = api_uuid_parse(q.user_id, API_UUID_STR_LEN, c.id)) != QS_OK) {
        api_reply_error(rq, r, r == QS_ERR_NOMEM ? NULL : desc);
        return;
    }
    if ((c.row = malloc(sizeof *c.row)) == NULL) {
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        return;
    }
    if ((r = api_db(rq, &db)) != QS_OK ||
        (r = qs_db_run_txn_opt(db, "ra_signer", QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED,
                               info_txn, &c)) != QS_OK)
        api_reply_error(rq, r, NULL);
    else if (c.n == 0)
        api_reply_error(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter userID");
    else
        api_reply_json(rq, 200, api_ra_signer_json(c.row));
    free(c.row);
}

const api_endpoint api_ep_ra_signers_info = {
    .name = "ra/signers/info",
    .method = "POST",
    .auth = API_AUTH_RA,
    .handler = handle,
};
