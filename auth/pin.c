/*
 * Signing PIN knowledge factor: policy check and an Argon2id verifier (libsodium) over the PIN
 * HMAC-peppered in the HSM, so that a database dump alone allows no offline guessing.
 */
#include "auth/auth.h"

#include <string.h>

#include <sodium.h>

#include "util/secret.h"

_Static_assert(QS_PIN_VERIFIER_MAX == crypto_pwhash_STRBYTES, "verifier buffer size");
_Static_assert(QS_PIN_DEFAULT_OPSLIMIT == crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
               "default opslimit");
_Static_assert(QS_PIN_DEFAULT_MEMLIMIT == crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE,
               "default memlimit");

qs_err qs_pin_config_check(const qs_pin_config *c)
{
    if (c == NULL || c->min_len < QS_PIN_MIN_LEN_FLOOR || c->min_len > QS_PIN_MAX_LEN)
        return QS_ERR_CONFIG;
    bool charset_ok = false;
    switch (c->charset) {
    case QS_PIN_DIGITS:
    case QS_PIN_ALPHANUMERIC:
        charset_ok = true;
        break;
    }
    if (!charset_ok)
        return QS_ERR_CONFIG;
    if (c->opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
        c->opslimit > crypto_pwhash_argon2id_OPSLIMIT_MAX ||
        c->memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
        c->memlimit > crypto_pwhash_argon2id_MEMLIMIT_MAX)
        return QS_ERR_CONFIG;
    return QS_OK;
}

const char *qs_pin_rule_str(qs_pin_rule rule)
{
    switch (rule) {
    case QS_PIN_RULE_OK:
        return "PIN meets the policy";
    case QS_PIN_RULE_MIN_LENGTH:
        return "PIN is shorter than the minimum length";
    case QS_PIN_RULE_MAX_LENGTH:
        return "PIN is longer than the maximum length";
    case QS_PIN_RULE_DIGITS_ONLY:
        return "PIN must consist of digits only";
    case QS_PIN_RULE_ALPHANUMERIC_ONLY:
        return "PIN must consist of ASCII letters and digits only";
    }
    return "unknown PIN rule";
}

qs_err qs_pin_policy_check(const qs_pin_config *c, const char *pin, size_t pin_len,
                           qs_pin_rule *rule)
{
    qs_pin_rule broken = QS_PIN_RULE_OK;

    if (pin == NULL && pin_len > 0)
        return QS_ERR_INVALID_ARGUMENT;
    if (pin_len < c->min_len) {
        broken = QS_PIN_RULE_MIN_LENGTH;
    } else if (pin_len > QS_PIN_MAX_LEN) {
        broken = QS_PIN_RULE_MAX_LENGTH;
    } else {
        for (size_t i = 0; i < pin_len && broken == QS_PIN_RULE_OK; i++) {
            char ch = pin[i];
            bool digit = ch >= '0' && ch <= '9';
            bool alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
            if (c->charset == QS_PIN_DIGITS && !digit)
                broken = QS_PIN_RULE_DIGITS_ONLY;
            else if (c->charset == QS_PIN_ALPHANUMERIC && !digit && !alpha)
                broken = QS_PIN_RULE_ALPHANUMERIC_ONLY;
        }
    }
    if (rule != NULL)
        *rule = broken;
    return broken == QS_PIN_RULE_OK ? QS_OK : QS_ERR_AUTH_POLICY;
}

qs_err qs_pin_hash(const qs_pin_config *c, const char *pin, size_t pin_len, qs_pin_pepper_fn pepper,
                   void *cls, char verifier[static QS_PIN_VERIFIER_MAX], qs_pin_rule *rule)
{
    qs_err r = QS_ERR_INTERNAL;
    uint8_t peppered[QS_PIN_PEPPER_LEN];

    memset(verifier, 0, QS_PIN_VERIFIER_MAX);
    memset(peppered, 0, sizeof peppered);
    if (rule != NULL)
        *rule = QS_PIN_RULE_OK;
    if (pepper == NULL) {
        r = QS_ERR_INVALID_ARGUMENT;
        goto out;
    }
    if ((r = qs_pin_config_check(c)) != QS_OK)
        goto out;
    if ((r = qs_pin_policy_check(c, pin, pin_len, rule)) != QS_OK)
        goto out;
    if ((r = pepper(cls, (const uint8_t *)pin, pin_len, peppered)) != QS_OK)
        goto out;
    if (crypto_pwhash_str_alg(verifier, (const char *)peppered, sizeof peppered, c->opslimit,
                              c->memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        /* the limits were checked above: only the memory allocation can fail */
        memset(verifier, 0, QS_PIN_VERIFIER_MAX);
        r = QS_ERR_NOMEM;
        goto out;
    }
    r = QS_OK;
out:
    qs_wipe(peppered, sizeof peppered);
    return r;
}

/* A well-formed Argon2id verifier string (libsodium parses it; the limits given do not matter). */
static bool qs_pin_is_argon2id(const char *verifier)
{
    size_t n = strlen(QS_PIN_VERIFIER_PREFIX);
    return verifier != NULL && strnlen(verifier, QS_PIN_VERIFIER_MAX) < QS_PIN_VERIFIER_MAX &&
           strncmp(verifier, QS_PIN_VERIFIER_PREFIX, n) == 0 &&
           crypto_pwhash_argon2id_str_needs_rehash(verifier, crypto_pwhash_argon2id_OPSLIMIT_MIN,
                                                   crypto_pwhash_argon2id_MEMLIMIT_MIN) >= 0;
}

qs_err qs_pin_verify(const char *verifier, const char *pin, size_t pin_len, qs_pin_pepper_fn pepper,
                     void *cls)
{
    qs_err r = QS_ERR_INTERNAL;
    uint8_t peppered[QS_PIN_PEPPER_LEN];

    memset(peppered, 0, sizeof peppered);
    if (pepper == NULL || (pin == NULL && pin_len > 0)) {
        r = QS_ERR_INVALID_ARGUMENT;
        goto out;
    }
    if (!qs_pin_is_argon2id(verifier)) {
        r = QS_ERR_PARSE;
        goto out;
    }
    /* No PIN of these lengths was ever accepted: no need to spend HSM or Argon2 work on it. */
    if (pin_len == 0 || pin_len > QS_PIN_MAX_LEN) {
        r = QS_ERR_AUTH_FAILED;
        goto out;
    }
    if ((r = pepper(cls, (const uint8_t *)pin, pin_len, peppered)) != QS_OK)
        goto out;
    if (crypto_pwhash_str_verify(verifier, (const char *)peppered, sizeof peppered) != 0) {
        r = QS_ERR_AUTH_FAILED;
        goto out;
    }
    r = QS_OK;
out:
    qs_wipe(peppered, sizeof peppered);
    return r;
}

qs_err qs_pin_needs_rehash(const qs_pin_config *c, const char *verifier, bool *rehash)
{
    *rehash = false;
    if (qs_pin_config_check(c) != QS_OK)
        return QS_ERR_CONFIG;
    if (!qs_pin_is_argon2id(verifier))
        return QS_ERR_PARSE;
    *rehash = crypto_pwhash_str_needs_rehash(verifier, c->opslimit, c->memlimit) != 0;
    return QS_OK;
}
