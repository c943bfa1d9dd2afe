/*
 * The project's one error enum.  0 is success, every error is negative.
 *
 * This list is a registry: append new codes at the end with the next free number, never
 * renumber or reuse one, because codes appear in logs, audit records and the SAM protocol.
 * The mapping to HTTP status and CSC error lives in one table in the API module.
 */
#ifndef QS_UTIL_ERR_H
#define QS_UTIL_ERR_H

#define QS_MUST_CHECK __attribute__((warn_unused_result))

/* X(name, value, description) */
#define QS_ERROR_LIST(X)                                                                           \
    X(QS_OK, 0, "success")                                                                         \
    X(QS_ERR_INTERNAL, -1, "internal error")                                                       \
    X(QS_ERR_NOMEM, -2, "out of memory")                                                           \
    X(QS_ERR_INVALID_ARGUMENT, -3, "invalid argument")                                             \
    X(QS_ERR_CONFIG, -4, "configuration error")                                                    \
    X(QS_ERR_IO, -5, "input/output error")                                                         \
    X(QS_ERR_NOT_FOUND, -6, "not found")                                                           \
    X(QS_ERR_EXISTS, -7, "already exists")                                                         \
    X(QS_ERR_PARSE, -8, "malformed input")                                                         \
    X(QS_ERR_TOO_LARGE, -9, "input too large")                                                     \
    X(QS_ERR_UNSUPPORTED, -10, "not supported")                                                    \
    X(QS_ERR_CRYPTO, -11, "cryptographic library error")                                           \
    X(QS_ERR_HSM, -12, "HSM error")                                                                \
    X(QS_ERR_HSM_UNAVAILABLE, -13, "HSM unavailable")                                              \
    X(QS_ERR_HSM_LOGIN, -14, "HSM login refused")                                                  \
    X(QS_ERR_HSM_TOKEN_NOT_FOUND, -15, "HSM token not found")                                      \
    X(QS_ERR_HSM_KEY_NOT_FOUND, -16, "HSM key not found")                                          \
    X(QS_ERR_HSM_MECHANISM, -17, "mechanism not supported by the HSM")                             \
    X(QS_ERR_HSM_BAD_BLOB, -18, "wrapped key rejected by the HSM")                                 \
    X(QS_ERR_HSM_KEY_POLICY, -19, "key use refused by the key's attributes")                       \
    X(QS_ERR_DB, -20, "database error")                                                            \
    X(QS_ERR_DB_UNAVAILABLE, -21, "database unavailable")                                          \
    X(QS_ERR_DB_RETRY, -22, "database serialization failure or deadlock")                          \
    X(QS_ERR_DB_CONSTRAINT, -23, "database constraint violated")                                   \
    X(QS_ERR_DB_PERMISSION, -24, "permission denied by the database")                              \
    X(QS_ERR_DB_SCHEMA, -25, "database schema version mismatch")                                   \
    X(QS_ERR_MAC, -26, "record MAC mismatch")                                                      \
    X(QS_ERR_AUTH_FAILED, -27, "authentication failed")                                            \
    X(QS_ERR_AUTH_REPLAY, -28, "one-time password already used")                                   \
    X(QS_ERR_AUTH_LOCKED, -29, "credential locked")                                                \
    X(QS_ERR_AUTH_POLICY, -30, "secret does not meet the policy")                                  \
    X(QS_ERR_PROTO, -31, "SAM protocol violation")                                                 \
    X(QS_ERR_EOF, -32, "connection closed by peer")                                                \
    X(QS_ERR_TIMEOUT, -33, "timed out")                                                            \
    X(QS_ERR_AUTH_PIN, -34, "wrong PIN")                                                           \
    X(QS_ERR_AUTH_OTP, -35, "wrong one-time password")                                             \
    X(QS_ERR_SAD_EXPIRED, -36, "SAD expired")                                                      \
    X(QS_ERR_SAD_INVALID, -37, "SAD invalid")                                                      \
    X(QS_ERR_HASH_NOT_AUTHORIZED, -38, "hash is not authorized by the SAD")                        \
    X(QS_ERR_HASH_CONSUMED, -39, "hash already signed under this SAD")                             \
    X(QS_ERR_TOO_MANY_SIGNATURES, -40, "number of signatures too high")                            \
    X(QS_ERR_FORBIDDEN, -41, "request not permitted for this peer")                                \
    X(QS_ERR_CREDENTIAL_DISABLED, -42, "credential disabled or destroyed")                         \
    X(QS_ERR_USER_INACTIVE, -43, "user suspended or closed")                                       \
    X(QS_ERR_TOKEN_INVALID, -44, "access token missing, unknown or revoked")                       \
    X(QS_ERR_TOKEN_EXPIRED, -45, "access token expired")                                           \
    X(QS_ERR_LOGIN_FAILED, -46, "wrong username or password")                                      \
    X(QS_ERR_RATE_LIMITED, -47, "too many requests")                                               \
    X(QS_ERR_METHOD_NOT_ALLOWED, -48, "HTTP method not allowed")                                   \
    X(QS_ERR_URI_TOO_LONG, -49, "request URI too long")                                            \
    X(QS_ERR_HEADERS_TOO_LARGE, -50, "request headers too large")                                  \
    X(QS_ERR_CERT_EXPIRED, -51, "signing certificate expired")                                     \
    X(QS_ERR_CERT_REVOKED, -52, "signing certificate revoked")                                     \
    X(QS_ERR_CA_NOT_READY, -53, "certification authority not initialised")                         \
    X(QS_ERR_WRONG_ROLE, -54, "session does not carry the role this needs")                        \
    X(QS_ERR_NOT_CONFIGURED, -55, "service not configured")                                        \
    X(QS_ERR_CERT_MISSING, -56, "credential has no certificate")                                   \
    X(QS_ERR_CROSS_ORIGIN, -57, "cross-origin request refused")

typedef enum qs_err {
#define QS_ERR_ENUM_(name, value, text) name = (value),
    QS_ERROR_LIST(QS_ERR_ENUM_)
#undef QS_ERR_ENUM_
} qs_err;

/* A static, human-readable description of `e`; "unknown error" for a value not in the list. */
const char *qs_err_str(int e);

/* The enumerator's name ("QS_ERR_MAC"), for logs; "QS_ERR_UNKNOWN" for a value not in the list. */
const char *qs_err_name(int e);

#endif
