/*
 * Login passwords: Argon2id verifiers (libsodium crypto_pwhash_str), set by
 * `qsignctl account set-password` and checked by auth/login.
 */
#define QS_LOG_MODULE "api"
#include <string.h>

#include <sodium.h>

#include "api/api_internal.h"
#include "util/log.h"

#define API_VERIFIER_PREFIX "$argon2id$"

qs_err api_password_verify(const char *verifier, const char *pw, size_t len)
{
    if (strncmp(verifier, API_VERIFIER_PREFIX, strlen(API_VERIFIER_PREFIX)) != 0) {
        qs_error("stored login verifier is not Argon2id");
        return QS_ERR_LOGIN_FAILED;
    }
    if (len == 0 || len > API_PASSWORD_MAX)
        return QS_ERR_LOGIN_FAILED;
    if (crypto_pwhash_str_verify(verifier, pw, len) != 0)
        return QS_ERR_LOGIN_FAILED;
    return QS_OK;
}

void api_password_verify_dummy(api_request *rq, const char *pw, size_t len)
{
    const char *v = rq->srv->dummy_verifier;
    if (v == NULL || len == 0 || len > API_PASSWORD_MAX)
        return;
    int rc = crypto_pwhash_str_verify(v, pw, len);
    (void)rc; /* the answer is known: only the time matters */
}
