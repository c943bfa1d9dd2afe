/*
 * TOTP possession factor (RFC 6238) over liboath: code generation, windowed verification that
 * accepts each time step once, and the otpauth:// provisioning URI.
 */
#include "auth/auth.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <oath.h>

#include "util/secret.h"

static pthread_once_t qs_totp_once_ = PTHREAD_ONCE_INIT;
static int qs_totp_oath_rc_ = OATH_OK;

static void qs_totp_init_once(void)
{
    qs_totp_oath_rc_ = oath_init();
}

static qs_err qs_totp_lib(void)
{
    if (pthread_once(&qs_totp_once_, qs_totp_init_once) != 0 || qs_totp_oath_rc_ != OATH_OK)
        return QS_ERR_CRYPTO;
    return QS_OK;
}

qs_err qs_totp_params_check(const qs_totp_params *p)
{
    if (p == NULL)
        return QS_ERR_INVALID_ARGUMENT;
    bool alg_ok = false;
    switch (p->alg) {
    case QS_TOTP_SHA1:
    case QS_TOTP_SHA256:
    case QS_TOTP_SHA512:
        alg_ok = true;
        break;
    }
    if (!alg_ok)
        return QS_ERR_INVALID_ARGUMENT;
    if (p->digits != 6 && p->digits != 8)
        return QS_ERR_INVALID_ARGUMENT;
    if (p->period < QS_TOTP_PERIOD_MIN || p->period > QS_TOTP_PERIOD_MAX)
        return QS_ERR_INVALID_ARGUMENT;
    return QS_OK;
}

void qs_totp_seed_new(uint8_t seed[static QS_TOTP_SEED_LEN])
{
    qs_random(seed, QS_TOTP_SEED_LEN);
}

qs_err qs_totp_step(const qs_totp_params *p, int64_t t, uint64_t *step)
{
    *step = 0;
    if (qs_totp_params_check(p) != QS_OK || t < 0)
        return QS_ERR_INVALID_ARGUMENT;
    *step = (uint64_t)t / p->period;
    return QS_OK;
}

static int qs_totp_oath_flags(qs_totp_alg alg)
{
    switch (alg) {
    case QS_TOTP_SHA1:
        return 0;
    case QS_TOTP_SHA256:
        return OATH_TOTP_HMAC_SHA256;
    case QS_TOTP_SHA512:
        return OATH_TOTP_HMAC_SHA512;
    }
    return -1;
}

qs_err qs_totp_generate(const qs_totp_params *p, const uint8_t *seed, size_t seed_len,
                        uint64_t step, char code[static QS_TOTP_CODE_BUF])
{
    memset(code, 0, QS_TOTP_CODE_BUF);
    if (qs_totp_params_check(p) != QS_OK || seed == NULL || seed_len < QS_TOTP_SEED_MIN ||
        seed_len > QS_TOTP_SEED_MAX)
        return QS_ERR_INVALID_ARGUMENT;
    /* liboath takes a time and divides it by the period again: hand it the step's start */
    if (step > (uint64_t)INT64_MAX / p->period)
        return QS_ERR_INVALID_ARGUMENT;
    qs_err r = qs_totp_lib();
    if (r != QS_OK)
        return r;
    time_t start = (time_t)(step * p->period);
    int rc = oath_totp_generate2((const char *)seed, seed_len, start, p->period,
                                 OATH_TOTP_DEFAULT_START_TIME, p->digits,
                                 qs_totp_oath_flags(p->alg), code);
    if (rc != OATH_OK) {
        qs_wipe(code, QS_TOTP_CODE_BUF);
        return QS_ERR_CRYPTO;
    }
    return QS_OK;
}

qs_err qs_totp_verify(const qs_totp_params *p, const uint8_t *seed, size_t seed_len,
                      const char *code, size_t code_len, int64_t now, uint64_t last_step,
                      uint64_t *matched_step)
{
    qs_err r = QS_ERR_INTERNAL;
    char cand[QS_TOTP_CODE_BUF];
    uint64_t cur = 0;
    bool format_ok = true, matched = false, replayed = false;

    *matched_step = 0;
    memset(cand, 0, sizeof cand);
    if (qs_totp_params_check(p) != QS_OK || seed == NULL || seed_len < QS_TOTP_SEED_MIN ||
        seed_len > QS_TOTP_SEED_MAX || (code == NULL && code_len > 0)) {
        r = QS_ERR_INVALID_ARGUMENT;
        goto out;
    }
    if ((r = qs_totp_step(p, now, &cur)) != QS_OK)
        goto out;

    /* A malformed code is a failed attempt, found after the same work as a wrong one. */
    if (code_len != p->digits)
        format_ok = false;
    for (size_t i = 0; format_ok && i < code_len; i++) {
        if (code[i] < '0' || code[i] > '9')
            format_ok = false;
    }

    for (int d = -QS_TOTP_WINDOW; d <= QS_TOTP_WINDOW; d++) {
        if (d < 0 && cur < (uint64_t)-d)
            continue;
        uint64_t s = cur + (uint64_t)(int64_t)d;
        if ((r = qs_totp_generate(p, seed, seed_len, s, cand)) != QS_OK)
            goto out;
        bool eq = format_ok && qs_ct_equal(cand, code, p->digits);
        qs_wipe(cand, sizeof cand);
        if (!eq)
            continue;
        if (s <= last_step) {
            replayed = true;
        } else if (!matched) {
            /* the earliest acceptable step, so the stored last step advances no further */
            matched = true;
            *matched_step = s;
        }
    }
    if (matched)
        r = QS_OK;
    else if (replayed)
        r = QS_ERR_AUTH_REPLAY;
    else
        r = QS_ERR_AUTH_FAILED;
out:
    qs_wipe(cand, sizeof cand);
    return r;
}

static bool qs_totp_label_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == ':')
            return false;
    }
    return true;
}

/* Appends the percent-encoding of `s` (RFC 3986 unreserved characters kept) at buf + *pos. */
static bool qs_totp_pct(char *buf, size_t cap, size_t *pos, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~';
        size_t need = keep ? 1 : 3;
        if (cap - *pos <= need)
            return false;
        if (keep) {
            buf[(*pos)++] = (char)c;
        } else {
            buf[(*pos)++] = '%';
            buf[(*pos)++] = hex[c >> 4];
            buf[(*pos)++] = hex[c & 0xf];
        }
    }
    buf[*pos] = '\0';
    return true;
}

static bool qs_totp_cat(char *buf, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (cap - *pos <= n)
        return false;
    memcpy(buf + *pos, s, n + 1);
    *pos += n;
    return true;
}

static const char *qs_totp_alg_name(qs_totp_alg alg)
{
    switch (alg) {
    case QS_TOTP_SHA1:
        return "SHA1";
    case QS_TOTP_SHA256:
        return "SHA256";
    case QS_TOTP_SHA512:
        return "SHA512";
    }
    return "?";
}

qs_err qs_totp_uri(const qs_totp_params *p, const char *issuer, const char *account,
                   const uint8_t *seed, size_t seed_len, char **uri)
{
    qs_err r = QS_ERR_INTERNAL;
    char *b32 = NULL, *buf = NULL;
    size_t b32_len = 0, pos = 0;
    char tail[96];

    *uri = NULL;
    if (qs_totp_params_check(p) != QS_OK || issuer == NULL || account == NULL || seed == NULL ||
        seed_len < QS_TOTP_SEED_MIN || seed_len > QS_TOTP_SEED_MAX ||
        !qs_totp_label_ok(issuer, QS_TOTP_ISSUER_MAX) ||
        !qs_totp_label_ok(account, QS_TOTP_ACCOUNT_MAX)) {
        r = QS_ERR_INVALID_ARGUMENT;
        goto out;
    }
    if ((r = qs_totp_lib()) != QS_OK)
        goto out;
    if (oath_base32_encode((const char *)seed, seed_len, &b32, &b32_len) != OATH_OK) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    /* authenticator apps expect the secret without '=' padding */
    size_t b32_used = b32_len;
    while (b32_used > 0 && b32[b32_used - 1] == '=')
        b32[--b32_used] = '\0';

    if ((buf = qs_secret_alloc(QS_TOTP_URI_MAX)) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    buf[0] = '\0';
    snprintf(tail, sizeof tail, "&algorithm=%s&digits=%u&period=%u", qs_totp_alg_name(p->alg),
             p->digits, p->period);
    if (!qs_totp_cat(buf, QS_TOTP_URI_MAX, &pos, "otpauth://totp/") ||
        !qs_totp_pct(buf, QS_TOTP_URI_MAX, &pos, issuer) ||
        !qs_totp_cat(buf, QS_TOTP_URI_MAX, &pos, ":") ||
        !qs_totp_pct(buf, QS_TOTP_URI_MAX, &pos, account) ||
        !qs_totp_cat(buf, QS_TOTP_URI_MAX, &pos, "?secret=") ||
        !qs_totp_cat(buf, QS_TOTP_URI_MAX, &pos, b32) ||
        !qs_totp_cat(buf, QS_TOTP_URI_MAX, &pos, "&issuer=") ||
        !qs_totp_pct(buf, QS_TOTP_URI_MAX, &pos, issuer) ||
        !qs_totp_cat(buf, QS_TOTP_URI_MAX, &pos, tail)) {
        r = QS_ERR_TOO_LARGE;
        goto out;
    }
    *uri = buf;
    buf = NULL;
    r = QS_OK;
out:
    qs_free_wiped(b32, b32_len);
    qs_secret_free(buf);
    return r;
}
