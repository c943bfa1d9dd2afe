/*
 * Search of the audit log for auditors (EN 419 241-1: searchable by date, type and user): the
 * matching records, streamed a page at a time in (event_time, writer, seq) order, one record
 * per line as JSON or CSV with every column, so a reader can recompute hashes from the output.
 * The criteria reach the database as bound parameters only (db/pg_audit_search.c).
 */
#define QS_LOG_MODULE "audit"
#include <stdlib.h>
#include <string.h>

#include "db/db_audit.h"
#include "sam/audit_internal.h"
#include "util/log.h"

/* Records read per page. */
#define QS_AUDIT_SEARCH_PAGE 1000

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
    bool first = true;
    do {
        r = qs_db_run_txn_opt(db, "audit_search", QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED,
                              search_txn, &c);
        if (r != QS_OK)
            break;
        c.cursor = c.next;
        char *text = NULL;
        size_t len = 0;
        if ((r = qs_audit_rows_text(c.found, c.n, p->format, first, &text, &len)) != QS_OK)
            break;
        if (len > 0 && fwrite(text, 1, len, out) != len)
            r = QS_ERR_IO;
        free(text);
        first = false;
        if (r == QS_OK)
            written += c.n;
    } while (r == QS_OK && c.n == QS_AUDIT_SEARCH_PAGE);
    if (r == QS_OK && fflush(out) != 0)
        r = QS_ERR_IO;
    qs_db_audit_found_free(c.found, c.n);
    if (count != NULL)
        *count = written;
    return r;
}
