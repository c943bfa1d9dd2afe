/*
 * libFuzzer harness over the registration authority's request parsing (api/ra.h): the input is
 * a request body, parsed as JSON and handed to every RA parser (signers/create with its subject
 * and evidence, credentials/create, certificates/revoke, credentials/unlock, signers/info and
 * list, login, activate).  A parser that accepts must leave only values that the SAM and the
 * CA accept too (the subject validates, countries are ISO 3166, serials fit); one that refuses
 * must say why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/ra.h"
#include "util/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A refusal must come with a description; anything else than invalid input is a bug. */
static void refused_well(qs_err r, const char *desc)
{
    if (r != QS_ERR_INVALID_ARGUMENT || desc[0] == '\0')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready = false;
    if (!ready) {
        if (qs_util_init() != QS_OK)
            abort();
        api_json_init();
        ready = true;
    }
    char desc[API_DESC_MAX];
    json_t *body = NULL;
    qs_err r = api_body_parse(data, size, &body, desc, sizeof desc);
    if (r != QS_OK) {
        if (r == QS_ERR_PARSE && desc[0] == '\0')
            abort();
        return 0;
    }

    api_ra_signer s;
    desc[0] = '\0';
    if ((r = api_ra_signer_parse(body, &s, desc, sizeof desc)) == QS_OK) {
        ca_why why;
        if (ca_subject_validate(&s.subject, &why) != QS_OK ||
            !ca_country_valid(s.issuing_country) || s.username == NULL ||
            s.document_number == NULL || strlen(s.username) > 128 || strlen(s.document_number) > 64)
            abort();
    } else {
        refused_well(r, desc);
    }

    api_ra_credential c;
    desc[0] = '\0';
    if ((r = api_ra_credential_parse(body, &c, desc, sizeof desc)) == QS_OK) {
        uint8_t id[API_UUID_LEN];
        if (api_uuid_parse(c.user_id, strlen(c.user_id), id) != QS_OK)
            abort();
    } else {
        refused_well(r, desc);
    }

    api_ra_revoke v;
    desc[0] = '\0';
    if ((r = api_ra_revoke_parse(body, &v, desc, sizeof desc)) == QS_OK) {
        if ((v.by_serial && (v.serial_len == 0 || v.serial_len > API_RA_SERIAL_MAX)) ||
            (!v.by_serial && v.credential_id == NULL) || api_ra_reason_name(v.reason) == NULL ||
            v.reason == 6 || v.reason == 8)
            abort();
    } else {
        refused_well(r, desc);
    }

    api_ra_unlock u;
    desc[0] = '\0';
    if ((r = api_ra_unlock_parse(body, &u, desc, sizeof desc)) == QS_OK) {
        if (u.credential_id == NULL || u.reason == NULL)
            abort();
    } else {
        refused_well(r, desc);
    }

    api_ra_query q;
    desc[0] = '\0';
    if ((r = api_ra_info_parse(body, &q, desc, sizeof desc)) != QS_OK)
        refused_well(r, desc);
    desc[0] = '\0';
    if ((r = api_ra_list_parse(body, &q, desc, sizeof desc)) == QS_OK) {
        if (q.max == 0 || q.max > API_RA_PAGE_MAX)
            abort();
    } else {
        refused_well(r, desc);
    }

    const char *otp = NULL, *code = NULL, *pin = NULL;
    desc[0] = '\0';
    if ((r = api_ra_login_parse(body, &otp, desc, sizeof desc)) == QS_OK) {
        if (otp == NULL || strlen(otp) > 16)
            abort();
    } else {
        refused_well(r, desc);
    }
    desc[0] = '\0';
    if ((r = api_ra_activate_parse(body, &code, &pin, desc, sizeof desc)) == QS_OK) {
        if (code == NULL || pin == NULL || strlen(code) > 64 || strlen(pin) > 64)
            abort();
    } else {
        refused_well(r, desc);
    }
    json_decref(body);
    return 0;
}
