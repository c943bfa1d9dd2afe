/*
 * The client side of the SAM protocol (library qsign_samclient): what qsignd, qsignctl and the
 * tests use to talk to qsign-sam over its unix socket.  docs/sam-protocol.md describes the
 * messages; this wraps them in one call per request.
 *
 * A qs_sam_client is one connection; requests on it go one at a time (the SAM answers in
 * order).  Not thread-safe: one thread uses a client at a time; open one per thread.
 *
 * Errors: each call returns QS_OK, or the SAM's answer when it refused the request (the qs_err
 * code the ERROR frame carries: QS_ERR_AUTH_PIN, QS_ERR_SAD_EXPIRED, ...; its message is kept,
 * qs_sam_client_error), or a transport error: QS_ERR_EOF (the SAM closed the connection, as it
 * does after a protocol violation), QS_ERR_TIMEOUT, QS_ERR_IO, QS_ERR_PROTO (the answer is
 * malformed, of another type, or for another request id; the connection is then unusable),
 * QS_ERR_INVALID_ARGUMENT (a value the codec refuses; nothing was sent).
 *
 * Secrets (PIN, OTP, SAD, the otpauth URI) pass through frames that are wiped when released;
 * the caller wipes its own copies.
 */
#ifndef QS_SAM_CLIENT_H
#define QS_SAM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sam/proto.h"
#include "util/err.h"

typedef struct qs_sam_client qs_sam_client;

/* Buffer for an id the SAM returns (USER_ID, CREDENTIAL_ID: at most 128 bytes) and its NUL. */
#define QS_SAM_ID_BUF 129
/* Buffer for an SAD handle and its NUL. */
#define QS_SAM_SAD_BUF (QS_SAM_SAD_LEN + 1)
/* Longest error message kept (ERROR_MESSAGE is at most 512 bytes). */
#define QS_SAM_CLIENT_ERRMSG_MAX 513
/* Default time a whole request or answer may take. */
#define QS_SAM_CLIENT_TIMEOUT_MS 60000

/* Connects to the SAM's socket.  timeout_ms bounds each request's send and its answer (< 0:
 * no limit).  Errors: QS_ERR_INVALID_ARGUMENT (path too long), QS_ERR_IO (connect failed; errno
 * kept), QS_ERR_NOMEM. */
QS_MUST_CHECK qs_err qs_sam_client_connect(const char *socket_path, int timeout_ms,
                                           qs_sam_client **out);

/* Closes the connection and frees.  NULL is a no-op. */
void qs_sam_client_close(qs_sam_client *c);

/* The socket, for tests that write raw bytes. */
int qs_sam_client_fd(const qs_sam_client *c);

/* The message of the last ERROR answer ("" when the last call got none). */
const char *qs_sam_client_error(const qs_sam_client *c);

/* Whether the last ERROR answer said the refused request locked a credential or an account
 * (LOCKED); false when the last call got none. */
bool qs_sam_client_locked(const qs_sam_client *c);

/* A fresh request id for a message built by hand. */
uint64_t qs_sam_client_next_reqid(qs_sam_client *c);

/*
 * Sends the request in `req` (consumed, whatever happens) and reads its answer.  On QS_OK *resp
 * is the response of the request's type (free with qs_sam_msg_free); an ERROR answer gives its
 * code (see above) and *resp NULL.
 */
QS_MUST_CHECK qs_err qs_sam_client_call(qs_sam_client *c, qs_sam_builder *req, qs_sam_msg **resp);

/* ---- One call per request ---------------------------------------------------------------- */

/* A digest (or any byte string) by reference. */
typedef struct qs_sam_bytes {
    const uint8_t *p;
    size_t len;
} qs_sam_bytes;

QS_MUST_CHECK qs_err qs_sam_client_ping(qs_sam_client *c);

/* CREATE_USER (admin peers): the new user's id into user_id.  actor may be NULL. */
QS_MUST_CHECK qs_err qs_sam_client_create_user(qs_sam_client *c, const char *username,
                                               qs_sam_user_kind kind, const char *actor,
                                               char user_id[static QS_SAM_ID_BUF]);

/* ENROL_FACTORS: *uri is the otpauth:// URI (qs_secret_alloc memory: free with qs_secret_free;
 * it holds the TOTP seed).  actor, issuer and account may be NULL (the SAM's defaults). */
QS_MUST_CHECK qs_err qs_sam_client_enrol(qs_sam_client *c, const char *user_id, const char *pin,
                                         const char *actor, const char *issuer, const char *account,
                                         char **uri);

/* CREATE_CREDENTIAL: the id into credential_id and the public key (DER SPKI, malloc'd, free
 * it) into *spki.  actor may be NULL. */
QS_MUST_CHECK qs_err qs_sam_client_create_credential(qs_sam_client *c, const char *user_id,
                                                     qs_sam_key_alg alg, const char *actor,
                                                     char credential_id[static QS_SAM_ID_BUF],
                                                     uint8_t **spki, size_t *spki_len);

typedef struct qs_sam_authorize_req {
    const char *user_id;
    const char *credential_id;
    const char *pin;
    const char *otp;
    uint32_t num_signatures;
    qs_sam_hash_alg hash_alg;
    const qs_sam_bytes *hashes;
    size_t n_hashes;
    const char *description; /* may be NULL */
} qs_sam_authorize_req;

/* AUTHORIZE: the SAD handle into sad (a secret: wipe it) and its lifetime in seconds. */
QS_MUST_CHECK qs_err qs_sam_client_authorize(qs_sam_client *c, const qs_sam_authorize_req *r,
                                             char sad[static QS_SAM_SAD_BUF], uint32_t *expires_in);

/* EXTEND: a new SAD for `sad` plus the new hashes. */
QS_MUST_CHECK qs_err qs_sam_client_extend(qs_sam_client *c, const char *user_id,
                                          const char *credential_id, qs_sam_hash_alg hash_alg,
                                          const qs_sam_bytes *hashes, size_t n_hashes,
                                          const char *sad, char new_sad[static QS_SAM_SAD_BUF],
                                          uint32_t *expires_in);

typedef struct qs_sam_sign_req {
    const char *user_id;
    const char *credential_id;
    const char *sad;
    qs_sam_hash_alg hash_alg;
    const qs_sam_bytes *hashes;
    size_t n_hashes;
    qs_sam_sig_scheme scheme;
    bool has_pss_salt_len, has_pss_mgf_hash; /* RSASSA-PSS parameters, when given */
    uint32_t pss_salt_len;
    qs_sam_hash_alg pss_mgf_hash;
} qs_sam_sign_req;

/* Signatures in the order of the hashes; each sig[i] is malloc'd. */
typedef struct qs_sam_signatures {
    size_t n;
    uint8_t **sig;
    size_t *len;
} qs_sam_signatures;

/* Frees the signatures and zeroes the struct.  NULL is a no-op. */
void qs_sam_signatures_free(qs_sam_signatures *s);

/* SIGN: the signatures into *out (free with qs_sam_signatures_free). */
QS_MUST_CHECK qs_err qs_sam_client_sign(qs_sam_client *c, const qs_sam_sign_req *r,
                                        qs_sam_signatures *out);

/* SIGN_DOC: r->hashes are document digests (at most QS_SAM_MAX_DOC_DIGESTS); *out holds one
 * detached CAdES-B-B signature per digest, in order: DER CMS ContentInfo (SignedData) with the
 * signer's and the CA's certificates (free with qs_sam_signatures_free). */
QS_MUST_CHECK qs_err qs_sam_client_sign_doc(qs_sam_client *c, const qs_sam_sign_req *r,
                                            qs_sam_signatures *out);

/* CREDENTIAL_STATE (admin peers). */
QS_MUST_CHECK qs_err qs_sam_client_credential_state(qs_sam_client *c, const char *credential_id,
                                                    const char *actor, qs_sam_state_action action,
                                                    const char *reason);

/* ---- The certification and registration authority (sam/client_ca.c) --------------------- */

/* Buffer for an activation code and its NUL. */
#define QS_SAM_ACTIVATION_BUF 65

/* CA_INIT (admin peers): *cert (self-signed: the CA certificate) or *csr (external: the request
 * for the root) is malloc'd DER, the other NULL. */
QS_MUST_CHECK qs_err qs_sam_client_ca_init(qs_sam_client *c, qs_sam_ca_mode mode, const char *actor,
                                           uint8_t **cert, size_t *cert_len, uint8_t **csr,
                                           size_t *csr_len);

/* CA_IMPORT_CERT (admin peers): the CA certificate the external root issued; *ocsp_cert
 * (malloc'd) is the new OCSP responder certificate. */
QS_MUST_CHECK qs_err qs_sam_client_ca_import_cert(qs_sam_client *c, const uint8_t *cert,
                                                  size_t cert_len, const char *actor,
                                                  uint8_t **ocsp_cert, size_t *ocsp_len);

/* CA_RENEW_OCSP (admin peers): *cert (malloc'd) is the new responder certificate. */
QS_MUST_CHECK qs_err qs_sam_client_ca_renew_ocsp(qs_sam_client *c, const char *actor,
                                                 uint8_t **cert, size_t *cert_len);

/* A signer to register and the identity evidence (NULL: absent). */
typedef struct qs_sam_signer_req {
    const char *username;
    const char *profile; /* "qcp-n-qscd" | "qcp-l-qscd" */
    const char *country, *common_name, *given_name, *surname, *pseudonym, *serial_number,
        *organization, *organization_id;
    qs_sam_evidence_method method;
    qs_sam_document_type document_type;
    const char *document_number; /* secret */
    const char *document_country;
    const char *notes;
    const char *actor;
    const char *ra_session; /* an officer's session, for non-admin peers */
} qs_sam_signer_req;

/* CREATE_SIGNER: the new user's id, the activation code (a secret: wipe it) and its expiry
 * (Unix seconds). */
QS_MUST_CHECK qs_err qs_sam_client_create_signer(qs_sam_client *c, const qs_sam_signer_req *q,
                                                 char user_id[static QS_SAM_ID_BUF],
                                                 char code[static QS_SAM_ACTIVATION_BUF],
                                                 uint64_t *expires_at);

typedef struct qs_sam_issue_req {
    const char *credential_id; /* an existing credential, or */
    const char *user_id;       /* a new key of `alg` for this signer */
    qs_sam_key_alg alg;
    const char *profile; /* NULL: the evidence's */
    const char *actor;
    const char *ra_session;
} qs_sam_issue_req;

/* ISSUE_CERT: the credential's id, the certificate (DER, malloc'd) and its serial. */
QS_MUST_CHECK qs_err qs_sam_client_issue_cert(qs_sam_client *c, const qs_sam_issue_req *q,
                                              char credential_id[static QS_SAM_ID_BUF],
                                              uint8_t **cert, size_t *cert_len,
                                              uint8_t serial[static 20], size_t *serial_len);

typedef struct qs_sam_revoke_req {
    const uint8_t *serial; /* the certificate by serial, or */
    size_t serial_len;
    const char *credential_id; /* by its credential */
    uint32_t crl_reason;       /* RFC 5280 CRLReason */
    const char *reason;        /* free text, audited; may be NULL */
    const char *actor;
    const char *ra_session;
} qs_sam_revoke_req;

/* REVOKE: also destroys the credential's key. */
QS_MUST_CHECK qs_err qs_sam_client_revoke(qs_sam_client *c, const qs_sam_revoke_req *q);

/* CRL: the current CRL, DER, malloc'd. */
QS_MUST_CHECK qs_err qs_sam_client_crl(qs_sam_client *c, uint8_t **der, size_t *len);

/* OCSP: the DER response to a DER request, malloc'd. */
QS_MUST_CHECK qs_err qs_sam_client_ocsp(qs_sam_client *c, const uint8_t *req, size_t req_len,
                                        uint8_t **resp, size_t *resp_len);

/* ACTIVATE: *uri as for qs_sam_client_enrol.  issuer and account may be NULL. */
QS_MUST_CHECK qs_err qs_sam_client_activate(qs_sam_client *c, const char *user_id, const char *code,
                                            const char *pin, const char *issuer,
                                            const char *account, char **uri);

/* UNLOCK. */
QS_MUST_CHECK qs_err qs_sam_client_unlock(qs_sam_client *c, const char *credential_id,
                                          const char *actor, const char *reason,
                                          const char *ra_session);

/* OFFICER_LOGIN: the RA session handle (a secret: wipe it) and its lifetime. */
QS_MUST_CHECK qs_err qs_sam_client_officer_login(qs_sam_client *c, const char *user_id,
                                                 const char *otp,
                                                 char session[static QS_SAM_SAD_BUF],
                                                 uint32_t *expires_in);

/* OFFICER_LOGIN for a staff user of `kind` (QS_SAM_USER_OFFICER or QS_SAM_USER_AUDITOR): the
 * session handle of that role (a secret: wipe it) and its lifetime. */
QS_MUST_CHECK qs_err qs_sam_client_staff_login(qs_sam_client *c, qs_sam_user_kind kind,
                                               const char *user_id, const char *otp,
                                               char session[static QS_SAM_SAD_BUF],
                                               uint32_t *expires_in);

/* ---- The auditors (sam/client_ca.c) -------------------------------------------------------- */

/* An auditor's search, as AUDIT_SEARCH records it; NULL / false: not a criterion. */
typedef struct qs_sam_audit_search_req {
    const char *session; /* the auditor's session handle (secret) */
    const char *user_id;
    const char *credential_id;
    const char *event_type; /* exact, or a prefix ending in '.' */
    bool has_from, has_to;
    uint64_t from_us, to_us;    /* microseconds since the Unix epoch; from inclusive, to not */
    qs_sam_audit_result result; /* 0: either */
    const char *writer_id;
} qs_sam_audit_search_req;

/* AUDIT_SEARCH: QS_OK once the SAM has recorded the search (audit.searched) in the auditor's
 * name; QS_ERR_FORBIDDEN when the session is not an active auditor's. */
QS_MUST_CHECK qs_err qs_sam_client_audit_search(qs_sam_client *c, const qs_sam_audit_search_req *q);

#endif
