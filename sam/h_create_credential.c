/*
 * CREATE_CREDENTIAL: generates a signer key in the HSM for an active signer and stores it as a
 * credential: random id, the public key, the private key wrapped under the KEK, status enabled,
 * no failed attempts, and the record MAC binding the wrapped key to its credential, user and
 * public key.  Answers the CREDENTIAL_ID and the SPKI.  Audited as credential.created (with the
 * SHA-256 of the SPKI) or credential.create_refused.
 */
#define QS_LOG_MODULE "sam"
#include <sodium.h>
#include <string.h>

#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"
#include "util/secret.h"

typedef struct create_ctx {
    sam_req *rq;
    uint8_t user_id[QS_DB_SAM_UUID_LEN];
    qs_db_credential *cred; /* NULL: only check the user */
    const char *reason;
} create_ctx;

static qs_err create_txn(qs_db *db, void *cls)
{
    create_ctx *c = cls;
    qs_db_user user;

    c->reason = NULL;
    qs_err r = sam_load_user(c->rq, db, c->user_id, &user);
    if (r == QS_ERR_NOT_FOUND)
        c->reason = "unknown_user";
    else if (r == QS_ERR_MAC)
        c->reason = "record_mac";
    if (r != QS_OK)
        return r;
    if (strcmp(user.status, QS_DB_USER_ACTIVE) != 0) {
        c->reason = "user_inactive";
        return QS_ERR_USER_INACTIVE;
    }
    if (strcmp(user.kind, QS_DB_USER_SIGNER) != 0) {
        c->reason = "not_a_signer";
        return QS_ERR_INVALID_ARGUMENT;
    }
    if (c->cred == NULL)
        return QS_OK;
    return qs_db_credential_insert(db, c->cred);
}

static const char *create_error_message(qs_err r)
{
    switch (r) {
    case QS_ERR_NOT_FOUND:
        return "unknown user";
    case QS_ERR_INVALID_ARGUMENT:
        return "credentials belong to signers only";
    default:
        return NULL;
    }
}

qs_err sam_h_create_credential(sam_req *rq)
{
    static const char refused[] = "credential.create_refused";
    create_ctx c;
    qs_db_credential *cred = NULL;
    qs_hsm_keypair kp;
    uint32_t wire_alg = 0;
    qs_key_alg alg;
    qs_err r;

    memset(&c, 0, sizeof c);
    memset(&kp, 0, sizeof kp);
    c.rq = rq;
    if ((r = sam_req_uuid(rq, QS_SAM_T_USER_ID, "user id", refused, c.user_id)) != QS_OK)
        return r;
    if (!qs_sam_msg_get_u32(rq->msg, QS_SAM_T_KEY_ALG, &wire_alg) ||
        !sam_key_alg_from_wire(wire_alg, &alg)) {
        c.reason = "key_alg";
        r = sam_fail(rq, QS_ERR_UNSUPPORTED, "unknown key algorithm");
        goto out;
    }
    r = qs_db_run_txn_opt(rq->w->db, "create_credential_check", QS_DB_TXN_READ_ONLY, create_txn,
                          &c);
    if (r != QS_OK) {
        sam_fail(rq, r, create_error_message(r));
        goto out;
    }

    if ((cred = qs_secret_alloc(sizeof *cred)) == NULL) {
        r = sam_fail(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }
    memset(cred, 0, sizeof *cred);
    if ((r = qs_hsm_generate_signer_key(rq->w->hs, alg, &kp)) != QS_OK) {
        c.reason = "key_generation";
        sam_fail(rq, r, NULL);
        goto out;
    }
    if (kp.spki_len < 32 || kp.spki_len > sizeof cred->spki || kp.wrapped_len < 16 ||
        kp.wrapped_len > sizeof cred->wrapped_key) {
        qs_bug("generated key: SPKI %zu bytes, wrapped key %zu bytes", kp.spki_len, kp.wrapped_len);
        c.reason = "key_generation";
        r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
        goto out;
    }
    sam_uuid_new(cred->id);
    memcpy(cred->user_id, c.user_id, sizeof cred->user_id);
    snprintf(cred->key_alg, sizeof cred->key_alg, "%s", sam_key_alg_db_name(alg));
    memcpy(cred->spki, kp.spki, kp.spki_len);
    cred->spki_len = kp.spki_len;
    cred->has_wrapped_key = true;
    memcpy(cred->wrapped_key, kp.wrapped, kp.wrapped_len);
    cred->wrapped_key_len = kp.wrapped_len;
    snprintf(cred->status, sizeof cred->status, "%s", QS_DB_CRED_ENABLED);
    cred->failed_attempts = 0;
    qs_rec rec = qs_rec_credential(cred);
    if ((r = qs_rec_mac(rq->w->hs, &rec, cred->record_mac)) != QS_OK) {
        c.reason = "hsm_error";
        sam_fail(rq, r, NULL);
        goto out;
    }
    c.cred = cred;
    r = qs_db_run_txn(rq->w->db, "create_credential", create_txn, &c);
    if (r != QS_OK) {
        if (c.reason == NULL)
            c.reason = "database_error";
        sam_fail(rq, r, create_error_message(r));
        goto out;
    }

    uint8_t fp[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(fp, cred->spki, cred->spki_len);
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "key_alg", cred->key_alg);
    sam_json_hex(&j, "spki_sha256", fp, sizeof fp);
    const char *details = sam_json_finish(&j);
    r = details == NULL
            ? QS_ERR_NOMEM
            : sam_audit(rq, "credential.created", true, c.user_id, cred->id, NULL, details, NULL);
    sam_json_free(&j);
    if (r != QS_OK) {
        sam_fail(rq, r, "credential created, but its audit record failed");
        goto out;
    }

    char id[SAM_UUID_STR_LEN + 1];
    sam_uuid_format(cred->id, id);
    if ((r = sam_resp_begin(rq)) != QS_OK)
        goto out;
    if (qs_sam_msg_put_str(rq->resp, QS_SAM_T_CREDENTIAL_ID, id) != QS_OK ||
        qs_sam_msg_put_bytes(rq->resp, QS_SAM_T_SPKI, cred->spki, cred->spki_len) != QS_OK) {
        r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
        goto out;
    }
    qs_info("credential %s (%s) created", id, cred->key_alg);
    r = QS_OK;
out:
    if (r != QS_OK && c.reason != NULL)
        sam_audit_refusal(rq, refused, c.reason, c.user_id, c.cred != NULL ? c.cred->id : NULL,
                          NULL);
    qs_hsm_keypair_clear(&kp);
    qs_secret_free(cred);
    return r;
}
