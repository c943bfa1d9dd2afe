/*
 * The digests of authorize, extendTransaction and signHash: base64 (checked by the spec
 * parser), decoded here, every one of the length of its hash algorithm, none repeated.
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
