/*
 * The evidence builder (`qsignctl audit evidence`): finds one signature.created record and
 * gathers, in one read-only transaction as qsign_audit, everything its bundle holds
 * (sam/evidence.h, docs/evidence.md):
 *
 *   signature       the signature.created record (by writer/seq, by the signed digest, or by
 *                   the SHA-256 of the signature value, which the record holds)
 *   authorization   the sad.issued record its details name (auth_event_writer/_seq), and the
 *                   sad.extended records from that SAD to the one the signature used
 *   hashes          every digest the signing SAD authorized (qsign.sad_hashes)
 *   enrolment       the signer's user.created / signer.created, signer.activated and
 *                   factors.enrolled records up to the authorization
 *   identity        the signer.created record with the evidence id the certificate names
 *   key_generation  the credential.created record of the credential
 *   issuance        the cert.issued record of the certificate
 *   certificate     the credential's certificate (qsign.certificates) and the CA's
 *                   (qsign.ca_state)
 *   chains          for every record above, the writer's records from it to the first signed
 *                   checkpoint at or after it, and that checkpoint; overlapping segments of one
 *                   writer are stored once
 *
 * The builder only gathers: whatever it reads is checked by the checker, which is what a
 * bundle's reader runs (the builder's own tests run it on every bundle they make).
 */
#define QS_LOG_MODULE "evidence"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "db/db_audit.h"
#include "db/db_ca.h"
#include "sam/audit_internal.h"
#include "sam/evidence_internal.h"
#include "util/log.h"

/* Records read per page of a segment. */
#define QS_EVIDENCE_PAGE 1000

typedef struct build_ctx {
    const qs_evidence_query *q;
    qs_evidence_build_result *res;
    qs_ev_bundle b;
    qs_db_audit_found sig; /* owning row */
    bool have_sig;
    int64_t auth_time_us;
    qs_db_certificate *cert;
} build_ctx;

/* Ends the build with an outcome other than BUILT. */
static qs_err outcome(build_ctx *c, qs_evidence_outcome o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static qs_err outcome(build_ctx *c, qs_evidence_outcome o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->res->why, sizeof c->res->why, fmt, ap);
    va_end(ap);
    c->res->outcome = o;
    return QS_OK;
}

static bool decided(const build_ctx *c)
{
    return c->res->outcome != 0;
}

/* ---- Details ------------------------------------------------------------------------------ */

/* A string member of a record's details, copied into buf; false when absent or too long. */
static bool detail_str(const qs_db_audit_row *row, const char *key, char *buf, size_t cap)
{
    json_t *d = json_loads(row->details, JSON_REJECT_DUPLICATES, NULL);
    const json_t *v = json_object_get(d, key);
    bool ok = json_is_string(v) && json_string_length(v) < cap;
    if (ok)
        memcpy(buf, json_string_value(v), json_string_length(v) + 1);
    else if (cap > 0)
        buf[0] = '\0';
    json_decref(d);
    return ok;
}

static bool detail_int(const qs_db_audit_row *row, const char *key, int64_t *out)
{
    json_t *d = json_loads(row->details, JSON_REJECT_DUPLICATES, NULL);
    const json_t *v = json_object_get(d, key);
    bool ok = json_is_integer(v);
    *out = ok ? (int64_t)json_integer_value(v) : 0;
    json_decref(d);
    return ok;
}

static bool unhex(const char *s, uint8_t *out, size_t n)
{
    size_t bin_len = 0;
    return strlen(s) == 2 * n && sodium_hex2bin(out, n, s, 2 * n, NULL, &bin_len, NULL) == 0 &&
           bin_len == n;
}

static void ref_of(const char *writer, int64_t seq, qs_ev_ref *r)
{
    snprintf(r->writer, sizeof r->writer, "%s", writer);
    r->seq = (uint64_t)seq;
}

static const char *ref_text(const qs_ev_ref *r, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%llu", r->writer, (unsigned long long)r->seq);
    return buf;
}

/* ---- Lookups ------------------------------------------------------------------------------ */

/* The record at writer/seq into *out (owning), or *found false. */
static qs_err record_at(qs_db *db, const char *writer, uint64_t seq, qs_db_audit_row *out,
                        bool *found)
{
    qs_db_audit_row *rows = NULL;
    size_t n = 0;
    memset(out, 0, sizeof *out);
    *found = false;
    if (seq < 1 || seq > INT64_MAX)
        return QS_OK;
    qs_err r = qs_db_audit_page(db, writer, (int64_t)seq - 1, 1, &rows, &n);
    if (r == QS_OK && n == 1 && (uint64_t)rows[0].seq == seq) {
        *out = rows[0];
        memset(&rows[0], 0, sizeof rows[0]);
        *found = true;
    }
    qs_db_audit_rows_free(rows, n);
    return r;
}

static void candidate_of(const qs_db_audit_found *f, qs_evidence_candidate *cd)
{
    memset(cd, 0, sizeof *cd);
    snprintf(cd->writer_id, sizeof cd->writer_id, "%s", f->writer_id);
    cd->seq = (uint64_t)f->row.seq;
    cd->event_time_us = f->row.event_time_us;
    memcpy(cd->user_id, f->row.user_id, sizeof cd->user_id);
    memcpy(cd->credential_id, f->row.credential_id, sizeof cd->credential_id);
    memcpy(cd->sad_ref, f->row.sad_ref, sizeof cd->sad_ref);
}

/* Whether the signature record holds the digest of the value the query gave. */
static bool value_matches(const qs_evidence_query *q, const qs_db_audit_row *row)
{
    char want[2 * QS_AUDIT_HASH_LEN + 1], have[2 * QS_AUDIT_HASH_LEN + 1];
    uint8_t d[QS_AUDIT_HASH_LEN];
    crypto_hash_sha256(d, q->signature, q->signature_len);
    qs_audit_hex(d, sizeof d, want);
    return detail_str(row, "signature_sha256", have, sizeof have) && strcmp(want, have) == 0;
}

/* Whether the signature record signed the digest the query gave. */
static bool hash_matches(const qs_evidence_query *q, const qs_db_audit_row *row)
{
    char want[2 * QS_EVIDENCE_DIGEST_MAX + 1], have[2 * QS_EVIDENCE_DIGEST_MAX + 1];
    qs_audit_hex(q->hash, q->hash_len, want);
    return detail_str(row, "hash", have, sizeof have) && strcmp(want, have) == 0;
}

/* Finds the signature record into c->sig, or decides the outcome. */
static qs_err find_signature(qs_db *db, build_ctx *c)
{
    const qs_evidence_query *q = c->q;
    qs_err r;

    if (q->writer_id != NULL) {
        bool found = false;
        memset(&c->sig, 0, sizeof c->sig);
        snprintf(c->sig.writer_id, sizeof c->sig.writer_id, "%s", q->writer_id);
        if ((r = record_at(db, q->writer_id, q->seq, &c->sig.row, &found)) != QS_OK)
            return r;
        if (!found)
            return outcome(c, QS_EVIDENCE_NO_MATCH, "there is no audit record %s/%llu",
                           q->writer_id, (unsigned long long)q->seq);
        c->have_sig = true;
        if (strcmp(c->sig.row.event_type, QS_EV_SIGNATURE) != 0 || !c->sig.row.success)
            return outcome(c, QS_EVIDENCE_NO_MATCH,
                           "audit record %s/%llu is a %s record (%s), not a signature (%s)",
                           q->writer_id, (unsigned long long)q->seq, c->sig.row.event_type,
                           c->sig.row.success ? "success" : "failure", QS_EV_SIGNATURE);
        if (q->hash != NULL && !hash_matches(q, &c->sig.row))
            return outcome(c, QS_EVIDENCE_NO_MATCH,
                           "audit record %s/%llu signed another hash than the one given",
                           q->writer_id, (unsigned long long)q->seq);
        if (q->signature != NULL && !value_matches(q, &c->sig.row))
            return outcome(c, QS_EVIDENCE_NO_MATCH,
                           "the signature value given is not the one audit record %s/%llu "
                           "holds the SHA-256 of",
                           q->writer_id, (unsigned long long)q->seq);
        return QS_OK;
    }

    /* the value's digest is unique to one record; a hash may have been signed several times */
    char hex[2 * QS_EVIDENCE_DIGEST_MAX + 1];
    qs_db_audit_match m = {.event_type = QS_EV_SIGNATURE};
    if (q->signature != NULL) {
        uint8_t d[QS_AUDIT_HASH_LEN];
        crypto_hash_sha256(d, q->signature, q->signature_len);
        qs_audit_hex(d, sizeof d, hex);
        m.detail_key = "signature_sha256";
    } else {
        qs_audit_hex(q->hash, q->hash_len, hex);
        m.detail_key = "hash";
    }
    m.detail_value = hex;
    qs_db_audit_found *f = NULL;
    size_t n = 0, kept = 0, keep_i = 0;
    if ((r = qs_db_audit_find(db, &m, QS_EVIDENCE_CANDIDATES_MAX + 1, &f, &n)) != QS_OK)
        return r;
    for (size_t i = 0; i < n; i++) {
        if (q->hash != NULL && q->signature != NULL && !hash_matches(q, &f[i].row))
            continue;
        if (kept < QS_EVIDENCE_CANDIDATES_MAX)
            candidate_of(&f[i], &c->res->candidates[kept]);
        else
            c->res->more_candidates = true;
        if (kept == 0)
            keep_i = i;
        kept++;
    }
    if (n > QS_EVIDENCE_CANDIDATES_MAX)
        c->res->more_candidates = true;
    c->res->n_candidates = kept < QS_EVIDENCE_CANDIDATES_MAX ? kept : QS_EVIDENCE_CANDIDATES_MAX;
    if (kept == 1) {
        c->sig = f[keep_i];
        memset(&f[keep_i].row, 0, sizeof f[keep_i].row);
        c->have_sig = true;
        c->res->n_candidates = 0;
    }
    qs_db_audit_found_free(f, n);
    if (kept == 0)
        return outcome(c, QS_EVIDENCE_NO_MATCH, "%s",
                       q->signature == NULL ? "no signature record signed this hash"
                       : q->hash == NULL    ? "no signature record holds the SHA-256 of this "
                                              "signature value"
                                            : "no signature record of this hash holds the SHA-256 "
                                              "of this signature value");
    if (kept > 1)
        return outcome(c, QS_EVIDENCE_AMBIGUOUS,
                       "%s%zu signature records match: choose one with --record WRITER/SEQ",
                       c->res->more_candidates ? "more than " : "", c->res->n_candidates);
    return QS_OK;
}

/* Exactly one successful record matching m into *out (owning); otherwise decides. */
static qs_err find_one(qs_db *db, build_ctx *c, const qs_db_audit_match *m, const char *role,
                       qs_db_audit_found *out, bool *have)
{
    qs_db_audit_found *f = NULL;
    size_t n = 0;
    *have = false;
    qs_err r = qs_db_audit_find(db, m, 2, &f, &n);
    if (r != QS_OK)
        return r;
    if (n == 1) {
        *out = f[0];
        memset(&f[0].row, 0, sizeof f[0].row);
        *have = true;
    }
    qs_db_audit_found_free(f, n);
    if (n == 0)
        return outcome(c, QS_EVIDENCE_INCOMPLETE, "the %s record (%s) is not in the audit log",
                       role, m->event_type);
    if (n > 1)
        return outcome(c, QS_EVIDENCE_INCOMPLETE, "more than one %s record (%s) matches", role,
                       m->event_type);
    return QS_OK;
}

/* ---- Roles -------------------------------------------------------------------------------- */

static qs_err find_authorization(qs_db *db, build_ctx *c)
{
    const qs_db_audit_row *sig = &c->sig.row;
    char writer[QS_AUDIT_WRITER_ID_MAX + 1];
    int64_t seq = 0;
    qs_db_audit_row auth;
    bool found = false;
    char t[128];

    if (!detail_str(sig, "auth_event_writer", writer, sizeof writer) ||
        !qs_audit_writer_id_valid(writer) || !detail_int(sig, "auth_event_seq", &seq) || seq < 1)
        return outcome(c, QS_EVIDENCE_INCOMPLETE,
                       "signature record %s does not name its authorization record",
                       ref_text(&c->b.signature, t, sizeof t));
    ref_of(writer, seq, &c->b.authorization);
    qs_err r = record_at(db, writer, (uint64_t)seq, &auth, &found);
    if (r != QS_OK)
        return r;
    if (!found || strcmp(auth.event_type, QS_EV_SAD_ISSUED) != 0 || !auth.has_sad_ref) {
        qs_db_audit_row_clear(&auth);
        return outcome(c, QS_EVIDENCE_INCOMPLETE,
                       "the authorization record %s the signature names is missing or is not "
                       "a %s record",
                       ref_text(&c->b.authorization, t, sizeof t), QS_EV_SAD_ISSUED);
    }
    c->auth_time_us = auth.event_time_us;
    uint8_t cur[QS_AUDIT_SAD_REF_LEN];
    memcpy(cur, sig->sad_ref, sizeof cur);
    bool same = memcmp(cur, auth.sad_ref, sizeof cur) == 0;
    uint8_t auth_sad[QS_AUDIT_SAD_REF_LEN];
    memcpy(auth_sad, auth.sad_ref, sizeof auth_sad);
    qs_db_audit_row_clear(&auth);
    if (same)
        return QS_OK;

    /* the signing SAD came from extensions: walk back from it to the authorization's */
    qs_ev_ref *ext = calloc(QS_EVIDENCE_EXTENSIONS_MAX, sizeof *ext);
    size_t n = 0;
    if (ext == NULL)
        return QS_ERR_NOMEM;
    while (memcmp(cur, auth_sad, sizeof cur) != 0) {
        if (n == QS_EVIDENCE_EXTENSIONS_MAX) {
            free(ext);
            return outcome(c, QS_EVIDENCE_INCOMPLETE, "the SAD was extended more than %d times",
                           QS_EVIDENCE_EXTENSIONS_MAX);
        }
        qs_db_audit_match m = {.event_type = QS_EV_SAD_EXTENDED,
                               .user_id = sig->user_id,
                               .credential_id = sig->credential_id,
                               .sad_ref = cur};
        qs_db_audit_found f;
        bool have = false;
        char prev[2 * QS_AUDIT_SAD_REF_LEN + 1];
        r = find_one(db, c, &m, "SAD extension", &f, &have);
        if (r != QS_OK || !have) {
            free(ext);
            return r;
        }
        ref_of(f.writer_id, f.row.seq, &ext[n++]);
        bool ok =
            detail_str(&f.row, "previous_sad", prev, sizeof prev) && unhex(prev, cur, sizeof cur);
        qs_db_audit_row_clear(&f.row);
        if (!ok) {
            free(ext);
            return outcome(c, QS_EVIDENCE_INCOMPLETE,
                           "a SAD extension record does not name its previous SAD");
        }
    }
    /* oldest first */
    for (size_t i = 0; i < n / 2; i++) {
        qs_ev_ref tmp = ext[i];
        ext[i] = ext[n - 1 - i];
        ext[n - 1 - i] = tmp;
    }
    c->b.extensions = ext;
    c->b.n_extensions = n;
    return QS_OK;
}

static qs_err find_hashes(qs_db *db, build_ctx *c)
{
    qs_db_audit_digest *d = NULL;
    size_t n = 0;
    qs_err r = qs_db_audit_sad_digests(db, c->sig.row.sad_ref, &d, &n);
    if (r != QS_OK)
        return r;
    if (n == 0) {
        free(d);
        return outcome(c, QS_EVIDENCE_INCOMPLETE,
                       "the hashes the signing SAD authorized are no longer stored");
    }
    c->b.hashes = calloc(n, sizeof *c->b.hashes);
    if (c->b.hashes == NULL) {
        free(d);
        return QS_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if ((c->b.hashes[i].p = malloc(d[i].len)) == NULL) {
            free(d);
            return QS_ERR_NOMEM;
        }
        memcpy(c->b.hashes[i].p, d[i].digest, d[i].len);
        c->b.hashes[i].len = d[i].len;
        c->b.n_hashes++;
    }
    free(d);
    /* the order of hashes_sha256, whatever the database's collation of bytea */
    for (size_t i = 1; i < n; i++) {
        for (size_t k = i; k > 0; k--) {
            qs_ev_bytes *x = &c->b.hashes[k - 1], *y = &c->b.hashes[k];
            if (qs_ev_digest_cmp(x->p, x->len, y->p, y->len) <= 0)
                break;
            qs_ev_bytes tmp = *x;
            *x = *y;
            *y = tmp;
        }
    }
    return QS_OK;
}

static int found_cmp(const void *a, const void *b)
{
    const qs_db_audit_found *x = a, *y = b;
    if (x->row.event_time_us != y->row.event_time_us)
        return x->row.event_time_us < y->row.event_time_us ? -1 : 1;
    int w = strcmp(x->writer_id, y->writer_id);
    if (w != 0)
        return w;
    return x->row.seq < y->row.seq ? -1 : x->row.seq > y->row.seq;
}

static qs_err find_enrolment(qs_db *db, build_ctx *c)
{
    static const char *const types[] = {QS_EV_USER_CREATED, QS_EV_SIGNER, QS_EV_ACTIVATED,
                                        QS_EV_FACTORS};
    qs_db_audit_found *all = calloc(QS_EVIDENCE_ENROLMENT_MAX, sizeof *all);
    size_t n_all = 0;
    qs_err r = QS_OK;
    if (all == NULL)
        return QS_ERR_NOMEM;
    for (size_t t = 0; t < sizeof types / sizeof types[0] && r == QS_OK; t++) {
        qs_db_audit_match m = {.event_type = types[t],
                               .user_id = c->sig.row.user_id,
                               .has_to = true,
                               .to_us = c->auth_time_us};
        qs_db_audit_found *f = NULL;
        size_t n = 0;
        if ((r = qs_db_audit_find(db, &m, QS_EVIDENCE_ENROLMENT_MAX, &f, &n)) != QS_OK)
            break;
        if (n_all + n > QS_EVIDENCE_ENROLMENT_MAX) {
            qs_db_audit_found_free(f, n);
            r = outcome(c, QS_EVIDENCE_INCOMPLETE, "the signer has more than %d enrolment records",
                        QS_EVIDENCE_ENROLMENT_MAX);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            all[n_all++] = f[i];
            memset(&f[i].row, 0, sizeof f[i].row);
        }
        qs_db_audit_found_free(f, n);
    }
    if (r == QS_OK && !decided(c) && n_all == 0)
        r = outcome(c, QS_EVIDENCE_INCOMPLETE,
                    "the signer's enrolment records are not in the audit log");
    if (r == QS_OK && !decided(c)) {
        qsort(all, n_all, sizeof *all, found_cmp);
        if ((c->b.enrolment = calloc(n_all, sizeof *c->b.enrolment)) == NULL)
            r = QS_ERR_NOMEM;
        for (size_t i = 0; r == QS_OK && i < n_all; i++)
            ref_of(all[i].writer_id, all[i].row.seq, &c->b.enrolment[c->b.n_enrolment++]);
    }
    qs_db_audit_found_free(all, n_all);
    return r;
}

/* The certificate, the CA chain, and the key generation, issuance and identity records. */
static qs_err find_certificate(qs_db *db, build_ctx *c)
{
    const qs_db_audit_row *sig = &c->sig.row;
    bool found = false;
    char cred[37];
    qs_audit_uuid_text(sig->credential_id, cred);

    qs_err r = qs_db_certificate_of_credential(db, sig->credential_id, false, c->cert, &found);
    if (r != QS_OK)
        return r;
    if (!found)
        return outcome(c, QS_EVIDENCE_INCOMPLETE, "credential %s has no certificate", cred);
    if ((c->b.certificate.p = malloc(c->cert->der_len)) == NULL)
        return QS_ERR_NOMEM;
    memcpy(c->b.certificate.p, c->cert->der, c->cert->der_len);
    c->b.certificate.len = c->cert->der_len;

    uint8_t *ca = NULL, *ocsp = NULL;
    size_t ca_len = 0, ocsp_len = 0;
    if ((r = qs_db_ca_public(db, &ca, &ca_len, &ocsp, &ocsp_len, &found)) != QS_OK)
        return r;
    free(ocsp);
    if (!found)
        return outcome(c, QS_EVIDENCE_INCOMPLETE, "there is no active CA certificate");
    if ((c->b.ca_chain = calloc(1, sizeof *c->b.ca_chain)) == NULL) {
        free(ca);
        return QS_ERR_NOMEM;
    }
    c->b.ca_chain[0] = (qs_ev_bytes){ca, ca_len};
    c->b.n_ca_chain = 1;

    /* fingerprints the records name */
    char cert_fp[2 * QS_AUDIT_HASH_LEN + 1], spki_fp[2 * QS_AUDIT_HASH_LEN + 1];
    uint8_t d[QS_AUDIT_HASH_LEN];
    crypto_hash_sha256(d, c->cert->der, c->cert->der_len);
    qs_audit_hex(d, sizeof d, cert_fp);
    const uint8_t *p = c->cert->der;
    X509 *x = d2i_X509(NULL, &p, (long)c->cert->der_len);
    uint8_t *spki = NULL;
    int spki_len = x != NULL ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki) : -1;
    X509_free(x);
    if (spki_len <= 0)
        return outcome(c, QS_EVIDENCE_INCOMPLETE, "the certificate of credential %s is not DER",
                       cred);
    crypto_hash_sha256(d, spki, (unsigned long long)spki_len);
    OPENSSL_free(spki);
    qs_audit_hex(d, sizeof d, spki_fp);

    qs_db_audit_found f;
    bool have = false;
    qs_db_audit_match m = {.event_type = QS_EV_KEY_GENERATED,
                           .user_id = sig->user_id,
                           .credential_id = sig->credential_id,
                           .detail_key = "spki_sha256",
                           .detail_value = spki_fp};
    if ((r = find_one(db, c, &m, "key generation", &f, &have)) != QS_OK || !have)
        return r;
    ref_of(f.writer_id, f.row.seq, &c->b.key_generation);
    qs_db_audit_row_clear(&f.row);

    m = (qs_db_audit_match){.event_type = QS_EV_CERT_ISSUED,
                            .user_id = sig->user_id,
                            .credential_id = sig->credential_id,
                            .detail_key = "certificate_sha256",
                            .detail_value = cert_fp};
    if ((r = find_one(db, c, &m, "certificate issuance", &f, &have)) != QS_OK || !have)
        return r;
    ref_of(f.writer_id, f.row.seq, &c->b.certificate_issuance);
    char eid[40];
    bool ok = detail_str(&f.row, "evidence_id", eid, sizeof eid);
    qs_db_audit_row_clear(&f.row);
    if (!ok)
        return outcome(c, QS_EVIDENCE_INCOMPLETE,
                       "the certificate issuance record names no identity evidence");

    m = (qs_db_audit_match){.event_type = QS_EV_SIGNER,
                            .user_id = sig->user_id,
                            .detail_key = "evidence_id",
                            .detail_value = eid};
    if ((r = find_one(db, c, &m, "identity validation", &f, &have)) != QS_OK || !have)
        return r;
    ref_of(f.writer_id, f.row.seq, &c->b.identity);
    qs_db_audit_row_clear(&f.row);
    return QS_OK;
}

/* ---- Segments ----------------------------------------------------------------------------- */

static int ref_cmp(const void *a, const void *b)
{
    const qs_ev_ref *x = a, *y = b;
    int w = strcmp(x->writer, y->writer);
    if (w != 0)
        return w;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Reads records first..last of a writer into a new segment. */
static qs_err read_segment(qs_db *db, build_ctx *c, const char *writer, uint64_t first,
                           const qs_db_audit_checkpoint *cp, qs_ev_segment *sg, size_t *total)
{
    uint64_t last = (uint64_t)cp->seq;
    uint64_t want = last - first + 1;
    char t[128];
    qs_ev_ref at;
    ref_of(writer, (int64_t)first, &at);
    if (*total + want > QS_EVIDENCE_RECORDS_MAX)
        return outcome(c, QS_EVIDENCE_INCOMPLETE,
                       "the segments would hold more than %d records (from %s to the checkpoint "
                       "at seq %llu)",
                       QS_EVIDENCE_RECORDS_MAX, ref_text(&at, t, sizeof t),
                       (unsigned long long)last);
    sg->records = calloc(want, sizeof *sg->records);
    if (sg->records == NULL)
        return QS_ERR_NOMEM;
    snprintf(sg->cp.writer_id, sizeof sg->cp.writer_id, "%s", writer);
    sg->cp.seq = last;
    memcpy(sg->cp.head_hash, cp->head_hash, sizeof sg->cp.head_hash);
    sg->cp.time_us = cp->time_us;
    memcpy(sg->cp.signature, cp->signature, cp->signature_len);
    sg->cp.signature_len = cp->signature_len;
    while (sg->n < want) {
        qs_db_audit_row *rows = NULL;
        size_t n = 0, page = want - sg->n < QS_EVIDENCE_PAGE ? want - sg->n : QS_EVIDENCE_PAGE;
        qs_err r = qs_db_audit_page(db, writer, (int64_t)(first + sg->n) - 1, page, &rows, &n);
        if (r != QS_OK)
            return r;
        for (size_t i = 0; i < n; i++) {
            sg->records[sg->n++] = rows[i];
            memset(&rows[i], 0, sizeof rows[i]);
        }
        qs_db_audit_rows_free(rows, n);
        if (n < page)
            break;
    }
    *total += sg->n;
    /* the records must be there: the checkpoint's trigger saw them */
    if (sg->n != want || (uint64_t)sg->records[0].seq != first)
        return outcome(c, QS_EVIDENCE_INCOMPLETE,
                       "records of %s up to the checkpoint at seq %llu are missing",
                       ref_text(&at, t, sizeof t), (unsigned long long)last);
    return QS_OK;
}

static qs_err gather_segments(qs_db *db, build_ctx *c)
{
    qs_ev_bundle *b = &c->b;
    size_t n = 5 + b->n_extensions + b->n_enrolment, k = 0, total = 0;
    qs_ev_ref *all = calloc(n, sizeof *all);
    qs_err r = QS_OK;
    char t[128];
    if (all == NULL)
        return QS_ERR_NOMEM;
    all[k++] = b->signature;
    all[k++] = b->authorization;
    all[k++] = b->identity;
    all[k++] = b->key_generation;
    all[k++] = b->certificate_issuance;
    for (size_t i = 0; i < b->n_extensions; i++)
        all[k++] = b->extensions[i];
    for (size_t i = 0; i < b->n_enrolment; i++)
        all[k++] = b->enrolment[i];
    qsort(all, n, sizeof *all, ref_cmp);
    if ((b->chains = calloc(n, sizeof *b->chains)) == NULL) {
        free(all);
        return QS_ERR_NOMEM;
    }
    for (size_t i = 0; i < n && r == QS_OK && !decided(c); i++) {
        qs_ev_chain *ch = b->n_chains > 0 ? &b->chains[b->n_chains - 1] : NULL;
        if (ch == NULL || strcmp(ch->writer, all[i].writer) != 0) {
            ch = &b->chains[b->n_chains++];
            snprintf(ch->writer, sizeof ch->writer, "%s", all[i].writer);
            if ((ch->segs = calloc(n, sizeof *ch->segs)) == NULL) {
                r = QS_ERR_NOMEM;
                break;
            }
        }
        if (ch->n > 0 && all[i].seq <= ch->segs[ch->n - 1].cp.seq)
            continue; /* inside the writer's last segment already */
        qs_db_audit_checkpoint *cps = NULL;
        size_t ncp = 0;
        if ((r = qs_db_audit_checkpoint_page(db, all[i].writer, (int64_t)all[i].seq - 1, 1, &cps,
                                             &ncp)) != QS_OK)
            break;
        if (ncp == 0) {
            r = outcome(c, QS_EVIDENCE_NOT_CHECKPOINTED,
                        "audit record %s has no signed checkpoint at or after it yet: try again "
                        "after writer %s signs its next checkpoint",
                        ref_text(&all[i], t, sizeof t), all[i].writer);
            break;
        }
        r = read_segment(db, c, all[i].writer, all[i].seq, &cps[0], &ch->segs[ch->n], &total);
        ch->n++;
        free(cps);
    }
    free(all);
    return r;
}

/* ---- The whole ---------------------------------------------------------------------------- */

static void reset(build_ctx *c)
{
    qs_ev_bundle_clear(&c->b);
    qs_db_audit_row_clear(&c->sig.row);
    c->have_sig = false;
    c->auth_time_us = 0;
    c->res->outcome = 0;
    c->res->why[0] = '\0';
    c->res->n_candidates = 0;
    c->res->more_candidates = false;
}

static qs_err build_txn(qs_db *db, void *cls)
{
    build_ctx *c = cls;
    qs_err r;
    reset(c); /* a retried attempt starts afresh */
    if ((r = find_signature(db, c)) != QS_OK || decided(c))
        return r;
    const qs_db_audit_row *sig = &c->sig.row;
    char t[128];
    ref_of(c->sig.writer_id, sig->seq, &c->b.signature);
    if (!sig->has_user_id || !sig->has_credential_id || !sig->has_sad_ref)
        return outcome(c, QS_EVIDENCE_INCOMPLETE,
                       "signature record %s lacks its user, credential or SAD",
                       ref_text(&c->b.signature, t, sizeof t));
    if ((r = find_authorization(db, c)) != QS_OK || decided(c) ||
        (r = find_hashes(db, c)) != QS_OK || decided(c) || (r = find_enrolment(db, c)) != QS_OK ||
        decided(c) || (r = find_certificate(db, c)) != QS_OK || decided(c) ||
        (r = gather_segments(db, c)) != QS_OK || decided(c))
        return r;
    return QS_OK;
}

void qs_evidence_build_result_clear(qs_evidence_build_result *res)
{
    if (res == NULL)
        return;
    free(res->bundle);
    memset(res, 0, sizeof *res);
}

qs_err qs_evidence_build(qs_db *db, const qs_evidence_query *q, qs_evidence_build_result *res)
{
    memset(res, 0, sizeof *res);
    bool by_record = q->writer_id != NULL;
    if ((by_record &&
         (!qs_audit_writer_id_valid(q->writer_id) || q->seq < 1 || q->seq > INT64_MAX)) ||
        (!by_record && q->hash == NULL && q->signature == NULL) ||
        (q->hash != NULL && q->hash_len != 32 && q->hash_len != 48 && q->hash_len != 64) ||
        (q->signature != NULL &&
         (q->signature_len == 0 || q->signature_len > QS_EVIDENCE_SIGNATURE_MAX)))
        return QS_ERR_INVALID_ARGUMENT;

    build_ctx c = {.q = q, .res = res};
    if ((c.cert = malloc(sizeof *c.cert)) == NULL)
        return QS_ERR_NOMEM;
    qs_err r = qs_db_run_txn_opt(db, "evidence", QS_DB_TXN_READ_ONLY, build_txn, &c);
    if (r == QS_OK && !decided(&c)) {
        if (q->signature != NULL) {
            c.b.has_value = true;
            if ((c.b.value.p = malloc(q->signature_len)) == NULL)
                r = QS_ERR_NOMEM;
            else
                memcpy(c.b.value.p, q->signature, q->signature_len);
            c.b.value.len = q->signature_len;
        }
        if (r == QS_OK)
            r = qs_ev_bundle_serialize(&c.b, &res->bundle, &res->bundle_len);
        if (r == QS_OK && res->bundle_len > QS_EVIDENCE_MAX) {
            free(res->bundle);
            res->bundle = NULL;
            res->bundle_len = 0;
            outcome(&c, QS_EVIDENCE_INCOMPLETE,
                    "the bundle would be larger than %u bytes, more than a checker reads",
                    QS_EVIDENCE_MAX);
        } else if (r == QS_ERR_INVALID_ARGUMENT) {
            r = QS_OK;
            outcome(&c, QS_EVIDENCE_INCOMPLETE,
                    "a record or checkpoint has a value the bundle cannot hold (a time "
                    "beyond the year 9999)");
        } else if (r == QS_OK) {
            res->outcome = QS_EVIDENCE_BUILT;
            candidate_of(&c.sig, &res->found);
        }
    }
    qs_ev_bundle_clear(&c.b);
    qs_db_audit_row_clear(&c.sig.row);
    free(c.cert);
    if (r != QS_OK) {
        free(res->bundle);
        res->bundle = NULL;
        res->bundle_len = 0;
        res->outcome = 0;
    }
    return r;
}
