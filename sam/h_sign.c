/*
 * SIGN: signs digests an SAD authorized, each at most once (invariant 2), and releases the
 * signatures only after their audit records are durably committed (invariant 1).  The steps
 * up to the consumption are shared with SIGN_DOC (sam/sign.c).
 *
 * 1. The request is checked: ids, digest lengths, no duplicate hash, the PSS parameters (only
 *    the defaults: salt length and MGF1 hash of the digest's algorithm).
 * 2. One READ COMMITTED transaction: the SAD row (found by the SHA-256 of the presented handle)
 *    is locked and its MAC checked; it must be the user's and the credential's, unexpired, for
 *    this hash algorithm, with signatures remaining and at least as many as requested.  Then
 *    one statement locks the digest rows of exactly the requested digests (sad = $1 AND
 *    digest = ANY($2)) and their MACs are checked; every requested digest must have a row, and
 *    it must be unconsumed.  The credential's MAC is checked, its certificate (if it has one)
 *    must be neither revoked nor expired, it must be enabled with its wrapped key present, and
 *    the scheme must fit the key.  The digests are then marked consumed and remaining
 *    decremented (new MACs), and the transaction commits.
 * 3. The key is unwrapped in the HSM, all digests are signed in one session, the key object is
 *    destroyed.
 * 4. One signature.created audit record per signature (qs_audit_append_many, one commit).  Only
 *    when that returns QS_OK are the signatures answered; on any failure after step 2 they are
 *    wiped, the failure is audited (sign.failed) and an error is answered.  The digests stay
 *    consumed: failing closed never allows a second signature.
 *
 * Why checking only the requested digest rows is as strong as checking every row of the SAD
 * (invariants 2 and 3 with a database writer who is not the SAM):
 *
 * - What a digest row's MAC binds (sam/records.h): the SAD's sad_hash, the digest, and
 *   consumed_at (NULL while unused).  The SAD's hash algorithm and digest count are in the SAD
 *   row's MAC, and the digest's length is checked against that algorithm.  So a row forged, or
 *   copied from another SAD (its MAC names the other sad_hash), or whose digest was changed, or
 *   whose consumed_at was reset to NULL, fails its MAC check; a MAC cannot move between rows or
 *   tables either.  Only the SAM, with the HSM's record-MAC key, makes a row that passes, and it
 *   makes a SAD's unconsumed rows only at AUTHORIZE (EXTEND makes a new SAD).
 * - Rows that are not requested cannot be signed by this request: only the requested digests
 *   are signed, and each of them must have a row of its own that passes.  Whatever was done to
 *   the other rows gains this request nothing, and any later request that names one of them
 *   checks that row in turn.  So a tampered row stops exactly the requests that name its
 *   digest (audited as record.mac_mismatch), not the others.
 * - Deleting rows only removes authority: a digest without a row is "not authorized".
 *   Inserting a row needs a valid MAC for this SAD, which only AUTHORIZE makes.
 * - The SAD row's MAC still bounds the count: remaining (MACed with num_signatures) drops with
 *   every consumption, and a request for more digests than remain is refused whatever the
 *   digest rows say.
 * - hashes_sha256 (the set of the SAD's digests, in the SAD row's MAC) is therefore not needed
 *   here; EXTEND, which carries every unconsumed digest of a SAD into a new one, still reads
 *   all rows and compares the set.
 * - Concurrent uses of one SAD are serialized by the SAD row's lock, taken before the digest
 *   rows are read, so a digest consumed by an earlier holder is seen consumed.
 * What a MAC cannot give is freshness (sam/records.h): a writer who kept the older, validly
 * MACed unconsumed version of a digest row could put it back and have that digest signed again
 * while the SAD has signatures left (more than num_signatures in all only by putting back the
 * SAD row too).  Checking every row would not see it either: the set of digests is the same.
 *
 * Every refusal is audited as sign.refused with its reason and answered with its own code.
 */
#define QS_LOG_MODULE "sam"
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "sam/sam.h"
#include "sam/sign.h"
#include "util/log.h"
#include "util/secret.h"

qs_err sam_h_sign(sam_req *rq)
{
    sam_sign s = {
        .rq = rq,
        .refused_event = "sign.refused",
        .failed_event = "sign.failed",
    };
    uint8_t **sigs = NULL;
    size_t *sig_lens = NULL;
    const uint8_t **dptrs = NULL;
    uint8_t(*sig_sha)[QS_SHA256_LEN] = NULL;
    size_t cap = 0;
    qs_err r;

    if ((r = sam_sign_authorize(&s)) != QS_OK)
        goto out;

    cap = qs_hsm_sig_max(s.key_alg);
    sigs = calloc(s.n, sizeof *sigs);
    sig_lens = calloc(s.n, sizeof *sig_lens);
    dptrs = calloc(s.n, sizeof *dptrs);
    sig_sha = calloc(s.n, sizeof *sig_sha);
    if (sigs == NULL || sig_lens == NULL || dptrs == NULL || sig_sha == NULL) {
        r = sam_sign_failed(&s, "memory", QS_ERR_NOMEM);
        goto out;
    }
    for (size_t i = 0; i < s.n; i++) {
        if ((sigs[i] = malloc(cap)) == NULL) {
            r = sam_sign_failed(&s, "memory", QS_ERR_NOMEM);
            goto out;
        }
        sig_lens[i] = cap;
        dptrs[i] = s.digests[i].p;
    }
    r = qs_hsm_sign_digests(rq->w->hs, s.key_alg, s.cred->wrapped_key, s.cred->wrapped_key_len,
                            s.scheme, s.halg, dptrs, s.n, sigs, sig_lens);
    qs_wipe(s.cred->wrapped_key, sizeof s.cred->wrapped_key);
    if (r != QS_OK) {
        qs_error("signing with credential failed in the HSM: %s", qs_err_name(r));
        r = sam_sign_failed(&s, "hsm", r);
        goto out;
    }
    for (size_t i = 0; i < s.n; i++)
        crypto_hash_sha256(sig_sha[i], sigs[i], sig_lens[i]);
    if ((r = sam_sign_audit(&s, sig_sha, NULL, NULL)) != QS_OK) {
        r = sam_sign_failed(&s, "audit", r);
        goto out;
    }

    /* audited and committed: the signatures may leave */
    if ((r = sam_resp_begin(rq)) != QS_OK)
        goto out;
    for (size_t i = 0; i < s.n; i++) {
        if (qs_sam_msg_put_bytes(rq->resp, QS_SAM_T_SIGNATURE, sigs[i], sig_lens[i]) != QS_OK) {
            r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
            goto out;
        }
    }
    qs_info("%zu signature%s made (%s)", s.n, s.n == 1 ? "" : "s", sam_sig_scheme_name(s.scheme));
    r = QS_OK;
out:
    if (sigs != NULL) {
        for (size_t i = 0; i < s.n; i++)
            qs_free_wiped(sigs[i], sigs[i] != NULL ? cap : 0);
    }
    free(sigs);
    free(sig_lens);
    free(dptrs);
    free(sig_sha);
    sam_sign_end(&s, r);
    qs_wipe(&s, sizeof s);
    return r;
}
