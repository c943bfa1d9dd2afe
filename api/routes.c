/*
 * The one route table.  CSC methods are listed once with the versions that serve them and are
 * reached at /csc/v1/<path> and /csc/v2/<path>; info.methods is derived from this table, so it
 * lists exactly what is implemented.  Other paths (/pki, /ra/v1, /account/v1, /audit/v1, the
 * web page at /) match exactly, or by prefix for an endpoint that takes the rest of the path
 * (OCSP over GET, the page's files under /web/).  Metric series: two slots per route (v1, v2;
 * other paths use the first), and one for unmatched paths.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"

static const api_route routes[] = {
    {"/healthz", &api_ep_healthz},
    {"/readyz", &api_ep_readyz},
    {"/metrics", &api_ep_metrics},
    {"info", &api_ep_info},
    {"auth/login", &api_ep_auth_login},
    {"auth/revoke", &api_ep_auth_revoke},
    {"credentials/list", &api_ep_credentials_list},
    {"credentials/info", &api_ep_credentials_info},
    {"credentials/authorize", &api_ep_credentials_authorize},
    {"credentials/extendTransaction", &api_ep_credentials_extend_transaction},
    {"signatures/signHash", &api_ep_signatures_sign_hash},
    {"signatures/signDoc", &api_ep_signatures_sign_doc},
    {"/pki/ca.crt", &api_ep_pki_ca_crt},
    {"/pki/crl", &api_ep_pki_crl},
    {"/pki/ocsp", &api_ep_pki_ocsp_post},
    {"/pki/ocsp/", &api_ep_pki_ocsp_get},
    {"/ra/v1/login", &api_ep_ra_login},
    {"/ra/v1/signers/create", &api_ep_ra_signers_create},
    {"/ra/v1/signers/list", &api_ep_ra_signers_list},
    {"/ra/v1/signers/info", &api_ep_ra_signers_info},
    {"/ra/v1/credentials/create", &api_ep_ra_credentials_create},
    {"/ra/v1/credentials/unlock", &api_ep_ra_credentials_unlock},
    {"/ra/v1/certificates/revoke", &api_ep_ra_certificates_revoke},
    {"/account/v1/activate", &api_ep_account_activate},
    {"/audit/v1/login", &api_ep_audit_login},
    {"/audit/v1/search", &api_ep_audit_search},
    {"/account/v1/info", &api_ep_account_info},
    {"/", &api_ep_web_index},
    {API_WEB_PREFIX, &api_ep_web_asset},
};

#define N_ROUTES (sizeof routes / sizeof routes[0])

const api_route *api_routes(size_t *n)
{
    *n = N_ROUTES;
    return routes;
}

size_t api_route_slots(void)
{
    return N_ROUTES * API_VER_COUNT + 1;
}

void api_route_slot_label(size_t slot, char *buf, size_t len)
{
    if (slot >= N_ROUTES * API_VER_COUNT) {
        snprintf(buf, len, "unmatched");
        return;
    }
    const api_route *r = &routes[slot / API_VER_COUNT];
    if (r->ep->versions == 0)
        snprintf(buf, len, "%s", r->path);
    else
        snprintf(buf, len, "%s%s", api_version_get((api_ver)(slot % API_VER_COUNT))->path_prefix,
                 r->path);
}

qs_err api_route_find(const char *path, const api_route **route, api_ver *ver, size_t *slot)
{
    *route = NULL;
    *ver = API_V2;
    *slot = N_ROUTES * API_VER_COUNT;
    const char *rest = NULL;
    unsigned bit = 0;
    for (int v = 0; v < API_VER_COUNT; v++) {
        const api_version *vv = api_version_get((api_ver)v);
        size_t plen = strlen(vv->path_prefix);
        if (strncmp(path, vv->path_prefix, plen) == 0) {
            rest = path + plen;
            *ver = (api_ver)v;
            bit = vv->bit;
        }
    }
    for (size_t i = 0; i < N_ROUTES; i++) {
        const api_endpoint *ep = routes[i].ep;
        bool match =
            ep->versions == 0
                ? (ep->prefix ? strncmp(path, routes[i].path, strlen(routes[i].path)) == 0
                              : strcmp(path, routes[i].path) == 0)
                : rest != NULL && (ep->versions & bit) && strcmp(rest, routes[i].path) == 0;
        if (match) {
            *route = &routes[i];
            *slot = i * API_VER_COUNT + (ep->versions == 0 ? 0 : (size_t)*ver);
            return QS_OK;
        }
    }
    return QS_ERR_NOT_FOUND;
}
