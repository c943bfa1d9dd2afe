/*
 * The Origin check of state-changing requests (CSRF defence in depth).  The API authenticates
 * with the Authorization header only and sets no cookies, so a request a foreign page makes a
 * browser send carries no credentials anyway; refusing foreign origins as well keeps it so if
 * cookies ever appear, and stops a foreign page from driving the public endpoints (auth/login
 * with a guessed password) from a victim's browser.  Non-browser clients send no Origin and are
 * not affected.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"

#define ORIGIN_MAX 512

static bool reads_only(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
           strcmp(method, "OPTIONS") == 0;
}

/* Length of `host` without a trailing default port of the scheme. */
static size_t host_len(const char *host, bool tls)
{
    size_t n = strlen(host);
    const char *port = tls ? ":443" : ":80";
    size_t pn = strlen(port);
    if (n > pn && strcmp(host + n - pn, port) == 0)
        n -= pn;
    return n;
}

/* A host, with an optional port, as origins and Host headers write it (names, IPv4, [IPv6]). */
static bool host_ok(const char *h)
{
    if (*h == '\0' || strlen(h) > ORIGIN_MAX)
        return false;
    for (; *h != '\0'; h++) {
        char c = *h;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
        if (!ok)
            return false;
    }
    return true;
}

bool api_origin_valid(const char *s)
{
    size_t skip = strncmp(s, "https://", 8) == 0 ? 8 : strncmp(s, "http://", 7) == 0 ? 7 : 0;
    return skip != 0 && host_ok(s + skip);
}

bool api_origin_allowed(const char *method, const char *origin, const char *host, bool tls,
                        const char *public_origin)
{
    if (reads_only(method) || origin == NULL)
        return true;
    if (public_origin != NULL && public_origin[0] != '\0')
        return strcasecmp(origin, public_origin) == 0;
    if (host == NULL || !host_ok(host))
        return false;
    const char *scheme = tls ? "https://" : "http://";
    size_t sn = strlen(scheme);
    if (strncasecmp(origin, scheme, sn) != 0)
        return false;
    const char *o = origin + sn;
    if (!host_ok(o))
        return false;
    size_t on = host_len(o, tls), hn = host_len(host, tls);
    /* host_len() drops only a default port, so equal lengths and bytes mean the same origin */
    return on > 0 && on == hn && strncasecmp(o, host, hn) == 0;
}
