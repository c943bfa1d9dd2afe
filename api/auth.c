/*
 * Caller authentication: opaque bearer tokens (32 random bytes, unpadded base64url; only their
 * SHA-256 is stored) and the HTTP Basic header of auth/login.
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>
#include <sodium.h>

#include "api/api_internal.h"
#include "db/db_api.h"
#include "db/db_ca.h"
#include "util/log.h"
#include "util/secret.h"

_Static_assert(API_TOKEN_B64_LEN + 1 ==
                   sodium_base64_ENCODED_LEN(API_TOKEN_RAW_LEN,
                                             sodium_base64_VARIANT_URLSAFE_NO_PADDING),
               "token length");
_Static_assert(API_SHA256_LEN == crypto_hash_sha256_BYTES, "SHA-256 length");

void api_token_new(char b64[static API_TOKEN_B64_LEN + 1], uint8_t hash[static API_SHA256_LEN])
{
    uint8_t raw[API_TOKEN_RAW_LEN];
    qs_random(raw, sizeof raw);
    sodium_bin2base64(b64, API_TOKEN_B64_LEN + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    crypto_hash_sha256(hash, raw, sizeof raw);
    qs_wipe(raw, sizeof raw);
}

qs_err api_token_hash(const char *s, size_t len, uint8_t hash[static API_SHA256_LEN])
{
    uint8_t raw[API_TOKEN_RAW_LEN];
    size_t n = 0;
    const char *end = NULL;
    char canon[API_TOKEN_B64_LEN + 1];
    qs_err r = QS_ERR_PARSE;

    if (len != API_TOKEN_B64_LEN ||
        sodium_base642bin(raw, sizeof raw, s, len, NULL, &n, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != s + len || n != sizeof raw)
        goto out;
    /* Canonical form only: the last character's unused bits must be zero. */
    sodium_bin2base64(canon, sizeof canon, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (memcmp(canon, s, len) != 0)
        goto out;
    crypto_hash_sha256(hash, raw, sizeof raw);
    r = QS_OK;
out:
    qs_wipe(raw, sizeof raw);
    qs_wipe(canon, sizeof canon);
    return r;
}

typedef struct token_ctx {
    const uint8_t *hash;
    qs_db_api_token tok;
    bool found;
} token_ctx;

static qs_err token_txn(qs_db *db, void *cls)
{
    token_ctx *c = cls;
    return qs_db_token_get(db, c->hash, &c->tok, &c->found);
}

bool api_authenticate(api_request *rq)
{
    const char *h =
        MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    uint8_t hash[API_SHA256_LEN];

    if (h == NULL) {
        api_reply_error(rq, QS_ERR_TOKEN_INVALID, "Missing access token");
        return false;
    }
    if (strncasecmp(h, "Bearer ", 7) != 0) {
        api_reply_error(rq, QS_ERR_TOKEN_INVALID, "Authorization must be a Bearer token");
        return false;
    }
    const char *t = h + 7;
    while (*t == ' ')
        t++;
    if (api_token_hash(t, strlen(t), hash) != QS_OK) {
        api_reply_error(rq, QS_ERR_TOKEN_INVALID, NULL);
        return false;
    }
    qs_db *db = NULL;
    qs_err r = api_db(rq, &db);
    token_ctx c = {.hash = hash};
    if (r == QS_OK)
        r = qs_db_run_txn_opt(db, "token_get", QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED,
                              token_txn, &c);
    if (r != QS_OK) {
        api_reply_error(rq, r, NULL);
        return false;
    }
    if (!c.found || c.tok.kind != QS_DB_TOKEN_ACCESS || c.tok.revoked || !c.tok.user_active) {
        api_reply_error(rq, QS_ERR_TOKEN_INVALID, NULL);
        return false;
    }
    if (c.tok.expired) {
        api_reply_error(rq, QS_ERR_TOKEN_EXPIRED, NULL);
        return false;
    }
    memcpy(rq->user_id, c.tok.user_id, API_UUID_LEN);
    memcpy(rq->session_id, c.tok.session_id, API_UUID_LEN);
    api_uuid_format(rq->user_id, rq->user_id_str);
    rq->authed = true;
    return true;
}

typedef struct staff_ctx {
    uint8_t hash[API_SHA256_LEN];
    uint8_t user[API_UUID_LEN];
    char role[QS_DB_CA_NAME_MAX];
    bool active, found;
} staff_ctx;

static qs_err staff_txn(qs_db *db, void *cls)
{
    staff_ctx *c = cls;
    return qs_db_ra_session_check(db, c->hash, c->user, c->role, sizeof c->role, &c->active,
                                  &c->found);
}

bool api_authenticate_staff(api_request *rq, const char *role)
{
    const char *h =
        MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    bool auditor = strcmp(role, QS_DB_ROLE_AUDITOR) == 0;
    staff_ctx c;

    memset(&c, 0, sizeof c);
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        api_reply_error(rq, QS_ERR_TOKEN_INVALID,
                        auditor ? "Missing auditor session token" : "Missing RA session token");
        return false;
    }
    const char *t = h + 7;
    while (*t == ' ')
        t++;
    /* the SAM's handle: unpadded base64url of 32 bytes, hashed as text like the SAM does */
    size_t len = strlen(t);
    uint8_t raw[API_TOKEN_RAW_LEN];
    size_t raw_len = 0;
    if (len != API_TOKEN_B64_LEN ||
        sodium_base642bin(raw, sizeof raw, t, len, NULL, &raw_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        raw_len != sizeof raw) {
        api_reply_error(rq, QS_ERR_TOKEN_INVALID, NULL);
        return false;
    }
    qs_wipe(raw, sizeof raw);
    crypto_hash_sha256(c.hash, (const unsigned char *)t, len);
    qs_db *db = NULL;
    qs_err r = api_db(rq, &db);
    if (r == QS_OK)
        r = qs_db_run_txn_opt(db, "staff_session_check",
                              QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED, staff_txn, &c);
    if (r != QS_OK) {
        api_reply_error(rq, r, NULL);
        return false;
    }
    if (!c.found || !c.active) {
        api_reply_error(rq, QS_ERR_TOKEN_INVALID,
                        auditor ? "Invalid or expired auditor session"
                                : "Invalid or expired RA session");
        return false;
    }
    if (strcmp(c.role, role) != 0) {
        qs_info("session of role %s refused where %s is needed", c.role, role);
        api_reply_errorf(rq, QS_ERR_WRONG_ROLE, "This session does not carry the %s role", role);
        return false;
    }
    memcpy(rq->user_id, c.user, API_UUID_LEN);
    api_uuid_format(rq->user_id, rq->user_id_str);
    memcpy(rq->ra_session, t, len + 1);
    rq->authed = true;
    return true;
}

qs_err api_basic_parse(const char *header, char **user, char **pass, size_t *pass_len)
{
    *user = NULL;
    *pass = NULL;
    *pass_len = 0;
    if (header == NULL || strncasecmp(header, "Basic ", 6) != 0)
        return QS_ERR_PARSE;
    const char *b64 = header + 6;
    while (*b64 == ' ')
        b64++;
    size_t len = strlen(b64);
    while (len > 0 && b64[len - 1] == ' ')
        len--;
    /* user (<= 128) ':' password (<= 1024), base64: a generous bound on the encoding. */
    if (len == 0 || len > 4 * ((API_USERNAME_MAX + 1 + API_PASSWORD_MAX + 2) / 3))
        return QS_ERR_PARSE;
    size_t cap = len;
    uint8_t *raw = malloc(cap + 1);
    if (raw == NULL)
        return QS_ERR_NOMEM;
    size_t n = 0;
    qs_err r = api_b64_decode(b64, len, raw, cap, &n);
    if (r != QS_OK)
        goto out;
    r = QS_ERR_PARSE;
    uint8_t *colon = memchr(raw, ':', n);
    if (colon == NULL || memchr(raw, '\0', n) != NULL)
        goto out;
    size_t ulen = (size_t)(colon - raw), plen = n - ulen - 1;
    if (ulen == 0 || ulen > API_USERNAME_MAX || plen == 0 || plen > API_PASSWORD_MAX)
        goto out;
    *user = strndup((const char *)raw, ulen);
    *pass = malloc(plen + 1);
    if (*user == NULL || *pass == NULL) {
        free(*user);
        free(*pass);
        *user = NULL;
        *pass = NULL;
        r = QS_ERR_NOMEM;
        goto out;
    }
    memcpy(*pass, colon + 1, plen);
    (*pass)[plen] = '\0';
    *pass_len = plen;
    r = QS_OK;
out:
    qs_free_wiped(raw, cap + 1);
    return r;
}
