/*
 * The declarative request parser: a body is a JSON object checked member by member against an
 * endpoint's field spec, in the field names of the CSC version of the path.  Nothing here
 * touches the database or the SAM, so it is what the fuzzer drives.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api/api_internal.h"
#include "util/secret.h"

#define API_KEY_ECHO_MAX 64 /* longest unknown member name echoed back */
#define API_OID_MAX      64

static void set_desc(char *desc, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_desc(char *desc, size_t len, const char *fmt, ...)
{
    if (desc == NULL || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(desc, len, fmt, ap);
    va_end(ap);
    if (n < 0)
        desc[0] = '\0';
}

qs_err api_body_parse(const uint8_t *body, size_t len, json_t **out, char *desc, size_t desc_len)
{
    *out = NULL;
    if (len == 0) {
        *out = json_object();
        return *out != NULL ? QS_OK : QS_ERR_NOMEM;
    }
    json_error_t jerr;
    json_t *j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            return QS_ERR_NOMEM;
        /* Position only: jansson's text can quote the input, which may hold a PIN. */
        set_desc(desc, desc_len, "Malformed JSON request body (line %d, column %d)", jerr.line,
                 jerr.column);
        return QS_ERR_PARSE;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        set_desc(desc, desc_len, "The request body must be a JSON object");
        return QS_ERR_PARSE;
    }
    *out = j;
    return QS_OK;
}

qs_err api_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    const char *end = NULL;
    size_t n = 0;
    *out_len = 0;
    if (len == 0 || len % 4 != 0)
        return QS_ERR_PARSE;
    if (sodium_base642bin(out, cap, s, len, NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + len)
        return QS_ERR_PARSE;
    *out_len = n;
    return QS_OK;
}

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

qs_err api_uuid_parse(const char *s, size_t len, uint8_t out[static API_UUID_LEN])
{
    if (len != API_UUID_STR_LEN)
        return QS_ERR_PARSE;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return QS_ERR_PARSE;
            i++;
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return QS_ERR_PARSE;
        out[o++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return QS_OK;
}

void api_uuid_format(const uint8_t id[static API_UUID_LEN], char out[static API_UUID_STR_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < API_UUID_LEN; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[id[i] >> 4];
        out[o++] = hex[id[i] & 0xf];
    }
    out[o] = '\0';
}

/* A dotted OID: first arc 0..2, then arcs without leading zeros. */
static bool is_oid(const char *s, size_t len)
{
    if (len < 3 || len > API_OID_MAX || s[0] < '0' || s[0] > '2' || s[1] != '.')
        return false;
    size_t i = 2;
    while (i < len) {
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start || (s[start] == '0' && i - start > 1))
            return false;
        if (i < len) {
            if (s[i] != '.' || i + 1 == len)
                return false;
            i++;
        }
    }
    return true;
}

static bool is_base64(const char *s, size_t len, bool secret)
{
    uint8_t *buf = malloc(len > 0 ? len : 1);
    size_t n = 0;
    if (buf == NULL)
        return false;
    bool ok = api_b64_decode(s, len, buf, len, &n) == QS_OK;
    if (secret)
        qs_wipe(buf, len);
    free(buf);
    return ok;
}

/* Member names echoed in descriptions: a short run of name characters, else nothing. */
static bool echoable(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > API_KEY_ECHO_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static const char *type_word(api_jtype t)
{
    switch (t) {
    case API_T_STRING:
        return "string";
    case API_T_BOOL:
        return "boolean";
    case API_T_INT:
        return "integer";
    case API_T_STRINGS:
    case API_T_AUTHDATA:
    case API_T_OBJECTS:
        return "array";
    }
    return "value";
}

static bool allowed(const api_field_spec *fs, const char *s, size_t len)
{
    if (fs->allowed == NULL)
        return true;
    for (const char *const *a = fs->allowed; *a != NULL; a++)
        if (strlen(*a) == len && memcmp(*a, s, len) == 0)
            return true;
    return false;
}

/* Checks one string value against the spec's string rules. */
static qs_err check_string(const api_field_spec *fs, const char *name, const char *s, size_t len,
                           int64_t min, int64_t max, char *desc, size_t desc_len)
{
    if ((int64_t)len < min || (int64_t)len > max || !allowed(fs, s, len)) {
        set_desc(desc, desc_len, "Invalid parameter %s", name);
        return QS_ERR_INVALID_ARGUMENT;
    }
    if ((fs->flags & API_FS_BASE64) && !is_base64(s, len, (fs->flags & API_FS_SECRET) != 0)) {
        set_desc(desc, desc_len, "Invalid Base64 %s string parameter", name);
        return QS_ERR_INVALID_ARGUMENT;
    }
    uint8_t scratch[API_SHA256_LEN];
    bool bad = ((fs->flags & API_FS_OID) && !is_oid(s, len)) ||
               ((fs->flags & API_FS_UUID) && api_uuid_parse(s, len, scratch) != QS_OK) ||
               ((fs->flags & API_FS_TOKEN) && api_token_hash(s, len, scratch) != QS_OK);
    if (bad) {
        set_desc(desc, desc_len, "Invalid parameter %s", name);
        return QS_ERR_INVALID_ARGUMENT;
    }
    return QS_OK;
}

static qs_err check_authdata(const api_field_spec *fs, const char *name, const json_t *arr,
                             char *desc, size_t desc_len)
{
    size_t i;
    const json_t *el;
    json_array_foreach(arr, i, el)
    {
        const json_t *id = json_object_get(el, "id");
        const json_t *value = json_object_get(el, "value");
        if (!json_is_object(el) || json_object_size(el) != 2 || !json_is_string(id) ||
            !json_is_string(value) ||
            check_string(fs, name, json_string_value(id), json_string_length(id), fs->elem_min,
                         fs->elem_max, desc, desc_len) != QS_OK ||
            check_string(fs, name, json_string_value(value), json_string_length(value),
                         fs->elem_min, fs->elem_max, desc, desc_len) != QS_OK) {
            set_desc(desc, desc_len, "Invalid parameter %s", name);
            return QS_ERR_INVALID_ARGUMENT;
        }
    }
    return QS_OK;
}

/* Each element of an API_T_OBJECTS array: an object that passes the field's sub-spec.  The
 * element's own description (naming the member inside it) is kept. */
static qs_err check_objects(const api_field_spec *fs, const char *name, api_ver v,
                            const json_t *arr, char *desc, size_t desc_len)
{
    size_t i;
    const json_t *el;
    json_array_foreach(arr, i, el)
    {
        if (!json_is_object(el)) {
            set_desc(desc, desc_len, "Invalid parameter %s", name);
            return QS_ERR_INVALID_ARGUMENT;
        }
        api_params ep;
        qs_err r = api_spec_parse(el, v, fs->sub, fs->nsub, &ep, desc, desc_len);
        if (r != QS_OK)
            return r == QS_ERR_PARSE ? QS_ERR_INVALID_ARGUMENT : r;
    }
    return QS_OK;
}

static qs_err parse_one(const api_field_spec *fs, const char *name, api_ver ver, const json_t *v,
                        api_param *p, char *desc, size_t desc_len)
{
    qs_err r = QS_OK;
    switch (fs->type) {
    case API_T_STRING:
        if (!json_is_string(v))
            goto wrong_type;
        p->s = json_string_value(v);
        p->len = json_string_length(v);
        r = check_string(fs, name, p->s, p->len, fs->min, fs->max, desc, desc_len);
        break;
    case API_T_BOOL:
        if (!json_is_boolean(v))
            goto wrong_type;
        p->b = json_is_true(v);
        break;
    case API_T_INT:
        if (!json_is_integer(v))
            goto wrong_type;
        p->i = (int64_t)json_integer_value(v);
        if (p->i < fs->min || p->i > fs->max) {
            set_desc(desc, desc_len, "Invalid parameter %s", name);
            r = QS_ERR_INVALID_ARGUMENT;
        }
        break;
    case API_T_STRINGS:
    case API_T_AUTHDATA:
    case API_T_OBJECTS:
        if (!json_is_array(v))
            goto wrong_type;
        p->a = v;
        p->n = json_array_size(v);
        if ((int64_t)p->n < fs->min || (int64_t)p->n > fs->max) {
            set_desc(desc, desc_len, "Invalid parameter %s", name);
            r = QS_ERR_INVALID_ARGUMENT;
            break;
        }
        if (fs->type == API_T_AUTHDATA) {
            r = check_authdata(fs, name, v, desc, desc_len);
            break;
        }
        if (fs->type == API_T_OBJECTS) {
            r = check_objects(fs, name, ver, v, desc, desc_len);
            break;
        }
        for (size_t i = 0; i < p->n && r == QS_OK; i++) {
            const json_t *el = json_array_get(v, i);
            if (!json_is_string(el)) {
                set_desc(desc, desc_len, "Invalid parameter %s", name);
                r = QS_ERR_INVALID_ARGUMENT;
                break;
            }
            r = check_string(fs, name, json_string_value(el), json_string_length(el), fs->elem_min,
                             fs->elem_max, desc, desc_len);
        }
        break;
    }
    if (r == QS_OK)
        p->present = true;
    return r;

wrong_type:
    set_desc(desc, desc_len, "Missing (or invalid type) %s parameter %s", type_word(fs->type),
             name);
    return QS_ERR_INVALID_ARGUMENT;
}

qs_err api_spec_parse(const json_t *body, api_ver v, const api_field_spec *spec, size_t n,
                      api_params *out, char *desc, size_t desc_len)
{
    const api_version *ver = api_version_get(v);
    memset(out, 0, sizeof *out);
    if (desc != NULL && desc_len > 0)
        desc[0] = '\0';
    if (!json_is_object(body)) {
        set_desc(desc, desc_len, "The request body must be a JSON object");
        return QS_ERR_PARSE;
    }

    /* Every member must be a field of this endpoint in this version. */
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)body, key, value)
    {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++) {
            const char *name = api_field_name(v, spec[i].field);
            known = (spec[i].versions & ver->bit) && name != NULL && strcmp(name, key) == 0;
        }
        if (!known) {
            if (echoable(key))
                set_desc(desc, desc_len, "Unknown parameter %s", key);
            else
                set_desc(desc, desc_len, "Unknown parameter");
            return QS_ERR_INVALID_ARGUMENT;
        }
    }

    for (size_t i = 0; i < n; i++) {
        const api_field_spec *fs = &spec[i];
        const char *name = api_field_name(v, fs->field);
        if (!(fs->versions & ver->bit) || name == NULL)
            continue;
        const json_t *val = json_object_get(body, name);
        if (val == NULL || json_is_null(val)) {
            if (!fs->required)
                continue;
            set_desc(desc, desc_len, "Missing (or invalid type) %s parameter %s",
                     type_word(fs->type), name);
            memset(out, 0, sizeof *out);
            return QS_ERR_INVALID_ARGUMENT;
        }
        qs_err r = parse_one(fs, name, v, val, &out->f[fs->field], desc, desc_len);
        if (r != QS_OK) {
            memset(out, 0, sizeof *out);
            return r;
        }
    }
    return QS_OK;
}
