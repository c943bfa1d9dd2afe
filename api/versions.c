/*
 * The two CSC versions served: one implementation, two field mappings.  The spec parser reads
 * request field names from here and the reply builders read the shape flags.
 */
#include "api/api_internal.h"

static const api_version versions[API_VER_COUNT] = {
    [API_V1] =
        {
            .ver = API_V1,
            .path_prefix = "/csc/v1/",
            .specs = "1.0.4.0",
            .bit = API_V1_BIT,
            .field_names =
                {
                    [API_F_LANG] = "lang",
                    [API_F_CLIENT_DATA] = "clientData",
                    [API_F_REMEMBER_ME] = "rememberMe",
                    [API_F_REFRESH_TOKEN] = "refresh_token",
                    [API_F_TOKEN] = "token",
                    [API_F_TOKEN_TYPE_HINT] = "token_type_hint",
                    [API_F_USER_ID] = "userID",
                    [API_F_CREDENTIAL_INFO] = NULL,
                    [API_F_CERTIFICATES] = "certificates",
                    [API_F_CERT_INFO] = "certInfo",
                    [API_F_AUTH_INFO] = "authInfo",
                    [API_F_ONLY_VALID] = NULL,
                    [API_F_MAX_RESULTS] = "maxResults",
                    [API_F_PAGE_TOKEN] = "pageToken",
                    [API_F_CREDENTIAL_ID] = "credentialID",
                    [API_F_NUM_SIGNATURES] = "numSignatures",
                    [API_F_HASHES] = "hash",
                    [API_F_HASH_ALGO] = "hashAlgo",
                    [API_F_AUTH_DATA] = NULL,
                    [API_F_PIN] = "PIN",
                    [API_F_OTP] = "OTP",
                    [API_F_DESCRIPTION] = "description",
                    [API_F_SAD] = "SAD",
                    [API_F_SIGN_ALGO] = "signAlgo",
                    [API_F_SIGN_ALGO_PARAMS] = "signAlgoParams",
                    /* CSC 1.0.4.0 has no signatures/signDoc */
                    [API_F_DOCUMENT_DIGESTS] = NULL,
                    [API_F_SIGNATURE_FORMAT] = NULL,
                    [API_F_CONFORMANCE_LEVEL] = NULL,
                    [API_F_SIGNED_ENVELOPE_PROPERTY] = NULL,
                },
            .auth_object = false,
            .sign_algorithms = false,
            .signature_qualifier = false,
            .echo_only_valid = false,
        },
    [API_V2] =
        {
            .ver = API_V2,
            .path_prefix = "/csc/v2/",
            .specs = "2.0.0.2",
            .bit = API_V2_BIT,
            .field_names =
                {
                    [API_F_LANG] = "lang",
                    [API_F_CLIENT_DATA] = "clientData",
                    [API_F_REMEMBER_ME] = "rememberMe",
                    [API_F_REFRESH_TOKEN] = "refresh_token",
                    [API_F_TOKEN] = "token",
                    [API_F_TOKEN_TYPE_HINT] = "token_type_hint",
                    [API_F_USER_ID] = "userID",
                    [API_F_CREDENTIAL_INFO] = "credentialInfo",
                    [API_F_CERTIFICATES] = "certificates",
                    [API_F_CERT_INFO] = "certInfo",
                    [API_F_AUTH_INFO] = "authInfo",
                    [API_F_ONLY_VALID] = "onlyValid",
                    [API_F_MAX_RESULTS] = "maxResults",
                    [API_F_PAGE_TOKEN] = "pageToken",
                    [API_F_CREDENTIAL_ID] = "credentialID",
                    [API_F_NUM_SIGNATURES] = "numSignatures",
                    [API_F_HASHES] = "hashes",
                    [API_F_HASH_ALGO] = "hashAlgorithmOID",
                    [API_F_AUTH_DATA] = "authData",
                    [API_F_PIN] = NULL,
                    [API_F_OTP] = NULL,
                    [API_F_DESCRIPTION] = "description",
                    [API_F_SAD] = "SAD",
                    [API_F_SIGN_ALGO] = "signAlgo",
                    [API_F_SIGN_ALGO_PARAMS] = "signAlgoParams",
                    [API_F_DOCUMENT_DIGESTS] = "documentDigests",
                    [API_F_SIGNATURE_FORMAT] = "signature_format",
                    [API_F_CONFORMANCE_LEVEL] = "conformance_level",
                    [API_F_SIGNED_ENVELOPE_PROPERTY] = "signed_envelope_property",
                },
            .auth_object = true,
            .sign_algorithms = true,
            .signature_qualifier = true,
            .echo_only_valid = true,
        },
};

const api_version *api_version_get(api_ver v)
{
    switch (v) {
    case API_V1:
    case API_V2:
        return &versions[v];
    }
    return &versions[API_V2];
}

const char *api_field_name(api_ver v, api_field f)
{
    if ((unsigned)f >= API_F_COUNT)
        return NULL;
    return api_version_get(v)->field_names[f];
}
