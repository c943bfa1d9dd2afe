/*
 * ISSUE_CERT (admin peers, or an officer's RA session): a qualified certificate for a key the
 * SAM generated, never for a key from outside.
 *
 * The key is the credential CREDENTIAL_ID names (its row and MAC checked, enabled, with its
 * wrapped key), or, with USER_ID and KEY_ALG instead, a new one generated here for that signer.
 * The subject comes from the signer's latest identity evidence (MAC checked), never from the
 * request; PROFILE may only name the profile (default: the evidence's).
 *
 * 1. Proof of possession: the SAM builds the PKCS#10 CertificationRequestInfo for the
 *    credential's public key, signs its digest with the wrapped key in the HSM, assembles the
 *    request and verifies it (ca_csr_verify: self-signature, and the key is the credential's).
 * 2. ca_issue builds the certificate, checks it against the profile (ca_profile_check) and only
 *    then signs it with the CA key.  A profile failure is refused and audited as cert.refused
 *    with the rule and field; nothing is stored, and a key generated for it is dropped.
 * 3. One transaction stores the new credential (when one was made) and the certificate with
 *    its MAC.  One certificate per credential (one key, one signer, one certificate).
 *
 * Audited as cert.issued (serial, profile, evidence id, certificate hash) and, for a new key,
 * credential.created; refusals as cert.refused.
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
#include "util/secret.h"

typedef struct issue_ctx {
    sam_req *rq;
    bool new_key;
    uint8_t user_id[QS_DB_SAM_UUID_LEN];
    uint8_t cred_id[QS_DB_SAM_UUID_LEN];
    qs_db_credential *cred; /* guarded memory: holds the wrapped key */
    qs_db_evidence *ev;
    qs_db_certificate *cert;
    const char *reason;
} issue_ctx;

static qs_err refuse(issue_ctx *c, const char *reason, qs_err code)
{
    c->reason = reason;
    return code;
}

/* Reads and checks what issuance needs: the credential (existing key), the signer, the
 * evidence; and that the credential has no certificate yet. */
static qs_err check_txn(qs_db *db, void *cls)
{
    issue_ctx *c = cls;
    sam_req *rq = c->rq;
    qs_db_user user;
    bool found = false;
    qs_err r;

    c->reason = NULL;
    if (!c->new_key) {
        if ((r = qs_db_credential_get(db, c->cred_id, c->cred, &found)) != QS_OK)
            return r;
        if (!found)
            return refuse(c, "unknown_credential", QS_ERR_NOT_FOUND);
        qs_rec rec = qs_rec_credential(c->cred);
        if ((r = qs_rec_check(rq->w->hs, &rec, c->cred->record_mac)) != QS_OK) {
            if (r == QS_ERR_MAC) {
                sam_mac_mismatch(rq, "credentials", c->cred->user_id, c->cred_id, NULL);
                c->reason = "record_mac";
            }
            return r;
        }
        if (strcmp(c->cred->status, QS_DB_CRED_ENABLED) != 0 || !c->cred->has_wrapped_key)
            return refuse(c, "credential_not_enabled", QS_ERR_CREDENTIAL_DISABLED);
        memcpy(c->user_id, c->cred->user_id, sizeof c->user_id);
        r = qs_db_certificate_of_credential(db, c->cred_id, false, c->cert, &found);
        if (r != QS_OK)
            return r;
        if (found)
            return refuse(c, "already_certified", QS_ERR_EXISTS);
    }
    if ((r = sam_load_user(rq, db, c->user_id, &user)) != QS_OK) {
        c->reason = r == QS_ERR_MAC ? "record_mac" : "unknown_user";
        return r;
    }
    if (strcmp(user.kind, QS_DB_USER_SIGNER) != 0)
        return refuse(c, "not_a_signer", QS_ERR_INVALID_ARGUMENT);
    if (strcmp(user.status, QS_DB_USER_ACTIVE) != 0)
        return refuse(c, "user_inactive", QS_ERR_USER_INACTIVE);
    if ((r = qs_db_evidence_latest(db, c->user_id, c->ev, &found)) != QS_OK)
        return r;
    if (!found)
        return refuse(c, "no_identity_evidence", QS_ERR_INVALID_ARGUMENT);
    qs_rec er = qs_rec_evidence(c->ev);
    if ((r = qs_rec_check(rq->w->hs, &er, c->ev->record_mac)) != QS_OK) {
        if (r == QS_ERR_MAC) {
            sam_mac_mismatch(rq, "identity_evidence", c->user_id, NULL, NULL);
            c->reason = "record_mac";
        }
        return r;
    }
    return QS_OK;
}

static qs_err store_txn(qs_db *db, void *cls)
{
    issue_ctx *c = cls;
    qs_err r;
    if (c->new_key && (r = qs_db_credential_insert(db, c->cred)) != QS_OK)
        return r;
    r = qs_db_certificate_insert(db, c->cert);
    if (r == QS_ERR_EXISTS)
        c->reason = "already_certified";
    return r;
}

static const char *opt(const char *s)
{
    return s[0] != '\0' ? s : NULL;
}

/* The signature algorithm of the proof of possession for a key type. */
static void pop_alg(qs_key_alg alg, ca_sig_alg *ca_alg, qs_sig_scheme *scheme, qs_hash_alg *hash)
{
    switch (alg) {
    case QS_KEY_EC_P384:
        *ca_alg = CA_SIG_ECDSA_SHA384, *scheme = QS_SIG_ECDSA, *hash = QS_HASH_SHA384;
        return;
    case QS_KEY_EC_P256:
        *ca_alg = CA_SIG_ECDSA_SHA256, *scheme = QS_SIG_ECDSA, *hash = QS_HASH_SHA256;
        return;
    case QS_KEY_RSA_2048:
    case QS_KEY_RSA_3072:
    case QS_KEY_RSA_4096:
        break;
    }
    *ca_alg = CA_SIG_RSA_SHA256, *scheme = QS_SIG_RSA_PKCS1, *hash = QS_HASH_SHA256;
}

/* Proof of possession through PKCS#10: the HSM signs a request for the credential's key with
 * that key, and the request must verify with exactly the credential's public key. */
static qs_err prove_possession(sam_req *rq, const qs_db_credential *cred, qs_key_alg alg,
                               const ca_subject *subj, ca_why *why)
{
    uint8_t *tbs = NULL, *csr = NULL;
    size_t tbs_len = 0, csr_len = 0;
    uint8_t digest[QS_HASH_MAX_LEN], sig[QS_HSM_SIG_MAX];
    unsigned int dlen = 0;
    size_t sig_len = sizeof sig;
    ca_sig_alg ca_alg;
    qs_sig_scheme scheme;
    qs_hash_alg hash;

    pop_alg(alg, &ca_alg, &scheme, &hash);
    qs_err r = ca_csr_build_tbs(cred->spki, cred->spki_len, subj, &tbs, &tbs_len, why);
    if (r != QS_OK)
        goto out;
    if (EVP_Digest(tbs, tbs_len, digest, &dlen, ca_sig_alg_md(ca_alg), NULL) != 1 ||
        dlen != qs_hash_len(hash)) {
        r = QS_ERR_CRYPTO;
        goto out;
    }
    const uint8_t *dptr = digest;
    uint8_t *sptr = sig;
    r = qs_hsm_sign_digests(rq->w->hs, alg, cred->wrapped_key, cred->wrapped_key_len, scheme, hash,
                            &dptr, 1, &sptr, &sig_len);
    if (r != QS_OK)
        goto out;
    if ((r = ca_csr_assemble(tbs, tbs_len, ca_alg, sig, sig_len, &csr, &csr_len, why)) != QS_OK)
        goto out;
    r = ca_csr_verify(csr, csr_len, cred->spki, cred->spki_len, NULL, why);
out:
    free(tbs);
    free(csr);
    ERR_clear_error();
    return r;
}

/* The certificate row of a freshly issued certificate. */
static qs_err fill_row(issue_ctx *c, const ca_issued *iss, const char *profile)
{
    qs_db_certificate *row = c->cert;
    memset(row, 0, sizeof *row);
    X509 *x = sam_x509_parse(iss->der, iss->der_len);
    if (x == NULL || iss->der_len > sizeof row->der || iss->serial_len > sizeof row->serial) {
        X509_free(x);
        return QS_ERR_INTERNAL;
    }
    bool ok = sam_name_text(X509_get_issuer_name(x), row->issuer, sizeof row->issuer) &&
              sam_name_text(X509_get_subject_name(x), row->subject, sizeof row->subject);
    X509_free(x);
    if (!ok)
        return QS_ERR_INTERNAL;
    memcpy(row->serial, iss->serial, iss->serial_len);
    row->serial_len = iss->serial_len;
    memcpy(row->credential_id, c->cred_id, sizeof row->credential_id);
    row->not_before_us = (int64_t)iss->not_before * 1000000;
    row->not_after_us = (int64_t)iss->not_after * 1000000;
    memcpy(row->der, iss->der, iss->der_len);
    row->der_len = iss->der_len;
    snprintf(row->profile, sizeof row->profile, "%s", profile);
    snprintf(row->status, sizeof row->status, "%s", QS_DB_CERT_VALID);
    return QS_OK;
}

static qs_err audit_new_credential(sam_req *rq, const issue_ctx *c)
{
    uint8_t fp[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(fp, c->cred->spki, c->cred->spki_len);
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "key_alg", c->cred->key_alg);
    sam_json_hex(&j, "spki_sha256", fp, sizeof fp);
    sam_json_str(&j, "for", "certificate");
    const char *details = sam_json_finish(&j);
    qs_err r = details == NULL ? QS_ERR_NOMEM
                               : sam_audit(rq, "credential.created", true, c->user_id, c->cred_id,
                                           NULL, details, NULL);
    sam_json_free(&j);
    return r;
}

qs_err sam_h_issue_cert(sam_req *rq)
{
    static const char refused[] = "cert.refused";
    sam_ca *ca = rq->w->s->ca;
    issue_ctx c;
    ca_issued iss;
    ca_why why;
    qs_hsm_keypair kp;
    qs_key_alg alg = QS_KEY_EC_P256;
    char msg[CA_WHY_TEXT_MAX + 120];
    bool why_set = false;
    qs_err r;

    memset(&c, 0, sizeof c);
    memset(&iss, 0, sizeof iss);
    memset(&why, 0, sizeof why);
    memset(&kp, 0, sizeof kp);
    c.rq = rq;
    if ((r = sam_ra_authorize(rq, refused)) != QS_OK)
        return r;

    sam_ca_view v;
    sam_ca_acquire(ca, &v);
    bool has_cred = qs_sam_msg_get_str(rq->msg, QS_SAM_T_CREDENTIAL_ID, NULL) != NULL;
    bool has_user = qs_sam_msg_get_str(rq->msg, QS_SAM_T_USER_ID, NULL) != NULL;
    uint32_t wire_alg = 0;
    bool has_alg = qs_sam_msg_get_u32(rq->msg, QS_SAM_T_KEY_ALG, &wire_alg);
    if (!v.active) {
        c.reason = "ca_not_active";
        r = sam_fail(rq, QS_ERR_CA_NOT_READY, NULL);
        goto out;
    }
    if (!v.profiles_ready) {
        c.reason = "ca_not_configured";
        r = sam_fail(rq, QS_ERR_CONFIG,
                     "[ca] pds_url, ca_issuers_url, ocsp_url and crl_url must be set to issue");
        goto out;
    }
    if (has_cred == (has_user || has_alg) || (has_user != has_alg)) {
        c.reason = "request_shape";
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT,
                     "either CREDENTIAL_ID, or USER_ID with KEY_ALG for a new key");
        goto out;
    }
    c.new_key = !has_cred;
    if (c.new_key) {
        if ((r = sam_req_uuid(rq, QS_SAM_T_USER_ID, "user id", refused, c.user_id)) != QS_OK)
            goto out_quiet;
        if (!sam_key_alg_from_wire(wire_alg, &alg)) {
            c.reason = "key_alg";
            r = sam_fail(rq, QS_ERR_UNSUPPORTED, "unknown key algorithm");
            goto out;
        }
    } else if ((r = sam_req_uuid(rq, QS_SAM_T_CREDENTIAL_ID, "credential id", refused,
                                 c.cred_id)) != QS_OK) {
        goto out_quiet;
    }
    if ((c.cred = qs_secret_alloc(sizeof *c.cred)) == NULL ||
        (c.ev = malloc(sizeof *c.ev)) == NULL || (c.cert = malloc(sizeof *c.cert)) == NULL) {
        r = sam_fail(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }
    memset(c.cred, 0, sizeof *c.cred);
    r = qs_db_run_txn_opt(rq->w->db, "issue_check", QS_DB_TXN_READ_ONLY, check_txn, &c);
    if (r != QS_OK) {
        sam_fail(rq, r,
                 r == QS_ERR_NOT_FOUND             ? "unknown credential or user"
                 : r == QS_ERR_EXISTS              ? "the credential has a certificate already"
                 : r == QS_ERR_MAC                 ? "a stored record failed its integrity check"
                 : r == QS_ERR_CREDENTIAL_DISABLED ? "the credential is not enabled"
                 : c.reason != NULL && strcmp(c.reason, "no_identity_evidence") == 0
                     ? "the signer has no identity evidence"
                 : c.reason != NULL && strcmp(c.reason, "not_a_signer") == 0
                     ? "certificates are for signers only"
                     : NULL);
        if (c.reason == NULL)
            c.reason = "database_error";
        goto out;
    }

    const char *profile_name = qs_sam_msg_get_str(rq->msg, QS_SAM_T_PROFILE, NULL);
    if (profile_name == NULL)
        profile_name = c.ev->profile;
    const ca_profile *profile = sam_ca_profile(&v, profile_name);
    if (profile == NULL) {
        c.reason = "unknown_profile";
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT, "profile: qcp-n-qscd or qcp-l-qscd");
        goto out;
    }
    ca_subject subj = {
        .kind = strcmp(c.ev->profile, "qcp-l-qscd") == 0 ? CA_KIND_LEGAL : CA_KIND_NATURAL,
        .country = opt(c.ev->country),
        .common_name = opt(c.ev->common_name),
        .given_name = opt(c.ev->given_name),
        .surname = opt(c.ev->surname),
        .pseudonym = opt(c.ev->pseudonym),
        .serial_number = opt(c.ev->serial_number),
        .organization = opt(c.ev->organization),
        .organization_id = opt(c.ev->organization_id),
    };

    if (c.new_key) {
        if ((r = qs_hsm_generate_signer_key(rq->w->hs, alg, &kp)) != QS_OK) {
            c.reason = "key_generation";
            sam_fail(rq, r, NULL);
            goto out;
        }
        if (kp.spki_len > sizeof c.cred->spki || kp.wrapped_len > sizeof c.cred->wrapped_key) {
            qs_bug("generated key: SPKI %zu bytes, wrapped key %zu bytes", kp.spki_len,
                   kp.wrapped_len);
            c.reason = "key_generation";
            r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
            goto out;
        }
        sam_uuid_new(c.cred_id);
        memcpy(c.cred->id, c.cred_id, sizeof c.cred->id);
        memcpy(c.cred->user_id, c.user_id, sizeof c.cred->user_id);
        snprintf(c.cred->key_alg, sizeof c.cred->key_alg, "%s", sam_key_alg_db_name(alg));
        memcpy(c.cred->spki, kp.spki, kp.spki_len);
        c.cred->spki_len = kp.spki_len;
        c.cred->has_wrapped_key = true;
        memcpy(c.cred->wrapped_key, kp.wrapped, kp.wrapped_len);
        c.cred->wrapped_key_len = kp.wrapped_len;
        snprintf(c.cred->status, sizeof c.cred->status, "%s", QS_DB_CRED_ENABLED);
        qs_rec rec = qs_rec_credential(c.cred);
        if ((r = qs_rec_mac(rq->w->hs, &rec, c.cred->record_mac)) != QS_OK) {
            c.reason = "hsm_error";
            sam_fail(rq, r, NULL);
            goto out;
        }
    } else if (!sam_key_alg_from_db(c.cred->key_alg, &alg)) {
        qs_bug("stored key algorithm not known");
        r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
        goto out;
    }

    if ((r = prove_possession(rq, c.cred, alg, &subj, &why)) != QS_OK) {
        c.reason = "proof_of_possession";
        why_set = r == QS_ERR_INVALID_ARGUMENT || r == QS_ERR_PARSE;
        snprintf(msg, sizeof msg, "proof of possession failed: %s",
                 why_set ? why.text : qs_err_str(r));
        sam_fail(rq, r == QS_ERR_PARSE ? QS_ERR_INVALID_ARGUMENT : r, msg);
        goto out;
    }
    ca_issue_params ip = {
        .profile = profile,
        .subject = &subj,
        .spki = c.cred->spki,
        .spki_len = c.cred->spki_len,
        .ca_cert = v.ca_cert,
        .ca_key = v.ca_key,
        .urls = v.urls,
    };
    if ((r = ca_issue(&ip, &iss, &why)) != QS_OK) {
        c.reason = "profile";
        why_set = r == QS_ERR_INVALID_ARGUMENT;
        snprintf(msg, sizeof msg, "%s%s%s", why.field, why.field[0] != '\0' ? ": " : "",
                 why_set ? why.text : qs_err_str(r));
        sam_fail(rq, r, msg);
        goto out;
    }
    if ((r = fill_row(&c, &iss, profile->name)) != QS_OK) {
        c.reason = "encoding";
        sam_fail(rq, r, NULL);
        goto out;
    }
    qs_rec crec = qs_rec_certificate(c.cert);
    if ((r = qs_rec_mac(rq->w->hs, &crec, c.cert->record_mac)) != QS_OK) {
        c.reason = "hsm_error";
        sam_fail(rq, r, NULL);
        goto out;
    }
    if ((r = qs_db_run_txn(rq->w->db, "issue_store", store_txn, &c)) != QS_OK) {
        if (c.reason == NULL)
            c.reason = "database_error";
        sam_fail(rq, r, r == QS_ERR_EXISTS ? "the credential has a certificate already" : NULL);
        goto out;
    }

    if (c.new_key && (r = audit_new_credential(rq, &c)) != QS_OK) {
        sam_fail(rq, r, "certificate stored, but its audit record failed");
        goto out;
    }
    char serial[SAM_SERIAL_HEX_MAX], eid[SAM_UUID_STR_LEN + 1];
    uint8_t fp[crypto_hash_sha256_BYTES];
    sam_hex(iss.serial, iss.serial_len, serial);
    sam_uuid_format(c.ev->id, eid);
    crypto_hash_sha256(fp, iss.der, iss.der_len);
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "serial", serial);
    sam_json_str(&j, "profile", profile->name);
    sam_json_str(&j, "evidence_id", eid);
    sam_json_int(&j, "not_after", (int64_t)iss.not_after);
    sam_json_hex(&j, "certificate_sha256", fp, sizeof fp);
    sam_json_str(&j, "proof_of_possession", "pkcs10");
    const char *details = sam_json_finish(&j);
    r = details == NULL
            ? QS_ERR_NOMEM
            : sam_audit(rq, "cert.issued", true, c.user_id, c.cred_id, NULL, details, NULL);
    sam_json_free(&j);
    if (r != QS_OK) {
        sam_fail(rq, r, "certificate stored, but its audit record failed");
        goto out;
    }
    char id[SAM_UUID_STR_LEN + 1];
    sam_uuid_format(c.cred_id, id);
    if ((r = sam_resp_begin(rq)) != QS_OK)
        goto out;
    if (qs_sam_msg_put_str(rq->resp, QS_SAM_T_CREDENTIAL_ID, id) != QS_OK ||
        qs_sam_msg_put_bytes(rq->resp, QS_SAM_T_CERT, iss.der, iss.der_len) != QS_OK ||
        qs_sam_msg_put_bytes(rq->resp, QS_SAM_T_CERT_SERIAL, iss.serial, iss.serial_len) != QS_OK) {
        r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
        goto out;
    }
    qs_info("certificate %s issued for credential %s (%s)", serial, id, profile->name);
    r = QS_OK;
out:
    if (r != QS_OK && c.reason != NULL) {
        sam_json j2;
        sam_json_init(&j2);
        sam_json_str(&j2, "reason", c.reason);
        sam_json_str(&j2, "error", qs_err_name(rq->err));
        if (why_set) {
            sam_json_str(&j2, "rule", ca_reason_name(why.reason));
            sam_json_str(&j2, "field", why.field);
            sam_json_str(&j2, "text", why.text);
        }
        const char *d2 = sam_json_finish(&j2);
        static const uint8_t none[QS_DB_SAM_UUID_LEN] = {0};
        bool user_known = memcmp(c.user_id, none, sizeof none) != 0;
        if (d2 != NULL)
            (void)sam_audit(rq, refused, false, user_known ? c.user_id : NULL,
                            c.new_key ? NULL : c.cred_id, NULL, d2, NULL);
        sam_json_free(&j2);
    }
out_quiet:
    sam_ca_release(ca);
    ca_issued_clear(&iss);
    qs_hsm_keypair_clear(&kp);
    qs_secret_free(c.cred);
    free(c.ev);
    free(c.cert);
    return r;
}
