/* Shared set-up of the CA tests (see test_ca_fixture.h). */
#include "tests/integration/test_ca_fixture.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "tests/lib/testutil.h"

#define OUT_MAX (256 * 1024)

static void die(const char *what)
{
    fprintf(stderr, "fixture: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

EVP_PKEY *fx_keygen(const char *alg)
{
    EVP_PKEY *k = NULL;
    if (strcmp(alg, "RSA-2048") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    else if (strcmp(alg, "RSA-3072") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
    else
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", alg);
    if (k == NULL)
        die("key generation");
    return k;
}

uint8_t *fx_spki(EVP_PKEY *key, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(key, &der);
    if (n <= 0)
        die("i2d_PUBKEY");
    uint8_t *copy = malloc((size_t)n);
    if (copy == NULL)
        die("malloc");
    memcpy(copy, der, (size_t)n);
    OPENSSL_free(der);
    *len = (size_t)n;
    return copy;
}

static FILE *open_in(const ca_fx *fx, const char *name, const char *mode)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", fx->dir, name);
    FILE *f = fopen(path, mode);
    if (f == NULL)
        die(path);
    return f;
}

void fx_write(const ca_fx *fx, const char *name, const void *data, size_t len)
{
    FILE *f = open_in(fx, name, "wb");
    if (len > 0 && fwrite(data, 1, len, f) != len)
        die("fwrite");
    fclose(f);
}

X509 *fx_x509(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x == NULL || p != der + len)
        die("d2i_X509");
    return x;
}

void fx_write_x509_pem(const ca_fx *fx, const char *name, X509 *x)
{
    FILE *f = open_in(fx, name, "w");
    if (PEM_write_X509(f, x) != 1)
        die("PEM_write_X509");
    fclose(f);
}

void fx_write_cert_pem(const ca_fx *fx, const char *name, const uint8_t *der, size_t len)
{
    X509 *x = fx_x509(der, len);
    fx_write_x509_pem(fx, name, x);
    X509_free(x);
}

void fx_write_key_pem(const ca_fx *fx, const char *name, EVP_PKEY *key)
{
    FILE *f = open_in(fx, name, "w");
    if (PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1)
        die("PEM_write_PrivateKey");
    fclose(f);
}

int fx_run(const ca_fx *fx, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd)
        die("command too long");
    return qs_test_system("cd '%s' && ( %s ) >out.txt 2>&1", fx->dir, cmd);
}

const char *fx_out(const ca_fx *fx)
{
    static char buf[OUT_MAX];
    FILE *f = open_in(fx, "out.txt", "r");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

void fx_init(ca_fx *fx, const char *tag, EVP_PKEY *ca_key, time_t ca_now)
{
    memset(fx, 0, sizeof *fx);
    qs_test_tmpdir(tag, fx->dir, sizeof fx->dir);
    fx->own_ca_key = ca_key == NULL;
    fx->ca_key = ca_key != NULL ? ca_key : fx_keygen("P-384");

    fx->root_subject = (ca_subject){.kind = CA_KIND_AUTHORITY,
                                    .country = "EE",
                                    .organization = "qsign Test Trust Services",
                                    .organization_id = "NTREE-10000000",
                                    .common_name = "qsign Test Qualified CA"};
    fx->responder = (ca_subject){.kind = CA_KIND_AUTHORITY,
                                 .country = "EE",
                                 .organization = "qsign Test Trust Services",
                                 .common_name = "qsign Test OCSP Responder"};
    fx->natural = (ca_subject){.kind = CA_KIND_NATURAL,
                               .country = "EE",
                               .given_name = "Mari-Liis",
                               .surname = "Männik",
                               .serial_number = "PNOEE-48010010101",
                               .common_name = "Mari-Liis Männik"};
    fx->legal = (ca_subject){.kind = CA_KIND_LEGAL,
                             .country = "BE",
                             .organization = "Société Exemple SA",
                             .organization_id = "VATBE-0123456789",
                             .common_name = "Société Exemple e-seal"};
    fx->urls = (ca_urls){.ca_issuers = "http://qsign.example/ca.crt",
                         .ocsp = "http://qsign.example/ocsp",
                         .crl = "http://qsign.example/ca.crl"};

    ca_why why;
    if (ca_profile_defaults("qcp-n-qscd", &fx->natural_profile, &why) != QS_OK ||
        ca_profile_defaults("qcp-l-qscd", &fx->legal_profile, &why) != QS_OK)
        die("profile defaults");
    ca_profile *ps[] = {&fx->natural_profile, &fx->legal_profile};
    for (size_t i = 0; i < 2; i++) {
        ps[i]->pds[0] = (ca_pds){.url = FX_PDS_URL, .lang = "en"};
        ps[i]->pds_count = 1;
        ps[i]->tsp_policy_oid = FX_TSP_OID;
        ps[i]->cps_uri = FX_CPS_URI;
        ps[i]->validity_days = 730;
    }

    ca_root_params rp = {.subject = &fx->root_subject, .days = FX_CA_DAYS, .now = ca_now};
    if (ca_root_selfsigned(fx->ca_key, &rp, &fx->ca_cert, &why) != QS_OK) {
        fprintf(stderr, "ca_root_selfsigned: %s %s\n", why.field, why.text);
        die("root certificate");
    }
    fx_write_x509_pem(fx, "root.pem", fx->ca_cert);
}

void fx_free(ca_fx *fx)
{
    X509_free(fx->ca_cert);
    if (fx->own_ca_key)
        EVP_PKEY_free(fx->ca_key);
    const char *keep = getenv("QS_CA_TEST_KEEP");
    if (keep != NULL && strcmp(keep, "1") == 0)
        fprintf(stderr, "kept %s\n", fx->dir);
    else if (fx->dir[0] != '\0')
        qs_test_rmtree(fx->dir);
    memset(fx, 0, sizeof *fx);
}
