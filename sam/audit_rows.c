/*
 * Audit records as text, one record per line, in the one form both `qsignctl audit search` and
 * qsignd's /audit/v1/search write (docs/audit-log.md, "Search"): every column, so a reader can
 * recompute each record_hash.  JSON lines give absent values as null and details as a string;
 * CSV (RFC 4180, CRLF) leaves absent values empty and quotes a field holding a comma, a quote or
 * a line break.
 */
#define QS_LOG_MODULE "audit"
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db/db_audit.h"
#include "sam/audit_internal.h"
#include "util/log.h"

static const char csv_header[] =
    "writer_id,seq,event_time,event_type,actor,user_id,credential_id,sad_ref,result,details,"
    "prev_hash,record_hash,record_mac\r\n";

/* A growing text buffer; `failed` sticks. */
typedef struct text {
    char *buf;
    size_t len, cap;
    bool failed;
} text;

/* Room for n more bytes and a NUL. */
static void reserve(text *t, size_t n)
{
    if (t->failed || t->len + n + 1 <= t->cap)
        return;
    size_t cap = t->cap > 0 ? t->cap : 4096;
    while (cap < t->len + n + 1)
        cap *= 2;
    char *b = realloc(t->buf, cap);
    if (b == NULL) {
        t->failed = true;
        return;
    }
    t->buf = b;
    t->cap = cap;
}

static void put(text *t, const char *s, size_t n)
{
    reserve(t, n);
    if (t->failed)
        return;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

/* The text columns of one record, shared by both forms. */
typedef struct rec_text {
    char seq[24];
    char time[QS_AUDIT_TIME_LEN + 1];
    char user[37], cred[37];
    char sad[2 * QS_AUDIT_SAD_REF_LEN + 1];
    char prev[2 * QS_AUDIT_HASH_LEN + 1], hash[2 * QS_AUDIT_HASH_LEN + 1];
    char mac[2 * QS_AUDIT_MAC_LEN + 1];
} rec_text;

static bool rec_text_fill(const qs_db_audit_row *row, rec_text *t)
{
    memset(t, 0, sizeof *t);
    snprintf(t->seq, sizeof t->seq, "%lld", (long long)row->seq);
    if (!qs_audit_time_format(row->event_time_us, t->time))
        return false;
    if (row->has_user_id)
        qs_audit_uuid_text(row->user_id, t->user);
    if (row->has_credential_id)
        qs_audit_uuid_text(row->credential_id, t->cred);
    if (row->has_sad_ref)
        qs_audit_hex(row->sad_ref, sizeof row->sad_ref, t->sad);
    qs_audit_hex(row->prev_hash, sizeof row->prev_hash, t->prev);
    qs_audit_hex(row->record_hash, sizeof row->record_hash, t->hash);
    qs_audit_hex(row->record_mac, sizeof row->record_mac, t->mac);
    return true;
}

static json_t *str_or_null(bool present, const char *s)
{
    return present ? json_string(s) : json_null();
}

static qs_err jsonl(text *out, const qs_db_audit_found *fd, const rec_text *t)
{
    const qs_db_audit_row *row = &fd->row;
    json_t *o = json_object();
    if (o == NULL)
        return QS_ERR_NOMEM;
    struct {
        const char *key;
        json_t *v;
    } f[] = {
        {"writer_id", json_string(fd->writer_id)},
        {"seq", json_integer((json_int_t)row->seq)},
        {"event_time", json_string(t->time)},
        {"event_type", json_string(row->event_type)},
        {"actor", json_string(row->actor)},
        {"user_id", str_or_null(row->has_user_id, t->user)},
        {"credential_id", str_or_null(row->has_credential_id, t->cred)},
        {"sad_ref", str_or_null(row->has_sad_ref, t->sad)},
        {"result", json_string(row->success ? "success" : "failure")},
        {"details", json_string(row->details)},
        {"prev_hash", json_string(t->prev)},
        {"record_hash", json_string(t->hash)},
        {"record_mac", json_string(t->mac)},
    };
    bool ok = true;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        /* json_object_set_new takes the value, also NULL (it then fails) */
        if (json_object_set_new(o, f[i].key, f[i].v) != 0)
            ok = false;
    }
    /* dumped straight into the buffer: jansson's own buffers may belong to another allocator */
    size_t n = ok ? json_dumpb(o, NULL, 0, JSON_COMPACT) : 0;
    if (n == 0) {
        json_decref(o);
        qs_error("audit record %s/%lld cannot be written as JSON", fd->writer_id,
                 (long long)row->seq);
        return QS_ERR_DB;
    }
    reserve(out, n + 1);
    if (!out->failed) {
        out->len += json_dumpb(o, out->buf + out->len, n, JSON_COMPACT);
        put(out, "\n", 1);
    }
    json_decref(o);
    return out->failed ? QS_ERR_NOMEM : QS_OK;
}

/* One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
static void csv_field(text *out, const char *s, bool last)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL;
    if (quote)
        put(out, "\"", 1);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"' && quote)
            put(out, "\"", 1);
        put(out, p, 1);
    }
    if (quote)
        put(out, "\"", 1);
    put(out, last ? "\r\n" : ",", last ? 2 : 1);
}

static void csv(text *out, const qs_db_audit_found *fd, const rec_text *t)
{
    const qs_db_audit_row *row = &fd->row;
    const char *f[] = {
        fd->writer_id,
        t->seq,
        t->time,
        row->event_type,
        row->actor,
        row->has_user_id ? t->user : "",
        row->has_credential_id ? t->cred : "",
        row->has_sad_ref ? t->sad : "",
        row->success ? "success" : "failure",
        row->details,
        t->prev,
        t->hash,
        t->mac,
    };
    size_t n = sizeof f / sizeof f[0];
    for (size_t i = 0; i < n; i++)
        csv_field(out, f[i], i + 1 == n);
}

qs_err qs_audit_rows_text(const qs_db_audit_found *found, size_t n, qs_audit_format f, bool header,
                          char **out, size_t *len)
{
    text t = {0};
    qs_err r = QS_OK;

    *out = NULL;
    *len = 0;
    if (f != QS_AUDIT_FORMAT_JSONL && f != QS_AUDIT_FORMAT_CSV)
        return QS_ERR_INVALID_ARGUMENT;
    if (f == QS_AUDIT_FORMAT_CSV && header)
        put(&t, csv_header, sizeof csv_header - 1);
    else
        put(&t, "", 0); /* no record is an empty text, not NULL */
    for (size_t i = 0; i < n && r == QS_OK; i++) {
        rec_text rt;
        if (!rec_text_fill(&found[i].row, &rt)) {
            qs_error("audit record %s/%lld has a time beyond year 9999", found[i].writer_id,
                     (long long)found[i].row.seq);
            r = QS_ERR_DB;
            break;
        }
        if (f == QS_AUDIT_FORMAT_CSV)
            csv(&t, &found[i], &rt);
        else
            r = jsonl(&t, &found[i], &rt);
    }
    if (r == QS_OK && t.failed)
        r = QS_ERR_NOMEM;
    if (r != QS_OK) {
        free(t.buf);
        return r;
    }
    *out = t.buf;
    *len = t.len;
    return QS_OK;
}
