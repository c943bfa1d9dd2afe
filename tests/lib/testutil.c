/* Shared test helpers: skipping honestly, temporary directories, shell commands. */
#include "tests/lib/testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

_Noreturn void qs_test_skip(const char *what)
{
    const char *no_skip = getenv("QS_TEST_NO_SKIP");
    if (no_skip != NULL && strcmp(no_skip, "1") == 0) {
        fprintf(stderr, "FAILED (skipping is not allowed here): %s\n", what);
        exit(1);
    }
    fprintf(stderr, "SKIPPED: %s\n", what);
    exit(QS_TEST_SKIP);
}

void qs_test_tmpdir(const char *tag, char *buf, size_t buf_len)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    int n = snprintf(buf, buf_len, "%s/qsign-test-%s-XXXXXX", base, tag);
    if (n < 0 || (size_t)n >= buf_len || mkdtemp(buf) == NULL) {
        fprintf(stderr, "cannot make a temporary directory for %s\n", tag);
        exit(1);
    }
    if (chmod(buf, 0700) != 0) {
        fprintf(stderr, "cannot chmod %s\n", buf);
        exit(1);
    }
}

void qs_test_rmtree(const char *path)
{
    if (path == NULL || path[0] == '\0' || strcmp(path, "/") == 0)
        return;
    (void)qs_test_system("rm -rf -- '%s'", path);
}

int qs_test_system(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1;
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}
