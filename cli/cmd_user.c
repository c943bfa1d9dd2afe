/*
 * qsignctl user: users and their signing factors, through the SAM (qsign-sam's socket, [sam]
 * socket_path).
 *   qsignctl user create --username U --kind signer|officer|auditor [--actor NAME]
 *       creates the user; prints its id
 *   qsignctl user enrol --user ID [--actor NAME] [--issuer I] [--account A]
 *       sets the signing PIN, read from standard input (echo off and asked twice on a
 *       terminal), and a new TOTP authenticator; prints the otpauth:// URI, which holds the
 *       TOTP seed: it is shown this once, for the signer's authenticator app
 * Privileged requests: the SAM accepts them only from the uids in its [sam] admin_uids.  The
 * actor recorded in the audit log defaults to the login name of the user running qsignctl.
 */
#define QS_LOG_MODULE "qsignctl"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sam/client.h"
#include "util/secret.h"

#define USER_PIN_MAX 64 /* the SAM's longest PIN */

static void user_usage(FILE *f)
{
    fprintf(f, "usage: qsignctl user create --username U --kind signer|officer|auditor "
               "[--actor NAME]\n"
               "       qsignctl user enrol --user ID [--actor NAME] [--issuer I] [--account A]\n"
               "                           (signing PIN on standard input)\n");
}

static int user_create(const qs_ctl_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"username", required_argument, NULL, 'u'},
        {"kind", required_argument, NULL, 'k'},
        {"actor", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    const char *username = NULL, *kind = NULL, *actor = NULL;
    char actor_buf[128];
    int ch;

    optind = 0; /* 0: glibc re-initialises getopt (argument permutation included) */
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            username = optarg;
            break;
        case 'k':
            kind = optarg;
            break;
        case 'a':
            actor = optarg;
            break;
        default:
            user_usage(stderr);
            return 2;
        }
    }
    if (username == NULL || kind == NULL || optind != argc) {
        user_usage(stderr);
        return 2;
    }
    qs_sam_user_kind k;
    if (strcmp(kind, "signer") == 0) {
        k = QS_SAM_USER_SIGNER;
    } else if (strcmp(kind, "officer") == 0) {
        k = QS_SAM_USER_OFFICER;
    } else if (strcmp(kind, "auditor") == 0) {
        k = QS_SAM_USER_AUDITOR;
    } else {
        fprintf(stderr, "qsignctl: --kind: \"%s\" is not signer, officer or auditor\n", kind);
        return 2;
    }
    if (actor == NULL)
        actor = qs_ctl_default_actor(actor_buf, sizeof actor_buf);
    qs_sam_client *c = qs_ctl_connect_sam(cfg);
    if (c == NULL)
        return 1;
    char id[QS_SAM_ID_BUF];
    qs_err r = qs_sam_client_create_user(c, username, k, actor, id);
    int rc = 0;
    if (r != QS_OK)
        rc = qs_ctl_sam_failed("user create", c, r);
    else
        printf("%s\n", id);
    qs_sam_client_close(c);
    return rc;
}

/* Reads one line (without its line ending) into buf; echo off on a terminal, with `prompt`.
 * Returns its length, or -1 when it is empty, too long or unreadable. */
static ssize_t read_secret_line(const char *prompt, char *buf, size_t cap)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0)
            return -1;
    }
    size_t n = 0;
    bool eol = false, too_long = false;
    while (!eol) {
        char ch;
        ssize_t got = read(STDIN_FILENO, &ch, 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0 || ch == '\n')
            eol = true;
        else if (n + 1 < cap)
            buf[n++] = ch;
        else
            too_long = true;
        qs_wipe(&ch, sizeof ch);
    }
    if (tty) {
        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &old) != 0)
            fprintf(stderr, "\nqsignctl: cannot restore the terminal's echo\n");
        fputc('\n', stderr);
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (too_long || n == 0)
        return -1;
    return (ssize_t)n;
}

static int user_enrol(const qs_ctl_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"user", required_argument, NULL, 'u'},
        {"actor", required_argument, NULL, 'a'},
        {"issuer", required_argument, NULL, 'i'},
        {"account", required_argument, NULL, 'A'},
        {NULL, 0, NULL, 0},
    };
    const char *user = NULL, *actor = NULL, *issuer = NULL, *account = NULL;
    char actor_buf[128];
    int ch;

    optind = 0; /* 0: glibc re-initialises getopt (argument permutation included) */
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            user = optarg;
            break;
        case 'a':
            actor = optarg;
            break;
        case 'i':
            issuer = optarg;
            break;
        case 'A':
            account = optarg;
            break;
        default:
            user_usage(stderr);
            return 2;
        }
    }
    if (user == NULL || optind != argc) {
        user_usage(stderr);
        return 2;
    }
    if (actor == NULL)
        actor = qs_ctl_default_actor(actor_buf, sizeof actor_buf);

    int rc = 1;
    qs_sam_client *c = NULL;
    char *uri = NULL;
    char *pin = qs_secret_alloc(USER_PIN_MAX + 2);
    char *again = qs_secret_alloc(USER_PIN_MAX + 2);
    if (pin == NULL || again == NULL) {
        fprintf(stderr, "qsignctl: out of memory\n");
        goto out;
    }
    if (read_secret_line("signing PIN: ", pin, USER_PIN_MAX + 2) < 0) {
        fprintf(stderr, "qsignctl: user enrol: no PIN, or one longer than %d bytes\n",
                USER_PIN_MAX);
        goto out;
    }
    if (isatty(STDIN_FILENO)) {
        if (read_secret_line("signing PIN again: ", again, USER_PIN_MAX + 2) < 0 ||
            strcmp(pin, again) != 0) {
            fprintf(stderr, "qsignctl: user enrol: the PINs differ\n");
            goto out;
        }
    }
    if ((c = qs_ctl_connect_sam(cfg)) == NULL)
        goto out;
    qs_err r = qs_sam_client_enrol(c, user, pin, actor, issuer, account, &uri);
    if (r != QS_OK) {
        rc = qs_ctl_sam_failed("user enrol", c, r);
        goto out;
    }
    printf("%s\n", uri);
    fflush(stdout);
    rc = 0;
out:
    qs_secret_free(uri);
    qs_secret_free(pin);
    qs_secret_free(again);
    qs_sam_client_close(c);
    return rc;
}

int qs_ctl_user(const qs_ctl_config *cfg, int argc, char **argv)
{
    if (argc < 2) {
        user_usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        user_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "create") == 0)
        return user_create(cfg, argc - 1, argv + 1);
    if (strcmp(sub, "enrol") == 0)
        return user_enrol(cfg, argc - 1, argv + 1);
    fprintf(stderr, "qsignctl: user: unknown sub-command \"%s\"\n", sub);
    user_usage(stderr);
    return 2;
}
