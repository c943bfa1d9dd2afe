/*
 * POST /csc/v{1,2}/info: the service description.  methods is derived from the route table, so
 * it lists exactly the methods this build implements for the version asked; where that includes
 * signatures/signDoc (v2), signature_formats and conformance_levels (the CSC v2 fields for
 * them) say what it makes: CAdES ("C"), detached, at "Ades-B-B".
 */
#include <string.h>

#include "api/api_internal.h"

static const api_field_spec spec[] = {
    {.field = API_F_LANG, .type = API_T_STRING, .versions = API_V_BOTH, .min = 1, .max = 35},
};

static json_t *methods(const api_version *ver)
{
    size_t n = 0;
    const api_route *routes = api_routes(&n);
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        if ((routes[i].ep->versions & ver->bit) &&
            json_array_append_new(a, json_string(routes[i].path)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *sign_algorithms(void)
{
    json_t *algos = json_array();
    for (const char *const *a = api_sign_algos(); algos != NULL && *a != NULL; a++) {
        if (json_array_append_new(algos, json_string(*a)) != 0) {
            json_decref(algos);
            return NULL;
        }
    }
    return json_pack("{s:o}", "algos", algos);
}

/* signature_formats: {formats: ["C"], envelope_properties: [["Detached"]]} (one list of
 * packagings per format, in the order of formats). */
static json_t *signature_formats(void)
{
    return json_pack("{s:[s], s:[[s]]}", "formats", API_SIGN_DOC_FORMAT, "envelope_properties",
                     API_SIGN_DOC_ENVELOPE);
}

static void handle(api_request *rq)
{
    const qs_api_config *cfg = api_cfg(rq);
    const api_version *ver = api_version_get(rq->ver);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:o}", "specs", ver->specs, "name",
                          cfg->csc_name, "lang", cfg->csc_lang, "description", cfg->csc_description,
                          "authType", "basic", "methods", methods(ver));
    if (o == NULL) {
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        return;
    }
    int rc = 0;
    if (cfg->csc_logo[0] != '\0')
        rc |= json_object_set_new(o, "logo", json_string(cfg->csc_logo));
    if (cfg->csc_region[0] != '\0')
        rc |= json_object_set_new(o, "region", json_string(cfg->csc_region));
    if (ver->sign_algorithms)
        rc |= json_object_set_new(o, "signAlgorithms", sign_algorithms());
    if (api_ep_signatures_sign_doc.versions & ver->bit) {
        rc |= json_object_set_new(o, "signature_formats", signature_formats());
        rc |= json_object_set_new(o, "conformance_levels", json_pack("[s]", API_SIGN_DOC_LEVEL));
    }
    if (rc != 0) {
        json_decref(o);
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        return;
    }
    api_reply_json(rq, 200, o);
}

const api_endpoint api_ep_info = {
    .name = "info",
    .method = "POST",
    .versions = API_V_BOTH,
    .spec = spec,
    .nspec = sizeof spec / sizeof spec[0],
    .auth = API_AUTH_NONE,
    .handler = handle,
};
