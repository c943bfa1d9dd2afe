/* Secret files are read strictly; the error registry is complete and stable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/testutil.h"
#include "util/err.h"
#include "util/secret.h"

static char dir[256];

static void write_file(const char *name, const char *content, size_t len, mode_t mode, char *path,
                       size_t path_len)
{
    snprintf(path, path_len, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_reads_first_line(void **state)
{
    char path[512], why[256], *s = NULL;
    size_t len = 0;
    write_file("pin", "123456\nsecond line\n", 19, 0600, path, sizeof path);
    assert_int_equal(qs_secret_read_file(path, 64, &s, &len, why, sizeof why), QS_OK);
    assert_int_equal(len, 6);
    assert_string_equal(s, "123456");
    qs_secret_free(s);

    write_file("crlf", "abc\r\n", 5, 0400, path, sizeof path);
    assert_int_equal(qs_secret_read_file(path, 64, &s, &len, why, sizeof why), QS_OK);
    assert_string_equal(s, "abc");
    qs_secret_free(s);
}

static void expect_refused(const char *name, const char *content, size_t len, mode_t mode,
                           size_t max, const char *needle)
{
    char path[512], why[256], *s = (char *)"sentinel";
    size_t out_len = 99;
    write_file(name, content, len, mode, path, sizeof path);
    assert_int_equal(qs_secret_read_file(path, max, &s, &out_len, why, sizeof why), QS_ERR_CONFIG);
    assert_null(s);
    assert_int_equal(out_len, 0);
    if (strstr(why, needle) == NULL)
        fail_msg("\"%s\" lacks \"%s\"", why, needle);
}

static void test_refusals(void **state)
{
    expect_refused("world", "123456\n", 7, 0644, 64, "accessible by group or others");
    expect_refused("group", "123456\n", 7, 0640, 64, "accessible by group or others");
    expect_refused("empty", "\n", 1, 0600, 64, "is empty");
    expect_refused("long", "12345678\n", 9, 0600, 7, "longer than 7 bytes");
    expect_refused("nul",
                   "12\0"
                   "34\n",
                   6, 0600, 64, "NUL byte");

    char path[512], why[256], *s = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(qs_secret_read_file(path, 64, &s, &len, why, sizeof why), QS_ERR_CONFIG);
    assert_non_null(strstr(why, "cannot open secret file"));

    char link[512];
    write_file("target", "123456\n", 7, 0600, path, sizeof path);
    snprintf(link, sizeof link, "%s/link", dir);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(qs_secret_read_file(link, 64, &s, &len, why, sizeof why), QS_ERR_CONFIG);
}

static void test_error_registry(void **state)
{
    assert_string_equal(qs_err_str(QS_OK), "success");
    assert_string_equal(qs_err_name(QS_ERR_MAC), "QS_ERR_MAC");
    assert_string_equal(qs_err_str(12345), "unknown error");
    /* Codes are dense from 0 down: a gap or a renumbering shows up here. */
    int last = 0;
    for (int e = 0; e > -1000; e--) {
        if (strcmp(qs_err_name(e), "QS_ERR_UNKNOWN") == 0)
            break;
        last = e;
    }
    assert_true(last <= QS_ERR_CROSS_ORIGIN);
    for (int e = last; e <= 0; e++)
        assert_string_not_equal(qs_err_str(e), "unknown error");
}

static void test_wipe_and_compare(void **state)
{
    uint8_t a[32], b[32];
    memset(a, 0x5a, sizeof a);
    memcpy(b, a, sizeof b);
    assert_true(qs_ct_equal(a, b, sizeof a));
    b[31] ^= 1;
    assert_false(qs_ct_equal(a, b, sizeof a));
    qs_wipe(a, sizeof a);
    for (size_t i = 0; i < sizeof a; i++)
        assert_int_equal(a[i], 0);
    qs_wipe(NULL, 0);
    qs_free_wiped(NULL, 10);
    qs_secret_free(NULL);
}

static int setup(void **state)
{
    if (qs_util_init() != QS_OK)
        return -1;
    qs_test_tmpdir("secret", dir, sizeof dir);
    return 0;
}

static int teardown(void **state)
{
    qs_test_rmtree(dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_first_line),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_error_registry),
        cmocka_unit_test(test_wipe_and_compare),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
