/*
 * The auditors' API (/audit/v1/...), private to api/: the search request (a declarative spec by
 * JSON name, api/ra.h's checker, then the meaning of each criterion), the continuation cursor,
 * and the records as JSON lines or CSV, with the columns and the form of `qsignctl audit
 * search` (docs/audit-log.md), so an auditor's tools read both alike.  Nothing here touches the
 * database or the SAM: the fuzz harness tests/fuzz/fuzz_api_request.c drives the parsers.
 *
 * Descriptions name the field ("Invalid parameter from: ...") and never repeat its value.
 */
#ifndef QS_API_AUDIT_H
#define QS_API_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "db/db_audit.h"
#include "util/err.h"

#define API_AUDIT_LIMIT_DEFAULT 100  /* records per page without "limit" */
#define API_AUDIT_LIMIT_MAX     1000 /* most records per page */
#define API_AUDIT_CURSOR_MAX    160  /* characters of a cursor */
#define API_AUDIT_TEXT_MAX      40   /* characters of a time ("from", "to") */

typedef enum api_audit_format {
    API_AUDIT_JSONL = 1, /* one JSON object per line (application/jsonl) */
    API_AUDIT_CSV = 2,   /* RFC 4180 with a header line (text/csv) */
} api_audit_format;

/* A parsed search: the criteria (as qs_db_audit_search takes them), the page and its form.
 * Strings point into the request body. */
typedef struct api_audit_query {
    bool has_user, has_credential;
    uint8_t user_id[QS_DB_AUDIT_UUID_LEN];
    uint8_t credential_id[QS_DB_AUDIT_UUID_LEN];
    char user_id_str[37], credential_id_str[37]; /* canonical lowercase text, "" when absent */
    const char *event_type;                      /* exact, or a prefix ending in '.'; NULL: any */
    const char *writer_id;                       /* NULL: any */
    bool has_from, has_to;
    int64_t from_us, to_us; /* microseconds since the Unix epoch; from inclusive, to not */
    int result;             /* 1 success, 0 failure, -1 either */
    api_audit_format format;
    uint32_t limit;
    qs_db_audit_cursor cursor; /* started false: from the first match */
} api_audit_query;

/*
 * Parses a search body: {"userID", "credentialID", "eventType", "from", "to", "result",
 * "writerID", "format", "limit", "cursor"}, every member optional.  userID and credentialID are
 * UUIDs; eventType an event type ([a-z][a-z0-9_.]{0,63}), a prefix when it ends with '.'; from
 * and to RFC 3339 date-times (Z or an offset, up to six fractional digits) or dates (midnight
 * UTC), not before 1970, from before to; result "success" or "failure"; writerID a writer id;
 * format "jsonl" (default) or "csv"; limit 1..API_AUDIT_LIMIT_MAX (default
 * API_AUDIT_LIMIT_DEFAULT); cursor a nextCursor this API gave.  QS_OK, or
 * QS_ERR_INVALID_ARGUMENT with a description naming the field.
 */
QS_MUST_CHECK qs_err api_audit_search_parse(const json_t *body, api_audit_query *out, char *desc,
                                            size_t desc_len);

/* The cursor after the record (time_us, writer_id, seq): unpadded base64url text into out (at
 * least API_AUDIT_CURSOR_MAX + 1 bytes).  false when the writer id does not fit. */
bool api_audit_cursor_format(const qs_db_audit_cursor *c, char *out, size_t out_len);

/* Parses a cursor of api_audit_cursor_format (`len` characters): true and *c (started), or
 * false for anything else. */
bool api_audit_cursor_parse(const char *s, size_t len, qs_db_audit_cursor *c);

/* Whether s is an audit event type ([a-z][a-z0-9_.]{0,63}) and a writer id
 * ([A-Za-z0-9][A-Za-z0-9._-]{0,63}), as the audit log's CHECKs say. */
bool api_audit_event_type_valid(const char *s);
bool api_audit_writer_id_valid(const char *s);

/*
 * The records found[0..n) as JSON lines or CSV (the CSV header line first, also when n is 0):
 * every column, as `qsignctl audit search` writes them.  *out is malloc'd (free it), *len its
 * length.  QS_OK, QS_ERR_NOMEM, or QS_ERR_DB for a record that cannot be written (a time beyond
 * the year 9999, details that are not UTF-8).
 */
QS_MUST_CHECK qs_err api_audit_rows(const qs_db_audit_found *found, size_t n, api_audit_format f,
                                    char **out, size_t *len);

#endif
