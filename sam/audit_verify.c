/*
 * Verification of audit chains (`qsignctl audit verify`, tests): reads a writer's chain in seq
 * order a page at a time and checks sequence, links, hashes and MACs as the encoding comment in
 * sam/audit.h says; alongside, in the same pass, the writer's stored checkpoints and the
 * checkpoints an auditor exported earlier, each anchored to the record at its seq.  Memory
 * stays bounded by one page of records, one page of checkpoints and one exported line,
 * whatever the chain's length.
 *
 * Each page is its own read-only transaction: records and checkpoints are never changed, so
 * pages read at different moments still form one chain (records appended meanwhile are simply
 * included).  The chain is read before the checkpoints of each page, so a checkpoint is never
 * read before the record it covers.
 *
 * Checkpoint signatures are checked in software with the public key; only record MACs need the
 * HSM.
 */
#define QS_LOG_MODULE "audit"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_audit.h"
#include "sam/audit_internal.h"
#include "util/log.h"
#include "util/secret.h"

/* Records read per page. */
#define QS_AUDIT_VERIFY_PAGE 1000
/* Stored checkpoints read per page. */
#define QS_AUDIT_VERIFY_CP_PAGE 1000
/* Longest export line accepted. */
#define QS_AUDIT_EXPORT_LINE_MAX 16384

/* ---- One writer --------------------------------------------------------------------------- */

typedef struct writer_ctx {
    const char *writer_id;
    bool want_head;
    char *label;
    uint8_t *spki;
    size_t spki_len;
    uint64_t head_seq;
} writer_ctx;

static qs_err writer_txn(qs_db *db, void *cls)
{
    writer_ctx *c = cls;
    free(c->label);
    free(c->spki);
    c->label = NULL;
    c->spki = NULL;
    c->spki_len = 0;
    c->head_seq = 0;
    qs_err r = qs_db_audit_writer_label(db, c->writer_id, &c->label);
    if (r == QS_OK)
        r = qs_db_audit_writer_key(db, c->writer_id, &c->spki, &c->spki_len);
    if (r == QS_OK && c->want_head) {
        qs_db_audit_row head;
        bool found = false;
        r = qs_db_audit_head(db, c->writer_id, &head, &found);
        if (r == QS_OK && found)
            c->head_seq = (uint64_t)head.seq;
        qs_db_audit_row_clear(&head);
    }
    return r;
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

typedef struct cp_page_ctx {
    const char *writer_id;
    int64_t after;
    qs_db_audit_checkpoint *cps;
    size_t n;
} cp_page_ctx;

static qs_err cp_page_txn(qs_db *db, void *cls)
{
    cp_page_ctx *c = cls;
    free(c->cps);
    c->cps = NULL;
    c->n = 0;
    return qs_db_audit_checkpoint_page(db, c->writer_id, c->after, QS_AUDIT_VERIFY_CP_PAGE, &c->cps,
                                       &c->n);
}

typedef struct verifier {
    qs_db *db;
    const char *writer_id;
    const qs_audit_verify_opts *o;
    qs_audit_verify_result res;
    bool stop;
    qs_err err; /* a database or callback error met while checking checkpoints */

    /* The writer's registered checkpoint key. */
    const uint8_t *spki;
    size_t spki_len;
    EVP_PKEY *key; /* NULL: none, or unreadable */

    /* Stored checkpoints: the current page and the position in it. */
    cp_page_ctx cp;
    size_t cp_i;
    bool cp_done;

    /* Exported checkpoints: the next one, and the last key parsed (they rarely change). */
    bool exp_have, exp_done;
    qs_audit_checkpoint exp;
    const uint8_t *exp_spki;
    size_t exp_spki_len;
    uint8_t *exp_key_spki;
    size_t exp_key_spki_len;
    EVP_PKEY *exp_key;
} verifier;

/* A finding goes to the caller's callback; the log has it at info level only, as the caller
 * reports it (qsignctl prints each one). */
static void report(verifier *v, uint64_t seq, qs_audit_problem problem, const char *what)
{
    qs_audit_finding f = {v->writer_id, seq, problem, what};
    if (v->res.findings++ == 0) {
        v->res.first_seq = seq;
        v->res.first_problem = problem;
    }
    qs_info("audit chain %s: seq %llu: %s: %s", v->writer_id, (unsigned long long)seq,
            qs_audit_problem_name(problem), what);
    if (v->o != NULL && v->o->finding != NULL && !v->o->finding(v->o->finding_cls, &f))
        v->stop = true;
}

/* The next stored checkpoint, or NULL at the end (or on error: v->err). */
static const qs_db_audit_checkpoint *stored_peek(verifier *v)
{
    if (v->cp_i < v->cp.n)
        return &v->cp.cps[v->cp_i];
    if (v->cp_done || v->err != QS_OK)
        return NULL;
    if (v->cp.n > 0)
        v->cp.after = v->cp.cps[v->cp.n - 1].seq;
    v->cp_i = 0;
    qs_err r =
        qs_db_run_txn_opt(v->db, "audit_verify_checkpoints",
                          QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED, cp_page_txn, &v->cp);
    if (r != QS_OK) {
        v->err = r;
        return NULL;
    }
    if (v->cp.n < QS_AUDIT_VERIFY_CP_PAGE)
        v->cp_done = true;
    return v->cp.n > 0 ? &v->cp.cps[0] : NULL;
}

/* The next exported checkpoint, or NULL at the end (or on error: v->err). */
static const qs_audit_checkpoint *exported_peek(verifier *v)
{
    if (v->exp_have)
        return &v->exp;
    if (v->exp_done || v->err != QS_OK || v->o == NULL || v->o->exported == NULL)
        return NULL;
    bool have = false;
    qs_err r = v->o->exported(v->o->exported_cls, v->writer_id, &v->exp, &v->exp_spki,
                              &v->exp_spki_len, &have);
    if (r != QS_OK) {
        v->err = r;
        return NULL;
    }
    if (!have || strcmp(v->exp.writer_id, v->writer_id) != 0) {
        v->exp_done = true;
        return NULL;
    }
    v->exp_have = true;
    return &v->exp;
}

/* Where a checkpoint at cp_seq stands against the chain read so far: `at` is the record with
 * the highest seq <= cp_seq (NULL: none read, or end of chain when `ended`). */
static void anchor(verifier *v, const char *which, uint64_t cp_seq, const uint8_t *head_hash,
                   int64_t time_us, uint64_t rec_seq, const uint8_t *rec_hash, bool ended)
{
    char what[256], when[QS_AUDIT_TIME_LEN + 1];
    if (!qs_audit_time_format(time_us, when))
        snprintf(when, sizeof when, "?");
    if (ended) {
        snprintf(what, sizeof what,
                 "the chain ends at seq %llu, but the %s checkpoint signed %s covers seq %llu: "
                 "records %llu..%llu were cut off",
                 (unsigned long long)rec_seq, which, when, (unsigned long long)cp_seq,
                 (unsigned long long)rec_seq + 1, (unsigned long long)cp_seq);
        report(v, cp_seq, QS_AUDIT_TRUNCATED, what);
    } else if (rec_seq != cp_seq) {
        snprintf(what, sizeof what,
                 "the %s checkpoint signed %s covers seq %llu, but the chain has no record at "
                 "that seq",
                 which, when, (unsigned long long)cp_seq);
        report(v, cp_seq, QS_AUDIT_CHECKPOINT_MISMATCH, what);
    } else if (!qs_ct_equal(rec_hash, head_hash, QS_AUDIT_HASH_LEN)) {
        snprintf(what, sizeof what,
                 "the record's record_hash is not the head_hash of the %s checkpoint signed %s: "
                 "the chain was rewritten after it",
                 which, when);
        report(v, cp_seq, QS_AUDIT_CHECKPOINT_MISMATCH, what);
    }
}

static void check_stored(verifier *v, const qs_db_audit_checkpoint *row, uint64_t rec_seq,
                         const uint8_t *rec_hash, bool ended)
{
    qs_audit_checkpoint cp;
    qs_audit_checkpoint_from_db(v->writer_id, row, &cp);
    v->res.checkpoints++;
    qs_err r = v->key != NULL ? qs_audit_checkpoint_verify_key(&cp, v->key) : QS_ERR_MAC;
    if (r == QS_ERR_CRYPTO) {
        v->err = r;
        return;
    }
    if (r != QS_OK)
        report(v, cp.seq, QS_AUDIT_BAD_CHECKPOINT,
               v->key == NULL ? "stored checkpoint, but the writer has no usable checkpoint key"
                              : "the stored checkpoint's signature does not verify with the "
                                "writer's key: checkpoint forged or altered");
    if (!v->stop)
        anchor(v, "stored", cp.seq, cp.head_hash, cp.time_us, rec_seq, rec_hash, ended);
}

/* The key of an exported checkpoint, parsed once for a run of lines that share it. */
static EVP_PKEY *exported_key(verifier *v)
{
    if (v->exp_key_spki != NULL && v->exp_key_spki_len == v->exp_spki_len &&
        memcmp(v->exp_key_spki, v->exp_spki, v->exp_spki_len) == 0)
        return v->exp_key;
    EVP_PKEY_free(v->exp_key);
    free(v->exp_key_spki);
    v->exp_key = qs_audit_key_parse(v->exp_spki, v->exp_spki_len);
    v->exp_key_spki = malloc(v->exp_spki_len);
    v->exp_key_spki_len = 0;
    if (v->exp_key_spki != NULL) {
        memcpy(v->exp_key_spki, v->exp_spki, v->exp_spki_len);
        v->exp_key_spki_len = v->exp_spki_len;
    }
    return v->exp_key;
}

static void check_exported(verifier *v, uint64_t rec_seq, const uint8_t *rec_hash, bool ended)
{
    const qs_audit_checkpoint *cp = &v->exp;
    v->res.exported++;
    EVP_PKEY *k = exported_key(v);
    qs_err r = k != NULL ? qs_audit_checkpoint_verify_key(cp, k) : QS_ERR_MAC;
    if (r == QS_ERR_CRYPTO) {
        v->err = r;
        return;
    }
    if (r != QS_OK)
        report(v, cp->seq, QS_AUDIT_BAD_CHECKPOINT,
               "the exported checkpoint's signature does not verify with its own key: the "
               "export was altered");
    if (!v->stop && (v->spki == NULL || v->spki_len != v->exp_spki_len ||
                     memcmp(v->spki, v->exp_spki, v->spki_len) != 0))
        report(v, cp->seq, QS_AUDIT_KEY_MISMATCH,
               v->spki == NULL ? "the exported checkpoint has a key, but the writer has none "
                                 "registered: its key was removed"
                               : "the exported checkpoint was signed with another key than the "
                                 "writer's registered one: the writer's key was replaced");
    if (!v->stop)
        anchor(v, "exported", cp->seq, cp->head_hash, cp->time_us, rec_seq, rec_hash, ended);
}

/* Checks the checkpoints at seqs <= upto (or all that are left, when ended) against the record
 * (rec_seq, rec_hash), the one with the highest seq read so far. */
static void check_checkpoints(verifier *v, uint64_t upto, uint64_t rec_seq, const uint8_t *rec_hash,
                              bool ended)
{
    const qs_db_audit_checkpoint *s;
    while (!v->stop && (s = stored_peek(v)) != NULL && (ended || (uint64_t)s->seq <= upto)) {
        check_stored(v, s, rec_seq, rec_hash, ended);
        v->cp_i++;
    }
    const qs_audit_checkpoint *e;
    while (!v->stop && (e = exported_peek(v)) != NULL && (ended || e->seq <= upto)) {
        check_exported(v, rec_seq, rec_hash, ended);
        v->exp_have = false;
    }
}

/* ---- MAC checks in parallel ---------------------------------------------------------------- */

/* Records a MAC worker claims at a time. */
#define MAC_CHUNK 32

/* Threads that check the record MACs of one page, each through its own HSM session, while the
 * verifying thread reads and pre-checks the next page. */
typedef struct mac_pool mac_pool;

typedef struct mac_worker {
    mac_pool *p;
    unsigned i;
} mac_worker;

struct mac_pool {
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    unsigned n;
    pthread_t th[QS_AUDIT_VERIFY_MAC_THREADS_MAX];
    qs_hsm_session *hs[QS_AUDIT_VERIFY_MAC_THREADS_MAX];
    mac_worker w[QS_AUDIT_VERIFY_MAC_THREADS_MAX];
    bool started[QS_AUDIT_VERIFY_MAC_THREADS_MAX];
    /* The current job (guarded by mu, except the rows and flags it points to: each index is
     * claimed by one worker through `next`). */
    uint64_t gen;
    const qs_db_audit_row *rows;
    const uint8_t *skip; /* 1: no MAC check (the hash is wrong already) */
    uint8_t *bad;        /* out: 1 when the MAC does not verify */
    size_t count;
    atomic_size_t next;
    unsigned busy;
    qs_err err;
    bool quit;
};

static void *mac_worker_main(void *arg)
{
    const mac_worker *w = arg;
    mac_pool *p = w->p;
    uint64_t seen = 0;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->quit)
            pthread_cond_wait(&p->start, &p->mu);
        if (p->quit)
            break;
        seen = p->gen;
        const qs_db_audit_row *rows = p->rows;
        const uint8_t *skip = p->skip;
        uint8_t *bad = p->bad;
        size_t count = p->count;
        pthread_mutex_unlock(&p->mu);

        qs_err err = QS_OK;
        for (;;) {
            size_t from = atomic_fetch_add(&p->next, MAC_CHUNK);
            if (from >= count || err != QS_OK)
                break;
            size_t to = from + MAC_CHUNK < count ? from + MAC_CHUNK : count;
            for (size_t k = from; k < to && err == QS_OK; k++) {
                if (skip[k])
                    continue;
                qs_err r = qs_audit_record_mac_verify(p->hs[w->i], rows[k].record_hash,
                                                      rows[k].record_mac);
                if (r == QS_ERR_MAC)
                    bad[k] = 1;
                else if (r != QS_OK)
                    err = r;
            }
        }

        pthread_mutex_lock(&p->mu);
        if (err != QS_OK && p->err == QS_OK)
            p->err = err;
        if (--p->busy == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void mac_pool_stop(mac_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n; i++) {
        if (p->started[i])
            pthread_join(p->th[i], NULL);
        qs_hsm_session_close(p->hs[i]);
    }
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
}

static qs_err mac_pool_start(mac_pool *p, qs_hsm *hsm, unsigned n)
{
    memset(p, 0, sizeof *p);
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        return QS_ERR_INTERNAL;
    if (pthread_cond_init(&p->start, NULL) != 0 || pthread_cond_init(&p->done, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        return QS_ERR_INTERNAL;
    }
    atomic_init(&p->next, 0);
    for (unsigned i = 0; i < n; i++) {
        qs_err r = qs_hsm_session_open(hsm, &p->hs[i]);
        if (r != QS_OK) {
            mac_pool_stop(p);
            return r;
        }
        p->n = i + 1;
        p->w[i] = (mac_worker){p, i};
    }
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&p->th[i], NULL, mac_worker_main, &p->w[i]) != 0) {
            mac_pool_stop(p);
            return QS_ERR_INTERNAL;
        }
        p->started[i] = true;
    }
    return QS_OK;
}

/* Hands a page's MAC checks to the workers. */
static void mac_pool_submit(mac_pool *p, const qs_db_audit_row *rows, const uint8_t *skip,
                            uint8_t *bad, size_t count)
{
    pthread_mutex_lock(&p->mu);
    p->rows = rows;
    p->skip = skip;
    p->bad = bad;
    p->count = count;
    atomic_store(&p->next, 0);
    p->busy = p->n;
    p->gen++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
}

/* Waits for the submitted page; the first HSM error of a worker, if any. */
static qs_err mac_pool_wait(mac_pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->busy > 0)
        pthread_cond_wait(&p->done, &p->mu);
    qs_err r = p->err;
    pthread_mutex_unlock(&p->mu);
    return r;
}

/* ---- One writer's chain, page by page ----------------------------------------------------- */

/* What the sequential checks found about each record of a page, before its MAC is known. */
enum {
    REC_GAP = 1,      /* seq is not the expected one */
    REC_BAD_LINK = 2, /* prev_hash is not the previous record_hash */
    REC_FIRST = 4,    /* the first record read (for the link message) */
    REC_BAD_HASH = 8, /* record_hash is not the hash of the columns */
};

typedef struct page_state {
    page_ctx pc;
    uint8_t flags[QS_AUDIT_VERIFY_PAGE];
    uint64_t expected[QS_AUDIT_VERIFY_PAGE]; /* for REC_GAP */
    uint8_t skip_mac[QS_AUDIT_VERIFY_PAGE];
    uint8_t bad_mac[QS_AUDIT_VERIFY_PAGE];
} page_state;

/* Position of the sequential checks across pages. */
typedef struct chain_pos {
    uint8_t prev[QS_AUDIT_HASH_LEN]; /* stored record_hash of the previous record */
    uint64_t expect;
    uint64_t read;
} chain_pos;

static qs_err fetch_page(qs_db *db, page_state *ps, int64_t after)
{
    ps->pc.after = after;
    return qs_db_run_txn_opt(db, "audit_verify_page",
                             QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED, page_txn, &ps->pc);
}

/* Sequence, link and hash of each record of the page, in order. */
static qs_err precheck_page(page_state *ps, chain_pos *pos, const char *writer_id)
{
    for (size_t i = 0; i < ps->pc.n; i++) {
        const qs_db_audit_row *row = &ps->pc.rows[i];
        uint64_t seq = row->seq >= 1 ? (uint64_t)row->seq : 0;
        uint8_t fl = 0;
        pos->read++;
        if (seq != pos->expect) {
            fl |= REC_GAP;
            ps->expected[i] = pos->expect;
        }
        if (memcmp(row->prev_hash, pos->prev, sizeof pos->prev) != 0)
            fl |= REC_BAD_LINK;
        if (pos->read == 1)
            fl |= REC_FIRST;
        qs_audit_record rec;
        uint8_t h[QS_AUDIT_HASH_LEN];
        qs_audit_record_from_row(writer_id, row, &rec);
        qs_err r = qs_audit_record_hash(&rec, h);
        if (r != QS_OK)
            return r;
        if (!qs_ct_equal(h, row->record_hash, sizeof h))
            fl |= REC_BAD_HASH;
        ps->flags[i] = fl;
        ps->skip_mac[i] = (fl & REC_BAD_HASH) != 0;
        ps->bad_mac[i] = 0;
        memcpy(pos->prev, row->record_hash, sizeof pos->prev);
        pos->expect = seq >= 1 ? seq + 1 : pos->expect + 1;
    }
    return QS_OK;
}

/* MAC checks of a page through one session, when there is no pool. */
static qs_err mac_page_inline(qs_hsm_session *hs, page_state *ps)
{
    for (size_t i = 0; i < ps->pc.n; i++) {
        if (ps->skip_mac[i])
            continue;
        qs_err r =
            qs_audit_record_mac_verify(hs, ps->pc.rows[i].record_hash, ps->pc.rows[i].record_mac);
        if (r == QS_ERR_MAC)
            ps->bad_mac[i] = 1;
        else if (r != QS_OK)
            return r;
    }
    return QS_OK;
}

/* Reports a checked page in seq order, with the checkpoints it reaches.  *last_seq and
 * last_hash follow the records reported. */
static void report_page(verifier *v, const page_state *ps, uint64_t *last_seq,
                        uint8_t last_hash[static QS_AUDIT_HASH_LEN])
{
    char what[160];
    for (size_t i = 0; i < ps->pc.n && !v->stop && v->err == QS_OK; i++) {
        const qs_db_audit_row *row = &ps->pc.rows[i];
        uint64_t seq = row->seq >= 1 ? (uint64_t)row->seq : 0;
        uint8_t fl = ps->flags[i];
        v->res.records++;
        /* Checkpoints that fall in a gap before this record. */
        if (seq > 0)
            check_checkpoints(v, seq - 1, *last_seq, last_hash, false);
        if (v->stop || v->err != QS_OK)
            break;
        if (fl & REC_GAP) {
            snprintf(what, sizeof what,
                     "expected seq %llu, found %lld: records missing or out of order",
                     (unsigned long long)ps->expected[i], (long long)row->seq);
            report(v, seq, QS_AUDIT_SEQ_GAP, what);
        }
        if (!v->stop && (fl & REC_BAD_LINK))
            report(v, seq, QS_AUDIT_BAD_LINK,
                   (fl & REC_FIRST) && seq == 1
                       ? "the first record does not link to zeros"
                       : "prev_hash is not the record_hash of the record before it");
        if (!v->stop && (fl & REC_BAD_HASH))
            report(v, seq, QS_AUDIT_BAD_HASH,
                   "record_hash is not the hash of the stored columns: record changed");
        else if (!v->stop && ps->bad_mac[i])
            report(v, seq, QS_AUDIT_BAD_MAC,
                   "record_mac is not the HSM's MAC of record_hash: record forged");
        if (v->stop)
            break;
        *last_seq = seq;
        memcpy(last_hash, row->record_hash, QS_AUDIT_HASH_LEN);
        /* Checkpoints of exactly this record. */
        check_checkpoints(v, seq, seq, last_hash, false);
    }
}

qs_err qs_audit_verify_writer(qs_db *db, qs_hsm_session *hs, const char *writer_id,
                              const qs_audit_verify_opts *o, qs_audit_verify_result *res)
{
    writer_ctx wc = {.writer_id = writer_id, .want_head = o != NULL && o->progress != NULL};
    verifier v = {.db = db, .writer_id = writer_id, .o = o, .cp = {.writer_id = writer_id}};
    page_state *ps[2] = {NULL, NULL};
    chain_pos pos = {.expect = 1};
    uint8_t last_hash[QS_AUDIT_HASH_LEN] = {0};
    uint64_t last_seq = 0;
    mac_pool pool;
    bool have_pool = false;
    qs_err r;

    if (res != NULL)
        memset(res, 0, sizeof *res);
    if (db == NULL || (hs == NULL && (o == NULL || o->hsm == NULL)) ||
        !qs_audit_writer_id_valid(writer_id))
        return QS_ERR_INVALID_ARGUMENT;
    r = qs_db_run_txn_opt(db, "audit_verify_writer", QS_DB_TXN_READ_ONLY, writer_txn, &wc);
    if (r != QS_OK)
        goto out;
    if (strcmp(wc.label, QS_AUDIT_MAC_KEY_LABEL) != 0) {
        qs_error("audit chain %s: MACs made with key \"%s\", this verifier knows \"%s\"", writer_id,
                 wc.label, QS_AUDIT_MAC_KEY_LABEL);
        r = QS_ERR_UNSUPPORTED;
        goto out;
    }
    v.spki = wc.spki;
    v.spki_len = wc.spki_len;
    if (wc.spki != NULL) {
        v.key = qs_audit_key_parse(wc.spki, wc.spki_len);
        if (v.key == NULL)
            qs_warn("audit chain %s: the registered checkpoint key is not an EC P-256 key",
                    writer_id);
    }
    for (int i = 0; i < 2; i++) {
        ps[i] = calloc(1, sizeof *ps[i]);
        if (ps[i] == NULL) {
            r = QS_ERR_NOMEM;
            goto out;
        }
        ps[i]->pc.writer_id = writer_id;
    }
    if (o != NULL && o->hsm != NULL) {
        unsigned n = o->mac_threads == 0 ? 1 : o->mac_threads;
        if (n > QS_AUDIT_VERIFY_MAC_THREADS_MAX)
            n = QS_AUDIT_VERIFY_MAC_THREADS_MAX;
        r = mac_pool_start(&pool, o->hsm, n);
        if (r != QS_OK)
            goto out;
        have_pool = true;
    }

    /* The current page's MACs are checked while the next page is read and pre-checked. */
    page_state *cur = ps[0], *next = ps[1];
    r = fetch_page(db, cur, 0);
    if (r == QS_OK)
        r = precheck_page(cur, &pos, writer_id);
    if (r != QS_OK)
        goto out;
    if (have_pool && cur->pc.n > 0)
        mac_pool_submit(&pool, cur->pc.rows, cur->skip_mac, cur->bad_mac, cur->pc.n);
    bool have_cur = cur->pc.n > 0;
    while (have_cur) {
        bool have_next = false;
        qs_err fr = QS_OK;
        if (cur->pc.n == QS_AUDIT_VERIFY_PAGE) {
            fr = fetch_page(db, next, cur->pc.rows[cur->pc.n - 1].seq);
            if (fr == QS_OK)
                fr = precheck_page(next, &pos, writer_id);
            have_next = fr == QS_OK && next->pc.n > 0;
        }
        r = have_pool ? mac_pool_wait(&pool) : mac_page_inline(hs, cur);
        if (r == QS_OK)
            r = fr;
        if (r != QS_OK)
            goto out;
        report_page(&v, cur, &last_seq, last_hash);
        if (v.err != QS_OK) {
            r = v.err;
            goto out;
        }
        if (o != NULL && o->progress != NULL)
            o->progress(o->progress_cls, writer_id, v.res.records, wc.head_seq);
        if (v.stop)
            break;
        if (have_pool && have_next)
            mac_pool_submit(&pool, next->pc.rows, next->skip_mac, next->bad_mac, next->pc.n);
        page_state *t = cur;
        cur = next;
        next = t;
        have_cur = have_next;
    }
    /* Checkpoints beyond the chain's end. */
    if (!v.stop)
        check_checkpoints(&v, UINT64_MAX, last_seq, last_hash, true);
    if (v.err != QS_OK) {
        r = v.err;
        goto out;
    }
    r = v.res.findings > 0 ? QS_ERR_MAC : QS_OK;
    if (r == QS_OK)
        qs_info("audit chain %s: %llu records and %llu checkpoints verified", writer_id,
                (unsigned long long)v.res.records, (unsigned long long)v.res.checkpoints);
out:
    if (have_pool) {
        /* A page may still be in the workers' hands after an error. */
        (void)mac_pool_wait(&pool);
        mac_pool_stop(&pool);
    }
    v.res.last_seq = last_seq;
    if (res != NULL)
        *res = v.res;
    for (int i = 0; i < 2; i++) {
        if (ps[i] != NULL)
            qs_db_audit_rows_free(ps[i]->pc.rows, ps[i]->pc.n);
        free(ps[i]);
    }
    free(v.cp.cps);
    EVP_PKEY_free(v.key);
    EVP_PKEY_free(v.exp_key);
    free(v.exp_key_spki);
    free(wc.label);
    free(wc.spki);
    return r;
}

qs_err qs_audit_verify_chain(qs_db *db, qs_hsm_session *hs, const char *writer_id,
                             qs_audit_finding_cb cb, void *cls, uint64_t *count)
{
    qs_audit_verify_opts o = {.finding = cb, .finding_cls = cls};
    qs_audit_verify_result res;
    qs_err r = qs_audit_verify_writer(db, hs, writer_id, &o, &res);
    if (count != NULL)
        *count = res.records;
    return r;
}

/* ---- Every writer, with an export --------------------------------------------------------- */

/* The export, read a line at a time with one line of look-ahead. */
typedef struct export_reader {
    FILE *f;
    char *line;
    size_t cap;
    unsigned long lineno;
    bool have, eof;
    qs_audit_checkpoint cp; /* the look-ahead line */
    uint8_t *spki;
    size_t spki_len;
    uint8_t *given_spki; /* the key of the line handed out last */
    char prev_writer[QS_AUDIT_WRITER_ID_MAX + 1];
    uint64_t prev_seq;
    char *why;
    size_t why_len;
} export_reader;

static qs_err reader_fail(export_reader *er, const char *what)
{
    if (er->why != NULL && er->why_len > 0)
        snprintf(er->why, er->why_len, "line %lu: %s", er->lineno, what);
    return QS_ERR_PARSE;
}

/* Loads the next line into the look-ahead unless it is full or the file ended. */
static qs_err reader_peek(export_reader *er)
{
    while (!er->have && !er->eof && er->f != NULL) {
        ssize_t n = getline(&er->line, &er->cap, er->f);
        if (n < 0) {
            if (ferror(er->f))
                return QS_ERR_IO;
            er->eof = true;
            break;
        }
        er->lineno++;
        if ((size_t)n > QS_AUDIT_EXPORT_LINE_MAX)
            return reader_fail(er, "line too long");
        while (n > 0 && (er->line[n - 1] == '\n' || er->line[n - 1] == '\r'))
            er->line[--n] = '\0';
        if (n == 0)
            continue;
        if (strlen(er->line) != (size_t)n)
            return reader_fail(er, "NUL byte in the line");
        free(er->spki);
        er->spki = NULL;
        qs_err r = qs_audit_checkpoint_from_json(er->line, &er->cp, &er->spki, &er->spki_len);
        if (r == QS_ERR_PARSE)
            return reader_fail(er, "not a checkpoint export line (writer, seq, head_hash, time, "
                                   "signature, spki)");
        if (r != QS_OK)
            return r;
        int c = strcmp(er->cp.writer_id, er->prev_writer);
        if (c < 0 || (c == 0 && er->cp.seq <= er->prev_seq))
            return reader_fail(er, "out of order: lines go by writer id (byte order), then by "
                                   "increasing seq, as `qsignctl audit checkpoints export` "
                                   "writes them");
        memcpy(er->prev_writer, er->cp.writer_id, sizeof er->prev_writer);
        er->prev_seq = er->cp.seq;
        er->have = true;
    }
    return QS_OK;
}

/* The exported checkpoints of the writer being verified: those at the head of the file that
 * name it. */
static qs_err reader_next(void *cls, const char *writer_id, qs_audit_checkpoint *cp,
                          const uint8_t **spki, size_t *spki_len, bool *have)
{
    export_reader *er = cls;
    *have = false;
    qs_err r = reader_peek(er);
    if (r != QS_OK || !er->have || strcmp(er->cp.writer_id, writer_id) != 0)
        return r;
    *cp = er->cp;
    free(er->given_spki);
    er->given_spki = er->spki;
    er->spki = NULL;
    *spki = er->given_spki;
    *spki_len = er->spki_len;
    er->have = false;
    *have = true;
    return QS_OK;
}

typedef struct all_ctx {
    const qs_audit_verify_all_opts *o;
    uint64_t findings;
} all_ctx;

/* Reports the exported writers sorted before `upto` (NULL: all that are left), which the
 * database does not know. */
static qs_err drain_unknown(all_ctx *a, export_reader *er, const char *upto)
{
    for (;;) {
        qs_err r = reader_peek(er);
        if (r != QS_OK)
            return r;
        if (!er->have || (upto != NULL && strcmp(er->cp.writer_id, upto) >= 0))
            return QS_OK;
        char writer[QS_AUDIT_WRITER_ID_MAX + 1], what[200];
        memcpy(writer, er->cp.writer_id, sizeof writer);
        uint64_t first = er->cp.seq, n = 0;
        while (er->have && strcmp(er->cp.writer_id, writer) == 0) {
            n++;
            er->have = false;
            r = reader_peek(er);
            if (r != QS_OK)
                return r;
        }
        snprintf(what, sizeof what,
                 "the writer is not in the database, but the export holds %llu checkpoint%s of "
                 "its chain from seq %llu: the whole chain was removed",
                 (unsigned long long)n, n == 1 ? "" : "s", (unsigned long long)first);
        qs_info("audit chain %s: seq %llu: truncated: %s", writer, (unsigned long long)first, what);
        qs_audit_finding f = {writer, first, QS_AUDIT_TRUNCATED, what};
        qs_audit_verify_result res = {
            .exported = n, .findings = 1, .first_seq = first, .first_problem = QS_AUDIT_TRUNCATED};
        a->findings++;
        if (a->o->finding != NULL)
            (void)a->o->finding(a->o->finding_cls, &f);
        if (a->o->writer_done != NULL)
            a->o->writer_done(a->o->writer_done_cls, writer, QS_ERR_NOT_FOUND, &res);
    }
}

typedef struct list_ctx {
    char **ids;
    size_t n;
} list_ctx;

static qs_err list_txn(qs_db *db, void *cls)
{
    list_ctx *c = cls;
    qs_db_audit_writers_free(c->ids, c->n);
    c->ids = NULL;
    c->n = 0;
    return qs_db_audit_writers(db, &c->ids, &c->n);
}

qs_err qs_audit_verify_all(qs_db *db, qs_hsm_session *hs, const qs_audit_verify_all_opts *o,
                           uint64_t *findings)
{
    static const qs_audit_verify_all_opts none = {0};
    all_ctx a = {.o = o != NULL ? o : &none};
    list_ctx list = {0};
    export_reader er = {.f = a.o->exported, .why = a.o->why, .why_len = a.o->why_len};
    qs_err r;

    if (findings != NULL)
        *findings = 0;
    if (a.o->why != NULL && a.o->why_len > 0)
        a.o->why[0] = '\0';
    r = qs_db_run_txn_opt(db, "audit_verify_writers", QS_DB_TXN_READ_ONLY, list_txn, &list);
    for (size_t w = 0; r == QS_OK && w < list.n; w++) {
        const char *id = list.ids[w];
        r = drain_unknown(&a, &er, id);
        if (r != QS_OK)
            break;
        qs_audit_verify_opts vo = {
            .finding = a.o->finding,
            .finding_cls = a.o->finding_cls,
            .exported = a.o->exported != NULL ? reader_next : NULL,
            .exported_cls = &er,
            .progress = a.o->progress,
            .progress_cls = a.o->progress_cls,
            .hsm = a.o->hsm,
            .mac_threads = a.o->mac_threads,
        };
        qs_audit_verify_result res;
        qs_err wr = qs_audit_verify_writer(db, hs, id, &vo, &res);
        a.findings += res.findings;
        if (a.o->writer_done != NULL)
            a.o->writer_done(a.o->writer_done_cls, id, wr, &res);
        if (wr == QS_ERR_UNSUPPORTED) {
            /* A chain this verifier cannot check is a finding of its own. */
            a.findings++;
        } else if (wr != QS_OK && wr != QS_ERR_MAC) {
            r = wr;
            break;
        }
        /* Exported lines of this writer left over (a callback asked to stop). */
        while (r == QS_OK && (r = reader_peek(&er)) == QS_OK && er.have &&
               strcmp(er.cp.writer_id, id) == 0)
            er.have = false;
    }
    if (r == QS_OK)
        r = drain_unknown(&a, &er, NULL);
    if (r == QS_OK && a.findings > 0)
        r = QS_ERR_MAC;
    if (findings != NULL)
        *findings = a.findings;
    free(er.line);
    free(er.spki);
    free(er.given_spki);
    qs_db_audit_writers_free(list.ids, list.n);
    return r;
}
