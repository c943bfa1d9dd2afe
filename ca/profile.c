/*
 * End-entity certificate profiles and the profile check every certificate passes before it is
 * signed.  ca_profile_validate checks a profile's syntax; the compliance rules (EN 319 411-2,
 * EN 319 412-2/-3/-5) live in ca_profile_check, which reads the built certificate itself, so a
 * broken profile or a bug in the builder cannot produce a signed certificate that breaks them.
 */
#include "ca/ca_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_VALIDITY_DAYS 365

qs_err ca_profile_defaults(const char *name, ca_profile *p, ca_why *why)
{
    ca_why_clear(why);
    memset(p, 0, sizeof *p);
    if (name != NULL && strcmp(name, "qcp-n-qscd") == 0) {
        p->kind = CA_KIND_NATURAL;
        p->name = "qcp-n-qscd";
        p->policy_oid = CA_OID_QCP_N_QSCD;
        p->qc_type = CA_QC_TYPE_ESIGN;
    } else if (name != NULL && strcmp(name, "qcp-l-qscd") == 0) {
        p->kind = CA_KIND_LEGAL;
        p->name = "qcp-l-qscd";
        p->policy_oid = CA_OID_QCP_L_QSCD;
        p->qc_type = CA_QC_TYPE_ESEAL;
    } else {
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_UNKNOWN_PROFILE, "profile",
                         "unknown certificate profile (qcp-n-qscd or qcp-l-qscd)");
    }
    p->validity_days = DEFAULT_VALIDITY_DAYS;
    return QS_OK;
}

static bool lang_ok(const char *s)
{
    return s != NULL && strlen(s) == 2 && s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z';
}

qs_err ca_profile_validate(const ca_profile *p, ca_why *why)
{
    if (p == NULL || (p->kind != CA_KIND_NATURAL && p->kind != CA_KIND_LEGAL))
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_UNKNOWN_PROFILE, "profile.kind",
                         "profile is neither for natural nor for legal persons");
    if (!ca_oid_syntax_ok(p->policy_oid))
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_PROFILE, "profile.policy_oid",
                         "policy OID missing or malformed");
    if (p->qc_type != CA_QC_TYPE_ESIGN && p->qc_type != CA_QC_TYPE_ESEAL &&
        p->qc_type != CA_QC_TYPE_WEB)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_PROFILE, "profile.qc_type",
                         "unknown QcType");
    if (p->tsp_policy_oid != NULL && !ca_oid_syntax_ok(p->tsp_policy_oid))
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_PROFILE, "profile.tsp_policy_oid",
                         "provider policy OID malformed");
    if (p->cps_uri != NULL && p->tsp_policy_oid == NULL)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_PROFILE, "profile.cps_uri",
                         "a CPS URI needs the provider's own policy OID");
    if (p->cps_uri != NULL && !ca_url_ok(p->cps_uri, CA_URL_HTTP | CA_URL_HTTPS))
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_URL, "profile.cps_uri",
                         "CPS URI is not an http or https URL");
    if (p->pds_count == 0 || p->pds_count > CA_PDS_MAX)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_PROFILE, "profile.pds",
                         "1..%d PDS locations required", CA_PDS_MAX);
    for (size_t i = 0; i < p->pds_count; i++) {
        if (!ca_url_ok(p->pds[i].url, CA_URL_HTTP | CA_URL_HTTPS))
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_URL, "profile.pds.url",
                             "PDS location %zu is not a URL", i + 1);
        if (!lang_ok(p->pds[i].lang))
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_PROFILE, "profile.pds.lang",
                             "PDS location %zu language is not a two-letter ISO 639-1 code", i + 1);
    }
    if (p->retention_years > 1000)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_PROFILE, "profile.retention_years",
                         "retention period over 1000 years");
    if (p->cc_count > CA_CC_MAX)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_PROFILE, "profile.cc_legislation",
                         "more than %d QcCClegislation countries", CA_CC_MAX);
    for (size_t i = 0; i < p->cc_count; i++)
        if (!ca_country_valid(p->cc_legislation[i]))
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_COUNTRY,
                             "profile.cc_legislation",
                             "QcCClegislation entry %zu is not an ISO 3166-1 code", i + 1);
    if (p->validity_days == 0 || p->validity_days > CA_DAYS_MAX)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_VALIDITY, "profile.validity_days",
                         "validity of 1..%d days required", CA_DAYS_MAX);
    return QS_OK;
}

void ca_qc_info_for_profile(const ca_profile *p, ca_qc_info *qi)
{
    memset(qi, 0, sizeof *qi);
    qi->compliance = true;
    qi->sscd = true;
    qi->type_count = 1;
    qi->types[0] = p->qc_type;
    qi->pds_count = p->pds_count;
    for (size_t i = 0; i < p->pds_count && i < CA_PDS_MAX; i++) {
        snprintf(qi->pds[i].url, sizeof qi->pds[i].url, "%s", p->pds[i].url);
        snprintf(qi->pds[i].lang, sizeof qi->pds[i].lang, "%s", p->pds[i].lang);
    }
    qi->has_retention = p->retention_years > 0;
    qi->retention_years = (long)p->retention_years;
    qi->cc_count = p->cc_count;
    for (size_t i = 0; i < p->cc_count && i < CA_CC_MAX; i++)
        snprintf(qi->cc[i], sizeof qi->cc[i], "%s", p->cc_legislation[i]);
    qi->semantics = p->kind == CA_KIND_NATURAL ? CA_SEMANTICS_NATURAL : CA_SEMANTICS_LEGAL;
}

/* ---- the check ---------------------------------------------------------------------------- */

#define REFUSE(field, ...)                                                                         \
    ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_PROFILE_CHECK, (field), __VA_ARGS__)

typedef enum ext_id {
    EXT_BASIC_CONSTRAINTS,
    EXT_KEY_USAGE,
    EXT_POLICIES,
    EXT_AKI,
    EXT_SKI,
    EXT_AIA,
    EXT_CRLDP,
    EXT_QC,
    EXT_COUNT
} ext_id;

static const struct {
    const char *oid;
    const char *name;
    bool critical;
} required_exts[EXT_COUNT] = {
    [EXT_BASIC_CONSTRAINTS] = {"2.5.29.19", "basicConstraints", true},
    [EXT_KEY_USAGE] = {"2.5.29.15", "keyUsage", true},
    [EXT_POLICIES] = {"2.5.29.32", "certificatePolicies", false},
    [EXT_AKI] = {"2.5.29.35", "authorityKeyIdentifier", false},
    [EXT_SKI] = {"2.5.29.14", "subjectKeyIdentifier", false},
    [EXT_AIA] = {"1.3.6.1.5.5.7.1.1", "authorityInfoAccess", false},
    [EXT_CRLDP] = {"2.5.29.31", "cRLDistributionPoints", false},
    [EXT_QC] = {CA_OID_QC_STATEMENTS, "qcStatements", false},
};

static const struct {
    const char *oid;
    const char *name;
} forbidden_exts[] = {
    {"2.5.29.33", "policyMappings"},
    {"2.5.29.30", "nameConstraints"},
    {"2.5.29.36", "policyConstraints"},
    {"2.5.29.54", "inhibitAnyPolicy"},
};

/* Finds each required extension exactly once with its criticality; refuses all others. */
static qs_err check_ext_set(X509 *x, X509_EXTENSION *found[EXT_COUNT], ca_why *why)
{
    int n = X509_get_ext_count(x);
    for (int i = 0; i < n; i++) {
        X509_EXTENSION *e = X509_get_ext(x, i);
        char oid[CA_OID_MAX + 1];
        if (!ca_oid_text(X509_EXTENSION_get_object(e), oid, sizeof oid))
            return REFUSE("extensions", "extension with an unreadable OID");
        for (size_t f = 0; f < sizeof forbidden_exts / sizeof forbidden_exts[0]; f++)
            if (strcmp(oid, forbidden_exts[f].oid) == 0)
                return REFUSE(forbidden_exts[f].name,
                              "%s is forbidden in a qualified certificate (EN 319 412-2)",
                              forbidden_exts[f].name);
        size_t k = 0;
        while (k < EXT_COUNT && strcmp(oid, required_exts[k].oid) != 0)
            k++;
        if (k == EXT_COUNT)
            return REFUSE("extensions", "extension %s is not part of the profile", oid);
        if (found[k] != NULL)
            return REFUSE(required_exts[k].name, "%s appears twice", required_exts[k].name);
        bool crit = X509_EXTENSION_get_critical(e) != 0;
        if (crit != required_exts[k].critical)
            return REFUSE(required_exts[k].name, "%s must %sbe critical", required_exts[k].name,
                          required_exts[k].critical ? "" : "not ");
        found[k] = e;
    }
    for (size_t k = 0; k < EXT_COUNT; k++)
        if (found[k] == NULL)
            return REFUSE(required_exts[k].name, "%s is missing", required_exts[k].name);
    return QS_OK;
}

static qs_err check_basic_constraints(X509_EXTENSION *e, ca_why *why)
{
    BASIC_CONSTRAINTS *bc = X509V3_EXT_d2i(e);
    bool ok = bc != NULL && bc->ca == 0 && bc->pathlen == NULL;
    BASIC_CONSTRAINTS_free(bc);
    return ok ? QS_OK : REFUSE("basicConstraints", "basicConstraints must say cA FALSE");
}

static qs_err check_key_usage(X509_EXTENSION *e, ca_why *why)
{
    ASN1_BIT_STRING *ku = X509V3_EXT_d2i(e);
    bool ok = ku != NULL && ASN1_STRING_length(ku) >= 1 && ASN1_STRING_length(ku) <= 2;
    for (int bit = 0; ok && bit < 16; bit++)
        ok = ASN1_BIT_STRING_get_bit(ku, bit) == (bit == 1);
    ASN1_BIT_STRING_free(ku);
    return ok ? QS_OK : REFUSE("keyUsage", "keyUsage must be nonRepudiation only");
}

static const char *required_policy(ca_kind kind)
{
    return kind == CA_KIND_NATURAL ? CA_OID_QCP_N_QSCD : CA_OID_QCP_L_QSCD;
}

static qs_err check_policy_qualifiers(const POLICYINFO *pi, const char *cps_uri, ca_why *why)
{
    int nq = pi->qualifiers != NULL ? sk_POLICYQUALINFO_num(pi->qualifiers) : 0;
    if (cps_uri == NULL)
        return nq == 0 ? QS_OK : REFUSE("certificatePolicies", "unexpected policy qualifiers");
    if (nq != 1)
        return REFUSE("certificatePolicies", "the provider policy needs exactly its CPS URI");
    const POLICYQUALINFO *q = sk_POLICYQUALINFO_value(pi->qualifiers, 0);
    if (OBJ_obj2nid(q->pqualid) != NID_id_qt_cps ||
        ASN1_STRING_length(q->d.cpsuri) != (int)strlen(cps_uri) ||
        memcmp(ASN1_STRING_get0_data(q->d.cpsuri), cps_uri, strlen(cps_uri)) != 0)
        return REFUSE("certificatePolicies", "CPS URI differs from the profile's");
    return QS_OK;
}

static qs_err check_policies(X509_EXTENSION *e, const ca_profile *p, ca_why *why)
{
    static const char arc[] = CA_OID_EN319411_2_ARC ".";
    CERTIFICATEPOLICIES *cps = X509V3_EXT_d2i(e);
    qs_err r = QS_OK;
    if (cps == NULL) {
        r = REFUSE("certificatePolicies", "certificatePolicies does not decode");
        goto out;
    }
    int n = sk_POLICYINFO_num(cps), in_arc = 0;
    bool seen_tsp = false;
    for (int i = 0; i < n && r == QS_OK; i++) {
        const POLICYINFO *pi = sk_POLICYINFO_value(cps, i);
        char oid[CA_OID_MAX + 1];
        if (!ca_oid_text(pi->policyid, oid, sizeof oid)) {
            r = REFUSE("certificatePolicies", "unreadable policy OID");
        } else if (strcmp(oid, CA_OID_ANY_POLICY) == 0) {
            r = REFUSE("certificatePolicies", "anyPolicy has no place in an end-entity "
                                              "certificate");
        } else if (strncmp(oid, arc, sizeof arc - 1) == 0) {
            in_arc++;
            if (in_arc > 1)
                r = REFUSE("certificatePolicies",
                           "more than one EN 319 411-2 policy (exactly one allowed)");
            else if (strcmp(oid, required_policy(p->kind)) != 0)
                r = REFUSE("certificatePolicies", "%s certificate needs policy %s, not %s",
                           p->kind == CA_KIND_NATURAL ? "a natural-person" : "a legal-person",
                           required_policy(p->kind), oid);
            else if (strcmp(oid, p->policy_oid) != 0)
                r = REFUSE("certificatePolicies", "policy differs from the profile's");
            else
                r = check_policy_qualifiers(pi, NULL, why);
        } else if (p->tsp_policy_oid != NULL && strcmp(oid, p->tsp_policy_oid) == 0 && !seen_tsp) {
            seen_tsp = true;
            r = check_policy_qualifiers(pi, p->cps_uri, why);
        } else {
            r = REFUSE("certificatePolicies", "policy %s is not part of the profile", oid);
        }
    }
    if (r == QS_OK && in_arc == 0)
        r = REFUSE("certificatePolicies", "no EN 319 411-2 policy");
    if (r == QS_OK && p->tsp_policy_oid != NULL && !seen_tsp)
        r = REFUSE("certificatePolicies", "the provider's policy is missing");
out:
    CERTIFICATEPOLICIES_free(cps);
    return r;
}

static qs_err check_key_ids(X509 *x, X509_EXTENSION *aki_ext, X509_EXTENSION *ski_ext, ca_why *why)
{
    AUTHORITY_KEYID *aki = X509V3_EXT_d2i(aki_ext);
    bool aki_ok = aki != NULL && aki->keyid != NULL && ASN1_STRING_length(aki->keyid) > 0;
    AUTHORITY_KEYID_free(aki);
    if (!aki_ok)
        return REFUSE("authorityKeyIdentifier", "authorityKeyIdentifier needs a key identifier");
    ASN1_OCTET_STRING *ski = X509V3_EXT_d2i(ski_ext);
    ASN1_OCTET_STRING *want = ca_key_id(X509_get_X509_PUBKEY(x));
    bool ski_ok = ski != NULL && want != NULL && ASN1_OCTET_STRING_cmp(ski, want) == 0;
    ASN1_OCTET_STRING_free(ski);
    ASN1_OCTET_STRING_free(want);
    return ski_ok ? QS_OK
                  : REFUSE("subjectKeyIdentifier", "subjectKeyIdentifier is not the key's hash");
}

static bool uri_of(const GENERAL_NAME *gn, char *buf, size_t cap)
{
    if (gn == NULL || gn->type != GEN_URI)
        return false;
    int n = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
    const unsigned char *d = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
    if (n <= 0 || (size_t)n >= cap || memchr(d, '\0', (size_t)n) != NULL)
        return false;
    memcpy(buf, d, (size_t)n);
    buf[n] = '\0';
    return true;
}

static qs_err check_aia(X509_EXTENSION *e, ca_why *why)
{
    AUTHORITY_INFO_ACCESS *aia = X509V3_EXT_d2i(e);
    int ocsp = 0, issuers = 0;
    bool ok = aia != NULL;
    for (int i = 0; ok && i < sk_ACCESS_DESCRIPTION_num(aia); i++) {
        const ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
        char url[CA_URL_MAX + 1];
        int nid = OBJ_obj2nid(ad->method);
        ok = uri_of(ad->location, url, sizeof url) && ca_url_ok(url, CA_URL_HTTP) &&
             (nid == NID_ad_OCSP || nid == NID_ad_ca_issuers);
        ocsp += nid == NID_ad_OCSP;
        issuers += nid == NID_ad_ca_issuers;
    }
    AUTHORITY_INFO_ACCESS_free(aia);
    if (!ok)
        return REFUSE("authorityInfoAccess", "authorityInfoAccess holds something other than "
                                             "http caIssuers and OCSP URLs");
    if (ocsp == 0 || issuers == 0)
        return REFUSE("authorityInfoAccess", "authorityInfoAccess needs caIssuers and OCSP");
    return QS_OK;
}

static qs_err check_crldp(X509_EXTENSION *e, ca_why *why)
{
    CRL_DIST_POINTS *dps = X509V3_EXT_d2i(e);
    int n = dps != NULL ? sk_DIST_POINT_num(dps) : 0;
    bool ok = n >= 1;
    for (int i = 0; ok && i < n; i++) {
        const DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
        ok = dp->reasons == NULL && dp->CRLissuer == NULL && dp->distpoint != NULL &&
             dp->distpoint->type == 0 && sk_GENERAL_NAME_num(dp->distpoint->name.fullname) >= 1;
        for (int j = 0; ok && j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname); j++) {
            char url[CA_URL_MAX + 1];
            ok = uri_of(sk_GENERAL_NAME_value(dp->distpoint->name.fullname, j), url, sizeof url) &&
                 ca_url_ok(url, CA_URL_HTTP);
        }
    }
    CRL_DIST_POINTS_free(dps);
    return ok ? QS_OK
              : REFUSE("cRLDistributionPoints", "cRLDistributionPoints must be http URLs only");
}

/* Field-by-field equality of two decoded qcStatements. */
static bool qc_equal(const ca_qc_info *a, const ca_qc_info *b)
{
    if (a->compliance != b->compliance || a->sscd != b->sscd || a->type_count != b->type_count ||
        a->pds_count != b->pds_count || a->has_retention != b->has_retention ||
        a->semantics != b->semantics || a->cc_count != b->cc_count || a->unknown != b->unknown)
        return false;
    if (a->has_retention && a->retention_years != b->retention_years)
        return false;
    for (size_t i = 0; i < a->type_count; i++)
        if (a->types[i] != b->types[i])
            return false;
    for (size_t i = 0; i < a->pds_count; i++)
        if (strcmp(a->pds[i].url, b->pds[i].url) != 0 ||
            strcmp(a->pds[i].lang, b->pds[i].lang) != 0)
            return false;
    for (size_t i = 0; i < a->cc_count; i++)
        if (strcmp(a->cc[i], b->cc[i]) != 0)
            return false;
    return true;
}

static qs_err check_qc(X509_EXTENSION *e, const ca_profile *p, ca_why *why)
{
    ca_qc_info got, want;
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(e);
    if (ca_qc_decode(ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v), &got) != QS_OK)
        return REFUSE("qcStatements", "qcStatements does not decode");
    ca_qc_type kind_type = p->kind == CA_KIND_NATURAL ? CA_QC_TYPE_ESIGN : CA_QC_TYPE_ESEAL;
    ca_semantics kind_sem = p->kind == CA_KIND_NATURAL ? CA_SEMANTICS_NATURAL : CA_SEMANTICS_LEGAL;
    ca_qc_info_for_profile(p, &want);
    if (!got.compliance)
        return REFUSE("qcStatements.QcCompliance", "QcCompliance is missing");
    if (!got.sscd)
        return REFUSE("qcStatements.QcSSCD", "QcSSCD is missing");
    if (got.type_count != 1 || got.types[0] != kind_type)
        return REFUSE("qcStatements.QcType", "QcType must be exactly %s for this kind of subject",
                      kind_type == CA_QC_TYPE_ESIGN ? "esign" : "eseal");
    if (got.semantics != kind_sem)
        return REFUSE("qcStatements.semantics", "semantics identifier must be the %s one",
                      p->kind == CA_KIND_NATURAL ? "natural-person" : "legal-person");
    if (got.pds_count == 0)
        return REFUSE("qcStatements.QcPDS", "QcPDS is missing");
    for (size_t i = 0; i < got.pds_count; i++)
        if (!ca_url_ok(got.pds[i].url, CA_URL_HTTPS))
            return REFUSE("qcStatements.QcPDS", "QcPDS location %zu is not an https URL", i + 1);
    if (got.unknown != 0)
        return REFUSE("qcStatements", "qcStatements holds statements outside the profile");
    if (!qc_equal(&got, &want))
        return REFUSE("qcStatements", "qcStatements differ from what the profile asks for");
    return QS_OK;
}

static qs_err check_serial(X509 *x, ca_why *why)
{
    uint8_t serial[CA_SERIAL_MAX];
    size_t len = 0;
    if (!ca_integer_bytes(X509_get0_serialNumber(x), serial, sizeof serial, &len) || len < 8)
        return REFUSE("serialNumber", "certificate serial must be positive, 8..20 octets");
    return QS_OK;
}

static qs_err check_validity(X509 *x, ca_why *why)
{
    time_t nb, na;
    if (!ca_time_get(X509_get0_notBefore(x), &nb) || !ca_time_get(X509_get0_notAfter(x), &na) ||
        na <= nb)
        return REFUSE("validity", "notAfter must follow notBefore");
    return QS_OK;
}

qs_err ca_profile_check(X509 *x, const ca_profile *p, ca_why *why)
{
    ca_why_clear(why);
    qs_err r = ca_profile_validate(p, why);
    if (r != QS_OK)
        return r;
    if (x == NULL)
        return REFUSE("certificate", "no certificate given");
    if (X509_get_version(x) != X509_VERSION_3)
        return REFUSE("version", "certificate must be version 3");
    if ((r = check_serial(x, why)) != QS_OK || (r = check_validity(x, why)) != QS_OK)
        return r;
    if ((r = ca_name_check(X509_get_subject_name(x), p->kind, why)) != QS_OK)
        return r;
    EVP_PKEY *pub = X509_get0_pubkey(x);
    if (pub == NULL || ca_key_accepted(pub, why) != QS_OK)
        return REFUSE("subjectPublicKeyInfo", "subject key is not an accepted key");
    X509_EXTENSION *ext[EXT_COUNT] = {0};
    if ((r = check_ext_set(x, ext, why)) != QS_OK ||
        (r = check_basic_constraints(ext[EXT_BASIC_CONSTRAINTS], why)) != QS_OK ||
        (r = check_key_usage(ext[EXT_KEY_USAGE], why)) != QS_OK ||
        (r = check_policies(ext[EXT_POLICIES], p, why)) != QS_OK ||
        (r = check_key_ids(x, ext[EXT_AKI], ext[EXT_SKI], why)) != QS_OK ||
        (r = check_aia(ext[EXT_AIA], why)) != QS_OK ||
        (r = check_crldp(ext[EXT_CRLDP], why)) != QS_OK ||
        (r = check_qc(ext[EXT_QC], p, why)) != QS_OK)
        return r;
    return QS_OK;
}
