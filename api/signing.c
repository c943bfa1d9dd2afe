/*
 * What signatures/signHash and signatures/signDoc share: the caller's credential, the choice and
 * check of the signature and digest algorithms, the request to the SAM and the base64 arrays of
 * the answer.  qsignd checks what it can see; the SAM decides.
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api/api_internal.h"
#include "db/db_api.h"
#include "util/log.h"

#define SIGN_ALGO_PARAMS_MAX 1024 /* bytes of DER RSASSA-PSS-params */

typedef struct cred_ctx {
    const uint8_t *user_id;
    const uint8_t *cred_id;
    qs_db_api_credential *cred;
    bool found;
} cred_ctx;

static qs_err cred_txn(qs_db *db, void *cls)
{
    cred_ctx *c = cls;
    return qs_db_account_credential(db, c->user_id, c->cred_id, c->cred, &c->found);
}

static void invalid(api_request *rq, api_field f)
{
    api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                     api_field_name(rq->ver, f));
}

bool api_sign_credential(api_request *rq, const api_param *id, uint8_t cred_id[static API_UUID_LEN],
                         qs_db_api_credential *cred)
{
    cred_ctx cc = {.user_id = rq->user_id, .cred_id = cred_id, .cred = cred};
    qs_db *db = NULL;
    qs_err r;

    /* The credential, to know its key's algorithms: another user's is not found either. */
    if (api_uuid_parse(id->s, id->len, cred_id) == QS_OK) {
        if ((r = api_db(rq, &db)) != QS_OK ||
            (r = qs_db_run_txn_opt(db, "sign_credential",
                                   QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED, cred_txn,
                                   &cc)) != QS_OK) {
            api_reply_error(rq, r, NULL);
            return false;
        }
    }
    if (!cc.found) {
        invalid(rq, API_F_CREDENTIAL_ID);
        return false;
    }
    return true;
}

bool api_sign_algorithms(api_request *rq, const api_params *p, const char *key_alg,
                         const api_sign_alg **sa_out, const api_hash_alg **hash_out)
{
    const api_param *algo = &p->f[API_F_SIGN_ALGO];
    const api_param *params = &p->f[API_F_SIGN_ALGO_PARAMS];
    const api_key_alg *ka = api_key_alg_find(key_alg);
    const api_sign_alg *sa = api_sign_alg_find(algo->s, algo->len);
    const api_hash_alg *hash = NULL;

    *sa_out = NULL;
    *hash_out = NULL;
    if (ka == NULL || sa == NULL || !api_key_alg_allows(ka, algo->s, algo->len)) {
        invalid(rq, API_F_SIGN_ALGO);
        return false;
    }
    if (p->f[API_F_HASH_ALGO].present) {
        hash = api_hash_alg_find(p->f[API_F_HASH_ALGO].s, p->f[API_F_HASH_ALGO].len);
        if (hash == NULL || (sa->hash != NULL && hash != sa->hash)) {
            invalid(rq, API_F_HASH_ALGO);
            return false;
        }
    }
    if (sa->hash != NULL)
        hash = sa->hash;
    if (sa->pss) {
        uint8_t der[SIGN_ALGO_PARAMS_MAX];
        size_t len = 0;
        if (!params->present) {
            api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT,
                             "Missing (or invalid type) string parameter %s",
                             api_field_name(rq->ver, API_F_SIGN_ALGO_PARAMS));
            return false;
        }
        if (api_b64_decode(params->s, params->len, der, sizeof der, &len) != QS_OK ||
            api_pss_params(der, len, hash, &hash) != QS_OK) {
            invalid(rq, API_F_SIGN_ALGO_PARAMS);
            return false;
        }
    } else if (params->present) {
        /* Other algorithms have no parameters: only an explicit NULL is accepted. */
        uint8_t der[8];
        size_t len = 0;
        if (api_b64_decode(params->s, params->len, der, sizeof der, &len) != QS_OK || len != 2 ||
            der[0] != 0x05 || der[1] != 0x00) {
            invalid(rq, API_F_SIGN_ALGO_PARAMS);
            return false;
        }
    }
    if (hash == NULL) {
        api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT,
                         "Missing (or invalid type) string parameter %s",
                         api_field_name(rq->ver, API_F_HASH_ALGO));
        return false;
    }
    *sa_out = sa;
    *hash_out = hash;
    return true;
}

json_t *api_b64_array(uint8_t *const items[], const size_t lens[], size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        size_t cap = sodium_base64_ENCODED_LEN(lens[i], sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(cap);
        if (b64 == NULL) {
            json_decref(a);
            return NULL;
        }
        sodium_bin2base64(b64, cap, items[i], lens[i], sodium_base64_VARIANT_ORIGINAL);
        int rc = json_array_append_new(a, json_string(b64));
        free(b64);
        if (rc != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *api_sign_send(api_request *rq, const char *cred_str, const api_sign_alg *sa,
                      const api_hash_alg *hash, const qs_sam_bytes *list, size_t n, bool document)
{
    qs_sam_client *c = NULL;
    qs_sam_signatures sigs = {0};
    json_t *a = NULL;
    qs_sam_sign_req req = {
        .user_id = rq->user_id_str,
        .credential_id = cred_str,
        .sad = rq->p.f[API_F_SAD].s,
        .hash_alg = hash->sam,
        .hashes = list,
        .n_hashes = n,
        .scheme = sa->scheme,
        .has_pss_salt_len = sa->pss,
        .has_pss_mgf_hash = sa->pss,
        .pss_salt_len = (uint32_t)hash->len,
        .pss_mgf_hash = hash->sam,
    };
    qs_err r = api_sam_open(api_cfg(rq), &c);
    if (r == QS_OK)
        r = document ? qs_sam_client_sign_doc(c, &req, &sigs) : qs_sam_client_sign(c, &req, &sigs);
    if (r == QS_OK && sigs.n != n) {
        qs_error("SAM returned %zu results for %zu digests", sigs.n, n);
        r = QS_ERR_PROTO;
    }
    if (r != QS_OK) {
        api_reply_sam_error(rq, c, r);
        goto out;
    }
    if ((a = api_b64_array(sigs.sig, sigs.len, sigs.n)) == NULL) {
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < sigs.n; i++)
        api_count(rq, API_C_SIGNATURES);
    qs_info("signed credential=%s signatures=%zu%s", cred_str, sigs.n,
            document ? " format=CAdES-B-B" : "");
    api_anomaly_signed(rq, cred_str, sigs.n);
out:
    qs_sam_signatures_free(&sigs);
    qs_sam_client_close(c);
    return a;
}
