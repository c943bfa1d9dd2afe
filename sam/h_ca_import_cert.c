/*
 * CA_IMPORT_CERT (admin peers only): the certificate an external root issued for the pending
 * CA.  It must be a CA certificate (basicConstraints cA, keyUsage keyCertSign) whose key is the
 * CA key in the token (ca_cert_matches_key: same public key, and a test signature by the token
 * verifies with it).  The OCSP responder certificate is then issued under it, the CA's row
 * becomes active (new MAC), ca.certificate_imported is audited and the CA opens.
 */
#define QS_LOG_MODULE "sam"
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "sam/ca.h"
#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"

typedef struct import_ctx {
    sam_req *rq;
    qs_db_ca_state *st;
    const uint8_t *cert;
    size_t cert_len;
    uint8_t *ocsp;
    size_t ocsp_len;
} import_ctx;

static qs_err import_txn(qs_db *db, void *cls)
{
    import_ctx *c = cls;
    qs_err r = sam_ca_state_load(c->rq, db, true, c->st);
    if (r != QS_OK)
        return r;
    if (strcmp(c->st->status, QS_DB_CA_PENDING) != 0)
        return QS_ERR_EXISTS;
    snprintf(c->st->status, sizeof c->st->status, "%s", QS_DB_CA_ACTIVE);
    c->st->has_ca_cert = true;
    memcpy(c->st->ca_cert, c->cert, c->cert_len);
    c->st->ca_cert_len = c->cert_len;
    c->st->has_ocsp_cert = true;
    memcpy(c->st->ocsp_cert, c->ocsp, c->ocsp_len);
    c->st->ocsp_cert_len = c->ocsp_len;
    qs_rec rec = qs_rec_ca_state(c->st);
    if ((r = qs_rec_mac(c->rq->w->hs, &rec, c->st->record_mac)) != QS_OK)
        return r;
    return qs_db_ca_state_update(db, c->st);
}

qs_err sam_h_ca_import_cert(sam_req *rq)
{
    static const char refused[] = "ca.import_refused";
    const sam_config *cfg = rq->w->s->cfg;
    sam_ca *ca = rq->w->s->ca;
    import_ctx c = {.rq = rq};
    X509 *cert = NULL, *ocsp_cert = NULL;
    ca_hsm_key *ocsp_key = NULL;
    const char *reason = NULL;
    char msg[CA_WHY_TEXT_MAX + 120] = "";
    sam_ca_view v;
    qs_err r;

    sam_ca_admin_lock(ca);
    sam_ca_acquire(ca, &v);
    bool pending = v.exists && !v.active && v.ca_key != NULL;
    bool active = v.active;
    EVP_PKEY *ca_pkey = v.ca_key, *ocsp_pkey = v.ocsp_key;
    sam_ca_release(ca);
    /* the admin lock keeps the keys in place from here on */
    if (!pending) {
        reason = active ? "ca_active" : "no_pending_ca";
        r = sam_fail(rq, active ? QS_ERR_EXISTS : QS_ERR_CA_NOT_READY,
                     active ? "the CA has its certificate already"
                            : "no CA waits for a certificate (run CA_INIT first)");
        goto out;
    }
    (void)qs_sam_msg_get_bytes(rq->msg, QS_SAM_T_CERT, 0, &c.cert, &c.cert_len);
    if ((cert = sam_x509_parse(c.cert, c.cert_len)) == NULL) {
        reason = "malformed_certificate";
        r = sam_fail(rq, QS_ERR_PARSE, "not one DER certificate");
        goto out;
    }
    if (X509_check_ca(cert) < 1 || (X509_get_key_usage(cert) & KU_KEY_CERT_SIGN) == 0) {
        reason = "not_a_ca_certificate";
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT,
                     "not a CA certificate (basicConstraints cA, keyUsage keyCertSign)");
        goto out;
    }
    if (!ca_cert_matches_key(cert, ca_pkey)) {
        reason = "key_mismatch";
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT, "the certificate is not for the CA key");
        goto out;
    }
    if (ocsp_pkey == NULL) {
        if ((r = sam_ca_open_key(cfg, cfg->ocsp_key_label, &ocsp_key)) != QS_OK) {
            reason = "ocsp_key_open";
            sam_fail(rq, r, NULL);
            goto out;
        }
        ocsp_pkey = ca_hsm_key_pkey(ocsp_key);
    }
    if ((r = sam_ca_issue_responder(cfg, cert, ca_pkey, ocsp_pkey, &ocsp_cert, msg, sizeof msg)) !=
        QS_OK) {
        reason = "ocsp_certificate";
        sam_fail(rq, r, msg[0] != '\0' ? msg : NULL);
        goto out;
    }
    if ((r = sam_x509_der(ocsp_cert, &c.ocsp, &c.ocsp_len)) != QS_OK ||
        c.ocsp_len > QS_DB_CERT_DER_MAX || (c.st = malloc(sizeof *c.st)) == NULL) {
        reason = "encoding";
        r = sam_fail(rq, r != QS_OK ? r : QS_ERR_NOMEM, NULL);
        goto out;
    }
    if ((r = qs_db_run_txn(rq->w->db, "ca_import_cert", import_txn, &c)) != QS_OK) {
        reason = r == QS_ERR_MAC ? "record_mac" : "database_error";
        sam_fail(rq, r, NULL);
        goto out;
    }

    uint8_t fp[crypto_hash_sha256_BYTES];
    char fp_hex[2 * sizeof fp + 1];
    crypto_hash_sha256(fp, c.cert, c.cert_len);
    sam_hex(fp, sizeof fp, fp_hex);
    char issuer[512];
    (void)sam_name_text(X509_get_issuer_name(cert), issuer, sizeof issuer);
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "certificate_sha256", fp_hex);
    sam_json_str(&j, "issuer", issuer);
    const char *details = sam_json_finish(&j);
    r = details == NULL
            ? QS_ERR_NOMEM
            : sam_audit(rq, "ca.certificate_imported", true, NULL, NULL, NULL, details, NULL);
    sam_json_free(&j);
    if (r != QS_OK) {
        sam_fail(rq, r, "certificate stored, but its audit record failed");
        goto out;
    }
    uint8_t *ocsp_der = c.ocsp;
    size_t ocsp_len = c.ocsp_len;
    sam_ca_install(ca, true, cert, ocsp_cert, NULL, ocsp_key);
    cert = ocsp_cert = NULL;
    ocsp_key = NULL;
    if ((r = sam_resp_begin(rq)) != QS_OK)
        goto out;
    if (qs_sam_msg_put_bytes(rq->resp, QS_SAM_T_CERT, ocsp_der, ocsp_len) != QS_OK) {
        r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
        goto out;
    }
    qs_info("CA certificate imported; the CA is active");
    r = QS_OK;
out:
    if (r != QS_OK && reason != NULL)
        sam_audit_refusal(rq, refused, reason, NULL, NULL, NULL);
    sam_ca_admin_unlock(ca);
    X509_free(cert);
    X509_free(ocsp_cert);
    ca_hsm_key_close(ocsp_key);
    free(c.ocsp);
    free(c.st);
    ERR_clear_error();
    return r;
}
