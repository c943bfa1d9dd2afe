/* Secret handling over libsodium: wiping, constant-time compare, guarded memory, secret files. */
#include "util/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

qs_err qs_util_init(void)
{
    return sodium_init() < 0 ? QS_ERR_CRYPTO : QS_OK;
}

void qs_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        sodium_memzero(p, n);
}

bool qs_ct_equal(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

void *qs_secret_alloc(size_t n)
{
    return sodium_malloc(n);
}

void qs_secret_free(void *p)
{
    if (p != NULL)
        sodium_free(p);
}

void qs_free_wiped(void *p, size_t n)
{
    if (p == NULL)
        return;
    sodium_memzero(p, n);
    free(p);
}

void qs_random(void *buf, size_t n)
{
    randombytes_buf(buf, n);
}

qs_err qs_secret_read_file(const char *path, size_t max_len, char **out, size_t *out_len, char *why,
                           size_t why_len)
{
    qs_err r = QS_ERR_CONFIG;
    char *buf = NULL;
    size_t cap = max_len + 2; /* room for a line ending and the NUL */
    int fd = -1;

    *out = NULL;
    *out_len = 0;
    if (why_len > 0)
        why[0] = '\0';

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(why, why_len, "cannot open secret file %s: %s", path, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, why_len, "secret file %s is not a regular file", path);
        goto out;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        snprintf(why, why_len, "secret file %s is accessible by group or others (mode %03o)", path,
                 (unsigned)(st.st_mode & 0777));
        goto out;
    }
    buf = sodium_malloc(cap);
    if (buf == NULL) {
        r = QS_ERR_NOMEM;
        snprintf(why, why_len, "out of memory reading %s", path);
        goto out;
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(why, why_len, "cannot read secret file %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap - 1)
            break;
    }
    size_t line = 0;
    while (line < len && buf[line] != '\n' && buf[line] != '\r')
        line++;
    if (line > max_len) {
        snprintf(why, why_len, "secret in %s is longer than %zu bytes", path, max_len);
        goto out;
    }
    if (line == 0) {
        snprintf(why, why_len, "secret file %s is empty", path);
        goto out;
    }
    if (memchr(buf, '\0', line) != NULL) {
        snprintf(why, why_len, "secret in %s contains a NUL byte", path);
        goto out;
    }
    sodium_memzero(buf + line, cap - line);
    *out = buf;
    *out_len = line;
    buf = NULL;
    r = QS_OK;
out:
    if (buf != NULL)
        sodium_free(buf);
    if (fd >= 0)
        close(fd);
    return r;
}
