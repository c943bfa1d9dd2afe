/*
 * qcStatements (RFC 3739, EN 319 412-5) as ASN.1 templates: QCStatements, QCStatement,
 * SemanticsInformation (id-qcs-pkixQCSyntax-v2), QcType, PdsLocations, QcCClegislation.
 * QcCompliance and QcSSCD carry no statementInfo; QcRetentionPeriod carries an INTEGER.
 * The decoder is strict (DER only, every statement once, bounded counts) because it also reads
 * certificates made elsewhere.
 */
#include "ca/ca_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>

/* Longest qcStatements value decoded. */
#define QC_DER_MAX 16384

/* The ASN.1 declarations below are macro calls clang-format cannot lay out. */
/* clang-format off */

/* QCStatement ::= SEQUENCE { statementId OBJECT IDENTIFIER, statementInfo ANY OPTIONAL } */
typedef struct qc_statement_st {
    ASN1_OBJECT *id;
    ASN1_TYPE *info;
} QC_STATEMENT;

ASN1_SEQUENCE(QC_STATEMENT) = {
    ASN1_SIMPLE(QC_STATEMENT, id, ASN1_OBJECT),
    ASN1_OPT(QC_STATEMENT, info, ASN1_ANY),
} static_ASN1_SEQUENCE_END(QC_STATEMENT)

DEFINE_STACK_OF(QC_STATEMENT)

/* QCStatements ::= SEQUENCE OF QCStatement */
typedef STACK_OF(QC_STATEMENT) QC_STATEMENTS;

ASN1_ITEM_TEMPLATE(QC_STATEMENTS) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, QCStatements, QC_STATEMENT)
static_ASN1_ITEM_TEMPLATE_END(QC_STATEMENTS)

/* SemanticsInformation ::= SEQUENCE { semanticsIdentifier OBJECT IDENTIFIER OPTIONAL,
 *     nameRegistrationAuthorities SEQUENCE SIZE (1..MAX) OF GeneralName OPTIONAL } */
typedef struct qc_semantics_st {
    ASN1_OBJECT *id;
    GENERAL_NAMES *nra;
} QC_SEMANTICS;

ASN1_SEQUENCE(QC_SEMANTICS) = {
    ASN1_OPT(QC_SEMANTICS, id, ASN1_OBJECT),
    ASN1_SEQUENCE_OF_OPT(QC_SEMANTICS, nra, GENERAL_NAME),
} static_ASN1_SEQUENCE_END(QC_SEMANTICS)

/* QcType ::= SEQUENCE OF OBJECT IDENTIFIER */
typedef STACK_OF(ASN1_OBJECT) QC_TYPES;

ASN1_ITEM_TEMPLATE(QC_TYPES) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, QcType, ASN1_OBJECT)
static_ASN1_ITEM_TEMPLATE_END(QC_TYPES)

/* PdsLocation ::= SEQUENCE { url IA5String, language PrintableString (SIZE(2)) } */
typedef struct qc_pds_st {
    ASN1_IA5STRING *url;
    ASN1_PRINTABLESTRING *lang;
} QC_PDS_LOCATION;

ASN1_SEQUENCE(QC_PDS_LOCATION) = {
    ASN1_SIMPLE(QC_PDS_LOCATION, url, ASN1_IA5STRING),
    ASN1_SIMPLE(QC_PDS_LOCATION, lang, ASN1_PRINTABLESTRING),
} static_ASN1_SEQUENCE_END(QC_PDS_LOCATION)

DEFINE_STACK_OF(QC_PDS_LOCATION)

/* PdsLocations ::= SEQUENCE SIZE (1..MAX) OF PdsLocation */
typedef STACK_OF(QC_PDS_LOCATION) QC_PDS_LOCATIONS;

ASN1_ITEM_TEMPLATE(QC_PDS_LOCATIONS) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, PdsLocations, QC_PDS_LOCATION)
static_ASN1_ITEM_TEMPLATE_END(QC_PDS_LOCATIONS)

/* QcCClegislation ::= SEQUENCE OF CountryName; CountryName ::= PrintableString (SIZE (2)) */
DEFINE_STACK_OF(ASN1_PRINTABLESTRING)
typedef STACK_OF(ASN1_PRINTABLESTRING) QC_CC_LEGISLATION;

ASN1_ITEM_TEMPLATE(QC_CC_LEGISLATION) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, QcCClegislation, ASN1_PRINTABLESTRING)
static_ASN1_ITEM_TEMPLATE_END(QC_CC_LEGISLATION)

    /* clang-format on */

    /* ---- encoding -----------------------------------------------------------------------------
     */

    static const char *
    type_oid(ca_qc_type t)
{
    switch (t) {
    case CA_QC_TYPE_ESIGN:
        return CA_OID_QC_TYPE_ESIGN;
    case CA_QC_TYPE_ESEAL:
        return CA_OID_QC_TYPE_ESEAL;
    case CA_QC_TYPE_WEB:
        return CA_OID_QC_TYPE_WEB;
    }
    return NULL;
}

static ASN1_STRING *string_new(int type, const char *s)
{
    ASN1_STRING *a = ASN1_STRING_type_new(type);
    if (a == NULL || ASN1_STRING_set(a, s, (int)strlen(s)) != 1) {
        ASN1_STRING_free(a);
        return NULL;
    }
    return a;
}

/* Appends a statement; takes `info` (may be NULL) in all cases. */
static bool push_statement(QC_STATEMENTS *sts, const char *oid, ASN1_TYPE *info)
{
    QC_STATEMENT *st = (QC_STATEMENT *)ASN1_item_new(ASN1_ITEM_rptr(QC_STATEMENT));
    if (st == NULL) {
        ASN1_TYPE_free(info);
        return false;
    }
    ASN1_OBJECT_free(st->id);
    st->id = ca_oid_new(oid);
    st->info = info;
    if (st->id == NULL || sk_QC_STATEMENT_push(sts, st) <= 0) {
        ASN1_item_free((ASN1_VALUE *)st, ASN1_ITEM_rptr(QC_STATEMENT));
        return false;
    }
    return true;
}

static bool ascii_printable(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s < 0x21 || *s > 0x7e)
            return false;
    return true;
}

static bool two_letters(const char *s, bool upper)
{
    if (strlen(s) != 2)
        return false;
    for (size_t i = 0; i < 2; i++) {
        bool up = s[i] >= 'A' && s[i] <= 'Z', low = s[i] >= 'a' && s[i] <= 'z';
        if (upper ? !up : !(up || low))
            return false;
    }
    return true;
}

static qs_err check_info(const ca_qc_info *qi)
{
    if (qi->type_count > CA_QC_TYPES_MAX || qi->pds_count > CA_PDS_MAX || qi->cc_count > CA_CC_MAX)
        return QS_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < qi->type_count; i++)
        if (type_oid(qi->types[i]) == NULL)
            return QS_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < qi->pds_count; i++) {
        size_t n = strnlen(qi->pds[i].url, sizeof qi->pds[i].url);
        if (n == 0 || n > CA_URL_MAX || !ascii_printable(qi->pds[i].url) ||
            !two_letters(qi->pds[i].lang, false))
            return QS_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < qi->cc_count; i++)
        if (!two_letters(qi->cc[i], true))
            return QS_ERR_INVALID_ARGUMENT;
    if (qi->has_retention && qi->retention_years < 0)
        return QS_ERR_INVALID_ARGUMENT;
    if (qi->semantics == CA_SEMANTICS_OTHER)
        return QS_ERR_INVALID_ARGUMENT;
    return QS_OK;
}

static void item_free(void *v, const ASN1_ITEM *it)
{
    ASN1_item_free((ASN1_VALUE *)v, it);
}

static ASN1_TYPE *types_info(const ca_qc_info *qi)
{
    QC_TYPES *types = sk_ASN1_OBJECT_new_null();
    ASN1_TYPE *t = NULL;
    if (types == NULL)
        return NULL;
    for (size_t i = 0; i < qi->type_count; i++) {
        ASN1_OBJECT *o = ca_oid_new(type_oid(qi->types[i]));
        if (o == NULL || sk_ASN1_OBJECT_push(types, o) <= 0) {
            ASN1_OBJECT_free(o);
            goto out;
        }
    }
    t = ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(QC_TYPES), types, NULL);
out:
    item_free(types, ASN1_ITEM_rptr(QC_TYPES));
    return t;
}

static ASN1_TYPE *pds_info(const ca_qc_info *qi)
{
    QC_PDS_LOCATIONS *locs = sk_QC_PDS_LOCATION_new_null();
    ASN1_TYPE *t = NULL;
    if (locs == NULL)
        return NULL;
    for (size_t i = 0; i < qi->pds_count; i++) {
        QC_PDS_LOCATION *l = (QC_PDS_LOCATION *)ASN1_item_new(ASN1_ITEM_rptr(QC_PDS_LOCATION));
        if (l == NULL)
            goto out;
        ASN1_STRING_free(l->url);
        ASN1_STRING_free(l->lang);
        l->url = string_new(V_ASN1_IA5STRING, qi->pds[i].url);
        l->lang = string_new(V_ASN1_PRINTABLESTRING, qi->pds[i].lang);
        if (l->url == NULL || l->lang == NULL || sk_QC_PDS_LOCATION_push(locs, l) <= 0) {
            item_free(l, ASN1_ITEM_rptr(QC_PDS_LOCATION));
            goto out;
        }
    }
    t = ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(QC_PDS_LOCATIONS), locs, NULL);
out:
    item_free(locs, ASN1_ITEM_rptr(QC_PDS_LOCATIONS));
    return t;
}

static ASN1_TYPE *cc_info(const ca_qc_info *qi)
{
    QC_CC_LEGISLATION *ccs = sk_ASN1_PRINTABLESTRING_new_null();
    ASN1_TYPE *t = NULL;
    if (ccs == NULL)
        return NULL;
    for (size_t i = 0; i < qi->cc_count; i++) {
        ASN1_STRING *c = string_new(V_ASN1_PRINTABLESTRING, qi->cc[i]);
        if (c == NULL || sk_ASN1_PRINTABLESTRING_push(ccs, c) <= 0) {
            ASN1_STRING_free(c);
            goto out;
        }
    }
    t = ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(QC_CC_LEGISLATION), ccs, NULL);
out:
    item_free(ccs, ASN1_ITEM_rptr(QC_CC_LEGISLATION));
    return t;
}

static ASN1_TYPE *retention_info(long years)
{
    ASN1_INTEGER *i = ASN1_INTEGER_new();
    ASN1_TYPE *t = ASN1_TYPE_new();
    if (i == NULL || t == NULL || ASN1_INTEGER_set_int64(i, years) != 1) {
        ASN1_INTEGER_free(i);
        ASN1_TYPE_free(t);
        return NULL;
    }
    ASN1_TYPE_set(t, V_ASN1_INTEGER, i);
    return t;
}

static ASN1_TYPE *semantics_info(ca_semantics s)
{
    QC_SEMANTICS *si = (QC_SEMANTICS *)ASN1_item_new(ASN1_ITEM_rptr(QC_SEMANTICS));
    ASN1_TYPE *t = NULL;
    if (si == NULL)
        return NULL;
    si->id =
        ca_oid_new(s == CA_SEMANTICS_NATURAL ? CA_OID_SEMANTICS_NATURAL : CA_OID_SEMANTICS_LEGAL);
    if (si->id != NULL)
        t = ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(QC_SEMANTICS), si, NULL);
    item_free(si, ASN1_ITEM_rptr(QC_SEMANTICS));
    return t;
}

qs_err ca_qc_encode(const ca_qc_info *qi, uint8_t **der, size_t *der_len)
{
    *der = NULL;
    *der_len = 0;
    if (qi == NULL || check_info(qi) != QS_OK)
        return QS_ERR_INVALID_ARGUMENT;
    qs_err r = QS_ERR_CRYPTO;
    QC_STATEMENTS *sts = sk_QC_STATEMENT_new_null();
    if (sts == NULL)
        return QS_ERR_NOMEM;
    bool ok = true;
    if (ok && qi->compliance)
        ok = push_statement(sts, CA_OID_QC_COMPLIANCE, NULL);
    if (ok && qi->sscd)
        ok = push_statement(sts, CA_OID_QC_SSCD, NULL);
    if (ok && qi->type_count > 0) {
        ASN1_TYPE *t = types_info(qi);
        ok = t != NULL && push_statement(sts, CA_OID_QC_TYPE, t);
    }
    if (ok && qi->pds_count > 0) {
        ASN1_TYPE *t = pds_info(qi);
        ok = t != NULL && push_statement(sts, CA_OID_QC_PDS, t);
    }
    if (ok && qi->has_retention) {
        ASN1_TYPE *t = retention_info(qi->retention_years);
        ok = t != NULL && push_statement(sts, CA_OID_QC_RETENTION, t);
    }
    if (ok && qi->cc_count > 0) {
        ASN1_TYPE *t = cc_info(qi);
        ok = t != NULL && push_statement(sts, CA_OID_QC_CC_LEGISLATION, t);
    }
    if (ok && qi->semantics != CA_SEMANTICS_NONE) {
        ASN1_TYPE *t = semantics_info(qi->semantics);
        ok = t != NULL && push_statement(sts, CA_OID_QCS_PKIX_SYNTAX_2, t);
    }
    if (!ok) {
        r = ca_ossl_fail(NULL, "qcStatements");
        goto out;
    }
    r = ca_i2d_item(sts, ASN1_ITEM_rptr(QC_STATEMENTS), der, der_len, NULL);
out:
    item_free(sts, ASN1_ITEM_rptr(QC_STATEMENTS));
    return r;
}

/* ---- decoding ----------------------------------------------------------------------------- */

/* Decodes a statementInfo SEQUENCE as `it`, refusing anything but its DER encoding. */
static void *unpack_strict(const ASN1_TYPE *t, const ASN1_ITEM *it)
{
    if (t == NULL || t->type != V_ASN1_SEQUENCE)
        return NULL;
    void *v = ASN1_TYPE_unpack_sequence(it, t);
    if (v == NULL)
        return NULL;
    unsigned char *re = NULL;
    int n = ASN1_item_i2d((ASN1_VALUE *)v, &re, it);
    const ASN1_STRING *seq = t->value.sequence;
    bool same = n > 0 && n == ASN1_STRING_length(seq) &&
                memcmp(re, ASN1_STRING_get0_data(seq), (size_t)n) == 0;
    OPENSSL_free(re);
    if (!same) {
        item_free(v, it);
        return NULL;
    }
    return v;
}

/* Copies an ASN1_STRING of at most cap - 1 bytes without NUL into buf. */
static bool copy_string(const ASN1_STRING *s, char *buf, size_t cap)
{
    int n = ASN1_STRING_length(s);
    const unsigned char *d = ASN1_STRING_get0_data(s);
    if (n <= 0 || (size_t)n >= cap || memchr(d, '\0', (size_t)n) != NULL)
        return false;
    memcpy(buf, d, (size_t)n);
    buf[n] = '\0';
    return true;
}

static bool decode_types(const ASN1_TYPE *t, ca_qc_info *out)
{
    QC_TYPES *types = unpack_strict(t, ASN1_ITEM_rptr(QC_TYPES));
    bool ok = types != NULL;
    int n = ok ? sk_ASN1_OBJECT_num(types) : 0;
    if (ok && (n < 1 || n > CA_QC_TYPES_MAX))
        ok = false;
    for (int i = 0; ok && i < n; i++) {
        const ASN1_OBJECT *o = sk_ASN1_OBJECT_value(types, i);
        ca_qc_type q = 0;
        if (ca_oid_is(o, CA_OID_QC_TYPE_ESIGN))
            q = CA_QC_TYPE_ESIGN;
        else if (ca_oid_is(o, CA_OID_QC_TYPE_ESEAL))
            q = CA_QC_TYPE_ESEAL;
        else if (ca_oid_is(o, CA_OID_QC_TYPE_WEB))
            q = CA_QC_TYPE_WEB;
        out->types[out->type_count++] = q;
    }
    item_free(types, ASN1_ITEM_rptr(QC_TYPES));
    return ok;
}

static bool decode_pds(const ASN1_TYPE *t, ca_qc_info *out)
{
    QC_PDS_LOCATIONS *locs = unpack_strict(t, ASN1_ITEM_rptr(QC_PDS_LOCATIONS));
    bool ok = locs != NULL;
    int n = ok ? sk_QC_PDS_LOCATION_num(locs) : 0;
    if (ok && (n < 1 || n > CA_PDS_MAX))
        ok = false;
    for (int i = 0; ok && i < n; i++) {
        const QC_PDS_LOCATION *l = sk_QC_PDS_LOCATION_value(locs, i);
        ca_qc_pds_entry *e = &out->pds[out->pds_count++];
        ok = copy_string(l->url, e->url, sizeof e->url) && ASN1_STRING_length(l->lang) == 2 &&
             copy_string(l->lang, e->lang, sizeof e->lang);
    }
    item_free(locs, ASN1_ITEM_rptr(QC_PDS_LOCATIONS));
    return ok;
}

static bool decode_cc(const ASN1_TYPE *t, ca_qc_info *out)
{
    QC_CC_LEGISLATION *ccs = unpack_strict(t, ASN1_ITEM_rptr(QC_CC_LEGISLATION));
    bool ok = ccs != NULL;
    int n = ok ? sk_ASN1_PRINTABLESTRING_num(ccs) : 0;
    if (ok && (n < 1 || n > CA_CC_MAX))
        ok = false;
    for (int i = 0; ok && i < n; i++) {
        const ASN1_STRING *c = sk_ASN1_PRINTABLESTRING_value(ccs, i);
        ok = ASN1_STRING_length(c) == 2 && copy_string(c, out->cc[out->cc_count++], 3);
    }
    item_free(ccs, ASN1_ITEM_rptr(QC_CC_LEGISLATION));
    return ok;
}

static bool decode_semantics(const ASN1_TYPE *t, ca_qc_info *out)
{
    out->semantics = CA_SEMANTICS_OTHER;
    if (t == NULL)
        return true;
    QC_SEMANTICS *si = unpack_strict(t, ASN1_ITEM_rptr(QC_SEMANTICS));
    if (si == NULL)
        return false;
    if (si->id != NULL && ca_oid_is(si->id, CA_OID_SEMANTICS_NATURAL))
        out->semantics = CA_SEMANTICS_NATURAL;
    else if (si->id != NULL && ca_oid_is(si->id, CA_OID_SEMANTICS_LEGAL))
        out->semantics = CA_SEMANTICS_LEGAL;
    item_free(si, ASN1_ITEM_rptr(QC_SEMANTICS));
    return true;
}

static bool decode_retention(const ASN1_TYPE *t, ca_qc_info *out)
{
    int64_t v = 0;
    if (t == NULL || t->type != V_ASN1_INTEGER ||
        ASN1_INTEGER_get_int64(&v, t->value.integer) != 1 || v < 0 || v > 1000)
        return false;
    out->has_retention = true;
    out->retention_years = (long)v;
    return true;
}

enum { SEEN_COMPLIANCE, SEEN_SSCD, SEEN_TYPE, SEEN_PDS, SEEN_RETENTION, SEEN_CC, SEEN_SEMANTICS };

static bool decode_statement(const QC_STATEMENT *st, ca_qc_info *out, unsigned *seen)
{
    static const struct {
        const char *oid;
        unsigned bit;
    } known[] = {
        {CA_OID_QC_COMPLIANCE, 1u << SEEN_COMPLIANCE},
        {CA_OID_QC_SSCD, 1u << SEEN_SSCD},
        {CA_OID_QC_TYPE, 1u << SEEN_TYPE},
        {CA_OID_QC_PDS, 1u << SEEN_PDS},
        {CA_OID_QC_RETENTION, 1u << SEEN_RETENTION},
        {CA_OID_QC_CC_LEGISLATION, 1u << SEEN_CC},
        {CA_OID_QCS_PKIX_SYNTAX_2, 1u << SEEN_SEMANTICS},
    };
    char oid[CA_OID_MAX + 1];
    if (!ca_oid_text(st->id, oid, sizeof oid))
        return false;
    unsigned bit = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(oid, known[i].oid) == 0)
            bit = known[i].bit;
    if (bit == 0) {
        out->unknown++;
        return true;
    }
    if ((*seen & bit) != 0)
        return false;
    *seen |= bit;
    switch (bit) {
    case 1u << SEEN_COMPLIANCE:
        out->compliance = true;
        return st->info == NULL;
    case 1u << SEEN_SSCD:
        out->sscd = true;
        return st->info == NULL;
    case 1u << SEEN_TYPE:
        return decode_types(st->info, out);
    case 1u << SEEN_PDS:
        return decode_pds(st->info, out);
    case 1u << SEEN_RETENTION:
        return decode_retention(st->info, out);
    case 1u << SEEN_CC:
        return decode_cc(st->info, out);
    default:
        return decode_semantics(st->info, out);
    }
}

qs_err ca_qc_decode(const uint8_t *der, size_t der_len, ca_qc_info *out)
{
    memset(out, 0, sizeof *out);
    if (der == NULL || der_len == 0 || der_len > QC_DER_MAX)
        return QS_ERR_PARSE;
    const unsigned char *p = der;
    QC_STATEMENTS *sts =
        (QC_STATEMENTS *)ASN1_item_d2i(NULL, &p, (long)der_len, ASN1_ITEM_rptr(QC_STATEMENTS));
    qs_err r = QS_ERR_PARSE;
    if (sts == NULL || p != der + der_len)
        goto out;
    unsigned char *re = NULL;
    int n = ASN1_item_i2d((ASN1_VALUE *)sts, &re, ASN1_ITEM_rptr(QC_STATEMENTS));
    bool same = n > 0 && (size_t)n == der_len && memcmp(re, der, der_len) == 0;
    OPENSSL_free(re);
    if (!same)
        goto out;
    unsigned seen = 0;
    for (int i = 0; i < sk_QC_STATEMENT_num(sts); i++)
        if (!decode_statement(sk_QC_STATEMENT_value(sts, i), out, &seen))
            goto out;
    r = QS_OK;
out:
    ERR_clear_error();
    item_free(sts, ASN1_ITEM_rptr(QC_STATEMENTS));
    if (r != QS_OK)
        memset(out, 0, sizeof *out);
    return r;
}

qs_err ca_qc_from_cert(X509 *cert, ca_qc_info *out)
{
    memset(out, 0, sizeof *out);
    ASN1_OBJECT *obj = ca_oid_new(CA_OID_QC_STATEMENTS);
    if (obj == NULL)
        return QS_ERR_NOMEM;
    int idx = X509_get_ext_by_OBJ(cert, obj, -1);
    int again = idx >= 0 ? X509_get_ext_by_OBJ(cert, obj, idx) : -1;
    ASN1_OBJECT_free(obj);
    if (idx < 0)
        return QS_ERR_NOT_FOUND;
    if (again >= 0)
        return QS_ERR_PARSE;
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509_get_ext(cert, idx));
    return ca_qc_decode(ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v), out);
}
