/*
 * REVOKE (admin peers, or an officer's RA session): revokes a certificate, named by CERT_SERIAL
 * or by its CREDENTIAL_ID, with an RFC 5280 reason (unspecified, keyCompromise,
 * affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn; the key is
 * destroyed, so certificateHold cannot apply, and the CA and AA reasons are not an end entity's).
 *
 * One transaction: the certificate row (locked, MAC checked) becomes revoked with the time and
 * reason, and its credential's wrapped key is erased (status destroyed), as ETSI TS 119 431-1
 * requires on revocation: nothing can sign with it again.  Then the OCSP cache is emptied, the
 * events are audited (cert.revoked, key.destroyed) and a new CRL is made at once; should that
 * fail, the next CRL request makes it (a revocation newer than the CRL makes it stale).
 */
#define QS_LOG_MODULE "sam"
#include <stdlib.h>
#include <string.h>

#include "sam/ca.h"
#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"
#include "util/secret.h"

typedef struct revoke_ctx {
    sam_req *rq;
    bool by_serial;
    const uint8_t *serial;
    size_t serial_len;
    uint8_t cred_id[QS_DB_SAM_UUID_LEN];
    int32_t reason_code;
    qs_db_certificate *cert;
    qs_db_credential *cred;
    bool key_destroyed;
    const char *reason;
} revoke_ctx;

static bool reason_allowed(uint32_t r)
{
    switch (r) {
    case CA_CRL_UNSPECIFIED:
    case CA_CRL_KEY_COMPROMISE:
    case CA_CRL_AFFILIATION_CHANGED:
    case CA_CRL_SUPERSEDED:
    case CA_CRL_CESSATION_OF_OPERATION:
    case CA_CRL_PRIVILEGE_WITHDRAWN:
        return true;
    default:
        return false;
    }
}

static qs_err revoke_txn(qs_db *db, void *cls)
{
    revoke_ctx *c = cls;
    sam_req *rq = c->rq;
    bool found = false;

    c->reason = NULL;
    c->key_destroyed = false;
    qs_err r = c->by_serial ? sam_cert_load(rq, db, NULL, c->serial, c->serial_len, true, c->cert)
                            : sam_cert_load(rq, db, c->cred_id, NULL, 0, true, c->cert);
    if (r != QS_OK) {
        c->reason = r == QS_ERR_NOT_FOUND ? "unknown_certificate"
                    : r == QS_ERR_MAC     ? "record_mac"
                                          : NULL;
        return r;
    }
    if (c->cert->revoked) {
        c->reason = "already_revoked";
        return QS_ERR_EXISTS;
    }
    c->cert->revoked = true;
    c->cert->revoked_at_us = sam_now_us();
    c->cert->reason = c->reason_code;
    snprintf(c->cert->status, sizeof c->cert->status, "%s", QS_DB_CERT_REVOKED);
    qs_rec rec = qs_rec_certificate(c->cert);
    if ((r = qs_rec_mac(rq->w->hs, &rec, c->cert->record_mac)) != QS_OK ||
        (r = qs_db_certificate_update(db, c->cert)) != QS_OK)
        return r;

    if ((r = qs_db_credential_lock(db, c->cert->credential_id, c->cred, &found)) != QS_OK)
        return r;
    if (!found) {
        qs_bug("certificate of a credential that does not exist");
        return QS_ERR_INTERNAL;
    }
    qs_rec crec = qs_rec_credential(c->cred);
    if ((r = qs_rec_check(rq->w->hs, &crec, c->cred->record_mac)) != QS_OK) {
        if (r == QS_ERR_MAC) {
            sam_mac_mismatch(rq, "credentials", c->cred->user_id, c->cred->id, NULL);
            c->reason = "record_mac";
        }
        return r;
    }
    if (strcmp(c->cred->status, QS_DB_CRED_DESTROYED) == 0)
        return QS_OK;
    qs_wipe(c->cred->wrapped_key, sizeof c->cred->wrapped_key);
    c->cred->has_wrapped_key = false;
    c->cred->wrapped_key_len = 0;
    snprintf(c->cred->status, sizeof c->cred->status, "%s", QS_DB_CRED_DESTROYED);
    crec = qs_rec_credential(c->cred);
    if ((r = qs_rec_mac(rq->w->hs, &crec, c->cred->record_mac)) != QS_OK ||
        (r = qs_db_credential_update(db, c->cred)) != QS_OK)
        return r;
    c->key_destroyed = true;
    return QS_OK;
}

qs_err sam_h_revoke(sam_req *rq)
{
    static const char refused[] = "cert.revoke_refused";
    sam_ca *ca = rq->w->s->ca;
    revoke_ctx c;
    uint32_t code = 0;
    uint8_t *crl = NULL;
    size_t crl_len = 0;
    qs_err r;

    memset(&c, 0, sizeof c);
    c.rq = rq;
    if ((r = sam_ra_authorize(rq, refused)) != QS_OK)
        return r;
    (void)qs_sam_msg_get_u32(rq->msg, QS_SAM_T_CRL_REASON, &code);
    c.by_serial = qs_sam_msg_get_bytes(rq->msg, QS_SAM_T_CERT_SERIAL, 0, &c.serial, &c.serial_len);
    bool by_cred = qs_sam_msg_get_str(rq->msg, QS_SAM_T_CREDENTIAL_ID, NULL) != NULL;
    if (c.by_serial == by_cred) {
        c.reason = "request_shape";
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT, "either CERT_SERIAL or CREDENTIAL_ID");
        goto out;
    }
    if (by_cred && (r = sam_req_uuid(rq, QS_SAM_T_CREDENTIAL_ID, "credential id", refused,
                                     c.cred_id)) != QS_OK)
        goto out_quiet;
    if (!reason_allowed(code)) {
        c.reason = "crl_reason";
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT,
                     "reason: unspecified, keyCompromise, affiliationChanged, superseded, "
                     "cessationOfOperation or privilegeWithdrawn");
        goto out;
    }
    c.reason_code = (int32_t)code;
    if ((c.cert = malloc(sizeof *c.cert)) == NULL ||
        (c.cred = qs_secret_alloc(sizeof *c.cred)) == NULL) {
        r = sam_fail(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }
    r = qs_db_run_txn(rq->w->db, "revoke", revoke_txn, &c);
    if (r != QS_OK) {
        if (c.reason == NULL)
            c.reason = "database_error";
        sam_fail(rq, r,
                 r == QS_ERR_NOT_FOUND ? "unknown certificate"
                 : r == QS_ERR_EXISTS  ? "the certificate is revoked already"
                 : r == QS_ERR_MAC     ? "a stored record failed its integrity check"
                                       : NULL);
        goto out;
    }
    sam_ca_ocsp_flush(ca);

    char serial[SAM_SERIAL_HEX_MAX];
    sam_hex(c.cert->serial, c.cert->serial_len, serial);
    const char *why = qs_sam_msg_get_str(rq->msg, QS_SAM_T_REASON, NULL);
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "serial", serial);
    sam_json_str(&j, "reason", sam_crl_reason_name((int)code));
    sam_json_int(&j, "reason_code", code);
    if (why != NULL)
        sam_json_str(&j, "officer_reason", why);
    const char *details = sam_json_finish(&j);
    r = details == NULL ? QS_ERR_NOMEM
                        : sam_audit(rq, "cert.revoked", true, c.cred->user_id,
                                    c.cert->credential_id, NULL, details, NULL);
    sam_json_free(&j);
    if (r == QS_OK && c.key_destroyed) {
        sam_json_init(&j);
        sam_json_str(&j, "action", "destroy");
        sam_json_str(&j, "cause", "certificate revoked");
        sam_json_str(&j, "serial", serial);
        details = sam_json_finish(&j);
        r = details == NULL ? QS_ERR_NOMEM
                            : sam_audit(rq, "key.destroyed", true, c.cred->user_id,
                                        c.cert->credential_id, NULL, details, NULL);
        sam_json_free(&j);
    }
    if (r != QS_OK) {
        sam_fail(rq, r, "revoked, but the audit record failed");
        goto out;
    }
    qs_info("certificate %s revoked (%s); key destroyed", serial, sam_crl_reason_name((int)code));
    qs_err cr = sam_ca_crl(rq, true, &crl, &crl_len);
    if (cr != QS_OK)
        qs_warn("the CRL after revoking %s is not made yet: %s", serial, qs_err_name(cr));
    if ((r = sam_resp_begin(rq)) != QS_OK)
        goto out;
    if (qs_sam_msg_put_bytes(rq->resp, QS_SAM_T_CERT_SERIAL, c.cert->serial, c.cert->serial_len) !=
        QS_OK) {
        r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
        goto out;
    }
    r = QS_OK;
out:
    if (r != QS_OK && c.reason != NULL)
        sam_audit_refusal(rq, refused, c.reason, NULL,
                          c.cert != NULL && c.cert->der_len > 0 ? c.cert->credential_id : NULL,
                          NULL);
out_quiet:
    free(crl);
    free(c.cert);
    qs_secret_free(c.cred);
    return r;
}
