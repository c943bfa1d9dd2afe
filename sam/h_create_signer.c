/*
 * CREATE_SIGNER (admin peers, or an officer's RA session): registers a signer after identity
 * validation.  In one transaction: the user (kind signer, active), the identity evidence (how
 * the person was identified, the document's type, issuing country and number, by whom, when,
 * and the subject attributes verified, from which certificates are later made) and an
 * activation code.  The answer carries the user id and the activation code, once.
 *
 * The subject is checked against the profile's kind as the CA will check it (ca_subject_validate),
 * so a signer whose certificate could not be issued is never registered; a refusal names the
 * field.  The document number is stored only as HMAC-SHA-256 under the HSM pepper key of a
 * random salt and the normalized number.  The activation code (120 random bits, base32) is
 * stored as its SHA-256; it lets the signer set their own PIN and TOTP (ACTIVATE), so no one
 * else ever knows the signer's factors.  Audited as signer.created (naming the evidence row) or
 * signer.create_refused.
 */
#define QS_LOG_MODULE "sam"
#include <ctype.h>
#include <sodium.h>
#include <string.h>

#include "ca/ca.h"
#include "sam/ca.h"
#include "sam/records.h"
#include "sam/sam.h"
#include "sam/signer.h"
#include "util/log.h"
#include "util/secret.h"

#define DOC_DOMAIN "qsign-document-number-v1"

typedef struct signer_ctx {
    sam_req *rq;
    qs_db_user user;
    qs_db_evidence ev;
    qs_db_activation act;
    const char *reason;
} signer_ctx;

static qs_err signer_txn(qs_db *db, void *cls)
{
    signer_ctx *c = cls;
    qs_err r = qs_db_user_insert(db, &c->user);
    if (r == QS_ERR_EXISTS)
        c->reason = "username_taken";
    if (r != QS_OK)
        return r;
    if ((r = qs_db_evidence_insert(db, &c->ev)) != QS_OK)
        return r;
    return qs_db_activation_put(db, &c->act);
}

static bool username_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > QS_DB_USERNAME_MAX || !isalnum((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && strchr("._@+-", ch) == NULL)
            return false;
    }
    return true;
}

/* The document number without spaces and dashes, upper case: 1..64 of [A-Z0-9<./]. */
static bool normalize_doc(const char *in, char out[static 65])
{
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p != '\0'; p++) {
        if (*p == ' ' || *p == '-')
            continue;
        unsigned char ch = (unsigned char)toupper(*p);
        if (!(isalnum(ch) && ch < 0x80) && ch != '<' && ch != '.' && ch != '/')
            return false;
        if (k >= 64)
            return false;
        out[k++] = (char)ch;
    }
    out[k] = '\0';
    return k > 0;
}

static const char *method_name(uint32_t v)
{
    switch ((qs_sam_evidence_method)v) {
    case QS_SAM_EVIDENCE_PHYSICAL:
        return "physical";
    case QS_SAM_EVIDENCE_REMOTE:
        return "remote";
    }
    return NULL;
}

static const char *doc_type_name(uint32_t v)
{
    switch ((qs_sam_document_type)v) {
    case QS_SAM_DOC_PASSPORT:
        return "passport";
    case QS_SAM_DOC_ID_CARD:
        return "id_card";
    case QS_SAM_DOC_RESIDENCE_PERMIT:
        return "residence_permit";
    case QS_SAM_DOC_DRIVING_LICENCE:
        return "driving_licence";
    }
    return NULL;
}

static void copy_opt(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

qs_err sam_h_create_signer(sam_req *rq)
{
    static const char refused[] = "signer.create_refused";
    const sam_config *cfg = rq->w->s->cfg;
    const qs_sam_msg *m = rq->msg;
    signer_ctx *c = NULL;
    char code[SAM_ACTIVATION_CODE_LEN + 1];
    char doc[65];
    char msg[CA_WHY_TEXT_MAX + 120];
    qs_err r;

    memset(code, 0, sizeof code);
    memset(doc, 0, sizeof doc);
    if ((r = sam_ra_authorize(rq, refused)) != QS_OK)
        return r;
    if ((c = qs_secret_alloc(sizeof *c)) == NULL)
        return sam_fail(rq, QS_ERR_NOMEM, NULL);
    memset(c, 0, sizeof *c);
    c->rq = rq;

    const char *username = qs_sam_msg_get_str(m, QS_SAM_T_USERNAME, NULL);
    const char *profile_name = qs_sam_msg_get_str(m, QS_SAM_T_PROFILE, NULL);
    ca_profile profile;
    ca_why why;
    if (!username_ok(username)) {
        c->reason = "username";
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT,
                     "username: 1..128 characters of [A-Za-z0-9._@+-], starting with a letter "
                     "or digit");
        goto out;
    }
    if (ca_profile_defaults(profile_name, &profile, &why) != QS_OK) {
        c->reason = "profile";
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT, "profile: qcp-n-qscd or qcp-l-qscd");
        goto out;
    }
    ca_subject subj = {
        .kind = profile.kind,
        .country = qs_sam_msg_get_str(m, QS_SAM_T_COUNTRY, NULL),
        .common_name = qs_sam_msg_get_str(m, QS_SAM_T_COMMON_NAME, NULL),
        .given_name = qs_sam_msg_get_str(m, QS_SAM_T_GIVEN_NAME, NULL),
        .surname = qs_sam_msg_get_str(m, QS_SAM_T_SURNAME, NULL),
        .pseudonym = qs_sam_msg_get_str(m, QS_SAM_T_PSEUDONYM, NULL),
        .serial_number = qs_sam_msg_get_str(m, QS_SAM_T_SERIAL_NUMBER, NULL),
        .organization = qs_sam_msg_get_str(m, QS_SAM_T_ORGANIZATION, NULL),
        .organization_id = qs_sam_msg_get_str(m, QS_SAM_T_ORGANIZATION_ID, NULL),
    };
    if (ca_subject_validate(&subj, &why) != QS_OK) {
        c->reason = "subject";
        snprintf(msg, sizeof msg, "subject.%s: %s", why.field, why.text);
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT, msg);
        goto out;
    }
    uint32_t method = 0, doc_type = 0;
    (void)qs_sam_msg_get_u32(m, QS_SAM_T_EVIDENCE_METHOD, &method);
    (void)qs_sam_msg_get_u32(m, QS_SAM_T_DOCUMENT_TYPE, &doc_type);
    const char *doc_country = qs_sam_msg_get_str(m, QS_SAM_T_DOCUMENT_COUNTRY, NULL);
    const char *notes = qs_sam_msg_get_str(m, QS_SAM_T_NOTES, NULL);
    if (method_name(method) == NULL || doc_type_name(doc_type) == NULL) {
        c->reason = "evidence";
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT, "evidence.method / evidence.documentType");
        goto out;
    }
    if (doc_country == NULL || !ca_country_valid(doc_country)) {
        c->reason = "document_country";
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT,
                     "evidence.issuingCountry: not an ISO 3166-1 alpha-2 code");
        goto out;
    }
    if (!normalize_doc(qs_sam_msg_get_str(m, QS_SAM_T_DOCUMENT_NUMBER, NULL), doc)) {
        c->reason = "document_number";
        r = sam_fail(rq, QS_ERR_INVALID_ARGUMENT,
                     "evidence.documentNumber: 1..64 letters and digits (spaces and dashes are "
                     "ignored)");
        goto out;
    }

    int64_t now_us = sam_now_us();
    qs_db_user *u = &c->user;
    sam_uuid_new(u->id);
    snprintf(u->username, sizeof u->username, "%s", username);
    snprintf(u->kind, sizeof u->kind, "%s", QS_DB_USER_SIGNER);
    snprintf(u->status, sizeof u->status, "%s", QS_DB_USER_ACTIVE);

    qs_db_evidence *e = &c->ev;
    sam_uuid_new(e->id);
    memcpy(e->user_id, u->id, sizeof e->user_id);
    snprintf(e->method, sizeof e->method, "%s", method_name(method));
    snprintf(e->document_type, sizeof e->document_type, "%s", doc_type_name(doc_type));
    qs_random(e->document_salt, sizeof e->document_salt);
    qs_hsm_buf parts[3] = {{(const uint8_t *)DOC_DOMAIN, sizeof DOC_DOMAIN - 1},
                           {e->document_salt, sizeof e->document_salt},
                           {(const uint8_t *)doc, strlen(doc)}};
    if ((r = qs_hsm_hmac_parts(rq->w->hs, QS_HSM_PEPPER, parts, 3, e->document_number_hash)) !=
        QS_OK) {
        c->reason = "hsm_error";
        sam_fail(rq, r, NULL);
        goto out;
    }
    snprintf(e->issuing_country, sizeof e->issuing_country, "%s", doc_country);
    char actor[QS_AUDIT_ACTOR_MAX + 1];
    sam_actor(rq, NULL, actor);
    snprintf(e->officer, sizeof e->officer, "%s", actor);
    e->verified_at_us = now_us;
    copy_opt(e->notes, sizeof e->notes, notes);
    snprintf(e->profile, sizeof e->profile, "%s", profile.name);
    copy_opt(e->country, sizeof e->country, subj.country);
    copy_opt(e->common_name, sizeof e->common_name, subj.common_name);
    copy_opt(e->given_name, sizeof e->given_name, subj.given_name);
    copy_opt(e->surname, sizeof e->surname, subj.surname);
    copy_opt(e->pseudonym, sizeof e->pseudonym, subj.pseudonym);
    copy_opt(e->serial_number, sizeof e->serial_number, subj.serial_number);
    copy_opt(e->organization, sizeof e->organization, subj.organization);
    copy_opt(e->organization_id, sizeof e->organization_id, subj.organization_id);

    qs_db_activation *a = &c->act;
    sam_activation_code_new(code, a->code_hash);
    memcpy(a->user_id, u->id, sizeof a->user_id);
    a->created_at_us = now_us;
    a->expires_at_us = now_us + cfg->activation_lifetime * 1000000;

    qs_rec ur = qs_rec_user(u), er = qs_rec_evidence(e), ar = qs_rec_activation(a);
    if ((r = qs_rec_mac(rq->w->hs, &ur, u->record_mac)) != QS_OK ||
        (r = qs_rec_mac(rq->w->hs, &er, e->record_mac)) != QS_OK ||
        (r = qs_rec_mac(rq->w->hs, &ar, a->record_mac)) != QS_OK) {
        c->reason = "hsm_error";
        sam_fail(rq, r, NULL);
        goto out;
    }
    if ((r = qs_db_run_txn(rq->w->db, "create_signer", signer_txn, c)) != QS_OK) {
        if (c->reason == NULL)
            c->reason = "database_error";
        sam_fail(rq, r, r == QS_ERR_EXISTS ? "username taken" : NULL);
        goto out;
    }

    char eid[SAM_UUID_STR_LEN + 1];
    sam_uuid_format(e->id, eid);
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "evidence_id", eid);
    sam_json_str(&j, "method", e->method);
    sam_json_str(&j, "document_type", e->document_type);
    sam_json_str(&j, "issuing_country", e->issuing_country);
    sam_json_str(&j, "profile", e->profile);
    sam_json_int(&j, "activation_expires_at", a->expires_at_us / 1000000);
    const char *details = sam_json_finish(&j);
    r = details == NULL ? QS_ERR_NOMEM
                        : sam_audit(rq, "signer.created", true, u->id, NULL, NULL, details, NULL);
    sam_json_free(&j);
    if (r != QS_OK) {
        sam_fail(rq, r, "signer registered, but its audit record failed");
        goto out;
    }
    char id[SAM_UUID_STR_LEN + 1];
    sam_uuid_format(u->id, id);
    if ((r = sam_resp_begin(rq)) != QS_OK)
        goto out;
    if (qs_sam_msg_put_str(rq->resp, QS_SAM_T_USER_ID, id) != QS_OK ||
        qs_sam_msg_put_u64(rq->resp, QS_SAM_T_EXPIRES_AT, (uint64_t)(a->expires_at_us / 1000000)) !=
            QS_OK ||
        qs_sam_msg_put_str(rq->resp, QS_SAM_T_ACTIVATION_CODE, code) != QS_OK) {
        r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
        goto out;
    }
    qs_info("signer %s registered (evidence %s)", id, eid);
    r = QS_OK;
out:
    if (r != QS_OK && c->reason != NULL)
        sam_audit_refusal(rq, refused, c->reason, NULL, NULL, NULL);
    qs_wipe(code, sizeof code);
    qs_wipe(doc, sizeof doc);
    qs_secret_free(c);
    return r;
}
