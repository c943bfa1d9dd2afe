/*
 * The client side of the CA and RA requests (sam/client.h): one call per request, each answer
 * checked for its fields before use.
 */
#include <stdlib.h>
#include <string.h>

#include "sam/client.h"
#include "util/secret.h"

/* Put errors stick in the builder; qs_sam_client_call reports the first. */
static void sticky(qs_err r)
{
    (void)r;
}

static qs_err put_opt(qs_sam_builder *b, uint16_t tag, const char *s)
{
    return s == NULL ? QS_OK : qs_sam_msg_put_str(b, tag, s);
}

static qs_err copy_str(const qs_sam_msg *m, uint16_t tag, char *buf, size_t cap)
{
    size_t len = 0;
    const char *s = qs_sam_msg_get_str(m, tag, &len);
    if (s == NULL || len >= cap)
        return QS_ERR_PROTO;
    memcpy(buf, s, len + 1);
    return QS_OK;
}

/* A bytes field of the answer into a malloc'd copy; absent: NULL, or QS_ERR_PROTO if needed. */
static qs_err copy_bytes(const qs_sam_msg *m, uint16_t tag, bool needed, uint8_t **out, size_t *len)
{
    const uint8_t *p = NULL;
    *out = NULL;
    *len = 0;
    if (!qs_sam_msg_get_bytes(m, tag, 0, &p, len))
        return needed ? QS_ERR_PROTO : QS_OK;
    if ((*out = malloc(*len)) == NULL) {
        *len = 0;
        return QS_ERR_NOMEM;
    }
    memcpy(*out, p, *len);
    return QS_OK;
}

static qs_err begin(qs_sam_client *c, uint16_t type, qs_sam_builder **b)
{
    return qs_sam_msg_begin(type, qs_sam_client_next_reqid(c), b);
}

qs_err qs_sam_client_ca_init(qs_sam_client *c, qs_sam_ca_mode mode, const char *actor,
                             uint8_t **cert, size_t *cert_len, uint8_t **csr, size_t *csr_len)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    *cert = *csr = NULL;
    *cert_len = *csr_len = 0;
    qs_err r = begin(c, QS_SAM_CA_INIT, &b);
    if (r != QS_OK)
        return r;
    sticky(put_opt(b, QS_SAM_T_ACTOR, actor));
    sticky(qs_sam_msg_put_u32(b, QS_SAM_T_CA_MODE, (uint32_t)mode));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK &&
        (r = copy_bytes(m, QS_SAM_T_CERT, false, cert, cert_len)) == QS_OK &&
        (r = copy_bytes(m, QS_SAM_T_CSR, false, csr, csr_len)) == QS_OK && *cert == NULL &&
        *csr == NULL)
        r = QS_ERR_PROTO;
    if (r != QS_OK) {
        free(*cert);
        free(*csr);
        *cert = *csr = NULL;
        *cert_len = *csr_len = 0;
    }
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_ca_import_cert(qs_sam_client *c, const uint8_t *cert, size_t cert_len,
                                    const char *actor, uint8_t **ocsp_cert, size_t *ocsp_len)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    *ocsp_cert = NULL;
    *ocsp_len = 0;
    qs_err r = begin(c, QS_SAM_CA_IMPORT_CERT, &b);
    if (r != QS_OK)
        return r;
    sticky(put_opt(b, QS_SAM_T_ACTOR, actor));
    sticky(qs_sam_msg_put_bytes(b, QS_SAM_T_CERT, cert, cert_len));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK)
        r = copy_bytes(m, QS_SAM_T_CERT, true, ocsp_cert, ocsp_len);
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_ca_renew_ocsp(qs_sam_client *c, const char *actor, uint8_t **cert,
                                   size_t *cert_len)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    *cert = NULL;
    *cert_len = 0;
    qs_err r = begin(c, QS_SAM_CA_RENEW_OCSP, &b);
    if (r != QS_OK)
        return r;
    sticky(put_opt(b, QS_SAM_T_ACTOR, actor));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK)
        r = copy_bytes(m, QS_SAM_T_CERT, true, cert, cert_len);
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_create_signer(qs_sam_client *c, const qs_sam_signer_req *q,
                                   char user_id[static QS_SAM_ID_BUF],
                                   char code[static QS_SAM_ACTIVATION_BUF], uint64_t *expires_at)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    user_id[0] = code[0] = '\0';
    *expires_at = 0;
    qs_err r = begin(c, QS_SAM_CREATE_SIGNER, &b);
    if (r != QS_OK)
        return r;
    sticky(put_opt(b, QS_SAM_T_ACTOR, q->actor));
    sticky(qs_sam_msg_put_str(b, QS_SAM_T_USERNAME, q->username));
    sticky(qs_sam_msg_put_str(b, QS_SAM_T_PROFILE, q->profile));
    sticky(qs_sam_msg_put_str(b, QS_SAM_T_COUNTRY, q->country));
    sticky(qs_sam_msg_put_str(b, QS_SAM_T_COMMON_NAME, q->common_name));
    sticky(put_opt(b, QS_SAM_T_GIVEN_NAME, q->given_name));
    sticky(put_opt(b, QS_SAM_T_SURNAME, q->surname));
    sticky(put_opt(b, QS_SAM_T_PSEUDONYM, q->pseudonym));
    sticky(put_opt(b, QS_SAM_T_SERIAL_NUMBER, q->serial_number));
    sticky(put_opt(b, QS_SAM_T_ORGANIZATION, q->organization));
    sticky(put_opt(b, QS_SAM_T_ORGANIZATION_ID, q->organization_id));
    sticky(qs_sam_msg_put_u32(b, QS_SAM_T_EVIDENCE_METHOD, (uint32_t)q->method));
    sticky(qs_sam_msg_put_u32(b, QS_SAM_T_DOCUMENT_TYPE, (uint32_t)q->document_type));
    sticky(qs_sam_msg_put_str(b, QS_SAM_T_DOCUMENT_NUMBER, q->document_number));
    sticky(qs_sam_msg_put_str(b, QS_SAM_T_DOCUMENT_COUNTRY, q->document_country));
    sticky(put_opt(b, QS_SAM_T_NOTES, q->notes));
    sticky(put_opt(b, QS_SAM_T_RA_SESSION, q->ra_session));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK &&
        (r = copy_str(m, QS_SAM_T_USER_ID, user_id, QS_SAM_ID_BUF)) == QS_OK &&
        (r = copy_str(m, QS_SAM_T_ACTIVATION_CODE, code, QS_SAM_ACTIVATION_BUF)) == QS_OK &&
        !qs_sam_msg_get_u64(m, QS_SAM_T_EXPIRES_AT, expires_at))
        r = QS_ERR_PROTO;
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_issue_cert(qs_sam_client *c, const qs_sam_issue_req *q,
                                char credential_id[static QS_SAM_ID_BUF], uint8_t **cert,
                                size_t *cert_len, uint8_t serial[static 20], size_t *serial_len)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    credential_id[0] = '\0';
    *cert = NULL;
    *cert_len = *serial_len = 0;
    qs_err r = begin(c, QS_SAM_ISSUE_CERT, &b);
    if (r != QS_OK)
        return r;
    sticky(put_opt(b, QS_SAM_T_USER_ID, q->user_id));
    sticky(put_opt(b, QS_SAM_T_CREDENTIAL_ID, q->credential_id));
    sticky(put_opt(b, QS_SAM_T_ACTOR, q->actor));
    if (q->user_id != NULL)
        sticky(qs_sam_msg_put_u32(b, QS_SAM_T_KEY_ALG, (uint32_t)q->alg));
    sticky(put_opt(b, QS_SAM_T_PROFILE, q->profile));
    sticky(put_opt(b, QS_SAM_T_RA_SESSION, q->ra_session));
    if ((r = qs_sam_client_call(c, b, &m)) != QS_OK)
        goto out;
    const uint8_t *p = NULL;
    size_t len = 0;
    if ((r = copy_str(m, QS_SAM_T_CREDENTIAL_ID, credential_id, QS_SAM_ID_BUF)) != QS_OK ||
        (r = copy_bytes(m, QS_SAM_T_CERT, true, cert, cert_len)) != QS_OK)
        goto out;
    if (!qs_sam_msg_get_bytes(m, QS_SAM_T_CERT_SERIAL, 0, &p, &len) || len > 20) {
        r = QS_ERR_PROTO;
        goto out;
    }
    memcpy(serial, p, len);
    *serial_len = len;
out:
    if (r != QS_OK) {
        free(*cert);
        *cert = NULL;
        *cert_len = 0;
    }
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_revoke(qs_sam_client *c, const qs_sam_revoke_req *q)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    qs_err r = begin(c, QS_SAM_REVOKE, &b);
    if (r != QS_OK)
        return r;
    sticky(put_opt(b, QS_SAM_T_CREDENTIAL_ID, q->credential_id));
    sticky(put_opt(b, QS_SAM_T_ACTOR, q->actor));
    sticky(put_opt(b, QS_SAM_T_REASON, q->reason));
    if (q->serial != NULL)
        sticky(qs_sam_msg_put_bytes(b, QS_SAM_T_CERT_SERIAL, q->serial, q->serial_len));
    sticky(qs_sam_msg_put_u32(b, QS_SAM_T_CRL_REASON, q->crl_reason));
    sticky(put_opt(b, QS_SAM_T_RA_SESSION, q->ra_session));
    r = qs_sam_client_call(c, b, &m);
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_crl(qs_sam_client *c, uint8_t **der, size_t *len)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    *der = NULL;
    *len = 0;
    qs_err r = begin(c, QS_SAM_CRL, &b);
    if (r != QS_OK)
        return r;
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK)
        r = copy_bytes(m, QS_SAM_T_CRL, true, der, len);
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_ocsp(qs_sam_client *c, const uint8_t *req, size_t req_len, uint8_t **resp,
                          size_t *resp_len)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    *resp = NULL;
    *resp_len = 0;
    qs_err r = begin(c, QS_SAM_OCSP, &b);
    if (r != QS_OK)
        return r;
    sticky(qs_sam_msg_put_bytes(b, QS_SAM_T_OCSP_REQUEST, req, req_len));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK)
        r = copy_bytes(m, QS_SAM_T_OCSP_RESPONSE, true, resp, resp_len);
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_activate(qs_sam_client *c, const char *user_id, const char *code,
                              const char *pin, const char *issuer, const char *account, char **uri)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    *uri = NULL;
    qs_err r = begin(c, QS_SAM_ACTIVATE, &b);
    if (r != QS_OK)
        return r;
    sticky(qs_sam_msg_put_str(b, QS_SAM_T_USER_ID, user_id));
    sticky(qs_sam_msg_put_str(b, QS_SAM_T_PIN, pin));
    sticky(put_opt(b, QS_SAM_T_TOTP_ISSUER, issuer));
    sticky(put_opt(b, QS_SAM_T_TOTP_ACCOUNT, account));
    sticky(qs_sam_msg_put_str(b, QS_SAM_T_ACTIVATION_CODE, code));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK) {
        size_t len = 0;
        const char *s = qs_sam_msg_get_str(m, QS_SAM_T_OTPAUTH_URI, &len);
        char *copy = s == NULL ? NULL : qs_secret_alloc(len + 1);
        if (s == NULL)
            r = QS_ERR_PROTO;
        else if (copy == NULL)
            r = QS_ERR_NOMEM;
        else {
            memcpy(copy, s, len + 1);
            *uri = copy;
        }
    }
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_unlock(qs_sam_client *c, const char *credential_id, const char *actor,
                            const char *reason, const char *ra_session)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    qs_err r = begin(c, QS_SAM_UNLOCK, &b);
    if (r != QS_OK)
        return r;
    sticky(qs_sam_msg_put_str(b, QS_SAM_T_CREDENTIAL_ID, credential_id));
    sticky(put_opt(b, QS_SAM_T_ACTOR, actor));
    sticky(qs_sam_msg_put_str(b, QS_SAM_T_REASON, reason));
    sticky(put_opt(b, QS_SAM_T_RA_SESSION, ra_session));
    r = qs_sam_client_call(c, b, &m);
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_officer_login(qs_sam_client *c, const char *user_id, const char *otp,
                                   char session[static QS_SAM_SAD_BUF], uint32_t *expires_in)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    session[0] = '\0';
    *expires_in = 0;
    qs_err r = begin(c, QS_SAM_OFFICER_LOGIN, &b);
    if (r != QS_OK)
        return r;
    sticky(qs_sam_msg_put_str(b, QS_SAM_T_USER_ID, user_id));
    sticky(qs_sam_msg_put_str(b, QS_SAM_T_OTP, otp));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK &&
        (r = copy_str(m, QS_SAM_T_RA_SESSION, session, QS_SAM_SAD_BUF)) == QS_OK &&
        !qs_sam_msg_get_u32(m, QS_SAM_T_EXPIRES_IN, expires_in))
        r = QS_ERR_PROTO;
    qs_sam_msg_free(m);
    return r;
}
