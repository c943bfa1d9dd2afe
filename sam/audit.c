/*
 * The audit writer: request threads queue events and wait; one writer thread commits them in
 * batches (group commit) to the writer's hash chain.  sam/audit.h describes the design and the
 * record encoding.
 *
 * Threads and state: `mu` guards the queue, the stopping flag and the counters; each waiting
 * request has its own condition variable, so a finished batch wakes exactly its callers.  The
 * database connection, the HSM session and the chain head belong to the writer thread alone
 * (qs_audit_start uses them before the thread exists).
 *
 * The chain head (last seq and record_hash) is trusted only after it was read from the database
 * and its hash and MAC verified; after any failed batch it is read again.  The writer's advisory
 * lock is tied to its connection: whenever the connection changed (qs_db_generation), the lock
 * is taken again before anything is written, and a writer that cannot get it fails its batches
 * (another process took the chain over).  The table's trigger refuses any record that does not
 * extend the stored chain, so a stale head can only make a batch fail, never fork the chain.
 *
 * Checkpoints are the writer thread's too: after it woke a batch's callers, and when it waits
 * idle with a time limit pending, it signs the committed head and stores the checkpoint in a
 * transaction of its own.  A failed checkpoint is logged, counted and tried again no sooner
 * than QS_AUDIT_CHECKPOINT_RETRY_MS later; it never fails an append.  The last checkpoint is
 * read with the head: a checkpoint beyond the head, or at the head with another hash, means
 * records were deleted or rewritten, and the writer refuses to extend such a chain as it
 * refuses a head that fails its MAC.
 */
#define QS_LOG_MODULE "audit"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db_audit.h"
#include "sam/audit_internal.h"
#include "util/log.h"
#include "util/secret.h"

/* One append call waiting for its batch.  Lives on the caller's stack; the writer thread never
 * touches it after marking it done. */
typedef struct audit_req {
    struct audit_req *next;
    qs_db_audit_row *rows; /* n owning rows; seq, prev_hash, record_hash and MAC are the
                            * writer's to fill */
    size_t n;
    pthread_cond_t done_cv;
    bool done;
    qs_err result;
    uint64_t first_seq;
} audit_req;

struct qs_audit {
    char writer_id[QS_AUDIT_WRITER_ID_MAX + 1];
    size_t max_batch;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* the writer thread waits here for work */
    audit_req *queue_head, *queue_tail;
    bool stopping;
    qs_audit_stats stats;

    /* The writer thread's own (qs_audit_start's before the thread runs). */
    pthread_t thread;
    bool thread_started;
    qs_db *db;
    qs_hsm_session *hs;
    bool have_head;    /* head_seq/head_hash were read and verified */
    uint64_t head_seq; /* 0: empty chain */
    uint8_t head_hash[QS_AUDIT_HASH_LEN];
    uint64_t lock_generation; /* qs_db_generation when the advisory lock was taken; 0: never */

    /* Checkpoints (the writer thread's). */
    uint64_t cp_every_records;
    unsigned cp_every_seconds;
    uint64_t cp_seq;     /* seq of the last stored checkpoint (0: none), read with the head */
    int64_t cp_last_ms;  /* monotonic time of the last checkpoint (or of the start) */
    int64_t cp_retry_ms; /* no new attempt before this monotonic time, after a failure */
    EVP_PKEY *cp_key;    /* the audit key's public half, to check each signature made */
};

static const uint8_t zero_hash[QS_AUDIT_HASH_LEN];

/* How long the writer waits for its lock when it is taken: a session that just ended (this
 * writer's own lost connection, or a process that just stopped) releases it only when its
 * server backend has exited, a moment after the connection closed. */
#define QS_AUDIT_LOCK_WAIT_MS 3000
#define QS_AUDIT_LOCK_POLL_MS 20
/* Least time between two attempts at a checkpoint when one failed. */
#define QS_AUDIT_CHECKPOINT_RETRY_MS 1000

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- The writer's lock and head ----------------------------------------------------------- */

/* Takes the writer lock (again) if the connection changed since it was taken, waiting up to
 * QS_AUDIT_LOCK_WAIT_MS for a holder that is going away.  QS_ERR_EXISTS if another session
 * keeps it (the callers log it). */
static qs_err ensure_lock(qs_audit *a, qs_db *db)
{
    uint64_t gen = qs_db_generation(db);
    if (gen == a->lock_generation)
        return QS_OK;
    for (int waited = 0;; waited += QS_AUDIT_LOCK_POLL_MS) {
        bool locked;
        qs_err r = qs_db_audit_writer_try_lock(db, a->writer_id, &locked);
        if (r != QS_OK)
            return r;
        if (locked)
            break;
        if (waited >= QS_AUDIT_LOCK_WAIT_MS)
            return QS_ERR_EXISTS;
        struct timespec ts = {0, QS_AUDIT_LOCK_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    a->lock_generation = gen;
    return QS_OK;
}

typedef struct head_ctx {
    qs_audit *a;
    qs_db_audit_row row;
    bool found;
    qs_db_audit_checkpoint cp;
    bool cp_found;
} head_ctx;

static qs_err head_txn(qs_db *db, void *cls)
{
    head_ctx *h = cls;
    qs_db_audit_row_clear(&h->row);
    h->found = false;
    qs_err r = ensure_lock(h->a, db);
    if (r == QS_OK)
        r = qs_db_audit_head(db, h->a->writer_id, &h->row, &h->found);
    if (r == QS_OK)
        r = qs_db_audit_checkpoint_last(db, h->a->writer_id, &h->cp, &h->cp_found);
    return r;
}

/* The last checkpoint must not lie beyond the head, nor name the head with another hash. */
static qs_err check_head_checkpoint(qs_audit *a, const head_ctx *h)
{
    uint64_t head = h->found ? (uint64_t)h->row.seq : 0;
    if (!h->cp_found)
        return QS_OK;
    if ((uint64_t)h->cp.seq > head) {
        qs_error("audit chain %s: the head is seq %llu but a checkpoint covers seq %lld: records "
                 "were deleted; refusing to extend it",
                 a->writer_id, (unsigned long long)head, (long long)h->cp.seq);
        return QS_ERR_MAC;
    }
    if ((uint64_t)h->cp.seq == head &&
        !qs_ct_equal(h->cp.head_hash, h->row.record_hash, QS_AUDIT_HASH_LEN)) {
        qs_error("audit chain %s: the head (seq %llu) is not the record its checkpoint signed: "
                 "the chain was rewritten; refusing to extend it",
                 a->writer_id, (unsigned long long)head);
        return QS_ERR_MAC;
    }
    return QS_OK;
}

/* Reads the chain's head and last checkpoint under the writer lock and verifies the head's hash
 * and MAC. */
static qs_err load_head(qs_audit *a)
{
    head_ctx h = {.a = a};
    qs_audit_problem problem = QS_AUDIT_BAD_HASH;
    bool had_head = a->have_head;
    uint64_t old_seq = a->head_seq;

    a->have_head = false;
    qs_err r = qs_db_run_txn_opt(a->db, "audit_load_head", QS_DB_TXN_READ_COMMITTED, head_txn, &h);
    if (r != QS_OK)
        goto out;
    if (!h.found) {
        a->head_seq = 0;
        memcpy(a->head_hash, zero_hash, sizeof a->head_hash);
    } else {
        if (h.row.seq < 1) {
            r = QS_ERR_DB;
            goto out;
        }
        r = qs_audit_row_check(a->hs, a->writer_id, &h.row, &problem);
        if (r == QS_ERR_MAC) {
            qs_error("audit chain %s: the head record (seq %lld) fails verification (%s): the "
                     "stored chain was altered; refusing to extend it",
                     a->writer_id, (long long)h.row.seq, qs_audit_problem_name(problem));
            goto out;
        }
        if (r != QS_OK)
            goto out;
        a->head_seq = (uint64_t)h.row.seq;
        memcpy(a->head_hash, h.row.record_hash, sizeof a->head_hash);
    }
    r = check_head_checkpoint(a, &h);
    if (r != QS_OK)
        goto out;
    a->cp_seq = h.cp_found ? (uint64_t)h.cp.seq : 0;
    if (had_head && a->head_seq != old_seq)
        qs_info("audit chain %s: head is seq %llu (was %llu before the failure)", a->writer_id,
                (unsigned long long)a->head_seq, (unsigned long long)old_seq);
    a->have_head = true;
    r = QS_OK;
out:
    qs_db_audit_row_clear(&h.row);
    return r;
}

/* ---- Writing one batch -------------------------------------------------------------------- */

typedef struct batch {
    qs_audit *a;
    qs_db_audit_row *rows; /* borrowed from the requests, copied contiguously */
    size_t n;
} batch;

static qs_err insert_txn(qs_db *db, void *cls)
{
    batch *b = cls;
    qs_err r = ensure_lock(b->a, db);
    if (r != QS_OK)
        return r;
    return qs_db_audit_insert(db, b->a->writer_id, b->rows, b->n);
}

/* Chains, MACs and commits the batch's records.  On QS_OK a->head is its last record. */
static qs_err write_batch(qs_audit *a, audit_req *first, size_t nreq, size_t nrec)
{
    qs_err r;
    batch b = {.a = a, .n = nrec};

    if (!a->have_head) {
        r = load_head(a);
        if (r != QS_OK)
            return r;
    }
    b.rows = malloc(nrec * sizeof *b.rows);
    if (b.rows == NULL)
        return QS_ERR_NOMEM;

    uint64_t seq = a->head_seq;
    const uint8_t *prev = a->head_hash;
    size_t k = 0;
    audit_req *q = first;
    for (size_t i = 0; i < nreq; i++, q = q->next) {
        q->first_seq = seq + 1;
        for (size_t j = 0; j < q->n; j++) {
            qs_db_audit_row *row = &q->rows[j];
            qs_audit_record rec;
            row->seq = (int64_t)++seq;
            memcpy(row->prev_hash, prev, sizeof row->prev_hash);
            qs_audit_record_from_row(a->writer_id, row, &rec);
            r = qs_audit_record_hash(&rec, row->record_hash);
            if (r == QS_OK)
                r = qs_audit_record_mac(a->hs, row->record_hash, row->record_mac);
            if (r != QS_OK)
                goto out;
            prev = row->record_hash;
            b.rows[k++] = *row;
        }
    }

    r = qs_db_run_txn_opt(a->db, "audit_append", QS_DB_TXN_READ_COMMITTED, insert_txn, &b);
    if (r == QS_OK) {
        a->head_seq = seq;
        memcpy(a->head_hash, prev, sizeof a->head_hash);
        goto out;
    }
    /* Whatever failed, the head is read again before the next batch. */
    a->have_head = false;
    if (r == QS_ERR_DB_UNAVAILABLE) {
        /* Perhaps lost during COMMIT: the head tells whether this batch is in. */
        uint8_t last[QS_AUDIT_HASH_LEN];
        memcpy(last, prev, sizeof last);
        if (load_head(a) == QS_OK && a->head_seq == seq &&
            memcmp(a->head_hash, last, sizeof last) == 0) {
            qs_warn("audit chain %s: batch up to seq %llu committed although its connection "
                    "was lost",
                    a->writer_id, (unsigned long long)seq);
            r = QS_OK;
        }
    }
out:
    free(b.rows);
    return r;
}

/* ---- Checkpoints ------------------------------------------------------------------------ */

typedef struct checkpoint_ctx {
    qs_audit *a;
    qs_db_audit_checkpoint row;
} checkpoint_ctx;

static qs_err checkpoint_txn(qs_db *db, void *cls)
{
    checkpoint_ctx *c = cls;
    qs_err r = ensure_lock(c->a, db);
    if (r != QS_OK)
        return r;
    return qs_db_audit_checkpoint_insert(db, c->a->writer_id, &c->row);
}

/* Whether the committed head is known and not checkpointed yet. */
static bool head_uncovered(const qs_audit *a)
{
    return a->have_head && a->head_seq > a->cp_seq;
}

/* Whether a checkpoint is due now (writer thread). */
static bool checkpoint_due(const qs_audit *a, int64_t now)
{
    if (!head_uncovered(a) || now < a->cp_retry_ms)
        return false;
    if (a->cp_every_records > 0 && a->head_seq - a->cp_seq >= a->cp_every_records)
        return true;
    return a->cp_every_seconds > 0 && now - a->cp_last_ms >= (int64_t)a->cp_every_seconds * 1000;
}

/* Signs the committed head and stores the checkpoint (writer thread, without a->mu). */
static void write_checkpoint(qs_audit *a)
{
    checkpoint_ctx c = {.a = a};
    qs_audit_checkpoint cp = {.seq = a->head_seq, .time_us = now_us()};
    memcpy(cp.writer_id, a->writer_id, sizeof cp.writer_id);
    memcpy(cp.head_hash, a->head_hash, sizeof cp.head_hash);

    qs_err r = qs_audit_checkpoint_sign(a->hs, &cp);
    if (r == QS_OK && qs_audit_checkpoint_verify_key(&cp, a->cp_key) != QS_OK) {
        qs_error("audit chain %s: a checkpoint signed by the HSM does not verify with the audit "
                 "key's public half: the key pair in the token is inconsistent",
                 a->writer_id);
        r = QS_ERR_HSM_KEY_POLICY;
    }
    if (r == QS_OK) {
        c.row.seq = (int64_t)cp.seq;
        memcpy(c.row.head_hash, cp.head_hash, sizeof c.row.head_hash);
        c.row.time_us = cp.time_us;
        memcpy(c.row.signature, cp.signature, cp.signature_len);
        c.row.signature_len = cp.signature_len;
        r = qs_db_run_txn_opt(a->db, "audit_checkpoint", QS_DB_TXN_READ_COMMITTED, checkpoint_txn,
                              &c);
    }
    int64_t now = mono_ms();
    pthread_mutex_lock(&a->mu);
    if (r == QS_OK) {
        a->cp_seq = cp.seq;
        a->cp_last_ms = now;
        a->stats.checkpoints++;
        a->stats.checkpoint_seq = cp.seq;
    } else {
        a->cp_retry_ms = now + QS_AUDIT_CHECKPOINT_RETRY_MS;
        a->stats.failed_checkpoints++;
    }
    pthread_mutex_unlock(&a->mu);
    if (r != QS_OK) {
        qs_warn("audit chain %s: checkpoint of seq %llu failed: %s", a->writer_id,
                (unsigned long long)cp.seq, qs_err_name(r));
        /* Read head and last checkpoint again before the next try: another checkpoint may
         * have been stored meanwhile. */
        a->have_head = false;
    }
}

/* ---- The writer thread -------------------------------------------------------------------- */

/* Waits on a->wake (a->mu held) until work arrives, the writer stops, or a time-limited
 * checkpoint falls due; returns with a->mu held. */
static void wait_for_work(qs_audit *a)
{
    if (a->cp_every_seconds == 0 || !head_uncovered(a)) {
        pthread_cond_wait(&a->wake, &a->mu);
        return;
    }
    int64_t due = a->cp_last_ms + (int64_t)a->cp_every_seconds * 1000;
    if (due < a->cp_retry_ms)
        due = a->cp_retry_ms;
    struct timespec ts = {.tv_sec = due / 1000, .tv_nsec = (long)(due % 1000) * 1000000L};
    (void)pthread_cond_timedwait(&a->wake, &a->mu, &ts);
}

static void *writer_main(void *arg)
{
    qs_audit *a = arg;

    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (a->queue_head == NULL && !a->stopping) {
            if (checkpoint_due(a, mono_ms())) {
                pthread_mutex_unlock(&a->mu);
                write_checkpoint(a);
                pthread_mutex_lock(&a->mu);
                continue;
            }
            wait_for_work(a);
        }
        if (a->queue_head == NULL)
            break;

        /* Everything queued, up to max_batch records; one call's events stay together, and a
         * call larger than max_batch goes alone. */
        audit_req *first = a->queue_head, *last = first;
        size_t nreq = 1, nrec = first->n;
        while (last->next != NULL && nrec + last->next->n <= a->max_batch) {
            last = last->next;
            nreq++;
            nrec += last->n;
        }
        a->queue_head = last->next;
        if (a->queue_head == NULL)
            a->queue_tail = NULL;
        last->next = NULL;
        a->stats.queued -= nrec;
        a->stats.in_flight = nrec;
        pthread_mutex_unlock(&a->mu);

        qs_err r = write_batch(a, first, nreq, nrec);

        pthread_mutex_lock(&a->mu);
        a->stats.in_flight = 0;
        if (a->have_head)
            a->stats.head_seq = a->head_seq;
        if (r == QS_OK) {
            a->stats.batches++;
            a->stats.records += nrec;
            if (nrec > a->stats.largest_batch)
                a->stats.largest_batch = nrec;
        } else {
            a->stats.failed_batches++;
            a->stats.failed_records += nrec;
            if (r == QS_ERR_EXISTS)
                qs_error("audit writer %s: another process took the writer's lock while the "
                         "connection was down; refusing to write",
                         a->writer_id);
            qs_warn("audit chain %s: a batch of %zu records (%zu requests) failed: %s",
                    a->writer_id, nrec, nreq, qs_err_name(r));
        }
        for (audit_req *q = first; q != NULL;) {
            audit_req *next = q->next;
            q->result = r;
            q->done = true;
            pthread_cond_signal(&q->done_cv);
            q = next;
        }
        /* The callers are on their way; now the checkpoint, if one is due. */
        if (checkpoint_due(a, mono_ms())) {
            pthread_mutex_unlock(&a->mu);
            write_checkpoint(a);
            pthread_mutex_lock(&a->mu);
        }
    }
    pthread_mutex_unlock(&a->mu);

    /* The final head, whatever the periods. */
    if (!a->have_head && load_head(a) != QS_OK)
        qs_warn("audit chain %s: no final checkpoint: the head cannot be read", a->writer_id);
    else if (head_uncovered(a))
        write_checkpoint(a);
    return NULL;
}

/* ---- Appending ---------------------------------------------------------------------------- */

/* Copies the events into owning rows. */
static qs_err copy_events(const qs_audit_event *evs, size_t n, qs_db_audit_row **out)
{
    qs_db_audit_row *rows = calloc(n, sizeof *rows);
    *out = NULL;
    if (rows == NULL)
        return QS_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const qs_audit_event *ev = &evs[i];
        qs_db_audit_row *row = &rows[i];
        row->event_type = strdup(ev->event_type);
        row->actor = strdup(ev->actor);
        row->details = strdup(ev->details_json != NULL ? ev->details_json : "{}");
        if (row->event_type == NULL || row->actor == NULL || row->details == NULL) {
            qs_db_audit_rows_free(rows, n);
            return QS_ERR_NOMEM;
        }
        if ((row->has_user_id = ev->user_id != NULL))
            memcpy(row->user_id, ev->user_id, sizeof row->user_id);
        if ((row->has_credential_id = ev->credential_id != NULL))
            memcpy(row->credential_id, ev->credential_id, sizeof row->credential_id);
        if ((row->has_sad_ref = ev->sad_ref != NULL))
            memcpy(row->sad_ref, ev->sad_ref, sizeof row->sad_ref);
        row->success = ev->success;
    }
    *out = rows;
    return QS_OK;
}

qs_err qs_audit_append_many(qs_audit *a, const qs_audit_event *evs, size_t n, qs_audit_ref *out)
{
    audit_req req;
    qs_err r;

    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (a == NULL || evs == NULL || n == 0 || n > QS_AUDIT_APPEND_MANY_MAX) {
        qs_bug("audit append of %zu events", n);
        return QS_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < n; i++) {
        r = qs_audit_event_check(&evs[i]);
        if (r != QS_OK)
            return r;
    }

    memset(&req, 0, sizeof req);
    req.n = n;
    r = copy_events(evs, n, &req.rows);
    if (r != QS_OK)
        return r;
    if (pthread_cond_init(&req.done_cv, NULL) != 0) {
        qs_db_audit_rows_free(req.rows, n);
        return QS_ERR_INTERNAL;
    }

    pthread_mutex_lock(&a->mu);
    if (a->stopping) {
        pthread_mutex_unlock(&a->mu);
        qs_bug("audit append after qs_audit_stop");
        r = QS_ERR_INVALID_ARGUMENT;
        goto out;
    }
    /* The event time is taken in queue order, so it does not decrease along the chain unless
     * the system clock is stepped back. */
    int64_t t = now_us();
    for (size_t i = 0; i < n; i++)
        req.rows[i].event_time_us = t;
    /* The request lives on this stack: the writer takes it off the queue before it sets done,
     * and this function returns only after done. */
    if (a->queue_tail != NULL)
        a->queue_tail->next = &req; /* cppcheck-suppress autoVariables */
    else
        a->queue_head = &req; /* cppcheck-suppress autoVariables */
    a->queue_tail = &req;     /* cppcheck-suppress autoVariables */
    a->stats.queued += n;
    pthread_cond_signal(&a->wake);
    while (!req.done)
        pthread_cond_wait(&req.done_cv, &a->mu);
    pthread_mutex_unlock(&a->mu);

    r = req.result;
    if (r == QS_OK && out != NULL) {
        memcpy(out->writer_id, a->writer_id, sizeof out->writer_id);
        out->seq = req.first_seq;
    }
out:
    pthread_cond_destroy(&req.done_cv);
    qs_db_audit_rows_free(req.rows, n);
    return r;
}

qs_err qs_audit_append(qs_audit *a, const qs_audit_event *ev, qs_audit_ref *out)
{
    return qs_audit_append_many(a, ev, 1, out);
}

void qs_audit_get_stats(qs_audit *a, qs_audit_stats *out)
{
    pthread_mutex_lock(&a->mu);
    *out = a->stats;
    pthread_mutex_unlock(&a->mu);
}

/* ---- Start and stop ----------------------------------------------------------------------- */

typedef struct register_ctx {
    const qs_audit_params *p;
    const uint8_t *spki; /* the HSM's audit key */
    size_t spki_len;
    bool durable;
    bool created;
    bool key_set;  /* this call registered the checkpoint key */
    bool key_same; /* the registered checkpoint key is the HSM's */
    char *label;
} register_ctx;

static qs_err register_txn(qs_db *db, void *cls)
{
    register_ctx *c = cls;
    uint8_t *stored = NULL;
    size_t stored_len = 0;
    free(c->label);
    c->label = NULL;
    c->key_set = c->key_same = false;
    qs_err r = qs_db_audit_session_durable(db, &c->durable);
    if (r == QS_OK)
        r = qs_db_audit_writer_register(db, c->p->writer_id, c->p->description,
                                        QS_AUDIT_MAC_KEY_LABEL, &c->created);
    if (r == QS_OK)
        r = qs_db_audit_writer_label(db, c->p->writer_id, &c->label);
    if (r == QS_OK)
        r = qs_db_audit_writer_key(db, c->p->writer_id, &stored, &stored_len);
    if (r == QS_OK && stored == NULL) {
        r = qs_db_audit_writer_set_key(db, c->p->writer_id, c->spki, c->spki_len, &c->key_set);
        c->key_same = c->key_set;
    } else if (r == QS_OK) {
        c->key_same = stored_len == c->spki_len && memcmp(stored, c->spki, stored_len) == 0;
    }
    free(stored);
    return r;
}

static qs_err check_params(const qs_audit_params *p)
{
    if (p == NULL || p->conninfo == NULL || p->hsm == NULL) {
        qs_bug("audit writer: missing conninfo or HSM");
        return QS_ERR_INVALID_ARGUMENT;
    }
    if (!qs_audit_writer_id_valid(p->writer_id)) {
        qs_error("audit writer id must be 1..%d characters of [A-Za-z0-9._-], starting with a "
                 "letter or digit",
                 QS_AUDIT_WRITER_ID_MAX);
        return QS_ERR_INVALID_ARGUMENT;
    }
    if (p->description != NULL) {
        long chars = qs_audit_utf8_chars(p->description, strlen(p->description));
        if (chars < 0 || chars > QS_AUDIT_DESCRIPTION_MAX) {
            qs_error("audit writer description must be at most %d characters of UTF-8",
                     QS_AUDIT_DESCRIPTION_MAX);
            return QS_ERR_INVALID_ARGUMENT;
        }
    }
    return QS_OK;
}

static void audit_free(qs_audit *a)
{
    EVP_PKEY_free(a->cp_key);
    qs_db_free(a->db);
    qs_hsm_session_close(a->hs);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

qs_err qs_audit_start(const qs_audit_params *p, qs_audit **out)
{
    qs_audit *a = NULL;
    register_ctx reg = {.p = p};
    uint8_t *spki = NULL;
    size_t spki_len = 0;
    pthread_condattr_t ca;
    qs_err r;

    *out = NULL;
    r = check_params(p);
    if (r != QS_OK)
        return r;
    a = calloc(1, sizeof *a);
    if (a == NULL)
        return QS_ERR_NOMEM;
    if (pthread_mutex_init(&a->mu, NULL) != 0) {
        free(a);
        return QS_ERR_INTERNAL;
    }
    /* The checkpoint timer runs on the monotonic clock, as mono_ms does. */
    bool cv_ok = pthread_condattr_init(&ca) == 0;
    if (cv_ok) {
        cv_ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
                pthread_cond_init(&a->wake, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (!cv_ok) {
        pthread_mutex_destroy(&a->mu);
        free(a);
        return QS_ERR_INTERNAL;
    }
    memcpy(a->writer_id, p->writer_id, strlen(p->writer_id) + 1);
    a->max_batch = p->max_batch != 0 ? p->max_batch : QS_AUDIT_MAX_BATCH_DEFAULT;
    a->cp_every_records = p->checkpoint_every_records;
    a->cp_every_seconds = p->checkpoint_every_seconds;
    a->cp_last_ms = mono_ms();

    r = qs_db_connect(p->conninfo, &a->db);
    if (r != QS_OK)
        goto out;
    r = qs_db_check_schema(a->db);
    if (r != QS_OK)
        goto out;
    r = qs_hsm_session_open(p->hsm, &a->hs);
    if (r != QS_OK)
        goto out;
    r = qs_hsm_service_public_key(p->hsm, QS_HSM_AUDIT_SIGN, &spki, &spki_len);
    if (r != QS_OK)
        goto out;
    a->cp_key = qs_audit_key_parse(spki, spki_len);
    if (a->cp_key == NULL) {
        qs_error("audit writer %s: the HSM's audit key is not an EC P-256 key", a->writer_id);
        r = QS_ERR_HSM_KEY_POLICY;
        goto out;
    }
    reg.spki = spki;
    reg.spki_len = spki_len;
    r = qs_db_run_txn(a->db, "audit_register_writer", register_txn, &reg);
    if (r != QS_OK)
        goto out;
    if (!reg.durable) {
        qs_error("audit writer %s: synchronous_commit is off for role qsign_sam, so a commit "
                 "would not be durable when it returns; run db/roles.sql (it sets it on) or "
                 "drop the override",
                 a->writer_id);
        r = QS_ERR_CONFIG;
        goto out;
    }
    if (strcmp(reg.label, QS_AUDIT_MAC_KEY_LABEL) != 0) {
        qs_error("audit writer %s is registered with MAC key \"%s\", this SAM MACs with \"%s\"",
                 a->writer_id, reg.label, QS_AUDIT_MAC_KEY_LABEL);
        r = QS_ERR_CONFIG;
        goto out;
    }
    if (!reg.key_same) {
        qs_error("audit writer %s is registered with another checkpoint key than this HSM's "
                 "audit key: a chain keeps one key; give this SAM a new writer id",
                 a->writer_id);
        r = QS_ERR_CONFIG;
        goto out;
    }
    if (reg.key_set)
        qs_info("audit writer %s: checkpoint key registered", a->writer_id);
    r = load_head(a);
    if (r == QS_ERR_EXISTS)
        qs_error("audit writer %s is running in another process (it holds the writer's lock): "
                 "two processes must never write one chain",
                 a->writer_id);
    if (r != QS_OK)
        goto out;
    a->stats.head_seq = a->head_seq;
    a->stats.checkpoint_seq = a->cp_seq;
    if (pthread_create(&a->thread, NULL, writer_main, a) != 0) {
        r = QS_ERR_INTERNAL;
        goto out;
    }
    a->thread_started = true;
    qs_info("audit writer %s started%s at seq %llu", a->writer_id,
            reg.created ? " (new chain)" : "", (unsigned long long)a->head_seq);
    *out = a;
    a = NULL;
    r = QS_OK;
out:
    free(reg.label);
    free(spki);
    if (a != NULL)
        audit_free(a);
    return r;
}

void qs_audit_stop(qs_audit *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    a->stopping = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->mu);
    if (a->thread_started)
        pthread_join(a->thread, NULL);
    qs_info("audit writer %s stopped at seq %llu", a->writer_id, (unsigned long long)a->head_seq);
    audit_free(a);
}
