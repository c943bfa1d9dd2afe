/*
 * Search of the audit log for auditors (EN 419 241-1: searchable by date, type and user): the
 * matching records, streamed a page at a time in (event_time, writer, seq) order, one record
 * per line as JSON or CSV with every column, so a reader can recompute hashes from the output.
 * The criteria reach the database as bound parameters only (db/pg_audit_search.c).
 */
#define QS_LOG_MODULE "audit"
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db/db_audit.h"
#include "sam/audit_internal.h"
#include "util/log.h"

/* Records read per page. */
#define QS_AUDIT_SEARCH_PAGE 1000

static const char *const csv_header =
    "writer_id,seq,event_time,event_type,actor,user_id,credential_id,sad_ref,result,details,"
    "prev_hash,record_hash,record_mac";

/* The text columns of one record, shared by both formats. */
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

static qs_err write_jsonl(FILE *out, const qs_db_audit_found *fd, const rec_text *t)
{
    const qs_db_audit_row *row = &fd->row;
    json_t *o = json_object();
    qs_err r = QS_ERR_NOMEM;
    char *line = NULL;
    if (o == NULL)
        return r;
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
        /* json_object_set_new takes the value, also NULL (it then fails). */
        if (json_object_set_new(o, f[i].key, f[i].v) != 0)
            ok = false;
    }
    if (ok)
        line = json_dumps(o, JSON_COMPACT);
    if (line != NULL)
        r = fprintf(out, "%s\n", line) < 0 ? QS_ERR_IO : QS_OK;
    else
        qs_error("audit record %s/%lld cannot be written as JSON", fd->writer_id,
                 (long long)row->seq);
    free(line);
    json_decref(o);
    return r;
}

/* One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
static bool csv_field(FILE *out, const char *s, bool last)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL;
    if (quote && fputc('"', out) == EOF)
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"' && quote && fputc('"', out) == EOF)
            return false;
        if (fputc(*p, out) == EOF)
            return false;
    }
    if (quote && fputc('"', out) == EOF)
        return false;
    return fputs(last ? "\r\n" : ",", out) != EOF;
}

static qs_err write_csv(FILE *out, const qs_db_audit_found *fd, const rec_text *t)
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
    for (size_t i = 0; i < n; i++) {
        if (!csv_field(out, f[i], i + 1 == n))
            return QS_ERR_IO;
    }
    return QS_OK;
}

typedef struct search_ctx {
    const qs_db_audit_filter *filter;
    qs_db_audit_cursor cursor;
    qs_db_audit_cursor next;
    qs_db_audit_found *found;
    size_t n;
} search_ctx;

static qs_err search_txn(qs_db *db, void *cls)
{
    search_ctx *c = cls;
    qs_db_audit_found_free(c->found, c->n);
    c->found = NULL;
    c->n = 0;
    c->next = c->cursor; /* a retried attempt starts from the same place */
    return qs_db_audit_search(db, c->filter, &c->next, QS_AUDIT_SEARCH_PAGE, &c->found, &c->n);
}

qs_err qs_audit_search(qs_db *db, const qs_audit_search_params *p, FILE *out, uint64_t *count)
{
    uint64_t written = 0;
    qs_err r = QS_OK;

    if (count != NULL)
        *count = 0;
    if (p == NULL || out == NULL ||
        (p->format != QS_AUDIT_FORMAT_JSONL && p->format != QS_AUDIT_FORMAT_CSV))
        return QS_ERR_INVALID_ARGUMENT;
    if (p->writer_id != NULL && !qs_audit_writer_id_valid(p->writer_id))
        return QS_ERR_INVALID_ARGUMENT;
    if (p->event_type != NULL && !qs_audit_event_type_valid(p->event_type))
        return QS_ERR_INVALID_ARGUMENT;
    qs_db_audit_filter f = {
        .writer_id = p->writer_id,
        .user_id = p->user_id,
        .credential_id = p->credential_id,
        .event_type = p->event_type,
        .has_from = p->has_from,
        .has_to = p->has_to,
        .from_us = p->from_us,
        .to_us = p->to_us,
        .result = p->result < 0 ? -1 : p->result != 0,
    };
    search_ctx c = {.filter = &f};
    if (p->format == QS_AUDIT_FORMAT_CSV && fprintf(out, "%s\r\n", csv_header) < 0)
        return QS_ERR_IO;
    do {
        r = qs_db_run_txn_opt(db, "audit_search", QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED,
                              search_txn, &c);
        if (r != QS_OK)
            break;
        c.cursor = c.next;
        for (size_t i = 0; i < c.n && r == QS_OK; i++) {
            rec_text t;
            memset(&t, 0, sizeof t);
            if (!rec_text_fill(&c.found[i].row, &t)) {
                qs_error("audit record %s/%lld has a time beyond year 9999", c.found[i].writer_id,
                         (long long)c.found[i].row.seq);
                r = QS_ERR_DB;
                break;
            }
            r = p->format == QS_AUDIT_FORMAT_JSONL ? write_jsonl(out, &c.found[i], &t)
                                                   : write_csv(out, &c.found[i], &t);
            if (r == QS_OK)
                written++;
        }
    } while (r == QS_OK && c.n == QS_AUDIT_SEARCH_PAGE);
    if (r == QS_OK && fflush(out) != 0)
        r = QS_ERR_IO;
    qs_db_audit_found_free(c.found, c.n);
    if (count != NULL)
        *count = written;
    return r;
}
