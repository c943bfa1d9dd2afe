/*
 * CA_RENEW_OCSP (admin peers only): a new delegated OCSP responder certificate for the same
 * responder key ([ca] ocsp_validity_days from now), before the old one expires (a responder
 * certificate with id-pkix-ocsp-nocheck cannot be revoked, so it is kept short-lived).  The
 * CA's row gets it with a new MAC; the OCSP cache is emptied; audited as ca.ocsp_renewed.
 */
#define QS_LOG_MODULE "sam"
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <sodium.h>

#include "sam/ca.h"
#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"

typedef struct renew_ctx {
    sam_req *rq;
    qs_db_ca_state *st;
    uint8_t *der;
    size_t len;
} renew_ctx;

static qs_err renew_txn(qs_db *db, void *cls)
{
    renew_ctx *c = cls;
    qs_err r = sam_ca_state_load(c->rq, db, true, c->st);
    if (r != QS_OK)
        return r;
    if (strcmp(c->st->status, QS_DB_CA_ACTIVE) != 0)
        return QS_ERR_CA_NOT_READY;
    c->st->has_ocsp_cert = true;
    memcpy(c->st->ocsp_cert, c->der, c->len);
    c->st->ocsp_cert_len = c->len;
    qs_rec rec = qs_rec_ca_state(c->st);
    if ((r = qs_rec_mac(c->rq->w->hs, &rec, c->st->record_mac)) != QS_OK)
        return r;
    return qs_db_ca_state_update(db, c->st);
}

qs_err sam_h_ca_renew_ocsp(sam_req *rq)
{
    static const char refused[] = "ca.ocsp_renew_refused";
    sam_ca *ca = rq->w->s->ca;
    renew_ctx c = {.rq = rq};
    X509 *ocsp_cert = NULL;
    const char *reason = NULL;
    char msg[CA_WHY_TEXT_MAX + 120] = "";
    sam_ca_view v;
    qs_err r;

    sam_ca_admin_lock(ca);
    sam_ca_acquire(ca, &v);
    bool active = v.active;
    X509 *ca_cert = v.ca_cert;
    EVP_PKEY *ca_key = v.ca_key, *ocsp_key = v.ocsp_key;
    sam_ca_release(ca);
    if (!active) {
        reason = "ca_not_active";
        r = sam_fail(rq, QS_ERR_CA_NOT_READY, NULL);
        goto out;
    }
    if ((r = sam_ca_issue_responder(rq->w->s->cfg, ca_cert, ca_key, ocsp_key, &ocsp_cert, msg,
                                    sizeof msg)) != QS_OK) {
        reason = "ocsp_certificate";
        sam_fail(rq, r, msg[0] != '\0' ? msg : NULL);
        goto out;
    }
    if ((r = sam_x509_der(ocsp_cert, &c.der, &c.len)) != QS_OK || c.len > QS_DB_CERT_DER_MAX ||
        (c.st = malloc(sizeof *c.st)) == NULL) {
        reason = "encoding";
        r = sam_fail(rq, r != QS_OK ? r : QS_ERR_NOMEM, NULL);
        goto out;
    }
    if ((r = qs_db_run_txn(rq->w->db, "ca_renew_ocsp", renew_txn, &c)) != QS_OK) {
        reason = r == QS_ERR_MAC ? "record_mac" : "database_error";
        sam_fail(rq, r, NULL);
        goto out;
    }
    uint8_t fp[crypto_hash_sha256_BYTES];
    char fp_hex[2 * sizeof fp + 1];
    crypto_hash_sha256(fp, c.der, c.len);
    sam_hex(fp, sizeof fp, fp_hex);
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "certificate_sha256", fp_hex);
    const char *details = sam_json_finish(&j);
    r = details == NULL ? QS_ERR_NOMEM
                        : sam_audit(rq, "ca.ocsp_renewed", true, NULL, NULL, NULL, details, NULL);
    sam_json_free(&j);
    if (r != QS_OK) {
        sam_fail(rq, r, "certificate stored, but its audit record failed");
        goto out;
    }
    sam_ca_install(ca, true, NULL, ocsp_cert, NULL, NULL);
    ocsp_cert = NULL;
    if ((r = sam_resp_begin(rq)) != QS_OK)
        goto out;
    if (qs_sam_msg_put_bytes(rq->resp, QS_SAM_T_CERT, c.der, c.len) != QS_OK) {
        r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
        goto out;
    }
    qs_info("OCSP responder certificate renewed");
    r = QS_OK;
out:
    if (r != QS_OK && reason != NULL)
        sam_audit_refusal(rq, refused, reason, NULL, NULL, NULL);
    sam_ca_admin_unlock(ca);
    X509_free(ocsp_cert);
    free(c.der);
    free(c.st);
    ERR_clear_error();
    return r;
}
