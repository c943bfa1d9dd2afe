/*
 * Signed checkpoints of an audit chain: the version-1 statement (sam/audit.h spells it out),
 * its signature in the HSM with the audit key, its verification in software with the writer's
 * public key (anyone holding the key can check it, no HSM needed), and the export format that
 * auditors keep outside the database.
 */
#define QS_LOG_MODULE "audit"
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "db/db_audit.h"
#include "sam/audit_internal.h"
#include "util/log.h"

/* Checkpoints read per page by the export. */
#define QS_AUDIT_EXPORT_PAGE 1000

_Static_assert(QS_AUDIT_SIG_MAX == QS_DB_AUDIT_SIG_MAX, "signature sizes");
_Static_assert(QS_AUDIT_SIG_MAX == QS_HSM_SERVICE_SIG_MAX, "signature sizes");
_Static_assert(QS_AUDIT_SPKI_MAX == QS_DB_AUDIT_SPKI_MAX, "key sizes");

/* ---- Statement and signature -------------------------------------------------------------- */

static size_t put_u32(uint8_t *b, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        b[i] = (uint8_t)v;
    return 4;
}

static size_t put_u64(uint8_t *b, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        b[i] = (uint8_t)v;
    return 8;
}

static size_t put_str(uint8_t *b, const char *s, size_t len)
{
    size_t o = put_u32(b, (uint32_t)len);
    memcpy(b + o, s, len);
    return o + len;
}

qs_err qs_audit_checkpoint_encode(const qs_audit_checkpoint *cp,
                                  uint8_t out[static QS_AUDIT_CHECKPOINT_ENC_MAX], size_t *len)
{
    *len = 0;
    if (!qs_audit_writer_id_valid(cp->writer_id) || cp->seq < 1 || cp->seq > INT64_MAX)
        return QS_ERR_INVALID_ARGUMENT;
    size_t o = 0;
    o += put_str(out + o, QS_AUDIT_CHECKPOINT_DOMAIN, sizeof QS_AUDIT_CHECKPOINT_DOMAIN - 1);
    o += put_str(out + o, cp->writer_id, strlen(cp->writer_id));
    o += put_u64(out + o, cp->seq);
    memcpy(out + o, cp->head_hash, QS_AUDIT_HASH_LEN);
    o += QS_AUDIT_HASH_LEN;
    o += put_u64(out + o, (uint64_t)cp->time_us);
    *len = o;
    return QS_OK;
}

qs_err qs_audit_checkpoint_digest(const qs_audit_checkpoint *cp,
                                  uint8_t digest[static QS_AUDIT_HASH_LEN])
{
    uint8_t enc[QS_AUDIT_CHECKPOINT_ENC_MAX];
    size_t len;
    memset(digest, 0, QS_AUDIT_HASH_LEN);
    qs_err r = qs_audit_checkpoint_encode(cp, enc, &len);
    if (r == QS_OK)
        crypto_hash_sha256(digest, enc, len);
    return r;
}

qs_err qs_audit_checkpoint_sign(qs_hsm_session *hs, qs_audit_checkpoint *cp)
{
    uint8_t digest[QS_AUDIT_HASH_LEN];
    size_t len = sizeof cp->signature;
    cp->signature_len = 0;
    qs_err r = qs_audit_checkpoint_digest(cp, digest);
    if (r == QS_OK)
        r = qs_hsm_service_sign(hs, QS_HSM_AUDIT_SIGN, digest, sizeof digest, cp->signature, &len);
    if (r == QS_OK)
        cp->signature_len = len;
    return r;
}

EVP_PKEY *qs_audit_key_parse(const uint8_t *spki, size_t spki_len)
{
    if (spki == NULL || spki_len == 0 || spki_len > QS_AUDIT_SPKI_MAX)
        return NULL;
    const uint8_t *p = spki;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)spki_len);
    char group[32] = "";
    if (k == NULL || p != spki + spki_len || !EVP_PKEY_is_a(k, "EC") ||
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) !=
            1 ||
        strcmp(group, "prime256v1") != 0) {
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

qs_err qs_audit_checkpoint_verify_key(const qs_audit_checkpoint *cp, EVP_PKEY *key)
{
    uint8_t digest[QS_AUDIT_HASH_LEN];
    qs_err r = qs_audit_checkpoint_digest(cp, digest);
    if (r != QS_OK)
        return QS_ERR_MAC;
    if (cp->signature_len == 0 || cp->signature_len > sizeof cp->signature)
        return QS_ERR_MAC;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    if (ctx == NULL || EVP_PKEY_verify_init(ctx) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return QS_ERR_CRYPTO;
    }
    int ok = EVP_PKEY_verify(ctx, cp->signature, cp->signature_len, digest, sizeof digest);
    EVP_PKEY_CTX_free(ctx);
    return ok == 1 ? QS_OK : QS_ERR_MAC;
}

qs_err qs_audit_checkpoint_verify(const qs_audit_checkpoint *cp, const uint8_t *spki,
                                  size_t spki_len)
{
    EVP_PKEY *k = qs_audit_key_parse(spki, spki_len);
    if (k == NULL)
        return QS_ERR_PARSE;
    qs_err r = qs_audit_checkpoint_verify_key(cp, k);
    EVP_PKEY_free(k);
    return r;
}

/* ---- Export lines ------------------------------------------------------------------------- */

static char *b64(const uint8_t *b, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(cap);
    if (s != NULL)
        sodium_bin2base64(s, cap, b, n, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

qs_err qs_audit_checkpoint_to_json(const qs_audit_checkpoint *cp, const uint8_t *spki,
                                   size_t spki_len, char **line)
{
    char hash_hex[2 * QS_AUDIT_HASH_LEN + 1], when[QS_AUDIT_TIME_LEN + 1];
    char *sig = NULL, *key = NULL;
    json_t *o = NULL;
    qs_err r = QS_ERR_INVALID_ARGUMENT;

    *line = NULL;
    if (!qs_audit_writer_id_valid(cp->writer_id) || cp->seq < 1 || cp->seq > INT64_MAX ||
        cp->signature_len == 0 || cp->signature_len > sizeof cp->signature || spki == NULL ||
        spki_len == 0 || spki_len > QS_AUDIT_SPKI_MAX || !qs_audit_time_format(cp->time_us, when))
        return r;
    qs_audit_hex(cp->head_hash, sizeof cp->head_hash, hash_hex);
    sig = b64(cp->signature, cp->signature_len);
    key = b64(spki, spki_len);
    r = QS_ERR_NOMEM;
    if (sig == NULL || key == NULL)
        goto out;
    o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s}", "writer", cp->writer_id, "seq",
                  (json_int_t)cp->seq, "head_hash", hash_hex, "time", when, "signature", sig,
                  "spki", key);
    if (o == NULL)
        goto out;
    *line = json_dumps(o, JSON_COMPACT);
    if (*line == NULL)
        goto out;
    r = QS_OK;
out:
    json_decref(o);
    free(sig);
    free(key);
    return r;
}

static bool unhex(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return false;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else
            return false;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(v << 4);
        else
            out[i / 2] = (uint8_t)(out[i / 2] | v);
    }
    return true;
}

static bool unb64(const char *s, uint8_t *out, size_t cap, size_t *len)
{
    const char *end = NULL;
    *len = 0;
    return sodium_base642bin(out, cap, s, strlen(s), NULL, len, &end,
                             sodium_base64_VARIANT_ORIGINAL) == 0 &&
           end == s + strlen(s) && *len > 0;
}

qs_err qs_audit_checkpoint_from_json(const char *line, qs_audit_checkpoint *cp, uint8_t **spki,
                                     size_t *spki_len)
{
    static const char *const keys[] = {"writer", "seq", "head_hash", "time", "signature", "spki"};
    json_error_t jerr;
    json_t *o = NULL;
    uint8_t *key = NULL;
    qs_err r = QS_ERR_PARSE;

    memset(cp, 0, sizeof *cp);
    *spki = NULL;
    *spki_len = 0;
    o = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    if (o == NULL || !json_is_object(o) || json_object_size(o) != sizeof keys / sizeof keys[0])
        goto out;
    json_t *v[sizeof keys / sizeof keys[0]];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        v[i] = json_object_get(o, keys[i]);
        if (v[i] == NULL || (i == 1 ? !json_is_integer(v[i]) : !json_is_string(v[i])))
            goto out;
    }
    const char *writer = json_string_value(v[0]);
    json_int_t seq = json_integer_value(v[1]);
    if (!qs_audit_writer_id_valid(writer) || seq < 1 ||
        !unhex(json_string_value(v[2]), cp->head_hash, sizeof cp->head_hash) ||
        !qs_audit_time_parse(json_string_value(v[3]), &cp->time_us) ||
        !unb64(json_string_value(v[4]), cp->signature, sizeof cp->signature, &cp->signature_len))
        goto out;
    memcpy(cp->writer_id, writer, strlen(writer) + 1);
    cp->seq = (uint64_t)seq;
    key = malloc(QS_AUDIT_SPKI_MAX);
    if (key == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    if (!unb64(json_string_value(v[5]), key, QS_AUDIT_SPKI_MAX, spki_len))
        goto out;
    *spki = key;
    key = NULL;
    r = QS_OK;
out:
    if (r != QS_OK) {
        memset(cp, 0, sizeof *cp);
        *spki_len = 0;
    }
    free(key);
    json_decref(o);
    return r;
}

/* ---- Export ------------------------------------------------------------------------------- */

typedef struct export_ctx {
    char **writers;
    size_t n_writers;
    const char *writer_id;
    uint8_t *spki;
    size_t spki_len;
    int64_t after;
    qs_db_audit_checkpoint *cps;
    size_t n;
} export_ctx;

static qs_err writers_txn(qs_db *db, void *cls)
{
    export_ctx *c = cls;
    qs_db_audit_writers_free(c->writers, c->n_writers);
    c->writers = NULL;
    c->n_writers = 0;
    return qs_db_audit_writers(db, &c->writers, &c->n_writers);
}

static qs_err key_txn(qs_db *db, void *cls)
{
    export_ctx *c = cls;
    free(c->spki);
    c->spki = NULL;
    c->spki_len = 0;
    return qs_db_audit_writer_key(db, c->writer_id, &c->spki, &c->spki_len);
}

static qs_err cp_page_txn(qs_db *db, void *cls)
{
    export_ctx *c = cls;
    free(c->cps);
    c->cps = NULL;
    c->n = 0;
    return qs_db_audit_checkpoint_page(db, c->writer_id, c->after, QS_AUDIT_EXPORT_PAGE, &c->cps,
                                       &c->n);
}

void qs_audit_checkpoint_from_db(const char *writer_id, const qs_db_audit_checkpoint *row,
                                 qs_audit_checkpoint *cp)
{
    memset(cp, 0, sizeof *cp);
    snprintf(cp->writer_id, sizeof cp->writer_id, "%s", writer_id);
    cp->seq = (uint64_t)row->seq;
    memcpy(cp->head_hash, row->head_hash, sizeof cp->head_hash);
    cp->time_us = row->time_us;
    memcpy(cp->signature, row->signature, row->signature_len);
    cp->signature_len = row->signature_len;
}

qs_err qs_audit_checkpoints_export(qs_db *db, FILE *out, uint64_t *count)
{
    export_ctx c = {0};
    uint64_t written = 0;
    const unsigned ro = QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED;

    qs_err r = qs_db_run_txn_opt(db, "audit_export_writers", ro, writers_txn, &c);
    for (size_t w = 0; r == QS_OK && w < c.n_writers; w++) {
        c.writer_id = c.writers[w];
        c.after = 0;
        r = qs_db_run_txn_opt(db, "audit_export_key", ro, key_txn, &c);
        if (r != QS_OK)
            break;
        do {
            r = qs_db_run_txn_opt(db, "audit_export_page", ro, cp_page_txn, &c);
            if (r != QS_OK)
                break;
            if (c.n > 0 && c.spki == NULL) {
                qs_warn("audit writer %s has checkpoints but no checkpoint key: none exported",
                        c.writer_id);
                break;
            }
            for (size_t i = 0; i < c.n && r == QS_OK; i++) {
                qs_audit_checkpoint cp;
                char *line = NULL;
                qs_audit_checkpoint_from_db(c.writer_id, &c.cps[i], &cp);
                r = qs_audit_checkpoint_to_json(&cp, c.spki, c.spki_len, &line);
                if (r == QS_OK && fprintf(out, "%s\n", line) < 0)
                    r = QS_ERR_IO;
                free(line);
                if (r == QS_OK)
                    written++;
                c.after = c.cps[i].seq;
            }
        } while (r == QS_OK && c.n == QS_AUDIT_EXPORT_PAGE);
    }
    if (r == QS_OK && fflush(out) != 0)
        r = QS_ERR_IO;
    if (count != NULL)
        *count = written;
    free(c.cps);
    free(c.spki);
    qs_db_audit_writers_free(c.writers, c.n_writers);
    return r;
}
