/*
 * The evidence bundle as a value: its canonical serialization and its strict parser
 * (docs/evidence.md).  The serialization is jansson's compact form with members sorted by key
 * and one line feed after it; the checker parses a file, serializes what it read and compares
 * the two byte for byte, so any other spelling of the same values (white space, escapes, upper
 * case hex, base64 padding bits, number forms) is refused as well as any changed value.
 *
 * The parser reads outside input (a file someone hands an auditor): every member must be known
 * and of its type, nothing may be missing, and every length and count is bounded before memory
 * is taken.  It has a libFuzzer harness (tests/fuzz/fuzz_evidence.c).
 */
#define QS_LOG_MODULE "evidence"
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "sam/audit_internal.h"
#include "sam/evidence_internal.h"

/* ---- Values ------------------------------------------------------------------------------- */

static void bytes_clear(qs_ev_bytes *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
}

static void bytes_array_free(qs_ev_bytes *a, size_t n)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        bytes_clear(&a[i]);
    free(a);
}

void qs_ev_bundle_clear(qs_ev_bundle *b)
{
    if (b == NULL)
        return;
    bytes_clear(&b->value);
    free(b->extensions);
    bytes_array_free(b->hashes, b->n_hashes);
    free(b->enrolment);
    bytes_clear(&b->certificate);
    bytes_array_free(b->ca_chain, b->n_ca_chain);
    for (size_t c = 0; b->chains != NULL && c < b->n_chains; c++) {
        qs_ev_chain *ch = &b->chains[c];
        for (size_t s = 0; ch->segs != NULL && s < ch->n; s++)
            qs_db_audit_rows_free(ch->segs[s].records, ch->segs[s].n);
        free(ch->segs);
    }
    free(b->chains);
    memset(b, 0, sizeof *b);
}

const qs_db_audit_row *qs_ev_bundle_record(const qs_ev_bundle *b, const qs_ev_ref *r)
{
    for (size_t c = 0; c < b->n_chains; c++) {
        const qs_ev_chain *ch = &b->chains[c];
        if (strcmp(ch->writer, r->writer) != 0)
            continue;
        for (size_t s = 0; s < ch->n; s++) {
            const qs_ev_segment *sg = &ch->segs[s];
            if (sg->n == 0 || sg->records[0].seq < 1 || r->seq < (uint64_t)sg->records[0].seq)
                continue;
            uint64_t k = r->seq - (uint64_t)sg->records[0].seq;
            if (k < sg->n && (uint64_t)sg->records[k].seq == r->seq)
                return &sg->records[k];
        }
    }
    return NULL;
}

int qs_ev_digest_cmp(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    if (a_len != b_len)
        return a_len < b_len ? -1 : 1;
    return memcmp(a, b, a_len);
}

/* ---- Serialization ------------------------------------------------------------------------ */

/* Builds one object; the first failure sticks (jansson takes each value, also NULL). */
typedef struct builder {
    bool ok;
} builder;

static json_t *put(builder *bd, json_t *o, const char *key, json_t *v)
{
    if (o == NULL || json_object_set_new(o, key, v) != 0)
        bd->ok = false;
    return o;
}

static json_t *append(builder *bd, json_t *a, json_t *v)
{
    if (a == NULL || json_array_append_new(a, v) != 0)
        bd->ok = false;
    return a;
}

static json_t *hex_value(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    if (s == NULL)
        return NULL;
    qs_audit_hex(p, n, s);
    json_t *v = json_string(s);
    free(s);
    return v;
}

static json_t *b64_value(const uint8_t *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(cap);
    if (s == NULL)
        return NULL;
    sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    json_t *v = json_string(s);
    free(s);
    return v;
}

static json_t *seq_value(builder *bd, uint64_t seq)
{
    if (seq < 1 || seq > INT64_MAX) {
        bd->ok = false;
        return NULL;
    }
    return json_integer((json_int_t)seq);
}

static json_t *time_value(builder *bd, int64_t us)
{
    char t[QS_AUDIT_TIME_LEN + 1];
    if (!qs_audit_time_format(us, t)) {
        bd->ok = false;
        return NULL;
    }
    return json_string(t);
}

static json_t *ref_value(builder *bd, const qs_ev_ref *r)
{
    json_t *o = json_object();
    if (!qs_audit_writer_id_valid(r->writer))
        bd->ok = false;
    put(bd, o, "writer", json_string(r->writer));
    put(bd, o, "seq", seq_value(bd, r->seq));
    return o;
}

static json_t *refs_value(builder *bd, const qs_ev_ref *r, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        append(bd, a, ref_value(bd, &r[i]));
    return a;
}

static json_t *uuid_value(bool present, const uint8_t u[static QS_AUDIT_UUID_LEN])
{
    if (!present)
        return json_null();
    char t[37];
    qs_audit_uuid_text(u, t);
    return json_string(t);
}

static json_t *record_value(builder *bd, const qs_db_audit_row *row)
{
    json_t *o = json_object();
    put(bd, o, "seq", seq_value(bd, row->seq < 1 ? 0 : (uint64_t)row->seq));
    put(bd, o, "event_time", time_value(bd, row->event_time_us));
    put(bd, o, "event_type", json_string(row->event_type));
    put(bd, o, "actor", json_string(row->actor));
    put(bd, o, "user_id", uuid_value(row->has_user_id, row->user_id));
    put(bd, o, "credential_id", uuid_value(row->has_credential_id, row->credential_id));
    put(bd, o, "sad_ref",
        row->has_sad_ref ? hex_value(row->sad_ref, sizeof row->sad_ref) : json_null());
    put(bd, o, "result", json_string(row->success ? "success" : "failure"));
    put(bd, o, "details", json_string(row->details));
    put(bd, o, "prev_hash", hex_value(row->prev_hash, sizeof row->prev_hash));
    put(bd, o, "record_hash", hex_value(row->record_hash, sizeof row->record_hash));
    return o;
}

static json_t *checkpoint_value(builder *bd, const qs_audit_checkpoint *cp)
{
    json_t *o = json_object();
    if (cp->signature_len == 0 || cp->signature_len > sizeof cp->signature)
        bd->ok = false;
    put(bd, o, "seq", seq_value(bd, cp->seq));
    put(bd, o, "head_hash", hex_value(cp->head_hash, sizeof cp->head_hash));
    put(bd, o, "time", time_value(bd, cp->time_us));
    put(bd, o, "signature", b64_value(cp->signature, cp->signature_len));
    return o;
}

static json_t *chain_value(builder *bd, const qs_ev_chain *ch)
{
    json_t *o = json_object();
    json_t *segs = json_array();
    if (!qs_audit_writer_id_valid(ch->writer))
        bd->ok = false;
    for (size_t s = 0; s < ch->n; s++) {
        const qs_ev_segment *sg = &ch->segs[s];
        json_t *so = json_object();
        json_t *recs = json_array();
        for (size_t i = 0; i < sg->n; i++)
            append(bd, recs, record_value(bd, &sg->records[i]));
        put(bd, so, "records", recs);
        put(bd, so, "checkpoint", checkpoint_value(bd, &sg->cp));
        append(bd, segs, so);
    }
    put(bd, o, "writer", json_string(ch->writer));
    put(bd, o, "segments", segs);
    return o;
}

static json_t *bytes_array_value(builder *bd, const qs_ev_bytes *a, size_t n, bool hex)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        append(bd, arr, hex ? hex_value(a[i].p, a[i].len) : b64_value(a[i].p, a[i].len));
    return arr;
}

qs_err qs_ev_bundle_serialize(const qs_ev_bundle *b, char **out, size_t *len)
{
    builder bd = {.ok = true};
    *out = NULL;
    *len = 0;

    json_t *root = json_object();
    put(&bd, root, "format", json_string(QS_EVIDENCE_FORMAT));
    json_t *sig = json_object();
    put(&bd, sig, "record", ref_value(&bd, &b->signature));
    if (b->has_value)
        put(&bd, sig, "value", b64_value(b->value.p, b->value.len));
    put(&bd, root, "signature", sig);
    json_t *auth = json_object();
    put(&bd, auth, "record", ref_value(&bd, &b->authorization));
    put(&bd, auth, "extensions", refs_value(&bd, b->extensions, b->n_extensions));
    put(&bd, auth, "hashes", bytes_array_value(&bd, b->hashes, b->n_hashes, true));
    put(&bd, root, "authorization", auth);
    put(&bd, root, "enrolment", refs_value(&bd, b->enrolment, b->n_enrolment));
    put(&bd, root, "identity", ref_value(&bd, &b->identity));
    put(&bd, root, "key_generation", ref_value(&bd, &b->key_generation));
    put(&bd, root, "certificate_issuance", ref_value(&bd, &b->certificate_issuance));
    put(&bd, root, "certificate", b64_value(b->certificate.p, b->certificate.len));
    put(&bd, root, "ca_chain", bytes_array_value(&bd, b->ca_chain, b->n_ca_chain, false));
    json_t *chains = json_array();
    for (size_t c = 0; c < b->n_chains; c++)
        append(&bd, chains, chain_value(&bd, &b->chains[c]));
    put(&bd, root, "chains", chains);

    qs_err r = QS_ERR_INVALID_ARGUMENT;
    char *text = NULL;
    if (bd.ok && root != NULL) {
        r = QS_ERR_NOMEM;
        text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    }
    json_decref(root);
    if (text == NULL)
        return r;
    size_t n = strlen(text);
    char *s = malloc(n + 2);
    if (s == NULL) {
        free(text);
        return QS_ERR_NOMEM;
    }
    memcpy(s, text, n);
    s[n] = '\n';
    s[n + 1] = '\0';
    free(text);
    *out = s;
    *len = n + 1;
    return QS_OK;
}

/* ---- Parsing ------------------------------------------------------------------------------ */

/* Room for the name of a part of the bundle in messages ("chain W segment N record N ..."). */
#define QS_EV_LABEL_MAX 192

typedef struct parser {
    char *why;
    size_t why_len;
    bool failed;
    size_t records; /* read so far, all segments */
} parser;

static bool fail(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(parser *ps, const char *fmt, ...)
{
    if (!ps->failed && ps->why != NULL && ps->why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->why, ps->why_len, fmt, ap);
        va_end(ap);
    }
    ps->failed = true;
    return false;
}

/* Whether o is an object with exactly the members `req` (NULL-terminated) and, optionally,
 * the one member `opt`. */
static bool members(parser *ps, const json_t *o, const char *what, const char *const *req,
                    const char *opt)
{
    if (!json_is_object(o))
        return fail(ps, "%s is not an object", what);
    size_t n = 0;
    for (; req[n] != NULL; n++) {
        if (json_object_get(o, req[n]) == NULL)
            return fail(ps, "%s has no \"%s\"", what, req[n]);
    }
    size_t extra = opt != NULL && json_object_get(o, opt) != NULL ? 1 : 0;
    if (json_object_size(o) != n + extra) {
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)o, key, v)
        {
            bool known = opt != NULL && strcmp(key, opt) == 0;
            for (size_t i = 0; !known && req[i] != NULL; i++)
                known = strcmp(key, req[i]) == 0;
            if (!known)
                return fail(ps, "%s has an unknown member \"%.64s\"", what, key);
        }
        return fail(ps, "%s has unexpected members", what);
    }
    return true;
}

static const char *get_str(parser *ps, const json_t *o, const char *key, const char *what,
                           size_t max)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) {
        fail(ps, "%s: \"%s\" is not a string", what, key);
        return NULL;
    }
    if (json_string_length(v) > max) {
        fail(ps, "%s: \"%s\" is longer than %zu bytes", what, key, max);
        return NULL;
    }
    return json_string_value(v);
}

static bool get_seq(parser *ps, const json_t *o, const char *key, const char *what, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);
    *out = 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return fail(ps, "%s: \"%s\" is not an integer of at least 1", what, key);
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static bool unhex(const char *s, uint8_t *out, size_t n)
{
    if (s == NULL || strlen(s) != 2 * n)
        return false;
    size_t bin_len = 0;
    return sodium_hex2bin(out, n, s, 2 * n, NULL, &bin_len, NULL) == 0 && bin_len == n;
}

static bool get_hex(parser *ps, const json_t *o, const char *key, const char *what, uint8_t *out,
                    size_t n)
{
    const char *s = get_str(ps, o, key, what, 2 * n);
    if (s == NULL)
        return false;
    if (!unhex(s, out, n))
        return fail(ps, "%s: \"%s\" is not %zu bytes of hex", what, key, n);
    return true;
}

/* Base64 (RFC 4648, padded) of 1..max bytes into a new buffer. */
static bool b64_bytes(parser *ps, const json_t *v, const char *what, size_t max, qs_ev_bytes *out)
{
    out->p = NULL;
    out->len = 0;
    if (!json_is_string(v))
        return fail(ps, "%s is not a string", what);
    size_t slen = json_string_length(v);
    if (slen == 0 || slen > sodium_base64_ENCODED_LEN(max, sodium_base64_VARIANT_ORIGINAL))
        return fail(ps, "%s is empty or longer than %zu bytes", what, max);
    size_t cap = slen / 4 * 3 + 3;
    out->p = malloc(cap);
    if (out->p == NULL)
        return fail(ps, "out of memory");
    const char *end = NULL;
    if (sodium_base642bin(out->p, cap, json_string_value(v), slen, NULL, &out->len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != json_string_value(v) + slen || out->len == 0 || out->len > max) {
        bytes_clear(out);
        return fail(ps, "%s is not base64 of 1..%zu bytes", what, max);
    }
    return true;
}

static bool get_array(parser *ps, const json_t *o, const char *key, const char *what, size_t max,
                      const json_t **arr)
{
    *arr = json_object_get(o, key);
    if (!json_is_array(*arr))
        return fail(ps, "%s: \"%s\" is not an array", what, key);
    if (json_array_size(*arr) > max)
        return fail(ps, "%s: \"%s\" has more than %zu elements", what, key, max);
    return true;
}

static bool parse_ref(parser *ps, const json_t *o, const char *what, qs_ev_ref *r)
{
    static const char *const req[] = {"writer", "seq", NULL};
    memset(r, 0, sizeof *r);
    if (!members(ps, o, what, req, NULL))
        return false;
    const char *w = get_str(ps, o, "writer", what, QS_AUDIT_WRITER_ID_MAX);
    if (w == NULL)
        return false;
    if (!qs_audit_writer_id_valid(w))
        return fail(ps, "%s: \"%.64s\" is not a writer id", what, w);
    memcpy(r->writer, w, strlen(w) + 1);
    return get_seq(ps, o, "seq", what, &r->seq);
}

static bool parse_refs(parser *ps, const json_t *o, const char *key, const char *what, size_t max,
                       qs_ev_ref **out, size_t *n)
{
    const json_t *a;
    *out = NULL;
    *n = 0;
    if (!get_array(ps, o, key, what, max, &a))
        return false;
    if (json_array_size(a) == 0)
        return true;
    *out = calloc(json_array_size(a), sizeof **out);
    if (*out == NULL)
        return fail(ps, "out of memory");
    for (size_t i = 0; i < json_array_size(a); i++, (*n)++) {
        char w[96];
        snprintf(w, sizeof w, "%s[%zu]", what, i);
        if (!parse_ref(ps, json_array_get(a, i), w, &(*out)[i]))
            return false;
    }
    return true;
}

static bool parse_uuid(parser *ps, const json_t *o, const char *key, const char *what,
                       bool *present, uint8_t out[static QS_AUDIT_UUID_LEN])
{
    const json_t *v = json_object_get(o, key);
    *present = false;
    if (json_is_null(v))
        return true;
    if (!json_is_string(v) || !qs_audit_uuid_parse(json_string_value(v), out))
        return fail(ps, "%s: \"%s\" is neither null nor a UUID", what, key);
    *present = true;
    return true;
}

static bool dup_str(parser *ps, const char *s, char **out)
{
    *out = strdup(s);
    return *out != NULL || fail(ps, "out of memory");
}

static bool parse_record(parser *ps, const json_t *o, const char *what, qs_db_audit_row *row)
{
    static const char *const req[] = {"seq",     "event_time",    "event_type",  "actor",
                                      "user_id", "credential_id", "sad_ref",     "result",
                                      "details", "prev_hash",     "record_hash", NULL};
    uint64_t seq;
    memset(row, 0, sizeof *row);
    if (!members(ps, o, what, req, NULL) || !get_seq(ps, o, "seq", what, &seq))
        return false;
    if (seq > INT64_MAX)
        return fail(ps, "%s: seq out of range", what);
    row->seq = (int64_t)seq;
    const char *t = get_str(ps, o, "event_time", what, QS_AUDIT_TIME_LEN);
    if (t == NULL)
        return false;
    char canon[QS_AUDIT_TIME_LEN + 1];
    if (!qs_audit_time_parse(t, &row->event_time_us) ||
        !qs_audit_time_format(row->event_time_us, canon))
        return fail(ps, "%s: event_time is not an RFC 3339 time of the years 1..9999", what);
    const char *type = get_str(ps, o, "event_type", what, QS_AUDIT_EVENT_TYPE_MAX);
    if (type == NULL)
        return false;
    if (!qs_audit_event_type_valid(type))
        return fail(ps, "%s: event_type \"%.64s\" is not an event type", what, type);
    const char *actor = get_str(ps, o, "actor", what, 4 * QS_AUDIT_ACTOR_MAX);
    const char *details = get_str(ps, o, "details", what, QS_AUDIT_DETAILS_MAX);
    const char *result = get_str(ps, o, "result", what, 7);
    if (actor == NULL || details == NULL || result == NULL)
        return false;
    if (strcmp(result, "success") == 0)
        row->success = true;
    else if (strcmp(result, "failure") != 0)
        return fail(ps, "%s: result is neither success nor failure", what);
    if (!parse_uuid(ps, o, "user_id", what, &row->has_user_id, row->user_id) ||
        !parse_uuid(ps, o, "credential_id", what, &row->has_credential_id, row->credential_id))
        return false;
    if (!json_is_null(json_object_get(o, "sad_ref"))) {
        if (!get_hex(ps, o, "sad_ref", what, row->sad_ref, sizeof row->sad_ref))
            return false;
        row->has_sad_ref = true;
    }
    if (!get_hex(ps, o, "prev_hash", what, row->prev_hash, sizeof row->prev_hash) ||
        !get_hex(ps, o, "record_hash", what, row->record_hash, sizeof row->record_hash))
        return false;
    return dup_str(ps, type, &row->event_type) && dup_str(ps, actor, &row->actor) &&
           dup_str(ps, details, &row->details);
}

static bool parse_checkpoint(parser *ps, const json_t *o, const char *what, const char *writer,
                             qs_audit_checkpoint *cp)
{
    static const char *const req[] = {"seq", "head_hash", "time", "signature", NULL};
    memset(cp, 0, sizeof *cp);
    memcpy(cp->writer_id, writer, strlen(writer) + 1);
    if (!members(ps, o, what, req, NULL) || !get_seq(ps, o, "seq", what, &cp->seq) ||
        !get_hex(ps, o, "head_hash", what, cp->head_hash, sizeof cp->head_hash))
        return false;
    const char *t = get_str(ps, o, "time", what, QS_AUDIT_TIME_LEN);
    if (t == NULL)
        return false;
    char canon[QS_AUDIT_TIME_LEN + 1];
    if (!qs_audit_time_parse(t, &cp->time_us) || !qs_audit_time_format(cp->time_us, canon))
        return fail(ps, "%s: time is not an RFC 3339 time of the years 1..9999", what);
    qs_ev_bytes sig;
    char w[QS_EV_LABEL_MAX + 32];
    snprintf(w, sizeof w, "%s: signature", what);
    if (!b64_bytes(ps, json_object_get(o, "signature"), w, sizeof cp->signature, &sig))
        return false;
    memcpy(cp->signature, sig.p, sig.len);
    cp->signature_len = sig.len;
    bytes_clear(&sig);
    return true;
}

static bool parse_segment(parser *ps, const json_t *o, const char *what, const char *writer,
                          qs_ev_segment *sg)
{
    static const char *const req[] = {"records", "checkpoint", NULL};
    const json_t *recs;
    if (!members(ps, o, what, req, NULL) ||
        !get_array(ps, o, "records", what, QS_EVIDENCE_RECORDS_MAX, &recs))
        return false;
    size_t n = json_array_size(recs);
    if (n == 0)
        return fail(ps, "%s has no records", what);
    if (ps->records + n > QS_EVIDENCE_RECORDS_MAX)
        return fail(ps, "the bundle holds more than %d records", QS_EVIDENCE_RECORDS_MAX);
    ps->records += n;
    sg->records = calloc(n, sizeof *sg->records);
    if (sg->records == NULL)
        return fail(ps, "out of memory");
    for (size_t i = 0; i < n; i++, sg->n++) {
        char w[QS_EV_LABEL_MAX];
        snprintf(w, sizeof w, "%s record %zu", what, i);
        if (!parse_record(ps, json_array_get(recs, i), w, &sg->records[i])) {
            qs_db_audit_row_clear(&sg->records[i]);
            return false;
        }
    }
    char w[QS_EV_LABEL_MAX];
    snprintf(w, sizeof w, "%s checkpoint", what);
    return parse_checkpoint(ps, json_object_get(o, "checkpoint"), w, writer, &sg->cp);
}

static bool parse_chain(parser *ps, const json_t *o, const char *what, qs_ev_chain *ch)
{
    static const char *const req[] = {"writer", "segments", NULL};
    const json_t *segs;
    if (!members(ps, o, what, req, NULL))
        return false;
    const char *w = get_str(ps, o, "writer", what, QS_AUDIT_WRITER_ID_MAX);
    if (w == NULL)
        return false;
    if (!qs_audit_writer_id_valid(w))
        return fail(ps, "%s: \"%.64s\" is not a writer id", what, w);
    memcpy(ch->writer, w, strlen(w) + 1);
    if (!get_array(ps, o, "segments", what, QS_EVIDENCE_RECORDS_MAX, &segs))
        return false;
    if (json_array_size(segs) == 0)
        return fail(ps, "%s has no segments", what);
    ch->segs = calloc(json_array_size(segs), sizeof *ch->segs);
    if (ch->segs == NULL)
        return fail(ps, "out of memory");
    for (size_t i = 0; i < json_array_size(segs); i++) {
        char sw[QS_EV_LABEL_MAX - 64];
        snprintf(sw, sizeof sw, "chain %s segment %zu", ch->writer, i);
        ch->n++;
        if (!parse_segment(ps, json_array_get(segs, i), sw, ch->writer, &ch->segs[i]))
            return false;
    }
    return true;
}

static bool parse_bytes_array(parser *ps, const json_t *o, const char *key, size_t max_n,
                              size_t max_len, bool hex, qs_ev_bytes **out, size_t *n)
{
    const json_t *a;
    *out = NULL;
    *n = 0;
    if (!get_array(ps, o, key, key, max_n, &a))
        return false;
    if (json_array_size(a) == 0)
        return fail(ps, "\"%s\" is empty", key);
    *out = calloc(json_array_size(a), sizeof **out);
    if (*out == NULL)
        return fail(ps, "out of memory");
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *v = json_array_get(a, i);
        char w[64];
        snprintf(w, sizeof w, "%s[%zu]", key, i);
        (*n)++;
        if (!hex) {
            if (!b64_bytes(ps, v, w, max_len, &(*out)[i]))
                return false;
            continue;
        }
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        size_t len = s != NULL ? strlen(s) / 2 : 0;
        if (len != 32 && len != 48 && len != 64)
            return fail(ps, "%s is not the hex of a SHA-256, -384 or -512 digest", w);
        if (((*out)[i].p = malloc(len)) == NULL)
            return fail(ps, "out of memory");
        (*out)[i].len = len;
        if (!unhex(s, (*out)[i].p, len))
            return fail(ps, "%s is not hex", w);
    }
    return true;
}

static bool parse_root(parser *ps, const json_t *root, qs_ev_bundle *b)
{
    static const char *const req[] = {"format",
                                      "signature",
                                      "authorization",
                                      "enrolment",
                                      "identity",
                                      "key_generation",
                                      "certificate_issuance",
                                      "certificate",
                                      "ca_chain",
                                      "chains",
                                      NULL};
    static const char *const sig_req[] = {"record", NULL};
    static const char *const auth_req[] = {"record", "extensions", "hashes", NULL};
    if (!members(ps, root, "the bundle", req, NULL))
        return false;
    const char *format = get_str(ps, root, "format", "the bundle", 64);
    if (format == NULL)
        return false;
    if (strcmp(format, QS_EVIDENCE_FORMAT) != 0)
        return fail(ps, "format \"%.64s\" is not " QS_EVIDENCE_FORMAT, format);

    const json_t *sig = json_object_get(root, "signature");
    if (!members(ps, sig, "signature", sig_req, "value") ||
        !parse_ref(ps, json_object_get(sig, "record"), "signature record", &b->signature))
        return false;
    if (json_object_get(sig, "value") != NULL) {
        if (!b64_bytes(ps, json_object_get(sig, "value"), "signature value",
                       QS_EVIDENCE_SIGNATURE_MAX, &b->value))
            return false;
        b->has_value = true;
    }
    const json_t *auth = json_object_get(root, "authorization");
    if (!members(ps, auth, "authorization", auth_req, NULL) ||
        !parse_ref(ps, json_object_get(auth, "record"), "authorization record",
                   &b->authorization) ||
        !parse_refs(ps, auth, "extensions", "authorization extensions", QS_EVIDENCE_EXTENSIONS_MAX,
                    &b->extensions, &b->n_extensions) ||
        !parse_bytes_array(ps, auth, "hashes", QS_DB_AUDIT_SAD_DIGESTS_MAX, QS_EVIDENCE_DIGEST_MAX,
                           true, &b->hashes, &b->n_hashes))
        return false;
    if (!parse_refs(ps, root, "enrolment", "enrolment", QS_EVIDENCE_ENROLMENT_MAX, &b->enrolment,
                    &b->n_enrolment) ||
        !parse_ref(ps, json_object_get(root, "identity"), "identity", &b->identity) ||
        !parse_ref(ps, json_object_get(root, "key_generation"), "key_generation",
                   &b->key_generation) ||
        !parse_ref(ps, json_object_get(root, "certificate_issuance"), "certificate_issuance",
                   &b->certificate_issuance) ||
        !b64_bytes(ps, json_object_get(root, "certificate"), "certificate", QS_EVIDENCE_CERT_MAX,
                   &b->certificate) ||
        !parse_bytes_array(ps, root, "ca_chain", QS_EVIDENCE_CA_CHAIN_MAX, QS_EVIDENCE_CERT_MAX,
                           false, &b->ca_chain, &b->n_ca_chain))
        return false;

    const json_t *chains;
    if (!get_array(ps, root, "chains", "the bundle", QS_EVIDENCE_RECORDS_MAX, &chains))
        return false;
    if (json_array_size(chains) == 0)
        return fail(ps, "the bundle has no chains");
    b->chains = calloc(json_array_size(chains), sizeof *b->chains);
    if (b->chains == NULL)
        return fail(ps, "out of memory");
    for (size_t i = 0; i < json_array_size(chains); i++) {
        char w[64];
        snprintf(w, sizeof w, "chains[%zu]", i);
        b->n_chains++;
        if (!parse_chain(ps, json_array_get(chains, i), w, &b->chains[i]))
            return false;
    }
    return true;
}

qs_err qs_ev_bundle_parse(const uint8_t *buf, size_t len, qs_ev_bundle *b, char *why,
                          size_t why_len)
{
    parser ps = {.why = why, .why_len = why_len};
    memset(b, 0, sizeof *b);
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    if (len > QS_EVIDENCE_MAX) {
        fail(&ps, "the file is larger than %u bytes", QS_EVIDENCE_MAX);
        return QS_ERR_TOO_LARGE;
    }
    json_error_t err;
    json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        fail(&ps, "not JSON: %s at byte %d", err.text, err.position);
        return QS_ERR_PARSE;
    }
    bool ok = parse_root(&ps, root, b);
    json_decref(root);
    if (!ok) {
        qs_ev_bundle_clear(b);
        return QS_ERR_PARSE;
    }
    return QS_OK;
}
