/*
 * qsignctl account: API login accounts.
 *   qsignctl account set-password --user ID   read a login password from standard input and
 *                                             store its Argon2id verifier for user ID
 * The login password opens an API session (CSC auth/login); it is not the signing PIN and
 * authorizes no signature.  Connects with [database] owner_conninfo: qsignd's own role may
 * read verifiers but never write them.
 */
#define QS_LOG_MODULE "qsignctl"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "db/db.h"
#include "db/db_api.h"
#include "util/secret.h"

#define ACCOUNT_PASSWORD_MIN 8
#define ACCOUNT_PASSWORD_MAX 1024 /* as qsignd accepts */

static void account_usage(FILE *f)
{
    fprintf(f, "usage: qsignctl account set-password --user ID   (password on standard input)\n");
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool parse_uuid(const char *s, uint8_t out[static QS_DB_API_UUID_LEN])
{
    if (strlen(s) != 36)
        return false;
    size_t o = 0;
    for (size_t i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i++] != '-')
                return false;
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[o++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return true;
}

/*
 * Reads one line from standard input into buf (without its line ending), echo off on a
 * terminal.  Returns its length, or -1 when it is empty, too long or unreadable.
 */
static ssize_t read_password(char *buf, size_t cap)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fprintf(stderr, "login password: ");
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    size_t n = 0;
    bool eol = false, too_long = false;
    while (!eol) {
        char ch;
        ssize_t r = read(STDIN_FILENO, &ch, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || ch == '\n')
            eol = true;
        else if (n + 1 < cap)
            buf[n++] = ch;
        else
            too_long = true;
    }
    if (tty) {
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (too_long || n == 0)
        return -1;
    return (ssize_t)n;
}

typedef struct set_ctx {
    const uint8_t *user_id;
    const char *verifier;
    bool user_exists;
} set_ctx;

static qs_err set_txn(qs_db *db, void *cls)
{
    set_ctx *c = cls;
    return qs_db_account_set_password(db, c->user_id, c->verifier, &c->user_exists);
}

static int set_password(const qs_ctl_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"user", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    const char *user = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "u:", longopts, NULL)) != -1) {
        if (c != 'u') {
            account_usage(stderr);
            return 2;
        }
        user = optarg;
    }
    uint8_t id[QS_DB_API_UUID_LEN];
    if (user == NULL || optind != argc) {
        account_usage(stderr);
        return 2;
    }
    if (!parse_uuid(user, id)) {
        fprintf(stderr, "qsignctl: --user: \"%s\" is not a user id (UUID)\n", user);
        return 2;
    }
    if (!qs_ctl_need(cfg->db_owner_conninfo, "database", "owner_conninfo"))
        return 1;

    char *pw = qs_secret_alloc(ACCOUNT_PASSWORD_MAX + 2);
    char verifier[crypto_pwhash_STRBYTES];
    qs_db *db = NULL;
    int rc = 1;
    if (pw == NULL) {
        fprintf(stderr, "qsignctl: out of memory\n");
        return 1;
    }
    ssize_t len = read_password(pw, ACCOUNT_PASSWORD_MAX + 2);
    if (len < ACCOUNT_PASSWORD_MIN) {
        fprintf(stderr, "qsignctl: the password must be one line of %d to %d bytes\n",
                ACCOUNT_PASSWORD_MIN, ACCOUNT_PASSWORD_MAX);
        goto out;
    }
    if (crypto_pwhash_str_alg(
            verifier, pw, (unsigned long long)len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        fprintf(stderr, "qsignctl: cannot hash the password (out of memory)\n");
        goto out;
    }
    qs_err r = qs_db_connect(cfg->db_owner_conninfo, &db);
    set_ctx sc = {.user_id = id, .verifier = verifier};
    if (r == QS_OK)
        r = qs_db_run_txn(db, "account_set_password", set_txn, &sc);
    if (r != QS_OK) {
        fprintf(stderr, "qsignctl: account set-password: %s\n", qs_err_str(r));
        goto out;
    }
    if (!sc.user_exists) {
        fprintf(stderr, "qsignctl: no user %s\n", user);
        goto out;
    }
    printf("login password set for user %s\n", user);
    rc = 0;
out:
    qs_db_free(db);
    qs_wipe(verifier, sizeof verifier);
    qs_secret_free(pw);
    return rc;
}

int qs_ctl_account(const qs_ctl_config *cfg, int argc, char **argv)
{
    if (argc < 2) {
        account_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "set-password") == 0)
        return set_password(cfg, argc - 1, argv + 1);
    account_usage(stderr);
    return 2;
}
