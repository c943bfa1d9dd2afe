/*
 * What the request handlers share: error answers, the actor and details of audit events,
 * algorithm mappings, digest checks, ids and time.  sam/sam.h documents each function.
 */
#define QS_LOG_MODULE "sam"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"
#include "util/secret.h"

/* ---- Answers ------------------------------------------------------------------------------ */

qs_err sam_fail(sam_req *rq, qs_err code, const char *msg)
{
    if (code == QS_OK) {
        qs_bug("request failed with QS_OK");
        code = QS_ERR_INTERNAL;
    }
    qs_sam_builder_free(rq->resp);
    rq->resp = NULL;
    rq->err = code;
    snprintf(rq->errmsg, sizeof rq->errmsg, "%s", msg != NULL ? msg : qs_err_str(code));
    return code;
}

qs_err sam_resp_begin(sam_req *rq)
{
    qs_sam_builder_free(rq->resp);
    rq->resp = NULL;
    uint16_t type = (uint16_t)(qs_sam_msg_type(rq->msg) | QS_SAM_RESPONSE_BIT);
    qs_err r = qs_sam_msg_begin(type, rq->reqid, &rq->resp);
    if (r != QS_OK)
        return sam_fail(rq, r, NULL);
    return QS_OK;
}

/* ---- Audit -------------------------------------------------------------------------------- */

void sam_actor(const sam_req *rq, const uint8_t *user_id, char buf[static QS_AUDIT_ACTOR_MAX + 1])
{
    size_t cap = QS_AUDIT_ACTOR_MAX + 1;
    int n = rq->peer->internal
                ? snprintf(buf, cap, "qsign-sam")
                : snprintf(buf, cap, "%s uid=%u", rq->peer->admin ? "admin" : "client",
                           (unsigned)rq->peer->uid);
    if (user_id != NULL && n > 0 && (size_t)n < cap) {
        char id[SAM_UUID_STR_LEN + 1];
        sam_uuid_format(user_id, id);
        n += snprintf(buf + n, cap - (size_t)n, " user=%s", id);
    }
    if (rq->has_officer && n > 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, " %s=%s",
                      rq->session_role != NULL ? rq->session_role : "officer", rq->officer);
    const char *officer =
        rq->msg != NULL ? qs_sam_msg_get_str(rq->msg, QS_SAM_T_ACTOR, NULL) : NULL;
    /* ACTOR is at most 128 bytes of UTF-8: with the prefix it stays within 200 characters */
    if (officer != NULL && n > 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, " actor=%s", officer);
    /* the peer chose ACTOR: no control characters into logs and audit views */
    for (char *p = buf; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    }
}

qs_err sam_audit(sam_req *rq, const char *event_type, bool success, const uint8_t *user_id,
                 const uint8_t *credential_id, const uint8_t *sad_ref, const char *details,
                 qs_audit_ref *ref)
{
    char actor[QS_AUDIT_ACTOR_MAX + 1];
    sam_actor(rq, user_id, actor);
    qs_audit_event ev = {
        .event_type = event_type,
        .actor = actor,
        .user_id = user_id,
        .credential_id = credential_id,
        .sad_ref = sad_ref,
        .success = success,
        .details_json = details,
    };
    qs_err r = qs_audit_append(rq->w->s->audit, &ev, ref);
    if (r != QS_OK)
        qs_error("audit record %s not written: %s", event_type, qs_err_name(r));
    return r;
}

void sam_audit_refusal(sam_req *rq, const char *event_type, const char *reason,
                       const uint8_t *user_id, const uint8_t *credential_id, const uint8_t *sad_ref)
{
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "reason", reason);
    if (rq->err != QS_OK)
        sam_json_str(&j, "error", qs_err_name(rq->err));
    const char *details = sam_json_finish(&j);
    if (details != NULL)
        (void)sam_audit(rq, event_type, false, user_id, credential_id, sad_ref, details, NULL);
    else
        qs_error("audit record %s not written: out of memory", event_type);
    sam_json_free(&j);
}

void sam_mac_mismatch(sam_req *rq, const char *table, const uint8_t *user_id,
                      const uint8_t *credential_id, const uint8_t *sad_ref)
{
    qs_error("record MAC mismatch in table %s: the row was not written by this SAM (altered or "
             "replaced); refusing it",
             table);
    rq->mac_bad.table = table;
    rq->mac_bad.has_user = user_id != NULL;
    if (user_id != NULL)
        memcpy(rq->mac_bad.user_id, user_id, QS_DB_SAM_UUID_LEN);
    rq->mac_bad.has_credential = credential_id != NULL;
    if (credential_id != NULL)
        memcpy(rq->mac_bad.credential_id, credential_id, QS_DB_SAM_UUID_LEN);
    rq->mac_bad.has_sad = sad_ref != NULL;
    if (sad_ref != NULL)
        memcpy(rq->mac_bad.sad_ref, sad_ref, QS_DB_SAM_SHA256_LEN);
}

/* ---- JSON details ------------------------------------------------------------------------- */

void sam_json_init(sam_json *j)
{
    memset(j, 0, sizeof *j);
}

static void json_raw(sam_json *j, const char *s, size_t n)
{
    if (j->failed)
        return;
    if (j->cap - j->len < n + 2) {
        size_t cap = j->cap == 0 ? 256 : j->cap;
        while (cap - j->len < n + 2)
            cap *= 2;
        char *nb = realloc(j->buf, cap);
        if (nb == NULL) {
            j->failed = true;
            return;
        }
        j->buf = nb;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

static void json_string(sam_json *j, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    json_raw(j, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            json_raw(j, e, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            json_raw(j, e, 6);
        } else {
            json_raw(j, (const char *)p, 1);
        }
    }
    json_raw(j, "\"", 1);
}

static void json_key(sam_json *j, const char *key)
{
    json_raw(j, j->any ? "," : "{", 1);
    j->any = true;
    json_string(j, key);
    json_raw(j, ":", 1);
}

void sam_json_str(sam_json *j, const char *key, const char *value)
{
    json_key(j, key);
    json_string(j, value);
}

void sam_json_int(sam_json *j, const char *key, int64_t value)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", (long long)value);
    json_key(j, key);
    json_raw(j, num, (size_t)n);
}

void sam_json_bool(sam_json *j, const char *key, bool value)
{
    json_key(j, key);
    json_raw(j, value ? "true" : "false", value ? 4 : 5);
}

void sam_json_hex(sam_json *j, const char *key, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    json_key(j, key);
    json_raw(j, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        char h[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
        json_raw(j, h, 2);
    }
    json_raw(j, "\"", 1);
}

const char *sam_json_finish(sam_json *j)
{
    if (!j->any)
        json_raw(j, "{", 1);
    json_raw(j, "}", 1);
    return j->failed ? NULL : j->buf;
}

void sam_json_free(sam_json *j)
{
    free(j->buf);
    memset(j, 0, sizeof *j);
}

/* ---- Time --------------------------------------------------------------------------------- */

int64_t sam_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint32_t sam_expires_in(int64_t expires_us, int64_t now_us)
{
    if (expires_us <= now_us)
        return 1;
    int64_t s = (expires_us - now_us + 999999) / 1000000;
    return s < 1 ? 1 : s > 86400 ? 86400 : (uint32_t)s;
}

/* ---- Algorithms --------------------------------------------------------------------------- */

bool sam_key_alg_from_wire(uint32_t v, qs_key_alg *alg)
{
    switch ((qs_sam_key_alg)v) {
    case QS_SAM_KEY_RSA2048:
        *alg = QS_KEY_RSA_2048;
        return true;
    case QS_SAM_KEY_RSA3072:
        *alg = QS_KEY_RSA_3072;
        return true;
    case QS_SAM_KEY_RSA4096:
        *alg = QS_KEY_RSA_4096;
        return true;
    case QS_SAM_KEY_EC_P256:
        *alg = QS_KEY_EC_P256;
        return true;
    case QS_SAM_KEY_EC_P384:
        *alg = QS_KEY_EC_P384;
        return true;
    }
    return false;
}

const char *sam_key_alg_db_name(qs_key_alg alg)
{
    switch (alg) {
    case QS_KEY_EC_P256:
        return "ec-p256";
    case QS_KEY_EC_P384:
        return "ec-p384";
    case QS_KEY_RSA_2048:
        return "rsa-2048";
    case QS_KEY_RSA_3072:
        return "rsa-3072";
    case QS_KEY_RSA_4096:
        return "rsa-4096";
    }
    return NULL;
}

bool sam_key_alg_from_db(const char *name, qs_key_alg *alg)
{
    static const qs_key_alg all[] = {QS_KEY_EC_P256, QS_KEY_EC_P384, QS_KEY_RSA_2048,
                                     QS_KEY_RSA_3072, QS_KEY_RSA_4096};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, sam_key_alg_db_name(all[i])) == 0) {
            *alg = all[i];
            return true;
        }
    }
    return false;
}

bool sam_key_alg_is_ec(qs_key_alg alg)
{
    return alg == QS_KEY_EC_P256 || alg == QS_KEY_EC_P384;
}

bool sam_hash_alg_from_wire(uint32_t v, qs_hash_alg *h)
{
    switch ((qs_sam_hash_alg)v) {
    case QS_SAM_HASH_SHA256:
        *h = QS_HASH_SHA256;
        return true;
    case QS_SAM_HASH_SHA384:
        *h = QS_HASH_SHA384;
        return true;
    case QS_SAM_HASH_SHA512:
        *h = QS_HASH_SHA512;
        return true;
    }
    return false;
}

const char *sam_hash_alg_oid(qs_hash_alg h)
{
    switch (h) {
    case QS_HASH_SHA256:
        return "2.16.840.1.101.3.4.2.1";
    case QS_HASH_SHA384:
        return "2.16.840.1.101.3.4.2.2";
    case QS_HASH_SHA512:
        return "2.16.840.1.101.3.4.2.3";
    }
    return NULL;
}

bool sam_hash_alg_from_oid(const char *oid, qs_hash_alg *h)
{
    static const qs_hash_alg all[] = {QS_HASH_SHA256, QS_HASH_SHA384, QS_HASH_SHA512};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(oid, sam_hash_alg_oid(all[i])) == 0) {
            *h = all[i];
            return true;
        }
    }
    return false;
}

const char *sam_sig_scheme_name(qs_sig_scheme s)
{
    switch (s) {
    case QS_SIG_ECDSA:
        return "ecdsa";
    case QS_SIG_RSA_PKCS1:
        return "rsa-pkcs1";
    case QS_SIG_RSA_PSS:
        return "rsa-pss";
    }
    return "?";
}

/* ---- Digests ------------------------------------------------------------------------------ */

int sam_digest_cmp(const void *a, const void *b)
{
    const sam_digest *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->p, y->p, x->len);
}

qs_err sam_req_hashes(sam_req *rq, qs_hash_alg h, const char *event_type, const uint8_t *user_id,
                      const uint8_t *credential_id, sam_digest **digests, size_t *n)
{
    sam_digest *v = NULL, *sorted = NULL;
    size_t count = qs_sam_msg_count(rq->msg, QS_SAM_T_HASH);
    size_t dlen = qs_hash_len(h);
    const char *reason = NULL;
    qs_err r;

    *digests = NULL;
    *n = 0;
    if (count == 0 || count > QS_SAM_MAX_HASHES) {
        reason = "hash_count";
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT, "between 1 and 1000 hashes");
        goto out;
    }
    if ((v = calloc(count, sizeof *v)) == NULL || (sorted = calloc(count, sizeof *v)) == NULL) {
        r = sam_fail(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        if (!qs_sam_msg_get_bytes(rq->msg, QS_SAM_T_HASH, i, &v[i].p, &v[i].len) ||
            v[i].len != dlen) {
            reason = "digest_length";
            r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT, "Invalid digest value length");
            goto out;
        }
    }
    memcpy(sorted, v, count * sizeof *v);
    qsort(sorted, count, sizeof *sorted, sam_digest_cmp);
    for (size_t i = 1; i < count; i++) {
        if (sam_digest_cmp(&sorted[i - 1], &sorted[i]) == 0) {
            reason = "duplicate_hash";
            r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT, "the same hash appears twice");
            goto out;
        }
    }
    *digests = v;
    *n = count;
    v = NULL;
    r = QS_OK;
out:
    if (reason != NULL)
        sam_audit_refusal(rq, event_type, reason, user_id, credential_id, NULL);
    free(v);
    free(sorted);
    return r;
}

void sam_hashes_sha256(const sam_digest *sorted, size_t n, uint8_t out[static QS_DB_SAM_SHA256_LEN])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    for (size_t i = 0; i < n; i++)
        crypto_hash_sha256_update(&st, sorted[i].p, sorted[i].len);
    crypto_hash_sha256_final(&st, out);
}

/* ---- Ids ---------------------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool sam_uuid_parse(const char *s, uint8_t out[static QS_DB_SAM_UUID_LEN])
{
    memset(out, 0, QS_DB_SAM_UUID_LEN);
    if (s == NULL || strlen(s) != SAM_UUID_STR_LEN)
        return false;
    size_t k = 0;
    for (size_t i = 0; i < SAM_UUID_STR_LEN;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
            i++;
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[k++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return k == QS_DB_SAM_UUID_LEN;
}

void sam_uuid_format(const uint8_t id[static QS_DB_SAM_UUID_LEN],
                     char out[static SAM_UUID_STR_LEN + 1])
{
    snprintf(out, SAM_UUID_STR_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", id[0], id[1],
             id[2], id[3], id[4], id[5], id[6], id[7], id[8], id[9], id[10], id[11], id[12], id[13],
             id[14], id[15]);
}

void sam_uuid_new(uint8_t out[static QS_DB_SAM_UUID_LEN])
{
    qs_random(out, QS_DB_SAM_UUID_LEN);
    out[6] = (uint8_t)((out[6] & 0x0f) | 0x40); /* version 4 */
    out[8] = (uint8_t)((out[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

qs_err sam_req_uuid(sam_req *rq, uint16_t tag, const char *what, const char *event_type,
                    uint8_t out[static QS_DB_SAM_UUID_LEN])
{
    if (sam_uuid_parse(qs_sam_msg_get_str(rq->msg, tag, NULL), out))
        return QS_OK;
    char msg[64];
    snprintf(msg, sizeof msg, "malformed %s", what);
    sam_fail(rq, QS_ERR_INVALID_ARGUMENT, msg);
    snprintf(msg, sizeof msg, "malformed_%s", what);
    for (char *p = msg; *p != '\0'; p++)
        if (*p == ' ')
            *p = '_';
    sam_audit_refusal(rq, event_type, msg, NULL, NULL, NULL);
    return QS_ERR_INVALID_ARGUMENT;
}

/* ---- Factors ------------------------------------------------------------------------------ */

qs_err sam_pin_pepper(void *cls, const uint8_t *in, size_t len, uint8_t out[QS_PIN_PEPPER_LEN])
{
    return qs_hsm_hmac((qs_hsm_session *)cls, QS_HSM_PEPPER, in, len, out);
}

void sam_totp_aad(const uint8_t user_id[static QS_DB_SAM_UUID_LEN],
                  uint8_t aad[static SAM_TOTP_AAD_LEN])
{
    size_t d = sizeof(SAM_TOTP_AAD_DOMAIN) - 1, t = sizeof("factor_totp") - 1;
    memcpy(aad, SAM_TOTP_AAD_DOMAIN, d);
    memcpy(aad + d, "factor_totp", t);
    memcpy(aad + d + t, user_id, QS_DB_SAM_UUID_LEN);
}

qs_err sam_totp_params(const qs_db_factor_totp *f, qs_totp_params *p)
{
    if (strcmp(f->algorithm, "SHA1") == 0)
        p->alg = QS_TOTP_SHA1;
    else if (strcmp(f->algorithm, "SHA256") == 0)
        p->alg = QS_TOTP_SHA256;
    else if (strcmp(f->algorithm, "SHA512") == 0)
        p->alg = QS_TOTP_SHA512;
    else
        return QS_ERR_INVALID_ARGUMENT;
    if (f->digits < 0 || f->period < 0)
        return QS_ERR_INVALID_ARGUMENT;
    p->digits = (unsigned)f->digits;
    p->period = (unsigned)f->period;
    return qs_totp_params_check(p);
}

qs_err sam_load_user(sam_req *rq, qs_db *db, const uint8_t id[static 16], qs_db_user *u)
{
    bool found = false;
    qs_err r = qs_db_user_get(db, id, u, &found);
    if (r != QS_OK)
        return r;
    if (!found)
        return QS_ERR_NOT_FOUND;
    qs_rec rec = qs_rec_user(u);
    r = qs_rec_check(rq->w->hs, &rec, u->record_mac);
    if (r == QS_ERR_MAC)
        sam_mac_mismatch(rq, "users", id, NULL, NULL);
    return r;
}

_Static_assert(QS_PIN_VERIFIER_MAX == QS_DB_VERIFIER_MAX, "PIN verifier buffers differ");
_Static_assert(QS_SAD_HASH_LEN == QS_DB_SAM_SHA256_LEN, "SAD hash lengths differ");

qs_err sam_sad_lock_usable(sam_req *rq, qs_db *db,
                           const uint8_t sad_hash[static QS_DB_SAM_SHA256_LEN],
                           const uint8_t user_id[static QS_DB_SAM_UUID_LEN],
                           const uint8_t cred_id[static QS_DB_SAM_UUID_LEN], qs_hash_alg halg,
                           int64_t now_us, qs_db_sad *sad, const char **reason)
{
    bool found = false;
    *reason = NULL;
    qs_err r = qs_db_sad_lock(db, sad_hash, sad, &found);
    if (r != QS_OK)
        return r;
    if (!found) {
        *reason = "unknown_sad";
        return QS_ERR_SAD_INVALID;
    }
    qs_rec rec = qs_rec_sad(sad);
    if ((r = qs_rec_check(rq->w->hs, &rec, sad->record_mac)) != QS_OK) {
        if (r == QS_ERR_MAC) {
            sam_mac_mismatch(rq, "sads", user_id, cred_id, sad_hash);
            *reason = "record_mac";
        }
        return r;
    }
    if (memcmp(sad->user_id, user_id, QS_DB_SAM_UUID_LEN) != 0) {
        *reason = "other_user";
        return QS_ERR_SAD_INVALID;
    }
    if (memcmp(sad->credential_id, cred_id, QS_DB_SAM_UUID_LEN) != 0) {
        *reason = "other_credential";
        return QS_ERR_SAD_INVALID;
    }
    if (now_us >= sad->expires_at_us) {
        *reason = "sad_expired";
        return QS_ERR_SAD_EXPIRED;
    }
    if (strcmp(sad->hash_alg, sam_hash_alg_oid(halg)) != 0) {
        *reason = "hash_alg_mismatch";
        return QS_ERR_HASH_NOT_AUTHORIZED;
    }
    if (sad->remaining <= 0) {
        *reason = "sad_used_up";
        return QS_ERR_SAD_INVALID;
    }
    return QS_OK;
}
