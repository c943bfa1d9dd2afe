/*
 * Record MACs (sam/records.h): the version 1 encoding of each table's MACed columns, fed to the
 * HSM as a list of parts so no row is copied.
 */
#define QS_LOG_MODULE "sam"
#include "sam/records.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/secret.h"

/* Most values one encoding holds: the domain, the table and 19 columns (identity_evidence). */
#define REC_MAX_FIELDS 21

typedef struct rec_enc {
    qs_hsm_buf parts[2 * REC_MAX_FIELDS];
    uint8_t lens[REC_MAX_FIELDS][4];
    uint8_t ints[REC_MAX_FIELDS][8];
    size_t nparts, nfields;
    bool failed;
} rec_enc;

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* Appends f(x): the length prefix and, unless NULL, the value (not copied). */
static void enc_bytes(rec_enc *e, const void *p, size_t len)
{
    if (e->nfields >= REC_MAX_FIELDS || (p != NULL && len >= QS_REC_NULL_LEN)) {
        e->failed = true;
        return;
    }
    uint8_t *lp = e->lens[e->nfields];
    put_be(lp, p == NULL ? QS_REC_NULL_LEN : (uint64_t)len, 4);
    e->parts[e->nparts++] = (qs_hsm_buf){lp, 4};
    if (p != NULL && len > 0)
        e->parts[e->nparts++] = (qs_hsm_buf){p, len};
    e->nfields++;
}

static void enc_text(rec_enc *e, const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == cap) { /* not NUL-terminated within its buffer */
        e->failed = true;
        return;
    }
    enc_bytes(e, s, n);
}

static void enc_int(rec_enc *e, int64_t v)
{
    if (e->nfields >= REC_MAX_FIELDS) {
        e->failed = true;
        return;
    }
    uint8_t *ip = e->ints[e->nfields];
    put_be(ip, (uint64_t)v, 8);
    enc_bytes(e, ip, 8);
}

static void enc_sized(rec_enc *e, const uint8_t *p, size_t len, size_t cap)
{
    if (len > cap) {
        e->failed = true;
        return;
    }
    enc_bytes(e, p, len);
}

const char *qs_rec_table_name(qs_rec_table t)
{
    switch (t) {
    case QS_REC_USERS:
        return "users";
    case QS_REC_CREDENTIALS:
        return "credentials";
    case QS_REC_FACTOR_PIN:
        return "factor_pin";
    case QS_REC_FACTOR_TOTP:
        return "factor_totp";
    case QS_REC_SADS:
        return "sads";
    case QS_REC_SAD_HASHES:
        return "sad_hashes";
    case QS_REC_CERTIFICATES:
        return "certificates";
    case QS_REC_CA_STATE:
        return "ca_state";
    case QS_REC_EVIDENCE:
        return "identity_evidence";
    case QS_REC_ACTIVATION:
        return "activation_codes";
    case QS_REC_RA_SESSION:
        return "ra_sessions";
    }
    return "?";
}

#define TEXT(e, field) enc_text((e), (field), sizeof(field))

/* Optional text: "" stands for SQL NULL. */
static void enc_text_opt(rec_enc *e, const char *s, size_t cap)
{
    if (s[0] == '\0')
        enc_bytes(e, NULL, 0);
    else
        enc_text(e, s, cap);
}

#define TEXT_OPT(e, field) enc_text_opt((e), (field), sizeof(field))

static qs_err rec_build(const qs_rec *rec, rec_enc *e)
{
    memset(e, 0, sizeof *e);
    const char *table = qs_rec_table_name(rec->table);
    if (rec->row == NULL || strcmp(table, "?") == 0)
        return QS_ERR_INVALID_ARGUMENT;
    enc_bytes(e, QS_REC_DOMAIN, strlen(QS_REC_DOMAIN));
    enc_bytes(e, table, strlen(table));

    switch (rec->table) {
    case QS_REC_USERS: {
        const qs_db_user *u = rec->row;
        enc_bytes(e, u->id, sizeof u->id);
        TEXT(e, u->username);
        TEXT(e, u->kind);
        TEXT(e, u->status);
        break;
    }
    case QS_REC_CREDENTIALS: {
        const qs_db_credential *c = rec->row;
        enc_bytes(e, c->id, sizeof c->id);
        enc_bytes(e, c->user_id, sizeof c->user_id);
        TEXT(e, c->key_alg);
        enc_sized(e, c->spki, c->spki_len, sizeof c->spki);
        if (c->has_wrapped_key)
            enc_sized(e, c->wrapped_key, c->wrapped_key_len, sizeof c->wrapped_key);
        else
            enc_bytes(e, NULL, 0);
        TEXT(e, c->status);
        enc_int(e, c->failed_attempts);
        break;
    }
    case QS_REC_FACTOR_PIN: {
        const qs_db_factor_pin *f = rec->row;
        enc_bytes(e, f->user_id, sizeof f->user_id);
        TEXT(e, f->verifier);
        enc_int(e, f->failed_attempts);
        break;
    }
    case QS_REC_FACTOR_TOTP: {
        const qs_db_factor_totp *f = rec->row;
        enc_bytes(e, f->user_id, sizeof f->user_id);
        enc_sized(e, f->seed_ciphertext, f->seed_ciphertext_len, sizeof f->seed_ciphertext);
        TEXT(e, f->algorithm);
        enc_int(e, f->digits);
        enc_int(e, f->period);
        enc_int(e, f->last_step);
        enc_int(e, f->failed_attempts);
        break;
    }
    case QS_REC_SADS: {
        const qs_db_sad *s = rec->row;
        enc_bytes(e, s->sad_hash, sizeof s->sad_hash);
        enc_bytes(e, s->user_id, sizeof s->user_id);
        enc_bytes(e, s->credential_id, sizeof s->credential_id);
        TEXT(e, s->hash_alg);
        enc_int(e, s->num_signatures);
        enc_int(e, s->remaining);
        enc_bytes(e, s->hashes_sha256, sizeof s->hashes_sha256);
        enc_int(e, s->created_at_us);
        enc_int(e, s->expires_at_us);
        TEXT(e, s->auth_event_writer);
        enc_int(e, s->auth_event_seq);
        break;
    }
    case QS_REC_SAD_HASHES: {
        const qs_db_sad_hash *h = rec->row;
        if (rec->sad_hash == NULL)
            return QS_ERR_INVALID_ARGUMENT;
        enc_bytes(e, rec->sad_hash, QS_DB_SAM_SHA256_LEN);
        enc_sized(e, h->digest, h->digest_len, sizeof h->digest);
        if (h->consumed)
            enc_int(e, h->consumed_at_us);
        else
            enc_bytes(e, NULL, 0);
        break;
    }
    case QS_REC_CERTIFICATES: {
        const qs_db_certificate *c = rec->row;
        enc_sized(e, c->serial, c->serial_len, sizeof c->serial);
        enc_bytes(e, c->credential_id, sizeof c->credential_id);
        TEXT(e, c->issuer);
        TEXT(e, c->subject);
        enc_int(e, c->not_before_us);
        enc_int(e, c->not_after_us);
        enc_sized(e, c->der, c->der_len, sizeof c->der);
        TEXT(e, c->profile);
        TEXT(e, c->status);
        if (c->revoked) {
            enc_int(e, c->revoked_at_us);
            enc_int(e, c->reason);
        } else {
            enc_bytes(e, NULL, 0);
            enc_bytes(e, NULL, 0);
        }
        break;
    }
    case QS_REC_CA_STATE: {
        const qs_db_ca_state *c = rec->row;
        enc_int(e, 1);
        TEXT(e, c->key_label);
        TEXT(e, c->key_alg);
        TEXT(e, c->status);
        if (c->has_ca_cert)
            enc_sized(e, c->ca_cert, c->ca_cert_len, sizeof c->ca_cert);
        else
            enc_bytes(e, NULL, 0);
        if (c->has_csr)
            enc_sized(e, c->csr, c->csr_len, sizeof c->csr);
        else
            enc_bytes(e, NULL, 0);
        TEXT(e, c->ocsp_key_label);
        if (c->has_ocsp_cert)
            enc_sized(e, c->ocsp_cert, c->ocsp_cert_len, sizeof c->ocsp_cert);
        else
            enc_bytes(e, NULL, 0);
        enc_int(e, c->crl_number);
        break;
    }
    case QS_REC_EVIDENCE: {
        const qs_db_evidence *v = rec->row;
        enc_bytes(e, v->id, sizeof v->id);
        enc_bytes(e, v->user_id, sizeof v->user_id);
        TEXT(e, v->method);
        TEXT(e, v->document_type);
        enc_bytes(e, v->document_number_hash, sizeof v->document_number_hash);
        enc_bytes(e, v->document_salt, sizeof v->document_salt);
        TEXT(e, v->issuing_country);
        TEXT(e, v->officer);
        enc_int(e, v->verified_at_us);
        TEXT_OPT(e, v->notes);
        TEXT(e, v->profile);
        TEXT(e, v->country);
        TEXT(e, v->common_name);
        TEXT_OPT(e, v->given_name);
        TEXT_OPT(e, v->surname);
        TEXT_OPT(e, v->pseudonym);
        TEXT_OPT(e, v->serial_number);
        TEXT_OPT(e, v->organization);
        TEXT_OPT(e, v->organization_id);
        break;
    }
    case QS_REC_ACTIVATION: {
        const qs_db_activation *a = rec->row;
        enc_bytes(e, a->user_id, sizeof a->user_id);
        enc_bytes(e, a->code_hash, sizeof a->code_hash);
        enc_int(e, a->created_at_us);
        enc_int(e, a->expires_at_us);
        if (a->used)
            enc_int(e, a->used_at_us);
        else
            enc_bytes(e, NULL, 0);
        enc_int(e, a->failed_attempts);
        break;
    }
    case QS_REC_RA_SESSION: {
        const qs_db_ra_session *r = rec->row;
        enc_bytes(e, r->session_hash, sizeof r->session_hash);
        enc_bytes(e, r->officer_id, sizeof r->officer_id);
        TEXT(e, r->role);
        enc_int(e, r->created_at_us);
        enc_int(e, r->expires_at_us);
        break;
    }
    }
    if (e->failed) {
        qs_bug("record of %s does not encode (a length over its buffer)", table);
        return QS_ERR_INVALID_ARGUMENT;
    }
    return QS_OK;
}

#undef TEXT
#undef TEXT_OPT

qs_err qs_rec_mac(qs_hsm_session *hs, const qs_rec *rec, uint8_t mac[static QS_REC_MAC_LEN])
{
    rec_enc e;
    memset(mac, 0, QS_REC_MAC_LEN);
    qs_err r = rec_build(rec, &e);
    if (r == QS_OK)
        r = qs_hsm_hmac_parts(hs, QS_HSM_RECORD_MAC, e.parts, e.nparts, mac);
    qs_wipe(&e, sizeof e);
    return r;
}

qs_err qs_rec_check(qs_hsm_session *hs, const qs_rec *rec, const uint8_t mac[static QS_REC_MAC_LEN])
{
    uint8_t want[QS_REC_MAC_LEN];
    qs_err r = qs_rec_mac(hs, rec, want);
    if (r == QS_OK && !qs_ct_equal(want, mac, QS_REC_MAC_LEN))
        r = QS_ERR_MAC;
    qs_wipe(want, sizeof want);
    return r;
}

qs_err qs_rec_encode(const qs_rec *rec, uint8_t **out, size_t *len)
{
    rec_enc e;
    uint8_t *buf = NULL;
    size_t total = 0;

    *out = NULL;
    *len = 0;
    qs_err r = rec_build(rec, &e);
    if (r != QS_OK)
        goto out;
    for (size_t i = 0; i < e.nparts; i++)
        total += e.parts[i].len;
    if ((buf = malloc(total == 0 ? 1 : total)) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    size_t pos = 0;
    for (size_t i = 0; i < e.nparts; i++) {
        memcpy(buf + pos, e.parts[i].p, e.parts[i].len);
        pos += e.parts[i].len;
    }
    *out = buf;
    *len = total;
    r = QS_OK;
out:
    qs_wipe(&e, sizeof e);
    return r;
}
