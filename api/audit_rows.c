/*
 * Audit records as the audit API returns them (api/audit.h): one record per line, as JSON lines
 * or CSV, with every column in the form `qsignctl audit search` writes (docs/audit-log.md,
 * "Search"): writer_id, seq, event_time (RFC 3339, UTC, microseconds), event_type, actor,
 * user_id, credential_id, sad_ref, result, details (the stored text, byte for byte), prev_hash,
 * record_hash, record_mac (lowercase hex).  JSON gives absent values as null and details as a
 * string; CSV (RFC 4180, CRLF) starts with a header line, leaves absent values empty and quotes
 * a field holding a comma, a quote or a line break.  A reader can recompute every record_hash
 * from either.  The text is qs_audit_rows_text's, the same as `qsignctl audit search` writes.
 */
#include "api/audit.h"
#include "db/db_audit.h"
#include "sam/audit.h"

qs_err api_audit_rows(const qs_db_audit_found *found, size_t n, api_audit_format f, char **out,
                      size_t *len)
{
    return qs_audit_rows_text(
        found, n, f == API_AUDIT_CSV ? QS_AUDIT_FORMAT_CSV : QS_AUDIT_FORMAT_JSONL, true, out, len);
}
