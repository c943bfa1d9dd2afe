/*
 * qsignctl credential: signing keys, through the SAM (qsign-sam's socket, [sam] socket_path).
 *   qsignctl credential create --user ID --alg ec-p256|ec-p384|rsa-2048|rsa-3072|rsa-4096
 *                              [--public-key FILE] [--actor NAME]
 *       generates the key in the HSM; prints the credential id (and writes the public key as
 *       PEM to FILE when asked)
 *   qsignctl credential lock|unlock|disable|destroy ID --reason TEXT [--actor NAME]
 *       changes the credential's state (admin peers only); destroy erases the key for good
 * The actor recorded in the audit log defaults to the login name of the user running qsignctl.
 */
#define QS_LOG_MODULE "qsignctl"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sam/client.h"

static void credential_usage(FILE *f)
{
    fprintf(f, "usage: qsignctl credential create --user ID --alg "
               "ec-p256|ec-p384|rsa-2048|rsa-3072|rsa-4096\n"
               "                                    [--public-key FILE] [--actor NAME]\n"
               "       qsignctl credential lock|unlock|disable|destroy ID --reason TEXT "
               "[--actor NAME]\n");
}

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

/* Writes a DER SubjectPublicKeyInfo as a PEM "PUBLIC KEY" file. */
static bool write_pem(const char *path, const uint8_t *der, size_t len)
{
    size_t b64_len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64_len);
    FILE *f = NULL;
    bool ok = false;
    if (b64 == NULL)
        goto out;
    sodium_bin2base64(b64, b64_len, der, len, sodium_base64_VARIANT_ORIGINAL);
    if ((f = fopen(path, "w")) == NULL)
        goto out;
    fprintf(f, "-----BEGIN PUBLIC KEY-----\n");
    for (size_t i = 0, n = strlen(b64); i < n; i += 64)
        fprintf(f, "%.*s\n", (int)(n - i < 64 ? n - i : 64), b64 + i);
    fprintf(f, "-----END PUBLIC KEY-----\n");
    ok = true;
out:
    if (f != NULL && fclose(f) != 0)
        ok = false;
    free(b64);
    return ok;
}

static int credential_create(const qs_ctl_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"user", required_argument, NULL, 'u'},
        {"alg", required_argument, NULL, 'g'},
        {"public-key", required_argument, NULL, 'p'},
        {"actor", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    const char *user = NULL, *alg_name = NULL, *pem = NULL, *actor = NULL;
    char actor_buf[128];
    int ch;

    optind = 0; /* 0: glibc re-initialises getopt (argument permutation included) */
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            user = optarg;
            break;
        case 'g':
            alg_name = optarg;
            break;
        case 'p':
            pem = optarg;
            break;
        case 'a':
            actor = optarg;
            break;
        default:
            credential_usage(stderr);
            return 2;
        }
    }
    qs_sam_key_alg alg;
    if (user == NULL || alg_name == NULL || optind != argc) {
        credential_usage(stderr);
        return 2;
    }
    if (!parse_alg(alg_name, &alg)) {
        fprintf(stderr, "qsignctl: --alg: \"%s\" is not a key algorithm\n", alg_name);
        return 2;
    }
    if (actor == NULL)
        actor = qs_ctl_default_actor(actor_buf, sizeof actor_buf);
    qs_sam_client *c = qs_ctl_connect_sam(cfg);
    if (c == NULL)
        return 1;
    char id[QS_SAM_ID_BUF];
    uint8_t *spki = NULL;
    size_t spki_len = 0;
    int rc = 0;
    qs_err r = qs_sam_client_create_credential(c, user, alg, actor, id, &spki, &spki_len);
    if (r != QS_OK) {
        rc = qs_ctl_sam_failed("credential create", c, r);
    } else {
        printf("%s\n", id);
        if (pem != NULL && !write_pem(pem, spki, spki_len)) {
            fprintf(stderr, "qsignctl: cannot write %s: %s\n", pem, strerror(errno));
            rc = 1;
        }
    }
    free(spki);
    qs_sam_client_close(c);
    return rc;
}

static int credential_state(const qs_ctl_config *cfg, qs_sam_state_action action, int argc,
                            char **argv)
{
    static const struct option longopts[] = {
        {"reason", required_argument, NULL, 'r'},
        {"actor", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    const char *reason = NULL, *actor = NULL;
    char actor_buf[128];
    int ch;

    optind = 0; /* 0: glibc re-initialises getopt (argument permutation included) */
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            reason = optarg;
            break;
        case 'a':
            actor = optarg;
            break;
        default:
            credential_usage(stderr);
            return 2;
        }
    }
    if (reason == NULL || reason[0] == '\0' || optind != argc - 1) {
        credential_usage(stderr);
        return 2;
    }
    const char *id = argv[optind];
    if (actor == NULL)
        actor = qs_ctl_default_actor(actor_buf, sizeof actor_buf);
    qs_sam_client *c = qs_ctl_connect_sam(cfg);
    if (c == NULL)
        return 1;
    int rc = 0;
    qs_err r = qs_sam_client_credential_state(c, id, actor, action, reason);
    if (r != QS_OK)
        rc = qs_ctl_sam_failed(argv[0], c, r);
    qs_sam_client_close(c);
    return rc;
}

int qs_ctl_credential(const qs_ctl_config *cfg, int argc, char **argv)
{
    static const struct {
        const char *name;
        qs_sam_state_action action;
    } states[] = {
        {"lock", QS_SAM_STATE_LOCK},
        {"unlock", QS_SAM_STATE_UNLOCK},
        {"disable", QS_SAM_STATE_DISABLE},
        {"destroy", QS_SAM_STATE_DESTROY},
    };
    if (argc < 2) {
        credential_usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        credential_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "create") == 0)
        return credential_create(cfg, argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        if (strcmp(sub, states[i].name) == 0)
            return credential_state(cfg, states[i].action, argc - 1, argv + 1);
    }
    fprintf(stderr, "qsignctl: credential: unknown sub-command \"%s\"\n", sub);
    credential_usage(stderr);
    return 2;
}
