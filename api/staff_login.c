/*
 * The login of staff, by role: registration officers at /ra/v1/login and auditors at
 * /audit/v1/login.  HTTP Basic username:password (the API login password, checked here against
 * its Argon2id verifier, as auth/login does) and {"otp": "..."}, the user's TOTP code, which the
 * SAM checks (OFFICER_LOGIN with the user's kind) before it opens a session of that role.  Only
 * users of that kind may log in at each path.  The answer's access_token is the session: the
 * bearer token of the other endpoints of that API, valid [ra] session_lifetime of the SAM.
 * Attempts are rate limited like auth/login; wrong passwords and codes count per account, and
 * towards the failed-authentication alert (api/anomaly.c), as does an account the SAM locked.
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "api/api_internal.h"
#include "api/ra.h"
#include "db/db_api.h"
#include "util/log.h"
#include "util/secret.h"

typedef struct login_ctx {
    const char *username;
    qs_db_api_account acct;
    bool found, success;
} login_ctx;

static qs_err lookup_txn(qs_db *db, void *cls)
{
    login_ctx *c = cls;
    return qs_db_account_get_by_username(db, c->username, &c->acct, &c->found);
}

static qs_err record_txn(qs_db *db, void *cls)
{
    login_ctx *c = cls;
    return qs_db_account_record_login(db, c->acct.user_id, c->success);
}

void api_staff_login(api_request *rq, qs_sam_user_kind kind)
{
    const char *h =
        MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *kind_name = kind == QS_SAM_USER_AUDITOR ? "auditor" : "officer";
    char *user = NULL, *pass = NULL;
    size_t pass_len = 0;
    const char *otp = NULL;
    char desc[API_DESC_MAX];
    char session[QS_SAM_SAD_BUF];
    char uid[API_UUID_STR_LEN + 1] = "unknown";
    uint32_t expires_in = 0;
    login_ctx c;
    qs_sam_client *sam = NULL;
    qs_db *db = NULL;
    qs_err r;

    memset(&c, 0, sizeof c);
    memset(session, 0, sizeof session);
    if ((r = api_body_parse(rq->body, rq->body_len, &rq->json, desc, sizeof desc)) != QS_OK ||
        (r = api_ra_login_parse(rq->json, &otp, desc, sizeof desc)) != QS_OK) {
        api_reply_error(rq, r, r == QS_ERR_NOMEM ? NULL : desc);
        return;
    }
    if (h == NULL || api_basic_parse(h, &user, &pass, &pass_len) != QS_OK) {
        api_reply_error(rq, QS_ERR_LOGIN_FAILED, "Missing or malformed HTTP Basic credentials");
        goto out;
    }
    if (!api_rate_limit_attempt(rq, API_RL_LOGIN_NAME, user))
        goto out;
    c.username = user;
    if ((r = api_db(rq, &db)) != QS_OK ||
        (r = qs_db_run_txn_opt(db, "staff_login_lookup",
                               QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED, lookup_txn, &c)) !=
            QS_OK) {
        api_reply_error(rq, r, NULL);
        goto out;
    }
    if (!c.found || strcmp(c.acct.kind, kind_name) != 0) {
        api_password_verify_dummy(rq, pass, pass_len);
        api_rate_limit_failure(rq, API_RL_LOGIN_NAME, user);
        api_anomaly_auth_failure(rq, "account", user, "unknown");
        qs_info("%s login refused: no active %s account", kind_name, kind_name);
        api_reply_error(rq, QS_ERR_LOGIN_FAILED, NULL);
        goto out;
    }
    api_uuid_format(c.acct.user_id, uid);
    c.success = api_password_verify(c.acct.verifier, pass, pass_len) == QS_OK;
    if (c.success) {
        r = api_sam_open(api_cfg(rq), &sam);
        if (r == QS_OK)
            r = qs_sam_client_staff_login(sam, kind, uid, otp, session, &expires_in);
        if (r != QS_OK && r != QS_ERR_AUTH_FAILED && r != QS_ERR_INVALID_ARGUMENT) {
            api_reply_sam_error(rq, sam, r);
            goto out;
        }
        c.success = r == QS_OK;
        if (r == QS_ERR_AUTH_FAILED && qs_sam_client_locked(sam))
            api_anomaly_lockout(rq, "account", uid);
    }
    if ((r = qs_db_run_txn_opt(db, "staff_login_record", QS_DB_TXN_READ_COMMITTED, record_txn,
                               &c)) != QS_OK) {
        api_reply_error(rq, r, NULL);
        goto out;
    }
    if (!c.success) {
        api_rate_limit_failure(rq, API_RL_LOGIN_NAME, user);
        api_anomaly_auth_failure(rq, "account", user, uid);
        qs_info("%s login refused: wrong password or one-time password user=%s", kind_name, uid);
        api_reply_error(rq, QS_ERR_LOGIN_FAILED, "Invalid username, password or OTP");
        goto out;
    }
    memcpy(rq->user_id, c.acct.user_id, API_UUID_LEN);
    api_uuid_format(rq->user_id, rq->user_id_str);
    rq->authed = true;
    qs_info("%s login %s=%s", kind == QS_SAM_USER_AUDITOR ? "audit" : "RA", kind_name,
            rq->user_id_str);
    api_reply_json(rq, 200,
                   json_pack("{s:s, s:s, s:I}", "access_token", session, "token_type", "Bearer",
                             "expires_in", (json_int_t)expires_in));
out:
    qs_sam_client_close(sam);
    qs_wipe(session, sizeof session);
    qs_wipe(&c.acct, sizeof c.acct);
    free(user);
    qs_free_wiped(pass, pass_len);
}
