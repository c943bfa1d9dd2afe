/*
 * Shared test helpers.  Include after <cmocka.h>'s prerequisites (stdarg, stddef, setjmp).
 */
#ifndef QS_TESTS_TESTUTIL_H
#define QS_TESTS_TESTUTIL_H

#include <stddef.h>

/* ctest's SKIP_RETURN_CODE. */
#define QS_TEST_SKIP 77

/*
 * Ends the test program as skipped (exit 77) because `what` is truly missing on this machine,
 * printing why.  When QS_TEST_NO_SKIP=1 (CI) a skip is a failure: prints the same and exits 1.
 */
_Noreturn void qs_test_skip(const char *what);

/* Makes a fresh private (0700) temporary directory named after `tag`; aborts the test program
 * on failure.  Writes the path into buf. */
void qs_test_tmpdir(const char *tag, char *buf, size_t buf_len);

/* Removes a directory tree made by qs_test_tmpdir (best effort). */
void qs_test_rmtree(const char *path);

/* Runs a shell command, returns its exit status (-1 if it could not run). */
int qs_test_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
