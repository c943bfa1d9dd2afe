/*
 * Private to the audit writer (sam/audit*.c) and its tests: event validation and the bridge
 * between stored rows and the record encoding.
 */
#ifndef QS_SAM_AUDIT_INTERNAL_H
#define QS_SAM_AUDIT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "db/db_audit.h"
#include "sam/audit.h"

/* Whether a writer id matches [A-Za-z0-9][A-Za-z0-9._-]{0,63} (audit_writers' CHECK). */
bool qs_audit_writer_id_valid(const char *id);

/* Number of code points in valid UTF-8 without NUL, or -1 when s is not that. */
long qs_audit_utf8_chars(const char *s, size_t len);

/* Checks an event against every rule the audit_log table enforces (so one bad event cannot fail
 * other callers' batch): QS_OK or QS_ERR_INVALID_ARGUMENT, logged as our bug with the field. */
QS_MUST_CHECK qs_err qs_audit_event_check(const qs_audit_event *ev);

/* The record view of a stored row (pointing into it). */
void qs_audit_record_from_row(const char *writer_id, const qs_db_audit_row *row,
                              qs_audit_record *rec);

/* Checks a stored record on its own: record_hash recomputed from the columns, then the MAC.
 * QS_OK, QS_ERR_MAC (with *problem QS_AUDIT_BAD_HASH or QS_AUDIT_BAD_MAC), or an HSM error. */
QS_MUST_CHECK qs_err qs_audit_row_check(qs_hsm_session *hs, const char *writer_id,
                                        const qs_db_audit_row *row, qs_audit_problem *problem);

#endif
