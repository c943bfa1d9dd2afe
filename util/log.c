/*
 * Logging to stderr in logfmt, one write(2) per event so lines from concurrent threads never
 * interleave.  The request id is thread-local.
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int qs_log_level_ = QS_LOG_INFO;
static _Thread_local char qs_log_rid_[QS_LOG_RID_MAX];

static const char *const qs_log_level_names_[] = {"debug", "info", "warn", "error"};

void qs_log_set_level(qs_log_level level)
{
    atomic_store(&qs_log_level_, (int)level);
}

qs_log_level qs_log_get_level(void)
{
    return (qs_log_level)atomic_load(&qs_log_level_);
}

bool qs_log_level_parse(const char *s, qs_log_level *out)
{
    if (s == NULL)
        return false;
    for (size_t i = 0; i < sizeof qs_log_level_names_ / sizeof qs_log_level_names_[0]; i++) {
        if (strcmp(s, qs_log_level_names_[i]) == 0) {
            *out = (qs_log_level)i;
            return true;
        }
    }
    return false;
}

void qs_log_set_request_id(const char *rid)
{
    if (rid == NULL) {
        qs_log_rid_[0] = '\0';
        return;
    }
    size_t i = 0;
    for (; rid[i] != '\0' && i < QS_LOG_RID_MAX - 1; i++) {
        char c = rid[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        qs_log_rid_[i] = ok ? c : '_';
    }
    qs_log_rid_[i] = '\0';
}

/* Appends s to buf as the inside of a logfmt quoted value: quotes and backslashes escaped,
 * control bytes as \xNN, so one event stays one line whatever the message holds. */
static size_t qs_log_append_escaped(char *buf, size_t pos, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s != '\0' && pos + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            buf[pos++] = '\\';
            buf[pos++] = 'x';
            buf[pos++] = hex[c >> 4];
            buf[pos++] = hex[c & 0xf];
        } else {
            buf[pos++] = (char)c;
        }
    }
    return pos;
}

void qs_log_msg(qs_log_level level, const char *module, const char *file, int line, const char *fmt,
                ...)
{
    if ((int)level < atomic_load(&qs_log_level_))
        return;
    if ((unsigned)level > QS_LOG_ERROR)
        level = QS_LOG_ERROR;

    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);

    char out[4096];
    int head = snprintf(out, sizeof out,
                        "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s module=%s rid=%s ",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                        tm.tm_sec, ts.tv_nsec / 1000000L, qs_log_level_names_[level],
                        module != NULL ? module : "-", qs_log_rid_[0] != '\0' ? qs_log_rid_ : "-");
    if (head < 0 || (size_t)head >= sizeof out)
        return;
    size_t pos = (size_t)head;
    if (file != NULL) {
        const char *base = strrchr(file, '/');
        int m = snprintf(out + pos, sizeof out - pos, "src=%s:%d ", base ? base + 1 : file, line);
        if (m > 0 && (size_t)m < sizeof out - pos)
            pos += (size_t)m;
    }
    static const char open[] = "msg=\"";
    if (pos + sizeof open < sizeof out) {
        memcpy(out + pos, open, sizeof open - 1);
        pos += sizeof open - 1;
    }
    pos = qs_log_append_escaped(out, pos, sizeof out - 2, msg);
    out[pos++] = '"';
    out[pos++] = '\n';

    /* One write keeps concurrent lines whole; a short write to stderr is not worth a retry. */
    ssize_t w = write(STDERR_FILENO, out, pos);
    (void)w;
}
