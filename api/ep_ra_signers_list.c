/*
 * POST /ra/v1/signers/list (RA session): the registered signers, oldest first, with their
 * activation state and the latest identity evidence (never the document number).  Paging:
 * maxResults (1..500, default 100) and pageToken, an opaque offset in nextPageToken.
 */
#define QS_LOG_MODULE "api"
#include <stdio.h>
#include <stdlib.h>

#include "api/api_internal.h"
#include "api/ra.h"
#include "db/db_ca.h"

typedef struct list_ctx {
    api_ra_query q;
    qs_db_ra_signer *rows;
    size_t n;
    bool more;
} list_ctx;

static qs_err list_txn(qs_db *db, void *cls)
{
    list_ctx *c = cls;
    return qs_db_ra_signers(db, NULL, c->q.offset, c->q.max, c->rows, &c->n, &c->more);
}

static void handle(api_request *rq)
{
    list_ctx c = {0};
    char desc[API_DESC_MAX];
    qs_db *db = NULL;
    qs_err r;

    if ((r = api_body_parse(rq->body, rq->body_len, &rq->json, desc, sizeof desc)) != QS_OK ||
        (r = api_ra_list_parse(rq->json, &c.q, desc, sizeof desc)) != QS_OK) {
        api_reply_error(rq, r, r == QS_ERR_NOMEM ? NULL : desc);
        return;
    }
    if ((c.rows = calloc(c.q.max, sizeof *c.rows)) == NULL) {
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        return;
    }
    if ((r = api_db(rq, &db)) != QS_OK ||
        (r = qs_db_run_txn_opt(db, "ra_signers", QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED,
                               list_txn, &c)) != QS_OK) {
        api_reply_error(rq, r, NULL);
        goto out;
    }
    json_t *list = json_array(), *o = json_object();
    int rc = list == NULL || o == NULL ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < c.n; i++)
        rc |= json_array_append_new(list, api_ra_signer_json(&c.rows[i]));
    if (rc == 0)
        rc |= json_object_set_new(o, "signers", list);
    else
        json_decref(list);
    if (rc == 0 && c.more) {
        char next[16];
        snprintf(next, sizeof next, "%u", c.q.offset + (uint32_t)c.n);
        rc |= json_object_set_new(o, "nextPageToken", json_string(next));
    }
    if (rc != 0) {
        json_decref(o);
        o = NULL;
    }
    api_reply_json(rq, 200, o);
out:
    free(c.rows);
}

const api_endpoint api_ep_ra_signers_list = {
    .name = "ra/signers/list",
    .method = "POST",
    .auth = API_AUTH_RA,
    .handler = handle,
};
