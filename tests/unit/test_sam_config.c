/*
 * qsign-sam's config (sam/config.c): a minimal file loads with the documented defaults, and
 * each rule the option table cannot express stops loading with a message naming the option.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sam/sam.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

static char dir[PATH_MAX];

static const char base[] = "[database]\nconninfo = dbname=qsign user=qsign_sam\n"
                           "[hsm]\nmodule = /usr/lib/softhsm/libsofthsm2.so\n"
                           "pin_file = /etc/qsign/secrets/hsm-pin\n";

/* Loads base + extra; returns the result and the message in err. */
static qs_err load(const char *extra, sam_config *cfg, char *err, size_t err_len)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/sam.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s%s", base, extra);
    assert_int_equal(fclose(f), 0);
    err[0] = '\0';
    return sam_config_load(path, cfg, err, err_len);
}

static void test_defaults(void **state)
{
    sam_config cfg;
    char err[512];
    assert_int_equal(load("", &cfg, err, sizeof err), QS_OK);
    assert_string_equal(cfg.socket_path, "/run/qsign-sam/sam.sock");
    assert_int_equal(cfg.socket_mode_bits, 0660);
    assert_int_equal(cfg.workers, 8);
    assert_int_equal(cfg.n_admin, 1);
    assert_int_equal(cfg.admin[0], 0);
    assert_int_equal(cfg.pin.min_len, 6);
    assert_int_equal(cfg.pin.charset, QS_PIN_DIGITS);
    assert_int_equal(cfg.max_failed_attempts, 5);
    assert_int_equal(cfg.sad_lifetime, 300);
    assert_int_equal(cfg.max_signatures, 1000);
    assert_string_equal(cfg.totp_issuer, "qsign");
    assert_true(cfg.lock_memory);
    sam_config_free(&cfg);

    assert_int_equal(load("[sam]\nadmin_uids = 0, 1001,1002\nsocket_mode = 0600\n"
                          "[auth]\npin_alphabet = alphanumeric\n",
                          &cfg, err, sizeof err),
                     QS_OK);
    assert_int_equal(cfg.n_admin, 3);
    assert_int_equal(cfg.admin[2], 1002);
    assert_int_equal(cfg.socket_mode_bits, 0600);
    assert_int_equal(cfg.pin.charset, QS_PIN_ALPHANUMERIC);
    sam_config_free(&cfg);
}

static void test_refusals(void **state)
{
    static const struct {
        const char *text;
        const char *names;
    } bad[] = {
        {"[sam]\nsocket_mode = 0999\n", "socket_mode"},
        {"[sam]\nsocket_mode = rw\n", "socket_mode"},
        {"[sam]\nsocket_path = relative.sock\n", "socket_path"},
        {"[sam]\nadmin_uids = 0,root\n", "admin_uids"},
        {"[sam]\nadmin_uids = \n", "admin_uids"},
        {"[sam]\nwriter_id = -bad\n", "writer_id"},
        {"[sam]\nworkers = 0\n", "workers"},
        {"[auth]\npin_alphabet = emoji\n", "pin_alphabet"},
        {"[auth]\npin_min_length = 3\n", "pin_min_length"},
        {"[auth]\nargon2_memlimit = 100\n", "argon2_memlimit"},
        {"[auth]\ntotp_issuer = a:b\n", "totp_issuer"},
        {"[sad]\nlifetime = 600\nmax_lifetime = 300\n", "lifetime"},
        {"[sad]\nmax_signatures = 1001\n", "max_signatures"},
        {"[log]\nlevel = loud\n", "level"},
        {"[sam]\nunknown = 1\n", "unknown"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sam_config cfg;
        char err[512];
        if (load(bad[i].text, &cfg, err, sizeof err) != QS_ERR_CONFIG)
            fail_msg("accepted: %s", bad[i].text);
        if (strstr(err, bad[i].names) == NULL)
            fail_msg("message \"%s\" does not name %s", err, bad[i].names);
    }
}

static void test_required(void **state)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/empty.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "[sam]\nworkers = 2\n");
    assert_int_equal(fclose(f), 0);
    sam_config cfg;
    char err[512];
    assert_int_equal(sam_config_load(path, &cfg, err, sizeof err), QS_ERR_CONFIG);
    assert_non_null(strstr(err, "conninfo"));
}

int main(void)
{
    if (qs_util_init() != QS_OK)
        return 1;
    qs_test_tmpdir("samconfig", dir, sizeof dir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_required),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qs_test_rmtree(dir);
    return rc;
}
