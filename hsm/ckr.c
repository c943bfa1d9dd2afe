/*
 * PKCS#11 return values: their names for log lines and the one mapping to the project's errors.
 * Token and infrastructure trouble, login trouble, missing keys, refused key use and our own
 * misuse of the API land on different codes, so callers and operators can tell them apart.
 */
#define QS_LOG_MODULE "hsm"

#include <stddef.h>

#include "hsm/hsm_impl.h"
#include "util/log.h"

#define HSM_CKR_LIST(X)                                                                            \
    X(CKR_OK)                                                                                      \
    X(CKR_CANCEL)                                                                                  \
    X(CKR_HOST_MEMORY)                                                                             \
    X(CKR_SLOT_ID_INVALID)                                                                         \
    X(CKR_GENERAL_ERROR)                                                                           \
    X(CKR_FUNCTION_FAILED)                                                                         \
    X(CKR_ARGUMENTS_BAD)                                                                           \
    X(CKR_NO_EVENT)                                                                                \
    X(CKR_NEED_TO_CREATE_THREADS)                                                                  \
    X(CKR_CANT_LOCK)                                                                               \
    X(CKR_ATTRIBUTE_READ_ONLY)                                                                     \
    X(CKR_ATTRIBUTE_SENSITIVE)                                                                     \
    X(CKR_ATTRIBUTE_TYPE_INVALID)                                                                  \
    X(CKR_ATTRIBUTE_VALUE_INVALID)                                                                 \
    X(CKR_ACTION_PROHIBITED)                                                                       \
    X(CKR_DATA_INVALID)                                                                            \
    X(CKR_DATA_LEN_RANGE)                                                                          \
    X(CKR_DEVICE_ERROR)                                                                            \
    X(CKR_DEVICE_MEMORY)                                                                           \
    X(CKR_DEVICE_REMOVED)                                                                          \
    X(CKR_ENCRYPTED_DATA_INVALID)                                                                  \
    X(CKR_ENCRYPTED_DATA_LEN_RANGE)                                                                \
    X(CKR_FUNCTION_CANCELED)                                                                       \
    X(CKR_FUNCTION_NOT_PARALLEL)                                                                   \
    X(CKR_FUNCTION_NOT_SUPPORTED)                                                                  \
    X(CKR_KEY_HANDLE_INVALID)                                                                      \
    X(CKR_KEY_SIZE_RANGE)                                                                          \
    X(CKR_KEY_TYPE_INCONSISTENT)                                                                   \
    X(CKR_KEY_NOT_NEEDED)                                                                          \
    X(CKR_KEY_CHANGED)                                                                             \
    X(CKR_KEY_NEEDED)                                                                              \
    X(CKR_KEY_INDIGESTIBLE)                                                                        \
    X(CKR_KEY_FUNCTION_NOT_PERMITTED)                                                              \
    X(CKR_KEY_NOT_WRAPPABLE)                                                                       \
    X(CKR_KEY_UNEXTRACTABLE)                                                                       \
    X(CKR_MECHANISM_INVALID)                                                                       \
    X(CKR_MECHANISM_PARAM_INVALID)                                                                 \
    X(CKR_OBJECT_HANDLE_INVALID)                                                                   \
    X(CKR_OPERATION_ACTIVE)                                                                        \
    X(CKR_OPERATION_NOT_INITIALIZED)                                                               \
    X(CKR_PIN_INCORRECT)                                                                           \
    X(CKR_PIN_INVALID)                                                                             \
    X(CKR_PIN_LEN_RANGE)                                                                           \
    X(CKR_PIN_EXPIRED)                                                                             \
    X(CKR_PIN_LOCKED)                                                                              \
    X(CKR_SESSION_CLOSED)                                                                          \
    X(CKR_SESSION_COUNT)                                                                           \
    X(CKR_SESSION_HANDLE_INVALID)                                                                  \
    X(CKR_SESSION_PARALLEL_NOT_SUPPORTED)                                                          \
    X(CKR_SESSION_READ_ONLY)                                                                       \
    X(CKR_SESSION_EXISTS)                                                                          \
    X(CKR_SESSION_READ_ONLY_EXISTS)                                                                \
    X(CKR_SESSION_READ_WRITE_SO_EXISTS)                                                            \
    X(CKR_SIGNATURE_INVALID)                                                                       \
    X(CKR_SIGNATURE_LEN_RANGE)                                                                     \
    X(CKR_TEMPLATE_INCOMPLETE)                                                                     \
    X(CKR_TEMPLATE_INCONSISTENT)                                                                   \
    X(CKR_TOKEN_NOT_PRESENT)                                                                       \
    X(CKR_TOKEN_NOT_RECOGNIZED)                                                                    \
    X(CKR_TOKEN_WRITE_PROTECTED)                                                                   \
    X(CKR_UNWRAPPING_KEY_HANDLE_INVALID)                                                           \
    X(CKR_UNWRAPPING_KEY_SIZE_RANGE)                                                               \
    X(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT)                                                        \
    X(CKR_USER_ALREADY_LOGGED_IN)                                                                  \
    X(CKR_USER_NOT_LOGGED_IN)                                                                      \
    X(CKR_USER_PIN_NOT_INITIALIZED)                                                                \
    X(CKR_USER_TYPE_INVALID)                                                                       \
    X(CKR_USER_ANOTHER_ALREADY_LOGGED_IN)                                                          \
    X(CKR_USER_TOO_MANY_TYPES)                                                                     \
    X(CKR_WRAPPED_KEY_INVALID)                                                                     \
    X(CKR_WRAPPED_KEY_LEN_RANGE)                                                                   \
    X(CKR_WRAPPING_KEY_HANDLE_INVALID)                                                             \
    X(CKR_WRAPPING_KEY_SIZE_RANGE)                                                                 \
    X(CKR_WRAPPING_KEY_TYPE_INCONSISTENT)                                                          \
    X(CKR_RANDOM_SEED_NOT_SUPPORTED)                                                               \
    X(CKR_RANDOM_NO_RNG)                                                                           \
    X(CKR_DOMAIN_PARAMS_INVALID)                                                                   \
    X(CKR_CURVE_NOT_SUPPORTED)                                                                     \
    X(CKR_BUFFER_TOO_SMALL)                                                                        \
    X(CKR_SAVED_STATE_INVALID)                                                                     \
    X(CKR_INFORMATION_SENSITIVE)                                                                   \
    X(CKR_STATE_UNSAVEABLE)                                                                        \
    X(CKR_CRYPTOKI_NOT_INITIALIZED)                                                                \
    X(CKR_CRYPTOKI_ALREADY_INITIALIZED)                                                            \
    X(CKR_MUTEX_BAD)                                                                               \
    X(CKR_MUTEX_NOT_LOCKED)                                                                        \
    X(CKR_NEW_PIN_MODE)                                                                            \
    X(CKR_NEXT_OTP)                                                                                \
    X(CKR_EXCEEDED_MAX_ITERATIONS)                                                                 \
    X(CKR_FIPS_SELF_TEST_FAILED)                                                                   \
    X(CKR_LIBRARY_LOAD_FAILED)                                                                     \
    X(CKR_PIN_TOO_WEAK)                                                                            \
    X(CKR_PUBLIC_KEY_INVALID)                                                                      \
    X(CKR_FUNCTION_REJECTED)

static const struct {
    CK_RV rv;
    const char *name;
} hsm_ckr_names[] = {
#define HSM_CKR_ENTRY_(name) {name, #name},
    HSM_CKR_LIST(HSM_CKR_ENTRY_)
#undef HSM_CKR_ENTRY_
};

const char *qs_hsm_ckr_name(CK_RV rv)
{
    for (size_t i = 0; i < sizeof hsm_ckr_names / sizeof hsm_ckr_names[0]; i++) {
        if (hsm_ckr_names[i].rv == rv)
            return hsm_ckr_names[i].name;
    }
    return (rv & CKR_VENDOR_DEFINED) != 0 ? "CKR_VENDOR_DEFINED" : "CKR_UNKNOWN";
}

/* CK_RV is an unsigned long, not an enum: vendor codes exist, so this switch needs a default. */
qs_err qs_hsm_ckr_err(CK_RV rv)
{
    switch (rv) {
    case CKR_OK:
        return QS_OK;

    case CKR_HOST_MEMORY:
    case CKR_DEVICE_MEMORY:
        return QS_ERR_NOMEM;

    /* The token or the module is not usable right now: retry later. */
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_COUNT:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
    case CKR_CANT_LOCK:
    case CKR_NEED_TO_CREATE_THREADS:
    case CKR_FUNCTION_CANCELED:
    case CKR_CANCEL:
    case CKR_LIBRARY_LOAD_FAILED:
    case CKR_FIPS_SELF_TEST_FAILED:
    case CKR_STATE_UNSAVEABLE:
        return QS_ERR_HSM_UNAVAILABLE;

    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
    case CKR_PIN_EXPIRED:
    case CKR_PIN_LOCKED:
    case CKR_PIN_TOO_WEAK:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_USER_PIN_NOT_INITIALIZED:
    case CKR_USER_TYPE_INVALID:
    case CKR_USER_ANOTHER_ALREADY_LOGGED_IN:
    case CKR_USER_TOO_MANY_TYPES:
    case CKR_USER_ALREADY_LOGGED_IN:
    case CKR_SESSION_READ_ONLY_EXISTS:
    case CKR_SESSION_READ_WRITE_SO_EXISTS:
        return QS_ERR_HSM_LOGIN;

    case CKR_SLOT_ID_INVALID:
    case CKR_TOKEN_NOT_RECOGNIZED:
        return QS_ERR_HSM_TOKEN_NOT_FOUND;

    case CKR_KEY_HANDLE_INVALID:
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_WRAPPING_KEY_HANDLE_INVALID:
    case CKR_UNWRAPPING_KEY_HANDLE_INVALID:
        return QS_ERR_HSM_KEY_NOT_FOUND;

    case CKR_MECHANISM_INVALID:
    case CKR_MECHANISM_PARAM_INVALID:
    case CKR_FUNCTION_NOT_SUPPORTED:
    case CKR_FUNCTION_NOT_PARALLEL:
    case CKR_CURVE_NOT_SUPPORTED:
    case CKR_DOMAIN_PARAMS_INVALID:
    case CKR_KEY_SIZE_RANGE:
    case CKR_RANDOM_NO_RNG:
    case CKR_RANDOM_SEED_NOT_SUPPORTED:
    case CKR_SESSION_PARALLEL_NOT_SUPPORTED:
        return QS_ERR_HSM_MECHANISM;

    case CKR_WRAPPED_KEY_INVALID:
    case CKR_WRAPPED_KEY_LEN_RANGE:
    case CKR_UNWRAPPING_KEY_SIZE_RANGE:
    case CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT:
        return QS_ERR_HSM_BAD_BLOB;

    /* The key's attributes forbid what was asked. */
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
    case CKR_KEY_NOT_WRAPPABLE:
    case CKR_KEY_UNEXTRACTABLE:
    case CKR_ATTRIBUTE_SENSITIVE:
    case CKR_ACTION_PROHIBITED:
    case CKR_KEY_TYPE_INCONSISTENT:
    case CKR_WRAPPING_KEY_TYPE_INCONSISTENT:
    case CKR_WRAPPING_KEY_SIZE_RANGE:
    case CKR_KEY_INDIGESTIBLE:
    case CKR_KEY_CHANGED:
    case CKR_KEY_NEEDED:
    case CKR_KEY_NOT_NEEDED:
    case CKR_INFORMATION_SENSITIVE:
    case CKR_TOKEN_WRITE_PROTECTED:
        return QS_ERR_HSM_KEY_POLICY;

    /* Data the caller handed over does not fit the operation. */
    case CKR_DATA_INVALID:
    case CKR_DATA_LEN_RANGE:
        return QS_ERR_INVALID_ARGUMENT;

    /* Authenticated data failed its check. */
    case CKR_ENCRYPTED_DATA_INVALID:
    case CKR_ENCRYPTED_DATA_LEN_RANGE:
    case CKR_SIGNATURE_INVALID:
    case CKR_SIGNATURE_LEN_RANGE:
        return QS_ERR_MAC;

    case CKR_PUBLIC_KEY_INVALID:
        return QS_ERR_CRYPTO;

    /* Our own misuse of the API: a bug here, not a property of the input. */
    case CKR_ARGUMENTS_BAD:
    case CKR_ATTRIBUTE_READ_ONLY:
    case CKR_ATTRIBUTE_TYPE_INVALID:
    case CKR_ATTRIBUTE_VALUE_INVALID:
    case CKR_TEMPLATE_INCOMPLETE:
    case CKR_TEMPLATE_INCONSISTENT:
    case CKR_OPERATION_ACTIVE:
    case CKR_OPERATION_NOT_INITIALIZED:
    case CKR_BUFFER_TOO_SMALL:
    case CKR_SESSION_READ_ONLY:
    case CKR_SESSION_EXISTS:
    case CKR_CRYPTOKI_ALREADY_INITIALIZED:
    case CKR_MUTEX_BAD:
    case CKR_MUTEX_NOT_LOCKED:
    case CKR_SAVED_STATE_INVALID:
    case CKR_NO_EVENT:
    case CKR_NEW_PIN_MODE:
    case CKR_NEXT_OTP:
    case CKR_EXCEEDED_MAX_ITERATIONS:
        return QS_ERR_INTERNAL;

    case CKR_GENERAL_ERROR:
    case CKR_FUNCTION_FAILED:
    case CKR_FUNCTION_REJECTED:
        return QS_ERR_HSM;

    default:
        return QS_ERR_HSM;
    }
}

bool hsm_err_is_infra(qs_err e)
{
    return e == QS_ERR_HSM_UNAVAILABLE || e == QS_ERR_NOMEM || e == QS_ERR_HSM_LOGIN ||
           e == QS_ERR_INTERNAL || e == QS_ERR_HSM_KEY_NOT_FOUND || e == QS_ERR_HSM_MECHANISM;
}

/* Errors that a caller's input or the token's state explain, as opposed to failures of the
 * token or of this code. */
static bool hsm_err_expected(qs_err e)
{
    return e == QS_ERR_HSM_BAD_BLOB || e == QS_ERR_HSM_KEY_POLICY || e == QS_ERR_INVALID_ARGUMENT ||
           e == QS_ERR_MAC || e == QS_ERR_HSM_LOGIN || e == QS_ERR_HSM_KEY_NOT_FOUND;
}

qs_err hsm_ck_at(CK_RV rv, const char *call, const char *file, int line)
{
    qs_err e = qs_hsm_ckr_err(rv);
    if (e == QS_OK)
        return QS_OK;
    if (e == QS_ERR_INTERNAL) {
        qs_log_msg(QS_LOG_ERROR, QS_LOG_MODULE, file, line, "%s failed: %s (0x%lx)", call,
                   qs_hsm_ckr_name(rv), (unsigned long)rv);
        return e;
    }
    qs_log_msg(hsm_err_expected(e) ? QS_LOG_WARN : QS_LOG_ERROR, QS_LOG_MODULE, NULL, 0,
               "%s failed: %s (0x%lx)", call, qs_hsm_ckr_name(rv), (unsigned long)rv);
    return e;
}
