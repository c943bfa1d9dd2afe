/*
 * qsignctl: the operator tool.  Parses the global options, loads the config and hands over to
 * a sub-command (cmd_<area>.c).  It talks to the database, the HSM and the SAM socket as the
 * daemons do; it never prints a secret it was not asked to show once (the otpauth URI).
 */
#define QS_LOG_MODULE "qsignctl"

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "util/config.h"
#include "util/log.h"
#include "util/secret.h"

#define QS_CTL_DEFAULT_CONFIG "/etc/qsign/qsignctl.conf"

static const qs_cfg_opt qs_ctl_options[] = {
    {"database", "owner_conninfo", QS_CFG_STRING, "",
     "libpq connection string of the schema owner role (migrations only)",
     offsetof(qs_ctl_config, db_owner_conninfo), 0, 0},
    {"database", "sam_conninfo", QS_CFG_STRING, "", "libpq connection string as role qsign_sam",
     offsetof(qs_ctl_config, db_sam_conninfo), 0, 0},
    {"database", "audit_conninfo", QS_CFG_STRING, "",
     "libpq connection string as role qsign_audit (read-only audit access)",
     offsetof(qs_ctl_config, db_audit_conninfo), 0, 0},
    {"hsm", "module", QS_CFG_STRING, "", "path of the PKCS#11 module",
     offsetof(qs_ctl_config, hsm_module), 0, 0},
    {"hsm", "token_label", QS_CFG_STRING, "qsign", "label of the token holding the service keys",
     offsetof(qs_ctl_config, hsm_token_label), 0, 0},
    {"hsm", "pin_file", QS_CFG_STRING, "", "file holding the token's user PIN",
     offsetof(qs_ctl_config, hsm_pin_file), 0, 0},
    {"hsm", "so_pin_file", QS_CFG_STRING, "",
     "file holding the token's security officer PIN (needed by `hsm init` only)",
     offsetof(qs_ctl_config, hsm_so_pin_file), 0, 0},
    {"sam", "socket_path", QS_CFG_STRING, "/run/qsign-sam/sam.sock",
     "unix socket of qsign-sam (user and credential commands)",
     offsetof(qs_ctl_config, sam_socket_path), 0, 0},
    {"log", "level", QS_CFG_STRING, "warn", "debug, info, warn or error",
     offsetof(qs_ctl_config, log_level), 0, 0},
    QS_CFG_END,
};

bool qs_ctl_need(const char *value, const char *section, const char *key)
{
    if (value != NULL && value[0] != '\0')
        return true;
    fprintf(stderr, "qsignctl: [%s] %s must be set in the config\n", section, key);
    return false;
}

static void qs_ctl_usage(FILE *f)
{
    fprintf(f,
            "usage: qsignctl [-c CONFIG] COMMAND [ARGS]\n"
            "\n"
            "commands:\n"
            "  db migrate        apply pending database migrations (as the schema owner)\n"
            "  db status         show the schema version and pending migrations\n"
            "  hsm init          create the service keys in the token (idempotent)\n"
            "  hsm status        show the token and its service keys\n"
            "  user create --username U --kind signer|officer|auditor\n"
            "                    create a user through the SAM; prints its id\n"
            "  user enrol --user ID\n"
            "                    set the user's signing PIN (read from stdin) and a new TOTP\n"
            "                    authenticator; prints the otpauth:// URI once\n"
            "  credential create --user ID --alg ec-p256|ec-p384|rsa-2048|rsa-3072|rsa-4096\n"
            "                    generate a signing key for the user; prints the credential id\n"
            "  credential lock|unlock|disable|destroy ID --reason TEXT\n"
            "                    change a credential's state (destroy erases the key)\n"
            "  account set-password --user ID\n"
            "                    set a user's API login password (read from standard input)\n"
            "  audit verify [--checkpoints FILE]\n"
            "                    verify every audit chain: records, MACs, signed checkpoints\n"
            "  audit search [--user ID] [--type T] [--from TIME] [--to TIME] ... [--format F]\n"
            "                    matching audit records as JSON lines or CSV\n"
            "  audit checkpoints export [--output FILE]\n"
            "                    the signed checkpoints, to keep for a later audit verify\n"
            "  audit evidence --record WRITER/SEQ | --hash H | --signature S [--out FILE]\n"
            "                    the evidence bundle of one signature (JSON)\n"
            "  audit check-evidence FILE --audit-key PEM --ca-cert PEM\n"
            "                    check an evidence bundle offline (needs no config)\n"
            "  audit key export [--writer W] [--hsm] [--out FILE]\n"
            "                    the audit public key(s) that sign checkpoints (PEM)\n"
            "  ca init --self-signed [--out FILE] | --csr FILE\n"
            "                    make the CA and OCSP responder keys in the token and a\n"
            "                    self-signed root, or a request for an external root\n"
            "  ca import-cert FILE | ca renew-ocsp\n"
            "                    the external root's certificate; a new OCSP responder cert\n"
            "  signer create --username U --country CC --common-name CN ... --method M\n"
            "                    register a signer with identity evidence; prints the\n"
            "                    activation code once\n"
            "  cert issue --credential ID | --user ID --alg ALG [--out FILE]\n"
            "                    issue a qualified certificate for a key the SAM made\n"
            "  cert revoke SERIAL | --credential ID --reason R\n"
            "                    revoke (RFC 5280 reason) and destroy the key\n"
            "  crl FILE          write the current CRL (DER)\n"
            "\n"
            "options:\n"
            "  -c, --config FILE     config file (default $QSIGN_CONFIG or %s)\n"
            "  --example-config      print a commented example config and exit\n"
            "  -h, --help            this help\n",
            QS_CTL_DEFAULT_CONFIG);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"example-config", no_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = getenv("QSIGN_CONFIG");
    int c;

    umask(077);
    while ((c = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'E':
            qs_cfg_write_example(stdout, "qsignctl", qs_ctl_options);
            return 0;
        case 'h':
            qs_ctl_usage(stdout);
            return 0;
        default:
            qs_ctl_usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        qs_ctl_usage(stderr);
        return 2;
    }
    if (config_path == NULL || config_path[0] == '\0')
        config_path = QS_CTL_DEFAULT_CONFIG;

    if (qs_util_init() != QS_OK) {
        fprintf(stderr, "qsignctl: cannot initialise libsodium\n");
        return 1;
    }
    /* Checking evidence is offline: a third party runs it with the files it was given, so it
     * reads no config (the defaults fill the struct). */
    bool offline = strcmp(argv[optind], "audit") == 0 && optind + 1 < argc &&
                   strcmp(argv[optind + 1], "check-evidence") == 0;
    qs_ctl_config cfg;
    char err[1024];
    qs_err cr = offline
                    ? qs_cfg_load_buf("", 0, "(defaults)", qs_ctl_options, &cfg, err, sizeof err)
                    : qs_cfg_load_file(config_path, qs_ctl_options, &cfg, err, sizeof err);
    if (cr != QS_OK) {
        fprintf(stderr, "qsignctl: %s\n", err);
        return 1;
    }
    qs_log_level level;
    if (!qs_log_level_parse(cfg.log_level, &level)) {
        fprintf(stderr, "qsignctl: %s: [log] level: \"%s\" is not debug, info, warn or error\n",
                config_path, cfg.log_level);
        qs_cfg_free(qs_ctl_options, &cfg);
        return 1;
    }
    qs_log_set_level(level);

    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    int rc;
    if (strcmp(cmd, "db") == 0) {
        rc = qs_ctl_db(&cfg, sub_argc, sub_argv);
    } else if (strcmp(cmd, "hsm") == 0) {
        rc = qs_ctl_hsm(&cfg, sub_argc, sub_argv);
    } else if (strcmp(cmd, "user") == 0) {
        rc = qs_ctl_user(&cfg, sub_argc, sub_argv);
    } else if (strcmp(cmd, "credential") == 0) {
        rc = qs_ctl_credential(&cfg, sub_argc, sub_argv);
    } else if (strcmp(cmd, "account") == 0) {
        rc = qs_ctl_account(&cfg, sub_argc, sub_argv);
    } else if (strcmp(cmd, "audit") == 0) {
        rc = qs_ctl_audit(&cfg, sub_argc, sub_argv);
    } else if (strcmp(cmd, "ca") == 0) {
        rc = qs_ctl_ca(&cfg, sub_argc, sub_argv);
    } else if (strcmp(cmd, "cert") == 0) {
        rc = qs_ctl_cert(&cfg, sub_argc, sub_argv);
    } else if (strcmp(cmd, "crl") == 0) {
        rc = qs_ctl_crl(&cfg, sub_argc, sub_argv);
    } else if (strcmp(cmd, "signer") == 0) {
        rc = qs_ctl_signer(&cfg, sub_argc, sub_argv);
    } else {
        fprintf(stderr, "qsignctl: unknown command \"%s\"\n", cmd);
        qs_ctl_usage(stderr);
        rc = 2;
    }
    qs_cfg_free(qs_ctl_options, &cfg);
    return rc;
}
