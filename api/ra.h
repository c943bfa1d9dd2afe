/*
 * The registration authority API (/ra/v1/...) and the signer's activation (/account/v1/...):
 * their request bodies, parsed against declarative field specs by JSON name and checked the
 * way the SAM and the CA will check them, so that bad input gets a 400 naming the field and
 * nothing reaches the SAM.  The audit API's bodies (api/audit.h) use the same spec checker. Private
 * to api/; the fuzz harness tests/fuzz/fuzz_ra_request.c drives these parsers.
 *
 * Parsed values point into the JSON body: keep it until the request is done.  Descriptions
 * name the field ("Invalid parameter subject.countryName: ...") and never repeat its value
 * (subject data is personal data).
 */
#ifndef QS_API_RA_H
#define QS_API_RA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ca/ca.h"
#include "sam/proto.h"
#include "util/err.h"

#define API_RA_SERIAL_MAX 20
#define API_RA_PAGE_MAX   500

/* ---- Declarative body specs, by JSON name (the RA, activation and audit bodies) ------------- */

typedef enum api_ra_kind {
    API_RA_STR,    /* JSON string; min/max bound its bytes */
    API_RA_OBJ,    /* JSON object (checked by its own spec) */
    API_RA_INT,    /* JSON integer; min/max bound the value */
    API_RA_REASON, /* JSON string or integer */
} api_ra_kind;

typedef struct api_ra_field {
    const char *name;
    api_ra_kind kind;
    bool required;
    int64_t min, max;
} api_ra_field;

#define API_RA_FIELDS_MAX 10

/* Checks `obj` against spec[0..n) (n <= API_RA_FIELDS_MAX): vals[i] is the member of spec[i] or
 * NULL (JSON null counts as absent).  An unknown member, a wrong JSON type, a value out of its
 * bounds or a missing required member gives QS_ERR_INVALID_ARGUMENT with a description naming
 * the field; `prefix` ("subject.") goes before names in descriptions. */
QS_MUST_CHECK qs_err api_ra_object(const json_t *obj, const char *prefix, const api_ra_field *spec,
                                   size_t n, const json_t *vals[API_RA_FIELDS_MAX], char *desc,
                                   size_t len);

/* signers/create */
typedef struct api_ra_signer {
    const char *username;
    const char *profile; /* "qcp-n-qscd" (default) or "qcp-l-qscd" */
    ca_subject subject;  /* kind from the profile */
    qs_sam_evidence_method method;
    qs_sam_document_type document_type;
    const char *document_number;
    const char *issuing_country;
    const char *notes; /* NULL: none */
} api_ra_signer;

QS_MUST_CHECK qs_err api_ra_signer_parse(const json_t *body, api_ra_signer *out, char *desc,
                                         size_t desc_len);

/* credentials/create */
typedef struct api_ra_credential {
    const char *user_id;
    qs_sam_key_alg alg;  /* keyAlgo, default ec-p256 */
    const char *profile; /* NULL: the signer's */
} api_ra_credential;

QS_MUST_CHECK qs_err api_ra_credential_parse(const json_t *body, api_ra_credential *out, char *desc,
                                             size_t desc_len);

/* certificates/revoke */
typedef struct api_ra_revoke {
    bool by_serial;
    uint8_t serial[API_RA_SERIAL_MAX];
    size_t serial_len;
    const char *credential_id;
    uint32_t reason;     /* RFC 5280 CRLReason: a name ("keyCompromise") or the code */
    const char *comment; /* NULL: none */
} api_ra_revoke;

QS_MUST_CHECK qs_err api_ra_revoke_parse(const json_t *body, api_ra_revoke *out, char *desc,
                                         size_t desc_len);

/* credentials/unlock */
typedef struct api_ra_unlock {
    const char *credential_id;
    const char *reason;
} api_ra_unlock;

QS_MUST_CHECK qs_err api_ra_unlock_parse(const json_t *body, api_ra_unlock *out, char *desc,
                                         size_t desc_len);

/* signers/info (userID) and signers/list (maxResults, pageToken) */
typedef struct api_ra_query {
    const char *user_id; /* info */
    uint32_t max;        /* list */
    uint32_t offset;
} api_ra_query;

QS_MUST_CHECK qs_err api_ra_info_parse(const json_t *body, api_ra_query *out, char *desc,
                                       size_t desc_len);
QS_MUST_CHECK qs_err api_ra_list_parse(const json_t *body, api_ra_query *out, char *desc,
                                       size_t desc_len);

/* login: the officer's one-time password */
QS_MUST_CHECK qs_err api_ra_login_parse(const json_t *body, const char **otp, char *desc,
                                        size_t desc_len);

/* /account/v1/activate: activationCode and PIN */
QS_MUST_CHECK qs_err api_ra_activate_parse(const json_t *body, const char **code, const char **pin,
                                           char *desc, size_t desc_len);

/* The name of an RFC 5280 reason code as the API writes it; NULL for an unused code. */
const char *api_ra_reason_name(uint32_t code);

/* ---- Replies (api/ra_reply.c) ---------------------------------------------------------------- */

struct api_request;
struct qs_sam_client;
struct qs_db_ra_signer;

/* Replies for a registration request the SAM refused: its own description for bad input (the
 * SAM names the field, never the value), "Invalid parameter <not_found_field>" for an unknown
 * user or credential, 401 when it no longer accepts the RA session, 409 for a duplicate, and
 * otherwise as api_reply_sam_error. */
void api_ra_reply_sam_error(struct api_request *rq, const struct qs_sam_client *c, qs_err e,
                            const char *not_found_field);

/* A signer as signers/list and signers/info show it; NULL when out of memory. */
json_t *api_ra_signer_json(const struct qs_db_ra_signer *s);

/* A time as the CSC API writes it: YYYYMMDDHHMMSSZ. */
void api_ra_time(int64_t unix_seconds, char out[static 16]);

#endif
