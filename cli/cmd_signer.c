/*
 * qsignctl signer: registration of signers, through the SAM (an admin peer).
 *   qsignctl signer create --username U --country CC --common-name CN
 *       [--given-name G] [--surname S] [--pseudonym P] [--serial-number PNOEE-...]
 *       [--organization O --organization-id VATBE-...] [--profile qcp-n-qscd|qcp-l-qscd]
 *       --method physical|remote --document-type passport|id_card|residence_permit|
 *       driving_licence --document-country CC [--notes TEXT] [--actor NAME]
 * The document number is read from standard input (one line), so it never shows in the process
 * list; the SAM keeps only a keyed hash of it.  Prints the new user id, the activation code
 * (once: hand it to the signer, who sets PIN and TOTP with it) and when the code expires.
 */
#define QS_LOG_MODULE "qsignctl"

#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sam/client.h"
#include "util/secret.h"

static void signer_usage(FILE *f)
{
    fprintf(f, "usage: qsignctl signer create --username U --country CC --common-name CN\n"
               "           [--given-name G] [--surname S] [--pseudonym P] [--serial-number ID]\n"
               "           [--organization O] [--organization-id ID] [--profile P]\n"
               "           --method physical|remote --document-type passport|id_card|\n"
               "           residence_permit|driving_licence --document-country CC [--notes TEXT]\n"
               "           [--actor NAME]   (the document number is read from standard input)\n");
}

static bool parse_doc_type(const char *s, qs_sam_document_type *t)
{
    static const struct {
        const char *name;
        qs_sam_document_type t;
    } types[] = {
        {"passport", QS_SAM_DOC_PASSPORT},
        {"id_card", QS_SAM_DOC_ID_CARD},
        {"residence_permit", QS_SAM_DOC_RESIDENCE_PERMIT},
        {"driving_licence", QS_SAM_DOC_DRIVING_LICENCE},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(s, types[i].name) == 0) {
            *t = types[i].t;
            return true;
        }
    }
    return false;
}

static int signer_create(const qs_ctl_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"username", required_argument, NULL, 'u'},
        {"country", required_argument, NULL, 'c'},
        {"common-name", required_argument, NULL, 'n'},
        {"given-name", required_argument, NULL, 'g'},
        {"surname", required_argument, NULL, 's'},
        {"pseudonym", required_argument, NULL, 'p'},
        {"serial-number", required_argument, NULL, 'i'},
        {"organization", required_argument, NULL, 'o'},
        {"organization-id", required_argument, NULL, 'O'},
        {"profile", required_argument, NULL, 'P'},
        {"method", required_argument, NULL, 'm'},
        {"document-type", required_argument, NULL, 't'},
        {"document-country", required_argument, NULL, 'C'},
        {"notes", required_argument, NULL, 'N'},
        {"actor", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    qs_sam_signer_req q = {.profile = "qcp-n-qscd"};
    const char *method = NULL, *doc_type = NULL;
    char actor_buf[128];
    int ch;

    optind = 0;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            q.username = optarg;
            break;
        case 'c':
            q.country = optarg;
            break;
        case 'n':
            q.common_name = optarg;
            break;
        case 'g':
            q.given_name = optarg;
            break;
        case 's':
            q.surname = optarg;
            break;
        case 'p':
            q.pseudonym = optarg;
            break;
        case 'i':
            q.serial_number = optarg;
            break;
        case 'o':
            q.organization = optarg;
            break;
        case 'O':
            q.organization_id = optarg;
            break;
        case 'P':
            q.profile = optarg;
            break;
        case 'm':
            method = optarg;
            break;
        case 't':
            doc_type = optarg;
            break;
        case 'C':
            q.document_country = optarg;
            break;
        case 'N':
            q.notes = optarg;
            break;
        case 'a':
            q.actor = optarg;
            break;
        default:
            signer_usage(stderr);
            return 2;
        }
    }
    if (optind != argc || q.username == NULL || q.country == NULL || q.common_name == NULL ||
        method == NULL || doc_type == NULL || q.document_country == NULL) {
        signer_usage(stderr);
        return 2;
    }
    if (strcmp(method, "physical") == 0) {
        q.method = QS_SAM_EVIDENCE_PHYSICAL;
    } else if (strcmp(method, "remote") == 0) {
        q.method = QS_SAM_EVIDENCE_REMOTE;
    } else {
        fprintf(stderr, "qsignctl: --method: physical or remote\n");
        return 2;
    }
    if (!parse_doc_type(doc_type, &q.document_type)) {
        fprintf(stderr, "qsignctl: --document-type: passport, id_card, residence_permit or "
                        "driving_licence\n");
        return 2;
    }
    if (q.actor == NULL) {
        struct passwd pw, *res = NULL;
        char tmp[1024];
        if (getpwuid_r(getuid(), &pw, tmp, sizeof tmp, &res) == 0 && res != NULL)
            snprintf(actor_buf, sizeof actor_buf, "%s", pw.pw_name);
        else
            snprintf(actor_buf, sizeof actor_buf, "uid %u", (unsigned)getuid());
        q.actor = actor_buf;
    }
    char *doc = qs_secret_alloc(128);
    if (doc == NULL)
        return 1;
    if (isatty(STDIN_FILENO))
        fprintf(stderr, "document number: ");
    if (fgets(doc, 128, stdin) == NULL) {
        fprintf(stderr, "qsignctl: no document number on standard input\n");
        qs_secret_free(doc);
        return 2;
    }
    doc[strcspn(doc, "\r\n")] = '\0';
    q.document_number = doc;
    if (!qs_ctl_need(cfg->sam_socket_path, "sam", "socket_path")) {
        qs_secret_free(doc);
        return 1;
    }
    qs_sam_client *c = NULL;
    qs_err r = qs_sam_client_connect(cfg->sam_socket_path, QS_SAM_CLIENT_TIMEOUT_MS, &c);
    if (r != QS_OK) {
        fprintf(stderr, "qsignctl: cannot connect to qsign-sam at %s\n", cfg->sam_socket_path);
        qs_secret_free(doc);
        return 1;
    }
    char id[QS_SAM_ID_BUF], code[QS_SAM_ACTIVATION_BUF];
    uint64_t expires = 0;
    int rc = 0;
    r = qs_sam_client_create_signer(c, &q, id, code, &expires);
    if (r != QS_OK) {
        const char *msg = qs_sam_client_error(c);
        fprintf(stderr, "qsignctl: signer create: %s (%s)%s%s\n", qs_err_str(r), qs_err_name(r),
                msg[0] != '\0' ? ": " : "", msg);
        rc = 1;
    } else {
        char when[64] = "";
        time_t t = (time_t)expires;
        struct tm tm;
        if (gmtime_r(&t, &tm) != NULL)
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("user %s\nactivation-code %s\nexpires %s\n", id, code, when);
    }
    qs_wipe(code, sizeof code);
    qs_secret_free(doc);
    qs_sam_client_close(c);
    return rc;
}

int qs_ctl_signer(const qs_ctl_config *cfg, int argc, char **argv)
{
    if (argc < 2) {
        signer_usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        signer_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "create") == 0)
        return signer_create(cfg, argc - 1, argv + 1);
    fprintf(stderr, "qsignctl: signer: unknown sub-command \"%s\"\n", sub);
    signer_usage(stderr);
    return 2;
}
