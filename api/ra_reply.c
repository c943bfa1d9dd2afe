/* Replies shared by the RA endpoints (api/ra.h). */
#define QS_LOG_MODULE "api"
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "api/ra.h"
#include "db/db_ca.h"
#include "util/log.h"

void api_ra_time(int64_t unix_seconds, char out[static 16])
{
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    out[0] = '\0';
    if (gmtime_r(&t, &tm) != NULL)
        strftime(out, 16, "%Y%m%d%H%M%SZ", &tm);
}

void api_ra_reply_sam_error(api_request *rq, const qs_sam_client *c, qs_err e,
                            const char *not_found_field)
{
    const char *said = c != NULL ? qs_sam_client_error(c) : "";
    switch (e) {
    case QS_ERR_INVALID_ARGUMENT:
    case QS_ERR_AUTH_POLICY:
        if (said[0] == '\0')
            break;
        qs_info("SAM refused the registration request: %s", said);
        api_reply_error(rq, e, said);
        return;
    case QS_ERR_NOT_FOUND:
        api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s", not_found_field);
        return;
    case QS_ERR_FORBIDDEN:
        api_reply_error(rq, QS_ERR_TOKEN_INVALID, "Invalid or expired RA session");
        return;
    case QS_ERR_EXISTS:
    case QS_ERR_CREDENTIAL_DISABLED:
        api_reply_error(rq, e, said[0] != '\0' ? said : NULL);
        return;
    case QS_ERR_CA_NOT_READY:
        api_reply_error(rq, e, "The CA is not initialised");
        return;
    default:
        break;
    }
    api_reply_sam_error(rq, c, e);
}

static int set_opt(json_t *o, const char *key, const char *v)
{
    return v[0] == '\0' ? 0 : json_object_set_new(o, key, json_string(v));
}

json_t *api_ra_signer_json(const qs_db_ra_signer *s)
{
    char id[API_UUID_STR_LEN + 1], t[16];
    api_uuid_format(s->id, id);
    api_ra_time(s->created_at_us / 1000000, t);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b}", "userID", id, "username", s->username,
                          "status", s->status, "created", t, "activated", s->activated);
    if (o == NULL)
        return NULL;
    int rc = 0;
    if (s->has_code) {
        api_ra_time(s->code_expires_at_us / 1000000, t);
        rc |= json_object_set_new(o, "activation",
                                  json_pack("{s:s, s:b}", "expires", t, "used", s->code_used));
    }
    if (s->has_evidence) {
        char eid[API_UUID_STR_LEN + 1];
        api_uuid_format(s->evidence_id, eid);
        api_ra_time(s->verified_at_us / 1000000, t);
        json_t *subj =
            json_pack("{s:s, s:s}", "countryName", s->country, "commonName", s->common_name);
        json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "evidenceID", eid, "method",
                               s->method, "documentType", s->document_type, "issuingCountry",
                               s->issuing_country, "officer", s->officer, "verified", t);
        if (subj == NULL || ev == NULL) {
            json_decref(subj);
            json_decref(ev);
            json_decref(o);
            return NULL;
        }
        rc |= set_opt(subj, "givenName", s->given_name);
        rc |= set_opt(subj, "surname", s->surname);
        rc |= set_opt(subj, "pseudonym", s->pseudonym);
        rc |= set_opt(subj, "serialNumber", s->serial_number);
        rc |= set_opt(subj, "organizationName", s->organization);
        rc |= set_opt(subj, "organizationIdentifier", s->organization_id);
        rc |= json_object_set_new(o, "profile", json_string(s->profile));
        rc |= json_object_set_new(o, "subject", subj);
        rc |= json_object_set_new(o, "evidence", ev);
    }
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}
