/*
 * Issuing end-entity certificates: inputs validated, certificate built, checked against its
 * profile, and only then signed by the CA key (wherever that key lives).
 */
#define QS_LOG_MODULE "ca"

#include "ca/ca_internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"

static POLICYINFO *policy_new(const char *oid, const char *cps_uri)
{
    POLICYINFO *pi = POLICYINFO_new();
    if (pi == NULL)
        return NULL;
    ASN1_OBJECT_free(pi->policyid);
    pi->policyid = ca_oid_new(oid);
    if (pi->policyid == NULL)
        goto fail;
    if (cps_uri != NULL) {
        POLICYQUALINFO *q = POLICYQUALINFO_new();
        if (q == NULL)
            goto fail;
        ASN1_OBJECT_free(q->pqualid);
        q->pqualid = OBJ_nid2obj(NID_id_qt_cps);
        q->d.cpsuri = ASN1_IA5STRING_new();
        pi->qualifiers = sk_POLICYQUALINFO_new_null();
        if (q->d.cpsuri == NULL || pi->qualifiers == NULL ||
            ASN1_STRING_set(q->d.cpsuri, cps_uri, (int)strlen(cps_uri)) != 1 ||
            sk_POLICYQUALINFO_push(pi->qualifiers, q) <= 0) {
            POLICYQUALINFO_free(q);
            goto fail;
        }
    }
    return pi;
fail:
    POLICYINFO_free(pi);
    return NULL;
}

static qs_err add_policies(X509 *x, const ca_profile *p, ca_why *why)
{
    CERTIFICATEPOLICIES *cps = sk_POLICYINFO_new_null();
    POLICYINFO *qcp = policy_new(p->policy_oid, NULL);
    POLICYINFO *tsp = p->tsp_policy_oid != NULL ? policy_new(p->tsp_policy_oid, p->cps_uri) : NULL;
    qs_err r;
    if (cps == NULL || qcp == NULL || (p->tsp_policy_oid != NULL && tsp == NULL) ||
        sk_POLICYINFO_push(cps, qcp) <= 0) {
        POLICYINFO_free(qcp);
        POLICYINFO_free(tsp);
        r = ca_ossl_fail(why, "certificatePolicies");
        goto out;
    }
    if (tsp != NULL && sk_POLICYINFO_push(cps, tsp) <= 0) {
        POLICYINFO_free(tsp);
        r = ca_ossl_fail(why, "certificatePolicies");
        goto out;
    }
    r = ca_add_ext(x, NID_certificate_policies, cps, false, why);
out:
    CERTIFICATEPOLICIES_free(cps);
    return r;
}

static bool push_access(AUTHORITY_INFO_ACCESS *aia, int method, const char *url)
{
    ACCESS_DESCRIPTION *ad = ACCESS_DESCRIPTION_new();
    GENERAL_NAME *gn = ca_gn_uri(url);
    if (ad == NULL || gn == NULL) {
        ACCESS_DESCRIPTION_free(ad);
        GENERAL_NAME_free(gn);
        return false;
    }
    ASN1_OBJECT_free(ad->method);
    ad->method = OBJ_nid2obj(method);
    GENERAL_NAME_free(ad->location);
    ad->location = gn;
    if (sk_ACCESS_DESCRIPTION_push(aia, ad) <= 0) {
        ACCESS_DESCRIPTION_free(ad);
        return false;
    }
    return true;
}

static qs_err add_aia(X509 *x, const ca_urls *u, ca_why *why)
{
    AUTHORITY_INFO_ACCESS *aia = sk_ACCESS_DESCRIPTION_new_null();
    qs_err r;
    if (aia == NULL || !push_access(aia, NID_ad_ca_issuers, u->ca_issuers) ||
        !push_access(aia, NID_ad_OCSP, u->ocsp))
        r = ca_ossl_fail(why, "authorityInfoAccess");
    else
        r = ca_add_ext(x, NID_info_access, aia, false, why);
    AUTHORITY_INFO_ACCESS_free(aia);
    return r;
}

static qs_err add_crldp(X509 *x, const char *url, ca_why *why)
{
    CRL_DIST_POINTS *dps = sk_DIST_POINT_new_null();
    DIST_POINT *dp = DIST_POINT_new();
    GENERAL_NAME *gn = ca_gn_uri(url);
    qs_err r;
    if (dps == NULL || dp == NULL || gn == NULL)
        goto fail;
    dp->distpoint = DIST_POINT_NAME_new();
    if (dp->distpoint == NULL)
        goto fail;
    dp->distpoint->type = 0;
    dp->distpoint->name.fullname = GENERAL_NAMES_new();
    if (dp->distpoint->name.fullname == NULL ||
        sk_GENERAL_NAME_push(dp->distpoint->name.fullname, gn) <= 0)
        goto fail;
    gn = NULL;
    if (sk_DIST_POINT_push(dps, dp) <= 0)
        goto fail;
    dp = NULL;
    r = ca_add_ext(x, NID_crl_distribution_points, dps, false, why);
    CRL_DIST_POINTS_free(dps);
    return r;
fail:
    GENERAL_NAME_free(gn);
    DIST_POINT_free(dp);
    CRL_DIST_POINTS_free(dps);
    return ca_ossl_fail(why, "cRLDistributionPoints");
}

static qs_err add_qc(X509 *x, const ca_profile *p, ca_why *why)
{
    ca_qc_info qi;
    uint8_t *der = NULL;
    size_t len = 0;
    ca_qc_info_for_profile(p, &qi);
    qs_err r = ca_qc_encode(&qi, &der, &len);
    if (r != QS_OK)
        return ca_refuse(why, r, CA_R_BAD_PROFILE, "qcStatements",
                         "qcStatements of the profile do not encode");
    r = ca_add_ext_raw(x, CA_OID_QC_STATEMENTS, der, len, false, why);
    free(der);
    return r;
}

static qs_err add_ee_basics(X509 *x, ca_why *why)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    qs_err r;
    if (bc == NULL || ku == NULL || ASN1_BIT_STRING_set_bit(ku, 1, 1) != 1) {
        r = ca_ossl_fail(why, "basicConstraints/keyUsage");
        goto out;
    }
    bc->ca = 0;
    r = ca_add_ext(x, NID_basic_constraints, bc, true, why);
    if (r == QS_OK)
        r = ca_add_ext(x, NID_key_usage, ku, true, why);
out:
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING_free(ku);
    return r;
}

static qs_err check_urls(const ca_urls *u, ca_why *why)
{
    if (u == NULL)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_MISSING, "urls", "no URLs given");
    if (!ca_url_ok(u->ca_issuers, CA_URL_HTTP))
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_URL, "urls.ca_issuers",
                         "caIssuers must be an http URL");
    if (!ca_url_ok(u->ocsp, CA_URL_HTTP))
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_URL, "urls.ocsp",
                         "OCSP must be an http URL");
    if (!ca_url_ok(u->crl, CA_URL_HTTP))
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_URL, "urls.crl",
                         "CRL distribution point must be an http URL");
    return QS_OK;
}

qs_err ca_issue(const ca_issue_params *p, ca_issued *out, ca_why *why)
{
    X509 *x = NULL;
    X509_NAME *subject = NULL;
    EVP_PKEY *pub = NULL;
    ASN1_INTEGER *serial = NULL;
    qs_err r;

    memset(out, 0, sizeof *out);
    ca_why_clear(why);
    if (p == NULL || p->profile == NULL || p->subject == NULL)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_MISSING, "profile",
                         "profile and subject are required");
    if ((r = ca_profile_validate(p->profile, why)) != QS_OK)
        return r;
    if ((r = ca_subject_to_name(p->subject, &subject, why)) != QS_OK)
        goto out;
    if (p->subject->kind != p->profile->kind) {
        r = ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_PROFILE_MISMATCH, "subject.kind",
                      "subject kind does not match profile %s",
                      p->profile->name != NULL ? p->profile->name : "?");
        goto out;
    }
    if ((r = check_urls(p->urls, why)) != QS_OK ||
        (r = ca_spki_parse(p->spki, p->spki_len, &pub, why)) != QS_OK ||
        (r = ca_issuer_ok(p->ca_cert, p->ca_key, KU_KEY_CERT_SIGN, why)) != QS_OK)
        goto out;

    x = X509_new();
    if (x == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    if ((r = ca_serial_new(&serial, why)) != QS_OK)
        goto out;
    if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_serialNumber(x, serial) != 1 ||
        X509_set_issuer_name(x, X509_get_subject_name(p->ca_cert)) != 1 ||
        X509_set_subject_name(x, subject) != 1 || X509_set_pubkey(x, pub) != 1) {
        r = ca_ossl_fail(why, "certificate fields");
        goto out;
    }
    if ((r = ca_set_validity(x, p->ca_cert, ca_now(p->now), p->profile->validity_days, why)) !=
            QS_OK ||
        (r = add_ee_basics(x, why)) != QS_OK || (r = add_policies(x, p->profile, why)) != QS_OK ||
        (r = ca_add_key_ids(x, p->ca_cert, why)) != QS_OK ||
        (r = add_aia(x, p->urls, why)) != QS_OK || (r = add_crldp(x, p->urls->crl, why)) != QS_OK ||
        (r = add_qc(x, p->profile, why)) != QS_OK)
        goto out;

    r = ca_profile_check(x, p->profile, why);
    if (r != QS_OK) {
        qs_warn("certificate refused by the profile check: profile=%s field=%s reason=\"%s\"",
                p->profile->name != NULL ? p->profile->name : "?", why != NULL ? why->field : "?",
                why != NULL ? why->text : "?");
        goto out;
    }
    r = ca_sign_and_encode(x, p->ca_key, X509_get0_pubkey(p->ca_cert), out, why);
out:
    ASN1_INTEGER_free(serial);
    EVP_PKEY_free(pub);
    X509_NAME_free(subject);
    X509_free(x);
    return r;
}
