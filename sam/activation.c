/* Activation codes of new signers (sam/signer.h). */
#include "sam/signer.h"

#include <sodium.h>
#include <string.h>

#include "util/secret.h"

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* The canonical text (24 characters) of raw bytes. */
static void encode(const uint8_t raw[static SAM_ACTIVATION_RAW_LEN],
                   char out[static SAM_ACTIVATION_CHARS + 1])
{
    size_t k = 0;
    for (size_t i = 0; i < SAM_ACTIVATION_RAW_LEN; i += 5) {
        uint64_t v = 0;
        for (size_t j = 0; j < 5; j++)
            v = v << 8 | raw[i + j];
        for (int s = 35; s >= 0; s -= 5)
            out[k++] = b32[(v >> s) & 31];
    }
    out[k] = '\0';
}

void sam_activation_code_new(char code[static SAM_ACTIVATION_CODE_LEN + 1],
                             uint8_t hash[static SAM_ACTIVATION_HASH_LEN])
{
    uint8_t raw[SAM_ACTIVATION_RAW_LEN];
    char canon[SAM_ACTIVATION_CHARS + 1];
    qs_random(raw, sizeof raw);
    encode(raw, canon);
    crypto_hash_sha256(hash, (const unsigned char *)canon, SAM_ACTIVATION_CHARS);
    size_t k = 0;
    for (size_t i = 0; i < SAM_ACTIVATION_CHARS; i++) {
        if (i > 0 && i % 4 == 0)
            code[k++] = '-';
        code[k++] = canon[i];
    }
    code[k] = '\0';
    qs_wipe(raw, sizeof raw);
    qs_wipe(canon, sizeof canon);
}

bool sam_activation_code_hash(const char *code, size_t len,
                              uint8_t hash[static SAM_ACTIVATION_HASH_LEN])
{
    char canon[SAM_ACTIVATION_CHARS + 1];
    size_t k = 0;
    bool ok = true;
    for (size_t i = 0; i < len && ok; i++) {
        char ch = code[i];
        if (ch == '-' || ch == ' ')
            continue;
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        if (k >= SAM_ACTIVATION_CHARS || strchr(b32, ch) == NULL || ch == '\0')
            ok = false;
        else
            canon[k++] = ch;
    }
    ok = ok && k == SAM_ACTIVATION_CHARS;
    if (ok)
        crypto_hash_sha256(hash, (const unsigned char *)canon, SAM_ACTIVATION_CHARS);
    qs_wipe(canon, sizeof canon);
    return ok;
}
