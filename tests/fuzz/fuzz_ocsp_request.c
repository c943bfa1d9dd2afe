/*
 * libFuzzer harness for the OCSP request parser, the input qsignd relays from anyone on the
 * internet.  Whatever parses is answered with a signed response (the CA signs itself), which
 * must build and decode back with one SingleResponse per CertID; whatever does not parse gets a
 * malformedRequest response.  The bounds the parser promises are checked on every result.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include "ca/ca.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

/* A fixed CA (test material, nothing secret): the seed corpus was made against this
 * certificate with `openssl ocsp -issuer fuzz-ca.pem -reqout`, so its CertIDs match. */
static const char ca_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3i3QsR5ErUyRh6f8\n"
    "dppxIKje67loKtygRrJfqShcsNWhRANCAAQtpDZTGgwCkGK6KdwRi8nX0Imad2yH\n"
    "fmCbYq5/PRn5+A/X6ZeZvcSFySdiV7GHWKD5Fht/nyHfVQ4MrsHajFOS\n"
    "-----END PRIVATE KEY-----\n";
static const char ca_cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIB2zCCAYGgAwIBAgIUTQnwkZsE9svhH8ijOhjlkJpcQHgwCgYIKoZIzj0EAwIw\n"
    "OjELMAkGA1UEBhMCRUUxEzARBgNVBAoMCnFzaWduIGZ1enoxFjAUBgNVBAMMDXFz\n"
    "aWduIGZ1enogQ0EwIBcNMjYxMTIxMDg1NzIyWhgPMjEyNjEwMjgwODU3MjJaMDox\n"
    "CzAJBgNVBAYTAkVFMRMwEQYDVQQKDApxc2lnbiBmdXp6MRYwFAYDVQQDDA1xc2ln\n"
    "biBmdXp6IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAELaQ2UxoMApBiuinc\n"
    "EYvJ19CJmndsh35gm2Kufz0Z+fgP1+mXmb3EhcknYlexh1ig+RYbf58h31UODK7B\n"
    "2oxTkqNjMGEwHQYDVR0OBBYEFJ+bHJVI1RVZEEttSGQLe2D4EYDPMB8GA1UdIwQY\n"
    "MBaAFJ+bHJVI1RVZEEttSGQLe2D4EYDPMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0P\n"
    "AQH/BAQDAgEGMAoGCCqGSM49BAMCA0gAMEUCIQCa4gNI7Uuq7L39+DG3rzlw+43q\n"
    "PbX6G2XmUysTdmX3JwIgaqC/i1VaEyXQtGBMxKFP379WfcCwlRzQvA6et5q6m8A=\n"
    "-----END CERTIFICATE-----\n";

static EVP_PKEY *ca_key;
static X509 *ca_cert;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    BIO *kb = BIO_new_mem_buf(ca_key_pem, -1);
    BIO *cb = BIO_new_mem_buf(ca_cert_pem, -1);
    CHECK(kb != NULL && cb != NULL);
    ca_key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
    ca_cert = PEM_read_bio_X509(cb, NULL, NULL, NULL);
    CHECK(ca_key != NULL && ca_cert != NULL && ca_cert_matches_key(ca_cert, ca_key));
    BIO_free(kb);
    BIO_free(cb);
    return 0;
}

/* Status by the first serial octet, so every branch of the response builder runs. */
static qs_err lookup(void *ctx, const uint8_t *serial, size_t len, ca_cert_status *out)
{
    CHECK(len >= 1 && len <= CA_SERIAL_MAX && serial[0] != 0);
    switch (serial[0] % 4) {
    case 0:
        *out = (ca_cert_status){.state = CA_CERT_GOOD};
        return QS_OK;
    case 1:
        *out = (ca_cert_status){CA_CERT_REVOKED, 1700000000, (ca_crl_reason)(serial[len - 1] % 7)};
        return QS_OK;
    case 2:
        *out = (ca_cert_status){.state = CA_CERT_UNKNOWN};
        return QS_OK;
    default:
        return QS_ERR_DB_UNAVAILABLE;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ca_ocsp_request req;
    uint8_t *der = NULL;
    size_t len = 0;
    qs_err r = ca_ocsp_request_parse(data, size, &req);
    if (r != QS_OK) {
        CHECK(r == QS_ERR_PARSE || r == QS_ERR_TOO_LARGE);
        CHECK(req.n == 0 && !req.has_nonce);
        CHECK(ca_ocsp_error_response(CA_OCSP_MALFORMED_REQUEST, &der, &len) == QS_OK);
        free(der);
        return 0;
    }
    CHECK(req.n >= 1 && req.n <= CA_OCSP_CERTIDS_MAX);
    CHECK(!req.has_nonce || (req.nonce_len >= 1 && req.nonce_len <= CA_OCSP_NONCE_MAX));
    for (size_t i = 0; i < req.n; i++) {
        const ca_ocsp_certid *id = &req.ids[i];
        CHECK(id->der_len > 0 && id->der_len <= CA_OCSP_CERTID_MAX);
        CHECK(id->name_hash_len > 0 && id->name_hash_len <= CA_OCSP_HASH_MAX);
        CHECK(id->key_hash_len > 0 && id->key_hash_len <= CA_OCSP_HASH_MAX);
        CHECK(id->serial_len <= CA_SERIAL_MAX);
    }

    ca_ocsp_response_params p = {.req = &req,
                                 .lookup = lookup,
                                 .responder_cert = ca_cert,
                                 .responder_key = ca_key,
                                 .ca_cert = ca_cert,
                                 .archive_cutoff = 1600000000,
                                 .this_update = 1700000100,
                                 .next_update = 1700003700};
    ca_why why;
    r = ca_ocsp_response_build(&p, &der, &len, &why);
    if (r == QS_ERR_DB_UNAVAILABLE) {
        CHECK(der == NULL);
        return 0;
    }
    CHECK(r == QS_OK && der != NULL);
    const unsigned char *q = der;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &q, (long)len);
    CHECK(resp != NULL && q == der + len);
    int status = OCSP_response_status(resp);
    if (status == OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        OCSP_BASICRESP *bs = OCSP_response_get1_basic(resp);
        CHECK(bs != NULL && OCSP_resp_count(bs) == (int)req.n);
        OCSP_BASICRESP_free(bs);
    } else {
        CHECK(status == OCSP_RESPONSE_STATUS_UNAUTHORIZED);
    }
    OCSP_RESPONSE_free(resp);
    free(der);
    return 0;
}
