/*
 * qsignctl audit: the evidence of one signature, its offline check, and the audit public key
 * an outside checker needs (docs/evidence.md).
 *   qsignctl audit evidence (--record WRITER/SEQ | --hash HEX|BASE64 | --signature BASE64)
 *                           [--signature BASE64] [--out FILE]
 *       the signature's evidence bundle, read as qsign_audit ([database] audit_conninfo);
 *       --signature adds the signature value to the bundle (and must match the record found)
 *   qsignctl audit check-evidence FILE --audit-key PEM --ca-cert PEM
 *       checks a bundle offline: no config, database or HSM; prints each check and a verdict;
 *       exit 0 only when every check passed
 *   qsignctl audit key export [--writer W] [--hsm] [--out FILE]
 *       the audit public key(s) that sign checkpoints, PEM: every writer's registered key from
 *       the database (qsign_audit), one writer's, or the token's own ([hsm])
 */
#define QS_LOG_MODULE "qsignctl"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <sodium.h>

#include "cli/cli.h"
#include "db/db.h"
#include "db/db_audit.h"
#include "hsm/hsm.h"
#include "sam/audit.h"
#include "sam/evidence.h"
#include "util/secret.h"

/* Largest PEM file of audit keys or CA certificates read. */
#define QS_CTL_PEM_MAX (1u << 20)

static void evidence_usage(FILE *f)
{
    fprintf(f, "usage: qsignctl audit evidence (--record WRITER/SEQ | --hash HEX|BASE64 |\n"
               "                               --signature BASE64) [--signature BASE64] "
               "[--out FILE]\n"
               "       qsignctl audit check-evidence FILE --audit-key PEM --ca-cert PEM\n"
               "       qsignctl audit key export [--writer W] [--hsm] [--out FILE]\n");
}

/* The whole file, at most max bytes, into a malloc'd buffer (NUL-terminated). */
static char *read_all(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (f == NULL) {
        fprintf(stderr, "qsignctl: cannot read %s\n", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || ferror(f))
            break;
        if (cap > max) {
            free(buf);
            buf = NULL;
            fprintf(stderr, "qsignctl: %s is larger than %zu bytes\n", path, max);
            break;
        }
        char *nb = realloc(buf, 2 * cap + 1);
        if (nb == NULL) {
            free(buf);
            buf = NULL;
            fprintf(stderr, "qsignctl: %s: out of memory\n", path);
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (buf != NULL && ferror(f)) {
        fprintf(stderr, "qsignctl: cannot read %s\n", path);
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf == NULL)
        return NULL;
    if (n > max) {
        fprintf(stderr, "qsignctl: %s is larger than %zu bytes\n", path, max);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static qs_db *connect_auditor(const qs_ctl_config *cfg)
{
    qs_db *db = NULL;
    if (!qs_ctl_need(cfg->db_audit_conninfo, "database", "audit_conninfo"))
        return NULL;
    qs_err r = qs_db_connect(cfg->db_audit_conninfo, &db);
    if (r == QS_OK && (r = qs_db_check_schema(db)) != QS_OK) {
        qs_db_free(db);
        db = NULL;
    }
    if (r != QS_OK)
        fprintf(stderr, "qsignctl: the database as the auditor ([database] audit_conninfo): %s\n",
                qs_err_str(r));
    return db;
}

/* ---- evidence ----------------------------------------------------------------------------- */

/* The 36-character text form of a UUID. */
static void uuid_text(const uint8_t u[static QS_AUDIT_UUID_LEN], char out[static 37])
{
    char hex[2 * QS_AUDIT_UUID_LEN + 1];
    sodium_bin2hex(hex, sizeof hex, u, QS_AUDIT_UUID_LEN);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* WRITER/SEQ (or WRITER:SEQ). */
static bool parse_record(const char *s, char writer[static QS_AUDIT_WRITER_ID_MAX + 1],
                         uint64_t *seq)
{
    const char *sep = strrchr(s, '/');
    if (sep == NULL)
        sep = strrchr(s, ':');
    if (sep == NULL || sep == s || (size_t)(sep - s) > QS_AUDIT_WRITER_ID_MAX)
        return false;
    memcpy(writer, s, (size_t)(sep - s));
    writer[sep - s] = '\0';
    char *end = NULL;
    if (sep[1] < '1' || sep[1] > '9')
        return false;
    unsigned long long v = strtoull(sep + 1, &end, 10);
    if (*end != '\0' || v > INT64_MAX)
        return false;
    *seq = v;
    return true;
}

static bool b64_decode(const char *s, uint8_t *out, size_t cap, size_t *len)
{
    const char *end = NULL;
    *len = 0;
    return sodium_base642bin(out, cap, s, strlen(s), NULL, len, &end,
                             sodium_base64_VARIANT_ORIGINAL) == 0 &&
           end == s + strlen(s) && *len > 0;
}

/* A digest as hex (64, 96 or 128 hex digits) or standard base64. */
static bool parse_hash(const char *s, uint8_t out[static QS_EVIDENCE_DIGEST_MAX], size_t *len)
{
    size_t n = strlen(s), bin = 0;
    bool hex = n == 64 || n == 96 || n == 128;
    for (size_t i = 0; hex && i < n; i++)
        hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F');
    if (hex) {
        if (sodium_hex2bin(out, QS_EVIDENCE_DIGEST_MAX, s, n, NULL, &bin, NULL) != 0)
            return false;
        *len = bin;
        return true;
    }
    return b64_decode(s, out, QS_EVIDENCE_DIGEST_MAX, len) &&
           (*len == 32 || *len == 48 || *len == 64);
}

static void print_candidates(const qs_evidence_build_result *res)
{
    for (size_t i = 0; i < res->n_candidates; i++) {
        const qs_evidence_candidate *cd = &res->candidates[i];
        char when[QS_AUDIT_TIME_LEN + 1] = "?", user[37], cred[37], sad[2 * 32 + 1];
        (void)qs_audit_time_format(cd->event_time_us, when);
        uuid_text(cd->user_id, user);
        uuid_text(cd->credential_id, cred);
        sodium_bin2hex(sad, sizeof sad, cd->sad_ref, sizeof cd->sad_ref);
        fprintf(stderr, "  --record %s/%llu  %s  user %s  credential %s  SAD %.16s...\n",
                cd->writer_id, (unsigned long long)cd->seq, when, user, cred, sad);
    }
    if (res->more_candidates)
        fprintf(stderr, "  ... and more\n");
}

int qs_ctl_audit_evidence(const qs_ctl_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"record", required_argument, NULL, 'r'},
        {"hash", required_argument, NULL, 'H'},
        {"signature", required_argument, NULL, 's'},
        {"out", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    char writer[QS_AUDIT_WRITER_ID_MAX + 1];
    uint8_t hash[QS_EVIDENCE_DIGEST_MAX], sig[QS_EVIDENCE_SIGNATURE_MAX];
    qs_evidence_query q = {0};
    const char *out_path = NULL;
    int ch;

    optind = 0; /* 0: glibc re-initialises getopt (argument permutation included) */
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            if (q.writer_id != NULL || !parse_record(optarg, writer, &q.seq)) {
                fprintf(stderr, "qsignctl: --record takes WRITER/SEQ, once\n");
                return 2;
            }
            q.writer_id = writer;
            break;
        case 'H':
            if (q.hash != NULL || !parse_hash(optarg, hash, &q.hash_len)) {
                fprintf(stderr, "qsignctl: --hash takes a SHA-256, -384 or -512 digest in hex or "
                                "base64, once\n");
                return 2;
            }
            q.hash = hash;
            break;
        case 's':
            if (q.signature != NULL || !b64_decode(optarg, sig, sizeof sig, &q.signature_len)) {
                fprintf(stderr,
                        "qsignctl: --signature takes a signature value in base64 "
                        "(at most %d bytes), once\n",
                        QS_EVIDENCE_SIGNATURE_MAX);
                return 2;
            }
            q.signature = sig;
            break;
        case 'o':
            out_path = optarg;
            break;
        default:
            evidence_usage(stderr);
            return 2;
        }
    }
    if (optind != argc || (q.writer_id != NULL && q.hash != NULL) ||
        (q.writer_id == NULL && q.hash == NULL && q.signature == NULL)) {
        evidence_usage(stderr);
        return 2;
    }
    qs_db *db = connect_auditor(cfg);
    if (db == NULL)
        return 1;
    qs_evidence_build_result res;
    qs_err r = qs_evidence_build(db, &q, &res);
    qs_db_free(db);
    int rc = 1;
    if (r != QS_OK) {
        fprintf(stderr, "qsignctl: audit evidence: %s (%s)\n", qs_err_str(r), qs_err_name(r));
        goto out;
    }
    switch (res.outcome) {
    case QS_EVIDENCE_BUILT:
        break;
    case QS_EVIDENCE_AMBIGUOUS:
        fprintf(stderr, "qsignctl: audit evidence: %s\n", res.why);
        print_candidates(&res);
        goto out;
    case QS_EVIDENCE_NO_MATCH:
    case QS_EVIDENCE_NOT_CHECKPOINTED:
    case QS_EVIDENCE_INCOMPLETE:
        fprintf(stderr, "qsignctl: audit evidence: %s\n", res.why);
        goto out;
    }
    FILE *f = out_path != NULL ? fopen(out_path, "wb") : stdout;
    if (f == NULL) {
        fprintf(stderr, "qsignctl: cannot write %s\n", out_path);
        goto out;
    }
    bool ok = fwrite(res.bundle, 1, res.bundle_len, f) == res.bundle_len;
    ok = (f == stdout ? fflush(f) == 0 : fclose(f) == 0) && ok;
    if (!ok) {
        fprintf(stderr, "qsignctl: cannot write %s\n", out_path != NULL ? out_path : "the bundle");
        goto out;
    }
    char user[37], cred[37];
    uuid_text(res.found.user_id, user);
    uuid_text(res.found.credential_id, cred);
    fprintf(out_path != NULL ? stdout : stderr,
            "evidence of signature %s/%llu (user %s, credential %s): %zu bytes%s%s\n",
            res.found.writer_id, (unsigned long long)res.found.seq, user, cred, res.bundle_len,
            out_path != NULL ? " written to " : "", out_path != NULL ? out_path : "");
    rc = 0;
out:
    qs_evidence_build_result_clear(&res);
    return rc;
}

/* ---- check-evidence ----------------------------------------------------------------------- */

static const char *state_word(qs_evidence_state st)
{
    switch (st) {
    case QS_EVIDENCE_PASS:
        return "ok";
    case QS_EVIDENCE_FAIL:
        return "FAILED";
    case QS_EVIDENCE_SKIP:
        return "n/a";
    case QS_EVIDENCE_NOT_RUN:
        return "not run";
    }
    return "?";
}

static void print_check(void *cls, qs_evidence_check_id id, qs_evidence_state st, const char *what)
{
    (void)cls;
    printf("  %-7s %s: %s\n", state_word(st), qs_evidence_check_name(id), what);
}

int qs_ctl_audit_check_evidence(const qs_ctl_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"audit-key", required_argument, NULL, 'k'},
        {"ca-cert", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    const char *key_path = NULL, *ca_path = NULL;
    int ch;
    (void)cfg; /* offline: nothing from the config */

    optind = 0; /* 0: glibc re-initialises getopt (argument permutation included) */
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'k':
            key_path = optarg;
            break;
        case 'c':
            ca_path = optarg;
            break;
        default:
            evidence_usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1 || key_path == NULL || ca_path == NULL) {
        evidence_usage(stderr);
        return 2;
    }
    const char *path = argv[optind];
    int rc = 1;
    size_t key_len = 0, ca_len = 0, len = 0;
    char *key_pem = read_all(key_path, QS_CTL_PEM_MAX, &key_len);
    char *ca_pem = key_pem != NULL ? read_all(ca_path, QS_CTL_PEM_MAX, &ca_len) : NULL;
    char *bundle = ca_pem != NULL ? read_all(path, QS_EVIDENCE_MAX, &len) : NULL;
    qs_evidence_trust *t = NULL;
    char why[256];
    if (bundle == NULL)
        goto out;
    if (qs_evidence_trust_new(key_pem, key_len, ca_pem, ca_len, &t, why, sizeof why) != QS_OK) {
        fprintf(stderr, "qsignctl: %s\n", why);
        goto out;
    }
    printf("checking %s (%zu bytes) with the audit key(s) of %s and the CA certificate(s) of "
           "%s\n",
           path, len, key_path, ca_path);
    qs_evidence_verdict v;
    qs_err r = qs_evidence_check(t, (const uint8_t *)bundle, len, 0, print_check, NULL, &v);
    if (r == QS_OK) {
        printf("verdict: VALID: every check passed (record MACs are not checkable outside the "
               "HSM)\n");
        rc = 0;
    } else if (r == QS_ERR_MAC) {
        printf("verdict: INVALID: first failing check: %s\n",
               qs_evidence_check_name(v.first_failed));
    } else {
        fprintf(stderr, "qsignctl: audit check-evidence: %s (%s)\n", qs_err_str(r), qs_err_name(r));
        printf("verdict: INCOMPLETE: the check could not run\n");
    }
out:
    fflush(stdout);
    qs_evidence_trust_free(t);
    free(key_pem);
    free(ca_pem);
    free(bundle);
    return rc;
}

/* ---- key export --------------------------------------------------------------------------- */

/* Most distinct keys one export writes. */
#define QS_CTL_KEYS_MAX 64

typedef struct keys_ctx {
    const char *writer; /* NULL: every writer */
    uint8_t *spki[QS_CTL_KEYS_MAX];
    size_t len[QS_CTL_KEYS_MAX];
    size_t n;
    size_t writers; /* writers whose key was read */
    size_t keyless; /* registered writers without a key yet */
    bool unknown;   /* the writer asked for is not registered */
} keys_ctx;

static void keys_reset(keys_ctx *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->spki[i]);
    c->n = c->writers = c->keyless = 0;
    c->unknown = false;
}

/* Adds one writer's key unless the list has it. */
static qs_err keys_add(qs_db *db, keys_ctx *c, const char *writer)
{
    uint8_t *spki = NULL;
    size_t len = 0;
    qs_err r = qs_db_audit_writer_key(db, writer, &spki, &len);
    if (r == QS_ERR_NOT_FOUND) {
        c->unknown = true;
        return QS_OK;
    }
    if (r != QS_OK)
        return r;
    if (spki == NULL) {
        c->keyless++;
        return QS_OK;
    }
    c->writers++;
    for (size_t i = 0; i < c->n; i++) {
        if (c->len[i] == len && memcmp(c->spki[i], spki, len) == 0) {
            free(spki);
            return QS_OK;
        }
    }
    if (c->n == QS_CTL_KEYS_MAX) {
        free(spki);
        return QS_ERR_TOO_LARGE;
    }
    c->spki[c->n] = spki;
    c->len[c->n++] = len;
    return QS_OK;
}

static qs_err keys_txn(qs_db *db, void *cls)
{
    keys_ctx *c = cls;
    keys_reset(c); /* a retried attempt starts afresh */
    if (c->writer != NULL)
        return keys_add(db, c, c->writer);
    char **ids = NULL;
    size_t n = 0;
    qs_err r = qs_db_audit_writers(db, &ids, &n);
    for (size_t i = 0; r == QS_OK && i < n; i++)
        r = keys_add(db, c, ids[i]);
    qs_db_audit_writers_free(ids, n);
    return r;
}

/* The token's own audit key ([hsm]), into c. */
static bool key_from_hsm(const qs_ctl_config *cfg, keys_ctx *c)
{
    char *pin = NULL, why[512];
    size_t pin_len = 0;
    qs_hsm *hsm = NULL;
    if (!qs_ctl_need(cfg->hsm_module, "hsm", "module") ||
        !qs_ctl_need(cfg->hsm_token_label, "hsm", "token_label") ||
        !qs_ctl_need(cfg->hsm_pin_file, "hsm", "pin_file"))
        return false;
    if (qs_secret_read_file(cfg->hsm_pin_file, QS_HSM_PIN_MAX, &pin, &pin_len, why, sizeof why) !=
        QS_OK) {
        fprintf(stderr, "qsignctl: [hsm] pin_file: %s\n", why);
        return false;
    }
    qs_hsm_params hp = {.module_path = cfg->hsm_module,
                        .token_label = cfg->hsm_token_label,
                        .pin = pin,
                        .pin_len = pin_len};
    qs_err r = qs_hsm_open(&hp, &hsm);
    qs_secret_free(pin);
    if (r == QS_OK)
        r = qs_hsm_service_public_key(hsm, QS_HSM_AUDIT_SIGN, &c->spki[0], &c->len[0]);
    qs_hsm_close(hsm);
    if (r != QS_OK) {
        fprintf(stderr, "qsignctl: the audit key of HSM token \"%s\": %s\n", cfg->hsm_token_label,
                qs_err_str(r));
        return false;
    }
    c->n = 1;
    return true;
}

static int audit_key_export(const qs_ctl_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"writer", required_argument, NULL, 'w'},
        {"hsm", no_argument, NULL, 'h'},
        {"out", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    keys_ctx c = {0};
    bool from_hsm = false;
    const char *out_path = NULL;
    int ch;

    optind = 0; /* 0: glibc re-initialises getopt (argument permutation included) */
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'w':
            c.writer = optarg;
            break;
        case 'h':
            from_hsm = true;
            break;
        case 'o':
            out_path = optarg;
            break;
        default:
            evidence_usage(stderr);
            return 2;
        }
    }
    if (optind != argc || (from_hsm && c.writer != NULL)) {
        evidence_usage(stderr);
        return 2;
    }
    int rc = 1;
    if (from_hsm) {
        if (!key_from_hsm(cfg, &c))
            goto out;
    } else {
        qs_db *db = connect_auditor(cfg);
        if (db == NULL)
            goto out;
        qs_err r = qs_db_run_txn_opt(db, "audit_key_export", QS_DB_TXN_READ_ONLY, keys_txn, &c);
        qs_db_free(db);
        if (r != QS_OK) {
            fprintf(stderr, "qsignctl: audit key export: %s\n", qs_err_str(r));
            goto out;
        }
        if (c.unknown) {
            fprintf(stderr, "qsignctl: audit key export: no audit writer \"%s\"\n", c.writer);
            goto out;
        }
        if (c.n == 0) {
            fprintf(stderr, "qsignctl: audit key export: no writer has registered a checkpoint "
                            "key yet\n");
            goto out;
        }
    }
    FILE *f = out_path != NULL ? fopen(out_path, "w") : stdout;
    if (f == NULL) {
        fprintf(stderr, "qsignctl: cannot write %s\n", out_path);
        goto out;
    }
    bool ok = true;
    for (size_t i = 0; i < c.n && ok; i++)
        ok = PEM_write(f, "PUBLIC KEY", "", c.spki[i], (long)c.len[i]) > 0;
    ok = (f == stdout ? fflush(f) == 0 : fclose(f) == 0) && ok;
    if (!ok) {
        fprintf(stderr, "qsignctl: cannot write %s\n", out_path != NULL ? out_path : "the keys");
        goto out;
    }
    fprintf(out_path != NULL ? stdout : stderr, "exported %zu audit key%s%s%s\n", c.n,
            c.n == 1 ? "" : "s", from_hsm ? " from the HSM token" : "",
            c.keyless > 0 ? " (some writers have no key yet)" : "");
    rc = 0;
out:
    keys_reset(&c);
    return rc;
}

int qs_ctl_audit_key(const qs_ctl_config *cfg, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "export") != 0) {
        evidence_usage(stderr);
        return 2;
    }
    return audit_key_export(cfg, argc - 1, argv + 1);
}
