/*
 * OCSP (every peer: public data): answers a DER OCSPRequest (RFC 6960) that qsignd relays from
 * the internet.  The request is parsed strictly (ca_ocsp_request_parse); a malformed one gets
 * the malformedRequest response, not an ERROR, so qsignd relays it as it is.  Each CertID of
 * this CA gets the status of its certificate row (MAC checked): good, revoked (time, reason)
 * or unknown; ArchiveCutoff is the CA's notBefore, as nothing is ever dropped.  The response is
 * signed by the delegated responder key in the token.  Responses to requests without a nonce
 * are cached for [ca] ocsp_cache_seconds (also their nextUpdate); a revocation empties the
 * cache.  A failing lookup answers tryLater.
 */
#define QS_LOG_MODULE "sam"
#include <stdlib.h>
#include <string.h>

#include "sam/ca.h"
#include "sam/sam.h"
#include "util/log.h"

typedef struct ocsp_ctx {
    sam_req *rq;
    qs_db *db;
    const ca_ocsp_request *req;
    const sam_ca_view *v;
    int64_t now_us;
    qs_db_certificate *row;
    uint8_t *der;
    size_t len;
} ocsp_ctx;

static qs_err lookup(void *cls, const uint8_t *serial, size_t serial_len, ca_cert_status *out)
{
    ocsp_ctx *c = cls;
    memset(out, 0, sizeof *out);
    qs_err r = sam_cert_load(c->rq, c->db, NULL, serial, serial_len, false, c->row);
    if (r == QS_ERR_NOT_FOUND) {
        out->state = CA_CERT_UNKNOWN;
        return QS_OK;
    }
    if (r != QS_OK)
        return r;
    if (c->row->revoked) {
        out->state = CA_CERT_REVOKED;
        out->revoked_at = (time_t)(c->row->revoked_at_us / 1000000);
        out->reason = (ca_crl_reason)c->row->reason;
    } else {
        out->state = CA_CERT_GOOD;
    }
    return QS_OK;
}

static qs_err ocsp_txn(qs_db *db, void *cls)
{
    ocsp_ctx *c = cls;
    ca_why why;
    free(c->der);
    c->der = NULL;
    c->len = 0;
    c->db = db;
    c->now_us = sam_now_us();
    time_t now = (time_t)(c->now_us / 1000000);
    ca_ocsp_response_params p = {
        .req = c->req,
        .lookup = lookup,
        .lookup_ctx = c,
        .responder_cert = c->v->ocsp_cert,
        .responder_key = c->v->ocsp_key,
        .ca_cert = c->v->ca_cert,
        .archive_cutoff = c->v->ca_not_before,
        .this_update = now,
        .next_update = now + (time_t)c->v->cfg->ocsp_cache_seconds,
    };
    qs_err r = ca_ocsp_response_build(&p, &c->der, &c->len, &why);
    if (r != QS_OK && r != QS_ERR_MAC && r != QS_ERR_DB && r != QS_ERR_DB_RETRY &&
        r != QS_ERR_DB_UNAVAILABLE)
        qs_error("OCSP response not built: %s (%s)", why.text, qs_err_name(r));
    return r;
}

qs_err sam_h_ocsp(sam_req *rq)
{
    sam_ca *ca = rq->w->s->ca;
    const uint8_t *in = NULL;
    size_t in_len = 0;
    ca_ocsp_request *req = NULL;
    ocsp_ctx c = {.rq = rq};
    sam_ca_view v;
    qs_err r;

    sam_ca_acquire(ca, &v);
    c.v = &v;
    (void)qs_sam_msg_get_bytes(rq->msg, QS_SAM_T_OCSP_REQUEST, 0, &in, &in_len);
    if (!v.active) {
        r = ca_ocsp_error_response(CA_OCSP_TRY_LATER, &c.der, &c.len);
        goto answer;
    }
    if ((req = malloc(sizeof *req)) == NULL || (c.row = malloc(sizeof *c.row)) == NULL) {
        r = QS_ERR_NOMEM;
        goto answer;
    }
    r = ca_ocsp_request_parse(in, in_len, req);
    if (r == QS_ERR_PARSE || r == QS_ERR_TOO_LARGE) {
        qs_info("malformed OCSP request (%zu bytes)", in_len);
        r = ca_ocsp_error_response(CA_OCSP_MALFORMED_REQUEST, &c.der, &c.len);
        goto answer;
    }
    if (r != QS_OK)
        goto answer;
    if (!req->has_nonce && sam_ca_ocsp_cached(ca, in, in_len, sam_now_us(), &c.der, &c.len))
        goto answer;
    c.req = req;
    r = qs_db_run_txn_opt(rq->w->db, "ocsp", QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED,
                          ocsp_txn, &c);
    if (r != QS_OK) {
        qs_warn("OCSP lookup failed: %s; answering tryLater", qs_err_name(r));
        free(c.der);
        c.der = NULL;
        r = ca_ocsp_error_response(CA_OCSP_TRY_LATER, &c.der, &c.len);
        goto answer;
    }
    if (!req->has_nonce)
        sam_ca_ocsp_store(ca, in, in_len, c.now_us + v.cfg->ocsp_cache_seconds * 1000000, c.der,
                          c.len);
answer:
    sam_ca_release(ca);
    if (r == QS_OK && c.len > 65536)
        r = QS_ERR_TOO_LARGE;
    if (r == QS_OK && (r = sam_resp_begin(rq)) == QS_OK &&
        qs_sam_msg_put_bytes(rq->resp, QS_SAM_T_OCSP_RESPONSE, c.der, c.len) != QS_OK)
        r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
    else if (r != QS_OK && rq->err == QS_OK)
        sam_fail(rq, r, NULL);
    free(c.der);
    free(c.row);
    free(req);
    return r;
}
