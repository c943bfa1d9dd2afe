/*
 * `qsignctl db migrate` and `qsignctl db status`, run as an operator would: the real binary,
 * a config file, a fresh database.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "tests/lib/pg.h"
#include "tests/lib/testutil.h"

typedef struct fixture {
    qs_test_pg *pg;
    char dir[512];
    char config[600];
    char out[600];
    const char *qsignctl;
} fixture;

static void write_config(fixture *f, const char *conninfo)
{
    FILE *c = fopen(f->config, "w");
    assert_non_null(c);
    fprintf(c, "[database]\n");
    if (conninfo != NULL)
        fprintf(c, "owner_conninfo = %s\n", conninfo);
    fprintf(c, "[log]\nlevel = error\n");
    assert_int_equal(fclose(c), 0);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->qsignctl = getenv("QS_QSIGNCTL");
    if (f->qsignctl == NULL || f->qsignctl[0] == '\0')
        qs_test_skip("QS_QSIGNCTL (path of the qsignctl binary) is not set");
    f->pg = qs_test_pg_create("cli");
    qs_test_tmpdir("dbcli", f->dir, sizeof f->dir);
    snprintf(f->config, sizeof f->config, "%s/qsignctl.conf", f->dir);
    snprintf(f->out, sizeof f->out, "%s/out", f->dir);
    write_config(f, f->pg->owner_conninfo);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    qs_test_rmtree(f->dir);
    qs_test_pg_destroy(f->pg);
    free(f);
    return 0;
}

/* Runs `qsignctl -c CONFIG db ARGS`; returns its exit status, stdout+stderr in *output. */
static int ctl(fixture *f, const char *args, char **output)
{
    int rc = qs_test_system("'%s' -c '%s' db %s >'%s' 2>&1", f->qsignctl, f->config, args, f->out);
    FILE *o = fopen(f->out, "r");
    assert_non_null(o);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, o);
    buf[n] = '\0';
    fclose(o);
    *output = buf;
    return rc;
}

static void expect_output(fixture *f, const char *args, int want_rc, const char *want_text)
{
    char *out = NULL;
    int rc = ctl(f, args, &out);
    if (rc != want_rc || strstr(out, want_text) == NULL)
        fail_msg("qsignctl db %s: exit %d (want %d), output:\n%s\n(wanted \"%s\")", args, rc,
                 want_rc, out, want_text);
    free(out);
}

static void test_migrate_and_status(void **state)
{
    fixture *f = *state;
    char latest[64];
    snprintf(latest, sizeof latest, "latest known:   %zu", qs_db_migration_count());

    expect_output(f, "status", 0, "schema version: 0");
    expect_output(f, "status", 0, latest);
    expect_output(f, "status", 0, "pending:\n  0001-initial\n");
    expect_output(f, "migrate", 0, "applied 0001-initial\n");
    expect_output(f, "migrate", 0, "up to date");
    expect_output(f, "status", 0, "up to date");

    /* A database whose record no longer matches this binary. */
    PGconn *su = qs_test_pg_connect(f->pg->super_conninfo);
    qs_test_pg_exec_ok(su, "UPDATE qsign.schema_migration SET name = '0001-other'"
                           " WHERE version = 1");
    PQfinish(su);
    expect_output(f, "status", 1, "schema version mismatch");
    expect_output(f, "migrate", 1, "schema version mismatch");
}

static void test_usage_and_config_errors(void **state)
{
    fixture *f = *state;
    expect_output(f, "frobnicate", 2, "unknown sub-command");
    expect_output(f, "", 2, "usage: qsignctl db");
    write_config(f, NULL);
    expect_output(f, "migrate", 1, "owner_conninfo");
    write_config(f, "host=/nonexistent-qsign-dir port=1 dbname=x user=y");
    expect_output(f, "status", 1, "cannot connect");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_and_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_and_config_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
