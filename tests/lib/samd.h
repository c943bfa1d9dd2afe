/*
 * The real qsign-sam daemon for end-to-end tests: a fresh SoftHSM token with its service keys,
 * a fresh migrated database in the `pg` fixture's cluster, a config file, and the daemon
 * process (the binary named by $QS_SAM_BIN) on a socket in a private temporary directory.
 * Tests talk to it through qsign_samclient, as qsignd and qsignctl do.
 *
 * Typical use:
 *   qs_test_samd *d = qs_test_samd_start("flow", NULL);   // default options
 *   qs_sam_client *c = qs_test_samd_connect(d);
 *   qs_test_signer s;
 *   qs_test_samd_enrol_signer(d, c, "alice", "123456", &s);
 *   char otp[QS_TOTP_CODE_BUF];
 *   qs_test_signer_code(&s, otp);                          // a TOTP code not used before
 *   ...
 *   qs_sam_client_close(c);
 *   qs_test_samd_stop(d);                                   // SIGTERM, expects exit status 0
 *
 * For crash and restart tests: qs_test_samd_terminate(d, SIGKILL) then qs_test_samd_launch(d)
 * runs the daemon again on the same token, database and config.  Failures abort the test
 * program (exit 1) after printing the daemon's log; a missing package skips it.  With
 * QS_TEST_SAMD_LOG set in the environment the log is printed at every stop too.
 */
#ifndef QS_TESTS_SAMD_H
#define QS_TESTS_SAMD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth/auth.h"
#include "sam/client.h"
#include "tests/lib/pg.h"
#include "tests/lib/softhsm.h"

/* Options of the daemon's config; zero / NULL fields take the defaults in brackets. */
typedef struct qs_test_samd_opts {
    int workers;             /* [4] */
    int sad_lifetime;        /* [300] seconds */
    int sad_max_lifetime;    /* [3600] */
    int max_signatures;      /* [1000] */
    int max_failed_attempts; /* [5] */
    int read_timeout_ms;     /* [2000] */
    const char *admin_uids;  /* [the test process's uid] */
    /* The socket in a directory every user may traverse, mode 0666, so a child process that
     * dropped privileges can connect as a non-admin peer.  [false: private directory, 0600] */
    bool public_socket;
    const char *log_level; /* [info] */
    const char *extra;     /* appended to the config verbatim (whole new sections); [none] */
} qs_test_samd_opts;

typedef struct qs_test_samd {
    qs_test_token token; /* its directory holds config, PIN file and log too */
    qs_test_pg *pg;
    qs_test_samd_opts opts;
    char sock_dir[PATH_MAX];
    char socket_path[108];
    char config_path[PATH_MAX + 32];
    char log_path[PATH_MAX + 32];
    char pin_file[PATH_MAX + 32];
    char writer_id[65];
    char binary[PATH_MAX];
    pid_t pid; /* 0 when not running */
} qs_test_samd;

/* Makes token, keys, database and config (nothing runs yet).  opts may be NULL. */
void qs_test_samd_setup(qs_test_samd *d, const char *tag, const qs_test_samd_opts *opts);

/* Starts the daemon and waits until it answers PING (at most 60 s). */
void qs_test_samd_launch(qs_test_samd *d);

/* Replaces the options and rewrites the config file (the token, database, socket and writer
 * stay); a running daemon reads it at its next launch. */
void qs_test_samd_configure(qs_test_samd *d, const qs_test_samd_opts *opts);

/* Sends `sig` and waits for the process (SIGKILL after 30 s).  Returns the exit status, or
 * 128 + the signal that ended it. */
int qs_test_samd_terminate(qs_test_samd *d, int sig);

/* Stops a running daemon (SIGKILL), drops the database, removes token and directories. */
void qs_test_samd_teardown(qs_test_samd *d);

/* setup + launch into a new allocation; stop = SIGTERM (exit status must be 0) + teardown +
 * free. */
qs_test_samd *qs_test_samd_start(const char *tag, const qs_test_samd_opts *opts);
void qs_test_samd_stop(qs_test_samd *d);

/* Prints the daemon's log to stderr (after a failure). */
void qs_test_samd_dump_log(const qs_test_samd *d);

/* In a cmocka test: fails unless `call` returns `want`, naming the line, the call, both codes
 * and the last message of SAM client c; with a daemon d (may be NULL) its log is printed first. */
#define QS_TEST_SAM_EXPECT(d, c, call, want)                                                       \
    do {                                                                                           \
        qs_err got_ = (call);                                                                      \
        if (got_ != (want)) {                                                                      \
            if ((d) != NULL)                                                                       \
                qs_test_samd_dump_log(d);                                                          \
            fail_msg("line %d: %s: got %s (%s), want %s", __LINE__, #call, qs_err_name(got_),      \
                     qs_sam_client_error(c), qs_err_name(want));                                   \
        }                                                                                          \
    } while (0)

/* A new client connection to the daemon; aborts on failure. */
qs_sam_client *qs_test_samd_connect(const qs_test_samd *d);

/* A signer enrolled through the daemon, with what a test needs to authenticate as them. */
typedef struct qs_test_signer {
    char user_id[QS_SAM_ID_BUF];
    char username[64];
    char pin[QS_PIN_MAX_LEN + 1];
    uint8_t seed[QS_TOTP_SEED_MAX];
    size_t seed_len;
    qs_totp_params params;
    uint64_t last_step; /* the last step a code was handed out for */
} qs_test_signer;

/* CREATE_USER (kind signer) + ENROL_FACTORS over `c` (an admin peer), then reads the TOTP seed
 * back from the otpauth URI.  Aborts on failure. */
void qs_test_samd_enrol_signer(qs_test_samd *d, qs_sam_client *c, const char *username,
                               const char *pin, qs_test_signer *out);

/* Parses an otpauth://totp/ URI (secret, algorithm, digits, period) into s. */
bool qs_test_otpauth_parse(const char *uri, qs_test_signer *s);

/* A valid TOTP code for a step after the last one handed out: the current step or the next,
 * waiting for the clock when both were used.  Each call consumes a step. */
void qs_test_signer_code(qs_test_signer *s, char code[static QS_TOTP_CODE_BUF]);

/* A well-formed code that matches none of the steps around now (never accepted). */
void qs_test_signer_wrong_code(const qs_test_signer *s, char code[static QS_TOTP_CODE_BUF]);

/* A [ca] section (subject, PDS and the URLs) that lets the daemon issue certificates: pass it
 * as opts.extra, then qs_test_samd_ca_init. */
extern const char qs_test_samd_ca_config[];

/* CA_INIT (self-signed root) over `c` (an admin peer): the CA certificate (DER, malloc'd) into
 * *der.  Aborts on failure. */
void qs_test_samd_ca_init(qs_test_samd *d, qs_sam_client *c, uint8_t **der, size_t *len);

/* A signer registered the way the registration authority does it, over `c` (an admin peer):
 * CREATE_SIGNER with identity evidence (natural person, profile qcp-n-qscd), ACTIVATE with the
 * PIN (the TOTP seed read back into out), ISSUE_CERT of a new key of `alg`.  The credential's
 * id into cred and its certificate (DER, malloc'd) into *cert.  Aborts on failure. */
void qs_test_samd_certified_signer(qs_test_samd *d, qs_sam_client *c, const char *username,
                                   const char *pin, qs_sam_key_alg alg, qs_test_signer *out,
                                   char cred[static QS_SAM_ID_BUF], uint8_t **cert,
                                   size_t *cert_len);

/* CREATE_CREDENTIAL over c; aborts on failure.  *spki (malloc'd) may be NULL to ignore it. */
void qs_test_samd_create_credential(qs_sam_client *c, const char *user_id, qs_sam_key_alg alg,
                                    char id[static QS_SAM_ID_BUF], uint8_t **spki,
                                    size_t *spki_len);

/* Rows of qsign.audit_log (read as qsign_audit) matching an SQL condition, e.g.
 * "event_type = 'auth.failed' AND result = 'failure'".  Test code only: the condition is SQL. */
long qs_test_samd_audit_count(const qs_test_samd *d, const char *where);

/* Verifies the daemon's audit chain with the verifier (sam/audit.h), in this process, through
 * its own HSM session: returns its result and the number of records in *count.  Call it with
 * the daemon stopped or running. */
qs_err qs_test_samd_verify_audit(const qs_test_samd *d, uint64_t *count);

#endif
