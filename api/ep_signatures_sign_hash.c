/*
 * POST /csc/v{1,2}/signatures/signHash: signs digests the SAD authorized, through the SAM.
 * qsignd checks what it can see: signAlgo must be one of the key's algorithms (key/algo); the
 * digest algorithm is the one signAlgo implies, or hashAlgorithmOID (needed for rsaEncryption),
 * or the one of the RSASSA-PSS parameters; every digest has that algorithm's length; PSS
 * parameters must match the digest (hash, MGF1 hash, salt length).  Signatures come back in the
 * order of the digests, base64.
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api/api_internal.h"
#include "db/db_api.h"
#include "util/log.h"

#define SIGN_ALGO_PARAMS_MAX 1024 /* bytes of base64 */

static const api_field_spec spec[] = {
    {.field = API_F_CREDENTIAL_ID,
     .type = API_T_STRING,
     .required = true,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 128},
    {.field = API_F_HASHES,
     .type = API_T_STRINGS,
     .required = true,
     .versions = API_V_BOTH,
     .min = 1,
     .max = API_HASHES_MAX,
     .elem_min = 4,
     .elem_max = 88,
     .flags = API_FS_BASE64},
    {.field = API_F_HASH_ALGO,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 64,
     .flags = API_FS_OID},
    {.field = API_F_SAD,
     .type = API_T_STRING,
     .required = true,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 128,
     .flags = API_FS_TOKEN | API_FS_SECRET},
    {.field = API_F_SIGN_ALGO,
     .type = API_T_STRING,
     .required = true,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 64,
     .flags = API_FS_OID},
    {.field = API_F_SIGN_ALGO_PARAMS,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 4,
     .max = SIGN_ALGO_PARAMS_MAX,
     .flags = API_FS_BASE64},
    {.field = API_F_CLIENT_DATA,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = API_CLIENT_DATA_MAX},
};

typedef struct cred_ctx {
    const uint8_t *user_id;
    uint8_t cred_id[API_UUID_LEN];
    qs_db_api_credential cred;
    bool found;
} cred_ctx;

static qs_err cred_txn(qs_db *db, void *cls)
{
    cred_ctx *c = cls;
    return qs_db_account_credential(db, c->user_id, c->cred_id, &c->cred, &c->found);
}

static void invalid(api_request *rq, api_field f)
{
    api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                     api_field_name(rq->ver, f));
}

/* The digest algorithm and the PSS check: false when it replied. */
static bool choose_hash(api_request *rq, const api_sign_alg *sa, const api_hash_alg **hash)
{
    const api_params *p = &rq->p;
    *hash = NULL;
    if (p->f[API_F_HASH_ALGO].present) {
        *hash = api_hash_alg_find(p->f[API_F_HASH_ALGO].s, p->f[API_F_HASH_ALGO].len);
        if (*hash == NULL || (sa->hash != NULL && *hash != sa->hash)) {
            invalid(rq, API_F_HASH_ALGO);
            return false;
        }
    }
    if (sa->hash != NULL)
        *hash = sa->hash;
    const api_param *params = &p->f[API_F_SIGN_ALGO_PARAMS];
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
            api_pss_params(der, len, *hash, hash) != QS_OK) {
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
    if (*hash == NULL) {
        api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT,
                         "Missing (or invalid type) string parameter %s",
                         api_field_name(rq->ver, API_F_HASH_ALGO));
        return false;
    }
    return true;
}

static json_t *signatures_json(const qs_sam_signatures *s)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < s->n; i++) {
        size_t cap = sodium_base64_ENCODED_LEN(s->len[i], sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(cap);
        if (b64 == NULL) {
            json_decref(a);
            return NULL;
        }
        sodium_bin2base64(b64, cap, s->sig[i], s->len[i], sodium_base64_VARIANT_ORIGINAL);
        int rc = json_array_append_new(a, json_string(b64));
        free(b64);
        if (rc != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static void handle(api_request *rq)
{
    const api_params *p = &rq->p;
    const api_param *id = &p->f[API_F_CREDENTIAL_ID];
    const api_param *algo = &p->f[API_F_SIGN_ALGO];
    cred_ctx cc = {.user_id = rq->user_id};
    const api_hash_alg *hash = NULL;
    uint8_t *buf = NULL;
    qs_sam_bytes *list = NULL;
    qs_sam_client *c = NULL;
    qs_sam_signatures sigs = {0};
    char cred_str[API_UUID_STR_LEN + 1];
    qs_db *db = NULL;
    qs_err r;

    /* The credential, to know its key's algorithms: another user's is not found either. */
    if (api_uuid_parse(id->s, id->len, cc.cred_id) == QS_OK) {
        if ((r = api_db(rq, &db)) != QS_OK ||
            (r = qs_db_run_txn_opt(db, "sign_hash_credential",
                                   QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED, cred_txn,
                                   &cc)) != QS_OK) {
            api_reply_error(rq, r, NULL);
            return;
        }
    }
    if (!cc.found) {
        invalid(rq, API_F_CREDENTIAL_ID);
        return;
    }
    api_uuid_format(cc.cred_id, cred_str);
    const api_key_alg *ka = api_key_alg_find(cc.cred.key_alg);
    const api_sign_alg *sa = api_sign_alg_find(algo->s, algo->len);
    if (ka == NULL || sa == NULL || !api_key_alg_allows(ka, algo->s, algo->len)) {
        invalid(rq, API_F_SIGN_ALGO);
        return;
    }
    if (!choose_hash(rq, sa, &hash))
        return;
    if (!api_digests(rq, &p->f[API_F_HASHES], hash, NULL, &buf, &list))
        return;
    qs_sam_sign_req req = {
        .user_id = rq->user_id_str,
        .credential_id = cred_str,
        .sad = p->f[API_F_SAD].s,
        .hash_alg = hash->sam,
        .hashes = list,
        .n_hashes = p->f[API_F_HASHES].n,
        .scheme = sa->scheme,
        .has_pss_salt_len = sa->pss,
        .has_pss_mgf_hash = sa->pss,
        .pss_salt_len = (uint32_t)hash->len,
        .pss_mgf_hash = hash->sam,
    };
    if ((r = api_sam_open(api_cfg(rq), &c)) == QS_OK)
        r = qs_sam_client_sign(c, &req, &sigs);
    if (r == QS_OK && sigs.n != req.n_hashes) {
        qs_error("SAM returned %zu signatures for %zu digests", sigs.n, req.n_hashes);
        r = QS_ERR_PROTO;
    }
    if (r != QS_OK) {
        api_reply_sam_error(rq, c, r);
        goto out;
    }
    json_t *a = signatures_json(&sigs);
    if (a == NULL) {
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < sigs.n; i++)
        api_count(rq, API_C_SIGNATURES);
    qs_info("signed credential=%s signatures=%zu", cred_str, sigs.n);
    api_anomaly_signed(rq, cred_str, sigs.n);
    api_reply_json(rq, 200, json_pack("{s:o}", "signatures", a));
out:
    qs_sam_signatures_free(&sigs);
    qs_sam_client_close(c);
    free(buf);
    free(list);
}

const api_endpoint api_ep_signatures_sign_hash = {
    .name = "signatures/signHash",
    .method = "POST",
    .versions = API_V_BOTH,
    .spec = spec,
    .nspec = sizeof spec / sizeof spec[0],
    .auth = API_AUTH_BEARER,
    .handler = handle,
};
