/* PING: answers PING_RESP; lets clients and health checks see that the SAM serves requests. */
#include "sam/sam.h"

qs_err sam_h_ping(sam_req *rq)
{
    return sam_resp_begin(rq);
}
