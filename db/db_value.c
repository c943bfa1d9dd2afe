/*
 * Typed statement parameters and result values, all in PostgreSQL's binary format (network
 * byte order), with the column type checked on every read.
 */
#define QS_LOG_MODULE "db"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_internal.h"
#include "util/log.h"

/* PostgreSQL's timestamp epoch (2000-01-01) in microseconds after the Unix epoch. */
#define QS_DB_PG_EPOCH_US INT64_C(946684800000000)

static void put_be(uint8_t *b, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        b[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_be(const uint8_t *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | b[i];
    return v;
}

void qs_db_param_int8(qs_db_param *p, int64_t v)
{
    put_be(p->buf, (uint64_t)v, 8);
    p->value = (const char *)p->buf;
    p->length = 8;
    p->type = QS_DB_OID_INT8;
}

void qs_db_param_int4(qs_db_param *p, int32_t v)
{
    put_be(p->buf, (uint64_t)(uint32_t)v, 4);
    p->value = (const char *)p->buf;
    p->length = 4;
    p->type = QS_DB_OID_INT4;
}

void qs_db_param_bool(qs_db_param *p, bool v)
{
    p->buf[0] = v ? 1 : 0;
    p->value = (const char *)p->buf;
    p->length = 1;
    p->type = QS_DB_OID_BOOL;
}

void qs_db_param_bytea(qs_db_param *p, const void *v, size_t len)
{
    p->type = QS_DB_OID_BYTEA;
    if (v == NULL || len > INT_MAX) {
        p->value = NULL;
        p->length = 0;
        return;
    }
    /* A zero-length bytea still needs a non-NULL pointer, or it would read as SQL NULL. */
    p->value = len == 0 ? (const char *)p->buf : (const char *)v;
    p->length = (int)len;
}

void qs_db_param_text(qs_db_param *p, const char *v)
{
    p->type = QS_DB_OID_TEXT;
    p->value = v;
    p->length = v == NULL ? 0 : (int)strnlen(v, INT_MAX);
}

void qs_db_param_uuid(qs_db_param *p, const uint8_t v[static QS_DB_UUID_LEN])
{
    p->type = QS_DB_OID_UUID;
    p->value = (const char *)v;
    p->length = QS_DB_UUID_LEN;
}

void qs_db_param_null(qs_db_param *p, unsigned int type)
{
    p->type = type;
    p->value = NULL;
    p->length = 0;
}

void qs_db_param_timestamptz(qs_db_param *p, int64_t unix_us)
{
    qs_db_param_int8(p, unix_us - QS_DB_PG_EPOCH_US);
    p->type = QS_DB_OID_TIMESTAMPTZ;
}

/* ---- Arrays ------------------------------------------------------------------------------- */

/* Header of a one-dimensional binary array: ndim, flags (has nulls), element type, then the
 * dimension's size and lower bound. */
#define QS_DB_ARRAY_HEADER_LEN 20

static unsigned int array_type_of(unsigned int elem)
{
    switch (elem) {
    case QS_DB_OID_BOOL:
        return QS_DB_OID_BOOL_ARRAY;
    case QS_DB_OID_BYTEA:
        return QS_DB_OID_BYTEA_ARRAY;
    case QS_DB_OID_INT8:
        return QS_DB_OID_INT8_ARRAY;
    case QS_DB_OID_TEXT:
        return QS_DB_OID_TEXT_ARRAY;
    case QS_DB_OID_TIMESTAMPTZ:
        return QS_DB_OID_TIMESTAMPTZ_ARRAY;
    case QS_DB_OID_UUID:
        return QS_DB_OID_UUID_ARRAY;
    default:
        return 0;
    }
}

static bool array_reserve(qs_db_array *a, size_t more)
{
    if (a->failed)
        return false;
    if (more > SIZE_MAX / 2 - a->len) {
        a->failed = true;
        return false;
    }
    if (a->len + more <= a->cap)
        return true;
    size_t cap = a->cap < 256 ? 256 : a->cap;
    while (cap < a->len + more)
        cap *= 2;
    uint8_t *b = realloc(a->buf, cap);
    if (b == NULL) {
        a->failed = true;
        return false;
    }
    a->buf = b;
    a->cap = cap;
    return true;
}

void qs_db_array_init(qs_db_array *a, unsigned int elem_type)
{
    memset(a, 0, sizeof *a);
    a->elem_type = elem_type;
    if (array_reserve(a, QS_DB_ARRAY_HEADER_LEN))
        a->len = QS_DB_ARRAY_HEADER_LEN;
}

void qs_db_array_add(qs_db_array *a, const void *v, size_t len)
{
    if (v != NULL && len > INT32_MAX) {
        a->failed = true;
        return;
    }
    if (!array_reserve(a, 4 + (v != NULL ? len : 0)))
        return;
    if (v == NULL) {
        put_be(a->buf + a->len, UINT32_MAX, 4); /* length -1: NULL */
        a->len += 4;
        a->has_null = true;
    } else {
        put_be(a->buf + a->len, (uint64_t)len, 4);
        a->len += 4;
        if (len > 0)
            memcpy(a->buf + a->len, v, len);
        a->len += len;
    }
    a->count++;
}

void qs_db_array_add_int8(qs_db_array *a, int64_t v)
{
    uint8_t b[8];
    put_be(b, (uint64_t)v, 8);
    qs_db_array_add(a, b, sizeof b);
}

void qs_db_array_add_bool(qs_db_array *a, bool v)
{
    uint8_t b = v ? 1 : 0;
    qs_db_array_add(a, &b, 1);
}

void qs_db_array_add_text(qs_db_array *a, const char *v)
{
    qs_db_array_add(a, v, v != NULL ? strlen(v) : 0);
}

void qs_db_array_add_timestamptz(qs_db_array *a, int64_t unix_us)
{
    qs_db_array_add_int8(a, unix_us - QS_DB_PG_EPOCH_US);
}

qs_err qs_db_param_array(qs_db_param *p, qs_db_array *a)
{
    qs_db_param_null(p, QS_DB_OID_TEXT_ARRAY);
    unsigned int type = array_type_of(a->elem_type);
    if (type == 0) {
        qs_bug("no array type for element type %u", a->elem_type);
        return QS_ERR_INTERNAL;
    }
    if (a->failed || a->buf == NULL)
        return QS_ERR_NOMEM;
    if (a->len > INT_MAX) {
        qs_bug("array parameter of %zu bytes", a->len);
        return QS_ERR_INTERNAL;
    }
    uint8_t *h = a->buf;
    put_be(h, a->count > 0 ? 1 : 0, 4); /* ndim */
    put_be(h + 4, a->has_null ? 1 : 0, 4);
    put_be(h + 8, a->elem_type, 4);
    put_be(h + 12, (uint64_t)(uint32_t)a->count, 4);
    put_be(h + 16, 1, 4); /* lower bound */
    p->type = type;
    p->value = (const char *)a->buf;
    /* An empty array is the first 12 bytes only. */
    p->length = a->count > 0 ? (int)a->len : 12;
    return QS_OK;
}

void qs_db_array_free(qs_db_array *a)
{
    free(a->buf);
    memset(a, 0, sizeof *a);
}

/* ---- Results ------------------------------------------------------------------------------ */

static qs_err check_type(const PGresult *res, int row, int col, unsigned int type)
{
    if (row < 0 || row >= PQntuples(res) || col < 0 || col >= PQnfields(res)) {
        qs_bug("result has no row %d column %d", row, col);
        return QS_ERR_DB;
    }
    if (PQfformat(res, col) != 1 || PQftype(res, col) != type) {
        qs_bug("column %d (%s) has type %u, expected %u", col, PQfname(res, col),
               (unsigned)PQftype(res, col), type);
        return QS_ERR_DB;
    }
    return QS_OK;
}

static qs_err check_value(const PGresult *res, int row, int col, unsigned int type, int len)
{
    qs_err r = check_type(res, row, col, type);
    if (r != QS_OK)
        return r;
    if (PQgetisnull(res, row, col)) {
        qs_bug("column %d (%s) is NULL", col, PQfname(res, col));
        return QS_ERR_DB;
    }
    if (len >= 0 && PQgetlength(res, row, col) != len) {
        qs_bug("column %d (%s) has %d bytes, expected %d", col, PQfname(res, col),
               PQgetlength(res, row, col), len);
        return QS_ERR_DB;
    }
    return QS_OK;
}

qs_err qs_db_get_int8(const PGresult *res, int row, int col, int64_t *out)
{
    *out = 0;
    qs_err r = check_value(res, row, col, QS_DB_OID_INT8, 8);
    if (r != QS_OK)
        return r;
    *out = (int64_t)get_be((const uint8_t *)PQgetvalue(res, row, col), 8);
    return QS_OK;
}

qs_err qs_db_get_int4(const PGresult *res, int row, int col, int32_t *out)
{
    *out = 0;
    qs_err r = check_value(res, row, col, QS_DB_OID_INT4, 4);
    if (r != QS_OK)
        return r;
    *out = (int32_t)(uint32_t)get_be((const uint8_t *)PQgetvalue(res, row, col), 4);
    return QS_OK;
}

qs_err qs_db_get_bool(const PGresult *res, int row, int col, bool *out)
{
    *out = false;
    qs_err r = check_value(res, row, col, QS_DB_OID_BOOL, 1);
    if (r != QS_OK)
        return r;
    *out = PQgetvalue(res, row, col)[0] != 0;
    return QS_OK;
}

qs_err qs_db_get_bytea_fixed(const PGresult *res, int row, int col, void *out, size_t len)
{
    memset(out, 0, len);
    if (len > INT_MAX)
        return QS_ERR_INTERNAL;
    qs_err r = check_value(res, row, col, QS_DB_OID_BYTEA, (int)len);
    if (r != QS_OK)
        return r;
    memcpy(out, PQgetvalue(res, row, col), len);
    return QS_OK;
}

qs_err qs_db_get_text(const PGresult *res, int row, int col, char **out)
{
    *out = NULL;
    qs_err r = check_value(res, row, col, QS_DB_OID_TEXT, -1);
    if (r != QS_OK)
        return r;
    int n = PQgetlength(res, row, col);
    const char *v = PQgetvalue(res, row, col);
    if (memchr(v, '\0', (size_t)n) != NULL) {
        qs_bug("column %d (%s) holds a NUL byte", col, PQfname(res, col));
        return QS_ERR_DB;
    }
    char *s = malloc((size_t)n + 1);
    if (s == NULL)
        return QS_ERR_NOMEM;
    memcpy(s, v, (size_t)n);
    s[n] = '\0';
    *out = s;
    return QS_OK;
}

qs_err qs_db_get_timestamptz(const PGresult *res, int row, int col, int64_t *out_us)
{
    *out_us = 0;
    qs_err r = check_value(res, row, col, QS_DB_OID_TIMESTAMPTZ, 8);
    if (r != QS_OK)
        return r;
    int64_t pg_us = (int64_t)get_be((const uint8_t *)PQgetvalue(res, row, col), 8);
    /* +-infinity are INT64_MAX / INT64_MIN; the schema never stores them. */
    if (pg_us == INT64_MAX || pg_us == INT64_MIN || pg_us > INT64_MAX - QS_DB_PG_EPOCH_US) {
        qs_bug("column %d (%s) is an infinite or out-of-range timestamp", col, PQfname(res, col));
        return QS_ERR_DB;
    }
    *out_us = pg_us + QS_DB_PG_EPOCH_US;
    return QS_OK;
}

qs_err qs_db_get_bytea_fixed_opt(const PGresult *res, int row, int col, void *out, size_t len,
                                 bool *present)
{
    *present = false;
    memset(out, 0, len);
    qs_err r = check_type(res, row, col, QS_DB_OID_BYTEA);
    if (r != QS_OK || PQgetisnull(res, row, col))
        return r;
    r = qs_db_get_bytea_fixed(res, row, col, out, len);
    *present = r == QS_OK;
    return r;
}

qs_err qs_db_get_uuid_opt(const PGresult *res, int row, int col, uint8_t out[static QS_DB_UUID_LEN],
                          bool *present)
{
    *present = false;
    memset(out, 0, QS_DB_UUID_LEN);
    qs_err r = check_type(res, row, col, QS_DB_OID_UUID);
    if (r != QS_OK || PQgetisnull(res, row, col))
        return r;
    r = check_value(res, row, col, QS_DB_OID_UUID, QS_DB_UUID_LEN);
    if (r != QS_OK)
        return r;
    memcpy(out, PQgetvalue(res, row, col), QS_DB_UUID_LEN);
    *present = true;
    return QS_OK;
}
