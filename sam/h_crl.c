/*
 * CRL (every peer: public data): the current CRL, DER.  The stored one while it is fresh, else
 * a new one made and signed in the token (sam_ca_crl).  QS_ERR_CA_NOT_READY before the CA is
 * active.
 */
#define QS_LOG_MODULE "sam"
#include <stdlib.h>

#include "sam/ca.h"
#include "sam/sam.h"

qs_err sam_h_crl(sam_req *rq)
{
    uint8_t *der = NULL;
    size_t len = 0;
    qs_err r = sam_ca_crl(rq, false, &der, &len);
    if (r != QS_OK)
        return sam_fail(rq, r, r == QS_ERR_CA_NOT_READY ? "the CA is not active" : NULL);
    if (len > QS_SAM_CRL_MAX) {
        free(der);
        return sam_fail(rq, QS_ERR_TOO_LARGE, "the CRL outgrew the protocol's limit");
    }
    if ((r = sam_resp_begin(rq)) == QS_OK &&
        qs_sam_msg_put_bytes(rq->resp, QS_SAM_T_CRL, der, len) != QS_OK)
        r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
    free(der);
    return r;
}
