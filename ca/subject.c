/*
 * Certificate subjects: validation of the input fields (EN 319 412-2 for natural persons, EN 319
 * 412-3 for legal persons, EN 319 412-1 semantics identifiers, RFC 5280 upper bounds), the
 * distinguished name built from them, and the same rules applied to a name read back from a
 * certificate.  Refusals name the field and the rule, never the value.
 */
#include "ca/ca_internal.h"

#include <stdlib.h>
#include <string.h>

/* ISO 3166-1 alpha-2, officially assigned codes (249), sorted. */
static const char countries[][3] = {
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
};

static int cmp_cc(const void *a, const void *b)
{
    return strncmp((const char *)a, (const char *)b, 2);
}

bool ca_country_valid(const char *cc)
{
    if (cc == NULL || strlen(cc) != 2)
        return false;
    return bsearch(cc, countries, sizeof countries / sizeof countries[0], sizeof countries[0],
                   cmp_cc) != NULL;
}

/* Characters of PrintableString (X.680): letters, digits, space and '()+,-./:=? */
static bool printable_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr(" '()+,-./:=?", c) != NULL);
}

/*
 * Counts the characters of well-formed UTF-8 (no overlong forms, no surrogates, at most
 * U+10FFFF) without control characters (C0, DEL, C1).  -1 when `s` is not that.
 */
static long utf8_chars(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;
    while (*p != '\0') {
        uint32_t cp;
        size_t len;
        if (p[0] < 0x80) {
            cp = p[0];
            len = 1;
        } else if (p[0] >= 0xc2 && p[0] <= 0xdf) {
            cp = p[0] & 0x1fu;
            len = 2;
        } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
            cp = p[0] & 0x0fu;
            len = 3;
        } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
            cp = p[0] & 0x07u;
            len = 4;
        } else {
            return -1;
        }
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i] & 0x3fu);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return -1;
        p += len;
        n++;
    }
    return n;
}

static bool present(const char *s)
{
    return s != NULL;
}

/* A DirectoryString field: non-empty, well-formed UTF-8, no control characters, no space at
 * either end, at most `ub` characters. */
static qs_err check_utf8(const char *v, const char *field, long ub, ca_why *why)
{
    if (v == NULL || v[0] == '\0')
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_MISSING, field, "%s is required",
                         field);
    long n = utf8_chars(v);
    if (n < 0)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_CHARS, field,
                         "%s is not valid UTF-8 or holds control characters", field);
    size_t bytes = strlen(v);
    if (v[0] == ' ' || v[bytes - 1] == ' ')
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_CHARS, field,
                         "%s starts or ends with a space", field);
    if (n > ub)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_TOO_LONG, field,
                         "%s is longer than %ld characters", field, ub);
    return QS_OK;
}

/* A PrintableString field, same rules otherwise. */
static qs_err check_printable(const char *v, const char *field, long ub, ca_why *why)
{
    if (v == NULL || v[0] == '\0')
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_MISSING, field, "%s is required",
                         field);
    size_t n = strlen(v);
    for (size_t i = 0; i < n; i++)
        if (!printable_char((unsigned char)v[i]))
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_CHARS, field,
                             "%s holds a character outside PrintableString", field);
    if (v[0] == ' ' || v[n - 1] == ' ')
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_CHARS, field,
                         "%s starts or ends with a space", field);
    if ((long)n > ub)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_TOO_LONG, field,
                         "%s is longer than %ld characters", field, ub);
    return QS_OK;
}

static qs_err check_country(const char *v, ca_why *why)
{
    if (v == NULL || v[0] == '\0')
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_MISSING, "countryName",
                         "countryName is required");
    if (!ca_country_valid(v))
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_COUNTRY, "countryName",
                         "countryName is not an ISO 3166-1 alpha-2 code");
    return QS_OK;
}

/* ISO 17442: 20 characters [A-Z0-9], ISO 7064 MOD 97-10 over the letters-as-numbers is 1. */
static bool lei_ok(const char *s)
{
    if (strlen(s) != 20)
        return false;
    unsigned rem = 0;
    for (size_t i = 0; i < 20; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            rem = (rem * 10 + (unsigned)(c - '0')) % 97;
        } else if (c >= 'A' && c <= 'Z') {
            unsigned v = (unsigned)(c - 'A') + 10;
            rem = (rem * 100 + v) % 97;
        } else {
            return false;
        }
    }
    return rem == 1;
}

/*
 * A semantics identifier: TYPE (3 letters from `types`, each 3 characters) + 2-letter country +
 * "-" + identifier of PrintableString characters, no space at either end.  `extra_cc` lists
 * country-like codes accepted besides ISO 3166 for a given type ("VAT:EL", "LEI:XG").
 */
static qs_err check_semantics_id(const char *v, const char *field, const char *const *types,
                                 size_t ntypes, const char *const *extra_cc, size_t nextra,
                                 ca_why *why)
{
    size_t n = strlen(v);
    if (n < 7 || v[5] != '-')
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_IDENTIFIER, field,
                         "%s must be TYPE + country + \"-\" + identifier", field);
    const char *type = NULL;
    for (size_t i = 0; i < ntypes; i++)
        if (strncmp(v, types[i], 3) == 0)
            type = types[i];
    if (type == NULL)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_IDENTIFIER, field,
                         "%s type is not one of the semantics identifier types", field);
    char cc[3] = {v[3], v[4], '\0'};
    bool cc_ok = ca_country_valid(cc);
    for (size_t i = 0; i < nextra && !cc_ok; i++)
        cc_ok = strncmp(extra_cc[i], type, 3) == 0 && strcmp(extra_cc[i] + 4, cc) == 0;
    if (!cc_ok)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_IDENTIFIER, field,
                         "%s country is not an ISO 3166-1 alpha-2 code", field);
    const char *id = v + 6;
    if (id[0] == ' ' || v[n - 1] == ' ')
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_IDENTIFIER, field,
                         "%s identifier starts or ends with a space", field);
    for (const char *p = id; *p != '\0'; p++)
        if (!printable_char((unsigned char)*p))
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_IDENTIFIER, field,
                             "%s identifier holds a character outside PrintableString", field);
    if (strcmp(type, "LEI") == 0 && !lei_ok(id))
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_IDENTIFIER, field,
                         "%s is not a valid ISO 17442 LEI", field);
    return QS_OK;
}

static qs_err check_natural(const ca_subject *s, ca_why *why)
{
    static const char *const types[] = {"PNO", "IDC", "PAS", "TIN"};
    qs_err r;
    if (present(s->organization))
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_NOT_ALLOWED, "organizationName",
                         "organizationName is not part of a natural-person subject");
    if (present(s->organization_id))
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_NOT_ALLOWED, "organizationIdentifier",
                         "organizationIdentifier is not part of a natural-person subject");
    if (present(s->pseudonym)) {
        if (present(s->given_name) || present(s->surname))
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_NOT_ALLOWED, "pseudonym",
                             "pseudonym cannot be combined with givenName or surname");
        if ((r = check_utf8(s->pseudonym, "pseudonym", CA_UB_PSEUDONYM, why)) != QS_OK)
            return r;
    } else {
        if (!present(s->given_name) && !present(s->surname))
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_MISSING, "surname",
                             "givenName and/or surname (or a pseudonym) is required");
        if (present(s->given_name) &&
            (r = check_utf8(s->given_name, "givenName", CA_UB_NAME, why)) != QS_OK)
            return r;
        if (present(s->surname) &&
            (r = check_utf8(s->surname, "surname", CA_UB_NAME, why)) != QS_OK)
            return r;
    }
    if ((r = check_printable(s->serial_number, "serialNumber", CA_UB_SERIAL_NUMBER, why)) != QS_OK)
        return r;
    return check_semantics_id(s->serial_number, "serialNumber", types, 4, NULL, 0, why);
}

static qs_err check_org_id(const char *v, ca_why *why)
{
    static const char *const types[] = {"VAT", "NTR", "PSD", "LEI"};
    static const char *const extra[] = {"VAT:EL", "LEI:XG"};
    qs_err r = check_utf8(v, "organizationIdentifier", CA_UB_ORGANIZATION_ID, why);
    if (r != QS_OK)
        return r;
    return check_semantics_id(v, "organizationIdentifier", types, 4, extra, 2, why);
}

static qs_err check_organization(const ca_subject *s, bool id_required, ca_why *why)
{
    static const struct {
        size_t off;
        const char *name;
    } person[] = {
        {offsetof(ca_subject, given_name), "givenName"},
        {offsetof(ca_subject, surname), "surname"},
        {offsetof(ca_subject, pseudonym), "pseudonym"},
        {offsetof(ca_subject, serial_number), "serialNumber"},
    };
    for (size_t i = 0; i < sizeof person / sizeof person[0]; i++) {
        const char *v = *(const char *const *)((const char *)s + person[i].off);
        if (present(v))
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_NOT_ALLOWED, person[i].name,
                             "%s is not part of an organization's subject", person[i].name);
    }
    qs_err r = check_utf8(s->organization, "organizationName", CA_UB_ORGANIZATION_NAME, why);
    if (r != QS_OK)
        return r;
    if (id_required || present(s->organization_id))
        return check_org_id(s->organization_id, why);
    return QS_OK;
}

qs_err ca_subject_validate(const ca_subject *s, ca_why *why)
{
    ca_why_clear(why);
    if (s == NULL)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_MISSING, "subject", "no subject given");
    if (s->kind != CA_KIND_NATURAL && s->kind != CA_KIND_LEGAL && s->kind != CA_KIND_AUTHORITY)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_UNKNOWN_PROFILE, "subject.kind",
                         "unknown subject kind %d", (int)s->kind);
    qs_err r = check_country(s->country, why);
    if (r != QS_OK)
        return r;
    switch (s->kind) {
    case CA_KIND_NATURAL:
        r = check_natural(s, why);
        break;
    case CA_KIND_LEGAL:
        r = check_organization(s, true, why);
        break;
    case CA_KIND_AUTHORITY:
        r = check_organization(s, false, why);
        break;
    }
    if (r != QS_OK)
        return r;
    return check_utf8(s->common_name, "commonName", CA_UB_COMMON_NAME, why);
}

/* ---- distinguished names ------------------------------------------------------------------ */

typedef struct attr_spec {
    int nid;
    int type;   /* V_ASN1_PRINTABLESTRING or V_ASN1_UTF8STRING */
    size_t off; /* of the field in ca_subject */
    const char *name;
} attr_spec;

/* The attribute types, in the order the name is written. */
static const attr_spec attrs[] = {
    {NID_countryName, V_ASN1_PRINTABLESTRING, offsetof(ca_subject, country), "countryName"},
    {NID_organizationName, V_ASN1_UTF8STRING, offsetof(ca_subject, organization),
     "organizationName"},
    {NID_organizationIdentifier, V_ASN1_UTF8STRING, offsetof(ca_subject, organization_id),
     "organizationIdentifier"},
    {NID_surname, V_ASN1_UTF8STRING, offsetof(ca_subject, surname), "surname"},
    {NID_givenName, V_ASN1_UTF8STRING, offsetof(ca_subject, given_name), "givenName"},
    {NID_pseudonym, V_ASN1_UTF8STRING, offsetof(ca_subject, pseudonym), "pseudonym"},
    {NID_serialNumber, V_ASN1_PRINTABLESTRING, offsetof(ca_subject, serial_number), "serialNumber"},
    {NID_commonName, V_ASN1_UTF8STRING, offsetof(ca_subject, common_name), "commonName"},
};
#define N_ATTRS (sizeof attrs / sizeof attrs[0])

static const char **field_of(ca_subject *s, const attr_spec *a)
{
    return (const char **)((char *)s + a->off);
}

qs_err ca_subject_to_name(const ca_subject *s, X509_NAME **out, ca_why *why)
{
    *out = NULL;
    qs_err r = ca_subject_validate(s, why);
    if (r != QS_OK)
        return r;
    X509_NAME *name = X509_NAME_new();
    if (name == NULL)
        return QS_ERR_NOMEM;
    ca_subject copy = *s;
    for (size_t i = 0; i < N_ATTRS; i++) {
        const char *v = *field_of(&copy, &attrs[i]);
        if (v == NULL)
            continue;
        if (X509_NAME_add_entry_by_NID(name, attrs[i].nid, attrs[i].type, (const unsigned char *)v,
                                       (int)strlen(v), -1, 0) != 1) {
            X509_NAME_free(name);
            return ca_ossl_fail(why, attrs[i].name);
        }
    }
    *out = name;
    return QS_OK;
}

#define NAME_VALUE_MAX (4 * CA_UB_NAME)

qs_err ca_name_check(const X509_NAME *name, ca_kind kind, ca_why *why)
{
    char *values[N_ATTRS] = {0};
    qs_err r;
    int n = X509_NAME_entry_count(name);
    int prev_set = -1;
    ca_subject s = {.kind = kind};
    for (int i = 0; i < n; i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        int set = X509_NAME_ENTRY_set(e);
        if (set == prev_set) {
            r = ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_PROFILE_CHECK, "subject",
                          "subject has an RDN with more than one attribute");
            goto out;
        }
        prev_set = set;
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
        size_t a = 0;
        while (a < N_ATTRS && attrs[a].nid != nid)
            a++;
        if (a == N_ATTRS) {
            r = ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_PROFILE_CHECK, "subject",
                          "subject has an attribute type outside the profile");
            goto out;
        }
        if (values[a] != NULL) {
            r = ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_PROFILE_CHECK, attrs[a].name,
                          "subject has %s more than once", attrs[a].name);
            goto out;
        }
        const ASN1_STRING *d = X509_NAME_ENTRY_get_data(e);
        int len = ASN1_STRING_length(d);
        if (ASN1_STRING_type(d) != attrs[a].type) {
            r = ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_PROFILE_CHECK, attrs[a].name,
                          "%s is not encoded as %s", attrs[a].name,
                          attrs[a].type == V_ASN1_PRINTABLESTRING ? "PrintableString"
                                                                  : "UTF8String");
            goto out;
        }
        if (len < 0 || len > NAME_VALUE_MAX ||
            memchr(ASN1_STRING_get0_data(d), '\0', (size_t)len) != NULL) {
            r = ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_PROFILE_CHECK, attrs[a].name,
                          "%s value is too long or holds a NUL", attrs[a].name);
            goto out;
        }
        values[a] = malloc((size_t)len + 1);
        if (values[a] == NULL) {
            r = QS_ERR_NOMEM;
            goto out;
        }
        memcpy(values[a], ASN1_STRING_get0_data(d), (size_t)len);
        values[a][len] = '\0';
        *field_of(&s, &attrs[a]) = values[a];
    }
    r = ca_subject_validate(&s, why);
    if (r != QS_OK && why != NULL) {
        /* Keep the field and text; the rule applies to a certificate here. */
        why->reason = CA_R_PROFILE_CHECK;
    }
out:
    for (size_t i = 0; i < N_ATTRS; i++)
        free(values[i]);
    return r;
}
