/*
 * libFuzzer harness over qsignd's request parsing: the input is a request body, parsed as JSON
 * and checked against the field spec of every endpoint in both CSC versions (v1 and v2
 * mappings).  On success every present field must respect its spec; on failure a description
 * must be given.  The same bytes also go through the Basic-header, token and UUID parsers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "util/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_params(const api_endpoint *ep, const api_params *p)
{
    for (size_t k = 0; k < ep->nspec; k++) {
        const api_field_spec *fs = &ep->spec[k];
        const api_param *v = &p->f[fs->field];
        if (!v->present)
            continue;
        switch (fs->type) {
        case API_T_STRING:
            if (v->s == NULL || (int64_t)v->len < fs->min || (int64_t)v->len > fs->max ||
                strlen(v->s) != v->len)
                abort();
            break;
        case API_T_INT:
            if (v->i < fs->min || v->i > fs->max)
                abort();
            break;
        case API_T_STRINGS:
        case API_T_AUTHDATA:
            if (v->a == NULL || (int64_t)v->n < fs->min || (int64_t)v->n > fs->max)
                abort();
            break;
        case API_T_BOOL:
            break;
        }
    }
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
    if (r == QS_OK) {
        size_t n = 0;
        const api_route *routes = api_routes(&n);
        for (size_t i = 0; i < n; i++) {
            const api_endpoint *ep = routes[i].ep;
            if (ep->nspec == 0)
                continue;
            for (int v = 0; v < API_VER_COUNT; v++) {
                if (!(ep->versions & api_version_get((api_ver)v)->bit))
                    continue;
                api_params p;
                desc[0] = '\0';
                r = api_spec_parse(body, (api_ver)v, ep->spec, ep->nspec, &p, desc, sizeof desc);
                if (r == QS_OK)
                    check_params(ep, &p);
                else if (r != QS_ERR_INVALID_ARGUMENT || desc[0] == '\0')
                    abort();
            }
        }
        json_decref(body);
    } else if (r == QS_ERR_PARSE && desc[0] == '\0') {
        abort();
    }

    /* The same bytes as an Authorization value, a token and a UUID. */
    char *text = malloc(size + 7);
    if (text == NULL)
        return 0;
    memcpy(text, "Basic ", 6);
    memcpy(text + 6, data, size);
    text[size + 6] = '\0';
    char *user = NULL, *pass = NULL;
    size_t pass_len = 0;
    if (api_basic_parse(text, &user, &pass, &pass_len) == QS_OK) {
        if (user == NULL || pass == NULL || pass_len == 0 || strlen(pass) != pass_len)
            abort();
        free(user);
        qs_free_wiped(pass, pass_len);
    }
    uint8_t hash[API_SHA256_LEN], id[API_UUID_LEN];
    if (api_token_hash((const char *)data, size, hash) == QS_OK && size != API_TOKEN_B64_LEN)
        abort();
    if (api_uuid_parse((const char *)data, size, id) == QS_OK && size != API_UUID_STR_LEN)
        abort();
    free(text);
    return 0;
}
