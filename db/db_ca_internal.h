/*
 * Private to the CA and RA operations (db/pg_ca_*.c, pg_crl_*.c, pg_certificate_*.c,
 * pg_evidence_*.c, pg_activation_*.c, pg_ra_*.c): the columns each read selects and their row
 * readers, so a get and a lock of one table cannot drift apart.
 */
#ifndef QS_DB_DB_CA_INTERNAL_H
#define QS_DB_DB_CA_INTERNAL_H

#include "db/db_ca.h"
#include "db/db_sam_internal.h"

/* A text value that may be NULL: "" for NULL, else copied with its NUL (at most cap - 1 bytes). */
QS_MUST_CHECK qs_err qs_db_ca_get_text_opt(const PGresult *res, int row, int col, char *buf,
                                           size_t cap);

/* A text parameter that is NULL for "". */
void qs_db_ca_param_text_opt(qs_db_param *p, const char *v);

#define QS_DB_CA_STATE_COLUMNS                                                                     \
    "key_label, key_alg, status, ca_cert, csr, ocsp_key_label, ocsp_cert, crl_number, record_mac"
QS_MUST_CHECK qs_err qs_db_ca_state_row_read(const PGresult *res, int row, qs_db_ca_state *out);

#define QS_DB_CERTIFICATE_COLUMNS                                                                  \
    "serial, credential_id, issuer, subject, not_before, not_after, der, profile, status,"         \
    " revoked_at, reason::int4, record_mac"
QS_MUST_CHECK qs_err qs_db_certificate_row_read(const PGresult *res, int row,
                                                qs_db_certificate *out);

#define QS_DB_EVIDENCE_COLUMNS                                                                     \
    "id, user_id, method, document_type, document_number_hash, document_salt, issuing_country,"    \
    " officer, verified_at, notes, profile, country, common_name, given_name, surname, pseudonym," \
    " serial_number, organization, organization_id, record_mac"
QS_MUST_CHECK qs_err qs_db_evidence_row_read(const PGresult *res, int row, qs_db_evidence *out);

#endif
