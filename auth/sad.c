/*
 * SAD handles: 256 random bits handed to the client as unpadded base64url; only their SHA-256
 * is stored, so a database reader cannot present a live SAD.
 */
#include "auth/auth.h"

#include <string.h>

#include <sodium.h>

#include "util/secret.h"

_Static_assert(QS_SAD_B64_BUF ==
                   sodium_base64_ENCODED_LEN(QS_SAD_HANDLE_LEN,
                                             sodium_base64_VARIANT_URLSAFE_NO_PADDING),
               "SAD transport length");
_Static_assert(QS_SAD_HASH_LEN == crypto_hash_sha256_BYTES, "SAD hash length");

qs_err qs_sad_handle_new(char b64[static QS_SAD_B64_BUF], uint8_t hash[static QS_SAD_HASH_LEN])
{
    uint8_t raw[QS_SAD_HANDLE_LEN];

    qs_random(raw, sizeof raw);
    sodium_bin2base64(b64, QS_SAD_B64_BUF, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    crypto_hash_sha256(hash, raw, sizeof raw);
    qs_wipe(raw, sizeof raw);
    return QS_OK;
}

qs_err qs_sad_handle_hash(const char *b64, size_t len, uint8_t hash[static QS_SAD_HASH_LEN])
{
    qs_err r = QS_ERR_PARSE;
    uint8_t raw[QS_SAD_HANDLE_LEN];
    size_t raw_len = 0;
    const char *end = NULL;

    memset(hash, 0, QS_SAD_HASH_LEN);
    memset(raw, 0, sizeof raw);
    if (b64 == NULL || len != QS_SAD_B64_LEN)
        goto out;
    /* libsodium refuses non-zero unused bits, so each handle has one transport form */
    if (sodium_base642bin(raw, sizeof raw, b64, len, NULL, &raw_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        raw_len != sizeof raw || end != b64 + len)
        goto out;
    crypto_hash_sha256(hash, raw, sizeof raw);
    r = QS_OK;
out:
    qs_wipe(raw, sizeof raw);
    return r;
}
