/*
 * Audit records: the version-1 canonical encoding and its hash (sam/audit.h spells it out), the
 * record MAC made in the HSM, and the checks an event must pass before it is queued.
 *
 * The checks mirror the audit_log table's constraints, so that a malformed event from one
 * request is refused at once instead of failing the batch it would share with other requests.
 * The database keeps its constraints as the last word.
 */
#define QS_LOG_MODULE "audit"
#include <limits.h>
#include <string.h>

#include <sodium.h>

#include "sam/audit_internal.h"
#include "util/log.h"
#include "util/secret.h"

/* ---- Encoding and hash -------------------------------------------------------------------- */

static void put_u8(crypto_hash_sha256_state *st, uint8_t v)
{
    crypto_hash_sha256_update(st, &v, 1);
}

static void put_u64(crypto_hash_sha256_state *st, uint64_t v)
{
    uint8_t b[8];
    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
    crypto_hash_sha256_update(st, b, sizeof b);
}

static void put_bytes(crypto_hash_sha256_state *st, const void *p, size_t len)
{
    uint8_t b[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    crypto_hash_sha256_update(st, b, sizeof b);
    if (len > 0)
        crypto_hash_sha256_update(st, p, len);
}

static void put_opt(crypto_hash_sha256_state *st, const uint8_t *v, size_t len)
{
    if (v == NULL) {
        put_u8(st, 0);
        return;
    }
    put_u8(st, 1);
    crypto_hash_sha256_update(st, v, len);
}

qs_err qs_audit_record_hash(const qs_audit_record *rec, uint8_t hash[static QS_AUDIT_HASH_LEN])
{
    memset(hash, 0, QS_AUDIT_HASH_LEN);
    if (rec->writer_id == NULL || rec->event_type == NULL || rec->actor == NULL ||
        rec->details == NULL || rec->prev_hash == NULL)
        return QS_ERR_INVALID_ARGUMENT;
    const char *strs[] = {rec->writer_id, rec->event_type, rec->actor, rec->details};
    size_t lens[4];
    for (size_t i = 0; i < 4; i++) {
        lens[i] = strlen(strs[i]);
        if (lens[i] > UINT32_MAX)
            return QS_ERR_TOO_LARGE;
    }

    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    put_bytes(&st, QS_AUDIT_RECORD_DOMAIN, sizeof QS_AUDIT_RECORD_DOMAIN - 1);
    put_bytes(&st, rec->writer_id, lens[0]);
    put_u64(&st, rec->seq);
    put_u64(&st, (uint64_t)rec->event_time_us);
    put_bytes(&st, rec->event_type, lens[1]);
    put_bytes(&st, rec->actor, lens[2]);
    put_opt(&st, rec->user_id, QS_AUDIT_UUID_LEN);
    put_opt(&st, rec->credential_id, QS_AUDIT_UUID_LEN);
    put_opt(&st, rec->sad_ref, QS_AUDIT_SAD_REF_LEN);
    put_u8(&st, rec->success ? 1 : 0);
    put_bytes(&st, rec->details, lens[3]);
    crypto_hash_sha256_update(&st, rec->prev_hash, QS_AUDIT_HASH_LEN);
    crypto_hash_sha256_final(&st, hash);
    return QS_OK;
}

static void mac_parts(qs_hsm_buf parts[2], const uint8_t *hash)
{
    static const char domain[] = QS_AUDIT_MAC_DOMAIN;
    parts[0] = (qs_hsm_buf){(const uint8_t *)domain, sizeof domain - 1};
    parts[1] = (qs_hsm_buf){hash, QS_AUDIT_HASH_LEN};
}

qs_err qs_audit_record_mac(qs_hsm_session *hs, const uint8_t hash[static QS_AUDIT_HASH_LEN],
                           uint8_t mac[static QS_AUDIT_MAC_LEN])
{
    qs_hsm_buf parts[2];
    mac_parts(parts, hash);
    return qs_hsm_hmac_parts(hs, QS_HSM_RECORD_MAC, parts, 2, mac);
}

qs_err qs_audit_record_mac_verify(qs_hsm_session *hs, const uint8_t hash[static QS_AUDIT_HASH_LEN],
                                  const uint8_t mac[static QS_AUDIT_MAC_LEN])
{
    uint8_t expect[QS_AUDIT_MAC_LEN];
    qs_err r = qs_audit_record_mac(hs, hash, expect);
    if (r == QS_OK && !qs_ct_equal(expect, mac, QS_AUDIT_MAC_LEN))
        r = QS_ERR_MAC;
    return r;
}

void qs_audit_record_from_row(const char *writer_id, const qs_db_audit_row *row,
                              qs_audit_record *rec)
{
    *rec = (qs_audit_record){
        .writer_id = writer_id,
        .seq = (uint64_t)row->seq,
        .event_time_us = row->event_time_us,
        .event_type = row->event_type,
        .actor = row->actor,
        .user_id = row->has_user_id ? row->user_id : NULL,
        .credential_id = row->has_credential_id ? row->credential_id : NULL,
        .sad_ref = row->has_sad_ref ? row->sad_ref : NULL,
        .success = row->success,
        .details = row->details,
        .prev_hash = row->prev_hash,
    };
}

qs_err qs_audit_row_check(qs_hsm_session *hs, const char *writer_id, const qs_db_audit_row *row,
                          qs_audit_problem *problem)
{
    qs_audit_record rec;
    uint8_t hash[QS_AUDIT_HASH_LEN];

    qs_audit_record_from_row(writer_id, row, &rec);
    qs_err r = qs_audit_record_hash(&rec, hash);
    if (r != QS_OK)
        return r;
    if (!qs_ct_equal(hash, row->record_hash, QS_AUDIT_HASH_LEN)) {
        *problem = QS_AUDIT_BAD_HASH;
        return QS_ERR_MAC;
    }
    r = qs_audit_record_mac_verify(hs, row->record_hash, row->record_mac);
    if (r == QS_ERR_MAC)
        *problem = QS_AUDIT_BAD_MAC;
    return r;
}

const char *qs_audit_problem_name(qs_audit_problem p)
{
    switch (p) {
    case QS_AUDIT_SEQ_GAP:
        return "seq-gap";
    case QS_AUDIT_BAD_LINK:
        return "bad-link";
    case QS_AUDIT_BAD_HASH:
        return "bad-hash";
    case QS_AUDIT_BAD_MAC:
        return "bad-mac";
    case QS_AUDIT_BAD_CHECKPOINT:
        return "bad-checkpoint";
    case QS_AUDIT_CHECKPOINT_MISMATCH:
        return "checkpoint-mismatch";
    case QS_AUDIT_TRUNCATED:
        return "truncated";
    case QS_AUDIT_KEY_MISMATCH:
        return "checkpoint-key";
    }
    return "?";
}

/* ---- Text checks -------------------------------------------------------------------------- */

long qs_audit_utf8_chars(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    long n = 0;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t k;
        unsigned cp;
        if (c == 0)
            return -1;
        if (c < 0x80) {
            i++;
            n++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return -1; /* continuation byte, overlong lead (c0, c1) or beyond U+10FFFF */
        }
        if (len - i - 1 < k)
            return -1;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return -1;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        /* Overlong forms, surrogates, beyond U+10FFFF. */
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        i += k + 1;
        n++;
    }
    return n;
}

bool qs_audit_writer_id_valid(const char *id)
{
    if (id == NULL)
        return false;
    size_t n = strlen(id);
    if (n == 0 || n > QS_AUDIT_WRITER_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

bool qs_audit_event_type_valid(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > QS_AUDIT_EVENT_TYPE_MAX || t[0] < 'a' || t[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return false;
    }
    return true;
}

qs_err qs_audit_event_check(const qs_audit_event *ev)
{
    if (ev->event_type == NULL || !qs_audit_event_type_valid(ev->event_type)) {
        qs_bug("audit event: event_type %s is not [a-z][a-z0-9_.]{0,63}",
               ev->event_type == NULL ? "NULL" : "given");
        return QS_ERR_INVALID_ARGUMENT;
    }
    long chars = ev->actor == NULL ? -1 : qs_audit_utf8_chars(ev->actor, strlen(ev->actor));
    if (chars < 1 || chars > QS_AUDIT_ACTOR_MAX) {
        qs_bug("audit event %s: actor is not 1..%d characters of UTF-8", ev->event_type,
               QS_AUDIT_ACTOR_MAX);
        return QS_ERR_INVALID_ARGUMENT;
    }
    if (ev->details_json != NULL &&
        !qs_audit_details_valid(ev->details_json, strlen(ev->details_json))) {
        qs_bug("audit event %s: details are not a JSON object of at most %d bytes", ev->event_type,
               QS_AUDIT_DETAILS_MAX);
        return QS_ERR_INVALID_ARGUMENT;
    }
    return QS_OK;
}

/* ---- JSON object check -------------------------------------------------------------------- */

/* Deepest nesting accepted (PostgreSQL's limit is the server's stack, far deeper). */
#define JSON_DEPTH_MAX 64
/* Longest number token, and largest exponent magnitude: with them no number can overflow
 * PostgreSQL's numeric (131072 digits before the point, 16383 after). */
#define JSON_NUMBER_MAX   256
#define JSON_EXPONENT_MAX 1000

typedef struct json_parser {
    const unsigned char *s;
    size_t n, i;
    int depth;
} json_parser;

static void json_ws(json_parser *p)
{
    while (p->i < p->n &&
           (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static bool json_peek(const json_parser *p, unsigned char c)
{
    return p->i < p->n && p->s[p->i] == c;
}

static bool json_digit(const json_parser *p)
{
    return p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9';
}

static int json_hex4(json_parser *p)
{
    if (p->n - p->i < 4)
        return -1;
    int v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = p->s[p->i++];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* A string; p->i is at the opening quote.  The text is valid UTF-8 already. */
static bool json_string(json_parser *p)
{
    p->i++;
    while (p->i < p->n) {
        unsigned char c = p->s[p->i++];
        if (c == '"')
            return true;
        if (c < 0x20)
            return false; /* control characters must be escaped */
        if (c != '\\')
            continue;
        if (p->i >= p->n)
            return false;
        c = p->s[p->i++];
        switch (c) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            break;
        case 'u': {
            int u = json_hex4(p);
            /* jsonb cannot hold U+0000; surrogates must come in pairs. */
            if (u <= 0 || (u >= 0xdc00 && u <= 0xdfff))
                return false;
            if (u >= 0xd800 && u <= 0xdbff) {
                if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
                    return false;
                p->i += 2;
                int lo = json_hex4(p);
                if (lo < 0xdc00 || lo > 0xdfff)
                    return false;
            }
            break;
        }
        default:
            return false;
        }
    }
    return false;
}

static bool json_number(json_parser *p)
{
    size_t start = p->i;
    if (json_peek(p, '-'))
        p->i++;
    if (json_peek(p, '0')) {
        p->i++;
    } else if (json_digit(p)) {
        while (json_digit(p))
            p->i++;
    } else {
        return false;
    }
    if (json_peek(p, '.')) {
        p->i++;
        if (!json_digit(p))
            return false;
        while (json_digit(p))
            p->i++;
    }
    if (json_peek(p, 'e') || json_peek(p, 'E')) {
        p->i++;
        if (json_peek(p, '+') || json_peek(p, '-'))
            p->i++;
        if (!json_digit(p))
            return false;
        long e = 0;
        while (json_digit(p)) {
            if (e <= JSON_EXPONENT_MAX)
                e = e * 10 + (p->s[p->i] - '0');
            p->i++;
        }
        if (e > JSON_EXPONENT_MAX)
            return false;
    }
    return p->i - start <= JSON_NUMBER_MAX;
}

static bool json_literal(json_parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->n - p->i < n || memcmp(p->s + p->i, word, n) != 0)
        return false;
    p->i += n;
    return true;
}

static bool json_value(json_parser *p);

/* An object or array; p->i is at its opening bracket. */
static bool json_container(json_parser *p, unsigned char close)
{
    if (++p->depth > JSON_DEPTH_MAX)
        return false;
    p->i++;
    json_ws(p);
    if (json_peek(p, close)) {
        p->i++;
        p->depth--;
        return true;
    }
    for (;;) {
        if (close == '}') {
            if (!json_peek(p, '"') || !json_string(p))
                return false;
            json_ws(p);
            if (!json_peek(p, ':'))
                return false;
            p->i++;
            json_ws(p);
        }
        if (!json_value(p))
            return false;
        json_ws(p);
        if (json_peek(p, close)) {
            p->i++;
            p->depth--;
            return true;
        }
        if (!json_peek(p, ','))
            return false;
        p->i++;
        json_ws(p);
    }
}

static bool json_value(json_parser *p)
{
    if (p->i >= p->n)
        return false;
    switch (p->s[p->i]) {
    case '{':
        return json_container(p, '}');
    case '[':
        return json_container(p, ']');
    case '"':
        return json_string(p);
    case 't':
        return json_literal(p, "true");
    case 'f':
        return json_literal(p, "false");
    case 'n':
        return json_literal(p, "null");
    default:
        return json_number(p);
    }
}

bool qs_audit_details_valid(const char *s, size_t len)
{
    if (s == NULL || len > QS_AUDIT_DETAILS_MAX || qs_audit_utf8_chars(s, len) < 0)
        return false;
    json_parser p = {(const unsigned char *)s, len, 0, 0};
    json_ws(&p);
    if (!json_peek(&p, '{') || !json_container(&p, '}'))
        return false;
    json_ws(&p);
    return p.i == p.n;
}
