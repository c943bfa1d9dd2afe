/*
 * POST /csc/v{1,2}/auth/login: HTTP Basic username:password (the login password, not the
 * signing PIN) checked against its Argon2id verifier, or a refresh_token; issues an opaque
 * access token (and, with rememberMe, a refresh token).  Tokens are 32 random bytes in
 * base64url, stored only as their SHA-256.
 *
 * Refresh tokens are single use: using one revokes it; presenting one already used revokes its
 * whole login session (it was copied).  Attempts are rate limited per client address, failed
 * ones also per account, and count towards the failed-authentication alert (api/anomaly.c); an
 * unknown user costs the same Argon2id time as a known one.  Only signers log in here.
 */
#define QS_LOG_MODULE "api"
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "api/api_internal.h"
#include "db/db_api.h"
#include "util/log.h"
#include "util/secret.h"

static const api_field_spec spec[] = {
    {.field = API_F_REMEMBER_ME, .type = API_T_BOOL, .versions = API_V_BOTH},
    {.field = API_F_REFRESH_TOKEN,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 256,
     .flags = API_FS_TOKEN | API_FS_SECRET},
    {.field = API_F_CLIENT_DATA,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = API_CLIENT_DATA_MAX},
};

/* Tokens issued by one login or refresh. */
typedef struct issue {
    char access[API_TOKEN_B64_LEN + 1];
    uint8_t access_hash[API_SHA256_LEN];
    char refresh[API_TOKEN_B64_LEN + 1];
    uint8_t refresh_hash[API_SHA256_LEN];
    bool with_refresh;
    uint8_t session_id[API_UUID_LEN];
} issue;

static void issue_new(issue *t, bool with_refresh)
{
    memset(t, 0, sizeof *t);
    api_token_new(t->access, t->access_hash);
    t->with_refresh = with_refresh;
    if (with_refresh)
        api_token_new(t->refresh, t->refresh_hash);
}

static qs_err issue_store(qs_db *db, const issue *t, const uint8_t user_id[static API_UUID_LEN],
                          const qs_api_config *cfg)
{
    qs_err r = qs_db_token_insert(db, t->access_hash, user_id, t->session_id, QS_DB_TOKEN_ACCESS,
                                  cfg->token_lifetime);
    if (r == QS_OK && t->with_refresh)
        r = qs_db_token_insert(db, t->refresh_hash, user_id, t->session_id, QS_DB_TOKEN_REFRESH,
                               cfg->refresh_token_lifetime);
    return r;
}

static void reply_tokens(api_request *rq, issue *t)
{
    json_t *o = json_pack("{s:s, s:I}", "access_token", t->access, "expires_in",
                          (json_int_t)api_cfg(rq)->token_lifetime);
    if (o != NULL && t->with_refresh &&
        json_object_set_new(o, "refresh_token", json_string(t->refresh)) != 0) {
        json_decref(o);
        o = NULL;
    }
    qs_wipe(t, sizeof *t);
    api_reply_json(rq, 200, o);
}

/* ---- HTTP Basic ------------------------------------------------------------------------------ */

typedef struct login_ctx {
    const char *username;
    qs_db_api_account acct;
    bool found;
    bool success;
    issue *tokens;
    const qs_api_config *cfg;
} login_ctx;

static qs_err lookup_txn(qs_db *db, void *cls)
{
    login_ctx *c = cls;
    return qs_db_account_get_by_username(db, c->username, &c->acct, &c->found);
}

static qs_err record_txn(qs_db *db, void *cls)
{
    login_ctx *c = cls;
    qs_err r = qs_db_account_record_login(db, c->acct.user_id, c->success);
    if (r != QS_OK || !c->success)
        return r;
    if ((r = qs_db_token_purge_expired(db, c->acct.user_id)) != QS_OK)
        return r;
    return issue_store(db, c->tokens, c->acct.user_id, c->cfg);
}

static void login_basic(api_request *rq)
{
    const char *h =
        MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    char *user = NULL, *pass = NULL;
    size_t pass_len = 0;
    issue tokens;
    login_ctx c = {.cfg = api_cfg(rq), .tokens = &tokens};
    qs_db *db = NULL;
    qs_err r;

    if (h == NULL) {
        api_reply_error(rq, QS_ERR_LOGIN_FAILED, "Missing HTTP Basic Authorization header");
        return;
    }
    r = api_basic_parse(h, &user, &pass, &pass_len);
    if (r != QS_OK) {
        api_reply_error(rq, r == QS_ERR_NOMEM ? r : QS_ERR_LOGIN_FAILED,
                        r == QS_ERR_NOMEM ? NULL : "Malformed HTTP Basic Authorization header");
        return;
    }
    if (!api_rate_limit_attempt(rq, API_RL_LOGIN_NAME, user))
        goto out;
    c.username = user;
    if ((r = api_db(rq, &db)) != QS_OK ||
        (r = qs_db_run_txn_opt(db, "login_lookup", QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED,
                               lookup_txn, &c)) != QS_OK) {
        api_reply_error(rq, r, NULL);
        goto out;
    }
    /* Signers only: staff log in at /ra/v1/login or /audit/v1/login, to sessions of their role
     * alone, and a CSC token would let them past that separation. */
    if (!c.found || strcmp(c.acct.kind, "signer") != 0) {
        api_password_verify_dummy(rq, pass, pass_len);
        api_rate_limit_failure(rq, API_RL_LOGIN_NAME, user);
        api_anomaly_auth_failure(rq, "account", user, "unknown");
        qs_info("login refused: no active signer account");
        api_reply_error(rq, QS_ERR_LOGIN_FAILED, NULL);
        goto out;
    }
    c.success = api_password_verify(c.acct.verifier, pass, pass_len) == QS_OK;
    if (c.success) {
        bool remember = rq->p.f[API_F_REMEMBER_ME].present && rq->p.f[API_F_REMEMBER_ME].b;
        issue_new(&tokens, remember);
        qs_random(tokens.session_id, sizeof tokens.session_id);
    }
    r = qs_db_run_txn_opt(db, "login_record", QS_DB_TXN_READ_COMMITTED, record_txn, &c);
    if (r != QS_OK) {
        api_reply_error(rq, r, NULL);
        goto out;
    }
    char uid[API_UUID_STR_LEN + 1];
    api_uuid_format(c.acct.user_id, uid);
    if (!c.success) {
        api_rate_limit_failure(rq, API_RL_LOGIN_NAME, user);
        api_anomaly_auth_failure(rq, "account", user, uid);
        qs_info("login refused: wrong password user=%s", uid);
        api_reply_error(rq, QS_ERR_LOGIN_FAILED, NULL);
        goto out;
    }
    qs_info("login user=%s refresh=%s", uid, tokens.with_refresh ? "yes" : "no");
    reply_tokens(rq, &tokens);
out:
    qs_wipe(&tokens, sizeof tokens);
    qs_wipe(&c.acct, sizeof c.acct);
    free(user);
    qs_free_wiped(pass, pass_len);
}

/* ---- refresh_token -----------------------------------------------------------------------------
 */

typedef enum refresh_outcome {
    REFRESH_OK,
    REFRESH_INVALID, /* unknown, wrong kind, expired, or the user is not active */
    REFRESH_REUSED,  /* already used: the session was revoked */
} refresh_outcome;

typedef struct refresh_ctx {
    uint8_t hash[API_SHA256_LEN];
    issue *tokens;
    const qs_api_config *cfg;
    refresh_outcome outcome;
    uint8_t user_id[API_UUID_LEN];
} refresh_ctx;

static qs_err refresh_txn(qs_db *db, void *cls)
{
    refresh_ctx *c = cls;
    qs_db_api_token tok;
    bool found = false, revoked = false;
    qs_err r = qs_db_token_get(db, c->hash, &tok, &found);
    c->outcome = REFRESH_INVALID;
    if (r != QS_OK || !found || tok.kind != QS_DB_TOKEN_REFRESH || !tok.user_active)
        return r;
    memcpy(c->user_id, tok.user_id, API_UUID_LEN);
    if (tok.revoked) {
        c->outcome = REFRESH_REUSED;
        return qs_db_token_revoke_session(db, tok.session_id, tok.user_id, NULL);
    }
    if (tok.expired)
        return QS_OK;
    if ((r = qs_db_token_revoke(db, c->hash, tok.user_id, &revoked)) != QS_OK)
        return r;
    if (!revoked) /* revoked since it was read: treat as used */
        return QS_OK;
    memcpy(c->tokens->session_id, tok.session_id, API_UUID_LEN);
    if ((r = issue_store(db, c->tokens, tok.user_id, c->cfg)) != QS_OK)
        return r;
    c->outcome = REFRESH_OK;
    return QS_OK;
}

static void login_refresh(api_request *rq)
{
    const api_param *p = &rq->p.f[API_F_REFRESH_TOKEN];
    issue tokens;
    refresh_ctx c = {.tokens = &tokens, .cfg = api_cfg(rq)};
    qs_db *db = NULL;
    qs_err r;

    if (!api_rate_limit_attempt(rq, API_RL_LOGIN_NAME, NULL))
        return;
    if (api_token_hash(p->s, p->len, c.hash) != QS_OK) {
        api_reply_error(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter refresh_token");
        return;
    }
    bool remember = rq->p.f[API_F_REMEMBER_ME].present && rq->p.f[API_F_REMEMBER_ME].b;
    issue_new(&tokens, remember);
    if ((r = api_db(rq, &db)) != QS_OK ||
        (r = qs_db_run_txn(db, "login_refresh", refresh_txn, &c)) != QS_OK) {
        qs_wipe(&tokens, sizeof tokens);
        api_reply_error(rq, r, NULL);
        return;
    }
    char uid[API_UUID_STR_LEN + 1];
    api_uuid_format(c.user_id, uid);
    switch (c.outcome) {
    case REFRESH_OK:
        qs_info("token refreshed user=%s", uid);
        reply_tokens(rq, &tokens);
        return;
    case REFRESH_REUSED:
        qs_warn("used refresh token presented again: session revoked user=%s", uid);
        break;
    case REFRESH_INVALID:
        break;
    }
    qs_wipe(&tokens, sizeof tokens);
    api_count(rq, API_C_LOGIN_FAILURES);
    api_reply_error(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter refresh_token");
}

static void handle(api_request *rq)
{
    if (rq->p.f[API_F_REFRESH_TOKEN].present)
        login_refresh(rq);
    else
        login_basic(rq);
}

const api_endpoint api_ep_auth_login = {
    .name = "auth/login",
    .method = "POST",
    .versions = API_V_BOTH,
    .spec = spec,
    .nspec = sizeof spec / sizeof spec[0],
    .auth = API_AUTH_NONE,
    .handler = handle,
};
