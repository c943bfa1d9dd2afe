/*
 * qsignctl, the operator tool: shared configuration and the sub-command entry points.
 * Each sub-command lives in its own file (cmd_<area>.c) and returns a process exit status:
 * 0 success, 1 failure (reported on stderr), 2 usage error.
 */
#ifndef QS_CLI_CLI_H
#define QS_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct qs_ctl_config {
    /* [database] */
    char *db_owner_conninfo; /* schema owner: migrations only */
    char *db_sam_conninfo;   /* as qsign_sam */
    char *db_audit_conninfo; /* as qsign_audit: read-only audit access */
    /* [hsm] */
    char *hsm_module;      /* PKCS#11 module path */
    char *hsm_token_label; /* token label */
    char *hsm_pin_file;    /* file holding the token's user PIN */
    char *hsm_so_pin_file; /* file holding the SO PIN (hsm init only) */
    /* [sam] */
    char *sam_socket_path; /* the SAM's unix socket */
    /* [log] */
    char *log_level;
} qs_ctl_config;

/* True when `value` is set; otherwise prints "qsignctl: [section] key must be set in the config"
 * and returns false.  Each sub-command checks the options it needs with this. */
bool qs_ctl_need(const char *value, const char *section, const char *key);

/* For the sub-commands that talk to qsign-sam (cli/sam_cli.c). */
typedef struct qs_sam_client qs_sam_client;

/* The login name of the user running qsignctl ("uid N" without one): the default audit actor. */
const char *qs_ctl_default_actor(char *buf, size_t cap);

/* Prints "qsignctl: WHAT: <error> (<name>): <the SAM's message>" and returns exit status 1. */
int qs_ctl_sam_failed(const char *what, qs_sam_client *c, qs_err r);

/* Connects to [sam] socket_path; NULL after printing why. */
qs_sam_client *qs_ctl_connect_sam(const qs_ctl_config *cfg);

int qs_ctl_db(const qs_ctl_config *cfg, int argc, char **argv);
int qs_ctl_hsm(const qs_ctl_config *cfg, int argc, char **argv);
int qs_ctl_user(const qs_ctl_config *cfg, int argc, char **argv);
int qs_ctl_credential(const qs_ctl_config *cfg, int argc, char **argv);
int qs_ctl_account(const qs_ctl_config *cfg, int argc, char **argv);
int qs_ctl_audit(const qs_ctl_config *cfg, int argc, char **argv);
/* qsignctl audit evidence | check-evidence | key (cli/cmd_evidence.c). */
int qs_ctl_audit_evidence(const qs_ctl_config *cfg, int argc, char **argv);
int qs_ctl_audit_check_evidence(const qs_ctl_config *cfg, int argc, char **argv);
int qs_ctl_audit_key(const qs_ctl_config *cfg, int argc, char **argv);
int qs_ctl_ca(const qs_ctl_config *cfg, int argc, char **argv);
int qs_ctl_cert(const qs_ctl_config *cfg, int argc, char **argv);
int qs_ctl_crl(const qs_ctl_config *cfg, int argc, char **argv);
int qs_ctl_signer(const qs_ctl_config *cfg, int argc, char **argv);

#endif
