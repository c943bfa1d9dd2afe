/*
 * Row readers of the CA and RA operations (db/db_ca_internal.h).  Types and sizes are checked
 * as in db_sam_row.c; a mismatch is a bug (QS_ERR_DB).
 */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_ca_internal.h"
#include "util/log.h"

qs_err qs_db_ca_get_text_opt(const PGresult *res, int row, int col, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (row >= 0 && row < PQntuples(res) && col >= 0 && col < PQnfields(res) &&
        PQgetisnull(res, row, col))
        return PQftype(res, col) == QS_DB_OID_TEXT ? QS_OK : QS_ERR_DB;
    return qs_db_sam_get_text(res, row, col, buf, cap);
}

void qs_db_ca_param_text_opt(qs_db_param *p, const char *v)
{
    if (v == NULL || v[0] == '\0')
        qs_db_param_null(p, QS_DB_OID_TEXT);
    else
        qs_db_param_text(p, v);
}

qs_err qs_db_ca_state_row_read(const PGresult *res, int i, qs_db_ca_state *out)
{
    qs_err r;
    memset(out, 0, sizeof *out);
    if ((r = qs_db_sam_get_text(res, i, 0, out->key_label, sizeof out->key_label)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 1, out->key_alg, sizeof out->key_alg)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 2, out->status, sizeof out->status)) != QS_OK ||
        (r = qs_db_sam_get_bytea(res, i, 3, out->ca_cert, sizeof out->ca_cert, &out->ca_cert_len,
                                 &out->has_ca_cert)) != QS_OK ||
        (r = qs_db_sam_get_bytea(res, i, 4, out->csr, sizeof out->csr, &out->csr_len,
                                 &out->has_csr)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 5, out->ocsp_key_label, sizeof out->ocsp_key_label)) !=
            QS_OK ||
        (r = qs_db_sam_get_bytea(res, i, 6, out->ocsp_cert, sizeof out->ocsp_cert,
                                 &out->ocsp_cert_len, &out->has_ocsp_cert)) != QS_OK ||
        (r = qs_db_get_int8(res, i, 7, &out->crl_number)) != QS_OK ||
        (r = qs_db_get_bytea_fixed(res, i, 8, out->record_mac, sizeof out->record_mac)) != QS_OK)
        memset(out, 0, sizeof *out);
    return r;
}

qs_err qs_db_certificate_row_read(const PGresult *res, int i, qs_db_certificate *out)
{
    qs_err r;
    bool has_reason = false;
    memset(out, 0, sizeof *out);
    out->reason = -1;
    if ((r = qs_db_sam_get_bytea(res, i, 0, out->serial, sizeof out->serial, &out->serial_len,
                                 NULL)) != QS_OK ||
        (r = qs_db_sam_get_uuid(res, i, 1, out->credential_id)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 2, out->issuer, sizeof out->issuer)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 3, out->subject, sizeof out->subject)) != QS_OK ||
        (r = qs_db_get_timestamptz(res, i, 4, &out->not_before_us)) != QS_OK ||
        (r = qs_db_get_timestamptz(res, i, 5, &out->not_after_us)) != QS_OK ||
        (r = qs_db_sam_get_bytea(res, i, 6, out->der, sizeof out->der, &out->der_len, NULL)) !=
            QS_OK ||
        (r = qs_db_sam_get_text(res, i, 7, out->profile, sizeof out->profile)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 8, out->status, sizeof out->status)) != QS_OK ||
        (r = qs_db_sam_get_timestamptz_opt(res, i, 9, &out->revoked_at_us, &out->revoked)) != QS_OK)
        goto out;
    has_reason = !PQgetisnull(res, i, 10);
    if (has_reason && (r = qs_db_get_int4(res, i, 10, &out->reason)) != QS_OK)
        goto out;
    if (has_reason != out->revoked) {
        qs_bug("certificates: revoked_at and reason disagree");
        r = QS_ERR_DB;
        goto out;
    }
    r = qs_db_get_bytea_fixed(res, i, 11, out->record_mac, sizeof out->record_mac);
out:
    if (r != QS_OK)
        memset(out, 0, sizeof *out);
    return r;
}

qs_err qs_db_evidence_row_read(const PGresult *res, int i, qs_db_evidence *out)
{
    qs_err r;
    bool present = false;
    memset(out, 0, sizeof *out);
    if ((r = qs_db_sam_get_uuid(res, i, 0, out->id)) != QS_OK ||
        (r = qs_db_sam_get_uuid(res, i, 1, out->user_id)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 2, out->method, sizeof out->method)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 3, out->document_type, sizeof out->document_type)) !=
            QS_OK ||
        (r = qs_db_get_bytea_fixed(res, i, 4, out->document_number_hash,
                                   sizeof out->document_number_hash)) != QS_OK ||
        (r = qs_db_get_bytea_fixed(res, i, 5, out->document_salt, sizeof out->document_salt)) !=
            QS_OK ||
        (r = qs_db_sam_get_text(res, i, 6, out->issuing_country, sizeof out->issuing_country)) !=
            QS_OK ||
        (r = qs_db_sam_get_text(res, i, 7, out->officer, sizeof out->officer)) != QS_OK ||
        (r = qs_db_sam_get_timestamptz_opt(res, i, 8, &out->verified_at_us, &present)) != QS_OK ||
        (r = qs_db_ca_get_text_opt(res, i, 9, out->notes, sizeof out->notes)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 10, out->profile, sizeof out->profile)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 11, out->country, sizeof out->country)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 12, out->common_name, sizeof out->common_name)) != QS_OK ||
        (r = qs_db_ca_get_text_opt(res, i, 13, out->given_name, sizeof out->given_name)) != QS_OK ||
        (r = qs_db_ca_get_text_opt(res, i, 14, out->surname, sizeof out->surname)) != QS_OK ||
        (r = qs_db_ca_get_text_opt(res, i, 15, out->pseudonym, sizeof out->pseudonym)) != QS_OK ||
        (r = qs_db_ca_get_text_opt(res, i, 16, out->serial_number, sizeof out->serial_number)) !=
            QS_OK ||
        (r = qs_db_ca_get_text_opt(res, i, 17, out->organization, sizeof out->organization)) !=
            QS_OK ||
        (r = qs_db_ca_get_text_opt(res, i, 18, out->organization_id,
                                   sizeof out->organization_id)) != QS_OK ||
        (r = qs_db_get_bytea_fixed(res, i, 19, out->record_mac, sizeof out->record_mac)) != QS_OK)
        memset(out, 0, sizeof *out);
    return r;
}
