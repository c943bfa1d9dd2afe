/*
 * The one table from qs_err to HTTP status, CSC error code and default error_description.
 * A switch without default: a new code in util/err.h does not compile until it is mapped here.
 * Descriptions the CSC specification fixes are copied verbatim (REFERENCES.md).
 *
 * 5xx entries say nothing about the cause: the details go to the log, never to the client.
 * Each entry also names the metrics counter an error reply of that code increments.
 */
#include "api/api_internal.h"

#define ERRC(st, code, v1, text, ctr)                                                              \
    (api_err_info)                                                                                 \
    {                                                                                              \
        .status = (st), .error = (code), .error_v1 = (v1), .description = (text), .counter = (ctr) \
    }
#define ERR(st, code, v1, text) ERRC(st, code, v1, text, API_NO_COUNTER)

#define SERVER_ERROR_C(c) ERRC(500, "server_error", NULL, "Internal server error", c)
#define SERVER_ERROR      SERVER_ERROR_C(API_NO_COUNTER)
#define UNAVAILABLE_C(c)                                                                           \
    ERRC(503, "temporarily_unavailable", NULL, "Service temporarily unavailable", c)
#define INVALID_AUTH_DATA "invalid_authentication_data"

api_err_info api_err_lookup(int e)
{
    switch ((qs_err)e) {
    case QS_OK: /* an error reply with success is our bug */
    case QS_ERR_INTERNAL:
    case QS_ERR_NOMEM:
    case QS_ERR_CONFIG:
    case QS_ERR_IO:
    case QS_ERR_CRYPTO:
    case QS_ERR_HSM:
    case QS_ERR_HSM_LOGIN:
    case QS_ERR_HSM_TOKEN_NOT_FOUND:
    case QS_ERR_HSM_KEY_NOT_FOUND:
    case QS_ERR_HSM_MECHANISM:
    case QS_ERR_HSM_BAD_BLOB:
    case QS_ERR_HSM_KEY_POLICY:
    case QS_ERR_MAC:
        return SERVER_ERROR;
    case QS_ERR_DB:
    case QS_ERR_DB_CONSTRAINT:
    case QS_ERR_DB_PERMISSION:
        return SERVER_ERROR_C(API_C_DB_ERRORS);
    /* The SAM is qsignd's only protocol peer: these come from talking to it. */
    case QS_ERR_PROTO:
    case QS_ERR_FORBIDDEN:
        return SERVER_ERROR_C(API_C_SAM_ERRORS);
    case QS_ERR_HSM_UNAVAILABLE:
        return UNAVAILABLE_C(API_NO_COUNTER);
    case QS_ERR_DB_UNAVAILABLE:
    case QS_ERR_DB_RETRY:
    case QS_ERR_DB_SCHEMA:
        return UNAVAILABLE_C(API_C_DB_ERRORS);
    case QS_ERR_EOF:
    case QS_ERR_TIMEOUT:
        return UNAVAILABLE_C(API_C_SAM_ERRORS);
    case QS_ERR_INVALID_ARGUMENT:
        return ERR(400, "invalid_request", NULL, "Invalid request");
    case QS_ERR_PARSE:
        return ERR(400, "invalid_request", NULL, "Malformed request");
    case QS_ERR_NOT_FOUND:
        return ERR(404, "not_found", NULL, "The requested resource does not exist");
    case QS_ERR_EXISTS:
        return ERR(409, "invalid_request", NULL, "Already exists");
    case QS_ERR_TOO_LARGE:
        return ERR(413, "invalid_request", NULL, "Request body too large");
    case QS_ERR_UNSUPPORTED:
        return ERR(501, "not_implemented_method", NULL, "Not implemented");
    case QS_ERR_AUTH_FAILED:
        return ERRC(400, INVALID_AUTH_DATA, "invalid_pin", "Invalid authentication data",
                    API_C_AUTHORIZATION_FAILURES);
    case QS_ERR_AUTH_PIN:
        return ERRC(400, INVALID_AUTH_DATA, "invalid_pin", "Invalid PIN",
                    API_C_AUTHORIZATION_FAILURES);
    case QS_ERR_AUTH_OTP:
    case QS_ERR_AUTH_REPLAY:
        return ERRC(400, INVALID_AUTH_DATA, "invalid_otp", "Invalid OTP",
                    API_C_AUTHORIZATION_FAILURES);
    case QS_ERR_AUTH_LOCKED:
        return ERRC(400, "invalid_request", NULL, "Credential locked", API_C_LOCKOUTS);
    case QS_ERR_AUTH_POLICY:
        return ERR(400, "invalid_request", NULL, "The secret does not meet the policy");
    case QS_ERR_SAD_EXPIRED:
        return ERR(400, "invalid_request", NULL, "SAD expired");
    case QS_ERR_SAD_INVALID:
        return ERR(400, "invalid_request", NULL, "Invalid parameter SAD");
    case QS_ERR_HASH_NOT_AUTHORIZED:
    case QS_ERR_HASH_CONSUMED:
        return ERR(400, "invalid_request", NULL, "Hash is not authorized by the SAD");
    case QS_ERR_TOO_MANY_SIGNATURES:
        return ERR(400, "invalid_request", NULL, "Numbers of signatures is too high");
    case QS_ERR_CREDENTIAL_DISABLED:
        return ERR(400, "invalid_request", NULL, "Credential disabled");
    case QS_ERR_USER_INACTIVE:
        return ERR(403, "access_denied", NULL, "Access denied");
    case QS_ERR_TOKEN_INVALID:
        return ERR(401, "invalid_token", NULL, "Invalid access token");
    case QS_ERR_TOKEN_EXPIRED:
        return ERR(401, "expired_token", NULL, "Expired access token");
    case QS_ERR_LOGIN_FAILED:
        return ERRC(401, "access_denied", NULL, "Invalid username or password",
                    API_C_LOGIN_FAILURES);
    case QS_ERR_RATE_LIMITED:
        return ERRC(429, "too_many_requests", NULL, "Too many attempts, retry later",
                    API_C_RATE_LIMITED);
    case QS_ERR_METHOD_NOT_ALLOWED:
        return ERR(405, "invalid_request", NULL, "Method not allowed");
    case QS_ERR_URI_TOO_LONG:
        return ERR(414, "invalid_request", NULL, "Request URI too long");
    case QS_ERR_HEADERS_TOO_LARGE:
        return ERR(431, "invalid_request", NULL, "Request headers too large");
    case QS_ERR_CERT_EXPIRED:
        return ERR(400, "invalid_request", NULL, "Signing certificate is expired");
    case QS_ERR_CERT_REVOKED:
        return ERR(400, "invalid_request", NULL, "Signing certificate is revoked");
    case QS_ERR_CA_NOT_READY:
        return UNAVAILABLE_C(API_NO_COUNTER);
    case QS_ERR_WRONG_ROLE:
        return ERR(403, "access_denied", NULL, "This session does not carry the role this needs");
    case QS_ERR_NOT_CONFIGURED:
        return ERRC(503, "temporarily_unavailable", NULL, "Not configured on this server",
                    API_NO_COUNTER);
    case QS_ERR_CERT_MISSING:
        return ERR(400, "invalid_request", NULL, "The credential has no signing certificate");
    case QS_ERR_CROSS_ORIGIN:
        return ERR(403, "access_denied", NULL, "Cross-origin request refused");
    }
    return SERVER_ERROR;
}

const char *api_err_code(int e, api_ver v)
{
    api_err_info info = api_err_lookup(e);
    if (v == API_V1 && info.error_v1 != NULL)
        return info.error_v1;
    return info.error;
}
