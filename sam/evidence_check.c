/*
 * The offline check of an evidence bundle (`qsignctl audit check-evidence`): nothing but the
 * bundle, the audit public keys and the CA certificates; no database, no HSM, no network.
 *
 * Order: the file is parsed strictly and must be byte for byte the canonical serialization of
 * what was read (so every byte is accounted for); then the integrity of the records (each
 * record_hash recomputed with the version-1 encoding of sam/audit.h, each prev_hash linked,
 * each segment ending at its checkpoint's head, each checkpoint's signature verified with an
 * audit key); then what the records say (the bindings between signature, authorization, SAD,
 * signer, credential, key and certificate); then the certificate chain and the signature
 * value.  Each check is reported; a check whose input is missing fails rather than passes.
 *
 * Record MACs are HMACs with a key that never leaves the HSM: no third party can check them,
 * the bundle does not carry them, and the verdict says so.
 */
#define QS_LOG_MODULE "evidence"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sodium.h>

#include "sam/audit_internal.h"
#include "sam/evidence_internal.h"
#include "util/secret.h"

/* Most audit keys and CA certificates one trust file may hold. */
#define QS_EVIDENCE_TRUST_MAX 64

struct qs_evidence_trust {
    EVP_PKEY *keys[QS_EVIDENCE_TRUST_MAX];
    size_t n_keys;
    X509 *cas[QS_EVIDENCE_TRUST_MAX];
    size_t n_cas;
};

static const char *const check_names[QS_EVIDENCE_CHECK_COUNT] = {
    [QS_EVIDENCE_CHECK_FORMAT] = "format",
    [QS_EVIDENCE_CHECK_CANONICAL] = "canonical",
    [QS_EVIDENCE_CHECK_RECORD_HASHES] = "record-hashes",
    [QS_EVIDENCE_CHECK_HASH_LINKS] = "hash-links",
    [QS_EVIDENCE_CHECK_CHECKPOINT_HEADS] = "checkpoint-heads",
    [QS_EVIDENCE_CHECK_CHECKPOINT_SIGS] = "checkpoint-signatures",
    [QS_EVIDENCE_CHECK_RECORD_MACS] = "record-macs",
    [QS_EVIDENCE_CHECK_REFERENCES] = "references",
    [QS_EVIDENCE_CHECK_SIGNATURE_RECORD] = "signature-record",
    [QS_EVIDENCE_CHECK_AUTHORIZATION] = "authorization",
    [QS_EVIDENCE_CHECK_AUTHORIZED_HASHES] = "authorized-hashes",
    [QS_EVIDENCE_CHECK_ENROLMENT] = "enrolment",
    [QS_EVIDENCE_CHECK_IDENTITY] = "identity-validation",
    [QS_EVIDENCE_CHECK_KEY_GENERATION] = "key-generation",
    [QS_EVIDENCE_CHECK_CERTIFICATE_ISSUANCE] = "certificate-issuance",
    [QS_EVIDENCE_CHECK_CERTIFICATE_CHAIN] = "certificate-chain",
    [QS_EVIDENCE_CHECK_SIGNATURE_VALUE] = "signature-value",
};

const char *qs_evidence_check_name(qs_evidence_check_id id)
{
    if ((int)id < 0 || id >= QS_EVIDENCE_CHECK_COUNT)
        return "?";
    return check_names[id];
}

/* ---- Trust -------------------------------------------------------------------------------- */

void qs_evidence_trust_free(qs_evidence_trust *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n_keys; i++)
        EVP_PKEY_free(t->keys[i]);
    for (size_t i = 0; i < t->n_cas; i++)
        X509_free(t->cas[i]);
    free(t);
}

/* Each PEM block of text, in order, to fn; false (why set) on a malformed or foreign block. */
static bool pem_blocks(const char *text, size_t len, const char *want,
                       bool (*fn)(qs_evidence_trust *, const uint8_t *, size_t, char *, size_t),
                       qs_evidence_trust *t, char *why, size_t why_len)
{
    if (len > QS_EVIDENCE_MAX) {
        snprintf(why, why_len, "the file is too large");
        return false;
    }
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    size_t blocks = 0;
    bool ok = bio != NULL;
    while (ok) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long dlen = 0;
        if (PEM_read_bio(bio, &name, &header, &data, &dlen) != 1) {
            ERR_clear_error();
            break;
        }
        blocks++;
        if (strcmp(name, want) != 0 || header[0] != '\0') {
            snprintf(why, why_len, "PEM block %zu is \"%.40s\", not \"%s\"", blocks, name, want);
            ok = false;
        } else {
            ok = fn(t, data, (size_t)dlen, why, why_len);
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
    }
    BIO_free(bio);
    if (ok && blocks == 0) {
        snprintf(why, why_len, "no \"%s\" PEM block", want);
        ok = false;
    }
    return ok;
}

static bool add_key(qs_evidence_trust *t, const uint8_t *der, size_t len, char *why, size_t why_len)
{
    if (t->n_keys == QS_EVIDENCE_TRUST_MAX) {
        snprintf(why, why_len, "more than %d keys", QS_EVIDENCE_TRUST_MAX);
        return false;
    }
    EVP_PKEY *k = qs_audit_key_parse(der, len);
    if (k == NULL) {
        snprintf(why, why_len, "key %zu is not an EC P-256 public key", t->n_keys + 1);
        return false;
    }
    t->keys[t->n_keys++] = k;
    return true;
}

static bool add_ca(qs_evidence_trust *t, const uint8_t *der, size_t len, char *why, size_t why_len)
{
    if (t->n_cas == QS_EVIDENCE_TRUST_MAX) {
        snprintf(why, why_len, "more than %d certificates", QS_EVIDENCE_TRUST_MAX);
        return false;
    }
    const uint8_t *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x == NULL || p != der + len) {
        X509_free(x);
        snprintf(why, why_len, "certificate %zu is not DER", t->n_cas + 1);
        return false;
    }
    t->cas[t->n_cas++] = x;
    return true;
}

qs_err qs_evidence_trust_new(const char *audit_pem, size_t audit_len, const char *ca_pem,
                             size_t ca_len, qs_evidence_trust **out, char *why, size_t why_len)
{
    char w[256] = "";
    *out = NULL;
    if (why_len > 0)
        why[0] = '\0';
    qs_evidence_trust *t = calloc(1, sizeof *t);
    if (t == NULL)
        return QS_ERR_NOMEM;
    if (!pem_blocks(audit_pem, audit_len, "PUBLIC KEY", add_key, t, w, sizeof w)) {
        snprintf(why, why_len, "audit key: %s", w);
        qs_evidence_trust_free(t);
        return QS_ERR_PARSE;
    }
    if (!pem_blocks(ca_pem, ca_len, "CERTIFICATE", add_ca, t, w, sizeof w)) {
        snprintf(why, why_len, "CA certificate: %s", w);
        qs_evidence_trust_free(t);
        return QS_ERR_PARSE;
    }
    *out = t;
    return QS_OK;
}

/* ---- The check's state -------------------------------------------------------------------- */

/* What the semantic checks share: the roles' records and their parsed details. */
typedef struct role {
    const qs_db_audit_row *row; /* NULL: not in the bundle */
    json_t *d;                  /* its details (NULL when not JSON) */
} role;

typedef struct ck {
    const qs_evidence_trust *t;
    qs_ev_bundle b;
    qs_evidence_report_cb cb;
    void *cls;
    qs_evidence_verdict v;
    bool stop; /* QS_EVIDENCE_STOP_AT_FIRST */
    char what[768];
    role sig, auth, ident, keygen, issue;
    role *ext;                      /* n_extensions */
    const qs_db_audit_row *current; /* the record of the signing SAD (auth or last extension) */
    json_t *current_d;
    X509 *cert; /* the parsed certificate, NULL when it does not parse */
    const EVP_MD *md;
} ck;

static bool say(ck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets the line of the running check; returns false, so a failing check ends with it. */
static bool say(ck *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->what, sizeof c->what, fmt, ap);
    va_end(ap);
    return false;
}

static void report(ck *c, qs_evidence_check_id id, qs_evidence_state st)
{
    c->v.state[id] = st;
    if (st == QS_EVIDENCE_FAIL && !c->v.any_failed) {
        c->v.any_failed = true;
        c->v.first_failed = id;
    }
    if (c->cb != NULL)
        c->cb(c->cls, id, st, c->what);
    c->what[0] = '\0';
}

static void run(ck *c, qs_evidence_check_id id, bool (*fn)(ck *))
{
    c->what[0] = '\0';
    if (c->stop && c->v.any_failed) {
        say(c, "not run: an earlier check failed");
        report(c, id, QS_EVIDENCE_NOT_RUN);
        return;
    }
    report(c, id, fn(c) ? QS_EVIDENCE_PASS : QS_EVIDENCE_FAIL);
}

static const char *ref_text(const qs_ev_ref *r, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%llu", r->writer, (unsigned long long)r->seq);
    return buf;
}

static bool hex_is(const char *hex, const uint8_t *b, size_t n)
{
    char want[2 * QS_EVIDENCE_DIGEST_MAX + 1];
    if (hex == NULL || n > QS_EVIDENCE_DIGEST_MAX)
        return false;
    qs_audit_hex(b, n, want);
    return strcmp(hex, want) == 0;
}

static const char *d_str(const json_t *d, const char *key)
{
    const json_t *v = json_object_get(d, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool d_int(const json_t *d, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(d, key);
    *out = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
    return json_is_integer(v);
}

/* Whether a record's actor is the given one, user and credential as in the signature. */
static bool same_signer(const qs_db_audit_row *a, const qs_db_audit_row *sig, bool credential)
{
    if (!a->has_user_id || memcmp(a->user_id, sig->user_id, sizeof a->user_id) != 0)
        return false;
    return !credential || (a->has_credential_id && memcmp(a->credential_id, sig->credential_id,
                                                          sizeof a->credential_id) == 0);
}

/* ---- Integrity ---------------------------------------------------------------------------- */

static bool check_record_hashes(ck *c)
{
    size_t n = 0;
    for (size_t ci = 0; ci < c->b.n_chains; ci++) {
        const qs_ev_chain *ch = &c->b.chains[ci];
        for (size_t s = 0; s < ch->n; s++) {
            for (size_t i = 0; i < ch->segs[s].n; i++, n++) {
                const qs_db_audit_row *row = &ch->segs[s].records[i];
                qs_audit_record rec;
                uint8_t h[QS_AUDIT_HASH_LEN];
                qs_audit_record_from_row(ch->writer, row, &rec);
                if (qs_audit_record_hash(&rec, h) != QS_OK ||
                    !qs_ct_equal(h, row->record_hash, sizeof h))
                    return say(c, "record %s/%lld: record_hash is not the hash of its fields",
                               ch->writer, (long long)row->seq);
            }
        }
    }
    say(c, "%zu record hashes recomputed from the records' fields (encoding v1)", n);
    return true;
}

static bool check_links(ck *c)
{
    static const uint8_t zero[QS_AUDIT_HASH_LEN];
    for (size_t ci = 0; ci < c->b.n_chains; ci++) {
        const qs_ev_chain *ch = &c->b.chains[ci];
        if (ci > 0 && strcmp(c->b.chains[ci - 1].writer, ch->writer) >= 0)
            return say(c, "chains are not in writer order (%s after %s)", ch->writer,
                       c->b.chains[ci - 1].writer);
        for (size_t s = 0; s < ch->n; s++) {
            const qs_ev_segment *sg = &ch->segs[s];
            if (s > 0 && (uint64_t)sg->records[0].seq <= ch->segs[s - 1].cp.seq)
                return say(c,
                           "chain %s: segment %zu does not start after the previous "
                           "segment's checkpoint",
                           ch->writer, s);
            for (size_t i = 0; i < sg->n; i++) {
                const qs_db_audit_row *row = &sg->records[i];
                if (i > 0 && (uint64_t)row->seq != (uint64_t)sg->records[i - 1].seq + 1)
                    return say(c, "record %s/%lld does not follow %s/%lld", ch->writer,
                               (long long)row->seq, ch->writer, (long long)sg->records[i - 1].seq);
                if (i > 0 && !qs_ct_equal(row->prev_hash, sg->records[i - 1].record_hash,
                                          sizeof row->prev_hash))
                    return say(c, "record %s/%lld: prev_hash is not the record_hash of %s/%lld",
                               ch->writer, (long long)row->seq, ch->writer,
                               (long long)sg->records[i - 1].seq);
                if (row->seq == 1 && !qs_ct_equal(row->prev_hash, zero, sizeof zero))
                    return say(c, "record %s/1: prev_hash is not 32 zero bytes", ch->writer);
            }
        }
    }
    say(c, "every segment's records are consecutive and linked by prev_hash");
    return true;
}

static bool check_heads(ck *c)
{
    size_t n = 0;
    for (size_t ci = 0; ci < c->b.n_chains; ci++) {
        const qs_ev_chain *ch = &c->b.chains[ci];
        for (size_t s = 0; s < ch->n; s++, n++) {
            const qs_ev_segment *sg = &ch->segs[s];
            const qs_db_audit_row *last = &sg->records[sg->n - 1];
            if ((uint64_t)last->seq != sg->cp.seq ||
                !qs_ct_equal(last->record_hash, sg->cp.head_hash, sizeof sg->cp.head_hash))
                return say(c,
                           "chain %s: the segment ending at seq %lld is not the head of its "
                           "checkpoint (seq %llu)",
                           ch->writer, (long long)last->seq, (unsigned long long)sg->cp.seq);
        }
    }
    say(c, "%s %zu segment%s ends at its checkpoint's seq and head_hash",
        n == 1 ? "the" : "each of the", n, n == 1 ? "" : "s");
    return true;
}

static bool check_checkpoint_sigs(ck *c)
{
    size_t n = 0;
    for (size_t ci = 0; ci < c->b.n_chains; ci++) {
        const qs_ev_chain *ch = &c->b.chains[ci];
        for (size_t s = 0; s < ch->n; s++, n++) {
            bool ok = false;
            for (size_t k = 0; k < c->t->n_keys && !ok; k++)
                ok = qs_audit_checkpoint_verify_key(&ch->segs[s].cp, c->t->keys[k]) == QS_OK;
            if (!ok)
                return say(c, "the checkpoint of %s at seq %llu is not signed by the audit key",
                           ch->writer, (unsigned long long)ch->segs[s].cp.seq);
        }
    }
    say(c, "%zu checkpoint signature%s verif%s with the audit key", n, n == 1 ? "" : "s",
        n == 1 ? "ies" : "y");
    return true;
}

/* ---- References --------------------------------------------------------------------------- */

/* Whether the reference names the first record of a segment. */
static bool starts_segment(const qs_ev_ref *r, const qs_ev_chain *ch, const qs_ev_segment *sg)
{
    return strcmp(r->writer, ch->writer) == 0 && r->seq == (uint64_t)sg->records[0].seq;
}

static bool named_start(const qs_ev_bundle *b, const qs_ev_chain *ch, const qs_ev_segment *sg)
{
    const qs_ev_ref *fixed[] = {&b->signature, &b->authorization, &b->identity, &b->key_generation,
                                &b->certificate_issuance};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (starts_segment(fixed[i], ch, sg))
            return true;
    for (size_t i = 0; i < b->n_extensions; i++)
        if (starts_segment(&b->extensions[i], ch, sg))
            return true;
    for (size_t i = 0; i < b->n_enrolment; i++)
        if (starts_segment(&b->enrolment[i], ch, sg))
            return true;
    return false;
}

static bool resolve(ck *c, const qs_ev_ref *r, const char *role_name, role *out)
{
    char t[128];
    out->row = qs_ev_bundle_record(&c->b, r);
    if (out->row == NULL)
        return say(c, "the %s record %s is not in the bundle", role_name, ref_text(r, t, sizeof t));
    out->d = json_loads(out->row->details, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(out->d))
        return say(c, "the details of the %s record %s are not a JSON object", role_name,
                   ref_text(r, t, sizeof t));
    return true;
}

static bool check_references(ck *c)
{
    qs_ev_bundle *b = &c->b;
    bool ok = resolve(c, &b->signature, "signature", &c->sig) &&
              resolve(c, &b->authorization, "authorization", &c->auth) &&
              resolve(c, &b->identity, "identity validation", &c->ident) &&
              resolve(c, &b->key_generation, "key generation", &c->keygen) &&
              resolve(c, &b->certificate_issuance, "certificate issuance", &c->issue);
    if (!ok)
        return false;
    if (b->n_extensions > 0 && (c->ext = calloc(b->n_extensions, sizeof *c->ext)) == NULL)
        return say(c, "out of memory");
    for (size_t i = 0; i < b->n_extensions; i++)
        if (!resolve(c, &b->extensions[i], "SAD extension", &c->ext[i]))
            return false;
    for (size_t i = 0; i < b->n_enrolment; i++) {
        char t[128];
        if (qs_ev_bundle_record(b, &b->enrolment[i]) == NULL)
            return say(c, "the enrolment record %s is not in the bundle",
                       ref_text(&b->enrolment[i], t, sizeof t));
    }
    for (size_t ci = 0; ci < b->n_chains; ci++) {
        const qs_ev_chain *ch = &b->chains[ci];
        for (size_t s = 0; s < ch->n; s++)
            if (!named_start(b, ch, &ch->segs[s]))
                return say(c,
                           "chain %s: the segment from seq %lld starts at no record the "
                           "bundle names",
                           ch->writer, (long long)ch->segs[s].records[0].seq);
    }
    c->current = b->n_extensions > 0 ? c->ext[b->n_extensions - 1].row : c->auth.row;
    c->current_d = b->n_extensions > 0 ? c->ext[b->n_extensions - 1].d : c->auth.d;
    say(c, "every record the bundle names is in it, and every segment starts at one");
    return true;
}

/* ---- What the records say ----------------------------------------------------------------- */

static const EVP_MD *md_of_oid(const char *oid, size_t *len)
{
    static const struct {
        const char *oid;
        const char *name;
        size_t len;
    } algs[] = {{"2.16.840.1.101.3.4.2.1", "SHA256", 32},
                {"2.16.840.1.101.3.4.2.2", "SHA384", 48},
                {"2.16.840.1.101.3.4.2.3", "SHA512", 64}};
    for (size_t i = 0; oid != NULL && i < sizeof algs / sizeof algs[0]; i++) {
        if (strcmp(oid, algs[i].oid) == 0) {
            *len = algs[i].len;
            return EVP_get_digestbyname(algs[i].name);
        }
    }
    *len = 0;
    return NULL;
}

static bool is_type(const qs_db_audit_row *row, const char *type)
{
    return row != NULL && row->success && strcmp(row->event_type, type) == 0;
}

static bool check_signature_record(ck *c)
{
    const qs_db_audit_row *s = c->sig.row;
    const json_t *d = c->sig.d;
    size_t hlen = 0;
    int64_t aseq = 0;
    char t[128];
    if (s == NULL)
        return say(c, "the signature record is not in the bundle");
    if (!is_type(s, QS_EV_SIGNATURE))
        return say(c, "record %s is not a successful %s record",
                   ref_text(&c->b.signature, t, sizeof t), QS_EV_SIGNATURE);
    if (!s->has_user_id || !s->has_credential_id || !s->has_sad_ref)
        return say(c, "the signature record lacks its user, credential or SAD");
    c->md = md_of_oid(d_str(d, "hash_alg"), &hlen);
    const char *hash = d_str(d, "hash"), *scheme = d_str(d, "sig_scheme");
    const char *sha = d_str(d, "signature_sha256"), *aw = d_str(d, "auth_event_writer");
    if (c->md == NULL || hash == NULL || strlen(hash) != 2 * hlen || scheme == NULL ||
        d_str(d, "key_alg") == NULL || sha == NULL || strlen(sha) != 2 * QS_AUDIT_HASH_LEN ||
        aw == NULL || !d_int(d, "auth_event_seq", &aseq))
        return say(c, "the signature record's details lack hash, hash_alg, sig_scheme, key_alg, "
                      "signature_sha256 or the authorization's reference");
    char user[37], cred[37];
    qs_audit_uuid_text(s->user_id, user);
    qs_audit_uuid_text(s->credential_id, cred);
    say(c, "%s: %s of %s, signed by user %s with credential %s (%s)",
        ref_text(&c->b.signature, t, sizeof t), QS_EV_SIGNATURE, hash, user, cred, scheme);
    return true;
}

static bool check_authorization(ck *c)
{
    const qs_db_audit_row *s = c->sig.row, *a = c->auth.row;
    int64_t aseq = 0, num = 0;
    char t[128];
    if (s == NULL || a == NULL || (c->b.n_extensions > 0 && c->ext == NULL))
        return say(c, "the signature or authorization records are not in the bundle");
    if (!is_type(a, QS_EV_SAD_ISSUED) || !a->has_sad_ref)
        return say(c, "record %s is not a successful %s record with an SAD",
                   ref_text(&c->b.authorization, t, sizeof t), QS_EV_SAD_ISSUED);
    const char *aw = d_str(c->sig.d, "auth_event_writer");
    if (aw == NULL || !d_int(c->sig.d, "auth_event_seq", &aseq) ||
        strcmp(aw, c->b.authorization.writer) != 0 || aseq < 1 ||
        (uint64_t)aseq != c->b.authorization.seq)
        return say(c, "the signature record names another authorization record than %s",
                   ref_text(&c->b.authorization, t, sizeof t));
    if (!same_signer(a, s, true))
        return say(c, "the authorization is for another user or credential than the signature");
    const char *factors = d_str(c->auth.d, "factors");
    if (factors == NULL || factors[0] == '\0')
        return say(c, "the authorization record names no factors");
    const char *halg = d_str(c->auth.d, "hash_alg"), *shalg = d_str(c->sig.d, "hash_alg");
    if (halg == NULL || shalg == NULL || strcmp(halg, shalg) != 0)
        return say(c, "the authorization is for another hash algorithm than the signature");
    if (a->event_time_us > s->event_time_us)
        return say(c, "the authorization is later than the signature");
    const uint8_t *prev = a->sad_ref;
    int64_t prev_time = a->event_time_us;
    for (size_t i = 0; i < c->b.n_extensions; i++) {
        const qs_db_audit_row *e = c->ext[i].row;
        const char *ew = d_str(c->ext[i].d, "auth_event_writer");
        int64_t eseq = 0;
        if (!is_type(e, QS_EV_SAD_EXTENDED) || !e->has_sad_ref || !same_signer(e, s, true))
            return say(c, "extension %s is not a successful %s record of this signer",
                       ref_text(&c->b.extensions[i], t, sizeof t), QS_EV_SAD_EXTENDED);
        if (!hex_is(d_str(c->ext[i].d, "previous_sad"), prev, QS_AUDIT_SAD_REF_LEN))
            return say(c, "extension %s does not extend the SAD before it",
                       ref_text(&c->b.extensions[i], t, sizeof t));
        if (ew == NULL || strcmp(ew, c->b.authorization.writer) != 0 ||
            !d_int(c->ext[i].d, "auth_event_seq", &eseq) ||
            (uint64_t)eseq != c->b.authorization.seq)
            return say(c, "extension %s names another authorization",
                       ref_text(&c->b.extensions[i], t, sizeof t));
        if (e->event_time_us < prev_time || e->event_time_us > s->event_time_us)
            return say(c, "extension %s is out of time order",
                       ref_text(&c->b.extensions[i], t, sizeof t));
        prev = e->sad_ref;
        prev_time = e->event_time_us;
    }
    if (memcmp(prev, s->sad_ref, QS_AUDIT_SAD_REF_LEN) != 0)
        return say(c, "the signature's SAD is not the one the authorization%s issued",
                   c->b.n_extensions > 0 ? " and its extensions" : "");
    (void)d_int(c->auth.d, "num_signatures", &num);
    char sad[2 * QS_AUDIT_SAD_REF_LEN + 1];
    qs_audit_hex(s->sad_ref, QS_AUDIT_SAD_REF_LEN, sad);
    say(c,
        "%s: factors %s verified, SAD %.16s... for the same user and credential (%lld "
        "signature%s)%s",
        ref_text(&c->b.authorization, t, sizeof t), factors, sad, (long long)num,
        num == 1 ? "" : "s", c->b.n_extensions > 0 ? ", extended" : "");
    return true;
}

static bool check_hashes(ck *c)
{
    const qs_db_audit_row *s = c->sig.row;
    size_t hlen = 0;
    int64_t count = 0, added = 0, carried = 0;
    if (s == NULL || c->current == NULL)
        return say(c, "the signature or authorization record is not in the bundle");
    (void)md_of_oid(d_str(c->sig.d, "hash_alg"), &hlen);
    if (strcmp(c->current->event_type, QS_EV_SAD_ISSUED) == 0) {
        if (!d_int(c->current_d, "hashes", &count))
            return say(c, "the authorization record does not say how many hashes it covers");
    } else if (!d_int(c->current_d, "hashes_added", &added) ||
               !d_int(c->current_d, "hashes_carried", &carried) || added < 0 || carried < 0 ||
               added > QS_DB_AUDIT_SAD_DIGESTS_MAX || carried > QS_DB_AUDIT_SAD_DIGESTS_MAX) {
        return say(c, "the extension record does not say how many hashes it covers");
    } else {
        count = added + carried;
    }
    if (count < 1 || (uint64_t)count != c->b.n_hashes)
        return say(c, "the bundle lists %zu hashes, the SAD's record says %lld", c->b.n_hashes,
                   (long long)count);
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    bool found = false;
    const char *signed_hex = d_str(c->sig.d, "hash");
    for (size_t i = 0; i < c->b.n_hashes; i++) {
        const qs_ev_bytes *h = &c->b.hashes[i];
        if (h->len != hlen)
            return say(c, "authorized hash %zu is not of the SAD's algorithm", i);
        if (i > 0 &&
            qs_ev_digest_cmp(c->b.hashes[i - 1].p, c->b.hashes[i - 1].len, h->p, h->len) >= 0)
            return say(c, "the authorized hashes are not in ascending order");
        crypto_hash_sha256_update(&st, h->p, h->len);
        found = found || hex_is(signed_hex, h->p, h->len);
    }
    uint8_t set[QS_AUDIT_HASH_LEN];
    crypto_hash_sha256_final(&st, set);
    if (!hex_is(d_str(c->current_d, "hashes_sha256"), set, sizeof set))
        return say(c, "the authorized hashes are not the ones the SAD's record binds "
                      "(hashes_sha256)");
    if (!found)
        return say(c, "the signed hash is not among the %zu authorized ones", c->b.n_hashes);
    say(c, "the signed hash is one of the %zu hash%s the SAD authorized (hashes_sha256 matches)",
        c->b.n_hashes, c->b.n_hashes == 1 ? "" : "es");
    return true;
}

static bool check_enrolment(ck *c)
{
    const qs_db_audit_row *s = c->sig.row, *a = c->auth.row;
    size_t created = 0, factors = 0;
    char t[128];
    if (s == NULL || a == NULL)
        return say(c, "the signature or authorization record is not in the bundle");
    for (size_t i = 0; i < c->b.n_enrolment; i++) {
        const qs_ev_ref *r = &c->b.enrolment[i];
        const qs_db_audit_row *e = qs_ev_bundle_record(&c->b, r);
        if (e == NULL)
            return say(c, "enrolment record %s is not in the bundle", ref_text(r, t, sizeof t));
        if (!e->success || !same_signer(e, s, false))
            return say(c, "enrolment record %s is not a successful record of the signer",
                       ref_text(r, t, sizeof t));
        if (strcmp(e->event_type, QS_EV_USER_CREATED) == 0 ||
            strcmp(e->event_type, QS_EV_SIGNER) == 0)
            created++;
        else if (strcmp(e->event_type, QS_EV_ACTIVATED) == 0 ||
                 strcmp(e->event_type, QS_EV_FACTORS) == 0)
            factors++;
        else
            return say(c, "enrolment record %s is a %s record", ref_text(r, t, sizeof t),
                       e->event_type);
        if (e->event_time_us > a->event_time_us)
            return say(c, "enrolment record %s is later than the authorization",
                       ref_text(r, t, sizeof t));
        if (i > 0) {
            const qs_ev_ref *p = &c->b.enrolment[i - 1];
            const qs_db_audit_row *pe = qs_ev_bundle_record(&c->b, p);
            int w = strcmp(p->writer, r->writer);
            if (pe == NULL || pe->event_time_us > e->event_time_us ||
                (pe->event_time_us == e->event_time_us && (w > 0 || (w == 0 && p->seq >= r->seq))))
                return say(c, "the enrolment records are not in (time, writer, seq) order");
        }
    }
    if (created != 1)
        return say(c, "the enrolment holds %zu records creating the signer, not one", created);
    if (factors == 0)
        return say(c, "the enrolment holds no record of the signer's factors being set");
    say(c,
        "the signer was created and set their factors (%zu record%s) before the "
        "authorization",
        factors, factors == 1 ? "" : "s");
    return true;
}

static bool check_identity(ck *c)
{
    const qs_db_audit_row *s = c->sig.row, *i = c->ident.row;
    char t[128];
    if (s == NULL || i == NULL || c->issue.row == NULL)
        return say(c, "the identity validation or issuance record is not in the bundle");
    if (!is_type(i, QS_EV_SIGNER) || !same_signer(i, s, false))
        return say(c, "record %s is not a successful %s record of the signer",
                   ref_text(&c->b.identity, t, sizeof t), QS_EV_SIGNER);
    const char *eid = d_str(c->ident.d, "evidence_id");
    const char *want = d_str(c->issue.d, "evidence_id");
    if (eid == NULL || want == NULL || strcmp(eid, want) != 0)
        return say(c,
                   "the identity evidence %s validated is not the one the certificate was "
                   "issued from",
                   ref_text(&c->b.identity, t, sizeof t));
    const char *m = d_str(c->ident.d, "method"), *doc = d_str(c->ident.d, "document_type");
    const char *cc = d_str(c->ident.d, "issuing_country");
    say(c, "%s: identity evidence %s (%s, %s of %s), the one the certificate was issued from",
        ref_text(&c->b.identity, t, sizeof t), eid, m != NULL ? m : "?", doc != NULL ? doc : "?",
        cc != NULL ? cc : "?");
    return true;
}

/* Whether the certificate's key is of the kind key_alg names (ec-p256, rsa-2048, ...). */
static bool key_fits(EVP_PKEY *k, const char *key_alg)
{
    char group[32] = "";
    if (strcmp(key_alg, "ec-p256") == 0 || strcmp(key_alg, "ec-p384") == 0)
        return EVP_PKEY_is_a(k, "EC") &&
               EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                              NULL) == 1 &&
               strcmp(group, strcmp(key_alg, "ec-p256") == 0 ? "prime256v1" : "secp384r1") == 0;
    static const char *const rsa[] = {"rsa-2048", "rsa-3072", "rsa-4096"};
    static const int bits[] = {2048, 3072, 4096};
    for (size_t i = 0; i < sizeof rsa / sizeof rsa[0]; i++)
        if (strcmp(key_alg, rsa[i]) == 0)
            return EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) == bits[i];
    return false;
}

static bool check_key_generation(ck *c)
{
    const qs_db_audit_row *s = c->sig.row, *k = c->keygen.row;
    char t[128];
    if (s == NULL || k == NULL)
        return say(c, "the key generation record is not in the bundle");
    if (!is_type(k, QS_EV_KEY_GENERATED) || !same_signer(k, s, true))
        return say(c, "record %s is not a successful %s record of the signer's credential",
                   ref_text(&c->b.key_generation, t, sizeof t), QS_EV_KEY_GENERATED);
    if (c->cert == NULL)
        return say(c, "the certificate is not DER");
    uint8_t *spki = NULL;
    int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(c->cert), &spki);
    uint8_t fp[QS_AUDIT_HASH_LEN];
    if (n <= 0)
        return say(c, "the certificate's public key cannot be encoded");
    crypto_hash_sha256(fp, spki, (unsigned long long)n);
    OPENSSL_free(spki);
    if (!hex_is(d_str(c->keygen.d, "spki_sha256"), fp, sizeof fp))
        return say(c, "the certificate's public key is not the key generated in %s",
                   ref_text(&c->b.key_generation, t, sizeof t));
    const char *alg = d_str(c->keygen.d, "key_alg");
    const char *sig_alg = d_str(c->sig.d, "key_alg");
    if (alg == NULL || sig_alg == NULL || strcmp(alg, sig_alg) != 0)
        return say(c, "the key generated is not of the algorithm the signature record names");
    if (!key_fits(X509_get0_pubkey(c->cert), alg))
        return say(c, "the certificate's key is not an %s key", alg);
    if (c->issue.row != NULL && k->event_time_us > c->issue.row->event_time_us)
        return say(c, "the key generation is later than the certificate issuance");
    say(c, "%s: an %s key generated in the HSM for the credential, the certificate's key",
        ref_text(&c->b.key_generation, t, sizeof t), alg);
    return true;
}

/* The certificate's serial number as lowercase hex of its big-endian bytes. */
static bool serial_hex(X509 *x, char *out, size_t cap)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    int n = bn != NULL ? BN_num_bytes(bn) : -1;
    uint8_t buf[32];
    bool ok =
        n > 0 && (size_t)n <= sizeof buf && 2 * (size_t)n + 1 <= cap && BN_bn2bin(bn, buf) == n;
    if (ok)
        qs_audit_hex(buf, (size_t)n, out);
    BN_free(bn);
    return ok;
}

static bool check_issuance(ck *c)
{
    const qs_db_audit_row *s = c->sig.row, *i = c->issue.row;
    char t[128], serial[65];
    int64_t not_after = 0;
    if (s == NULL || i == NULL)
        return say(c, "the certificate issuance record is not in the bundle");
    if (!is_type(i, QS_EV_CERT_ISSUED) || !same_signer(i, s, true))
        return say(c, "record %s is not a successful %s record of the signer's credential",
                   ref_text(&c->b.certificate_issuance, t, sizeof t), QS_EV_CERT_ISSUED);
    uint8_t fp[QS_AUDIT_HASH_LEN];
    crypto_hash_sha256(fp, c->b.certificate.p, c->b.certificate.len);
    if (!hex_is(d_str(c->issue.d, "certificate_sha256"), fp, sizeof fp))
        return say(c, "the certificate is not the one issued in %s (certificate_sha256)",
                   ref_text(&c->b.certificate_issuance, t, sizeof t));
    if (c->cert == NULL || !serial_hex(c->cert, serial, sizeof serial))
        return say(c, "the certificate is not DER");
    const char *rs = d_str(c->issue.d, "serial");
    if (rs == NULL || strcmp(rs, serial) != 0)
        return say(c, "the certificate's serial is not the issuance record's");
    if (!d_int(c->issue.d, "not_after", &not_after) ||
        ASN1_TIME_cmp_time_t(X509_get0_notAfter(c->cert), (time_t)not_after) != 0)
        return say(c, "the certificate's notAfter is not the issuance record's");
    if (i->event_time_us > s->event_time_us)
        return say(c, "the certificate was issued after the signature");
    say(c, "%s: certificate serial %s issued for the credential (certificate_sha256 matches)",
        ref_text(&c->b.certificate_issuance, t, sizeof t), serial);
    return true;
}

static bool check_chain(ck *c)
{
    if (c->cert == NULL)
        return say(c, "the certificate is not DER");
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509 **chain = calloc(c->b.n_ca_chain, sizeof *chain);
    bool ok = false;
    if (store == NULL || untrusted == NULL || ctx == NULL || chain == NULL) {
        say(c, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < c->t->n_cas; i++) {
        if (X509_STORE_add_cert(store, c->t->cas[i]) != 1) {
            say(c, "the CA certificates cannot be used");
            goto out;
        }
    }
    for (size_t i = 0; i < c->b.n_ca_chain; i++) {
        const uint8_t *p = c->b.ca_chain[i].p;
        chain[i] = d2i_X509(NULL, &p, (long)c->b.ca_chain[i].len);
        if (chain[i] == NULL || p != c->b.ca_chain[i].p + c->b.ca_chain[i].len) {
            say(c, "CA certificate %zu of the bundle is not DER", i);
            goto out;
        }
        if (sk_X509_push(untrusted, chain[i]) <= 0) {
            say(c, "out of memory");
            goto out;
        }
    }
    if (X509_STORE_CTX_init(ctx, store, c->cert, untrusted) != 1) {
        say(c, "out of memory");
        goto out;
    }
    X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
    int64_t at = c->sig.row != NULL ? c->sig.row->event_time_us / 1000000 : 0;
    X509_VERIFY_PARAM_set_time(vp, (time_t)at);
    X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_X509_STRICT);
    if (X509_verify_cert(ctx) != 1) {
        say(c, "the certificate does not chain to the CA certificate at the signing time: %s",
            X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto out;
    }
    /* every certificate of the bundle's chain is the one the verified path has there */
    STACK_OF(X509) *path = X509_STORE_CTX_get0_chain(ctx);
    for (size_t i = 0; i < c->b.n_ca_chain; i++) {
        if ((int)i + 1 >= sk_X509_num(path) ||
            X509_cmp(sk_X509_value(path, (int)i + 1), chain[i]) != 0) {
            say(c,
                "CA certificate %zu of the bundle is not on the certificate's path to the CA "
                "certificate",
                i);
            goto out;
        }
    }
    char subject[256] = "";
    X509_NAME_oneline(X509_get_subject_name(c->cert), subject, sizeof subject);
    say(c, "the certificate (%s) chains to the CA certificate, valid at the signing time", subject);
    ok = true;
out:
    for (size_t i = 0; chain != NULL && i < c->b.n_ca_chain; i++)
        X509_free(chain[i]);
    free(chain);
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    X509_STORE_free(store);
    return ok;
}

static bool verify_value(ck *c, const uint8_t *hash, size_t hlen)
{
    EVP_PKEY *k = X509_get0_pubkey(c->cert);
    const char *scheme = d_str(c->sig.d, "sig_scheme");
    EVP_PKEY_CTX *ctx = k != NULL ? EVP_PKEY_CTX_new(k, NULL) : NULL;
    bool ok = ctx != NULL && scheme != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
              EVP_PKEY_CTX_set_signature_md(ctx, c->md) == 1;
    if (ok && strcmp(scheme, "ecdsa") == 0) {
        ok = EVP_PKEY_is_a(k, "EC");
    } else if (ok && strcmp(scheme, "rsa-pkcs1") == 0) {
        ok = EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
    } else if (ok && strcmp(scheme, "rsa-pss") == 0) {
        ok = EVP_PKEY_is_a(k, "RSA") &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, c->md) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, (int)hlen) == 1;
    } else {
        ok = false;
    }
    ok = ok && EVP_PKEY_verify(ctx, c->b.value.p, c->b.value.len, hash, hlen) == 1;
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

static bool check_value(ck *c)
{
    uint8_t fp[QS_AUDIT_HASH_LEN], hash[QS_EVIDENCE_DIGEST_MAX];
    size_t hlen = 0;
    if (c->sig.row == NULL || c->md == NULL)
        return say(c, "the signature record is not usable");
    crypto_hash_sha256(fp, c->b.value.p, c->b.value.len);
    if (!hex_is(d_str(c->sig.d, "signature_sha256"), fp, sizeof fp))
        return say(c, "the signature value is not the one the signature record holds the "
                      "SHA-256 of");
    /* A document signature (signDoc, CAdES) signs the digest of the signed attributes the SAM
     * built around the authorized document digest; its record names both. */
    const char *attrs = d_str(c->sig.d, "signed_attrs_digest");
    const char *hex = attrs != NULL ? attrs : d_str(c->sig.d, "hash");
    const char *what = attrs != NULL ? "the signed attributes' digest" : "the signed hash";
    if (hex == NULL ||
        sodium_hex2bin(hash, sizeof hash, hex, strlen(hex), NULL, &hlen, NULL) != 0 || hlen == 0)
        return say(c, "the signature record's %s is not hex", what);
    if (c->cert == NULL || !verify_value(c, hash, hlen))
        return say(c, "the signature value does not verify with the certificate's key over %s (%s)",
                   what,
                   d_str(c->sig.d, "sig_scheme") != NULL ? d_str(c->sig.d, "sig_scheme") : "?");
    say(c,
        "its SHA-256 is the record's signature_sha256, and it verifies with the "
        "certificate's key over %s (%s)",
        what, d_str(c->sig.d, "sig_scheme"));
    return true;
}

/* ---- The whole ---------------------------------------------------------------------------- */

static void ck_free(ck *c)
{
    role *roles[] = {&c->sig, &c->auth, &c->ident, &c->keygen, &c->issue};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        json_decref(roles[i]->d);
    for (size_t i = 0; c->ext != NULL && i < c->b.n_extensions; i++)
        json_decref(c->ext[i].d);
    free(c->ext);
    X509_free(c->cert);
    qs_ev_bundle_clear(&c->b);
}

qs_err qs_evidence_check(const qs_evidence_trust *t, const uint8_t *buf, size_t len, unsigned flags,
                         qs_evidence_report_cb cb, void *cls, qs_evidence_verdict *v)
{
    ck *c = calloc(1, sizeof *c);
    char why[QS_EVIDENCE_WHY_MAX] = "";
    qs_err r;

    if (v != NULL)
        memset(v, 0, sizeof *v);
    if (c == NULL)
        return QS_ERR_NOMEM;
    c->t = t;
    c->cb = cb;
    c->cls = cls;
    c->stop = (flags & QS_EVIDENCE_STOP_AT_FIRST) != 0;

    r = t == NULL || buf == NULL ? QS_ERR_PARSE
                                 : qs_ev_bundle_parse(buf, len, &c->b, why, sizeof why);
    if (r == QS_ERR_NOMEM)
        goto out;
    if (r != QS_OK) {
        say(c, "%s", why[0] != '\0' ? why : "not a bundle");
        report(c, QS_EVIDENCE_CHECK_FORMAT, QS_EVIDENCE_FAIL);
    } else {
        for (size_t i = 0; i < c->b.n_chains; i++)
            for (size_t s = 0; s < c->b.chains[i].n; s++) {
                c->v.records += c->b.chains[i].segs[s].n;
                c->v.checkpoints++;
            }
        say(c, "a %s bundle: %zu record%s in %zu segment%s", QS_EVIDENCE_FORMAT, c->v.records,
            c->v.records == 1 ? "" : "s", c->v.checkpoints, c->v.checkpoints == 1 ? "" : "s");
        report(c, QS_EVIDENCE_CHECK_FORMAT, QS_EVIDENCE_PASS);
        char *canon = NULL;
        size_t canon_len = 0;
        r = qs_ev_bundle_serialize(&c->b, &canon, &canon_len);
        if (r == QS_ERR_NOMEM)
            goto out;
        if (r == QS_OK && canon_len == len && memcmp(canon, buf, len) == 0) {
            say(c, "the file is byte for byte the canonical serialization of its content");
            report(c, QS_EVIDENCE_CHECK_CANONICAL, QS_EVIDENCE_PASS);
        } else {
            size_t at = 0;
            while (canon != NULL && at < len && at < canon_len && canon[at] == (char)buf[at])
                at++;
            say(c,
                "the file is not the canonical serialization of its content (first "
                "difference at byte %zu)",
                at);
            report(c, QS_EVIDENCE_CHECK_CANONICAL, QS_EVIDENCE_FAIL);
        }
        free(canon);
    }
    if (c->v.any_failed) {
        /* nothing trustworthy to check further */
        for (int id = 0; id < QS_EVIDENCE_CHECK_COUNT; id++) {
            if (c->v.state[id] != 0)
                continue;
            say(c, "not run: the bundle could not be read");
            report(c, (qs_evidence_check_id)id, QS_EVIDENCE_NOT_RUN);
        }
        r = QS_ERR_MAC;
        goto out;
    }
    const uint8_t *p = c->b.certificate.p;
    c->cert = d2i_X509(NULL, &p, (long)c->b.certificate.len);
    if (c->cert != NULL && p != c->b.certificate.p + c->b.certificate.len) {
        X509_free(c->cert);
        c->cert = NULL;
    }

    run(c, QS_EVIDENCE_CHECK_RECORD_HASHES, check_record_hashes);
    run(c, QS_EVIDENCE_CHECK_HASH_LINKS, check_links);
    run(c, QS_EVIDENCE_CHECK_CHECKPOINT_HEADS, check_heads);
    run(c, QS_EVIDENCE_CHECK_CHECKPOINT_SIGS, check_checkpoint_sigs);
    say(c, "not checkable: record MACs are HMACs made in the HSM with a key no third party "
           "holds (the bundle does not carry them); the records' integrity rests on the hash "
           "chain and the signed checkpoints");
    report(c, QS_EVIDENCE_CHECK_RECORD_MACS, QS_EVIDENCE_SKIP);
    /* what the checks after references need: the roles' records */
    run(c, QS_EVIDENCE_CHECK_REFERENCES, check_references);
    run(c, QS_EVIDENCE_CHECK_SIGNATURE_RECORD, check_signature_record);
    run(c, QS_EVIDENCE_CHECK_AUTHORIZATION, check_authorization);
    run(c, QS_EVIDENCE_CHECK_AUTHORIZED_HASHES, check_hashes);
    run(c, QS_EVIDENCE_CHECK_ENROLMENT, check_enrolment);
    run(c, QS_EVIDENCE_CHECK_IDENTITY, check_identity);
    run(c, QS_EVIDENCE_CHECK_KEY_GENERATION, check_key_generation);
    run(c, QS_EVIDENCE_CHECK_CERTIFICATE_ISSUANCE, check_issuance);
    run(c, QS_EVIDENCE_CHECK_CERTIFICATE_CHAIN, check_chain);
    if (c->b.has_value) {
        run(c, QS_EVIDENCE_CHECK_SIGNATURE_VALUE, check_value);
    } else if (c->stop && c->v.any_failed) {
        say(c, "not run: an earlier check failed");
        report(c, QS_EVIDENCE_CHECK_SIGNATURE_VALUE, QS_EVIDENCE_NOT_RUN);
    } else {
        say(c, "no signature value in the bundle (found by record or hash): the record's "
               "signature_sha256 stands for it");
        report(c, QS_EVIDENCE_CHECK_SIGNATURE_VALUE, QS_EVIDENCE_SKIP);
    }
    r = c->v.any_failed ? QS_ERR_MAC : QS_OK;
out:
    if (v != NULL)
        *v = c->v;
    ck_free(c);
    free(c);
    return r;
}
