/*
 * The client side of the CA and RA requests (sam/client.h): one call per request, each answer
 * checked for its fields before use.
 */
#include <stdlib.h>
#include <string.h>

#include "sam/client.h"
#include "sam/client_internal.h"
#include "util/secret.h"

qs_err qs_sam_client_ca_init(qs_sam_client *c, qs_sam_ca_mode mode, const char *actor,
                             uint8_t **cert, size_t *cert_len, uint8_t **csr, size_t *csr_len)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    *cert = *csr = NULL;
    *cert_len = *csr_len = 0;
    qs_err r = samc_begin(c, QS_SAM_CA_INIT, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_ACTOR, actor));
    samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_CA_MODE, (uint32_t)mode));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK &&
        (r = samc_copy_bytes(m, QS_SAM_T_CERT, false, cert, cert_len)) == QS_OK &&
        (r = samc_copy_bytes(m, QS_SAM_T_CSR, false, csr, csr_len)) == QS_OK && *cert == NULL &&
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
    qs_err r = samc_begin(c, QS_SAM_CA_IMPORT_CERT, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_ACTOR, actor));
    samc_sticky(qs_sam_msg_put_bytes(b, QS_SAM_T_CERT, cert, cert_len));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK)
        r = samc_copy_bytes(m, QS_SAM_T_CERT, true, ocsp_cert, ocsp_len);
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
    qs_err r = samc_begin(c, QS_SAM_CA_RENEW_OCSP, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_ACTOR, actor));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK)
        r = samc_copy_bytes(m, QS_SAM_T_CERT, true, cert, cert_len);
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
    qs_err r = samc_begin(c, QS_SAM_CREATE_SIGNER, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_ACTOR, q->actor));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_USERNAME, q->username));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_PROFILE, q->profile));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_COUNTRY, q->country));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_COMMON_NAME, q->common_name));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_GIVEN_NAME, q->given_name));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_SURNAME, q->surname));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_PSEUDONYM, q->pseudonym));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_SERIAL_NUMBER, q->serial_number));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_ORGANIZATION, q->organization));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_ORGANIZATION_ID, q->organization_id));
    samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_EVIDENCE_METHOD, (uint32_t)q->method));
    samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_DOCUMENT_TYPE, (uint32_t)q->document_type));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_DOCUMENT_NUMBER, q->document_number));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_DOCUMENT_COUNTRY, q->document_country));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_NOTES, q->notes));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_RA_SESSION, q->ra_session));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK &&
        (r = samc_copy_str(m, QS_SAM_T_USER_ID, user_id, QS_SAM_ID_BUF)) == QS_OK &&
        (r = samc_copy_str(m, QS_SAM_T_ACTIVATION_CODE, code, QS_SAM_ACTIVATION_BUF)) == QS_OK &&
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
    qs_err r = samc_begin(c, QS_SAM_ISSUE_CERT, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_USER_ID, q->user_id));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_CREDENTIAL_ID, q->credential_id));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_ACTOR, q->actor));
    if (q->user_id != NULL)
        samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_KEY_ALG, (uint32_t)q->alg));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_PROFILE, q->profile));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_RA_SESSION, q->ra_session));
    if ((r = qs_sam_client_call(c, b, &m)) != QS_OK)
        goto out;
    const uint8_t *p = NULL;
    size_t len = 0;
    if ((r = samc_copy_str(m, QS_SAM_T_CREDENTIAL_ID, credential_id, QS_SAM_ID_BUF)) != QS_OK ||
        (r = samc_copy_bytes(m, QS_SAM_T_CERT, true, cert, cert_len)) != QS_OK)
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
    qs_err r = samc_begin(c, QS_SAM_REVOKE, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_CREDENTIAL_ID, q->credential_id));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_ACTOR, q->actor));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_REASON, q->reason));
    if (q->serial != NULL)
        samc_sticky(qs_sam_msg_put_bytes(b, QS_SAM_T_CERT_SERIAL, q->serial, q->serial_len));
    samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_CRL_REASON, q->crl_reason));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_RA_SESSION, q->ra_session));
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
    qs_err r = samc_begin(c, QS_SAM_CRL, &b);
    if (r != QS_OK)
        return r;
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK)
        r = samc_copy_bytes(m, QS_SAM_T_CRL, true, der, len);
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
    qs_err r = samc_begin(c, QS_SAM_OCSP, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(qs_sam_msg_put_bytes(b, QS_SAM_T_OCSP_REQUEST, req, req_len));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK)
        r = samc_copy_bytes(m, QS_SAM_T_OCSP_RESPONSE, true, resp, resp_len);
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_activate(qs_sam_client *c, const char *user_id, const char *code,
                              const char *pin, const char *issuer, const char *account, char **uri)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    *uri = NULL;
    qs_err r = samc_begin(c, QS_SAM_ACTIVATE, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_USER_ID, user_id));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_PIN, pin));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_TOTP_ISSUER, issuer));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_TOTP_ACCOUNT, account));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_ACTIVATION_CODE, code));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK) {
        r = samc_copy_secret_str(m, QS_SAM_T_OTPAUTH_URI, uri);
    }
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_unlock(qs_sam_client *c, const char *credential_id, const char *actor,
                            const char *reason, const char *ra_session)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    qs_err r = samc_begin(c, QS_SAM_UNLOCK, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_CREDENTIAL_ID, credential_id));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_ACTOR, actor));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_REASON, reason));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_RA_SESSION, ra_session));
    r = qs_sam_client_call(c, b, &m);
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_staff_login(qs_sam_client *c, qs_sam_user_kind kind, const char *user_id,
                                 const char *otp, char session[static QS_SAM_SAD_BUF],
                                 uint32_t *expires_in)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    session[0] = '\0';
    *expires_in = 0;
    qs_err r = samc_begin(c, QS_SAM_OFFICER_LOGIN, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_USER_ID, user_id));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_OTP, otp));
    samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_USER_KIND, (uint32_t)kind));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK &&
        (r = samc_copy_str(m, QS_SAM_T_RA_SESSION, session, QS_SAM_SAD_BUF)) == QS_OK &&
        !qs_sam_msg_get_u32(m, QS_SAM_T_EXPIRES_IN, expires_in))
        r = QS_ERR_PROTO;
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_officer_login(qs_sam_client *c, const char *user_id, const char *otp,
                                   char session[static QS_SAM_SAD_BUF], uint32_t *expires_in)
{
    return qs_sam_client_staff_login(c, QS_SAM_USER_OFFICER, user_id, otp, session, expires_in);
}

qs_err qs_sam_client_audit_search(qs_sam_client *c, const qs_sam_audit_search_req *q)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    qs_err r = samc_begin(c, QS_SAM_AUDIT_SEARCH, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_RA_SESSION, q->session));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_USER_ID, q->user_id));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_CREDENTIAL_ID, q->credential_id));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_EVENT_TYPE, q->event_type));
    if (q->has_from)
        samc_sticky(qs_sam_msg_put_u64(b, QS_SAM_T_TIME_FROM, q->from_us));
    if (q->has_to)
        samc_sticky(qs_sam_msg_put_u64(b, QS_SAM_T_TIME_TO, q->to_us));
    if (q->result != 0)
        samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_AUDIT_RESULT, (uint32_t)q->result));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_WRITER_ID, q->writer_id));
    r = qs_sam_client_call(c, b, &m);
    qs_sam_msg_free(m);
    return r;
}
