/* The config loader: every way a config can be wrong gets a message naming where, and leaves
 * nothing allocated; good configs load with defaults applied. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testutil.h"
#include "util/config.h"

typedef struct cfg {
    char *name;
    char *path;
    int64_t workers;
    bool verbose;
} cfg;

static const qs_cfg_opt opts[] = {
    {"main", "name", QS_CFG_STRING, NULL, "a required string", offsetof(cfg, name), 0, 0},
    {"main", "workers", QS_CFG_INT, "4", "worker threads", offsetof(cfg, workers), 1, 64},
    {"main", "verbose", QS_CFG_BOOL, "false", "chatty", offsetof(cfg, verbose), 0, 0},
    {"files", "path", QS_CFG_STRING, "/var/lib/x", "a path", offsetof(cfg, path), 0, 0},
    QS_CFG_END,
};

static qs_err load(const char *text, cfg *c, char *err, size_t err_len)
{
    memset(c, 0xA5, sizeof *c); /* garbage in: the loader must not trust it */
    return qs_cfg_load_buf(text, strlen(text), "t.conf", opts, c, err, err_len);
}

static void test_good_config_with_defaults(void **state)
{
    cfg c;
    char err[256];
    assert_int_equal(
        load("# comment\n[main]\nname = alpha beta  # trailing\n", &c, err, sizeof err), QS_OK);
    assert_string_equal(c.name, "alpha beta");
    assert_int_equal(c.workers, 4);
    assert_false(c.verbose);
    assert_string_equal(c.path, "/var/lib/x");
    qs_cfg_free(opts, &c);
    assert_null(c.name);
    assert_null(c.path);
}

static void test_all_types_and_quotes(void **state)
{
    cfg c;
    char err[256];
    const char *text = "[main]\r\n"
                       "  name=\"  spaced # not a comment \" ; real comment\r\n"
                       "workers = 64\n"
                       "verbose = yes\n"
                       "[files]\n"
                       "path = /srv/q\n";
    assert_int_equal(load(text, &c, err, sizeof err), QS_OK);
    assert_string_equal(c.name, "  spaced # not a comment ");
    assert_int_equal(c.workers, 64);
    assert_true(c.verbose);
    assert_string_equal(c.path, "/srv/q");
    qs_cfg_free(opts, &c);
}

/* Each bad config fails with QS_ERR_CONFIG, an error containing `needle`, and no allocation
 * left behind (ASan's leak check would see one). */
static void expect_error(const char *text, const char *needle)
{
    cfg c;
    char err[256];
    assert_int_equal(load(text, &c, err, sizeof err), QS_ERR_CONFIG);
    if (strstr(err, needle) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
    assert_null(c.name);
    assert_null(c.path);
}

static void test_errors_name_what_is_wrong(void **state)
{
    expect_error("", "required option [main] name is missing");
    expect_error("[main]\nname = a\nbogus = 1\n", "t.conf:3: unknown option [main] bogus");
    expect_error("[nosuch]\n", "t.conf:1: unknown section [nosuch]");
    expect_error("name = a\n", "before any [section]");
    expect_error("[main]\nname = a\nname = b\n", "t.conf:3: [main] name given twice");
    expect_error("[main]\nname = a\nworkers = 65\n",
                 "[main] workers: 65 is out of range (1 to 64)");
    expect_error("[main]\nname = a\nworkers = 0\n", "out of range");
    expect_error("[main]\nname = a\nworkers = 12x\n", "\"12x\" is not an integer");
    expect_error("[main]\nname = a\nworkers =\n", "empty value");
    expect_error("[main]\nname = a\nworkers = 99999999999999999999\n", "is not an integer");
    expect_error("[main]\nname = a\nverbose = maybe\n", "is not a boolean");
    expect_error("[main]\nname = \"open\n", "unterminated quoted value");
    expect_error("[main]\nname = \"a\" b\n", "text after a quoted value");
    expect_error("[main\n", "malformed section header");
    expect_error("[]\n", "malformed section header");
    expect_error("[main] x\n", "text after section header");
    expect_error("[main]\njust words\n", "expected \"key = value\"");
    expect_error("[main]\n= value\n", "expected \"key = value\"");
}

static void test_bounds(void **state)
{
    size_t n = QS_CFG_LINE_MAX + 100;
    char *text = malloc(n + 32);
    assert_non_null(text);
    strcpy(text, "[main]\nname = ");
    size_t p = strlen(text);
    memset(text + p, 'x', n - p);
    text[n] = '\0';
    expect_error(text, "line longer than");
    free(text);

    const char with_nul[] = "[main]\nname = a\0b\n";
    cfg c;
    char err[256];
    memset(&c, 0, sizeof c);
    assert_int_equal(
        qs_cfg_load_buf(with_nul, sizeof with_nul - 1, "t.conf", opts, &c, err, sizeof err),
        QS_ERR_CONFIG);
    assert_non_null(strstr(err, "NUL byte"));
}

static void test_file_loading(void **state)
{
    char dir[256], path[512];
    qs_test_tmpdir("config", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/q.conf", dir);
    cfg c;
    char err[512];
    assert_int_equal(qs_cfg_load_file(path, opts, &c, err, sizeof err), QS_ERR_CONFIG);
    assert_non_null(strstr(err, "cannot open config file"));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[main]\nname = fromfile\n", f);
    fclose(f);
    assert_int_equal(qs_cfg_load_file(path, opts, &c, err, sizeof err), QS_OK);
    assert_string_equal(c.name, "fromfile");
    qs_cfg_free(opts, &c);
    qs_test_rmtree(dir);
}

static void test_example_config_loads_back(void **state)
{
    /* The example a program prints must itself be a valid config once required values are set. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    qs_cfg_write_example(f, "test", opts);
    fclose(f);
    assert_non_null(strstr(buf, "# a required string (string, required)"));
    assert_non_null(strstr(buf, "#workers = 4"));
    char *fixed = malloc(len + 16);
    assert_non_null(fixed);
    char *at = strstr(buf, "name = \n");
    assert_non_null(at);
    size_t head = (size_t)(at - buf);
    memcpy(fixed, buf, head);
    strcpy(fixed + head, "name = x\n");
    strcat(fixed, at + strlen("name = \n"));
    cfg c;
    char err[256];
    assert_int_equal(load(fixed, &c, err, sizeof err), QS_OK);
    assert_string_equal(c.name, "x");
    qs_cfg_free(opts, &c);
    free(fixed);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_config_with_defaults),
        cmocka_unit_test(test_all_types_and_quotes),
        cmocka_unit_test(test_errors_name_what_is_wrong),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_file_loading),
        cmocka_unit_test(test_example_config_loads_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
