/*
 * SAM wire codec: the spec tables, a strict two-pass decoder, a builder that enforces the same
 * specs and emits the canonical encoding, and stream framing with timeouts.
 *
 * Trust boundary: every byte handed to the decoder may come from a compromised qsignd.  The
 * first pass only validates (bounds-checked cursor, no allocation); the second pass, over an
 * already valid body, allocates exactly what it needs (a view per field, a string arena no
 * larger than the body plus one NUL per string) and fills it.
 */
#include "sam/proto.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/secret.h"

/* ---------------------------------------------------------------------------------------------
 * Spec tables
 * ------------------------------------------------------------------------------------------- */

#define S QS_SAM_F_SECRET

static const qs_sam_tag_spec qs_sam_tags_[QS_SAM_TAG_MAX + 1] = {
    [QS_SAM_T_USER_ID] = {QS_SAM_T_USER_ID, "USER_ID", QS_SAM_K_STR, 0, 1, 128},
    [QS_SAM_T_CREDENTIAL_ID] = {QS_SAM_T_CREDENTIAL_ID, "CREDENTIAL_ID", QS_SAM_K_STR, 0, 1, 128},
    [QS_SAM_T_ACTOR] = {QS_SAM_T_ACTOR, "ACTOR", QS_SAM_K_STR, 0, 1, 128},
    [QS_SAM_T_PIN] = {QS_SAM_T_PIN, "PIN", QS_SAM_K_STR, S, 1, 64},
    [QS_SAM_T_OTP] = {QS_SAM_T_OTP, "OTP", QS_SAM_K_STR, S, 1, 16},
    [QS_SAM_T_TOTP_ISSUER] = {QS_SAM_T_TOTP_ISSUER, "TOTP_ISSUER", QS_SAM_K_STR, 0, 1, 64},
    [QS_SAM_T_TOTP_ACCOUNT] = {QS_SAM_T_TOTP_ACCOUNT, "TOTP_ACCOUNT", QS_SAM_K_STR, 0, 1, 128},
    [QS_SAM_T_OTPAUTH_URI] = {QS_SAM_T_OTPAUTH_URI, "OTPAUTH_URI", QS_SAM_K_STR, S, 1, 1024},
    [QS_SAM_T_KEY_ALG] = {QS_SAM_T_KEY_ALG, "KEY_ALG", QS_SAM_K_U32, 0, QS_SAM_KEY_RSA2048,
                          QS_SAM_KEY_EC_P384},
    [QS_SAM_T_SPKI] = {QS_SAM_T_SPKI, "SPKI", QS_SAM_K_BYTES, 0, 1, 2048},
    [QS_SAM_T_NUM_SIGNATURES] = {QS_SAM_T_NUM_SIGNATURES, "NUM_SIGNATURES", QS_SAM_K_U32, 0, 1,
                                 QS_SAM_MAX_HASHES},
    [QS_SAM_T_HASH_ALG] = {QS_SAM_T_HASH_ALG, "HASH_ALG", QS_SAM_K_U32, 0, QS_SAM_HASH_SHA256,
                           QS_SAM_HASH_SHA512},
    [QS_SAM_T_HASH] = {QS_SAM_T_HASH, "HASH", QS_SAM_K_BYTES, QS_SAM_F_DIGEST_LEN, 32, 64},
    [QS_SAM_T_DESCRIPTION] = {QS_SAM_T_DESCRIPTION, "DESCRIPTION", QS_SAM_K_STR, 0, 1, 500},
    [QS_SAM_T_CLIENT_DATA] = {QS_SAM_T_CLIENT_DATA, "CLIENT_DATA", QS_SAM_K_STR, 0, 1, 4096},
    [QS_SAM_T_SAD] = {QS_SAM_T_SAD, "SAD", QS_SAM_K_STR, S, QS_SAM_SAD_LEN, QS_SAM_SAD_LEN},
    [QS_SAM_T_EXPIRES_IN] = {QS_SAM_T_EXPIRES_IN, "EXPIRES_IN", QS_SAM_K_U32, 0, 1, 86400},
    [QS_SAM_T_SIG_SCHEME] = {QS_SAM_T_SIG_SCHEME, "SIG_SCHEME", QS_SAM_K_U32, 0, QS_SAM_SIG_ECDSA,
                             QS_SAM_SIG_RSA_PSS},
    [QS_SAM_T_PSS_SALT_LEN] = {QS_SAM_T_PSS_SALT_LEN, "PSS_SALT_LEN", QS_SAM_K_U32, 0, 0, 512},
    [QS_SAM_T_PSS_MGF_HASH] = {QS_SAM_T_PSS_MGF_HASH, "PSS_MGF_HASH", QS_SAM_K_U32, 0,
                               QS_SAM_HASH_SHA256, QS_SAM_HASH_SHA512},
    [QS_SAM_T_SIGNATURE] = {QS_SAM_T_SIGNATURE, "SIGNATURE", QS_SAM_K_BYTES, 0, 1, 1024},
    [QS_SAM_T_STATE_ACTION] = {QS_SAM_T_STATE_ACTION, "STATE_ACTION", QS_SAM_K_U32, 0,
                               QS_SAM_STATE_LOCK, QS_SAM_STATE_DESTROY},
    [QS_SAM_T_REASON] = {QS_SAM_T_REASON, "REASON", QS_SAM_K_STR, 0, 1, 500},
    [QS_SAM_T_ERROR_CODE] = {QS_SAM_T_ERROR_CODE, "ERROR_CODE", QS_SAM_K_U32, 0, 0, UINT32_MAX},
    [QS_SAM_T_ERROR_MESSAGE] = {QS_SAM_T_ERROR_MESSAGE, "ERROR_MESSAGE", QS_SAM_K_STR, 0, 1, 512},
    [QS_SAM_T_USERNAME] = {QS_SAM_T_USERNAME, "USERNAME", QS_SAM_K_STR, 0, 1, 128},
    [QS_SAM_T_USER_KIND] = {QS_SAM_T_USER_KIND, "USER_KIND", QS_SAM_K_U32, 0, QS_SAM_USER_SIGNER,
                            QS_SAM_USER_AUDITOR},
    [QS_SAM_T_PROFILE] = {QS_SAM_T_PROFILE, "PROFILE", QS_SAM_K_STR, 0, 1, 32},
    [QS_SAM_T_COUNTRY] = {QS_SAM_T_COUNTRY, "COUNTRY", QS_SAM_K_STR, 0, 1, 16},
    [QS_SAM_T_COMMON_NAME] = {QS_SAM_T_COMMON_NAME, "COMMON_NAME", QS_SAM_K_STR, 0, 1, 256},
    [QS_SAM_T_GIVEN_NAME] = {QS_SAM_T_GIVEN_NAME, "GIVEN_NAME", QS_SAM_K_STR, 0, 1, 1024},
    [QS_SAM_T_SURNAME] = {QS_SAM_T_SURNAME, "SURNAME", QS_SAM_K_STR, 0, 1, 1024},
    [QS_SAM_T_PSEUDONYM] = {QS_SAM_T_PSEUDONYM, "PSEUDONYM", QS_SAM_K_STR, 0, 1, 512},
    [QS_SAM_T_SERIAL_NUMBER] = {QS_SAM_T_SERIAL_NUMBER, "SERIAL_NUMBER", QS_SAM_K_STR, 0, 1, 256},
    [QS_SAM_T_ORGANIZATION] = {QS_SAM_T_ORGANIZATION, "ORGANIZATION", QS_SAM_K_STR, 0, 1, 256},
    [QS_SAM_T_ORGANIZATION_ID] = {QS_SAM_T_ORGANIZATION_ID, "ORGANIZATION_ID", QS_SAM_K_STR, 0, 1,
                                  256},
    [QS_SAM_T_EVIDENCE_METHOD] = {QS_SAM_T_EVIDENCE_METHOD, "EVIDENCE_METHOD", QS_SAM_K_U32, 0,
                                  QS_SAM_EVIDENCE_PHYSICAL, QS_SAM_EVIDENCE_REMOTE},
    [QS_SAM_T_DOCUMENT_TYPE] = {QS_SAM_T_DOCUMENT_TYPE, "DOCUMENT_TYPE", QS_SAM_K_U32, 0,
                                QS_SAM_DOC_PASSPORT, QS_SAM_DOC_DRIVING_LICENCE},
    [QS_SAM_T_DOCUMENT_NUMBER] = {QS_SAM_T_DOCUMENT_NUMBER, "DOCUMENT_NUMBER", QS_SAM_K_STR, S, 1,
                                  64},
    [QS_SAM_T_DOCUMENT_COUNTRY] = {QS_SAM_T_DOCUMENT_COUNTRY, "DOCUMENT_COUNTRY", QS_SAM_K_STR, 0,
                                   1, 16},
    [QS_SAM_T_NOTES] = {QS_SAM_T_NOTES, "NOTES", QS_SAM_K_STR, 0, 1, 1000},
    [QS_SAM_T_ACTIVATION_CODE] = {QS_SAM_T_ACTIVATION_CODE, "ACTIVATION_CODE", QS_SAM_K_STR, S, 1,
                                  64},
    [QS_SAM_T_CERT] = {QS_SAM_T_CERT, "CERT", QS_SAM_K_BYTES, 0, 1, 16384},
    [QS_SAM_T_CSR] = {QS_SAM_T_CSR, "CSR", QS_SAM_K_BYTES, 0, 1, 16384},
    [QS_SAM_T_CERT_SERIAL] = {QS_SAM_T_CERT_SERIAL, "CERT_SERIAL", QS_SAM_K_BYTES, 0, 1, 20},
    [QS_SAM_T_CRL_REASON] = {QS_SAM_T_CRL_REASON, "CRL_REASON", QS_SAM_K_U32, 0, 0, 10},
    [QS_SAM_T_CA_MODE] = {QS_SAM_T_CA_MODE, "CA_MODE", QS_SAM_K_U32, 0, QS_SAM_CA_SELF_SIGNED,
                          QS_SAM_CA_EXTERNAL},
    [QS_SAM_T_CRL] = {QS_SAM_T_CRL, "CRL", QS_SAM_K_BYTES, 0, 1, QS_SAM_CRL_MAX},
    [QS_SAM_T_OCSP_REQUEST] = {QS_SAM_T_OCSP_REQUEST, "OCSP_REQUEST", QS_SAM_K_BYTES, 0, 1, 16384},
    [QS_SAM_T_OCSP_RESPONSE] = {QS_SAM_T_OCSP_RESPONSE, "OCSP_RESPONSE", QS_SAM_K_BYTES, 0, 1,
                                65536},
    [QS_SAM_T_RA_SESSION] = {QS_SAM_T_RA_SESSION, "RA_SESSION", QS_SAM_K_STR, S, QS_SAM_SAD_LEN,
                             QS_SAM_SAD_LEN},
    [QS_SAM_T_EXPIRES_AT] = {QS_SAM_T_EXPIRES_AT, "EXPIRES_AT", QS_SAM_K_U64, 0, 1, UINT32_MAX},
    [QS_SAM_T_CMS] = {QS_SAM_T_CMS, "CMS", QS_SAM_K_BYTES, 0, 1, QS_SAM_CMS_MAX},
    [QS_SAM_T_EVENT_TYPE] = {QS_SAM_T_EVENT_TYPE, "EVENT_TYPE", QS_SAM_K_STR, 0, 1, 64},
    [QS_SAM_T_TIME_FROM] = {QS_SAM_T_TIME_FROM, "TIME_FROM", QS_SAM_K_U64, 0, 0, INT64_MAX},
    [QS_SAM_T_TIME_TO] = {QS_SAM_T_TIME_TO, "TIME_TO", QS_SAM_K_U64, 0, 0, INT64_MAX},
    [QS_SAM_T_AUDIT_RESULT] = {QS_SAM_T_AUDIT_RESULT, "AUDIT_RESULT", QS_SAM_K_U32, 0,
                               QS_SAM_AUDIT_SUCCESS, QS_SAM_AUDIT_FAILURE},
    [QS_SAM_T_WRITER_ID] = {QS_SAM_T_WRITER_ID, "WRITER_ID", QS_SAM_K_STR, 0, 1, 64},
    [QS_SAM_T_LOCKED] = {QS_SAM_T_LOCKED, "LOCKED", QS_SAM_K_U32, 0, 1, 1},
};

#undef S

#define REQ(tag)                                                                                   \
    {                                                                                              \
        (tag), true, 1                                                                             \
    }
#define OPT(tag)                                                                                   \
    {                                                                                              \
        (tag), false, 1                                                                            \
    }
#define REP(tag, max)                                                                              \
    {                                                                                              \
        (tag), true, (max)                                                                         \
    }
#define N(a) (sizeof(a) / sizeof((a)[0]))

static const qs_sam_field_spec qs_sam_f_enrol_[] = {
    REQ(QS_SAM_T_USER_ID),     OPT(QS_SAM_T_ACTOR),        REQ(QS_SAM_T_PIN),
    OPT(QS_SAM_T_TOTP_ISSUER), OPT(QS_SAM_T_TOTP_ACCOUNT),
};
static const qs_sam_field_spec qs_sam_f_enrol_resp_[] = {
    REQ(QS_SAM_T_OTPAUTH_URI),
};
static const qs_sam_field_spec qs_sam_f_create_[] = {
    REQ(QS_SAM_T_USER_ID),
    OPT(QS_SAM_T_ACTOR),
    REQ(QS_SAM_T_KEY_ALG),
};
static const qs_sam_field_spec qs_sam_f_create_resp_[] = {
    REQ(QS_SAM_T_CREDENTIAL_ID),
    REQ(QS_SAM_T_SPKI),
};
static const qs_sam_field_spec qs_sam_f_authorize_[] = {
    REQ(QS_SAM_T_USER_ID),
    REQ(QS_SAM_T_CREDENTIAL_ID),
    REQ(QS_SAM_T_PIN),
    REQ(QS_SAM_T_OTP),
    REQ(QS_SAM_T_NUM_SIGNATURES),
    REQ(QS_SAM_T_HASH_ALG),
    REP(QS_SAM_T_HASH, QS_SAM_MAX_HASHES),
    OPT(QS_SAM_T_DESCRIPTION),
    OPT(QS_SAM_T_CLIENT_DATA),
};
static const qs_sam_field_spec qs_sam_f_sad_resp_[] = {
    REQ(QS_SAM_T_SAD),
    REQ(QS_SAM_T_EXPIRES_IN),
};
static const qs_sam_field_spec qs_sam_f_extend_[] = {
    REQ(QS_SAM_T_USER_ID),  REQ(QS_SAM_T_CREDENTIAL_ID),
    REQ(QS_SAM_T_HASH_ALG), REP(QS_SAM_T_HASH, QS_SAM_MAX_HASHES),
    REQ(QS_SAM_T_SAD),
};
static const qs_sam_field_spec qs_sam_f_sign_[] = {
    REQ(QS_SAM_T_USER_ID),      REQ(QS_SAM_T_CREDENTIAL_ID),
    REQ(QS_SAM_T_HASH_ALG),     REP(QS_SAM_T_HASH, QS_SAM_MAX_HASHES),
    REQ(QS_SAM_T_SAD),          REQ(QS_SAM_T_SIG_SCHEME),
    OPT(QS_SAM_T_PSS_SALT_LEN), OPT(QS_SAM_T_PSS_MGF_HASH),
};
static const qs_sam_field_spec qs_sam_f_sign_resp_[] = {
    REP(QS_SAM_T_SIGNATURE, QS_SAM_MAX_HASHES),
};
static const qs_sam_field_spec qs_sam_f_sign_doc_[] = {
    REQ(QS_SAM_T_USER_ID),      REQ(QS_SAM_T_CREDENTIAL_ID),
    REQ(QS_SAM_T_HASH_ALG),     REP(QS_SAM_T_HASH, QS_SAM_MAX_DOC_DIGESTS),
    REQ(QS_SAM_T_SAD),          REQ(QS_SAM_T_SIG_SCHEME),
    OPT(QS_SAM_T_PSS_SALT_LEN), OPT(QS_SAM_T_PSS_MGF_HASH),
};
static const qs_sam_field_spec qs_sam_f_sign_doc_resp_[] = {
    REP(QS_SAM_T_CMS, QS_SAM_MAX_DOC_DIGESTS),
};
static const qs_sam_field_spec qs_sam_f_state_[] = {
    REQ(QS_SAM_T_CREDENTIAL_ID),
    REQ(QS_SAM_T_ACTOR),
    REQ(QS_SAM_T_STATE_ACTION),
    REQ(QS_SAM_T_REASON),
};
static const qs_sam_field_spec qs_sam_f_create_user_[] = {
    OPT(QS_SAM_T_ACTOR),
    REQ(QS_SAM_T_USERNAME),
    REQ(QS_SAM_T_USER_KIND),
};
static const qs_sam_field_spec qs_sam_f_create_user_resp_[] = {
    REQ(QS_SAM_T_USER_ID),
};
static const qs_sam_field_spec qs_sam_f_ca_init_[] = {
    OPT(QS_SAM_T_ACTOR),
    REQ(QS_SAM_T_CA_MODE),
};
static const qs_sam_field_spec qs_sam_f_ca_init_resp_[] = {
    OPT(QS_SAM_T_CERT),
    OPT(QS_SAM_T_CSR),
};
static const qs_sam_field_spec qs_sam_f_ca_import_[] = {
    OPT(QS_SAM_T_ACTOR),
    REQ(QS_SAM_T_CERT),
};
static const qs_sam_field_spec qs_sam_f_actor_only_[] = {
    OPT(QS_SAM_T_ACTOR),
};
static const qs_sam_field_spec qs_sam_f_cert_resp_[] = {
    REQ(QS_SAM_T_CERT),
};
static const qs_sam_field_spec qs_sam_f_create_signer_[] = {
    OPT(QS_SAM_T_ACTOR),         REQ(QS_SAM_T_USERNAME),        REQ(QS_SAM_T_PROFILE),
    REQ(QS_SAM_T_COUNTRY),       REQ(QS_SAM_T_COMMON_NAME),     OPT(QS_SAM_T_GIVEN_NAME),
    OPT(QS_SAM_T_SURNAME),       OPT(QS_SAM_T_PSEUDONYM),       OPT(QS_SAM_T_SERIAL_NUMBER),
    OPT(QS_SAM_T_ORGANIZATION),  OPT(QS_SAM_T_ORGANIZATION_ID), REQ(QS_SAM_T_EVIDENCE_METHOD),
    REQ(QS_SAM_T_DOCUMENT_TYPE), REQ(QS_SAM_T_DOCUMENT_NUMBER), REQ(QS_SAM_T_DOCUMENT_COUNTRY),
    OPT(QS_SAM_T_NOTES),         OPT(QS_SAM_T_RA_SESSION),
};
static const qs_sam_field_spec qs_sam_f_create_signer_resp_[] = {
    REQ(QS_SAM_T_USER_ID),
    REQ(QS_SAM_T_ACTIVATION_CODE),
    REQ(QS_SAM_T_EXPIRES_AT),
};
static const qs_sam_field_spec qs_sam_f_issue_[] = {
    OPT(QS_SAM_T_USER_ID), OPT(QS_SAM_T_CREDENTIAL_ID), OPT(QS_SAM_T_ACTOR),
    OPT(QS_SAM_T_KEY_ALG), OPT(QS_SAM_T_PROFILE),       OPT(QS_SAM_T_RA_SESSION),
};
static const qs_sam_field_spec qs_sam_f_issue_resp_[] = {
    REQ(QS_SAM_T_CREDENTIAL_ID),
    REQ(QS_SAM_T_CERT),
    REQ(QS_SAM_T_CERT_SERIAL),
};
static const qs_sam_field_spec qs_sam_f_revoke_[] = {
    OPT(QS_SAM_T_CREDENTIAL_ID), OPT(QS_SAM_T_ACTOR),      OPT(QS_SAM_T_REASON),
    OPT(QS_SAM_T_CERT_SERIAL),   REQ(QS_SAM_T_CRL_REASON), OPT(QS_SAM_T_RA_SESSION),
};
static const qs_sam_field_spec qs_sam_f_revoke_resp_[] = {
    REQ(QS_SAM_T_CERT_SERIAL),
};
static const qs_sam_field_spec qs_sam_f_crl_resp_[] = {
    REQ(QS_SAM_T_CRL),
};
static const qs_sam_field_spec qs_sam_f_ocsp_[] = {
    REQ(QS_SAM_T_OCSP_REQUEST),
};
static const qs_sam_field_spec qs_sam_f_ocsp_resp_[] = {
    REQ(QS_SAM_T_OCSP_RESPONSE),
};
static const qs_sam_field_spec qs_sam_f_activate_[] = {
    REQ(QS_SAM_T_USER_ID),         REQ(QS_SAM_T_PIN),
    OPT(QS_SAM_T_TOTP_ISSUER),     OPT(QS_SAM_T_TOTP_ACCOUNT),
    REQ(QS_SAM_T_ACTIVATION_CODE),
};
static const qs_sam_field_spec qs_sam_f_unlock_[] = {
    REQ(QS_SAM_T_CREDENTIAL_ID),
    OPT(QS_SAM_T_ACTOR),
    REQ(QS_SAM_T_REASON),
    OPT(QS_SAM_T_RA_SESSION),
};
static const qs_sam_field_spec qs_sam_f_officer_login_[] = {
    REQ(QS_SAM_T_USER_ID),
    REQ(QS_SAM_T_OTP),
    OPT(QS_SAM_T_USER_KIND),
};
static const qs_sam_field_spec qs_sam_f_officer_login_resp_[] = {
    REQ(QS_SAM_T_EXPIRES_IN),
    REQ(QS_SAM_T_RA_SESSION),
};
static const qs_sam_field_spec qs_sam_f_audit_search_[] = {
    OPT(QS_SAM_T_USER_ID),      OPT(QS_SAM_T_CREDENTIAL_ID), REQ(QS_SAM_T_RA_SESSION),
    OPT(QS_SAM_T_EVENT_TYPE),   OPT(QS_SAM_T_TIME_FROM),     OPT(QS_SAM_T_TIME_TO),
    OPT(QS_SAM_T_AUDIT_RESULT), OPT(QS_SAM_T_WRITER_ID),
};
static const qs_sam_field_spec qs_sam_f_error_[] = {
    REQ(QS_SAM_T_ERROR_CODE),
    REQ(QS_SAM_T_ERROR_MESSAGE),
    OPT(QS_SAM_T_LOCKED),
};

static const qs_sam_msg_spec qs_sam_msgs_[] = {
    {QS_SAM_PING, "PING", 0, NULL},
    {QS_SAM_ENROL_FACTORS, "ENROL_FACTORS", N(qs_sam_f_enrol_), qs_sam_f_enrol_},
    {QS_SAM_CREATE_CREDENTIAL, "CREATE_CREDENTIAL", N(qs_sam_f_create_), qs_sam_f_create_},
    {QS_SAM_AUTHORIZE, "AUTHORIZE", N(qs_sam_f_authorize_), qs_sam_f_authorize_},
    {QS_SAM_EXTEND, "EXTEND", N(qs_sam_f_extend_), qs_sam_f_extend_},
    {QS_SAM_SIGN, "SIGN", N(qs_sam_f_sign_), qs_sam_f_sign_},
    {QS_SAM_CREDENTIAL_STATE, "CREDENTIAL_STATE", N(qs_sam_f_state_), qs_sam_f_state_},
    {QS_SAM_CREATE_USER, "CREATE_USER", N(qs_sam_f_create_user_), qs_sam_f_create_user_},
    {QS_SAM_CA_INIT, "CA_INIT", N(qs_sam_f_ca_init_), qs_sam_f_ca_init_},
    {QS_SAM_CA_IMPORT_CERT, "CA_IMPORT_CERT", N(qs_sam_f_ca_import_), qs_sam_f_ca_import_},
    {QS_SAM_CA_RENEW_OCSP, "CA_RENEW_OCSP", N(qs_sam_f_actor_only_), qs_sam_f_actor_only_},
    {QS_SAM_CREATE_SIGNER, "CREATE_SIGNER", N(qs_sam_f_create_signer_), qs_sam_f_create_signer_},
    {QS_SAM_ISSUE_CERT, "ISSUE_CERT", N(qs_sam_f_issue_), qs_sam_f_issue_},
    {QS_SAM_REVOKE, "REVOKE", N(qs_sam_f_revoke_), qs_sam_f_revoke_},
    {QS_SAM_CRL, "CRL", 0, NULL},
    {QS_SAM_OCSP, "OCSP", N(qs_sam_f_ocsp_), qs_sam_f_ocsp_},
    {QS_SAM_ACTIVATE, "ACTIVATE", N(qs_sam_f_activate_), qs_sam_f_activate_},
    {QS_SAM_UNLOCK, "UNLOCK", N(qs_sam_f_unlock_), qs_sam_f_unlock_},
    {QS_SAM_OFFICER_LOGIN, "OFFICER_LOGIN", N(qs_sam_f_officer_login_), qs_sam_f_officer_login_},
    {QS_SAM_SIGN_DOC, "SIGN_DOC", N(qs_sam_f_sign_doc_), qs_sam_f_sign_doc_},
    {QS_SAM_AUDIT_SEARCH, "AUDIT_SEARCH", N(qs_sam_f_audit_search_), qs_sam_f_audit_search_},
    {QS_SAM_PING_RESP, "PING_RESP", 0, NULL},
    {QS_SAM_ENROL_FACTORS_RESP, "ENROL_FACTORS_RESP", N(qs_sam_f_enrol_resp_),
     qs_sam_f_enrol_resp_},
    {QS_SAM_CREATE_CREDENTIAL_RESP, "CREATE_CREDENTIAL_RESP", N(qs_sam_f_create_resp_),
     qs_sam_f_create_resp_},
    {QS_SAM_AUTHORIZE_RESP, "AUTHORIZE_RESP", N(qs_sam_f_sad_resp_), qs_sam_f_sad_resp_},
    {QS_SAM_EXTEND_RESP, "EXTEND_RESP", N(qs_sam_f_sad_resp_), qs_sam_f_sad_resp_},
    {QS_SAM_SIGN_RESP, "SIGN_RESP", N(qs_sam_f_sign_resp_), qs_sam_f_sign_resp_},
    {QS_SAM_CREDENTIAL_STATE_RESP, "CREDENTIAL_STATE_RESP", 0, NULL},
    {QS_SAM_CREATE_USER_RESP, "CREATE_USER_RESP", N(qs_sam_f_create_user_resp_),
     qs_sam_f_create_user_resp_},
    {QS_SAM_CA_INIT_RESP, "CA_INIT_RESP", N(qs_sam_f_ca_init_resp_), qs_sam_f_ca_init_resp_},
    {QS_SAM_CA_IMPORT_CERT_RESP, "CA_IMPORT_CERT_RESP", N(qs_sam_f_cert_resp_),
     qs_sam_f_cert_resp_},
    {QS_SAM_CA_RENEW_OCSP_RESP, "CA_RENEW_OCSP_RESP", N(qs_sam_f_cert_resp_), qs_sam_f_cert_resp_},
    {QS_SAM_CREATE_SIGNER_RESP, "CREATE_SIGNER_RESP", N(qs_sam_f_create_signer_resp_),
     qs_sam_f_create_signer_resp_},
    {QS_SAM_ISSUE_CERT_RESP, "ISSUE_CERT_RESP", N(qs_sam_f_issue_resp_), qs_sam_f_issue_resp_},
    {QS_SAM_REVOKE_RESP, "REVOKE_RESP", N(qs_sam_f_revoke_resp_), qs_sam_f_revoke_resp_},
    {QS_SAM_CRL_RESP, "CRL_RESP", N(qs_sam_f_crl_resp_), qs_sam_f_crl_resp_},
    {QS_SAM_OCSP_RESP, "OCSP_RESP", N(qs_sam_f_ocsp_resp_), qs_sam_f_ocsp_resp_},
    {QS_SAM_ACTIVATE_RESP, "ACTIVATE_RESP", N(qs_sam_f_enrol_resp_), qs_sam_f_enrol_resp_},
    {QS_SAM_UNLOCK_RESP, "UNLOCK_RESP", 0, NULL},
    {QS_SAM_OFFICER_LOGIN_RESP, "OFFICER_LOGIN_RESP", N(qs_sam_f_officer_login_resp_),
     qs_sam_f_officer_login_resp_},
    {QS_SAM_SIGN_DOC_RESP, "SIGN_DOC_RESP", N(qs_sam_f_sign_doc_resp_), qs_sam_f_sign_doc_resp_},
    {QS_SAM_AUDIT_SEARCH_RESP, "AUDIT_SEARCH_RESP", 0, NULL},
    {QS_SAM_ERROR, "ERROR", N(qs_sam_f_error_), qs_sam_f_error_},
};

#undef REQ
#undef OPT
#undef REP

const qs_sam_tag_spec *qs_sam_tag_spec_get(uint16_t tag)
{
    if (tag == 0 || tag > QS_SAM_TAG_MAX || qs_sam_tags_[tag].name == NULL)
        return NULL;
    return &qs_sam_tags_[tag];
}

const qs_sam_msg_spec *qs_sam_msg_spec_get(uint16_t type)
{
    for (size_t i = 0; i < N(qs_sam_msgs_); i++) {
        if (qs_sam_msgs_[i].type == type)
            return &qs_sam_msgs_[i];
    }
    return NULL;
}

const qs_sam_msg_spec *qs_sam_msg_specs(size_t *n)
{
    *n = N(qs_sam_msgs_);
    return qs_sam_msgs_;
}

/* The index of `tag` in the message spec, or -1 when the message does not allow it. */
static int qs_sam_field_index(const qs_sam_msg_spec *ms, uint16_t tag)
{
    for (size_t i = 0; i < ms->nfields; i++) {
        if (ms->fields[i].tag == tag)
            return (int)i;
    }
    return -1;
}

const char *qs_sam_reason_name(qs_sam_reason r)
{
    switch (r) {
    case QS_SAM_R_OK:
        return "OK";
    case QS_SAM_R_TRUNCATED_HEADER:
        return "TRUNCATED_HEADER";
    case QS_SAM_R_BAD_MAGIC:
        return "BAD_MAGIC";
    case QS_SAM_R_BAD_VERSION:
        return "BAD_VERSION";
    case QS_SAM_R_UNKNOWN_TYPE:
        return "UNKNOWN_TYPE";
    case QS_SAM_R_BODY_TOO_LARGE:
        return "BODY_TOO_LARGE";
    case QS_SAM_R_LENGTH_MISMATCH:
        return "LENGTH_MISMATCH";
    case QS_SAM_R_TRAILING_BYTES:
        return "TRAILING_BYTES";
    case QS_SAM_R_TRUNCATED_FIELD:
        return "TRUNCATED_FIELD";
    case QS_SAM_R_UNKNOWN_TAG:
        return "UNKNOWN_TAG";
    case QS_SAM_R_FIELD_ORDER:
        return "FIELD_ORDER";
    case QS_SAM_R_DUPLICATE_FIELD:
        return "DUPLICATE_FIELD";
    case QS_SAM_R_TOO_MANY:
        return "TOO_MANY";
    case QS_SAM_R_MISSING_FIELD:
        return "MISSING_FIELD";
    case QS_SAM_R_BAD_LENGTH:
        return "BAD_LENGTH";
    case QS_SAM_R_VALUE_RANGE:
        return "VALUE_RANGE";
    case QS_SAM_R_BAD_UTF8:
        return "BAD_UTF8";
    case QS_SAM_R_EMBEDDED_NUL:
        return "EMBEDDED_NUL";
    case QS_SAM_R_WRONG_KIND:
        return "WRONG_KIND";
    case QS_SAM_R_EOF_IN_FRAME:
        return "EOF_IN_FRAME";
    }
    return "UNKNOWN_REASON";
}

const char *qs_sam_reason_str(qs_sam_reason r)
{
    switch (r) {
    case QS_SAM_R_OK:
        return "no error";
    case QS_SAM_R_TRUNCATED_HEADER:
        return "frame shorter than its header";
    case QS_SAM_R_BAD_MAGIC:
        return "bad magic";
    case QS_SAM_R_BAD_VERSION:
        return "unsupported protocol version";
    case QS_SAM_R_UNKNOWN_TYPE:
        return "unknown message type";
    case QS_SAM_R_BODY_TOO_LARGE:
        return "body length above the limit";
    case QS_SAM_R_LENGTH_MISMATCH:
        return "body shorter than the header announces";
    case QS_SAM_R_TRAILING_BYTES:
        return "bytes after the body";
    case QS_SAM_R_TRUNCATED_FIELD:
        return "field runs past the end of the body";
    case QS_SAM_R_UNKNOWN_TAG:
        return "field not allowed in this message type";
    case QS_SAM_R_FIELD_ORDER:
        return "fields not in ascending tag order";
    case QS_SAM_R_DUPLICATE_FIELD:
        return "duplicate field";
    case QS_SAM_R_TOO_MANY:
        return "too many occurrences of a repeated field";
    case QS_SAM_R_MISSING_FIELD:
        return "required field missing";
    case QS_SAM_R_BAD_LENGTH:
        return "field length out of range";
    case QS_SAM_R_VALUE_RANGE:
        return "integer value out of range";
    case QS_SAM_R_BAD_UTF8:
        return "string is not valid UTF-8";
    case QS_SAM_R_EMBEDDED_NUL:
        return "string contains a NUL byte";
    case QS_SAM_R_WRONG_KIND:
        return "value of the wrong kind for the field";
    case QS_SAM_R_EOF_IN_FRAME:
        return "stream ended inside a frame";
    }
    return "unknown reason";
}

/* ---------------------------------------------------------------------------------------------
 * Big-endian helpers and value checks shared by decoder and encoder
 * ------------------------------------------------------------------------------------------- */

static uint16_t qs_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t qs_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t qs_be64(const uint8_t *p)
{
    return (uint64_t)qs_be32(p) << 32 | qs_be32(p + 4);
}

static void qs_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void qs_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void qs_put64(uint8_t *p, uint64_t v)
{
    qs_put32(p, (uint32_t)(v >> 32));
    qs_put32(p + 4, (uint32_t)v);
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool qs_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t more;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            more = 1, cp = c & 0x1fu, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            more = 2, cp = c & 0x0fu, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3, cp = c & 0x07u, min = 0x10000;
        } else {
            return false;
        }
        if (n - i - 1 < more)
            return false;
        for (size_t k = 1; k <= more; k++) {
            uint8_t cc = s[i + k];
            if ((cc & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (cc & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += more + 1;
    }
    return true;
}

/* Checks one value against its tag's kind and limits. */
static qs_sam_reason qs_sam_check_value(const qs_sam_tag_spec *ts, const uint8_t *p, size_t len)
{
    switch (ts->kind) {
    case QS_SAM_K_U32:
        if (len != 4)
            return QS_SAM_R_BAD_LENGTH;
        if (qs_be32(p) < ts->min || qs_be32(p) > ts->max)
            return QS_SAM_R_VALUE_RANGE;
        return QS_SAM_R_OK;
    case QS_SAM_K_U64:
        if (len != 8)
            return QS_SAM_R_BAD_LENGTH;
        if (qs_be64(p) < ts->min || qs_be64(p) > ts->max)
            return QS_SAM_R_VALUE_RANGE;
        return QS_SAM_R_OK;
    case QS_SAM_K_BYTES:
        if (len < ts->min || len > ts->max)
            return QS_SAM_R_BAD_LENGTH;
        if ((ts->flags & QS_SAM_F_DIGEST_LEN) != 0 && len != 32 && len != 48 && len != 64)
            return QS_SAM_R_BAD_LENGTH;
        return QS_SAM_R_OK;
    case QS_SAM_K_STR:
        if (len < ts->min || len > ts->max)
            return QS_SAM_R_BAD_LENGTH;
        if (len > 0 && memchr(p, 0, len) != NULL)
            return QS_SAM_R_EMBEDDED_NUL;
        if (!qs_utf8_valid(p, len))
            return QS_SAM_R_BAD_UTF8;
        return QS_SAM_R_OK;
    }
    return QS_SAM_R_WRONG_KIND;
}

/* ---------------------------------------------------------------------------------------------
 * Decoder
 * ------------------------------------------------------------------------------------------- */

typedef struct qs_sam_view {
    const uint8_t *p; /* into the body (integers, bytes) or the arena (strings, NUL-terminated) */
    size_t len;
} qs_sam_view;

struct qs_sam_msg {
    uint16_t type;
    uint64_t reqid;
    const qs_sam_msg_spec *spec;
    size_t first[QS_SAM_MAX_MSG_FIELDS]; /* index of each spec field's first view */
    size_t count[QS_SAM_MAX_MSG_FIELDS];
    qs_sam_view *views;
    size_t nviews;
    char *arena;
    size_t arena_len;
    uint8_t *owned_frame; /* set by qs_sam_recv */
    size_t owned_len;
};

qs_sam_reason qs_sam_header_parse(const uint8_t hdr[static QS_SAM_HDR_LEN], size_t max_body,
                                  qs_sam_header *h)
{
    memset(h, 0, sizeof *h);
    if (memcmp(hdr, QS_SAM_MAGIC, QS_SAM_MAGIC_LEN) != 0)
        return QS_SAM_R_BAD_MAGIC;
    h->version = qs_be16(hdr + 4);
    h->type = qs_be16(hdr + 6);
    h->reqid = qs_be64(hdr + 8);
    h->body_len = qs_be32(hdr + 16);
    if (h->version != QS_SAM_VERSION)
        return QS_SAM_R_BAD_VERSION;
    if (qs_sam_msg_spec_get(h->type) == NULL)
        return QS_SAM_R_UNKNOWN_TYPE;
    if (max_body > QS_SAM_MAX_BODY)
        max_body = QS_SAM_MAX_BODY;
    if (h->body_len > max_body)
        return QS_SAM_R_BODY_TOO_LARGE;
    return QS_SAM_R_OK;
}

/* First pass: validates the body against the spec, counting occurrences and string bytes. */
static qs_sam_reason qs_sam_validate(const qs_sam_msg_spec *ms, const uint8_t *body, size_t len,
                                     size_t count[static QS_SAM_MAX_MSG_FIELDS], size_t *total,
                                     size_t *arena_len)
{
    size_t pos = 0;
    uint16_t prev = 0;

    memset(count, 0, QS_SAM_MAX_MSG_FIELDS * sizeof count[0]);
    *total = 0;
    *arena_len = 0;
    while (pos < len) {
        if (len - pos < QS_SAM_FIELD_HDR_LEN)
            return QS_SAM_R_TRUNCATED_FIELD;
        uint16_t tag = qs_be16(body + pos);
        uint32_t flen = qs_be32(body + pos + 2);
        pos += QS_SAM_FIELD_HDR_LEN;
        if (flen > len - pos)
            return QS_SAM_R_TRUNCATED_FIELD;
        int fi = qs_sam_field_index(ms, tag);
        if (fi < 0)
            return QS_SAM_R_UNKNOWN_TAG;
        if (tag < prev)
            return QS_SAM_R_FIELD_ORDER;
        const qs_sam_field_spec *fs = &ms->fields[fi];
        if (count[fi] >= fs->max_count)
            return fs->max_count == 1 ? QS_SAM_R_DUPLICATE_FIELD : QS_SAM_R_TOO_MANY;
        const qs_sam_tag_spec *ts = qs_sam_tag_spec_get(tag);
        qs_sam_reason why = qs_sam_check_value(ts, body + pos, flen);
        if (why != QS_SAM_R_OK)
            return why;
        count[fi]++;
        (*total)++;
        if (ts->kind == QS_SAM_K_STR)
            *arena_len += (size_t)flen + 1;
        prev = tag;
        pos += flen;
    }
    for (size_t i = 0; i < ms->nfields; i++) {
        if (ms->fields[i].required && count[i] == 0)
            return QS_SAM_R_MISSING_FIELD;
    }
    return QS_SAM_R_OK;
}

qs_err qs_sam_decode_body(uint16_t type, uint64_t reqid, const uint8_t *body, size_t len,
                          qs_sam_msg **out, qs_sam_reason *why)
{
    qs_err r = QS_ERR_PROTO;
    qs_sam_msg *m = NULL;
    size_t count[QS_SAM_MAX_MSG_FIELDS];
    size_t total = 0, arena_len = 0;

    *out = NULL;
    *why = QS_SAM_R_OK;
    const qs_sam_msg_spec *ms = qs_sam_msg_spec_get(type);
    if (ms == NULL) {
        *why = QS_SAM_R_UNKNOWN_TYPE;
        goto out;
    }
    if (len > QS_SAM_MAX_BODY) {
        *why = QS_SAM_R_BODY_TOO_LARGE;
        goto out;
    }
    if (body == NULL && len > 0) {
        r = QS_ERR_INVALID_ARGUMENT;
        goto out;
    }
    if ((*why = qs_sam_validate(ms, body, len, count, &total, &arena_len)) != QS_SAM_R_OK)
        goto out;
    if ((m = calloc(1, sizeof *m)) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    m->type = type;
    m->reqid = reqid;
    m->spec = ms;
    memcpy(m->count, count, sizeof count);

    /* total <= len / 6 and arena_len <= len + total: both bounded by the body */
    if (total > 0 && (m->views = calloc(total, sizeof *m->views)) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    if (arena_len > 0 && (m->arena = malloc(arena_len)) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    m->nviews = total;
    m->arena_len = arena_len;
    /* fields arrive in spec order, so each field's views are contiguous, in wire order */
    for (size_t i = 0, acc = 0; i < ms->nfields; i++) {
        m->first[i] = acc;
        acc += m->count[i];
    }
    size_t pos = 0, v = 0, a = 0;
    while (pos < len) {
        uint16_t tag = qs_be16(body + pos);
        uint32_t flen = qs_be32(body + pos + 2);
        const uint8_t *val = body + pos + QS_SAM_FIELD_HDR_LEN;
        if (qs_sam_tag_spec_get(tag)->kind == QS_SAM_K_STR) {
            if (flen > 0)
                memcpy(m->arena + a, val, flen);
            m->arena[a + flen] = '\0';
            m->views[v].p = (const uint8_t *)(m->arena + a);
            a += (size_t)flen + 1;
        } else {
            m->views[v].p = val;
        }
        m->views[v].len = flen;
        v++;
        pos += QS_SAM_FIELD_HDR_LEN + (size_t)flen;
    }
    *out = m;
    m = NULL;
    r = QS_OK;
out:
    if (r != QS_OK && r != QS_ERR_PROTO)
        *why = QS_SAM_R_OK;
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_decode_frame(const uint8_t *frame, size_t len, qs_sam_msg **out, qs_sam_reason *why)
{
    qs_sam_header h;

    *out = NULL;
    if (frame == NULL || len < QS_SAM_HDR_LEN) {
        *why = QS_SAM_R_TRUNCATED_HEADER;
        return QS_ERR_PROTO;
    }
    if ((*why = qs_sam_header_parse(frame, QS_SAM_MAX_BODY, &h)) != QS_SAM_R_OK)
        return QS_ERR_PROTO;
    if (len - QS_SAM_HDR_LEN < h.body_len) {
        *why = QS_SAM_R_LENGTH_MISMATCH;
        return QS_ERR_PROTO;
    }
    if (len - QS_SAM_HDR_LEN > h.body_len) {
        *why = QS_SAM_R_TRAILING_BYTES;
        return QS_ERR_PROTO;
    }
    return qs_sam_decode_body(h.type, h.reqid, frame + QS_SAM_HDR_LEN, h.body_len, out, why);
}

void qs_sam_msg_free(qs_sam_msg *m)
{
    if (m == NULL)
        return;
    qs_free_wiped(m->arena, m->arena_len);
    free(m->views);
    qs_sam_frame_free(m->owned_frame, m->owned_len);
    qs_free_wiped(m, sizeof *m);
}

uint16_t qs_sam_msg_type(const qs_sam_msg *m)
{
    return m->type;
}

uint64_t qs_sam_msg_reqid(const qs_sam_msg *m)
{
    return m->reqid;
}

size_t qs_sam_msg_count(const qs_sam_msg *m, uint16_t tag)
{
    int fi = qs_sam_field_index(m->spec, tag);
    return fi < 0 ? 0 : m->count[fi];
}

/* The idx-th view of `tag` if present and of `kind`, else NULL. */
static const qs_sam_view *qs_sam_msg_view(const qs_sam_msg *m, uint16_t tag, size_t idx,
                                          qs_sam_kind kind)
{
    int fi = qs_sam_field_index(m->spec, tag);
    if (fi < 0 || idx >= m->count[fi] || qs_sam_tag_spec_get(tag)->kind != kind)
        return NULL;
    return &m->views[m->first[fi] + idx];
}

bool qs_sam_msg_get_u32(const qs_sam_msg *m, uint16_t tag, uint32_t *v)
{
    const qs_sam_view *w = qs_sam_msg_view(m, tag, 0, QS_SAM_K_U32);
    *v = w == NULL ? 0 : qs_be32(w->p);
    return w != NULL;
}

bool qs_sam_msg_get_u64(const qs_sam_msg *m, uint16_t tag, uint64_t *v)
{
    const qs_sam_view *w = qs_sam_msg_view(m, tag, 0, QS_SAM_K_U64);
    *v = w == NULL ? 0 : qs_be64(w->p);
    return w != NULL;
}

bool qs_sam_msg_get_bytes(const qs_sam_msg *m, uint16_t tag, size_t idx, const uint8_t **p,
                          size_t *len)
{
    const qs_sam_view *w = qs_sam_msg_view(m, tag, idx, QS_SAM_K_BYTES);
    *p = w == NULL ? NULL : w->p;
    *len = w == NULL ? 0 : w->len;
    return w != NULL;
}

const char *qs_sam_msg_get_str(const qs_sam_msg *m, uint16_t tag, size_t *len)
{
    const qs_sam_view *w = qs_sam_msg_view(m, tag, 0, QS_SAM_K_STR);
    if (len != NULL)
        *len = w == NULL ? 0 : w->len;
    return w == NULL ? NULL : (const char *)w->p;
}

/* ---------------------------------------------------------------------------------------------
 * Encoder
 * ------------------------------------------------------------------------------------------- */

typedef struct qs_sam_entry {
    uint16_t tag;
    uint32_t seq; /* put order, so sorting by (tag, seq) keeps repeats in order */
    size_t off;   /* of the field header in buf */
    size_t len;   /* header + value */
} qs_sam_entry;

struct qs_sam_builder {
    uint16_t type;
    uint64_t reqid;
    const qs_sam_msg_spec *spec;
    uint8_t *buf; /* fields in put order */
    size_t len, cap;
    qs_sam_entry *ents;
    size_t nents, ents_cap;
    size_t count[QS_SAM_MAX_MSG_FIELDS];
    qs_err err;
    qs_sam_reason why;
};

qs_err qs_sam_msg_begin(uint16_t type, uint64_t reqid, qs_sam_builder **out)
{
    *out = NULL;
    const qs_sam_msg_spec *ms = qs_sam_msg_spec_get(type);
    if (ms == NULL)
        return QS_ERR_INVALID_ARGUMENT;
    qs_sam_builder *b = calloc(1, sizeof *b);
    if (b == NULL)
        return QS_ERR_NOMEM;
    b->type = type;
    b->reqid = reqid;
    b->spec = ms;
    *out = b;
    return QS_OK;
}

qs_sam_reason qs_sam_builder_reason(const qs_sam_builder *b)
{
    return b->why;
}

static qs_err qs_sam_builder_fail(qs_sam_builder *b, qs_err e, qs_sam_reason why)
{
    b->err = e;
    b->why = why;
    return e;
}

/* Grows buf so that `need` more bytes fit.  The old buffer is wiped: it may hold secrets. */
static bool qs_sam_builder_reserve(qs_sam_builder *b, size_t need)
{
    if (b->cap - b->len >= need)
        return true;
    size_t cap = b->cap == 0 ? 256 : b->cap;
    while (cap - b->len < need)
        cap *= 2;
    uint8_t *nbuf = malloc(cap);
    if (nbuf == NULL)
        return false;
    if (b->len > 0)
        memcpy(nbuf, b->buf, b->len);
    qs_free_wiped(b->buf, b->cap);
    b->buf = nbuf;
    b->cap = cap;
    return true;
}

static qs_err qs_sam_put(qs_sam_builder *b, uint16_t tag, qs_sam_kind kind, const void *p,
                         size_t len)
{
    if (b == NULL)
        return QS_ERR_INVALID_ARGUMENT;
    if (b->err != QS_OK)
        return b->err;
    int fi = qs_sam_field_index(b->spec, tag);
    if (fi < 0)
        return qs_sam_builder_fail(b, QS_ERR_INVALID_ARGUMENT, QS_SAM_R_UNKNOWN_TAG);
    const qs_sam_tag_spec *ts = qs_sam_tag_spec_get(tag);
    if (ts->kind != kind)
        return qs_sam_builder_fail(b, QS_ERR_INVALID_ARGUMENT, QS_SAM_R_WRONG_KIND);
    const qs_sam_field_spec *fs = &b->spec->fields[fi];
    if (b->count[fi] >= fs->max_count)
        return qs_sam_builder_fail(b, QS_ERR_INVALID_ARGUMENT,
                                   fs->max_count == 1 ? QS_SAM_R_DUPLICATE_FIELD
                                                      : QS_SAM_R_TOO_MANY);
    if (p == NULL && len > 0)
        return qs_sam_builder_fail(b, QS_ERR_INVALID_ARGUMENT, QS_SAM_R_BAD_LENGTH);
    /* no field is longer than its spec's max, far below UINT32_MAX: check before any cast */
    qs_sam_reason why = len > UINT32_MAX ? QS_SAM_R_BAD_LENGTH : qs_sam_check_value(ts, p, len);
    if (why != QS_SAM_R_OK)
        return qs_sam_builder_fail(b, QS_ERR_INVALID_ARGUMENT, why);
    if (QS_SAM_MAX_BODY - b->len < QS_SAM_FIELD_HDR_LEN ||
        QS_SAM_MAX_BODY - b->len - QS_SAM_FIELD_HDR_LEN < len)
        return qs_sam_builder_fail(b, QS_ERR_INVALID_ARGUMENT, QS_SAM_R_BODY_TOO_LARGE);
    if (b->nents == b->ents_cap) {
        size_t ncap = b->ents_cap == 0 ? 16 : b->ents_cap * 2;
        qs_sam_entry *ne = realloc(b->ents, ncap * sizeof *ne);
        if (ne == NULL)
            return qs_sam_builder_fail(b, QS_ERR_NOMEM, QS_SAM_R_OK);
        b->ents = ne;
        b->ents_cap = ncap;
    }
    if (!qs_sam_builder_reserve(b, QS_SAM_FIELD_HDR_LEN + len))
        return qs_sam_builder_fail(b, QS_ERR_NOMEM, QS_SAM_R_OK);
    b->ents[b->nents] = (qs_sam_entry){tag, (uint32_t)b->nents, b->len, QS_SAM_FIELD_HDR_LEN + len};
    b->nents++;
    qs_put16(b->buf + b->len, tag);
    qs_put32(b->buf + b->len + 2, (uint32_t)len);
    if (len > 0)
        memcpy(b->buf + b->len + QS_SAM_FIELD_HDR_LEN, p, len);
    b->len += QS_SAM_FIELD_HDR_LEN + len;
    b->count[fi]++;
    return QS_OK;
}

qs_err qs_sam_msg_put_u32(qs_sam_builder *b, uint16_t tag, uint32_t v)
{
    uint8_t be[4];
    qs_put32(be, v);
    return qs_sam_put(b, tag, QS_SAM_K_U32, be, sizeof be);
}

qs_err qs_sam_msg_put_u64(qs_sam_builder *b, uint16_t tag, uint64_t v)
{
    uint8_t be[8];
    qs_put64(be, v);
    return qs_sam_put(b, tag, QS_SAM_K_U64, be, sizeof be);
}

qs_err qs_sam_msg_put_bytes(qs_sam_builder *b, uint16_t tag, const void *p, size_t len)
{
    return qs_sam_put(b, tag, QS_SAM_K_BYTES, p, len);
}

qs_err qs_sam_msg_put_strn(qs_sam_builder *b, uint16_t tag, const char *s, size_t len)
{
    return qs_sam_put(b, tag, QS_SAM_K_STR, s, len);
}

qs_err qs_sam_msg_put_str(qs_sam_builder *b, uint16_t tag, const char *s)
{
    if (s == NULL) {
        if (b == NULL)
            return QS_ERR_INVALID_ARGUMENT;
        if (b->err != QS_OK)
            return b->err;
        return qs_sam_builder_fail(b, QS_ERR_INVALID_ARGUMENT, QS_SAM_R_BAD_LENGTH);
    }
    return qs_sam_put(b, tag, QS_SAM_K_STR, s, strlen(s));
}

static int qs_sam_entry_cmp(const void *pa, const void *pb)
{
    const qs_sam_entry *a = pa, *b = pb;
    if (a->tag != b->tag)
        return a->tag < b->tag ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void qs_sam_builder_free(qs_sam_builder *b)
{
    if (b == NULL)
        return;
    qs_free_wiped(b->buf, b->cap);
    free(b->ents);
    qs_free_wiped(b, sizeof *b);
}

qs_err qs_sam_msg_finish(qs_sam_builder *b, uint8_t **frame, size_t *len, qs_sam_reason *why)
{
    qs_err r = QS_ERR_INVALID_ARGUMENT;
    uint8_t *f = NULL;

    *frame = NULL;
    *len = 0;
    if (why != NULL)
        *why = QS_SAM_R_OK;
    if (b == NULL)
        return QS_ERR_INVALID_ARGUMENT;
    if (b->err != QS_OK) {
        r = b->err;
        goto out;
    }
    for (size_t i = 0; i < b->spec->nfields; i++) {
        if (b->spec->fields[i].required && b->count[i] == 0) {
            r = qs_sam_builder_fail(b, QS_ERR_INVALID_ARGUMENT, QS_SAM_R_MISSING_FIELD);
            goto out;
        }
    }
    if ((f = malloc(QS_SAM_HDR_LEN + b->len)) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    memcpy(f, QS_SAM_MAGIC, QS_SAM_MAGIC_LEN);
    qs_put16(f + 4, QS_SAM_VERSION);
    qs_put16(f + 6, b->type);
    qs_put64(f + 8, b->reqid);
    qs_put32(f + 16, (uint32_t)b->len);
    if (b->nents > 1)
        qsort(b->ents, b->nents, sizeof *b->ents, qs_sam_entry_cmp);
    size_t pos = QS_SAM_HDR_LEN;
    for (size_t i = 0; i < b->nents; i++) {
        memcpy(f + pos, b->buf + b->ents[i].off, b->ents[i].len);
        pos += b->ents[i].len;
    }
    *frame = f;
    *len = pos;
    r = QS_OK;
out:
    if (why != NULL)
        *why = b->why;
    qs_sam_builder_free(b);
    return r;
}

void qs_sam_frame_free(uint8_t *frame, size_t len)
{
    qs_free_wiped(frame, len);
}

/* ---------------------------------------------------------------------------------------------
 * Stream framing
 * ------------------------------------------------------------------------------------------- */

static int64_t qs_sam_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for `events` or the deadline passes (deadline < 0: no limit). */
static qs_err qs_sam_wait(int fd, short events, int64_t deadline)
{
    for (;;) {
        int ms = -1;
        if (deadline >= 0) {
            int64_t left = deadline - qs_sam_now_ms();
            /* at or past the deadline, one last look without waiting */
            ms = left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
        }
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, ms);
        if (n > 0)
            return QS_OK; /* ready, or an error/hangup the next read or write reports */
        if (n == 0)
            return QS_ERR_TIMEOUT;
        if (errno != EINTR)
            return QS_ERR_IO;
    }
}

static bool qs_sam_would_block(int e)
{
#if EAGAIN == EWOULDBLOCK
    return e == EAGAIN;
#else
    return e == EAGAIN || e == EWOULDBLOCK;
#endif
}

/* Reads exactly n bytes; *got tells how many arrived (for telling EOF from EOF-in-frame). */
static qs_err qs_sam_read_full(int fd, uint8_t *buf, size_t n, int64_t deadline, size_t *got)
{
    *got = 0;
    while (*got < n) {
        if (deadline >= 0) {
            qs_err r = qs_sam_wait(fd, POLLIN, deadline);
            if (r != QS_OK)
                return r;
        }
        ssize_t k = read(fd, buf + *got, n - *got);
        if (k > 0) {
            *got += (size_t)k;
        } else if (k == 0 || errno == ECONNRESET) {
            return QS_ERR_EOF;
        } else if (qs_sam_would_block(errno)) {
            qs_err r = qs_sam_wait(fd, POLLIN, deadline);
            if (r != QS_OK)
                return r;
        } else if (errno != EINTR) {
            return QS_ERR_IO;
        }
    }
    return QS_OK;
}

qs_err qs_sam_read_frame(int fd, size_t max_body, int timeout_ms, uint8_t **frame, size_t *len,
                         qs_sam_reason *why)
{
    qs_err r = QS_ERR_INTERNAL;
    uint8_t hdr[QS_SAM_HDR_LEN];
    uint8_t *f = NULL;
    size_t got = 0, flen = 0;
    qs_sam_header h;

    *frame = NULL;
    *len = 0;
    *why = QS_SAM_R_OK;
    int64_t deadline = timeout_ms < 0 ? -1 : qs_sam_now_ms() + timeout_ms;

    r = qs_sam_read_full(fd, hdr, sizeof hdr, deadline, &got);
    if (r == QS_ERR_EOF && got > 0) {
        *why = QS_SAM_R_EOF_IN_FRAME;
        r = QS_ERR_PROTO;
    }
    if (r != QS_OK)
        goto out;
    if ((*why = qs_sam_header_parse(hdr, max_body, &h)) != QS_SAM_R_OK) {
        r = QS_ERR_PROTO;
        goto out;
    }
    flen = QS_SAM_HDR_LEN + (size_t)h.body_len;
    if ((f = malloc(flen)) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    memcpy(f, hdr, sizeof hdr);
    r = qs_sam_read_full(fd, f + QS_SAM_HDR_LEN, h.body_len, deadline, &got);
    if (r == QS_ERR_EOF) {
        *why = QS_SAM_R_EOF_IN_FRAME;
        r = QS_ERR_PROTO;
    }
    if (r != QS_OK)
        goto out;
    *frame = f;
    *len = flen;
    f = NULL;
    r = QS_OK;
out:
    qs_sam_frame_free(f, flen);
    qs_wipe(hdr, sizeof hdr);
    return r;
}

qs_err qs_sam_recv(int fd, size_t max_body, int timeout_ms, qs_sam_msg **out, qs_sam_reason *why)
{
    uint8_t *frame = NULL;
    size_t len = 0;

    *out = NULL;
    qs_err r = qs_sam_read_frame(fd, max_body, timeout_ms, &frame, &len, why);
    if (r != QS_OK)
        return r;
    r = qs_sam_decode_frame(frame, len, out, why);
    if (r != QS_OK) {
        qs_sam_frame_free(frame, len);
        return r;
    }
    (*out)->owned_frame = frame;
    (*out)->owned_len = len;
    return QS_OK;
}

qs_err qs_sam_write_frame(int fd, const uint8_t *frame, size_t len, int timeout_ms)
{
    size_t done = 0;
    bool is_socket = true;
    int64_t deadline = timeout_ms < 0 ? -1 : qs_sam_now_ms() + timeout_ms;

    if (frame == NULL && len > 0)
        return QS_ERR_INVALID_ARGUMENT;
    while (done < len) {
        if (deadline >= 0) {
            qs_err r = qs_sam_wait(fd, POLLOUT, deadline);
            if (r != QS_OK)
                return r;
        }
        ssize_t k;
        if (is_socket) {
            /* MSG_NOSIGNAL: a vanished peer is an error to report, not a reason to die */
            k = send(fd, frame + done, len - done, MSG_NOSIGNAL);
            if (k < 0 && errno == ENOTSOCK) {
                is_socket = false;
                continue;
            }
        } else {
            k = write(fd, frame + done, len - done);
        }
        if (k > 0) {
            done += (size_t)k;
        } else if (k < 0 && qs_sam_would_block(errno)) {
            qs_err r = qs_sam_wait(fd, POLLOUT, deadline);
            if (r != QS_OK)
                return r;
        } else if (k < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            return QS_ERR_EOF;
        } else if (k == 0 || errno != EINTR) {
            return QS_ERR_IO;
        }
    }
    return QS_OK;
}
