/*
 * The client side of the SAM protocol (sam/client.h): a blocking unix-socket connection, one
 * request at a time, every answer checked against the request (type and id) before use.
 */
#include "sam/client.h"
#include "sam/client_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/secret.h"

struct qs_sam_client {
    int fd;
    int timeout_ms;
    uint64_t next_reqid;
    char errmsg[QS_SAM_CLIENT_ERRMSG_MAX];
    bool locked; /* the last ERROR carried LOCKED */
};

qs_err qs_sam_client_connect(const char *socket_path, int timeout_ms, qs_sam_client **out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    *out = NULL;
    if (socket_path == NULL || strlen(socket_path) >= sizeof sa.sun_path)
        return QS_ERR_INVALID_ARGUMENT;
    memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
    qs_sam_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return QS_ERR_NOMEM;
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        if (c->fd >= 0)
            close(c->fd);
        free(c);
        errno = e;
        return QS_ERR_IO;
    }
    c->timeout_ms = timeout_ms;
    c->next_reqid = 1;
    *out = c;
    return QS_OK;
}

void qs_sam_client_close(qs_sam_client *c)
{
    if (c == NULL)
        return;
    close(c->fd);
    free(c);
}

int qs_sam_client_fd(const qs_sam_client *c)
{
    return c->fd;
}

const char *qs_sam_client_error(const qs_sam_client *c)
{
    return c->errmsg;
}

bool qs_sam_client_locked(const qs_sam_client *c)
{
    return c->locked;
}

uint64_t qs_sam_client_next_reqid(qs_sam_client *c)
{
    return c->next_reqid++;
}

qs_err qs_sam_client_call(qs_sam_client *c, qs_sam_builder *req, qs_sam_msg **resp)
{
    uint8_t *frame = NULL;
    size_t len = 0;
    qs_sam_msg *m = NULL;
    qs_sam_reason why = QS_SAM_R_OK;
    qs_sam_header h;

    *resp = NULL;
    c->errmsg[0] = '\0';
    c->locked = false;
    qs_err r = qs_sam_msg_finish(req, &frame, &len, &why);
    if (r != QS_OK)
        return r;
    if (qs_sam_header_parse(frame, QS_SAM_MAX_BODY, &h) != QS_SAM_R_OK) {
        r = QS_ERR_INTERNAL;
        goto out;
    }
    r = qs_sam_write_frame(c->fd, frame, len, c->timeout_ms);
    if (r != QS_OK)
        goto out;
    r = qs_sam_recv(c->fd, QS_SAM_MAX_BODY, c->timeout_ms, &m, &why);
    if (r != QS_OK)
        goto out;
    if (qs_sam_msg_reqid(m) != h.reqid) {
        r = QS_ERR_PROTO;
        goto out;
    }
    if (qs_sam_msg_type(m) == QS_SAM_ERROR) {
        uint32_t code = 0, locked = 0;
        size_t mlen = 0;
        const char *msg = qs_sam_msg_get_str(m, QS_SAM_T_ERROR_MESSAGE, &mlen);
        (void)qs_sam_msg_get_u32(m, QS_SAM_T_ERROR_CODE, &code);
        c->locked = qs_sam_msg_get_u32(m, QS_SAM_T_LOCKED, &locked) && locked == 1;
        if (msg != NULL)
            memcpy(c->errmsg, msg, mlen < sizeof c->errmsg ? mlen + 1 : sizeof c->errmsg);
        c->errmsg[sizeof c->errmsg - 1] = '\0';
        r = (int32_t)code < 0 ? (qs_err)(int32_t)code : QS_ERR_PROTO;
        goto out;
    }
    if (qs_sam_msg_type(m) != (h.type | QS_SAM_RESPONSE_BIT)) {
        r = QS_ERR_PROTO;
        goto out;
    }
    *resp = m;
    m = NULL;
    r = QS_OK;
out:
    qs_sam_msg_free(m);
    qs_sam_frame_free(frame, len);
    return r;
}

/* ---- shared by client.c and client_ca.c (sam/client_internal.h) ---------------------------- */

void samc_sticky(qs_err r)
{
    (void)r;
}

qs_err samc_begin(qs_sam_client *c, uint16_t type, qs_sam_builder **b)
{
    return qs_sam_msg_begin(type, qs_sam_client_next_reqid(c), b);
}

qs_err samc_put_opt_str(qs_sam_builder *b, uint16_t tag, const char *s)
{
    return s == NULL ? QS_OK : qs_sam_msg_put_str(b, tag, s);
}

qs_err samc_copy_str(const qs_sam_msg *m, uint16_t tag, char *buf, size_t cap)
{
    size_t len = 0;
    const char *s = qs_sam_msg_get_str(m, tag, &len);
    if (s == NULL || len >= cap)
        return QS_ERR_PROTO;
    memcpy(buf, s, len + 1);
    return QS_OK;
}

qs_err samc_copy_bytes(const qs_sam_msg *m, uint16_t tag, bool needed, uint8_t **out, size_t *len)
{
    const uint8_t *p = NULL;
    *out = NULL;
    *len = 0;
    if (!qs_sam_msg_get_bytes(m, tag, 0, &p, len))
        return needed ? QS_ERR_PROTO : QS_OK;
    if ((*out = malloc(*len)) == NULL) {
        *len = 0;
        return QS_ERR_NOMEM;
    }
    memcpy(*out, p, *len);
    return QS_OK;
}

qs_err samc_copy_secret_str(const qs_sam_msg *m, uint16_t tag, char **out)
{
    size_t len = 0;
    const char *s = qs_sam_msg_get_str(m, tag, &len);
    if (s == NULL)
        return QS_ERR_PROTO;
    char *copy = qs_secret_alloc(len + 1);
    if (copy == NULL)
        return QS_ERR_NOMEM;
    memcpy(copy, s, len + 1);
    *out = copy;
    return QS_OK;
}

static qs_err put_hashes(qs_sam_builder *b, const qs_sam_bytes *hashes, size_t n)
{
    qs_err r = QS_OK;
    for (size_t i = 0; i < n && r == QS_OK; i++)
        r = qs_sam_msg_put_bytes(b, QS_SAM_T_HASH, hashes[i].p, hashes[i].len);
    return r;
}

qs_err qs_sam_client_ping(qs_sam_client *c)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    qs_err r = samc_begin(c, QS_SAM_PING, &b);
    if (r == QS_OK)
        r = qs_sam_client_call(c, b, &m);
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_create_user(qs_sam_client *c, const char *username, qs_sam_user_kind kind,
                                 const char *actor, char user_id[static QS_SAM_ID_BUF])
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;

    user_id[0] = '\0';
    qs_err r = samc_begin(c, QS_SAM_CREATE_USER, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_ACTOR, actor));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_USERNAME, username));
    samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_USER_KIND, (uint32_t)kind));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK)
        r = samc_copy_str(m, QS_SAM_T_USER_ID, user_id, QS_SAM_ID_BUF);
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_enrol(qs_sam_client *c, const char *user_id, const char *pin,
                           const char *actor, const char *issuer, const char *account, char **uri)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;

    *uri = NULL;
    qs_err r = samc_begin(c, QS_SAM_ENROL_FACTORS, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_USER_ID, user_id));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_ACTOR, actor));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_PIN, pin));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_TOTP_ISSUER, issuer));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_TOTP_ACCOUNT, account));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK) {
        r = samc_copy_secret_str(m, QS_SAM_T_OTPAUTH_URI, uri);
    }
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_create_credential(qs_sam_client *c, const char *user_id, qs_sam_key_alg alg,
                                       const char *actor, char credential_id[static QS_SAM_ID_BUF],
                                       uint8_t **spki, size_t *spki_len)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;

    credential_id[0] = '\0';
    *spki = NULL;
    *spki_len = 0;
    qs_err r = samc_begin(c, QS_SAM_CREATE_CREDENTIAL, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_USER_ID, user_id));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_ACTOR, actor));
    samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_KEY_ALG, (uint32_t)alg));
    if ((r = qs_sam_client_call(c, b, &m)) != QS_OK)
        goto out;
    const uint8_t *p = NULL;
    size_t len = 0;
    if ((r = samc_copy_str(m, QS_SAM_T_CREDENTIAL_ID, credential_id, QS_SAM_ID_BUF)) != QS_OK)
        goto out;
    if (!qs_sam_msg_get_bytes(m, QS_SAM_T_SPKI, 0, &p, &len)) {
        r = QS_ERR_PROTO;
        goto out;
    }
    if ((*spki = malloc(len)) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    memcpy(*spki, p, len);
    *spki_len = len;
out:
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_authorize(qs_sam_client *c, const qs_sam_authorize_req *q,
                               char sad[static QS_SAM_SAD_BUF], uint32_t *expires_in)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;

    sad[0] = '\0';
    *expires_in = 0;
    qs_err r = samc_begin(c, QS_SAM_AUTHORIZE, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_USER_ID, q->user_id));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_CREDENTIAL_ID, q->credential_id));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_PIN, q->pin));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_OTP, q->otp));
    samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_NUM_SIGNATURES, q->num_signatures));
    samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_HASH_ALG, (uint32_t)q->hash_alg));
    samc_sticky(put_hashes(b, q->hashes, q->n_hashes));
    samc_sticky(samc_put_opt_str(b, QS_SAM_T_DESCRIPTION, q->description));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK &&
        (r = samc_copy_str(m, QS_SAM_T_SAD, sad, QS_SAM_SAD_BUF)) == QS_OK &&
        !qs_sam_msg_get_u32(m, QS_SAM_T_EXPIRES_IN, expires_in))
        r = QS_ERR_PROTO;
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_extend(qs_sam_client *c, const char *user_id, const char *credential_id,
                            qs_sam_hash_alg hash_alg, const qs_sam_bytes *hashes, size_t n_hashes,
                            const char *sad, char new_sad[static QS_SAM_SAD_BUF],
                            uint32_t *expires_in)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;

    new_sad[0] = '\0';
    *expires_in = 0;
    qs_err r = samc_begin(c, QS_SAM_EXTEND, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_USER_ID, user_id));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_CREDENTIAL_ID, credential_id));
    samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_HASH_ALG, (uint32_t)hash_alg));
    samc_sticky(put_hashes(b, hashes, n_hashes));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_SAD, sad));
    if ((r = qs_sam_client_call(c, b, &m)) == QS_OK &&
        (r = samc_copy_str(m, QS_SAM_T_SAD, new_sad, QS_SAM_SAD_BUF)) == QS_OK &&
        !qs_sam_msg_get_u32(m, QS_SAM_T_EXPIRES_IN, expires_in))
        r = QS_ERR_PROTO;
    qs_sam_msg_free(m);
    return r;
}

void qs_sam_signatures_free(qs_sam_signatures *s)
{
    if (s == NULL)
        return;
    if (s->sig != NULL) {
        for (size_t i = 0; i < s->n; i++)
            free(s->sig[i]);
    }
    free(s->sig);
    free(s->len);
    memset(s, 0, sizeof *s);
}

/* SIGN and SIGN_DOC: the same request; the answer's `tag` fields, one per hash, in order. */
static qs_err sign_call(qs_sam_client *c, uint16_t type, uint16_t tag, const qs_sam_sign_req *q,
                        qs_sam_signatures *out)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;

    memset(out, 0, sizeof *out);
    qs_err r = samc_begin(c, type, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_USER_ID, q->user_id));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_CREDENTIAL_ID, q->credential_id));
    samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_HASH_ALG, (uint32_t)q->hash_alg));
    samc_sticky(put_hashes(b, q->hashes, q->n_hashes));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_SAD, q->sad));
    samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_SIG_SCHEME, (uint32_t)q->scheme));
    if (q->has_pss_salt_len)
        samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_PSS_SALT_LEN, q->pss_salt_len));
    if (q->has_pss_mgf_hash)
        samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_PSS_MGF_HASH, (uint32_t)q->pss_mgf_hash));
    if ((r = qs_sam_client_call(c, b, &m)) != QS_OK)
        goto out;
    size_t n = qs_sam_msg_count(m, tag);
    if (n != q->n_hashes) {
        r = QS_ERR_PROTO;
        goto out;
    }
    out->sig = calloc(n, sizeof *out->sig);
    out->len = calloc(n, sizeof *out->len);
    if (out->sig == NULL || out->len == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    out->n = n;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = NULL;
        size_t len = 0;
        if (!qs_sam_msg_get_bytes(m, tag, i, &p, &len)) {
            r = QS_ERR_PROTO;
            goto out;
        }
        if ((out->sig[i] = malloc(len)) == NULL) {
            r = QS_ERR_NOMEM;
            goto out;
        }
        memcpy(out->sig[i], p, len);
        out->len[i] = len;
    }
    r = QS_OK;
out:
    if (r != QS_OK)
        qs_sam_signatures_free(out);
    qs_sam_msg_free(m);
    return r;
}

qs_err qs_sam_client_sign(qs_sam_client *c, const qs_sam_sign_req *q, qs_sam_signatures *out)
{
    return sign_call(c, QS_SAM_SIGN, QS_SAM_T_SIGNATURE, q, out);
}

qs_err qs_sam_client_sign_doc(qs_sam_client *c, const qs_sam_sign_req *q, qs_sam_signatures *out)
{
    return sign_call(c, QS_SAM_SIGN_DOC, QS_SAM_T_CMS, q, out);
}

qs_err qs_sam_client_credential_state(qs_sam_client *c, const char *credential_id,
                                      const char *actor, qs_sam_state_action action,
                                      const char *reason)
{
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    qs_err r = samc_begin(c, QS_SAM_CREDENTIAL_STATE, &b);
    if (r != QS_OK)
        return r;
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_CREDENTIAL_ID, credential_id));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_ACTOR, actor));
    samc_sticky(qs_sam_msg_put_u32(b, QS_SAM_T_STATE_ACTION, (uint32_t)action));
    samc_sticky(qs_sam_msg_put_str(b, QS_SAM_T_REASON, reason));
    r = qs_sam_client_call(c, b, &m);
    qs_sam_msg_free(m);
    return r;
}
