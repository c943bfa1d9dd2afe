/*
 * EXTEND (CSC credentials/extendTransaction): for a valid, unexpired SAD of this user and
 * credential, issues a new SAD carrying the old one's unconsumed digests plus new ones, and
 * retires the old SAD (remaining 0).
 *
 * The new digests must be distinct and not already in the SAD, and the unconsumed plus new
 * digests must fit in the signatures still remaining (so the total never exceeds
 * NUM_SIGNATURES).  The new SAD keeps the old one's NUM_SIGNATURES, remaining count, expiry
 * (an extension never prolongs an authorization) and authentication event.
 *
 * Order: one transaction checks everything and retires the old SAD; then the sad.extended audit
 * record (with both SAD refs) is durably committed; then the new SAD is inserted.  A failure
 * after the first step leaves the old SAD retired and no new one: the signer authorizes again.
 * Audited as sad.extended or extend.refused.
 */
#define QS_LOG_MODULE "sam"
#include <stdlib.h>
#include <string.h>

#include "sam/records.h"
#include "sam/sam.h"
#include "util/log.h"
#include "util/secret.h"

typedef struct extend_ctx {
    sam_req *rq;
    uint8_t user_id[QS_DB_SAM_UUID_LEN];
    uint8_t cred_id[QS_DB_SAM_UUID_LEN];
    uint8_t old_hash[QS_DB_SAM_SHA256_LEN];
    qs_hash_alg halg;
    const sam_digest *added; /* the request's new digests */
    size_t n_added;
    int64_t now_us;
    qs_db_credential *cred;
    /* out */
    qs_db_sad old;
    qs_db_sad_hash *carried; /* unconsumed digests of the old SAD (malloc'd) */
    size_t n_carried;
    const char *reason;
} extend_ctx;

static qs_err refuse(extend_ctx *e, const char *reason, qs_err code)
{
    e->reason = reason;
    return code;
}

static qs_err extend_txn(qs_db *db, void *cls)
{
    extend_ctx *e = cls;
    sam_req *rq = e->rq;
    qs_hsm_session *hs = rq->w->hs;
    qs_db_sad_hash *rows = NULL;
    sam_digest *set = NULL;
    size_t count = 0;
    bool found = false;
    qs_err r;

    e->reason = NULL;
    e->now_us = sam_now_us(); /* per attempt: a retry may come much later */
    free(e->carried);
    e->carried = NULL;
    e->n_carried = 0;
    if ((r = sam_sad_lock_usable(rq, db, e->old_hash, e->user_id, e->cred_id, e->halg, e->now_us,
                                 &e->old, &e->reason)) != QS_OK)
        goto out;
    if ((r = qs_db_sad_hashes_lock(db, e->old_hash, &rows, &count)) != QS_OK)
        goto out;
    if ((set = calloc(count == 0 ? 1 : count, sizeof *set)) == NULL ||
        (e->carried = calloc(count + e->n_added, sizeof *e->carried)) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        qs_rec hrec = qs_rec_sad_hash(e->old_hash, &rows[i]);
        if ((r = qs_rec_check(hs, &hrec, rows[i].record_mac)) != QS_OK)
            break;
        set[i] = (sam_digest){rows[i].digest, rows[i].digest_len};
        if (!rows[i].consumed) {
            memcpy(e->carried[e->n_carried].digest, rows[i].digest, rows[i].digest_len);
            e->carried[e->n_carried].digest_len = rows[i].digest_len;
            e->n_carried++;
        }
    }
    if (r == QS_OK) {
        uint8_t sha[QS_DB_SAM_SHA256_LEN];
        qsort(set, count, sizeof *set, sam_digest_cmp);
        sam_hashes_sha256(set, count, sha);
        if (!qs_ct_equal(sha, e->old.hashes_sha256, sizeof sha))
            r = QS_ERR_MAC;
    }
    if (r != QS_OK) {
        if (r == QS_ERR_MAC) {
            sam_mac_mismatch(rq, "sad_hashes", e->user_id, e->cred_id, e->old_hash);
            e->reason = "record_mac";
        }
        goto out;
    }
    for (size_t i = 0; i < e->n_added; i++) {
        if (bsearch(&e->added[i], set, count, sizeof *set, sam_digest_cmp) != NULL) {
            r = refuse(e, "hash_already_in_sad", QS_ERR_INVALID_ARGUMENT);
            goto out;
        }
    }
    if (e->n_carried + e->n_added > (size_t)e->old.remaining) {
        r = refuse(e, "too_many_signatures", QS_ERR_TOO_MANY_SIGNATURES);
        goto out;
    }

    if ((r = qs_db_credential_get(db, e->cred_id, e->cred, &found)) != QS_OK)
        goto out;
    if (!found) {
        qs_bug("SAD refers to a credential that does not exist");
        r = QS_ERR_INTERNAL;
        goto out;
    }
    qs_rec rec = qs_rec_credential(e->cred);
    if ((r = qs_rec_check(hs, &rec, e->cred->record_mac)) != QS_OK) {
        if (r == QS_ERR_MAC) {
            sam_mac_mismatch(rq, "credentials", e->user_id, e->cred_id, e->old_hash);
            e->reason = "record_mac";
        }
        goto out;
    }
    if (strcmp(e->cred->status, QS_DB_CRED_LOCKED) == 0) {
        r = refuse(e, "credential_locked", QS_ERR_AUTH_LOCKED);
        goto out;
    }
    if (strcmp(e->cred->status, QS_DB_CRED_ENABLED) != 0) {
        r = refuse(e, "credential_disabled", QS_ERR_CREDENTIAL_DISABLED);
        goto out;
    }

    /* retire the old SAD; its remaining count moves to the new one */
    qs_db_sad retired = e->old;
    retired.remaining = 0;
    rec = qs_rec_sad(&retired);
    if ((r = qs_rec_mac(hs, &rec, retired.record_mac)) != QS_OK ||
        (r = qs_db_sad_update_remaining(db, e->old_hash, 0, retired.record_mac)) != QS_OK)
        goto out;
    r = QS_OK;
out:
    free(rows);
    free(set);
    return r;
}

typedef struct store_ctx {
    const qs_db_sad *sad;
    const qs_db_sad_hash *hashes;
    size_t n;
} store_ctx;

static qs_err store_txn(qs_db *db, void *cls)
{
    store_ctx *s = cls;
    qs_err r = qs_db_sad_insert(db, s->sad);
    if (r == QS_OK)
        r = qs_db_sad_hashes_insert(db, s->sad->sad_hash, s->hashes, s->n);
    return r;
}

static const char *refusal_message(qs_err r)
{
    switch (r) {
    case QS_ERR_SAD_INVALID:
        return "SAD invalid for this user and credential";
    case QS_ERR_SAD_EXPIRED:
        return "SAD expired";
    case QS_ERR_HASH_NOT_AUTHORIZED:
        return "hash algorithm differs from the SAD's";
    case QS_ERR_INVALID_ARGUMENT:
        return "a hash is in the SAD already";
    case QS_ERR_TOO_MANY_SIGNATURES:
        return "Numbers of signatures is too high";
    case QS_ERR_AUTH_LOCKED:
        return "Credential locked";
    case QS_ERR_MAC:
        return "a stored record failed its integrity check";
    default:
        return NULL;
    }
}

qs_err sam_h_extend(sam_req *rq)
{
    static const char refused[] = "extend.refused";
    extend_ctx e;
    sam_digest *added = NULL, *all = NULL;
    qs_db_sad sad;
    char sad_b64[QS_SAD_B64_BUF];
    size_t sad_len = 0;
    uint32_t wire_hash = 0;
    bool sad_parsed = false;
    qs_err r;

    memset(&e, 0, sizeof e);
    memset(&sad, 0, sizeof sad);
    memset(sad_b64, 0, sizeof sad_b64);
    e.rq = rq;
    if ((r = sam_req_uuid(rq, QS_SAM_T_USER_ID, "user id", refused, e.user_id)) != QS_OK ||
        (r = sam_req_uuid(rq, QS_SAM_T_CREDENTIAL_ID, "credential id", refused, e.cred_id)) !=
            QS_OK)
        return r;
    const char *old_b64 = qs_sam_msg_get_str(rq->msg, QS_SAM_T_SAD, &sad_len);
    if (old_b64 == NULL || qs_sad_handle_hash(old_b64, sad_len, e.old_hash) != QS_OK) {
        e.reason = "malformed_sad";
        r = sam_fail(rq, QS_ERR_SAD_INVALID, "malformed SAD");
        goto out;
    }
    sad_parsed = true;
    (void)qs_sam_msg_get_u32(rq->msg, QS_SAM_T_HASH_ALG, &wire_hash);
    if (!sam_hash_alg_from_wire(wire_hash, &e.halg)) {
        e.reason = "hash_alg";
        r = sam_fail(rq, QS_ERR_UNSUPPORTED, "unknown hash algorithm");
        goto out;
    }
    if ((r = sam_req_hashes(rq, e.halg, refused, e.user_id, e.cred_id, &added, &e.n_added)) !=
        QS_OK)
        return r;
    e.added = added;
    if ((e.cred = qs_secret_alloc(sizeof *e.cred)) == NULL) {
        r = sam_fail(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }
    r = qs_db_run_txn(rq->w->db, "extend", extend_txn, &e);
    if (r != QS_OK) {
        if (e.reason == NULL)
            e.reason = "error";
        sam_fail(rq, r, refusal_message(r));
        goto out;
    }

    /* the new SAD: carried digests, then the added ones */
    size_t n = e.n_carried + e.n_added;
    for (size_t i = 0; i < e.n_added; i++) {
        memcpy(e.carried[e.n_carried + i].digest, added[i].p, added[i].len);
        e.carried[e.n_carried + i].digest_len = added[i].len;
    }
    if ((all = calloc(n, sizeof *all)) == NULL) {
        e.reason = "error";
        r = sam_fail(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        all[i] = (sam_digest){e.carried[i].digest, e.carried[i].digest_len};
    qsort(all, n, sizeof *all, sam_digest_cmp);
    if ((r = qs_sad_handle_new(sad_b64, sad.sad_hash)) != QS_OK) {
        e.reason = "sad_handle";
        sam_fail(rq, r, NULL);
        goto out;
    }
    memcpy(sad.user_id, e.user_id, sizeof sad.user_id);
    memcpy(sad.credential_id, e.cred_id, sizeof sad.credential_id);
    memcpy(sad.hash_alg, e.old.hash_alg, sizeof sad.hash_alg);
    sad.num_signatures = e.old.num_signatures;
    sad.remaining = e.old.remaining;
    sam_hashes_sha256(all, n, sad.hashes_sha256);
    sad.created_at_us = e.now_us;
    sad.expires_at_us = e.old.expires_at_us;
    memcpy(sad.auth_event_writer, e.old.auth_event_writer, sizeof sad.auth_event_writer);
    sad.auth_event_seq = e.old.auth_event_seq;

    sam_json j;
    sam_json_init(&j);
    sam_json_hex(&j, "previous_sad", e.old_hash, sizeof e.old_hash);
    sam_json_int(&j, "hashes_added", (int64_t)e.n_added);
    sam_json_int(&j, "hashes_carried", (int64_t)e.n_carried);
    sam_json_int(&j, "remaining", sad.remaining);
    sam_json_hex(&j, "hashes_sha256", sad.hashes_sha256, sizeof sad.hashes_sha256);
    sam_json_str(&j, "auth_event_writer", sad.auth_event_writer);
    sam_json_int(&j, "auth_event_seq", sad.auth_event_seq);
    const char *details = sam_json_finish(&j);
    r = details == NULL ? QS_ERR_NOMEM
                        : sam_audit(rq, "sad.extended", true, e.user_id, e.cred_id, sad.sad_hash,
                                    details, NULL);
    sam_json_free(&j);
    if (r != QS_OK) {
        sam_fail(rq, r, "the extension could not be audited");
        goto out;
    }
    qs_rec rec = qs_rec_sad(&sad);
    if ((r = qs_rec_mac(rq->w->hs, &rec, sad.record_mac)) != QS_OK) {
        e.reason = "hsm_error";
        sam_fail(rq, r, NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        qs_rec hrec = qs_rec_sad_hash(sad.sad_hash, &e.carried[i]);
        if ((r = qs_rec_mac(rq->w->hs, &hrec, e.carried[i].record_mac)) != QS_OK) {
            e.reason = "hsm_error";
            sam_fail(rq, r, NULL);
            goto out;
        }
    }
    store_ctx st = {&sad, e.carried, n};
    if ((r = qs_db_run_txn(rq->w->db, "extend_store_sad", store_txn, &st)) != QS_OK) {
        e.reason = "sad_not_stored";
        sam_fail(rq, r, NULL);
        goto out;
    }
    if ((r = sam_resp_begin(rq)) != QS_OK)
        goto out;
    if (qs_sam_msg_put_strn(rq->resp, QS_SAM_T_SAD, sad_b64, QS_SAD_B64_LEN) != QS_OK ||
        qs_sam_msg_put_u32(rq->resp, QS_SAM_T_EXPIRES_IN,
                           sam_expires_in(sad.expires_at_us, sam_now_us())) != QS_OK) {
        r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
        goto out;
    }
    qs_info("SAD extended by %zu hash%s", e.n_added, e.n_added == 1 ? "" : "es");
    r = QS_OK;
out:
    if (r != QS_OK && e.reason != NULL)
        sam_audit_refusal(rq, refused, e.reason, e.user_id, e.cred_id,
                          sad_parsed ? e.old_hash : NULL);
    qs_wipe(sad_b64, sizeof sad_b64);
    qs_secret_free(e.cred);
    free(e.carried);
    free(added);
    free(all);
    qs_wipe(&e, sizeof e);
    return r;
}
