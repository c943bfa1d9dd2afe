/*
 * The digests of authorize, extendTransaction and signHash: base64 (checked by the spec
 * parser), decoded here, every one of the length of its hash algorithm, none repeated; and what
 * authorize and extendTransaction share around them (the credential and hash algorithm they
 * name, the SAD they answer).
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

bool api_digests(api_request *rq, const api_param *p, const api_hash_alg *want,
                 const api_hash_alg **found, uint8_t **buf, qs_sam_bytes **list)
{
    size_t n = p->n;
    *buf = NULL;
    *list = NULL;
    if (found != NULL)
        *found = want;
    if (n == 0 || n > API_HASHES_MAX) {
        api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                         api_field_name(rq->ver, API_F_HASHES));
        return false;
    }
    uint8_t *b = malloc(n * API_DIGEST_MAX);
    qs_sam_bytes *l = calloc(n, sizeof *l);
    if (b == NULL || l == NULL) {
        free(b);
        free(l);
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *el = json_array_get(p->a, i);
        size_t len = 0;
        uint8_t *d = b + i * API_DIGEST_MAX;
        qs_err r =
            api_b64_decode(json_string_value(el), json_string_length(el), d, API_DIGEST_MAX, &len);
        if (r == QS_OK && want == NULL)
            want = api_hash_alg_by_len(len);
        if (r != QS_OK || want == NULL || len != want->len) {
            api_reply_error(rq, QS_ERR_INVALID_ARGUMENT, "Invalid digest value length");
            goto fail;
        }
        for (size_t k = 0; k < i; k++) {
            if (memcmp(l[k].p, d, len) == 0) {
                api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                                 api_field_name(rq->ver, API_F_HASHES));
                goto fail;
            }
        }
        l[i].p = d;
        l[i].len = len;
    }
    if (found != NULL)
        *found = want;
    *buf = b;
    *list = l;
    return true;
fail:
    free(b);
    free(l);
    return false;
}

bool api_sad_target(api_request *rq, const api_hash_alg **hash,
                    char cred_str[static API_UUID_STR_LEN + 1])
{
    const api_params *p = &rq->p;
    const api_param *id = &p->f[API_F_CREDENTIAL_ID];
    uint8_t cred[API_UUID_LEN];

    *hash = NULL;
    if (p->f[API_F_HASH_ALGO].present) {
        *hash = api_hash_alg_find(p->f[API_F_HASH_ALGO].s, p->f[API_F_HASH_ALGO].len);
        if (*hash == NULL) {
            api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                             api_field_name(rq->ver, API_F_HASH_ALGO));
            return false;
        }
    }
    if (api_uuid_parse(id->s, id->len, cred) != QS_OK) {
        api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                         api_field_name(rq->ver, API_F_CREDENTIAL_ID));
        return false;
    }
    api_uuid_format(cred, cred_str);
    return true;
}

void api_reply_sad(api_request *rq, const char *sad, uint32_t expires_in)
{
    api_reply_json(rq, 200,
                   json_pack("{s:s, s:I}", "SAD", sad, "expiresIn", (json_int_t)expires_in));
}
