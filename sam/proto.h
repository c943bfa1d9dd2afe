/*
 * The SAM wire protocol: framed binary messages over a unix stream socket between qsignd /
 * qsignctl and qsign-sam.  docs/sam-protocol.md describes the format; this header is its codec.
 *
 * Frame: a 20-byte big-endian header (magic "QSAM", version u16, type u16, request id u64,
 * body length u32) and a body of fields (tag u16, length u32, value).  Each message type has a
 * declarative spec listing its allowed fields; decoding checks every frame against it and refuses
 * anything else with a distinct reason.  Fields appear in ascending tag order (repeats adjacent,
 * in their meaningful order), so every message has exactly one encoding.
 *
 * The SAM treats every frame from its peer as untrusted: the decoder never reads outside the
 * buffer it is given and allocates at most a small multiple of the body length.  Buffers that
 * hold frames are wiped when released, since PINs, OTPs and SADs travel in them.
 *
 * Thread-safety: the spec tables are constant; a message or builder belongs to one thread.
 */
#ifndef QS_SAM_PROTO_H
#define QS_SAM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define QS_SAM_MAGIC           "QSAM"
#define QS_SAM_MAGIC_LEN       4
#define QS_SAM_VERSION         1
#define QS_SAM_HDR_LEN         20
#define QS_SAM_FIELD_HDR_LEN   6
#define QS_SAM_MAX_BODY        ((size_t)1 << 20) /* 1 MiB: largest body accepted or produced */
#define QS_SAM_MAX_FRAME       (QS_SAM_HDR_LEN + QS_SAM_MAX_BODY)
#define QS_SAM_MAX_MSG_FIELDS  20 /* most distinct fields one message type allows */
#define QS_SAM_MAX_HASHES      1000
#define QS_SAM_MAX_DOC_DIGESTS 100    /* HASH fields of one SIGN_DOC: its answer fits a body */
#define QS_SAM_CMS_MAX         131072 /* bytes of one CMS field */
#define QS_SAM_SAD_LEN         43     /* base64url of a 32-byte handle, unpadded */

/* Message types.  A response is its request's type with the high bit set; ERROR answers any
 * request.  The request id of a response echoes its request's. */
typedef enum qs_sam_type {
    QS_SAM_PING = 0x0001,
    QS_SAM_ENROL_FACTORS = 0x0002,
    QS_SAM_CREATE_CREDENTIAL = 0x0003,
    QS_SAM_AUTHORIZE = 0x0004,
    QS_SAM_EXTEND = 0x0005,
    QS_SAM_SIGN = 0x0006,
    QS_SAM_CREDENTIAL_STATE = 0x0007,
    QS_SAM_CREATE_USER = 0x0008,
    QS_SAM_CA_INIT = 0x0009,
    QS_SAM_CA_IMPORT_CERT = 0x000A,
    QS_SAM_CA_RENEW_OCSP = 0x000B,
    QS_SAM_CREATE_SIGNER = 0x000C,
    QS_SAM_ISSUE_CERT = 0x000D,
    QS_SAM_REVOKE = 0x000E,
    QS_SAM_CRL = 0x000F,
    QS_SAM_OCSP = 0x0010,
    QS_SAM_ACTIVATE = 0x0011,
    QS_SAM_UNLOCK = 0x0012,
    QS_SAM_OFFICER_LOGIN = 0x0013,
    QS_SAM_SIGN_DOC = 0x0014,
    QS_SAM_AUDIT_SEARCH = 0x0015,
    QS_SAM_PING_RESP = 0x8001,
    QS_SAM_ENROL_FACTORS_RESP = 0x8002,
    QS_SAM_CREATE_CREDENTIAL_RESP = 0x8003,
    QS_SAM_AUTHORIZE_RESP = 0x8004,
    QS_SAM_EXTEND_RESP = 0x8005,
    QS_SAM_SIGN_RESP = 0x8006,
    QS_SAM_CREDENTIAL_STATE_RESP = 0x8007,
    QS_SAM_CREATE_USER_RESP = 0x8008,
    QS_SAM_CA_INIT_RESP = 0x8009,
    QS_SAM_CA_IMPORT_CERT_RESP = 0x800A,
    QS_SAM_CA_RENEW_OCSP_RESP = 0x800B,
    QS_SAM_CREATE_SIGNER_RESP = 0x800C,
    QS_SAM_ISSUE_CERT_RESP = 0x800D,
    QS_SAM_REVOKE_RESP = 0x800E,
    QS_SAM_CRL_RESP = 0x800F,
    QS_SAM_OCSP_RESP = 0x8010,
    QS_SAM_ACTIVATE_RESP = 0x8011,
    QS_SAM_UNLOCK_RESP = 0x8012,
    QS_SAM_OFFICER_LOGIN_RESP = 0x8013,
    QS_SAM_SIGN_DOC_RESP = 0x8014,
    QS_SAM_AUDIT_SEARCH_RESP = 0x8015,
    QS_SAM_ERROR = 0xFFFF,
} qs_sam_type;

#define QS_SAM_RESPONSE_BIT 0x8000

/* Field tags.  A tag means the same field (kind, limits, secrecy) in every message. */
typedef enum qs_sam_tag {
    QS_SAM_T_USER_ID = 1,         /* str 1..128 */
    QS_SAM_T_CREDENTIAL_ID = 2,   /* str 1..128 */
    QS_SAM_T_ACTOR = 3,           /* str 1..128: the operator or officer acting */
    QS_SAM_T_PIN = 4,             /* str 1..64, secret */
    QS_SAM_T_OTP = 5,             /* str 1..16, secret */
    QS_SAM_T_TOTP_ISSUER = 6,     /* str 1..64 */
    QS_SAM_T_TOTP_ACCOUNT = 7,    /* str 1..128 */
    QS_SAM_T_OTPAUTH_URI = 8,     /* str 1..1024, secret */
    QS_SAM_T_KEY_ALG = 9,         /* u32 qs_sam_key_alg */
    QS_SAM_T_SPKI = 10,           /* bytes 1..2048: DER SubjectPublicKeyInfo */
    QS_SAM_T_NUM_SIGNATURES = 11, /* u32 1..1000 */
    QS_SAM_T_HASH_ALG = 12,       /* u32 qs_sam_hash_alg */
    QS_SAM_T_HASH = 13,           /* bytes of 32, 48 or 64: a digest to sign */
    QS_SAM_T_DESCRIPTION = 14,    /* str 1..500 */
    QS_SAM_T_CLIENT_DATA = 15,    /* str 1..4096 */
    QS_SAM_T_SAD = 16,            /* str of 43, secret: base64url SAD handle */
    QS_SAM_T_EXPIRES_IN = 17,     /* u32 seconds 1..86400 */
    QS_SAM_T_SIG_SCHEME = 18,     /* u32 qs_sam_sig_scheme */
    QS_SAM_T_PSS_SALT_LEN = 19,   /* u32 0..512 */
    QS_SAM_T_PSS_MGF_HASH = 20,   /* u32 qs_sam_hash_alg */
    QS_SAM_T_SIGNATURE = 21,      /* bytes 1..1024: a signature value, input order */
    QS_SAM_T_STATE_ACTION = 22,   /* u32 qs_sam_state_action */
    QS_SAM_T_REASON = 23,         /* str 1..500 */
    QS_SAM_T_ERROR_CODE = 24,     /* u32: a qs_err, two's complement */
    QS_SAM_T_ERROR_MESSAGE = 25,  /* str 1..512 */
    QS_SAM_T_USERNAME = 26,       /* str 1..128: a new user's login name */
    QS_SAM_T_USER_KIND = 27,      /* u32 qs_sam_user_kind */

    /* the certification and registration authority */
    QS_SAM_T_PROFILE = 28,          /* str 1..32: certificate profile, "qcp-n-qscd" */
    QS_SAM_T_COUNTRY = 29,          /* str 1..16: subject countryName */
    QS_SAM_T_COMMON_NAME = 30,      /* str 1..256: subject commonName */
    QS_SAM_T_GIVEN_NAME = 31,       /* str 1..1024: subject givenName */
    QS_SAM_T_SURNAME = 32,          /* str 1..1024: subject surname */
    QS_SAM_T_PSEUDONYM = 33,        /* str 1..512: subject pseudonym */
    QS_SAM_T_SERIAL_NUMBER = 34,    /* str 1..256: subject serialNumber ("PNOEE-...") */
    QS_SAM_T_ORGANIZATION = 35,     /* str 1..256: subject organizationName */
    QS_SAM_T_ORGANIZATION_ID = 36,  /* str 1..256: subject organizationIdentifier */
    QS_SAM_T_EVIDENCE_METHOD = 37,  /* u32 qs_sam_evidence_method */
    QS_SAM_T_DOCUMENT_TYPE = 38,    /* u32 qs_sam_document_type */
    QS_SAM_T_DOCUMENT_NUMBER = 39,  /* str 1..64, secret: stored only as a keyed salted hash */
    QS_SAM_T_DOCUMENT_COUNTRY = 40, /* str 1..16: the document's issuing country */
    QS_SAM_T_NOTES = 41,            /* str 1..1000: the officer's notes on the evidence */
    QS_SAM_T_ACTIVATION_CODE = 42,  /* str 1..64, secret */
    QS_SAM_T_CERT = 43,             /* bytes 1..16384: a DER certificate */
    QS_SAM_T_CSR = 44,              /* bytes 1..16384: a DER PKCS#10 request */
    QS_SAM_T_CERT_SERIAL = 45,      /* bytes 1..20: a certificate serial number, big-endian */
    QS_SAM_T_CRL_REASON = 46,       /* u32 0..10: RFC 5280 CRLReason */
    QS_SAM_T_CA_MODE = 47,          /* u32 qs_sam_ca_mode */
    QS_SAM_T_CRL = 48,              /* bytes: a DER CRL */
    QS_SAM_T_OCSP_REQUEST = 49,     /* bytes 1..16384: a DER OCSPRequest */
    QS_SAM_T_OCSP_RESPONSE = 50,    /* bytes 1..65536: a DER OCSPResponse */
    QS_SAM_T_RA_SESSION = 51,       /* str of 43, secret: an officer's RA session handle */
    QS_SAM_T_EXPIRES_AT = 52,       /* u64 1..2^32-1: a time, seconds since the Unix epoch */

    /* document signatures */
    QS_SAM_T_CMS = 53, /* bytes 1..QS_SAM_CMS_MAX: a DER CMS ContentInfo, input order */
    /* the auditors' search and anomaly reports; tags 54..59 are reserved */
    QS_SAM_T_EVENT_TYPE = 60,   /* str 1..64: an audit event type, or a prefix ending in '.' */
    QS_SAM_T_TIME_FROM = 61,    /* u64: microseconds since the Unix epoch, inclusive */
    QS_SAM_T_TIME_TO = 62,      /* u64: microseconds since the Unix epoch, exclusive */
    QS_SAM_T_AUDIT_RESULT = 63, /* u32 qs_sam_audit_result */
    QS_SAM_T_WRITER_ID = 64,    /* str 1..64: an audit writer (SAM instance) id */
    QS_SAM_T_LOCKED = 65,       /* u32 1: the refused request locked a credential or account */
} qs_sam_tag;

#define QS_SAM_TAG_MAX 65

typedef enum qs_sam_key_alg {
    QS_SAM_KEY_RSA2048 = 1,
    QS_SAM_KEY_RSA3072 = 2,
    QS_SAM_KEY_RSA4096 = 3,
    QS_SAM_KEY_EC_P256 = 4,
    QS_SAM_KEY_EC_P384 = 5,
} qs_sam_key_alg;

typedef enum qs_sam_hash_alg {
    QS_SAM_HASH_SHA256 = 1,
    QS_SAM_HASH_SHA384 = 2,
    QS_SAM_HASH_SHA512 = 3,
} qs_sam_hash_alg;

typedef enum qs_sam_sig_scheme {
    QS_SAM_SIG_ECDSA = 1,     /* over the digest; DER-encoded signature */
    QS_SAM_SIG_RSA_PKCS1 = 2, /* PKCS#1 v1.5 over a DigestInfo of the digest */
    QS_SAM_SIG_RSA_PSS = 3,   /* RSASSA-PSS; salt length and MGF1 hash default to the digest's */
} qs_sam_sig_scheme;

typedef enum qs_sam_user_kind {
    QS_SAM_USER_SIGNER = 1,  /* owns credentials */
    QS_SAM_USER_OFFICER = 2, /* registration officer */
    QS_SAM_USER_AUDITOR = 3, /* reads evidence */
} qs_sam_user_kind;

/* The result an auditor's search keeps (AUDIT_RESULT). */
typedef enum qs_sam_audit_result {
    QS_SAM_AUDIT_SUCCESS = 1,
    QS_SAM_AUDIT_FAILURE = 2,
} qs_sam_audit_result;

typedef enum qs_sam_evidence_method {
    QS_SAM_EVIDENCE_PHYSICAL = 1, /* the person was present before the officer */
    QS_SAM_EVIDENCE_REMOTE = 2,   /* remote identification (video or eID) */
} qs_sam_evidence_method;

typedef enum qs_sam_document_type {
    QS_SAM_DOC_PASSPORT = 1,
    QS_SAM_DOC_ID_CARD = 2,
    QS_SAM_DOC_RESIDENCE_PERMIT = 3,
    QS_SAM_DOC_DRIVING_LICENCE = 4,
} qs_sam_document_type;

typedef enum qs_sam_ca_mode {
    QS_SAM_CA_SELF_SIGNED = 1, /* a self-signed root (local stack, tests) */
    QS_SAM_CA_EXTERNAL = 2,    /* a PKCS#10 request for an external root, then CA_IMPORT_CERT */
} qs_sam_ca_mode;

/* The largest CRL a response carries: the body limit less room for the frame. */
#define QS_SAM_CRL_MAX (QS_SAM_MAX_BODY - 64)

typedef enum qs_sam_state_action {
    QS_SAM_STATE_LOCK = 1,
    QS_SAM_STATE_UNLOCK = 2,
    QS_SAM_STATE_DISABLE = 3,
    QS_SAM_STATE_DESTROY = 4,
} qs_sam_state_action;

/* Why a frame was refused.  Each class of defect has its own reason, for the audit log. */
typedef enum qs_sam_reason {
    QS_SAM_R_OK = 0,
    QS_SAM_R_TRUNCATED_HEADER, /* fewer than QS_SAM_HDR_LEN bytes */
    QS_SAM_R_BAD_MAGIC,        /* the first four bytes are not "QSAM" */
    QS_SAM_R_BAD_VERSION,      /* a protocol version other than QS_SAM_VERSION */
    QS_SAM_R_UNKNOWN_TYPE,     /* a message type not in qs_sam_type */
    QS_SAM_R_BODY_TOO_LARGE,   /* header body length above the limit */
    QS_SAM_R_LENGTH_MISMATCH,  /* fewer body bytes than the header announces */
    QS_SAM_R_TRAILING_BYTES,   /* more bytes than header + body */
    QS_SAM_R_TRUNCATED_FIELD,  /* a field header or value runs past the end of the body */
    QS_SAM_R_UNKNOWN_TAG,      /* a tag this message type does not allow */
    QS_SAM_R_FIELD_ORDER,      /* a tag lower than the one before it */
    QS_SAM_R_DUPLICATE_FIELD,  /* a second occurrence of a non-repeated field */
    QS_SAM_R_TOO_MANY,         /* more occurrences of a repeated field than allowed */
    QS_SAM_R_MISSING_FIELD,    /* a required field is absent */
    QS_SAM_R_BAD_LENGTH,       /* a value length outside the field's range */
    QS_SAM_R_VALUE_RANGE,      /* an integer outside the field's range */
    QS_SAM_R_BAD_UTF8,         /* a string that is not valid UTF-8 */
    QS_SAM_R_EMBEDDED_NUL,     /* a string containing a NUL byte */
    QS_SAM_R_WRONG_KIND,       /* encoder: put_u32/u64/bytes/str on a field of another kind */
    QS_SAM_R_EOF_IN_FRAME,     /* the stream ended inside a frame */
} qs_sam_reason;

/* Stable names ("BAD_MAGIC") and sentences ("bad magic") for reasons; never NULL. */
const char *qs_sam_reason_name(qs_sam_reason r);
const char *qs_sam_reason_str(qs_sam_reason r);

/* ---------------------------------------------------------------------------------------------
 * The spec tables (read-only; for the codec, docs, tests and loggers).
 * ------------------------------------------------------------------------------------------- */

typedef enum qs_sam_kind {
    QS_SAM_K_U32 = 1,   /* 4 bytes big-endian; min/max bound the value */
    QS_SAM_K_U64 = 2,   /* 8 bytes big-endian; min/max bound the value */
    QS_SAM_K_BYTES = 3, /* opaque; min/max bound the length */
    QS_SAM_K_STR = 4,   /* UTF-8 without NUL; min/max bound the length in bytes */
} qs_sam_kind;

#define QS_SAM_F_SECRET     0x01u /* never logged; frames carrying it are wiped */
#define QS_SAM_F_DIGEST_LEN 0x02u /* bytes: the length is 32, 48 or 64 */

typedef struct qs_sam_tag_spec {
    uint16_t tag;
    const char *name; /* "USER_ID" */
    qs_sam_kind kind;
    uint32_t flags;
    uint64_t min, max;
} qs_sam_tag_spec;

typedef struct qs_sam_field_spec {
    uint16_t tag;
    bool required;      /* at least one occurrence */
    uint16_t max_count; /* 1 for a single field */
} qs_sam_field_spec;

typedef struct qs_sam_msg_spec {
    uint16_t type;
    const char *name; /* "AUTHORIZE" */
    size_t nfields;
    const qs_sam_field_spec *fields; /* ascending tag order */
} qs_sam_msg_spec;

/* The spec of a tag or a message type; NULL when unknown (or a reserved tag number). */
const qs_sam_tag_spec *qs_sam_tag_spec_get(uint16_t tag);
const qs_sam_msg_spec *qs_sam_msg_spec_get(uint16_t type);

/* Every message spec, for iteration (*n receives the count). */
const qs_sam_msg_spec *qs_sam_msg_specs(size_t *n);

static inline bool qs_sam_type_is_response(uint16_t type)
{
    return (type & QS_SAM_RESPONSE_BIT) != 0;
}

/* ---------------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------------- */

typedef struct qs_sam_header {
    uint16_t version;
    uint16_t type;
    uint64_t reqid;
    uint32_t body_len;
} qs_sam_header;

/* A decoded message (opaque). */
typedef struct qs_sam_msg qs_sam_msg;

/*
 * Parses and checks a 20-byte header: magic, version, known type and body_len <= max_body
 * (itself at most QS_SAM_MAX_BODY).  Returns QS_SAM_R_OK and fills *h, or the reason.
 */
QS_MUST_CHECK qs_sam_reason qs_sam_header_parse(const uint8_t hdr[static QS_SAM_HDR_LEN],
                                                size_t max_body, qs_sam_header *h);

/*
 * Decodes a whole frame of `len` bytes.  On QS_OK *out is a message; otherwise *out is NULL,
 * the result is QS_ERR_PROTO with *why set (or QS_ERR_NOMEM with *why = QS_SAM_R_OK).
 * Ownership: the message borrows `frame`: byte values point into it, so the caller keeps it
 * unchanged until qs_sam_msg_free() and then wipes it.  String values are NUL-terminated
 * copies owned by the message.
 */
QS_MUST_CHECK qs_err qs_sam_decode_frame(const uint8_t *frame, size_t len, qs_sam_msg **out,
                                         qs_sam_reason *why);

/* As qs_sam_decode_frame for a body alone, of a message of `type` with request id `reqid`. */
QS_MUST_CHECK qs_err qs_sam_decode_body(uint16_t type, uint64_t reqid, const uint8_t *body,
                                        size_t len, qs_sam_msg **out, qs_sam_reason *why);

/* Wipes every copy the message made (and the frame it owns, see qs_sam_recv) and frees it.
 * NULL is a no-op. */
void qs_sam_msg_free(qs_sam_msg *m);

uint16_t qs_sam_msg_type(const qs_sam_msg *m);
uint64_t qs_sam_msg_reqid(const qs_sam_msg *m);

/* Number of occurrences of `tag` (0 when absent or not allowed in this message type). */
size_t qs_sam_msg_count(const qs_sam_msg *m, uint16_t tag);

/* Integer fields: true and *v set when present (and of that kind), false otherwise. */
bool qs_sam_msg_get_u32(const qs_sam_msg *m, uint16_t tag, uint32_t *v);
bool qs_sam_msg_get_u64(const qs_sam_msg *m, uint16_t tag, uint64_t *v);

/* The idx-th occurrence of a bytes field: true with *p, *len set (pointing into the decoded
 * buffer), false when absent. */
bool qs_sam_msg_get_bytes(const qs_sam_msg *m, uint16_t tag, size_t idx, const uint8_t **p,
                          size_t *len);

/* A string field: its NUL-terminated value (valid until qs_sam_msg_free) and, when len is not
 * NULL, its length; NULL when absent. */
const char *qs_sam_msg_get_str(const qs_sam_msg *m, uint16_t tag, size_t *len);

/* ---------------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------------- */

typedef struct qs_sam_builder qs_sam_builder;

/* Starts a message of a known type: QS_OK, QS_ERR_INVALID_ARGUMENT (unknown type), QS_ERR_NOMEM. */
QS_MUST_CHECK qs_err qs_sam_msg_begin(uint16_t type, uint64_t reqid, qs_sam_builder **out);

/*
 * Add a field.  Fields may be put in any order; repeated fields keep their relative order.
 * A field the type's spec does not allow, of another kind, out of range, invalid UTF-8 or with a
 * NUL, one occurrence too many, or a body growing past QS_SAM_MAX_BODY gives
 * QS_ERR_INVALID_ARGUMENT (QS_ERR_NOMEM for memory); the first error sticks: qs_sam_msg_finish
 * then fails too.  qs_sam_builder_reason() tells which rule.  Values are copied.
 */
QS_MUST_CHECK qs_err qs_sam_msg_put_u32(qs_sam_builder *b, uint16_t tag, uint32_t v);
QS_MUST_CHECK qs_err qs_sam_msg_put_u64(qs_sam_builder *b, uint16_t tag, uint64_t v);
QS_MUST_CHECK qs_err qs_sam_msg_put_bytes(qs_sam_builder *b, uint16_t tag, const void *p,
                                          size_t len);
/* `s` is NUL-terminated. */
QS_MUST_CHECK qs_err qs_sam_msg_put_str(qs_sam_builder *b, uint16_t tag, const char *s);
/* As put_str for `len` bytes (which must hold no NUL). */
QS_MUST_CHECK qs_err qs_sam_msg_put_strn(qs_sam_builder *b, uint16_t tag, const char *s,
                                         size_t len);

/* The first rule a put or finish broke (QS_SAM_R_OK when none). */
qs_sam_reason qs_sam_builder_reason(const qs_sam_builder *b);

/*
 * Checks required fields and produces the frame: *frame (malloc'd, free with
 * qs_sam_frame_free) and *len.  Always consumes the builder (wiped and freed), on success and
 * on error.  QS_ERR_INVALID_ARGUMENT (a missing field, an earlier put error; *why tells) or
 * QS_ERR_NOMEM.  why may be NULL.
 */
QS_MUST_CHECK qs_err qs_sam_msg_finish(qs_sam_builder *b, uint8_t **frame, size_t *len,
                                       qs_sam_reason *why);

/* Abandons a builder: wipes and frees it.  NULL is a no-op. */
void qs_sam_builder_free(qs_sam_builder *b);

/* Wipes and frees a frame from qs_sam_msg_finish or qs_sam_read_frame.  NULL is a no-op. */
void qs_sam_frame_free(uint8_t *frame, size_t len);

/* ---------------------------------------------------------------------------------------------
 * Stream framing over a blocking or non-blocking stream fd.  timeout_ms < 0 waits forever;
 * otherwise the whole frame must arrive (or leave) within it.  EINTR and short transfers are
 * handled.
 * ------------------------------------------------------------------------------------------- */

/*
 * Reads exactly one frame.  The header is checked (qs_sam_header_parse, with max_body) before
 * any body byte is read; the body is not decoded.  On QS_OK *frame (free with
 * qs_sam_frame_free) holds header and body, *len their size.  Errors: QS_ERR_EOF (the peer
 * closed before the first byte), QS_ERR_PROTO (*why: the header reason or EOF_IN_FRAME),
 * QS_ERR_TIMEOUT, QS_ERR_IO (errno is kept), QS_ERR_NOMEM.
 */
QS_MUST_CHECK qs_err qs_sam_read_frame(int fd, size_t max_body, int timeout_ms, uint8_t **frame,
                                       size_t *len, qs_sam_reason *why);

/* Reads one frame and decodes it; the message owns the frame and wipes it when freed.
 * Errors as qs_sam_read_frame and qs_sam_decode_frame. */
QS_MUST_CHECK qs_err qs_sam_recv(int fd, size_t max_body, int timeout_ms, qs_sam_msg **out,
                                 qs_sam_reason *why);

/* Writes all `len` bytes of a frame.  QS_OK, QS_ERR_EOF (the peer has gone: EPIPE or
 * ECONNRESET; no SIGPIPE is raised on sockets), QS_ERR_TIMEOUT, QS_ERR_IO. */
QS_MUST_CHECK qs_err qs_sam_write_frame(int fd, const uint8_t *frame, size_t len, int timeout_ms);

#endif
