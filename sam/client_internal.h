/*
 * Private to the SAM client (client.c, client_ca.c): building requests and copying answer
 * fields.  A builder keeps its first put error and qs_sam_client_call reports it, so the puts
 * of a request are not checked one by one: samc_sticky takes their results.
 */
#ifndef QS_SAM_CLIENT_INTERNAL_H
#define QS_SAM_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sam/client.h"

void samc_sticky(qs_err r);

/* Starts a request with the client's next request id; on failure *b is NULL. */
qs_err samc_begin(qs_sam_client *c, uint16_t type, qs_sam_builder **b);

/* Puts a string field when s is not NULL. */
qs_err samc_put_opt_str(qs_sam_builder *b, uint16_t tag, const char *s);

/* Copies a string field of the answer into buf (cap bytes with the NUL); QS_ERR_PROTO when it
 * is absent or too long. */
qs_err samc_copy_str(const qs_sam_msg *m, uint16_t tag, char *buf, size_t cap);

/* A bytes field into a malloc'd copy; absent: NULL, or QS_ERR_PROTO when `needed`. */
qs_err samc_copy_bytes(const qs_sam_msg *m, uint16_t tag, bool needed, uint8_t **out, size_t *len);

/* A secret string field (an otpauth URI) into qs_secret_alloc memory; QS_ERR_PROTO when
 * absent. */
qs_err samc_copy_secret_str(const qs_sam_msg *m, uint16_t tag, char **out);

#endif
