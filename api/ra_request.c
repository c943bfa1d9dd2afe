/*
 * Parsers of the RA API's request bodies (api/ra.h): one declarative spec per body, checked
 * member by member (unknown member, wrong JSON type, length out of range, missing required
 * member), then the meaning: profile and subject as the CA checks them (ca_subject_validate),
 * ISO 3166 country codes, identifier formats, document types, reason names.
 */
#include "api/ra.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"

__attribute__((format(printf, 3, 4))) static qs_err ra_fail(char *desc, size_t len, const char *fmt,
                                                            ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(desc, len, fmt, ap);
    va_end(ap);
    return QS_ERR_INVALID_ARGUMENT;
}

qs_err api_ra_object(const json_t *obj, const char *prefix, const api_ra_field *spec, size_t n,
                     const json_t *vals[API_RA_FIELDS_MAX], char *desc, size_t len)
{
    const char *key;
    json_t *v;

    for (size_t i = 0; i < API_RA_FIELDS_MAX; i++)
        vals[i] = NULL;
    if (!json_is_object(obj))
        return ra_fail(desc, len, "Invalid parameter %.*s: an object is expected",
                       (int)(strlen(prefix) > 0 ? strlen(prefix) - 1 : 0), prefix);
    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i = 0;
        while (i < n && strcmp(spec[i].name, key) != 0)
            i++;
        if (i == n) {
            /* echoed only when it is a plain word, as the CSC endpoints do */
            bool plain = strlen(key) >= 1 && strlen(key) <= 64;
            for (const char *p = key; plain && *p != '\0'; p++)
                plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                        (*p >= '0' && *p <= '9') || *p == '_';
            return plain ? ra_fail(desc, len, "Unknown parameter %s%s", prefix, key)
                         : ra_fail(desc, len, "Unknown parameter in %s",
                                   prefix[0] != '\0' ? prefix : "the request");
        }
        if (json_is_null(v))
            continue;
        bool ok = false;
        switch (spec[i].kind) {
        case API_RA_STR:
            ok = json_is_string(v) && (int64_t)json_string_length(v) >= spec[i].min &&
                 (int64_t)json_string_length(v) <= spec[i].max &&
                 strlen(json_string_value(v)) == json_string_length(v);
            break;
        case API_RA_OBJ:
            ok = json_is_object(v);
            break;
        case API_RA_INT:
            ok = json_is_integer(v) && json_integer_value(v) >= spec[i].min &&
                 json_integer_value(v) <= spec[i].max;
            break;
        case API_RA_REASON:
            ok = (json_is_string(v) && json_string_length(v) >= 1 && json_string_length(v) <= 32) ||
                 json_is_integer(v);
            break;
        }
        if (!ok)
            return ra_fail(desc, len, "Invalid parameter %s%s", prefix, spec[i].name);
        vals[i] = v;
    }
    for (size_t i = 0; i < n; i++) {
        if (spec[i].required && vals[i] == NULL)
            return ra_fail(desc, len, "Missing (or invalid type) parameter %s%s", prefix,
                           spec[i].name);
    }
    return QS_OK;
}

static const char *str(const json_t *v)
{
    return v != NULL ? json_string_value(v) : NULL;
}

static bool uuid_ok(const char *s)
{
    uint8_t id[API_UUID_LEN];
    return s != NULL && api_uuid_parse(s, strlen(s), id) == QS_OK;
}

/* ---- signers/create ----------------------------------------------------------------------- */

static const api_ra_field signer_spec[] = {
    {"username", API_RA_STR, true, 1, 128},
    {"profile", API_RA_STR, false, 1, 32},
    {"subject", API_RA_OBJ, true, 0, 0},
    {"evidence", API_RA_OBJ, true, 0, 0},
};
enum { S_USERNAME, S_PROFILE, S_SUBJECT, S_EVIDENCE };

static const api_ra_field subject_spec[] = {
    {"countryName", API_RA_STR, true, 1, 16},
    {"commonName", API_RA_STR, true, 1, 256},
    {"givenName", API_RA_STR, false, 1, 1024},
    {"surname", API_RA_STR, false, 1, 1024},
    {"pseudonym", API_RA_STR, false, 1, 512},
    {"serialNumber", API_RA_STR, false, 1, 256},
    {"organizationName", API_RA_STR, false, 1, 256},
    {"organizationIdentifier", API_RA_STR, false, 1, 256},
};
enum { J_C, J_CN, J_GN, J_SN, J_PSEUDONYM, J_SERIAL, J_O, J_OID };

static const api_ra_field evidence_spec[] = {
    {"method", API_RA_STR, true, 1, 16},         {"documentType", API_RA_STR, true, 1, 32},
    {"documentNumber", API_RA_STR, true, 1, 64}, {"issuingCountry", API_RA_STR, true, 1, 16},
    {"notes", API_RA_STR, false, 1, 1000},
};
enum { E_METHOD, E_DOCTYPE, E_DOCNUM, E_COUNTRY, E_NOTES };

static bool username_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || strchr("._@+-", c) == NULL))
            return false;
    }
    return true;
}

/* A document number: letters, digits, '<', '.', '/', with spaces and dashes ignored. */
static bool doc_number_ok(const char *s)
{
    size_t k = 0;
    for (; *s != '\0'; s++) {
        char c = *s;
        if (c == ' ' || c == '-')
            continue;
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '<' && c != '.' && c != '/')
            return false;
        k++;
    }
    return k > 0;
}

qs_err api_ra_signer_parse(const json_t *body, api_ra_signer *out, char *desc, size_t len)
{
    const json_t *top[API_RA_FIELDS_MAX], *subj[API_RA_FIELDS_MAX], *ev[API_RA_FIELDS_MAX];
    ca_profile profile;
    ca_why why;

    memset(out, 0, sizeof *out);
    qs_err r = api_ra_object(body, "", signer_spec, sizeof signer_spec / sizeof signer_spec[0], top,
                             desc, len);
    if (r != QS_OK)
        return r;
    if ((r = api_ra_object(top[S_SUBJECT], "subject.", subject_spec,
                           sizeof subject_spec / sizeof subject_spec[0], subj, desc, len)) !=
            QS_OK ||
        (r = api_ra_object(top[S_EVIDENCE], "evidence.", evidence_spec,
                           sizeof evidence_spec / sizeof evidence_spec[0], ev, desc, len)) != QS_OK)
        return r;
    out->username = str(top[S_USERNAME]);
    if (!username_ok(out->username))
        return ra_fail(desc, len,
                       "Invalid parameter username: 1..128 of [A-Za-z0-9._@+-], starting with a "
                       "letter or digit");
    out->profile = top[S_PROFILE] != NULL ? str(top[S_PROFILE]) : "qcp-n-qscd";
    if (ca_profile_defaults(out->profile, &profile, &why) != QS_OK)
        return ra_fail(desc, len, "Invalid parameter profile: qcp-n-qscd or qcp-l-qscd");
    out->subject = (ca_subject){
        .kind = profile.kind,
        .country = str(subj[J_C]),
        .common_name = str(subj[J_CN]),
        .given_name = str(subj[J_GN]),
        .surname = str(subj[J_SN]),
        .pseudonym = str(subj[J_PSEUDONYM]),
        .serial_number = str(subj[J_SERIAL]),
        .organization = str(subj[J_O]),
        .organization_id = str(subj[J_OID]),
    };
    if (ca_subject_validate(&out->subject, &why) != QS_OK)
        return ra_fail(desc, len, "Invalid parameter subject.%s: %s",
                       why.field[0] != '\0' ? why.field : "?", why.text);
    const char *method = str(ev[E_METHOD]), *doc_type = str(ev[E_DOCTYPE]);
    if (strcmp(method, "physical") == 0)
        out->method = QS_SAM_EVIDENCE_PHYSICAL;
    else if (strcmp(method, "remote") == 0)
        out->method = QS_SAM_EVIDENCE_REMOTE;
    else
        return ra_fail(desc, len, "Invalid parameter evidence.method: physical or remote");
    static const struct {
        const char *name;
        qs_sam_document_type t;
    } types[] = {{"passport", QS_SAM_DOC_PASSPORT},
                 {"id_card", QS_SAM_DOC_ID_CARD},
                 {"residence_permit", QS_SAM_DOC_RESIDENCE_PERMIT},
                 {"driving_licence", QS_SAM_DOC_DRIVING_LICENCE}};
    size_t t = 0;
    while (t < sizeof types / sizeof types[0] && strcmp(types[t].name, doc_type) != 0)
        t++;
    if (t == sizeof types / sizeof types[0])
        return ra_fail(desc, len,
                       "Invalid parameter evidence.documentType: passport, id_card, "
                       "residence_permit or driving_licence");
    out->document_type = types[t].t;
    out->document_number = str(ev[E_DOCNUM]);
    if (!doc_number_ok(out->document_number))
        return ra_fail(desc, len,
                       "Invalid parameter evidence.documentNumber: letters and digits (spaces "
                       "and dashes are ignored)");
    out->issuing_country = str(ev[E_COUNTRY]);
    if (!ca_country_valid(out->issuing_country))
        return ra_fail(desc, len,
                       "Invalid parameter evidence.issuingCountry: not an ISO 3166-1 alpha-2 "
                       "code");
    out->notes = str(ev[E_NOTES]);
    if (out->notes != NULL) {
        for (const unsigned char *p = (const unsigned char *)out->notes; *p != '\0'; p++) {
            if (*p < 0x20 && *p != '\n' && *p != '\t')
                return ra_fail(desc, len, "Invalid parameter evidence.notes: control character");
        }
    }
    return QS_OK;
}

/* ---- credentials/create ------------------------------------------------------------------- */

qs_err api_ra_credential_parse(const json_t *body, api_ra_credential *out, char *desc, size_t len)
{
    static const api_ra_field spec[] = {
        {"userID", API_RA_STR, true, 1, 64},
        {"keyAlgo", API_RA_STR, false, 1, 16},
        {"profile", API_RA_STR, false, 1, 32},
    };
    static const struct {
        const char *name;
        qs_sam_key_alg alg;
    } algs[] = {{"ec-p256", QS_SAM_KEY_EC_P256},
                {"ec-p384", QS_SAM_KEY_EC_P384},
                {"rsa-2048", QS_SAM_KEY_RSA2048},
                {"rsa-3072", QS_SAM_KEY_RSA3072},
                {"rsa-4096", QS_SAM_KEY_RSA4096}};
    const json_t *v[API_RA_FIELDS_MAX];
    ca_profile profile;
    ca_why why;

    memset(out, 0, sizeof *out);
    qs_err r = api_ra_object(body, "", spec, sizeof spec / sizeof spec[0], v, desc, len);
    if (r != QS_OK)
        return r;
    out->user_id = str(v[0]);
    if (!uuid_ok(out->user_id))
        return ra_fail(desc, len, "Invalid parameter userID");
    out->alg = QS_SAM_KEY_EC_P256;
    if (v[1] != NULL) {
        size_t i = 0;
        while (i < sizeof algs / sizeof algs[0] && strcmp(algs[i].name, str(v[1])) != 0)
            i++;
        if (i == sizeof algs / sizeof algs[0])
            return ra_fail(desc, len,
                           "Invalid parameter keyAlgo: ec-p256, ec-p384, rsa-2048, rsa-3072 or "
                           "rsa-4096");
        out->alg = algs[i].alg;
    }
    out->profile = str(v[2]);
    if (out->profile != NULL && ca_profile_defaults(out->profile, &profile, &why) != QS_OK)
        return ra_fail(desc, len, "Invalid parameter profile: qcp-n-qscd or qcp-l-qscd");
    return QS_OK;
}

/* ---- certificates/revoke ------------------------------------------------------------------ */

const char *api_ra_reason_name(uint32_t code)
{
    static const char *const names[] = {
        "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
        "superseded",    "cessationOfOperation", "certificateHold", NULL,
        "removeFromCRL", "privilegeWithdrawn",   "aACompromise",
    };
    return code < sizeof names / sizeof names[0] ? names[code] : NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Hex serial (colons allowed) into bytes, at most API_RA_SERIAL_MAX. */
static bool serial_parse(const char *s, uint8_t *out, size_t *n)
{
    int nibbles[2 * API_RA_SERIAL_MAX];
    size_t k = 0;
    for (; *s != '\0'; s++) {
        if (*s == ':')
            continue;
        int v = hexval(*s);
        if (v < 0 || k >= sizeof nibbles / sizeof nibbles[0])
            return false;
        nibbles[k++] = v;
    }
    if (k == 0)
        return false;
    size_t bytes = (k + 1) / 2, j = 0;
    for (size_t i = 0; i < bytes; i++) {
        int hi = (i == 0 && k % 2 == 1) ? 0 : nibbles[j++];
        out[i] = (uint8_t)(hi << 4 | nibbles[j++]);
    }
    *n = bytes;
    return true;
}

qs_err api_ra_revoke_parse(const json_t *body, api_ra_revoke *out, char *desc, size_t len)
{
    static const api_ra_field spec[] = {
        {"serialNumber", API_RA_STR, false, 1, 64},
        {"credentialID", API_RA_STR, false, 1, 64},
        {"reason", API_RA_REASON, true, 0, 0},
        {"comment", API_RA_STR, false, 1, 500},
    };
    const json_t *v[API_RA_FIELDS_MAX];

    memset(out, 0, sizeof *out);
    qs_err r = api_ra_object(body, "", spec, sizeof spec / sizeof spec[0], v, desc, len);
    if (r != QS_OK)
        return r;
    if ((v[0] != NULL) == (v[1] != NULL))
        return ra_fail(desc, len,
                       "Invalid parameter serialNumber: give serialNumber or "
                       "credentialID, not both");
    if (v[0] != NULL) {
        out->by_serial = true;
        if (!serial_parse(str(v[0]), out->serial, &out->serial_len))
            return ra_fail(desc, len,
                           "Invalid parameter serialNumber: hexadecimal, at most 20 "
                           "octets");
    } else {
        out->credential_id = str(v[1]);
        if (!uuid_ok(out->credential_id))
            return ra_fail(desc, len, "Invalid parameter credentialID");
    }
    bool found = false;
    if (json_is_integer(v[2])) {
        json_int_t code = json_integer_value(v[2]);
        found = code >= 0 && code <= 10 && api_ra_reason_name((uint32_t)code) != NULL;
        out->reason = found ? (uint32_t)code : 0;
    } else {
        for (uint32_t i = 0; i <= 10 && !found; i++) {
            const char *name = api_ra_reason_name(i);
            if (name != NULL && strcmp(name, str(v[2])) == 0) {
                out->reason = i;
                found = true;
            }
        }
    }
    if (!found)
        return ra_fail(desc, len, "Invalid parameter reason: an RFC 5280 reason name or code");
    /* the key is destroyed with the revocation: hold, removal and the CA's reasons do not fit */
    if (out->reason == 2 || out->reason == 6 || out->reason == 8 || out->reason == 10)
        return ra_fail(desc, len,
                       "Invalid parameter reason: unspecified, keyCompromise, "
                       "affiliationChanged, superseded, cessationOfOperation or "
                       "privilegeWithdrawn");
    out->comment = str(v[3]);
    return QS_OK;
}

/* ---- the others ----------------------------------------------------------------------------- */

qs_err api_ra_unlock_parse(const json_t *body, api_ra_unlock *out, char *desc, size_t len)
{
    static const api_ra_field spec[] = {
        {"credentialID", API_RA_STR, true, 1, 64},
        {"reason", API_RA_STR, true, 1, 500},
    };
    const json_t *v[API_RA_FIELDS_MAX];
    memset(out, 0, sizeof *out);
    qs_err r = api_ra_object(body, "", spec, sizeof spec / sizeof spec[0], v, desc, len);
    if (r != QS_OK)
        return r;
    out->credential_id = str(v[0]);
    out->reason = str(v[1]);
    if (!uuid_ok(out->credential_id))
        return ra_fail(desc, len, "Invalid parameter credentialID");
    return QS_OK;
}

qs_err api_ra_info_parse(const json_t *body, api_ra_query *out, char *desc, size_t len)
{
    static const api_ra_field spec[] = {{"userID", API_RA_STR, true, 1, 64}};
    const json_t *v[API_RA_FIELDS_MAX];
    memset(out, 0, sizeof *out);
    qs_err r = api_ra_object(body, "", spec, 1, v, desc, len);
    if (r != QS_OK)
        return r;
    out->user_id = str(v[0]);
    if (!uuid_ok(out->user_id))
        return ra_fail(desc, len, "Invalid parameter userID");
    return QS_OK;
}

qs_err api_ra_list_parse(const json_t *body, api_ra_query *out, char *desc, size_t len)
{
    static const api_ra_field spec[] = {
        {"maxResults", API_RA_INT, false, 1, API_RA_PAGE_MAX},
        {"pageToken", API_RA_STR, false, 1, 7},
    };
    const json_t *v[API_RA_FIELDS_MAX];
    memset(out, 0, sizeof *out);
    qs_err r = api_ra_object(body, "", spec, 2, v, desc, len);
    if (r != QS_OK)
        return r;
    out->max = v[0] != NULL ? (uint32_t)json_integer_value(v[0]) : 100;
    if (v[1] != NULL) {
        uint32_t off = 0;
        for (const char *p = str(v[1]); *p != '\0'; p++) {
            if (*p < '0' || *p > '9')
                return ra_fail(desc, len, "Invalid parameter pageToken");
            off = off * 10 + (uint32_t)(*p - '0');
        }
        out->offset = off;
    }
    return QS_OK;
}

qs_err api_ra_login_parse(const json_t *body, const char **otp, char *desc, size_t len)
{
    static const api_ra_field spec[] = {{"otp", API_RA_STR, true, 1, 16}};
    const json_t *v[API_RA_FIELDS_MAX];
    *otp = NULL;
    qs_err r = api_ra_object(body, "", spec, 1, v, desc, len);
    if (r == QS_OK)
        *otp = str(v[0]);
    return r;
}

qs_err api_ra_activate_parse(const json_t *body, const char **code, const char **pin, char *desc,
                             size_t len)
{
    static const api_ra_field spec[] = {
        {"activationCode", API_RA_STR, true, 1, 64},
        {"PIN", API_RA_STR, true, 1, 64},
    };
    const json_t *v[API_RA_FIELDS_MAX];
    *code = *pin = NULL;
    qs_err r = api_ra_object(body, "", spec, 2, v, desc, len);
    if (r == QS_OK) {
        *code = str(v[0]);
        *pin = str(v[1]);
    }
    return r;
}
