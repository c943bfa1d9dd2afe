/*
 * The audit API's search body (api/audit.h): the declarative spec by JSON name (api_ra_object),
 * then the meaning of each criterion, and the continuation cursor.
 */
#include "api/audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api/api_internal.h"
#include "api/ra.h"
#include "sam/audit.h"
#include "util/secret.h"

/* Longest raw cursor: "<time>:<seq>:<writer>" with two 20-character integers. */
#define CURSOR_RAW_MAX (20 + 1 + 20 + 1 + QS_DB_AUDIT_WRITER_MAX)

__attribute__((format(printf, 3, 4))) static qs_err audit_fail(char *desc, size_t len,
                                                               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(desc, len, fmt, ap);
    va_end(ap);
    return QS_ERR_INVALID_ARGUMENT;
}

bool api_audit_event_type_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > QS_AUDIT_EVENT_TYPE_MAX || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return false;
    }
    return true;
}

bool api_audit_writer_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > QS_DB_AUDIT_WRITER_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

/* A decimal integer of s[0..len): optional '-', 1..19 digits without a leading zero. */
static bool parse_int(const char *s, size_t len, int64_t *v)
{
    bool neg = len > 0 && s[0] == '-';
    size_t i = neg ? 1 : 0;
    if (len - i == 0 || len - i > 19 || (s[i] == '0' && len - i > 1))
        return false;
    uint64_t x = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    if (x > (uint64_t)INT64_MAX || (neg && x == 0))
        return false;
    *v = neg ? -(int64_t)x : (int64_t)x;
    return true;
}

bool api_audit_cursor_format(const qs_db_audit_cursor *c, char *out, size_t out_len)
{
    char raw[CURSOR_RAW_MAX + 1];
    int n = snprintf(raw, sizeof raw, "%lld:%lld:%s", (long long)c->time_us, (long long)c->seq,
                     c->writer_id);
    if (n <= 0 || (size_t)n >= sizeof raw ||
        out_len < sodium_base64_ENCODED_LEN((size_t)n, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
        return false;
    sodium_bin2base64(out, out_len, (const unsigned char *)raw, (size_t)n,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return true;
}

bool api_audit_cursor_parse(const char *s, size_t len, qs_db_audit_cursor *c)
{
    char raw[CURSOR_RAW_MAX + 1];
    size_t n = 0;
    const char *end = NULL;

    memset(c, 0, sizeof *c);
    if (len == 0 || len > API_AUDIT_CURSOR_MAX ||
        sodium_base642bin((unsigned char *)raw, sizeof raw - 1, s, len, NULL, &n, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != s + len)
        return false;
    raw[n] = '\0';
    if (memchr(raw, '\0', n) != NULL)
        return false;
    char *c1 = memchr(raw, ':', n);
    char *c2 = c1 != NULL ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - raw)) : NULL;
    if (c2 == NULL || !parse_int(raw, (size_t)(c1 - raw), &c->time_us) ||
        !parse_int(c1 + 1, (size_t)(c2 - c1 - 1), &c->seq) || c->seq < 1 ||
        !api_audit_writer_id_valid(c2 + 1))
        return false;
    /* the one encoding: what we would have written */
    char again[API_AUDIT_CURSOR_MAX + 1];
    qs_db_audit_cursor tmp = *c;
    memcpy(tmp.writer_id, c2 + 1, strlen(c2 + 1) + 1);
    if (!api_audit_cursor_format(&tmp, again, sizeof again) || strlen(again) != len ||
        memcmp(again, s, len) != 0) {
        memset(c, 0, sizeof *c);
        return false;
    }
    *c = tmp;
    c->started = true;
    return true;
}

enum {
    F_USER,
    F_CREDENTIAL,
    F_TYPE,
    F_FROM,
    F_TO,
    F_RESULT,
    F_WRITER,
    F_FORMAT,
    F_LIMIT,
    F_CURSOR,
    F_COUNT
};

static const api_ra_field search_spec[] = {
    [F_USER] = {"userID", API_RA_STR, false, 1, 64},
    [F_CREDENTIAL] = {"credentialID", API_RA_STR, false, 1, 64},
    [F_TYPE] = {"eventType", API_RA_STR, false, 1, QS_AUDIT_EVENT_TYPE_MAX},
    [F_FROM] = {"from", API_RA_STR, false, 1, API_AUDIT_TEXT_MAX},
    [F_TO] = {"to", API_RA_STR, false, 1, API_AUDIT_TEXT_MAX},
    [F_RESULT] = {"result", API_RA_STR, false, 1, 16},
    [F_WRITER] = {"writerID", API_RA_STR, false, 1, QS_DB_AUDIT_WRITER_MAX},
    [F_FORMAT] = {"format", API_RA_STR, false, 1, 16},
    [F_LIMIT] = {"limit", API_RA_INT, false, 1, API_AUDIT_LIMIT_MAX},
    [F_CURSOR] = {"cursor", API_RA_STR, false, 1, API_AUDIT_CURSOR_MAX},
};

_Static_assert(F_COUNT <= API_RA_FIELDS_MAX, "search spec too long");

static qs_err uuid_field(const json_t *v, const char *name, uint8_t out[static API_UUID_LEN],
                         char text[static API_UUID_STR_LEN + 1], char *desc, size_t len)
{
    const char *s = json_string_value(v);
    if (api_uuid_parse(s, strlen(s), out) != QS_OK)
        return audit_fail(desc, len, "Invalid parameter %s: not a UUID", name);
    api_uuid_format(out, text);
    return QS_OK;
}

static qs_err time_field(const json_t *v, const char *name, int64_t *us, char *desc, size_t len)
{
    if (!qs_audit_time_parse(json_string_value(v), us))
        return audit_fail(desc, len,
                          "Invalid parameter %s: an RFC 3339 date-time (2024-05-01T12:00:00Z) or "
                          "a date (2024-05-01)",
                          name);
    if (*us < 0)
        return audit_fail(desc, len, "Invalid parameter %s: before 1970", name);
    return QS_OK;
}

qs_err api_audit_search_parse(const json_t *body, api_audit_query *out, char *desc, size_t len)
{
    const json_t *v[API_RA_FIELDS_MAX];
    qs_err r;

    memset(out, 0, sizeof *out);
    out->result = -1;
    out->format = API_AUDIT_JSONL;
    out->limit = API_AUDIT_LIMIT_DEFAULT;
    if ((r = api_ra_object(body, "", search_spec, F_COUNT, v, desc, len)) != QS_OK)
        return r;
    if (v[F_USER] != NULL) {
        if ((r = uuid_field(v[F_USER], "userID", out->user_id, out->user_id_str, desc, len)) !=
            QS_OK)
            return r;
        out->has_user = true;
    }
    if (v[F_CREDENTIAL] != NULL) {
        if ((r = uuid_field(v[F_CREDENTIAL], "credentialID", out->credential_id,
                            out->credential_id_str, desc, len)) != QS_OK)
            return r;
        out->has_credential = true;
    }
    if (v[F_TYPE] != NULL) {
        out->event_type = json_string_value(v[F_TYPE]);
        if (!api_audit_event_type_valid(out->event_type))
            return audit_fail(desc, len,
                              "Invalid parameter eventType: an event type (signature.created) or a "
                              "prefix ending in a dot (sad.)");
    }
    if (v[F_FROM] != NULL) {
        if ((r = time_field(v[F_FROM], "from", &out->from_us, desc, len)) != QS_OK)
            return r;
        out->has_from = true;
    }
    if (v[F_TO] != NULL) {
        if ((r = time_field(v[F_TO], "to", &out->to_us, desc, len)) != QS_OK)
            return r;
        out->has_to = true;
    }
    if (out->has_from && out->has_to && out->from_us >= out->to_us)
        return audit_fail(desc, len, "Invalid parameter to: not after from");
    if (v[F_RESULT] != NULL) {
        const char *s = json_string_value(v[F_RESULT]);
        if (strcmp(s, "success") == 0)
            out->result = 1;
        else if (strcmp(s, "failure") == 0)
            out->result = 0;
        else
            return audit_fail(desc, len, "Invalid parameter result: success or failure");
    }
    if (v[F_WRITER] != NULL) {
        out->writer_id = json_string_value(v[F_WRITER]);
        if (!api_audit_writer_id_valid(out->writer_id))
            return audit_fail(desc, len, "Invalid parameter writerID: not a writer id");
    }
    if (v[F_FORMAT] != NULL) {
        const char *s = json_string_value(v[F_FORMAT]);
        if (strcmp(s, "jsonl") == 0)
            out->format = API_AUDIT_JSONL;
        else if (strcmp(s, "csv") == 0)
            out->format = API_AUDIT_CSV;
        else
            return audit_fail(desc, len, "Invalid parameter format: jsonl or csv");
    }
    if (v[F_LIMIT] != NULL)
        out->limit = (uint32_t)json_integer_value(v[F_LIMIT]);
    if (v[F_CURSOR] != NULL) {
        const char *s = json_string_value(v[F_CURSOR]);
        if (!api_audit_cursor_parse(s, strlen(s), &out->cursor))
            return audit_fail(desc, len, "Invalid parameter cursor: not a cursor of this API");
    }
    return QS_OK;
}
