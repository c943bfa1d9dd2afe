/*
 * qsignctl ca, cert and crl: the certification authority, through the SAM ([sam] socket_path;
 * the CA requests need an admin peer).
 *   qsignctl ca init --self-signed [--out FILE]   key pairs in the token, a self-signed root and
 *                                                 the OCSP responder certificate (PEM to FILE)
 *   qsignctl ca init --csr FILE                   key pairs and a PKCS#10 request (PEM) for an
 *                                                 external root; then:
 *   qsignctl ca import-cert FILE                  the root's certificate for the CA (PEM or DER)
 *   qsignctl ca renew-ocsp                        a new OCSP responder certificate
 *   qsignctl cert issue --credential ID | --user ID --alg ALG [--profile P] [--out FILE]
 *                                                 a qualified certificate for a key the SAM made
 *   qsignctl cert revoke SERIAL|--credential ID --reason R [--text TEXT]
 *                                                 revoke (RFC 5280 reason name or code); the key
 *                                                 is destroyed
 *   qsignctl crl FILE                             the current CRL, DER
 * The actor recorded in the audit log defaults to the login name of the user running qsignctl.
 */
#define QS_LOG_MODULE "qsignctl"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli/cli.h"
#include "sam/client.h"

#define CA_FILE_MAX (64 * 1024)

static void ca_usage(FILE *f)
{
    fprintf(f, "usage: qsignctl ca init --self-signed [--out FILE] [--actor NAME]\n"
               "       qsignctl ca init --csr FILE [--actor NAME]\n"
               "       qsignctl ca import-cert FILE [--actor NAME]\n"
               "       qsignctl ca renew-ocsp [--actor NAME]\n"
               "       qsignctl cert issue --credential ID | --user ID --alg ALG [--profile P]\n"
               "                           [--out FILE] [--actor NAME]\n"
               "       qsignctl cert revoke SERIAL | --credential ID --reason R [--text TEXT]\n"
               "                           [--actor NAME]\n"
               "       qsignctl crl FILE\n");
}

/* Writes DER as PEM with the given label to path ("-": standard output). */
static bool write_pem(const char *path, const char *label, const uint8_t *der, size_t len)
{
    BIO *b = strcmp(path, "-") == 0 ? BIO_new_fp(stdout, BIO_NOCLOSE) : BIO_new_file(path, "w");
    bool ok = b != NULL && PEM_write_bio(b, label, "", der, (long)len) > 0;
    if (b != NULL && BIO_flush(b) != 1)
        ok = false;
    BIO_free(b);
    if (!ok)
        fprintf(stderr, "qsignctl: cannot write %s\n", path);
    ERR_clear_error();
    return ok;
}

static bool write_der(const char *path, const uint8_t *der, size_t len)
{
    FILE *f = fopen(path, "wb");
    bool ok = f != NULL && fwrite(der, 1, len, f) == len;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    if (!ok)
        fprintf(stderr, "qsignctl: cannot write %s: %s\n", path, strerror(errno));
    return ok;
}

/* Reads a certificate file, PEM or DER, as DER (malloc'd). */
static bool read_cert(const char *path, uint8_t **der, size_t *len)
{
    *der = NULL;
    *len = 0;
    BIO *b = BIO_new_file(path, "rb");
    X509 *x = NULL;
    if (b == NULL) {
        fprintf(stderr, "qsignctl: cannot read %s\n", path);
        return false;
    }
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    if (x == NULL) {
        (void)BIO_reset(b);
        x = d2i_X509_bio(b, NULL);
    }
    BIO_free(b);
    int n = x != NULL ? i2d_X509(x, NULL) : -1;
    if (n > 0 && n <= CA_FILE_MAX && (*der = malloc((size_t)n)) != NULL) {
        uint8_t *p = *der;
        *len = (size_t)i2d_X509(x, &p);
    }
    X509_free(x);
    ERR_clear_error();
    if (*der == NULL)
        fprintf(stderr, "qsignctl: %s: not a certificate (PEM or DER)\n", path);
    return *der != NULL;
}

static void print_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    printf("\n");
}

/* ---- ca ---------------------------------------------------------------------------------------
 */

static int ca_init(const qs_ctl_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"self-signed", no_argument, NULL, 's'},
        {"csr", required_argument, NULL, 'r'},
        {"out", required_argument, NULL, 'o'},
        {"actor", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    const char *csr_path = NULL, *out = "-", *actor = NULL;
    bool self_signed = false;
    char actor_buf[128];
    int ch;

    optind = 0;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 's':
            self_signed = true;
            break;
        case 'r':
            csr_path = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'a':
            actor = optarg;
            break;
        default:
            ca_usage(stderr);
            return 2;
        }
    }
    if (self_signed == (csr_path != NULL) || optind != argc) {
        ca_usage(stderr);
        return 2;
    }
    if (actor == NULL)
        actor = qs_ctl_default_actor(actor_buf, sizeof actor_buf);
    qs_sam_client *c = qs_ctl_connect_sam(cfg);
    if (c == NULL)
        return 1;
    uint8_t *cert = NULL, *csr = NULL;
    size_t cert_len = 0, csr_len = 0;
    int rc = 0;
    qs_err r = qs_sam_client_ca_init(c, self_signed ? QS_SAM_CA_SELF_SIGNED : QS_SAM_CA_EXTERNAL,
                                     actor, &cert, &cert_len, &csr, &csr_len);
    if (r != QS_OK)
        rc = qs_ctl_sam_failed("ca init", c, r);
    else if (self_signed && (cert == NULL || !write_pem(out, "CERTIFICATE", cert, cert_len)))
        rc = 1;
    else if (!self_signed &&
             (csr == NULL || !write_pem(csr_path, "CERTIFICATE REQUEST", csr, csr_len)))
        rc = 1;
    else if (!self_signed)
        fprintf(stderr,
                "qsignctl: request written to %s; have the root certify it, then run "
                "`qsignctl ca import-cert`\n",
                csr_path);
    free(cert);
    free(csr);
    qs_sam_client_close(c);
    return rc;
}

static int ca_simple(const qs_ctl_config *cfg, bool import, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"actor", required_argument, NULL, 'a'},
        {"out", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *actor = NULL, *out = NULL;
    char actor_buf[128];
    int ch;

    optind = 0;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'a':
            actor = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        default:
            ca_usage(stderr);
            return 2;
        }
    }
    if (optind != argc - (import ? 1 : 0)) {
        ca_usage(stderr);
        return 2;
    }
    if (actor == NULL)
        actor = qs_ctl_default_actor(actor_buf, sizeof actor_buf);
    uint8_t *in = NULL, *cert = NULL;
    size_t in_len = 0, cert_len = 0;
    if (import && !read_cert(argv[optind], &in, &in_len))
        return 1;
    qs_sam_client *c = qs_ctl_connect_sam(cfg);
    if (c == NULL) {
        free(in);
        return 1;
    }
    int rc = 0;
    qs_err r = import ? qs_sam_client_ca_import_cert(c, in, in_len, actor, &cert, &cert_len)
                      : qs_sam_client_ca_renew_ocsp(c, actor, &cert, &cert_len);
    if (r != QS_OK)
        rc = qs_ctl_sam_failed(import ? "ca import-cert" : "ca renew-ocsp", c, r);
    else if (out != NULL && !write_pem(out, "CERTIFICATE", cert, cert_len))
        rc = 1;
    else
        fprintf(stderr, "qsignctl: %s\n",
                import ? "CA certificate imported; the CA is active"
                       : "OCSP responder certificate renewed");
    free(in);
    free(cert);
    qs_sam_client_close(c);
    return rc;
}

int qs_ctl_ca(const qs_ctl_config *cfg, int argc, char **argv)
{
    if (argc < 2) {
        ca_usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        ca_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "init") == 0)
        return ca_init(cfg, argc - 1, argv + 1);
    if (strcmp(sub, "import-cert") == 0)
        return ca_simple(cfg, true, argc - 1, argv + 1);
    if (strcmp(sub, "renew-ocsp") == 0)
        return ca_simple(cfg, false, argc - 1, argv + 1);
    fprintf(stderr, "qsignctl: ca: unknown sub-command \"%s\"\n", sub);
    ca_usage(stderr);
    return 2;
}

/* ---- cert -------------------------------------------------------------------------------------
 */

static bool parse_alg(const char *s, qs_sam_key_alg *alg)
{
    static const struct {
        const char *name;
        qs_sam_key_alg alg;
    } algs[] = {
        {"ec-p256", QS_SAM_KEY_EC_P256},  {"ec-p384", QS_SAM_KEY_EC_P384},
        {"rsa-2048", QS_SAM_KEY_RSA2048}, {"rsa-3072", QS_SAM_KEY_RSA3072},
        {"rsa-4096", QS_SAM_KEY_RSA4096},
    };
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        if (strcmp(s, algs[i].name) == 0) {
            *alg = algs[i].alg;
            return true;
        }
    }
    return false;
}

static bool parse_reason(const char *s, uint32_t *code)
{
    static const char *const names[] = {
        "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
        "superseded",    "cessationOfOperation", "certificateHold", NULL,
        "removeFromCRL", "privilegeWithdrawn",   "aACompromise",
    };
    for (uint32_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (names[i] != NULL && strcmp(s, names[i]) == 0) {
            *code = i;
            return true;
        }
    }
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || v > 10 || v == 7)
        return false;
    *code = (uint32_t)v;
    return true;
}

/* Hex serial ("0x" and colons allowed) into bytes. */
static bool parse_serial(const char *s, uint8_t out[static 20], size_t *len)
{
    char digits[41];
    size_t n = 0;
    if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0X", 2) == 0)
        s += 2;
    for (; *s != '\0'; s++) {
        if (*s == ':')
            continue;
        if (n >= 40 ||
            !((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
            return false;
        digits[n++] = *s;
    }
    if (n == 0)
        return false;
    size_t bytes = (n + 1) / 2, k = 0;
    for (size_t i = 0; i < bytes; i++) {
        char pair[3] = {0};
        if (i == 0 && n % 2 == 1) {
            pair[0] = digits[k++];
        } else {
            pair[0] = digits[k++];
            pair[1] = digits[k++];
        }
        out[i] = (uint8_t)strtoul(pair, NULL, 16);
    }
    *len = bytes;
    return true;
}

static int cert_issue(const qs_ctl_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"credential", required_argument, NULL, 'c'},
        {"user", required_argument, NULL, 'u'},
        {"alg", required_argument, NULL, 'g'},
        {"profile", required_argument, NULL, 'p'},
        {"out", required_argument, NULL, 'o'},
        {"actor", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    qs_sam_issue_req q = {0};
    const char *alg_name = NULL, *out = NULL;
    char actor_buf[128];
    int ch;

    optind = 0;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            q.credential_id = optarg;
            break;
        case 'u':
            q.user_id = optarg;
            break;
        case 'g':
            alg_name = optarg;
            break;
        case 'p':
            q.profile = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'a':
            q.actor = optarg;
            break;
        default:
            ca_usage(stderr);
            return 2;
        }
    }
    if (optind != argc || (q.credential_id != NULL) == (q.user_id != NULL) ||
        (q.user_id != NULL) != (alg_name != NULL)) {
        ca_usage(stderr);
        return 2;
    }
    if (alg_name != NULL && !parse_alg(alg_name, &q.alg)) {
        fprintf(stderr, "qsignctl: --alg: \"%s\" is not a key algorithm\n", alg_name);
        return 2;
    }
    if (q.actor == NULL)
        q.actor = qs_ctl_default_actor(actor_buf, sizeof actor_buf);
    qs_sam_client *c = qs_ctl_connect_sam(cfg);
    if (c == NULL)
        return 1;
    char id[QS_SAM_ID_BUF];
    uint8_t *cert = NULL, serial[20];
    size_t cert_len = 0, serial_len = 0;
    int rc = 0;
    qs_err r = qs_sam_client_issue_cert(c, &q, id, &cert, &cert_len, serial, &serial_len);
    if (r != QS_OK) {
        rc = qs_ctl_sam_failed("cert issue", c, r);
    } else {
        printf("credential %s\nserial ", id);
        print_hex(serial, serial_len);
        if (out != NULL && !write_pem(out, "CERTIFICATE", cert, cert_len))
            rc = 1;
    }
    free(cert);
    qs_sam_client_close(c);
    return rc;
}

static int cert_revoke(const qs_ctl_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"credential", required_argument, NULL, 'c'},
        {"reason", required_argument, NULL, 'r'},
        {"text", required_argument, NULL, 't'},
        {"actor", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    qs_sam_revoke_req q = {0};
    const char *reason = NULL;
    uint8_t serial[20];
    char actor_buf[128];
    int ch;

    optind = 0;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            q.credential_id = optarg;
            break;
        case 'r':
            reason = optarg;
            break;
        case 't':
            q.reason = optarg;
            break;
        case 'a':
            q.actor = optarg;
            break;
        default:
            ca_usage(stderr);
            return 2;
        }
    }
    bool has_serial = optind == argc - 1;
    if (reason == NULL || (has_serial == (q.credential_id != NULL)) ||
        (!has_serial && optind != argc)) {
        ca_usage(stderr);
        return 2;
    }
    if (has_serial) {
        if (!parse_serial(argv[optind], serial, &q.serial_len)) {
            fprintf(stderr, "qsignctl: \"%s\" is not a serial number (hex)\n", argv[optind]);
            return 2;
        }
        q.serial = serial;
    }
    if (!parse_reason(reason, &q.crl_reason)) {
        fprintf(stderr, "qsignctl: --reason: \"%s\" is not an RFC 5280 reason name or code\n",
                reason);
        return 2;
    }
    if (q.actor == NULL)
        q.actor = qs_ctl_default_actor(actor_buf, sizeof actor_buf);
    qs_sam_client *c = qs_ctl_connect_sam(cfg);
    if (c == NULL)
        return 1;
    int rc = 0;
    qs_err r = qs_sam_client_revoke(c, &q);
    if (r != QS_OK)
        rc = qs_ctl_sam_failed("cert revoke", c, r);
    else
        fprintf(stderr, "qsignctl: revoked; the credential's key is destroyed\n");
    qs_sam_client_close(c);
    return rc;
}

int qs_ctl_cert(const qs_ctl_config *cfg, int argc, char **argv)
{
    if (argc < 2) {
        ca_usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        ca_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "issue") == 0)
        return cert_issue(cfg, argc - 1, argv + 1);
    if (strcmp(sub, "revoke") == 0)
        return cert_revoke(cfg, argc - 1, argv + 1);
    fprintf(stderr, "qsignctl: cert: unknown sub-command \"%s\"\n", sub);
    ca_usage(stderr);
    return 2;
}

/* ---- crl --------------------------------------------------------------------------------------
 */

int qs_ctl_crl(const qs_ctl_config *cfg, int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        ca_usage(argc == 2 ? stdout : stderr);
        return argc == 2 ? 0 : 2;
    }
    qs_sam_client *c = qs_ctl_connect_sam(cfg);
    if (c == NULL)
        return 1;
    uint8_t *der = NULL;
    size_t len = 0;
    int rc = 0;
    qs_err r = qs_sam_client_crl(c, &der, &len);
    if (r != QS_OK)
        rc = qs_ctl_sam_failed("crl", c, r);
    else if (!write_der(argv[1], der, len))
        rc = 1;
    free(der);
    qs_sam_client_close(c);
    return rc;
}
