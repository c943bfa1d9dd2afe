/*
 * Invariant 1 under a crash: no signature leaves qsign-sam before its audit record is durably
 * committed, even when the process dies at the worst moment.
 *
 * The real daemon signs for client threads (one connection each, SIGN requests of one hash and
 * of several) on SADs authorized up front, and is killed with SIGKILL in three rounds: right
 * after a one-hash answer came back, right after a many-hash answer came back, and at a moment
 * picked at random; each time other requests are in flight.  The clients record every signature
 * they received.  After each restart (same token, database and config):
 *   - every received signature has its committed signature.created record (SAD, credential,
 *     hash, and the SHA-256 of exactly the bytes received), and its digest is consumed;
 *   - no (SAD, hash) has two signature.created records, and none exists for a digest the
 *     database does not hold consumed; sads.remaining matches the consumed digests;
 *   - the audit chain verifies.
 * Records for signatures that never reached a client, and consumed digests without a record
 * (signed, never answered), are allowed and counted.  At the end the SADs still bind: consumed
 * digests are refused (alone, or beside an unconsumed one, which stays usable), unconsumed ones
 * sign once, and another signer cannot use an SAD.
 *
 * QS_TEST_SEED fixes the random choices (kill points, request sizes); the seed is printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "hsm/hsm.h"
#include "tests/lib/samd.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

#define N_SIGNERS       9 /* the last one has an RSA-2048 key, the others EC P-256 */
#define SADS_PER_SIGNER 2 /* the current and the next TOTP step: no waiting for the clock */
#define N_SADS          (N_SIGNERS * SADS_PER_SIGNER)
#define HASHES_PER_SAD  250
#define N_THREADS       6
#define N_WORKERS       4
#define N_ROUNDS        3
#define MAX_BATCH       32  /* most hashes in one SIGN request */
#define ROUND_LIMIT_S   120 /* a round that has not killed by then has failed */
#define HEX_LEN         64  /* a SHA-256 value in hex */
#define KEY_LEN         (2 * HEX_LEN)

typedef enum hash_state {
    H_UNUSED = 0, /* never sent */
    H_RECEIVED,   /* its signature came back */
    H_UNKNOWN,    /* sent, but the daemon died before answering */
} hash_state;

typedef struct hash_slot {
    uint8_t digest[QS_SHA256_LEN];
    char hex[HEX_LEN + 1];
    hash_state state;
    uint8_t sig[QS_HSM_SIG_MAX];
    size_t sig_len;
} hash_slot;

typedef struct sad_slot {
    int signer;
    char sad[QS_SAM_SAD_BUF];
    char ref_hex[HEX_LEN + 1]; /* sad_ref: SHA-256 of the handle */
    hash_slot h[HASHES_PER_SAD];
    size_t next; /* first hash never sent; only the owning thread moves it during a round */
} sad_slot;

typedef struct signer_slot {
    qs_test_signer s;
    char cred[QS_SAM_ID_BUF];
    uint8_t *spki;
    size_t spki_len;
    qs_sam_sig_scheme scheme;
} signer_slot;

typedef enum kill_mode {
    KILL_AFTER_SINGLE, /* by the client thread, as soon as a one-hash answer is in */
    KILL_AFTER_BATCH,  /* likewise after a many-hash answer */
    KILL_DELAYED,      /* by the main thread, a random 0-20 ms after enough answers */
} kill_mode;

static const char *const kill_mode_names[] = {"after a one-hash answer", "after a many-hash answer",
                                              "at a random moment"};

typedef struct crash {
    qs_test_samd *d;
    qs_sam_client *admin;
    signer_slot signers[N_SIGNERS];
    sad_slot sads[N_SADS];
    uint64_t seed;
    /* the round under way */
    kill_mode mode;
    long kill_at; /* signatures received in the round before the kill may come */
    atomic_long received;
    atomic_int in_flight;
    atomic_bool killed;
    atomic_int in_flight_at_kill;
    atomic_int running; /* client threads not yet finished */
} crash;

typedef struct client {
    crash *c;
    int idx;
    pthread_t tid;
    long requests, signatures;
    char error[256]; /* set when the thread met something other than the crash */
} client;

/* ---- small helpers --------------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *x)
{
    /* xorshift64*: reproducible from the printed seed */
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * UINT64_C(2685821657736338717);
}

static void to_hex(const uint8_t *p, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sha256_hex(const uint8_t *p, size_t n, char out[static HEX_LEN + 1])
{
    uint8_t md[QS_SHA256_LEN];
    unsigned int md_len = 0;
    assert_int_equal(EVP_Digest(p, n, md, &md_len, EVP_sha256(), NULL), 1);
    assert_int_equal(md_len, QS_SHA256_LEN);
    to_hex(md, sizeof md, out);
}

static bool is_transport_error(qs_err r)
{
    return r == QS_ERR_EOF || r == QS_ERR_IO || r == QS_ERR_TIMEOUT || r == QS_ERR_PROTO;
}

static bool verify_sig(const signer_slot *s, const uint8_t *digest, const uint8_t *sig,
                       size_t sig_len)
{
    const uint8_t *p = s->spki;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)s->spki_len);
    assert_non_null(pk);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
    if (s->scheme == QS_SAM_SIG_RSA_PKCS1) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()), 1);
    }
    int ok = EVP_PKEY_verify(ctx, sig, sig_len, digest, QS_SHA256_LEN);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return ok == 1;
}

static qs_err sign_on(qs_sam_client *sc, const crash *c, const sad_slot *sad, int signer_idx,
                      const qs_sam_bytes *h, size_t n, qs_sam_signatures *out)
{
    const signer_slot *who = &c->signers[signer_idx];
    qs_sam_sign_req q = {
        .user_id = who->s.user_id,
        .credential_id = who->cred,
        .sad = sad->sad,
        .hash_alg = QS_SAM_HASH_SHA256,
        .hashes = h,
        .n_hashes = n,
        .scheme = c->signers[sad->signer].scheme,
    };
    return qs_sam_client_sign(sc, &q, out);
}

/* ---- the client threads ---------------------------------------------------------------------- */

static void kill_now(crash *c, int others_in_flight)
{
    if (atomic_exchange(&c->killed, true))
        return;
    atomic_store(&c->in_flight_at_kill, others_in_flight);
    kill(c->d->pid, SIGKILL);
}

/* The next SAD of this thread with hashes left (thread t owns SADs t, t + N_THREADS, ...). */
static sad_slot *next_sad(crash *c, int idx, unsigned k)
{
    int owned = 0;
    for (int i = idx; i < N_SADS; i += N_THREADS)
        owned++;
    for (int j = 0; j < owned; j++) {
        sad_slot *s = &c->sads[idx + N_THREADS * (int)((k + (unsigned)j) % (unsigned)owned)];
        if (s->next < HASHES_PER_SAD)
            return s;
    }
    return NULL;
}

static void *client_main(void *arg)
{
    client *cl = arg;
    crash *c = cl->c;
    qs_sam_client *sc = NULL;
    uint64_t rng = c->seed ^ (UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(cl->idx + 1));

    if (qs_sam_client_connect(c->d->socket_path, 60000, &sc) != QS_OK) {
        if (!atomic_load(&c->killed))
            snprintf(cl->error, sizeof cl->error, "cannot connect");
        atomic_fetch_sub(&c->running, 1);
        return NULL;
    }
    for (unsigned k = 0; !atomic_load(&c->killed); k++) {
        sad_slot *sad = next_sad(c, cl->idx, k);
        if (sad == NULL) {
            snprintf(cl->error, sizeof cl->error, "out of authorized hashes before the kill");
            break;
        }
        size_t n = k % 4 == 3 ? 2 + (size_t)(rng_next(&rng) % (MAX_BATCH - 1)) : 1;
        if (n > HASHES_PER_SAD - sad->next)
            n = HASHES_PER_SAD - sad->next;
        size_t first = sad->next;
        sad->next += n;
        qs_sam_bytes b[MAX_BATCH];
        for (size_t i = 0; i < n; i++)
            b[i] = (qs_sam_bytes){sad->h[first + i].digest, QS_SHA256_LEN};

        qs_sam_signatures sigs;
        atomic_fetch_add(&c->in_flight, 1);
        qs_err r = sign_on(sc, c, sad, sad->signer, b, n, &sigs);
        int others = atomic_fetch_sub(&c->in_flight, 1) - 1;
        cl->requests++;
        if (r != QS_OK) {
            for (size_t i = 0; i < n; i++)
                sad->h[first + i].state = H_UNKNOWN;
            if (!is_transport_error(r) || !atomic_load(&c->killed))
                snprintf(cl->error, sizeof cl->error, "SIGN of %zu hash(es): %s (%s)", n,
                         qs_err_name(r), qs_sam_client_error(sc));
            break;
        }
        for (size_t i = 0; i < n; i++) {
            hash_slot *h = &sad->h[first + i];
            if (sigs.len[i] > sizeof h->sig) {
                snprintf(cl->error, sizeof cl->error, "signature of %zu bytes", sigs.len[i]);
                h->state = H_UNKNOWN;
                continue;
            }
            memcpy(h->sig, sigs.sig[i], sigs.len[i]);
            h->sig_len = sigs.len[i];
            h->state = H_RECEIVED;
        }
        qs_sam_signatures_free(&sigs);
        cl->signatures += (long)n;
        long total = atomic_fetch_add(&c->received, (long)n) + (long)n;
        bool fits =
            (c->mode == KILL_AFTER_SINGLE && n == 1) || (c->mode == KILL_AFTER_BATCH && n > 1);
        if (fits && total >= c->kill_at && others >= 1)
            kill_now(c, others);
    }
    qs_sam_client_close(sc);
    atomic_fetch_sub(&c->running, 1);
    return NULL;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A round goes on while a client still runs (they all stop on an error) and not too long. */
static bool round_on(crash *c, double t0)
{
    return atomic_load(&c->running) > 0 && now_s() - t0 < ROUND_LIMIT_S;
}

/* One round: clients sign until the daemon is killed; then the daemon starts again. */
static void run_round(crash *c, kill_mode mode, uint64_t *rng)
{
    client cl[N_THREADS];
    c->mode = mode;
    c->kill_at = 20 + (long)(rng_next(rng) % 200);
    atomic_store(&c->received, 0);
    atomic_store(&c->in_flight, 0);
    atomic_store(&c->killed, false);
    atomic_store(&c->in_flight_at_kill, -1);
    atomic_store(&c->running, N_THREADS);

    memset(cl, 0, sizeof cl);
    for (int i = 0; i < N_THREADS; i++) {
        cl[i].c = c;
        cl[i].idx = i;
        assert_int_equal(pthread_create(&cl[i].tid, NULL, client_main, &cl[i]), 0);
    }
    double t0 = now_s();
    if (mode == KILL_DELAYED) {
        while (atomic_load(&c->received) < c->kill_at && round_on(c, t0))
            sleep_us(500);
        sleep_us((long)(rng_next(rng) % 20000));
        int others = 0;
        while ((others = atomic_load(&c->in_flight)) < 1 && round_on(c, t0))
            sleep_us(50);
        kill_now(c, others >= 1 ? others : -1);
    } else {
        while (!atomic_load(&c->killed) && round_on(c, t0))
            sleep_us(1000);
        kill_now(c, -1); /* no-op when a client killed it */
    }
    int st = qs_test_samd_terminate(c->d, SIGKILL);
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_join(cl[i].tid, NULL), 0);
    /* answers the daemon wrote before it died may have been read after the kill */
    long at_kill = atomic_load(&c->received);
    long requests = 0;
    for (int i = 0; i < N_THREADS; i++) {
        requests += cl[i].requests;
        if (cl[i].error[0] != '\0')
            fail_msg("client %d: %s", i, cl[i].error);
    }
    fprintf(stderr,
            "round (%s): killed after %ld signatures received (threshold %ld) in %ld requests, "
            "%d other request(s) in flight, %.2f s; exit status %d\n",
            kill_mode_names[mode], at_kill, c->kill_at, requests,
            atomic_load(&c->in_flight_at_kill), now_s() - t0, st);
    assert_int_equal(st, 128 + SIGKILL);
    assert_true(atomic_load(&c->in_flight_at_kill) >= 1);
    assert_true(at_kill >= c->kill_at);
    qs_test_samd_launch(c->d);
}

/* ---- what the database holds ----------------------------------------------------------------- */

typedef struct sig_record {
    char key[KEY_LEN + 1]; /* sad_ref hex || hash hex */
    char cred[QS_SAM_ID_BUF];
    char sig_sha[HEX_LEN + 1];
    bool success;
} sig_record;

typedef struct db_state {
    sig_record *recs; /* signature.created, sorted by key */
    size_t n_recs;
    char (*consumed)[KEY_LEN + 1]; /* consumed sad_hashes, sorted */
    size_t n_consumed;
} db_state;

static int key_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static PGresult *query(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    return res;
}

static void copy_field(char *dst, size_t cap, const PGresult *res, int row, int col)
{
    const char *v = PQgetvalue(res, row, col);
    assert_true(strlen(v) < cap);
    memcpy(dst, v, strlen(v) + 1);
}

static void load_db(const crash *c, db_state *st)
{
    memset(st, 0, sizeof *st);
    PGconn *conn = qs_test_pg_connect(c->d->pg->super_conninfo);
    PGresult *res = query(conn, "SELECT encode(sad_ref, 'hex') || (details::jsonb->>'hash'), "
                                "credential_id::text, details::jsonb->>'signature_sha256', "
                                "result = 'success' FROM qsign.audit_log "
                                "WHERE event_type = 'signature.created'");
    st->n_recs = (size_t)PQntuples(res);
    st->recs = calloc(st->n_recs + 1, sizeof *st->recs);
    assert_non_null(st->recs);
    for (size_t i = 0; i < st->n_recs; i++) {
        copy_field(st->recs[i].key, sizeof st->recs[i].key, res, (int)i, 0);
        copy_field(st->recs[i].cred, sizeof st->recs[i].cred, res, (int)i, 1);
        copy_field(st->recs[i].sig_sha, sizeof st->recs[i].sig_sha, res, (int)i, 2);
        st->recs[i].success = strcmp(PQgetvalue(res, (int)i, 3), "t") == 0;
    }
    PQclear(res);
    qsort(st->recs, st->n_recs, sizeof *st->recs, key_cmp);

    res = query(conn, "SELECT encode(sad_hash, 'hex') || encode(digest, 'hex') "
                      "FROM qsign.sad_hashes WHERE consumed_at IS NOT NULL");
    st->n_consumed = (size_t)PQntuples(res);
    st->consumed = calloc(st->n_consumed + 1, sizeof *st->consumed);
    assert_non_null(st->consumed);
    for (size_t i = 0; i < st->n_consumed; i++)
        copy_field(st->consumed[i], sizeof st->consumed[i], res, (int)i, 0);
    PQclear(res);
    qsort(st->consumed, st->n_consumed, sizeof *st->consumed, key_cmp);

    /* remaining counts down exactly with the consumed digests */
    res = query(conn, "SELECT count(*) FROM qsign.sads s WHERE s.remaining <> s.num_signatures - "
                      "(SELECT count(*) FROM qsign.sad_hashes h WHERE h.sad_hash = s.sad_hash "
                      "AND h.consumed_at IS NOT NULL)");
    assert_string_equal(PQgetvalue(res, 0, 0), "0");
    PQclear(res);
    PQfinish(conn);
}

static void free_db(db_state *st)
{
    free(st->recs);
    free(st->consumed);
    memset(st, 0, sizeof *st);
}

static const sig_record *find_record(const db_state *st, const char *key)
{
    return bsearch(key, st->recs, st->n_recs, sizeof *st->recs, key_cmp);
}

static bool is_consumed(const db_state *st, const char *key)
{
    return bsearch(key, st->consumed, st->n_consumed, sizeof *st->consumed, key_cmp) != NULL;
}

static void make_key(const sad_slot *s, const hash_slot *h, char key[static KEY_LEN + 1])
{
    memcpy(key, s->ref_hex, HEX_LEN);
    memcpy(key + HEX_LEN, h->hex, HEX_LEN + 1);
}

/* The checks after a restart (see the top of the file); prints what it counted. */
static void check_invariants(const crash *c, const char *when)
{
    db_state st;
    load_db(c, &st);
    long received = 0, unknown = 0, unknown_audited = 0, unknown_consumed = 0, missing = 0;

    /* each (SAD, hash) has at most one record, and only for a consumed digest */
    for (size_t i = 0; i < st.n_recs; i++) {
        if (i > 0 && strcmp(st.recs[i].key, st.recs[i - 1].key) == 0)
            fail_msg("%s: (SAD, hash) %s has two signature.created records", when, st.recs[i].key);
        if (!st.recs[i].success)
            fail_msg("%s: signature.created with result failure", when);
        if (!is_consumed(&st, st.recs[i].key))
            fail_msg("%s: signature.created for %s, a digest the database does not hold "
                     "consumed",
                     when, st.recs[i].key);
    }
    size_t ours = 0;
    for (size_t si = 0; si < N_SADS; si++) {
        const sad_slot *s = &c->sads[si];
        const signer_slot *owner = &c->signers[s->signer];
        for (size_t hi = 0; hi < HASHES_PER_SAD; hi++) {
            const hash_slot *h = &s->h[hi];
            char key[KEY_LEN + 1];
            make_key(s, h, key);
            const sig_record *rec = find_record(&st, key);
            bool consumed = is_consumed(&st, key);
            if (rec != NULL) {
                ours++;
                if (strcmp(rec->cred, owner->cred) != 0)
                    fail_msg("%s: record for %s names credential %s, not %s", when, key, rec->cred,
                             owner->cred);
            }
            switch (h->state) {
            case H_RECEIVED: {
                received++;
                char sha[HEX_LEN + 1];
                sha256_hex(h->sig, h->sig_len, sha);
                if (rec == NULL) {
                    missing++;
                    fprintf(stderr,
                            "%s: received signature without its audit record: SAD %zu "
                            "hash %zu (%s)\n",
                            when, si, hi, key);
                } else if (strcmp(rec->sig_sha, sha) != 0) {
                    fail_msg("%s: SAD %zu hash %zu: the record's signature_sha256 %s is not the "
                             "SHA-256 of the signature received (%s)",
                             when, si, hi, rec->sig_sha, sha);
                }
                if (!consumed)
                    fail_msg("%s: SAD %zu hash %zu was signed but is not consumed", when, si, hi);
                break;
            }
            case H_UNKNOWN:
                unknown++;
                unknown_audited += rec != NULL;
                unknown_consumed += consumed;
                break;
            case H_UNUSED:
                if (rec != NULL || consumed)
                    fail_msg("%s: SAD %zu hash %zu was never sent but is %s", when, si, hi,
                             rec != NULL ? "audited" : "consumed");
                break;
            }
        }
    }
    fprintf(stderr,
            "%s: %ld signatures received, all checked against %zu signature.created records; "
            "%ld hashes in flight at a kill: %ld consumed, %ld of them audited (signed, answer "
            "lost)\n",
            when, received, st.n_recs, unknown, unknown_consumed, unknown_audited);
    if (missing > 0)
        fail_msg("%s: %ld received signature(s) have no committed audit record (invariant 1)", when,
                 missing);
    assert_int_equal(ours, st.n_recs);
    free_db(&st);

    uint64_t count = 0;
    qs_err r = qs_test_samd_verify_audit(c->d, &count);
    if (r != QS_OK)
        fail_msg("%s: audit chain: %s", when, qs_err_name(r));
}

/* ---- set-up ---------------------------------------------------------------------------------- */

static void authorize_all(crash *c)
{
    for (int si = 0; si < N_SADS; si++) {
        sad_slot *s = &c->sads[si];
        signer_slot *who = &c->signers[si / SADS_PER_SIGNER];
        s->signer = si / SADS_PER_SIGNER;
        qs_sam_bytes *b = calloc(HASHES_PER_SAD, sizeof *b);
        assert_non_null(b);
        for (size_t i = 0; i < HASHES_PER_SAD; i++) {
            qs_random(s->h[i].digest, QS_SHA256_LEN);
            to_hex(s->h[i].digest, QS_SHA256_LEN, s->h[i].hex);
            b[i] = (qs_sam_bytes){s->h[i].digest, QS_SHA256_LEN};
        }
        char otp[QS_TOTP_CODE_BUF];
        uint32_t expires = 0;
        qs_test_signer_code(&who->s, otp);
        qs_sam_authorize_req q = {
            .user_id = who->s.user_id,
            .credential_id = who->cred,
            .pin = who->s.pin,
            .otp = otp,
            .num_signatures = HASHES_PER_SAD,
            .hash_alg = QS_SAM_HASH_SHA256,
            .hashes = b,
            .n_hashes = HASHES_PER_SAD,
            .description = "crash test",
        };
        qs_err r = qs_sam_client_authorize(c->admin, &q, s->sad, &expires);
        if (r != QS_OK)
            fail_msg("AUTHORIZE for SAD %d: %s (%s)", si, qs_err_name(r),
                     qs_sam_client_error(c->admin));
        uint8_t ref[QS_SAD_HASH_LEN];
        assert_int_equal(qs_sad_handle_hash(s->sad, strlen(s->sad), ref), QS_OK);
        to_hex(ref, sizeof ref, s->ref_hex);
        free(b);
    }
}

static int setup(void **state)
{
    crash *c = calloc(1, sizeof *c);
    assert_non_null(c);
    const char *seed = getenv("QS_TEST_SEED");
    c->seed = seed != NULL && seed[0] != '\0'
                  ? strtoull(seed, NULL, 0)
                  : (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
    if (c->seed == 0)
        c->seed = 1;
    fprintf(stderr, "QS_TEST_SEED=%" PRIu64 "\n", c->seed);
    signal(SIGPIPE, SIG_IGN);

    qs_test_samd_opts o = {
        .workers = N_WORKERS,
        .sad_lifetime = 3600, /* the SADs outlive every restart */
        .max_signatures = 1000,
    };
    c->d = qs_test_samd_start("crash", &o);
    c->admin = qs_test_samd_connect(c->d);
    for (int i = 0; i < N_SIGNERS; i++) {
        signer_slot *s = &c->signers[i];
        char name[32];
        snprintf(name, sizeof name, "crash%d", i);
        qs_test_samd_enrol_signer(c->d, c->admin, name, "314159", &s->s);
        bool rsa = i == N_SIGNERS - 1;
        s->scheme = rsa ? QS_SAM_SIG_RSA_PKCS1 : QS_SAM_SIG_ECDSA;
        qs_test_samd_create_credential(c->admin, s->s.user_id,
                                       rsa ? QS_SAM_KEY_RSA2048 : QS_SAM_KEY_EC_P256, s->cred,
                                       &s->spki, &s->spki_len);
    }
    authorize_all(c);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    crash *c = *state;
    qs_sam_client_close(c->admin);
    if (c->d != NULL) {
        qs_test_samd_teardown(c->d);
        free(c->d);
    }
    for (int i = 0; i < N_SIGNERS; i++)
        free(c->signers[i].spki);
    qs_wipe(c, sizeof *c);
    free(c);
    return 0;
}

/* ---- the tests ------------------------------------------------------------------------------- */

static void test_kill_during_signing(void **state)
{
    crash *c = *state;
    uint64_t rng = c->seed;
    /* the admin connection dies with the first kill: the clients make their own */
    qs_sam_client_close(c->admin);
    c->admin = NULL;
    static const kill_mode modes[N_ROUNDS] = {KILL_AFTER_SINGLE, KILL_AFTER_BATCH, KILL_DELAYED};
    for (int round = 0; round < N_ROUNDS; round++) {
        run_round(c, modes[round], &rng);
        char when[64];
        snprintf(when, sizeof when, "after restart %d", round + 1);
        check_invariants(c, when);
    }
    /* every signature the clients received is the credential's signature of its hash */
    for (size_t si = 0; si < N_SADS; si++) {
        const sad_slot *s = &c->sads[si];
        for (size_t hi = 0; hi < HASHES_PER_SAD; hi++) {
            const hash_slot *h = &s->h[hi];
            if (h->state == H_RECEIVED &&
                !verify_sig(&c->signers[s->signer], h->digest, h->sig, h->sig_len))
                fail_msg("SAD %zu hash %zu: the signature does not verify", si, hi);
        }
    }
}

#define EXPECT(call, want) QS_TEST_SAM_EXPECT(NULL, sc, call, want)

/* Signs hashes [idx] of an SAD in one request, expecting QS_OK; records the signatures. */
static void sign_expect_ok(crash *c, qs_sam_client *sc, sad_slot *s, const size_t *idx, size_t n)
{
    qs_sam_bytes b[MAX_BATCH];
    qs_sam_signatures sigs;
    assert_true(n <= MAX_BATCH);
    for (size_t i = 0; i < n; i++)
        b[i] = (qs_sam_bytes){s->h[idx[i]].digest, QS_SHA256_LEN};
    EXPECT(sign_on(sc, c, s, s->signer, b, n, &sigs), QS_OK);
    for (size_t i = 0; i < n; i++) {
        hash_slot *h = &s->h[idx[i]];
        assert_true(sigs.len[i] <= sizeof h->sig);
        memcpy(h->sig, sigs.sig[i], sigs.len[i]);
        h->sig_len = sigs.len[i];
        h->state = H_RECEIVED;
        assert_true(verify_sig(&c->signers[s->signer], h->digest, h->sig, h->sig_len));
    }
    qs_sam_signatures_free(&sigs);
}

/* After the crashes the SADs bind as before: what was consumed is refused, the rest signs once. */
static void test_sads_bind_after_restart(void **state)
{
    crash *c = *state;
    qs_sam_client *sc = qs_test_samd_connect(c->d);
    db_state st;
    load_db(c, &st);
    long refused = 0, signed_now = 0;

    for (size_t si = 0; si < N_SADS; si++) {
        sad_slot *s = &c->sads[si];
        size_t consumed[HASHES_PER_SAD], fresh[MAX_BATCH];
        size_t n_consumed = 0, n_fresh = 0, received_tried = 0, unused_taken = 0;
        for (size_t hi = 0; hi < HASHES_PER_SAD; hi++) {
            char key[KEY_LEN + 1];
            make_key(s, &s->h[hi], key);
            bool is_c = is_consumed(&st, key);
            hash_state hs = s->h[hi].state;
            if (is_c && (hs == H_UNKNOWN || (hs == H_RECEIVED && received_tried++ < 2)))
                consumed[n_consumed++] = hi;
            if (!is_c && n_fresh < MAX_BATCH &&
                (hs == H_UNKNOWN || (hs == H_UNUSED && unused_taken++ < 3)))
                fresh[n_fresh++] = hi;
        }
        /* consumed digests: refused alone, and beside an unconsumed one */
        for (size_t i = 0; i < n_consumed; i++) {
            qs_sam_bytes b[2] = {{s->h[consumed[i]].digest, QS_SHA256_LEN}};
            qs_sam_signatures sigs;
            EXPECT(sign_on(sc, c, s, s->signer, b, 1, &sigs), QS_ERR_HASH_CONSUMED);
            refused++;
            if (i == 0 && n_fresh > 0) {
                b[1] = (qs_sam_bytes){s->h[fresh[0]].digest, QS_SHA256_LEN};
                EXPECT(sign_on(sc, c, s, s->signer, b, 2, &sigs), QS_ERR_HASH_CONSUMED);
            }
        }
        /* another signer presenting this SAD, with their own ids */
        if (n_fresh > 0) {
            qs_sam_bytes b[1] = {{s->h[fresh[0]].digest, QS_SHA256_LEN}};
            qs_sam_signatures sigs;
            EXPECT(sign_on(sc, c, s, (s->signer + 1) % N_SIGNERS, b, 1, &sigs), QS_ERR_SAD_INVALID);
        }
        /* unconsumed digests (those in flight at a kill that never got signed too): they sign,
         * once, the first alone and the rest together */
        if (n_fresh > 0) {
            sign_expect_ok(c, sc, s, fresh, 1);
            if (n_fresh > 1)
                sign_expect_ok(c, sc, s, fresh + 1, n_fresh - 1);
            signed_now += (long)n_fresh;
            qs_sam_bytes b[1] = {{s->h[fresh[0]].digest, QS_SHA256_LEN}};
            qs_sam_signatures sigs;
            EXPECT(sign_on(sc, c, s, s->signer, b, 1, &sigs), QS_ERR_HASH_CONSUMED);
        }
    }
    free_db(&st);
    fprintf(stderr, "after the crashes: %ld consumed digests refused, %ld unconsumed signed\n",
            refused, signed_now);
    assert_true(refused > 0 && signed_now > 0);
    qs_sam_client_close(sc);
    check_invariants(c, "after the binding checks");

    /* a clean stop: the chain still verifies, and every start was recorded */
    assert_int_equal(qs_test_samd_terminate(c->d, SIGTERM), 0);
    check_invariants(c, "after the clean stop");
    assert_int_equal(qs_test_samd_audit_count(c->d, "event_type = 'service.started'"),
                     N_ROUNDS + 1);
    assert_int_equal(qs_test_samd_audit_count(c->d, "event_type = 'service.stopped'"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_during_signing),
        cmocka_unit_test(test_sads_bind_after_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
