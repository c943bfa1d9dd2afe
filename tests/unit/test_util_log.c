/* Log lines: one line per event whatever the message holds, level filtering, request ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

/* Runs fn with stderr redirected to a pipe and returns what it wrote (caller frees). */
static char *capture(void (*fn)(void))
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    close(fds[1]);
    fn();
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + len, 65535 - len)) > 0)
        len += (size_t)n;
    close(fds[0]);
    return buf;
}

static void emit_tricky(void)
{
    qs_log_set_level(QS_LOG_INFO);
    qs_log_set_request_id("req 1\n");
    qs_log_msg(QS_LOG_WARN, "t", NULL, 0, "a \"quoted\"\nsecond\\line\x01");
    qs_log_msg(QS_LOG_DEBUG, "t", NULL, 0, "dropped");
    qs_log_set_request_id(NULL);
    qs_log_msg(QS_LOG_ERROR, "t", "dir/file.c", 42, "bug");
}

static void test_one_line_per_event(void **state)
{
    char *out = capture(emit_tricky);
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    assert_non_null(strstr(out, "level=warn module=t rid=req_1_ "));
    assert_non_null(strstr(out, "msg=\"a \\\"quoted\\\"\\x0asecond\\\\line\\x01\""));
    char *second = nl + 1;
    assert_non_null(strstr(second, "level=error module=t rid=- src=file.c:42 msg=\"bug\"\n"));
    assert_null(strstr(out, "dropped"));
    assert_null(strstr(second, "dropped"));
    free(out);
}

static void test_level_parse(void **state)
{
    qs_log_level l;
    assert_true(qs_log_level_parse("debug", &l));
    assert_int_equal(l, QS_LOG_DEBUG);
    assert_true(qs_log_level_parse("error", &l));
    assert_int_equal(l, QS_LOG_ERROR);
    assert_false(qs_log_level_parse("loud", &l));
    assert_false(qs_log_level_parse(NULL, &l));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_line_per_event),
        cmocka_unit_test(test_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
