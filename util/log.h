/*
 * Logging: one line per event on stderr, machine parseable (logfmt):
 *   ts=2026-11-21T07:56:44.123Z level=info module=hsm rid=5f1c... msg="token found" slot=3
 * Messages never carry secrets: log key ids and fingerprints, never key bytes, PINs, OTPs,
 * seeds, SADs or tokens.  Thread-safe; each line is written with one write(2).
 *
 * In a source file, define QS_LOG_MODULE before including this header and use the short
 * macros: qs_info("token %s found", label).  qs_bug() adds file:line and is for our own bugs,
 * never for bad input from a client.
 */
#ifndef QS_UTIL_LOG_H
#define QS_UTIL_LOG_H

#include <stdbool.h>

typedef enum qs_log_level {
    QS_LOG_DEBUG = 0,
    QS_LOG_INFO = 1,
    QS_LOG_WARN = 2,
    QS_LOG_ERROR = 3,
} qs_log_level;

/* Events below `level` are dropped.  Default: QS_LOG_INFO. */
void qs_log_set_level(qs_log_level level);
qs_log_level qs_log_get_level(void);

/* Parses "debug", "info", "warn" or "error"; false for anything else. */
bool qs_log_level_parse(const char *s, qs_log_level *out);

/* The request id of the calling thread, printed as rid=...; NULL clears it.  The string is
 * copied (at most QS_LOG_RID_MAX - 1 bytes; characters outside [A-Za-z0-9._-] become '_'). */
#define QS_LOG_RID_MAX 64
void qs_log_set_request_id(const char *rid);

/* Writes one event.  `file` may be NULL (then no src= field). */
void qs_log_msg(qs_log_level level, const char *module, const char *file, int line, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));

#ifndef QS_LOG_MODULE
#define QS_LOG_MODULE "qsign"
#endif

#define qs_debug(...) qs_log_msg(QS_LOG_DEBUG, QS_LOG_MODULE, NULL, 0, __VA_ARGS__)
#define qs_info(...)  qs_log_msg(QS_LOG_INFO, QS_LOG_MODULE, NULL, 0, __VA_ARGS__)
#define qs_warn(...)  qs_log_msg(QS_LOG_WARN, QS_LOG_MODULE, NULL, 0, __VA_ARGS__)
#define qs_error(...) qs_log_msg(QS_LOG_ERROR, QS_LOG_MODULE, NULL, 0, __VA_ARGS__)
#define qs_bug(...)   qs_log_msg(QS_LOG_ERROR, QS_LOG_MODULE, __FILE__, __LINE__, __VA_ARGS__)

#endif
