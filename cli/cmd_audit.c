/*
 * qsignctl audit: what auditors run against the audit log, as role qsign_audit ([database]
 * audit_conninfo, read-only).
 *   qsignctl audit verify [--checkpoints FILE] [--max-findings N] [--threads N]
 *       verifies every writer's chain end to end: sequence, hash links, record hashes, the
 *       HSM MAC of each record ([hsm] module, token_label, pin_file), the stored signed
 *       checkpoints, and those of an earlier export (a log cut short or rewritten after them);
 *       prints each finding and a verdict per chain; exit 0 only when every chain is intact.
 *       MACs are checked by --threads HSM sessions in parallel (default: one per CPU)
 *   qsignctl audit search [--user ID] [--credential ID] [--type T|PREFIX.] [--from TIME]
 *       [--to TIME] [--result success|failure] [--writer W] [--format jsonl|csv]
 *       the matching records, one per line with every column, oldest first
 *   qsignctl audit checkpoints export [--output FILE]
 *       every stored checkpoint as JSON lines, to keep outside the database for verify
 *   qsignctl audit evidence | check-evidence | key export
 *       the evidence of one signature, its offline check, the audit public key
 *       (cli/cmd_evidence.c)
 * Progress goes to standard error, and only when it is a terminal.
 */
#define QS_LOG_MODULE "qsignctl"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "db/db.h"
#include "hsm/hsm.h"
#include "sam/audit.h"
#include "util/secret.h"

/* Findings printed per chain unless --max-findings says otherwise; the rest are counted. */
#define AUDIT_MAX_FINDINGS_DEFAULT 20
/* Default HSM sessions checking MACs at once: one per CPU, at most this many. */
#define AUDIT_MAC_THREADS_DEFAULT_MAX 8

static void audit_usage(FILE *f)
{
    fprintf(f,
            "usage: qsignctl audit verify [--checkpoints FILE] [--max-findings N] [--threads N]\n"
            "       qsignctl audit search [--user ID] [--credential ID] [--type T|PREFIX.]\n"
            "                             [--from TIME] [--to TIME] [--result success|failure]\n"
            "                             [--writer W] [--format jsonl|csv]\n"
            "       qsignctl audit checkpoints export [--output FILE]\n"
            "       qsignctl audit evidence (--record WRITER/SEQ | --hash HEX|BASE64 |\n"
            "                               --signature BASE64) [--signature BASE64] "
            "[--out FILE]\n"
            "       qsignctl audit check-evidence FILE --audit-key PEM --ca-cert PEM\n"
            "       qsignctl audit key export [--writer W] [--hsm] [--out FILE]\n"
            "TIME is RFC 3339 (2024-05-01T12:00:00Z, 2024-05-01T14:00:00.5+02:00) or a date\n"
            "(2024-05-01, midnight UTC); --from is inclusive, --to exclusive.\n");
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static qs_db *connect_audit(const qs_ctl_config *cfg)
{
    qs_db *db = NULL;
    if (!qs_ctl_need(cfg->db_audit_conninfo, "database", "audit_conninfo"))
        return NULL;
    qs_err r = qs_db_connect(cfg->db_audit_conninfo, &db);
    if (r != QS_OK) {
        fprintf(stderr, "qsignctl: cannot connect as the auditor ([database] audit_conninfo): %s\n",
                qs_err_str(r));
        return NULL;
    }
    r = qs_db_check_schema(db);
    if (r != QS_OK) {
        fprintf(stderr, "qsignctl: database schema: %s\n", qs_err_str(r));
        qs_db_free(db);
        return NULL;
    }
    return db;
}

/* ---- verify ------------------------------------------------------------------------------- */

typedef struct verify_out {
    bool tty;                                /* progress on standard error */
    bool progress_shown;                     /* a progress line is on the terminal */
    unsigned long max;                       /* findings printed per chain */
    unsigned long shown;                     /* findings printed for the current chain */
    char writer[QS_AUDIT_WRITER_ID_MAX + 1]; /* the chain the counters belong to */
    double started, last_progress;
    unsigned long writers, bad_writers;
    uint64_t records, checkpoints, exported;
} verify_out;

static void progress_clear(verify_out *vo)
{
    if (vo->progress_shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        vo->progress_shown = false;
    }
}

/* A new chain: its own findings count. */
static void verify_chain_begin(verify_out *vo, const char *writer_id)
{
    if (strcmp(vo->writer, writer_id) != 0) {
        snprintf(vo->writer, sizeof vo->writer, "%s", writer_id);
        vo->shown = 0;
    }
}

static bool verify_finding(void *cls, const qs_audit_finding *f)
{
    verify_out *vo = cls;
    verify_chain_begin(vo, f->writer_id);
    if (vo->shown++ < vo->max) {
        progress_clear(vo);
        printf("  %s seq %llu: %s: %s\n", f->writer_id, (unsigned long long)f->seq,
               qs_audit_problem_name(f->problem), f->what);
        fflush(stdout);
    }
    return true;
}

static void verify_progress(void *cls, const char *writer_id, uint64_t records, uint64_t head)
{
    verify_out *vo = cls;
    verify_chain_begin(vo, writer_id);
    if (!vo->tty)
        return;
    double now = mono_s();
    if (now - vo->last_progress < 0.2)
        return;
    vo->last_progress = now;
    double rate = (double)(vo->records + records) / (now - vo->started + 1e-9);
    if (head > 0)
        fprintf(stderr, "\r\033[Kverifying %s: %llu of %llu records (%.0f%%), %.0f records/s",
                writer_id, (unsigned long long)records, (unsigned long long)head,
                100.0 * (double)records / (double)head, rate);
    else
        fprintf(stderr, "\r\033[Kverifying %s: %llu records, %.0f records/s", writer_id,
                (unsigned long long)records, rate);
    fflush(stderr);
    vo->progress_shown = true;
}

static void verify_writer_done(void *cls, const char *writer_id, qs_err r,
                               const qs_audit_verify_result *res)
{
    verify_out *vo = cls;
    verify_chain_begin(vo, writer_id);
    progress_clear(vo);
    vo->writers++;
    vo->records += res->records;
    vo->checkpoints += res->checkpoints;
    vo->exported += res->exported;
    if (vo->shown > vo->max)
        printf("  %s: ... and %lu more findings\n", writer_id, vo->shown - vo->max);
    if (r == QS_OK) {
        printf("%s: intact: %llu records (seq 1..%llu), %llu stored and %llu exported "
               "checkpoints verified\n",
               writer_id, (unsigned long long)res->records, (unsigned long long)res->last_seq,
               (unsigned long long)res->checkpoints, (unsigned long long)res->exported);
    } else if (r == QS_ERR_UNSUPPORTED) {
        vo->bad_writers++;
        printf("%s: NOT VERIFIED: its records are MACed with a key this verifier does not use\n",
               writer_id);
    } else if (r == QS_ERR_NOT_FOUND) {
        vo->bad_writers++;
        printf("%s: TAMPERED: the chain is missing from the database (known from the export "
               "only); first finding at seq %llu (%s)\n",
               writer_id, (unsigned long long)res->first_seq,
               qs_audit_problem_name(res->first_problem));
    } else {
        vo->bad_writers++;
        printf("%s: TAMPERED: %llu finding%s in %llu records; first bad record: seq %llu (%s)\n",
               writer_id, (unsigned long long)res->findings, res->findings == 1 ? "" : "s",
               (unsigned long long)res->records, (unsigned long long)res->first_seq,
               qs_audit_problem_name(res->first_problem));
    }
    fflush(stdout);
}

static bool read_pin(const qs_ctl_config *cfg, char **pin, size_t *pin_len)
{
    char why[512];
    if (qs_secret_read_file(cfg->hsm_pin_file, QS_HSM_PIN_MAX, pin, pin_len, why, sizeof why) !=
        QS_OK) {
        fprintf(stderr, "qsignctl: [hsm] pin_file: %s\n", why);
        return false;
    }
    return true;
}

static int audit_verify(const qs_ctl_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"checkpoints", required_argument, NULL, 'c'},
        {"max-findings", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *cp_path = NULL;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned long threads = cpus < 1                               ? 1
                            : cpus > AUDIT_MAC_THREADS_DEFAULT_MAX ? AUDIT_MAC_THREADS_DEFAULT_MAX
                                                                   : (unsigned long)cpus;
    verify_out vo = {.max = AUDIT_MAX_FINDINGS_DEFAULT, .tty = isatty(STDERR_FILENO) == 1};
    int ch;

    optind = 0; /* 0: glibc re-initialises getopt (argument permutation included) */
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case 'c':
            cp_path = optarg;
            break;
        case 'm':
            vo.max = strtoul(optarg, &end, 10);
            if (end == optarg || *end != '\0') {
                fprintf(stderr, "qsignctl: --max-findings takes a number\n");
                return 2;
            }
            break;
        case 't':
            threads = strtoul(optarg, &end, 10);
            if (end == optarg || *end != '\0' || threads < 1 ||
                threads > QS_AUDIT_VERIFY_MAC_THREADS_MAX) {
                fprintf(stderr, "qsignctl: --threads takes a number from 1 to %d\n",
                        QS_AUDIT_VERIFY_MAC_THREADS_MAX);
                return 2;
            }
            break;
        default:
            audit_usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        audit_usage(stderr);
        return 2;
    }
    if (!qs_ctl_need(cfg->hsm_module, "hsm", "module") ||
        !qs_ctl_need(cfg->hsm_token_label, "hsm", "token_label") ||
        !qs_ctl_need(cfg->hsm_pin_file, "hsm", "pin_file"))
        return 1;

    int rc = 1;
    FILE *cp_file = NULL;
    char *pin = NULL;
    size_t pin_len = 0;
    qs_hsm *hsm = NULL;
    qs_hsm_session *hs = NULL;
    qs_db *db = NULL;
    char why[256] = "";

    if (cp_path != NULL && (cp_file = fopen(cp_path, "r")) == NULL) {
        fprintf(stderr, "qsignctl: cannot read %s\n", cp_path);
        goto out;
    }
    if (!read_pin(cfg, &pin, &pin_len))
        goto out;
    qs_hsm_params hp = {.module_path = cfg->hsm_module,
                        .token_label = cfg->hsm_token_label,
                        .pin = pin,
                        .pin_len = pin_len};
    qs_err r = qs_hsm_open(&hp, &hsm);
    qs_secret_free(pin);
    pin = NULL;
    if (r == QS_OK)
        r = qs_hsm_session_open(hsm, &hs);
    if (r != QS_OK) {
        fprintf(stderr, "qsignctl: HSM token \"%s\": %s (record MACs are checked in the HSM)\n",
                cfg->hsm_token_label, qs_err_str(r));
        goto out;
    }
    if ((db = connect_audit(cfg)) == NULL)
        goto out;

    qs_audit_verify_all_opts o = {
        .finding = verify_finding,
        .finding_cls = &vo,
        .progress = verify_progress,
        .progress_cls = &vo,
        .writer_done = verify_writer_done,
        .writer_done_cls = &vo,
        .hsm = hsm,
        .mac_threads = (unsigned)threads,
        .exported = cp_file,
        .why = why,
        .why_len = sizeof why,
    };
    uint64_t findings = 0;
    vo.started = mono_s();
    r = qs_audit_verify_all(db, hs, &o, &findings);
    progress_clear(&vo);
    double secs = mono_s() - vo.started;
    if (r != QS_OK && r != QS_ERR_MAC) {
        if (r == QS_ERR_PARSE)
            fprintf(stderr, "qsignctl: %s: %s\n", cp_path != NULL ? cp_path : "export", why);
        else
            fprintf(stderr, "qsignctl: audit verify stopped: %s (%s)\n", qs_err_str(r),
                    qs_err_name(r));
        printf("verdict: INCOMPLETE: verification stopped by an error\n");
        goto out;
    }
    printf("verified %llu records, %llu stored and %llu exported checkpoints of %lu chain%s in "
           "%.1f s (%.0f records/s)\n",
           (unsigned long long)vo.records, (unsigned long long)vo.checkpoints,
           (unsigned long long)vo.exported, vo.writers, vo.writers == 1 ? "" : "s", secs,
           secs > 0 ? (double)vo.records / secs : 0.0);
    if (r == QS_OK) {
        printf("verdict: INTACT: every chain verifies\n");
        rc = 0;
    } else {
        printf("verdict: TAMPERED: %lu of %lu chain%s with findings, %llu finding%s in all\n",
               vo.bad_writers, vo.writers, vo.writers == 1 ? "" : "s", (unsigned long long)findings,
               findings == 1 ? "" : "s");
    }
out:
    fflush(stdout);
    qs_secret_free(pin);
    if (cp_file != NULL)
        fclose(cp_file);
    qs_db_free(db);
    qs_hsm_session_close(hs);
    qs_hsm_close(hsm);
    return rc;
}

/* ---- search ------------------------------------------------------------------------------- */

static bool parse_time_opt(const char *opt, const char *v, int64_t *us)
{
    if (qs_audit_time_parse(v, us))
        return true;
    fprintf(stderr, "qsignctl: %s: \"%s\" is not an RFC 3339 time or a date\n", opt, v);
    return false;
}

static bool parse_uuid_opt(const char *opt, const char *v, uint8_t out[static QS_AUDIT_UUID_LEN])
{
    if (qs_audit_uuid_parse(v, out))
        return true;
    fprintf(stderr, "qsignctl: %s: \"%s\" is not a UUID\n", opt, v);
    return false;
}

static int audit_search(const qs_ctl_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"user", required_argument, NULL, 'u'},
        {"credential", required_argument, NULL, 'c'},
        {"type", required_argument, NULL, 't'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 'T'},
        {"result", required_argument, NULL, 'r'},
        {"writer", required_argument, NULL, 'w'},
        {"format", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0},
    };
    uint8_t user[QS_AUDIT_UUID_LEN], cred[QS_AUDIT_UUID_LEN];
    qs_audit_search_params p = {.result = -1, .format = QS_AUDIT_FORMAT_JSONL};
    int ch;

    optind = 0; /* 0: glibc re-initialises getopt (argument permutation included) */
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            if (!parse_uuid_opt("--user", optarg, user))
                return 2;
            p.user_id = user;
            break;
        case 'c':
            if (!parse_uuid_opt("--credential", optarg, cred))
                return 2;
            p.credential_id = cred;
            break;
        case 't':
            p.event_type = optarg;
            break;
        case 'f':
            if (!parse_time_opt("--from", optarg, &p.from_us))
                return 2;
            p.has_from = true;
            break;
        case 'T':
            if (!parse_time_opt("--to", optarg, &p.to_us))
                return 2;
            p.has_to = true;
            break;
        case 'r':
            if (strcmp(optarg, "success") == 0) {
                p.result = 1;
            } else if (strcmp(optarg, "failure") == 0) {
                p.result = 0;
            } else {
                fprintf(stderr, "qsignctl: --result is success or failure\n");
                return 2;
            }
            break;
        case 'w':
            p.writer_id = optarg;
            break;
        case 'F':
            if (strcmp(optarg, "jsonl") == 0) {
                p.format = QS_AUDIT_FORMAT_JSONL;
            } else if (strcmp(optarg, "csv") == 0) {
                p.format = QS_AUDIT_FORMAT_CSV;
            } else {
                fprintf(stderr, "qsignctl: --format is jsonl or csv\n");
                return 2;
            }
            break;
        default:
            audit_usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        audit_usage(stderr);
        return 2;
    }
    qs_db *db = connect_audit(cfg);
    if (db == NULL)
        return 1;
    uint64_t n = 0;
    qs_err r = qs_audit_search(db, &p, stdout, &n);
    qs_db_free(db);
    if (r == QS_ERR_INVALID_ARGUMENT) {
        fprintf(stderr, "qsignctl: --writer is [A-Za-z0-9][A-Za-z0-9._-]{0,63} and --type is "
                        "[a-z][a-z0-9_.]{0,63} (a prefix ends with '.')\n");
        return 2;
    }
    if (r != QS_OK) {
        fprintf(stderr, "qsignctl: audit search: %s (%llu records written)\n", qs_err_str(r),
                (unsigned long long)n);
        return 1;
    }
    return 0;
}

/* ---- checkpoints export ------------------------------------------------------------------- */

static int audit_checkpoints(const qs_ctl_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    int ch;

    if (argc < 2 || strcmp(argv[1], "export") != 0) {
        audit_usage(stderr);
        return 2;
    }
    argc--;
    argv++;
    optind = 0; /* 0: glibc re-initialises getopt (argument permutation included) */
    while ((ch = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        if (ch != 'o') {
            audit_usage(stderr);
            return 2;
        }
        path = optarg;
    }
    if (optind != argc) {
        audit_usage(stderr);
        return 2;
    }
    qs_db *db = connect_audit(cfg);
    if (db == NULL)
        return 1;
    FILE *out = stdout;
    if (path != NULL && (out = fopen(path, "w")) == NULL) {
        fprintf(stderr, "qsignctl: cannot write %s\n", path);
        qs_db_free(db);
        return 1;
    }
    uint64_t n = 0;
    qs_err r = qs_audit_checkpoints_export(db, out, &n);
    qs_db_free(db);
    if (out != stdout && fclose(out) != 0 && r == QS_OK)
        r = QS_ERR_IO;
    if (r != QS_OK) {
        fprintf(stderr, "qsignctl: audit checkpoints export: %s\n", qs_err_str(r));
        return 1;
    }
    fprintf(path != NULL ? stdout : stderr, "exported %llu checkpoint%s\n", (unsigned long long)n,
            n == 1 ? "" : "s");
    return 0;
}

int qs_ctl_audit(const qs_ctl_config *cfg, int argc, char **argv)
{
    if (argc < 2) {
        audit_usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        audit_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "verify") == 0)
        return audit_verify(cfg, argc - 1, argv + 1);
    if (strcmp(sub, "search") == 0)
        return audit_search(cfg, argc - 1, argv + 1);
    if (strcmp(sub, "checkpoints") == 0)
        return audit_checkpoints(cfg, argc - 1, argv + 1);
    if (strcmp(sub, "evidence") == 0)
        return qs_ctl_audit_evidence(cfg, argc - 1, argv + 1);
    if (strcmp(sub, "check-evidence") == 0)
        return qs_ctl_audit_check_evidence(cfg, argc - 1, argv + 1);
    if (strcmp(sub, "key") == 0)
        return qs_ctl_audit_key(cfg, argc - 1, argv + 1);
    fprintf(stderr, "qsignctl: audit: unknown sub-command \"%s\"\n", sub);
    audit_usage(stderr);
    return 2;
}
