/*
 * Shared set-up of the CA tests: a temporary directory, a CA (software key unless one is
 * given), the two end-entity profiles, subjects and URLs, file output for the openssl command
 * line, and key helpers.  Failures abort the test program (they are set-up failures).
 */
#ifndef QS_TESTS_CA_FIXTURE_H
#define QS_TESTS_CA_FIXTURE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/ca.h"

#define FX_PDS_URL "https://qsign.example/pds/pds-en.pdf"
#define FX_CPS_URI "https://qsign.example/cps"
#define FX_TSP_OID "1.3.6.1.4.1.99999.1.1"
#define FX_CA_DAYS 3650
#define FX_LEI     "5493001KJTIIGC8Y1R12"

typedef struct ca_fx {
    char dir[PATH_MAX];
    EVP_PKEY *ca_key; /* owned unless given to ca_fx_init */
    bool own_ca_key;
    X509 *ca_cert;
    ca_subject root_subject, natural, legal, responder;
    ca_profile natural_profile, legal_profile;
    ca_urls urls;
} ca_fx;

/* Makes the directory and the CA: key (EC P-384 when ca_key is NULL), self-signed certificate
 * with anyPolicy and notBefore `ca_now` (0: now), written to root.pem. */
void fx_init(ca_fx *fx, const char *tag, EVP_PKEY *ca_key, time_t ca_now);

/* Frees everything and removes the directory (kept, and named on stderr, when the environment
 * has QS_CA_TEST_KEEP=1, to look at the files). */
void fx_free(ca_fx *fx);

/* A fresh software key: "P-256", "P-384", "P-521" or "RSA-2048"/"RSA-3072". */
EVP_PKEY *fx_keygen(const char *alg);

/* DER SubjectPublicKeyInfo of key (malloc'd). */
uint8_t *fx_spki(EVP_PKEY *key, size_t *len);

/* Writes bytes to dir/name. */
void fx_write(const ca_fx *fx, const char *name, const void *data, size_t len);

/* Writes a DER certificate as PEM to dir/name. */
void fx_write_cert_pem(const ca_fx *fx, const char *name, const uint8_t *der, size_t len);

/* Writes an X509 as PEM to dir/name. */
void fx_write_x509_pem(const ca_fx *fx, const char *name, X509 *x);

/* Writes a private key as PEM to dir/name. */
void fx_write_key_pem(const ca_fx *fx, const char *name, EVP_PKEY *key);

/* Runs a shell command in dir with stdout+stderr to dir/out.txt; returns its exit status. */
int fx_run(const ca_fx *fx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The contents of dir/out.txt (static buffer, NUL-terminated). */
const char *fx_out(const ca_fx *fx);

/* Decodes DER into an X509 (aborts on failure). */
X509 *fx_x509(const uint8_t *der, size_t len);

#endif
