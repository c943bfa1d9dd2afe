/*
 * Secret handling over libsodium.  Every buffer that ever held a secret is wiped before it is
 * freed or leaves scope; long-lived secrets live in guarded, locked memory (sodium_malloc).
 */
#ifndef QS_UTIL_SECRET_H
#define QS_UTIL_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Initialises libsodium.  Call once at start-up, before any other qs_ function; idempotent. */
QS_MUST_CHECK qs_err qs_util_init(void);

/* Overwrites n bytes at p with zeros in a way the compiler cannot elide.  p may be NULL if n == 0.
 */
void qs_wipe(void *p, size_t n);

/* Constant-time equality of two n-byte buffers. */
QS_MUST_CHECK bool qs_ct_equal(const void *a, const void *b, size_t n);

/* Guarded, mlock()ed allocation for long-lived secrets; NULL on failure.  Free with
 * qs_secret_free(), which wipes.  qs_secret_free(NULL) is a no-op. */
void *qs_secret_alloc(size_t n);
void qs_secret_free(void *p);

/* Wipes n bytes then free()s: for secrets that went through ordinary malloc.  NULL is a no-op. */
void qs_free_wiped(void *p, size_t n);

/*
 * Reads a secret (a PIN, a password) from a file: the first line, without its line ending.
 * Refuses an empty secret, one longer than max_len, and a file that group or others may read
 * or write (QS_ERR_CONFIG, with the reason in `why`).  On success *out is a NUL-terminated
 * string in qs_secret_alloc() memory (free it with qs_secret_free) and *out_len its length.
 */
QS_MUST_CHECK qs_err qs_secret_read_file(const char *path, size_t max_len, char **out,
                                         size_t *out_len, char *why, size_t why_len);

/* Fills buf with n random bytes from the OS (libsodium). */
void qs_random(void *buf, size_t n);

#endif
