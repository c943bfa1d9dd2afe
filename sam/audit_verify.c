/*
 * Verification of a writer's audit chain (for tests now, `qsignctl audit verify` later): reads
 * the chain in seq order a page at a time and checks sequence, links, hashes and MACs as the
 * encoding comment in sam/audit.h says.  Memory stays bounded by one page whatever the chain's
 * length.  Each page is its own read-only transaction: records are never changed, so pages read
 * at different moments still form one chain (records appended meanwhile are simply included).
 */
#define QS_LOG_MODULE "audit"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_audit.h"
#include "sam/audit_internal.h"
#include "util/log.h"

/* Records read per page. */
#define QS_AUDIT_VERIFY_PAGE 1000

typedef struct label_ctx {
    const char *writer_id;
    char *label;
} label_ctx;

static qs_err label_txn(qs_db *db, void *cls)
{
    label_ctx *c = cls;
    free(c->label);
    c->label = NULL;
    return qs_db_audit_writer_label(db, c->writer_id, &c->label);
}

typedef struct page_ctx {
    const char *writer_id;
    int64_t after;
    qs_db_audit_row *rows;
    size_t n;
} page_ctx;

static qs_err page_txn(qs_db *db, void *cls)
{
    page_ctx *c = cls;
    qs_db_audit_rows_free(c->rows, c->n);
    c->rows = NULL;
    c->n = 0;
    return qs_db_audit_page(db, c->writer_id, c->after, QS_AUDIT_VERIFY_PAGE, &c->rows, &c->n);
}

typedef struct verifier {
    const char *writer_id;
    qs_audit_finding_cb cb;
    void *cls;
    uint64_t findings;
    bool stop;
} verifier;

static void report(verifier *v, int64_t seq, qs_audit_problem problem, const char *what)
{
    qs_audit_finding f = {v->writer_id, (uint64_t)seq, problem, what};
    v->findings++;
    qs_warn("audit chain %s: seq %lld: %s: %s", v->writer_id, (long long)seq,
            qs_audit_problem_name(problem), what);
    if (v->cb != NULL && !v->cb(v->cls, &f))
        v->stop = true;
}

qs_err qs_audit_verify_chain(qs_db *db, qs_hsm_session *hs, const char *writer_id,
                             qs_audit_finding_cb cb, void *cls, uint64_t *count)
{
    label_ctx lab = {.writer_id = writer_id};
    page_ctx page = {.writer_id = writer_id};
    verifier v = {.writer_id = writer_id, .cb = cb, .cls = cls};
    uint8_t prev[QS_AUDIT_HASH_LEN] = {0}; /* stored record_hash of the previous record */
    uint64_t expect = 1, seen = 0;
    char what[160];
    qs_err r;

    if (count != NULL)
        *count = 0;
    if (db == NULL || hs == NULL || !qs_audit_writer_id_valid(writer_id))
        return QS_ERR_INVALID_ARGUMENT;
    r = qs_db_run_txn_opt(db, "audit_verify_writer", QS_DB_TXN_READ_ONLY, label_txn, &lab);
    if (r != QS_OK)
        goto out;
    if (strcmp(lab.label, QS_AUDIT_MAC_KEY_LABEL) != 0) {
        qs_error("audit chain %s: MACs made with key \"%s\", this verifier knows \"%s\"", writer_id,
                 lab.label, QS_AUDIT_MAC_KEY_LABEL);
        r = QS_ERR_UNSUPPORTED;
        goto out;
    }

    while (!v.stop) {
        r = qs_db_run_txn_opt(db, "audit_verify_page",
                              QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED, page_txn, &page);
        if (r != QS_OK)
            goto out;
        for (size_t i = 0; i < page.n && !v.stop; i++) {
            const qs_db_audit_row *row = &page.rows[i];
            qs_audit_problem problem = QS_AUDIT_BAD_HASH;
            seen++;
            if (row->seq < 1 || (uint64_t)row->seq != expect) {
                snprintf(what, sizeof what,
                         "expected seq %llu, found %lld: records missing or out of order",
                         (unsigned long long)expect, (long long)row->seq);
                report(&v, row->seq, QS_AUDIT_SEQ_GAP, what);
            }
            if (!v.stop && memcmp(row->prev_hash, prev, sizeof prev) != 0) {
                if (expect == 1 && seen == 1)
                    snprintf(what, sizeof what, "the first record does not link to zeros");
                else
                    snprintf(what, sizeof what,
                             "prev_hash is not the record_hash of the record before it");
                report(&v, row->seq, QS_AUDIT_BAD_LINK, what);
            }
            if (v.stop)
                break;
            r = qs_audit_row_check(hs, writer_id, row, &problem);
            if (r == QS_ERR_MAC)
                report(&v, row->seq, problem,
                       problem == QS_AUDIT_BAD_HASH
                           ? "record_hash is not the hash of the stored columns: record changed"
                           : "record_mac is not the HSM's MAC of record_hash: record forged");
            else if (r != QS_OK)
                goto out;
            memcpy(prev, row->record_hash, sizeof prev);
            expect = row->seq >= 1 ? (uint64_t)row->seq + 1 : expect + 1;
            page.after = row->seq;
        }
        if (page.n < QS_AUDIT_VERIFY_PAGE)
            break;
    }
    r = v.findings > 0 ? QS_ERR_MAC : QS_OK;
    if (r == QS_OK)
        qs_info("audit chain %s: %llu records verified", writer_id, (unsigned long long)seen);
out:
    if (count != NULL)
        *count = seen;
    qs_db_audit_rows_free(page.rows, page.n);
    free(lab.label);
    return r;
}
