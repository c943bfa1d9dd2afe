/* Operation: a new identity evidence row. */
#define QS_LOG_MODULE "db"
#include "db/db_ca_internal.h"

qs_err qs_db_evidence_insert(qs_db *db, const qs_db_evidence *e)
{
    static const char sql[] =
        "INSERT INTO qsign.identity_evidence (" QS_DB_EVIDENCE_COLUMNS ") VALUES ($1, $2, $3, $4,"
        " $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)";
    qs_db_param p[20];
    qs_db_param_uuid(&p[0], e->id);
    qs_db_param_uuid(&p[1], e->user_id);
    qs_db_param_text(&p[2], e->method);
    qs_db_param_text(&p[3], e->document_type);
    qs_db_param_bytea(&p[4], e->document_number_hash, sizeof e->document_number_hash);
    qs_db_param_bytea(&p[5], e->document_salt, sizeof e->document_salt);
    qs_db_param_text(&p[6], e->issuing_country);
    qs_db_param_text(&p[7], e->officer);
    qs_db_param_timestamptz(&p[8], e->verified_at_us);
    qs_db_ca_param_text_opt(&p[9], e->notes);
    qs_db_param_text(&p[10], e->profile);
    qs_db_param_text(&p[11], e->country);
    qs_db_param_text(&p[12], e->common_name);
    qs_db_ca_param_text_opt(&p[13], e->given_name);
    qs_db_ca_param_text_opt(&p[14], e->surname);
    qs_db_ca_param_text_opt(&p[15], e->pseudonym);
    qs_db_ca_param_text_opt(&p[16], e->serial_number);
    qs_db_ca_param_text_opt(&p[17], e->organization);
    qs_db_ca_param_text_opt(&p[18], e->organization_id);
    qs_db_param_bytea(&p[19], e->record_mac, sizeof e->record_mac);
    return qs_db_exec(db, __func__, sql, 20, p, NULL);
}
