/*
 * CA_INIT (admin peers only): makes the certification authority once.
 *
 * 1. The CA key pair ([ca] key_label, key_alg; EC P-384 by default) and the OCSP responder key
 *    pair ([ca] ocsp_key_label, ocsp_key_alg) are generated in the token as token objects,
 *    private, sensitive, never extractable, signing only (hsm/ca_key.c); a label already in use
 *    is refused, nothing is replaced.  Both are opened through libp11 and kept for the life of
 *    the process.
 * 2. Self-signed (local stack, tests): a root certificate from [ca] subject_* and
 *    ca_validity_days with certificatePolicies anyPolicy, and the delegated OCSP responder
 *    certificate ([ca] ocsp_validity_days); the CA is active.
 *    External: a PKCS#10 request for the external root; the CA is pending until
 *    CA_IMPORT_CERT brings its certificate.
 * 3. The CA's row is stored with its MAC and the event audited (ca.initialized), then the new
 *    state is installed.  The answer carries the certificate or the request.
 */
#define QS_LOG_MODULE "sam"
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <sodium.h>

#include "hsm/hsm_internal.h"
#include "sam/ca.h"
#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"

typedef struct init_ctx {
    qs_db_ca_state *st;
} init_ctx;

static qs_err init_txn(qs_db *db, void *cls)
{
    init_ctx *c = cls;
    qs_db_ca_state old;
    bool found = false;
    qs_err r = qs_db_ca_state_get(db, true, &old, &found);
    if (r != QS_OK)
        return r;
    if (found)
        return QS_ERR_EXISTS;
    return qs_db_ca_state_insert(db, c->st);
}

static qs_err alg_of(const char *name, qs_key_alg *alg)
{
    if (strcmp(name, "ec-p256") == 0)
        *alg = QS_KEY_EC_P256;
    else if (strcmp(name, "ec-p384") == 0)
        *alg = QS_KEY_EC_P384;
    else
        return QS_ERR_CONFIG;
    return QS_OK;
}

qs_err sam_h_ca_init(sam_req *rq)
{
    static const char refused[] = "ca.init_refused";
    const sam_config *cfg = rq->w->s->cfg;
    sam_ca *ca = rq->w->s->ca;
    uint32_t mode = 0;
    qs_key_alg ca_alg, ocsp_alg;
    ca_hsm_key *ca_key = NULL, *ocsp_key = NULL;
    X509 *ca_cert = NULL, *ocsp_cert = NULL;
    uint8_t *csr = NULL, *cert_der = NULL;
    size_t csr_len = 0, cert_len = 0;
    init_ctx c = {0};
    char msg[CA_WHY_TEXT_MAX + 120] = "";
    char cn[CA_UB_COMMON_NAME + 1];
    const char *reason = NULL;
    ca_subject subj;
    ca_why why;
    qs_err r;

    sam_ca_admin_lock(ca);
    (void)qs_sam_msg_get_u32(rq->msg, QS_SAM_T_CA_MODE, &mode);
    sam_ca_view v;
    sam_ca_acquire(ca, &v);
    bool exists = v.exists;
    sam_ca_release(ca);
    if (exists) {
        reason = "ca_exists";
        r = sam_fail(rq, QS_ERR_EXISTS, "the CA is initialised already");
        goto out;
    }
    if ((r = sam_ca_subject(cfg, false, cn, sizeof cn, &subj, msg, sizeof msg)) != QS_OK ||
        (r = ca_subject_validate(&subj, &why)) != QS_OK) {
        if (msg[0] == '\0')
            snprintf(msg, sizeof msg, "[ca] subject_*: %s", why.text);
        reason = "ca_subject";
        r = sam_fail(rq, QS_ERR_CONFIG, msg);
        goto out;
    }
    if (alg_of(cfg->ca_key_alg, &ca_alg) != QS_OK ||
        alg_of(cfg->ocsp_key_alg, &ocsp_alg) != QS_OK) {
        reason = "key_alg";
        r = sam_fail(rq, QS_ERR_CONFIG, "[ca] key_alg / ocsp_key_alg");
        goto out;
    }
    if ((c.st = calloc(1, sizeof *c.st)) == NULL) {
        r = sam_fail(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }

    /* keys in the token, then through libp11 */
    if ((r = qs_hsm_generate_token_ec_key(rq->w->hs, ca_alg, cfg->ca_key_label)) != QS_OK ||
        (r = qs_hsm_generate_token_ec_key(rq->w->hs, ocsp_alg, cfg->ocsp_key_label)) != QS_OK) {
        reason = r == QS_ERR_EXISTS ? "key_label_taken" : "key_generation";
        sam_fail(rq, r,
                 r == QS_ERR_EXISTS ? "a key with the CA's or the responder's label exists in "
                                      "the token; remove it or change [ca] key_label"
                                    : NULL);
        goto out;
    }
    if ((r = sam_ca_open_key(cfg, cfg->ca_key_label, &ca_key)) != QS_OK ||
        (r = sam_ca_open_key(cfg, cfg->ocsp_key_label, &ocsp_key)) != QS_OK) {
        reason = "key_open";
        sam_fail(rq, r, NULL);
        goto out;
    }

    snprintf(c.st->key_label, sizeof c.st->key_label, "%s", cfg->ca_key_label);
    snprintf(c.st->key_alg, sizeof c.st->key_alg, "%s", cfg->ca_key_alg);
    snprintf(c.st->ocsp_key_label, sizeof c.st->ocsp_key_label, "%s", cfg->ocsp_key_label);
    if (mode == QS_SAM_CA_SELF_SIGNED) {
        ca_root_params rp = {.subject = &subj, .days = (unsigned)cfg->ca_validity_days};
        if ((r = ca_root_selfsigned(ca_hsm_key_pkey(ca_key), &rp, &ca_cert, &why)) != QS_OK) {
            snprintf(msg, sizeof msg, "CA certificate: %s", why.text);
            reason = "ca_certificate";
            sam_fail(rq, r, msg);
            goto out;
        }
        if ((r = sam_ca_issue_responder(cfg, ca_cert, ca_hsm_key_pkey(ca_key),
                                        ca_hsm_key_pkey(ocsp_key), &ocsp_cert, msg, sizeof msg)) !=
            QS_OK) {
            reason = "ocsp_certificate";
            sam_fail(rq, r, msg[0] != '\0' ? msg : NULL);
            goto out;
        }
        uint8_t *oder = NULL;
        size_t olen = 0;
        if ((r = sam_x509_der(ca_cert, &cert_der, &cert_len)) != QS_OK ||
            (r = sam_x509_der(ocsp_cert, &oder, &olen)) != QS_OK || cert_len > QS_DB_CERT_DER_MAX ||
            olen > QS_DB_CERT_DER_MAX) {
            free(oder);
            reason = "encoding";
            sam_fail(rq, r != QS_OK ? r : QS_ERR_INTERNAL, NULL);
            goto out;
        }
        snprintf(c.st->status, sizeof c.st->status, "%s", QS_DB_CA_ACTIVE);
        c.st->has_ca_cert = true;
        memcpy(c.st->ca_cert, cert_der, cert_len);
        c.st->ca_cert_len = cert_len;
        c.st->has_ocsp_cert = true;
        memcpy(c.st->ocsp_cert, oder, olen);
        c.st->ocsp_cert_len = olen;
        free(oder);
    } else {
        if ((r = ca_csr_for_external_root(ca_hsm_key_pkey(ca_key), &subj, &csr, &csr_len, &why)) !=
                QS_OK ||
            csr_len > QS_DB_CERT_DER_MAX) {
            snprintf(msg, sizeof msg, "CA request: %s", why.text);
            reason = "ca_request";
            sam_fail(rq, r != QS_OK ? r : QS_ERR_INTERNAL, msg);
            goto out;
        }
        snprintf(c.st->status, sizeof c.st->status, "%s", QS_DB_CA_PENDING);
        c.st->has_csr = true;
        memcpy(c.st->csr, csr, csr_len);
        c.st->csr_len = csr_len;
    }
    qs_rec rec = qs_rec_ca_state(c.st);
    if ((r = qs_rec_mac(rq->w->hs, &rec, c.st->record_mac)) != QS_OK) {
        reason = "hsm_error";
        sam_fail(rq, r, NULL);
        goto out;
    }
    if ((r = qs_db_run_txn(rq->w->db, "ca_init", init_txn, &c)) != QS_OK) {
        reason = r == QS_ERR_EXISTS ? "ca_exists" : "database_error";
        sam_fail(rq, r, NULL);
        goto out;
    }

    uint8_t fp[crypto_hash_sha256_BYTES];
    char fp_hex[2 * sizeof fp + 1];
    if (cert_der != NULL)
        crypto_hash_sha256(fp, cert_der, cert_len);
    else
        crypto_hash_sha256(fp, csr, csr_len);
    sam_hex(fp, sizeof fp, fp_hex);
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "mode", mode == QS_SAM_CA_SELF_SIGNED ? "self-signed" : "external");
    sam_json_str(&j, "key_label", cfg->ca_key_label);
    sam_json_str(&j, "key_alg", cfg->ca_key_alg);
    sam_json_str(&j, "ocsp_key_label", cfg->ocsp_key_label);
    sam_json_str(&j, cert_der != NULL ? "certificate_sha256" : "request_sha256", fp_hex);
    sam_json_str(&j, "subject_common_name", cfg->ca_common_name);
    const char *details = sam_json_finish(&j);
    r = details == NULL ? QS_ERR_NOMEM
                        : sam_audit(rq, "ca.initialized", true, NULL, NULL, NULL, details, NULL);
    sam_json_free(&j);
    if (r != QS_OK) {
        sam_fail(rq, r, "CA made, but its audit record failed");
        goto out;
    }
    sam_ca_install(ca, mode == QS_SAM_CA_SELF_SIGNED, ca_cert, ocsp_cert, ca_key, ocsp_key);
    ca_cert = ocsp_cert = NULL;
    ca_key = ocsp_key = NULL;

    if ((r = sam_resp_begin(rq)) != QS_OK)
        goto out;
    if ((cert_der != NULL &&
         qs_sam_msg_put_bytes(rq->resp, QS_SAM_T_CERT, cert_der, cert_len) != QS_OK) ||
        (csr != NULL && qs_sam_msg_put_bytes(rq->resp, QS_SAM_T_CSR, csr, csr_len) != QS_OK)) {
        r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
        goto out;
    }
    qs_info("certification authority initialised (%s)",
            mode == QS_SAM_CA_SELF_SIGNED ? "self-signed" : "waiting for the external root");
    r = QS_OK;
out:
    if (r != QS_OK && reason != NULL)
        sam_audit_refusal(rq, refused, reason, NULL, NULL, NULL);
    sam_ca_admin_unlock(ca);
    X509_free(ca_cert);
    X509_free(ocsp_cert);
    ca_hsm_key_close(ca_key);
    ca_hsm_key_close(ocsp_key);
    free(csr);
    free(cert_der);
    free(c.st);
    ERR_clear_error();
    return r;
}
