/*
 * `qsignctl audit verify`, `audit search` and `audit checkpoints export`, run as an auditor
 * would (the real binary, a config file, role qsign_audit, the HSM for MACs) against a log made
 * by the real writer: two chains of a few thousand records, with signed checkpoints every 500.
 *
 * The log is then tampered with as superuser, with session_replication_role = replica so the
 * append-only triggers stay silent (the roles cannot do any of it: test_db_privileges): a field
 * changed, a record deleted, a forged one appended, two swapped, the tail cut off after a
 * checkpoint export (with and without the stored checkpoints that cover it), a chain rewritten
 * wholesale by someone able to use the HSM, the checkpoint key replaced, a whole chain removed.
 * verify must name the chain, the seq and the kind of each problem and exit non-zero; on the
 * untouched log it finds nothing and exits 0.  search must return exactly the records its
 * filters select, in JSON lines and in CSV.  Every test starts from the same log (restored from
 * a snapshot).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "sam/audit.h"
#include "sam/audit_internal.h"
#include "tests/lib/pg.h"
#include "tests/lib/softhsm.h"
#include "tests/lib/testutil.h"
#include "util/log.h"
#include "util/secret.h"

#define WRITER_A  "sam-a"
#define WRITER_B  "sam-b"
#define RECORDS_A 3000
#define RECORDS_B 600
#define PER_CALL  50  /* events per append_many call */
#define CP_EVERY  500 /* records per checkpoint */

static qs_test_token token;
static qs_hsm *hsm;
static qs_test_pg *pg;
static PGconn *su;
static const char *qsignctl;
static char dir[512], config[600], out_path[600], err_path[600], export_path[600];
static char pin_path[PATH_MAX + 64];

/* Three users, two credentials, by index. */
static const uint8_t users[3][16] = {{0x11, 1}, {0x22, 2}, {0x33, 3}};
static const uint8_t creds[2][16] = {{0xc1, 1}, {0xc2, 2}};
static const char *const user_text[3] = {"11010000-0000-0000-0000-000000000000",
                                         "22020000-0000-0000-0000-000000000000",
                                         "33030000-0000-0000-0000-000000000000"};
static const char *const types[5] = {"sad.issued", "sad.consumed", "signature.created", "auth.pin",
                                     "key.generated"};

/* What record number i (1-based, per writer) holds; the search oracle. */
static int user_of(int i)
{
    return i % 4 == 3 ? -1 : i % 3;
}
static int cred_of(int i)
{
    return i % 3 == 0 ? -1 : i % 2;
}
static const char *type_of(int i)
{
    return types[i % 5];
}
static bool success_of(int i)
{
    return i % 7 != 0;
}

/* ---- running qsignctl --------------------------------------------------------------------- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        cap *= 2;
        buf = realloc(buf, cap);
        assert_non_null(buf);
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

typedef struct ctl_out {
    int rc;
    char *out, *err;
} ctl_out;

static ctl_out ctl(const char *args)
{
    ctl_out o;
    o.rc = qs_test_system("'%s' -c '%s' audit %s >'%s' 2>'%s'", qsignctl, config, args, out_path,
                          err_path);
    o.out = slurp(out_path);
    o.err = slurp(err_path);
    return o;
}

static void ctl_free(ctl_out *o)
{
    free(o->out);
    free(o->err);
}

/* Runs `qsignctl audit ARGS`, wants the exit status and every needle in stdout. */
static void expect_ctl(const char *args, int want_rc, const char *const needles[])
{
    ctl_out o = ctl(args);
    bool ok = o.rc == want_rc;
    for (size_t i = 0; ok && needles != NULL && needles[i] != NULL; i++)
        ok = strstr(o.out, needles[i]) != NULL;
    if (!ok) {
        print_error("qsignctl audit %s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\n", args, o.rc,
                    want_rc, o.out, o.err);
        for (size_t i = 0; needles != NULL && needles[i] != NULL; i++)
            print_error("  wanted: \"%s\"%s\n", needles[i],
                        strstr(o.out, needles[i]) != NULL ? "" : "  <- missing");
        fail();
    }
    ctl_free(&o);
}

#define EXPECT_VERIFY(args, rc, ...)                                                               \
    do {                                                                                           \
        const char *const needles_[] = {__VA_ARGS__, NULL};                                        \
        expect_ctl(args, rc, needles_);                                                            \
    } while (0)

/* How many times needle occurs in s. */
static int occurrences(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* ---- the log ------------------------------------------------------------------------------ */

static void write_chain(const char *writer, int n, int tag)
{
    qs_audit_params p = {
        .writer_id = writer,
        .description = "audit cli test",
        .conninfo = pg->sam_conninfo,
        .hsm = hsm,
        .checkpoint_every_records = CP_EVERY,
    };
    qs_audit *a = NULL;
    assert_int_equal(qs_audit_start(&p, &a), QS_OK);
    for (int first = 1; first <= n; first += PER_CALL) {
        qs_audit_event evs[PER_CALL];
        char det[PER_CALL][48];
        int k = 0;
        for (; k < PER_CALL && first + k <= n; k++) {
            int i = first + k;
            snprintf(det[k], sizeof det[k], "{\"i\":%d,\"tag\":%d}", i, tag);
            evs[k] = (qs_audit_event){
                .event_type = type_of(i),
                .actor = "user:tester, \"quoted\"",
                .user_id = user_of(i) >= 0 ? users[user_of(i)] : NULL,
                .credential_id = cred_of(i) >= 0 ? creds[cred_of(i)] : NULL,
                .success = success_of(i),
                .details_json = det[k],
            };
        }
        qs_audit_ref ref;
        assert_int_equal(qs_audit_append_many(a, evs, (size_t)k, &ref), QS_OK);
        assert_int_equal(ref.seq, (uint64_t)first);
    }
    qs_audit_stats st;
    qs_audit_get_stats(a, &st);
    assert_int_equal(st.failed_checkpoints, 0);
    qs_audit_stop(a);
}

static void tamper(const char *sql)
{
    char buf[4096];
    snprintf(buf, sizeof buf,
             "SET session_replication_role = replica; %s; SET session_replication_role = origin",
             sql);
    qs_test_pg_exec_ok(su, buf);
}

static long long count_of(const char *sql)
{
    char *v = qs_test_pg_query_value(su, sql);
    long long n = atoll(v);
    free(v);
    return n;
}

static int group_setup(void **state)
{
    (void)state;
    qsignctl = getenv("QS_QSIGNCTL");
    if (qsignctl == NULL || qsignctl[0] == '\0')
        qs_test_skip("QS_QSIGNCTL (path of the qsignctl binary) is not set");
    qs_test_token_create(&token, "audit-cli");
    qs_test_token_init_keys(&token);
    hsm = qs_test_token_open(&token);
    qs_test_token_secret_file(&token, "pin", token.pin, pin_path, sizeof pin_path);
    pg = qs_test_pg_create("auditcli");
    qs_test_pg_migrate(pg);
    su = qs_test_pg_connect(pg->super_conninfo);

    qs_test_tmpdir("auditcli", dir, sizeof dir);
    snprintf(config, sizeof config, "%s/qsignctl.conf", dir);
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    snprintf(err_path, sizeof err_path, "%s/err", dir);
    snprintf(export_path, sizeof export_path, "%s/checkpoints.jsonl", dir);
    FILE *c = fopen(config, "w");
    assert_non_null(c);
    fprintf(c,
            "[database]\naudit_conninfo = %s\n[hsm]\nmodule = %s\ntoken_label = %s\n"
            "pin_file = %s\n[log]\nlevel = error\n",
            pg->audit_conninfo, token.module, token.label, pin_path);
    assert_int_equal(fclose(c), 0);

    write_chain(WRITER_A, RECORDS_A, 1);
    write_chain(WRITER_B, RECORDS_B, 1);
    assert_int_equal(count_of("SELECT count(*) FROM qsign.audit_checkpoints WHERE writer_id ="
                              " 'sam-a'"),
                     RECORDS_A / CP_EVERY);
    assert_int_equal(count_of("SELECT max(seq) FROM qsign.audit_checkpoints WHERE writer_id ="
                              " 'sam-b'"),
                     RECORDS_B);

    /* The auditor's export, kept outside the database. */
    char args[700];
    snprintf(args, sizeof args, "checkpoints export --output '%s'", export_path);
    EXPECT_VERIFY(args, 0, "exported 8 checkpoints");

    qs_test_pg_exec_ok(su, "CREATE TABLE public.snap_writers AS SELECT * FROM qsign.audit_writers;"
                           "CREATE TABLE public.snap_log AS SELECT * FROM qsign.audit_log;"
                           "CREATE TABLE public.snap_cps AS SELECT * FROM qsign.audit_checkpoints");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    PQfinish(su);
    qs_test_pg_destroy(pg);
    qs_hsm_close(hsm);
    qs_test_token_destroy(&token);
    qs_test_rmtree(dir);
    return 0;
}

/* Every test starts from the log as written. */
static int restore(void **state)
{
    (void)state;
    tamper("DELETE FROM qsign.audit_checkpoints; DELETE FROM qsign.audit_log;"
           " DELETE FROM qsign.audit_writers;"
           " INSERT INTO qsign.audit_writers SELECT * FROM public.snap_writers;"
           " INSERT INTO qsign.audit_log SELECT * FROM public.snap_log;"
           " INSERT INTO qsign.audit_checkpoints SELECT * FROM public.snap_cps");
    return 0;
}

/* ---- verify: intact ------------------------------------------------------------------------ */

static void test_verify_intact(void **state)
{
    (void)state;
    EXPECT_VERIFY("verify", 0, "sam-a: intact: 3000 records (seq 1..3000), 6 stored and 0 exported",
                  "sam-b: intact: 600 records (seq 1..600), 2 stored and 0 exported",
                  "verified 3600 records, 8 stored and 0 exported checkpoints of 2 chains",
                  "verdict: INTACT");
    char args[700];
    snprintf(args, sizeof args, "verify --checkpoints '%s'", export_path);
    EXPECT_VERIFY(args, 0, "sam-a: intact: 3000 records (seq 1..3000), 6 stored and 6 exported",
                  "sam-b: intact: 600 records (seq 1..600), 2 stored and 2 exported",
                  "verdict: INTACT");
    ctl_out o = ctl("verify");
    assert_null(strstr(o.out, "TAMPERED"));
    assert_string_equal(o.err, ""); /* no progress: standard error is no terminal here */
    ctl_free(&o);
}

/* ---- verify: tampered --------------------------------------------------------------------- */

static void test_verify_changed_field(void **state)
{
    (void)state;
    tamper("UPDATE qsign.audit_log SET details = '{\"i\":1234,\"tag\":2}'"
           " WHERE writer_id = 'sam-a' AND seq = 1234");
    EXPECT_VERIFY("verify", 1,
                  "  sam-a seq 1234: bad-hash: record_hash is not the hash of the stored columns",
                  "sam-a: TAMPERED: 1 finding in 3000 records; first bad record: seq 1234 "
                  "(bad-hash)",
                  "sam-b: intact: 600 records", "verdict: TAMPERED: 1 of 2 chains with findings");
    restore(state);
    /* Another column, in the other chain. */
    tamper("UPDATE qsign.audit_log SET result = 'success' WHERE writer_id = 'sam-b' AND seq = 7");
    EXPECT_VERIFY("verify", 1, "  sam-b seq 7: bad-hash", "first bad record: seq 7 (bad-hash)");
}

static void test_verify_deleted_record(void **state)
{
    (void)state;
    tamper("DELETE FROM qsign.audit_log WHERE writer_id = 'sam-a' AND seq = 777");
    EXPECT_VERIFY("verify", 1,
                  "  sam-a seq 778: seq-gap: expected seq 777, found 778: records missing",
                  "  sam-a seq 778: bad-link: prev_hash is not the record_hash of the record "
                  "before it",
                  "sam-a: TAMPERED: 2 findings in 2999 records; first bad record: seq 778 "
                  "(seq-gap)",
                  "sam-b: intact");
    restore(state);
    /* A record a checkpoint covers: the checkpoint says so too. */
    tamper("DELETE FROM qsign.audit_log WHERE writer_id = 'sam-a' AND seq = 1000");
    EXPECT_VERIFY("verify", 1,
                  "  sam-a seq 1000: checkpoint-mismatch: the stored checkpoint signed ",
                  "covers seq 1000, but the chain has no record at that seq",
                  "  sam-a seq 1001: seq-gap", "first bad record: seq 1000 (checkpoint-mismatch)");
}

/* A record appended with a correct link and hash but a MAC the forger had to guess. */
static void test_verify_forged_record(void **state)
{
    (void)state;
    PGresult *res = PQexec(su, "SELECT encode(record_hash, 'hex'),"
                               " (extract(epoch FROM event_time) * 1000000)::bigint"
                               " FROM qsign.audit_log WHERE writer_id = 'sam-a' AND seq = 3000");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    uint8_t prev[32];
    char hex[65];
    snprintf(hex, sizeof hex, "%s", PQgetvalue(res, 0, 0));
    for (int i = 0; i < 32; i++)
        sscanf(hex + 2 * i, "%2hhx", &prev[i]);
    long long t = atoll(PQgetvalue(res, 0, 1)) + 1;
    PQclear(res);
    qs_audit_record rec = {.writer_id = WRITER_A,
                           .seq = 3001,
                           .event_time_us = t,
                           .event_type = "signature.created",
                           .actor = "user:mallory",
                           .success = true,
                           .details = "{\"forged\":true}",
                           .prev_hash = prev};
    uint8_t h[32], mac[32];
    assert_int_equal(qs_audit_record_hash(&rec, h), QS_OK);
    qs_random(mac, sizeof mac);
    char hh[65], mh[65], sql[1024];
    qs_audit_hex(h, 32, hh);
    qs_audit_hex(mac, 32, mh);
    snprintf(sql, sizeof sql,
             "INSERT INTO qsign.audit_log (writer_id, seq, event_time, event_type, actor, result,"
             " details, prev_hash, record_hash, record_mac) VALUES ('sam-a', 3001,"
             " 'epoch'::timestamptz + %lld * interval '1 microsecond', 'signature.created',"
             " 'user:mallory', 'success', '{\"forged\":true}', '\\x%s', '\\x%s', '\\x%s')",
             t, hex, hh, mh);
    /* Through the ordinary path (chain trigger on): it links. */
    qs_test_pg_exec_ok(su, sql);
    EXPECT_VERIFY("verify", 1,
                  "  sam-a seq 3001: bad-mac: record_mac is not the HSM's MAC of record_hash: "
                  "record forged",
                  "sam-a: TAMPERED: 1 finding in 3001 records; first bad record: seq 3001 "
                  "(bad-mac)");
}

static void test_verify_swapped_records(void **state)
{
    (void)state;
    tamper("CREATE TEMP TABLE two AS SELECT * FROM qsign.audit_log"
           " WHERE writer_id = 'sam-b' AND seq IN (100, 101);"
           " DELETE FROM qsign.audit_log WHERE writer_id = 'sam-b' AND seq IN (100, 101);"
           " UPDATE two SET seq = 201 - seq;"
           " INSERT INTO qsign.audit_log SELECT * FROM two; DROP TABLE two");
    EXPECT_VERIFY("verify", 1, "  sam-b seq 100: bad-link", "  sam-b seq 100: bad-hash",
                  "  sam-b seq 101: bad-link", "  sam-b seq 101: bad-hash",
                  "  sam-b seq 102: bad-link",
                  "sam-b: TAMPERED: 5 findings in 600 records; first bad record: seq 100 "
                  "(bad-link)",
                  "sam-a: intact: 3000 records");
}

/* The tail after the last export is cut off, and the stored checkpoints that would tell. */
static void test_verify_truncated_after_export(void **state)
{
    (void)state;
    char args[700];
    snprintf(args, sizeof args, "verify --checkpoints '%s'", export_path);

    /* The stored checkpoint at 3000 stays: it alone shows the cut. */
    tamper("DELETE FROM qsign.audit_log WHERE writer_id = 'sam-a' AND seq > 2900");
    EXPECT_VERIFY("verify", 1,
                  "  sam-a seq 3000: truncated: the chain ends at seq 2900, but the stored "
                  "checkpoint signed ",
                  "covers seq 3000: records 2901..3000 were cut off",
                  "sam-a: TAMPERED: 1 finding in 2900 records; first bad record: seq 3000 "
                  "(truncated)");

    /* With it gone too, the database alone looks intact: only the export shows the cut. */
    tamper("DELETE FROM qsign.audit_checkpoints WHERE writer_id = 'sam-a' AND seq > 2900");
    EXPECT_VERIFY("verify", 0, "sam-a: intact: 2900 records (seq 1..2900), 5 stored",
                  "verdict: INTACT");
    EXPECT_VERIFY(args, 1,
                  "  sam-a seq 3000: truncated: the chain ends at seq 2900, but the exported "
                  "checkpoint signed ",
                  "sam-a: TAMPERED: 1 finding in 2900 records; first bad record: seq 3000 "
                  "(truncated)",
                  "sam-b: intact");

    /* A whole chain removed, writer and all. */
    restore(state);
    tamper("DELETE FROM qsign.audit_checkpoints WHERE writer_id = 'sam-b';"
           " DELETE FROM qsign.audit_log WHERE writer_id = 'sam-b';"
           " DELETE FROM qsign.audit_writers WHERE writer_id = 'sam-b'");
    EXPECT_VERIFY("verify", 0, "verdict: INTACT");
    EXPECT_VERIFY(args, 1,
                  "  sam-b seq 500: truncated: the writer is not in the database, but the export "
                  "holds 2 checkpoints of its chain from seq 500",
                  "sam-b: TAMPERED: the chain is missing from the database",
                  "sam-a: intact: 3000 records");
}

/* Rewritten by someone who can use the HSM: the new chain is consistent, MACs and stored
 * checkpoints included, but it is not the one the export vouches for. */
static void test_verify_rewritten_wholesale(void **state)
{
    (void)state;
    tamper("DELETE FROM qsign.audit_checkpoints WHERE writer_id = 'sam-a';"
           " DELETE FROM qsign.audit_log WHERE writer_id = 'sam-a'");
    write_chain(WRITER_A, RECORDS_A, 2);
    EXPECT_VERIFY("verify", 0, "sam-a: intact: 3000 records", "verdict: INTACT");
    char args[700];
    snprintf(args, sizeof args, "verify --checkpoints '%s'", export_path);
    EXPECT_VERIFY(args, 1,
                  "  sam-a seq 500: checkpoint-mismatch: the record's record_hash is not the "
                  "head_hash of the exported checkpoint signed ",
                  "the chain was rewritten after it",
                  "sam-a: TAMPERED: 6 findings in 3000 records; first bad record: seq 500 "
                  "(checkpoint-mismatch)",
                  "sam-b: intact");
}

/* The checkpoint key replaced by the forger's, and every stored checkpoint re-signed with it. */
static void test_verify_key_replaced(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    uint8_t *spki = NULL;
    int spki_len = i2d_PUBKEY(k, &spki);
    assert_true(spki_len > 0);
    char spki_hex[512], sql[1024];
    assert_true((size_t)spki_len * 2 < sizeof spki_hex);
    qs_audit_hex(spki, (size_t)spki_len, spki_hex);
    snprintf(sql, sizeof sql,
             "UPDATE qsign.audit_writers SET checkpoint_spki = '\\x%s' WHERE writer_id = 'sam-a'",
             spki_hex);
    tamper(sql);
    PGresult *res = PQexec(su, "SELECT seq, encode(head_hash, 'hex'),"
                               " (extract(epoch FROM checkpoint_time) * 1000000)::bigint"
                               " FROM qsign.audit_checkpoints WHERE writer_id = 'sam-a'");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    for (int r = 0; r < PQntuples(res); r++) {
        qs_audit_checkpoint cp = {.writer_id = WRITER_A,
                                  .seq = (uint64_t)atoll(PQgetvalue(res, r, 0)),
                                  .time_us = atoll(PQgetvalue(res, r, 2))};
        const char *hex = PQgetvalue(res, r, 1);
        for (int i = 0; i < 32; i++)
            sscanf(hex + 2 * i, "%2hhx", &cp.head_hash[i]);
        uint8_t digest[32], sig[80];
        size_t sig_len = sizeof sig;
        assert_int_equal(qs_audit_checkpoint_digest(&cp, digest), QS_OK);
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
        assert_true(ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
                    EVP_PKEY_sign(ctx, sig, &sig_len, digest, sizeof digest) == 1);
        EVP_PKEY_CTX_free(ctx);
        memcpy(cp.signature, sig, sig_len);
        cp.signature_len = sig_len;
        assert_int_equal(qs_audit_checkpoint_verify(&cp, spki, (size_t)spki_len), QS_OK);
        char sig_hex[200];
        qs_audit_hex(sig, sig_len, sig_hex);
        snprintf(sql, sizeof sql,
                 "UPDATE qsign.audit_checkpoints SET signature = '\\x%s'"
                 " WHERE writer_id = 'sam-a' AND seq = %llu",
                 sig_hex, (unsigned long long)cp.seq);
        tamper(sql);
    }
    PQclear(res);
    OPENSSL_free(spki);
    EVP_PKEY_free(k);

    /* The database agrees with itself. */
    EXPECT_VERIFY("verify", 0, "sam-a: intact: 3000 records (seq 1..3000), 6 stored");
    char args[700];
    snprintf(args, sizeof args, "verify --checkpoints '%s'", export_path);
    EXPECT_VERIFY(args, 1,
                  "  sam-a seq 500: checkpoint-key: the exported checkpoint was signed with "
                  "another key than the writer's registered one",
                  "sam-a: TAMPERED: 6 findings in 3000 records; first bad record: seq 500 "
                  "(checkpoint-key)",
                  "sam-b: intact");

    /* A stored checkpoint whose signature does not verify. */
    restore(state);
    tamper("UPDATE qsign.audit_checkpoints SET checkpoint_time = checkpoint_time + interval "
           "'1 second' WHERE writer_id = 'sam-b' AND seq = 500");
    EXPECT_VERIFY("verify", 1,
                  "  sam-b seq 500: bad-checkpoint: the stored checkpoint's signature does not "
                  "verify with the writer's key",
                  "sam-b: TAMPERED: 1 finding in 600 records; first bad record: seq 500 "
                  "(bad-checkpoint)");
}

/* Many findings: a limited number printed, all counted; the verdict stays exact. */
static void test_verify_many_findings(void **state)
{
    (void)state;
    tamper("UPDATE qsign.audit_log SET actor = 'x' WHERE writer_id = 'sam-a' AND seq > 2950");
    ctl_out o = ctl("verify --max-findings 5");
    assert_int_equal(o.rc, 1);
    assert_int_equal(occurrences(o.out, "  sam-a seq "), 5);
    assert_non_null(strstr(o.out, "  sam-a: ... and 45 more findings"));
    assert_non_null(strstr(o.out, "sam-a: TAMPERED: 50 findings in 3000 records; first bad "
                                  "record: seq 2951 (bad-hash)"));
    ctl_free(&o);
}

/* ---- the export --------------------------------------------------------------------------- */

static void test_export_file(void **state)
{
    (void)state;
    /* The same log exports the same lines; each line verifies on its own. */
    ctl_out o = ctl("checkpoints export");
    assert_int_equal(o.rc, 0);
    assert_non_null(strstr(o.err, "exported 8 checkpoints"));
    char *saved = slurp(export_path);
    assert_string_equal(o.out, saved);
    char *line = saved;
    int lines = 0;
    while (line != NULL && *line != '\0') {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        qs_audit_checkpoint cp;
        uint8_t *spki = NULL;
        size_t spki_len = 0;
        assert_int_equal(qs_audit_checkpoint_from_json(line, &cp, &spki, &spki_len), QS_OK);
        assert_int_equal(qs_audit_checkpoint_verify(&cp, spki, spki_len), QS_OK);
        char *again = NULL;
        assert_int_equal(qs_audit_checkpoint_to_json(&cp, spki, spki_len, &again), QS_OK);
        assert_string_equal(again, line);
        free(again);
        free(spki);
        lines++;
        line = nl + 1;
    }
    assert_int_equal(lines, 8);
    free(saved);
    ctl_free(&o);

    /* An altered export is a finding; a malformed or disordered one stops verify. */
    char bad[700], args[800];
    snprintf(bad, sizeof bad, "%s/bad.jsonl", dir);
    struct {
        const char *sed;
        int rc;
        const char *want;
    } cases[] = {
        {"1s/\"seq\":500/\"seq\":501/", 1,
         "  sam-a seq 501: bad-checkpoint: the exported checkpoint's signature does not verify"},
        {"1s/\"seq\":500/\"seq\":\"500\"/", 1, "verdict: INCOMPLETE"},
        {"1{h;d};2G", 1, "verdict: INCOMPLETE"},
        {"1s/$/,/", 1, "verdict: INCOMPLETE"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(qs_test_system("sed -e '%s' '%s' >'%s'", cases[i].sed, export_path, bad),
                         0);
        snprintf(args, sizeof args, "verify --checkpoints '%s'", bad);
        EXPECT_VERIFY(args, cases[i].rc, cases[i].want);
        if (strcmp(cases[i].want, "verdict: INCOMPLETE") == 0) {
            o = ctl(args);
            assert_non_null(strstr(o.err, "line "));
            ctl_free(&o);
        }
    }
    EXPECT_VERIFY("verify --checkpoints /nonexistent/file", 1, "");
}

/* ---- search ------------------------------------------------------------------------------- */

/* Stored event times by writer and seq, read back as superuser (the oracle for time filters). */
static long long *stored_times(const char *writer, int n)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT seq, (extract(epoch FROM event_time) * 1000000)::bigint FROM qsign.audit_log"
             " WHERE writer_id = '%s' ORDER BY seq",
             writer);
    PGresult *res = PQexec(su, sql);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(res), n);
    long long *t = calloc((size_t)n + 1, sizeof *t);
    assert_non_null(t);
    for (int r = 0; r < n; r++)
        t[atoi(PQgetvalue(res, r, 0))] = atoll(PQgetvalue(res, r, 1));
    PQclear(res);
    return t;
}

typedef bool (*pick_fn)(const char *writer, int i, const void *cls);

/* The (writer, seq) keys a filter should return, as "writer/seq" lines in output order (event
 * time, writer, seq). */
typedef struct key {
    long long t;
    const char *writer;
    int seq;
} key;

static int key_cmp(const void *a, const void *b)
{
    const key *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    int c = strcmp(x->writer, y->writer);
    if (c != 0)
        return c;
    return x->seq - y->seq;
}

static char *expected_keys(pick_fn pick, const void *cls, long long *times_a, long long *times_b,
                           int *count)
{
    key *k = calloc(RECORDS_A + RECORDS_B, sizeof *k);
    assert_non_null(k);
    int n = 0;
    for (int w = 0; w < 2; w++) {
        const char *writer = w == 0 ? WRITER_A : WRITER_B;
        int total = w == 0 ? RECORDS_A : RECORDS_B;
        for (int i = 1; i <= total; i++)
            if (pick(writer, i, cls))
                k[n++] = (key){w == 0 ? times_a[i] : times_b[i], writer, i};
    }
    qsort(k, (size_t)n, sizeof *k, key_cmp);
    char *s = calloc((size_t)n + 1, 16);
    assert_non_null(s);
    for (int i = 0; i < n; i++)
        sprintf(s + strlen(s), "%s/%d\n", k[i].writer, k[i].seq);
    free(k);
    *count = n;
    return s;
}

/* The keys of JSON lines output, checking every line is a complete record. */
static char *jsonl_keys(const char *out, int *count)
{
    size_t cap = strlen(out) + 1;
    char *s = calloc(cap, 1);
    assert_non_null(s);
    *count = 0;
    const char *line = out;
    while (*line != '\0') {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        json_error_t e;
        json_t *o = json_loadb(line, (size_t)(nl - line), 0, &e);
        if (o == NULL)
            fail_msg("not JSON: %.*s", (int)(nl - line), line);
        assert_int_equal(json_object_size(o), 13);
        static const char *const cols[] = {"writer_id", "seq",     "event_time",    "event_type",
                                           "actor",     "user_id", "credential_id", "sad_ref",
                                           "result",    "details", "prev_hash",     "record_hash",
                                           "record_mac"};
        for (size_t c = 0; c < 13; c++)
            assert_non_null(json_object_get(o, cols[c]));
        assert_int_equal(strlen(json_string_value(json_object_get(o, "record_hash"))), 64);
        sprintf(s + strlen(s), "%s/%lld\n", json_string_value(json_object_get(o, "writer_id")),
                (long long)json_integer_value(json_object_get(o, "seq")));
        json_decref(o);
        (*count)++;
        line = nl + 1;
    }
    return s;
}

/* The keys of CSV output: the header, then writer_id and seq lead every line. */
static char *csv_keys(const char *out, int *count)
{
    static const char header[] = "writer_id,seq,event_time,event_type,actor,user_id,"
                                 "credential_id,sad_ref,result,details,prev_hash,record_hash,"
                                 "record_mac\r\n";
    assert_true(strncmp(out, header, strlen(header)) == 0);
    char *s = calloc(strlen(out) + 1, 1);
    assert_non_null(s);
    *count = 0;
    for (const char *line = out + strlen(header); *line != '\0';) {
        const char *nl = strstr(line, "\r\n");
        assert_non_null(nl);
        char writer[65];
        int seq;
        assert_int_equal(sscanf(line, "%64[^,],%d,", writer, &seq), 2);
        sprintf(s + strlen(s), "%s/%d\n", writer, seq);
        (*count)++;
        line = nl + 2;
    }
    return s;
}

typedef struct filter {
    const char *writer;
    int user;           /* -2: any */
    int cred;           /* -2: any */
    const char *type;   /* exact, or prefix ending in '.'; NULL any */
    int result;         /* -1 any */
    long long from, to; /* 0: open */
    long long *times_a, *times_b;
} filter;

static bool pick(const char *writer, int i, const void *cls)
{
    const filter *f = cls;
    long long t = strcmp(writer, WRITER_A) == 0 ? f->times_a[i] : f->times_b[i];
    if (f->writer != NULL && strcmp(writer, f->writer) != 0)
        return false;
    if (f->user != -2 && user_of(i) != f->user)
        return false;
    if (f->cred != -2 && cred_of(i) != f->cred)
        return false;
    if (f->type != NULL) {
        size_t n = strlen(f->type);
        bool prefix = f->type[n - 1] == '.';
        if (prefix ? strncmp(type_of(i), f->type, n) != 0 : strcmp(type_of(i), f->type) != 0)
            return false;
    }
    if (f->result >= 0 && success_of(i) != (f->result == 1))
        return false;
    if (f->from != 0 && t < f->from)
        return false;
    return !(f->to != 0 && t >= f->to);
}

static void expect_search(const char *args, const filter *f, int min_count)
{
    int want_n = 0, got_n = 0;
    char *want = expected_keys(pick, f, f->times_a, f->times_b, &want_n);
    assert_true(want_n >= min_count);
    for (int fmt = 0; fmt < 2; fmt++) {
        char full[1024];
        snprintf(full, sizeof full, "search %s --format %s", args, fmt == 0 ? "jsonl" : "csv");
        ctl_out o = ctl(full);
        if (o.rc != 0)
            fail_msg("qsignctl audit %s: exit %d: %s", full, o.rc, o.err);
        char *got = fmt == 0 ? jsonl_keys(o.out, &got_n) : csv_keys(o.out, &got_n);
        if (strcmp(got, want) != 0)
            fail_msg("qsignctl audit %s: %d records, %d expected", full, got_n, want_n);
        free(got);
        ctl_free(&o);
    }
    print_message("  search %s: %d records\n", args, want_n);
    free(want);
}

static void time_text(long long us, char *buf)
{
    char t[QS_AUDIT_TIME_LEN + 1];
    assert_true(qs_audit_time_format(us, t));
    strcpy(buf, t);
}

static void test_search(void **state)
{
    (void)state;
    long long *ta = stored_times(WRITER_A, RECORDS_A), *tb = stored_times(WRITER_B, RECORDS_B);
    char args[512], from[40], to[40];

    filter all = {.user = -2, .cred = -2, .result = -1, .times_a = ta, .times_b = tb};
    expect_search("", &all, RECORDS_A + RECORDS_B);

    filter f = all;
    f.user = 1;
    snprintf(args, sizeof args, "--user %s", user_text[1]);
    expect_search(args, &f, 100);

    f = all;
    f.cred = 0;
    f.writer = WRITER_B;
    expect_search("--credential c1010000-0000-0000-0000-000000000000 --writer sam-b", &f, 50);

    f = all;
    f.type = "sad.";
    expect_search("--type sad.", &f, 1000);
    f.type = "sad.issued";
    expect_search("--type sad.issued", &f, 500);
    f.type = "sad";
    expect_search("--type sad", &f, 0); /* not a prefix without the dot: nothing */

    f = all;
    f.result = 0;
    f.writer = WRITER_A;
    f.type = "signature.created";
    expect_search("--result failure --writer sam-a --type signature.created", &f, 50);

    /* A time window: from the time of sam-a's record 1001 (inclusive) to that of 2001
     * (exclusive), in another notation as well. */
    f = all;
    f.from = ta[1001];
    f.to = ta[2001];
    time_text(f.from, from);
    time_text(f.to, to);
    snprintf(args, sizeof args, "--from %s --to %s", from, to);
    expect_search(args, &f, 1000);
    f.user = 0;
    f.result = 1;
    snprintf(args, sizeof args, "--from %s --to %s --user %s --result success", from, to,
             user_text[0]);
    expect_search(args, &f, 100);

    /* One full record, field by field, in both formats: sam-b's record 28 (auth.pin, user 1,
     * credential 0, failure), the first of its kind. */
    char *hash = qs_test_pg_query_value(su, "SELECT encode(record_hash, 'hex') FROM"
                                            " qsign.audit_log WHERE writer_id = 'sam-b' AND"
                                            " seq = 28");
    char *prev = qs_test_pg_query_value(su, "SELECT encode(prev_hash, 'hex') FROM"
                                            " qsign.audit_log WHERE writer_id = 'sam-b' AND"
                                            " seq = 28");
    char *mac = qs_test_pg_query_value(su, "SELECT encode(record_mac, 'hex') FROM"
                                           " qsign.audit_log WHERE writer_id = 'sam-b' AND"
                                           " seq = 28");
    char when[40], want[2048];
    time_text(tb[28], when);
    assert_string_equal(type_of(28), "auth.pin");
    assert_true(user_of(28) == 1 && cred_of(28) == 0 && !success_of(28));
    snprintf(args, sizeof args, "search --writer sam-b --from %s --to %s --type auth.pin", when,
             when);
    ctl_out o = ctl(args);
    assert_int_equal(o.rc, 0);
    assert_string_equal(o.out, ""); /* --to is exclusive: an empty window */
    ctl_free(&o);
    snprintf(args, sizeof args,
             "search --writer sam-b --from %s --type auth.pin --user %s --result failure"
             " --credential c1010000-0000-0000-0000-000000000000",
             when, user_text[1]);
    o = ctl(args);
    assert_int_equal(o.rc, 0);
    snprintf(want, sizeof want,
             "{\"writer_id\":\"sam-b\",\"seq\":28,\"event_time\":\"%s\",\"event_type\":"
             "\"auth.pin\",\"actor\":\"user:tester, \\\"quoted\\\"\",\"user_id\":\"%s\","
             "\"credential_id\":\"c1010000-0000-0000-0000-000000000000\",\"sad_ref\":null,"
             "\"result\":\"failure\",\"details\":\"{\\\"i\\\":28,\\\"tag\\\":1}\","
             "\"prev_hash\":\"%s\",\"record_hash\":\"%s\",\"record_mac\":\"%s\"}\n",
             when, user_text[1], prev, hash, mac);
    if (strncmp(o.out, want, strlen(want)) != 0)
        fail_msg("got:\n%.600s\nwant:\n%s", o.out, want);
    ctl_free(&o);
    strcat(args, " --format csv");
    o = ctl(args);
    assert_int_equal(o.rc, 0);
    snprintf(want, sizeof want,
             "\r\nsam-b,28,%s,auth.pin,\"user:tester, \"\"quoted\"\"\",%s,"
             "c1010000-0000-0000-0000-000000000000,,failure,\"{\"\"i\"\":28,\"\"tag\"\":1}\","
             "%s,%s,%s\r\n",
             when, user_text[1], prev, hash, mac);
    if (strstr(o.out, want) == NULL)
        fail_msg("got:\n%.600s\nwant:\n%s", o.out, want);
    ctl_free(&o);
    free(hash);
    free(prev);
    free(mac);

    /* Bad input: refused before any query, nothing printed. */
    const char *bad[] = {"search --user not-a-uuid",
                         "search --type 'Sad.%'",
                         "search --from yesterday",
                         "search --result maybe",
                         "search --format xml",
                         "search --writer 'a b'",
                         "search extra"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = ctl(bad[i]);
        if (o.rc != 2 || o.out[0] != '\0')
            fail_msg("qsignctl audit %s: exit %d, output %s", bad[i], o.rc, o.out);
        ctl_free(&o);
    }
    free(ta);
    free(tb);
}

/* ---- usage -------------------------------------------------------------------------------- */

static void test_usage(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "frobnicate",
                         "verify extra",
                         "verify --bogus",
                         "checkpoints",
                         "checkpoints import",
                         "checkpoints export extra"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ctl_out o = ctl(bad[i]);
        if (o.rc != 2 || strstr(o.err, "usage: qsignctl audit") == NULL)
            fail_msg("qsignctl audit %s: exit %d, stderr %s", bad[i], o.rc, o.err);
        ctl_free(&o);
    }
    ctl_out o = ctl("verify --max-findings x");
    assert_int_equal(o.rc, 2);
    assert_non_null(strstr(o.err, "--max-findings takes a number"));
    ctl_free(&o);
    o = ctl("--help");
    assert_int_equal(o.rc, 0);
    assert_non_null(strstr(o.out, "usage: qsignctl audit verify"));
    ctl_free(&o);
}

int main(void)
{
    if (qs_util_init() != QS_OK)
        return 1;
    qs_log_set_level(QS_LOG_ERROR + 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_verify_intact, restore),
        cmocka_unit_test_teardown(test_verify_changed_field, restore),
        cmocka_unit_test_teardown(test_verify_deleted_record, restore),
        cmocka_unit_test_teardown(test_verify_forged_record, restore),
        cmocka_unit_test_teardown(test_verify_swapped_records, restore),
        cmocka_unit_test_teardown(test_verify_truncated_after_export, restore),
        cmocka_unit_test_teardown(test_verify_rewritten_wholesale, restore),
        cmocka_unit_test_teardown(test_verify_key_replaced, restore),
        cmocka_unit_test_teardown(test_verify_many_findings, restore),
        cmocka_unit_test_teardown(test_export_file, restore),
        cmocka_unit_test_teardown(test_search, restore),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
