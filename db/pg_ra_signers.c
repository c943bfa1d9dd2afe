/* Operation (qsignd): signers as the RA API shows them, with their latest evidence. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_ca_internal.h"
#include "util/log.h"

static qs_err read_row(const PGresult *res, int i, qs_db_ra_signer *s)
{
    qs_err r;
    bool present = false;
    memset(s, 0, sizeof *s);
    if ((r = qs_db_sam_get_uuid(res, i, 0, s->id)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 1, s->username, sizeof s->username)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 2, s->status, sizeof s->status)) != QS_OK ||
        (r = qs_db_get_timestamptz(res, i, 3, &s->created_at_us)) != QS_OK ||
        (r = qs_db_get_bool(res, i, 4, &s->activated)) != QS_OK ||
        (r = qs_db_sam_get_timestamptz_opt(res, i, 5, &s->code_expires_at_us, &s->has_code)) !=
            QS_OK ||
        (r = qs_db_get_bool(res, i, 6, &s->code_used)) != QS_OK ||
        (r = qs_db_get_uuid_opt(res, i, 7, s->evidence_id, &s->has_evidence)) != QS_OK)
        return r;
    if (!s->has_evidence)
        return QS_OK;
    if ((r = qs_db_sam_get_text(res, i, 8, s->method, sizeof s->method)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 9, s->document_type, sizeof s->document_type)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 10, s->issuing_country, sizeof s->issuing_country)) !=
            QS_OK ||
        (r = qs_db_sam_get_text(res, i, 11, s->officer, sizeof s->officer)) != QS_OK ||
        (r = qs_db_sam_get_timestamptz_opt(res, i, 12, &s->verified_at_us, &present)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 13, s->profile, sizeof s->profile)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 14, s->country, sizeof s->country)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 15, s->common_name, sizeof s->common_name)) != QS_OK ||
        (r = qs_db_ca_get_text_opt(res, i, 16, s->given_name, sizeof s->given_name)) != QS_OK ||
        (r = qs_db_ca_get_text_opt(res, i, 17, s->surname, sizeof s->surname)) != QS_OK ||
        (r = qs_db_ca_get_text_opt(res, i, 18, s->pseudonym, sizeof s->pseudonym)) != QS_OK ||
        (r = qs_db_ca_get_text_opt(res, i, 19, s->serial_number, sizeof s->serial_number)) !=
            QS_OK ||
        (r = qs_db_ca_get_text_opt(res, i, 20, s->organization, sizeof s->organization)) != QS_OK ||
        (r = qs_db_ca_get_text_opt(res, i, 21, s->organization_id, sizeof s->organization_id)) !=
            QS_OK)
        return r;
    return QS_OK;
}

qs_err qs_db_ra_signers(qs_db *db, const uint8_t *one, uint32_t offset, uint32_t max,
                        qs_db_ra_signer *out, size_t *n, bool *more)
{
    static const char sql[] =
        "SELECT u.id, u.username, u.status, u.created_at,"
        " EXISTS (SELECT 1 FROM qsign.factor_pin f WHERE f.user_id = u.id),"
        " a.expires_at, a.used_at IS NOT NULL,"
        " e.id, e.method, e.document_type, e.issuing_country, e.officer, e.verified_at, e.profile,"
        " e.country, e.common_name, e.given_name, e.surname, e.pseudonym, e.serial_number,"
        " e.organization, e.organization_id"
        " FROM qsign.users u"
        " LEFT JOIN qsign.activation_codes a ON a.user_id = u.id"
        " LEFT JOIN LATERAL (SELECT x.id, x.method, x.document_type, x.issuing_country,"
        "   x.officer, x.verified_at, x.profile, x.country, x.common_name, x.given_name,"
        "   x.surname, x.pseudonym, x.serial_number, x.organization, x.organization_id"
        "   FROM qsign.identity_evidence x WHERE x.user_id = u.id"
        "   ORDER BY x.verified_at DESC, x.id LIMIT 1) e ON true"
        " WHERE u.kind = 'signer' AND ($1::uuid IS NULL OR u.id = $1)"
        " ORDER BY u.created_at, u.id OFFSET $2 LIMIT $3";
    qs_db_param p[3];
    PGresult *res = NULL;

    *n = 0;
    *more = false;
    if (max == 0 || max > QS_DB_SIGNERS_MAX) {
        qs_bug("signers: max %u", max);
        return QS_ERR_INVALID_ARGUMENT;
    }
    if (one != NULL)
        qs_db_param_uuid(&p[0], one);
    else
        qs_db_param_null(&p[0], QS_DB_OID_UUID);
    qs_db_param_int8(&p[1], offset);
    qs_db_param_int8(&p[2], (int64_t)max + 1);
    qs_err r = qs_db_exec(db, __func__, sql, 3, p, &res);
    if (r != QS_OK)
        goto out;
    int rows = PQntuples(res);
    for (int i = 0; i < rows && (uint32_t)i < max; i++) {
        if ((r = read_row(res, i, &out[i])) != QS_OK)
            goto out;
        (*n)++;
    }
    *more = (uint32_t)rows > max;
out:
    PQclear(res);
    return r;
}
