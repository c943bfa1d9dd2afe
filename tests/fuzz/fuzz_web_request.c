/*
 * libFuzzer harness over what qsignd reads from a browser request besides the body: the Origin
 * and Host headers (api_origin_allowed), a [http] public_origin value (api_origin_valid) and the
 * path of a web page file (api_web_find).  The input is split at its first two newlines into
 * origin, host and path.  Checked: a state-changing request passes only when its origin is the
 * scheme plus the host (a default port aside, case aside) and never when it holds characters a
 * host cannot; a reading request always passes; a found file has exactly the path asked for.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next field of the input, up to '\n' or the end, as a new string. */
static char *field(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    const uint8_t *stop = nl != NULL ? nl : end;
    size_t n = (size_t)(stop - *p);
    char *s = malloc(n + 1);
    if (s == NULL)
        abort();
    memcpy(s, *p, n);
    s[n] = '\0';
    *p = nl != NULL ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char *origin = field(&p, end);
    char *host = field(&p, end);
    char *path = field(&p, end);

    if (!api_origin_allowed("GET", origin, host, true, "") ||
        !api_origin_allowed("POST", NULL, host, false, ""))
        abort();
    for (int tls = 0; tls < 2; tls++) {
        if (!api_origin_allowed("POST", origin, host, tls != 0, ""))
            continue;
        const char *scheme = tls ? "https://" : "http://";
        size_t sn = strlen(scheme);
        if (strncasecmp(origin, scheme, sn) != 0 || strpbrk(origin + sn, "/?#@ ") != NULL ||
            strpbrk(host, "/?#@ ") != NULL)
            abort();
        const char *o = origin + sn;
        size_t on = strlen(o), hn = strlen(host);
        const char *port = tls ? ":443" : ":80";
        size_t pn = strlen(port);
        if (on > pn && strcmp(o + on - pn, port) == 0)
            on -= pn;
        if (hn > pn && strcmp(host + hn - pn, port) == 0)
            hn -= pn;
        if (on != hn || strncasecmp(o, host, on) != 0)
            abort();
    }
    /* With a public origin only that origin passes. */
    if (api_origin_allowed("POST", origin, host, true, "https://sign.example") &&
        strcasecmp(origin, "https://sign.example") != 0)
        abort();
    if (api_origin_valid(origin) &&
        (strpbrk(origin + (origin[4] == 's' ? 8 : 7), "/?#@ ") != NULL ||
         (strncmp(origin, "https://", 8) != 0 && strncmp(origin, "http://", 7) != 0)))
        abort();
    const api_web_asset *a = api_web_find(path);
    if (a != NULL && (strcmp(a->path, path) != 0 || a->len == 0))
        abort();

    free(origin);
    free(host);
    free(path);
    return 0;
}
