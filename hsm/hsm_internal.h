/*
 * Raw PKCS#11 access behind the HSM layer, for tests and the benchmark only: they check what the
 * token refuses (reading or re-wrapping a key) and compare the layer with straight C_* calls.
 * Production code uses hsm/hsm.h alone.
 */
#ifndef QS_HSM_HSM_INTERNAL_H
#define QS_HSM_HSM_INTERNAL_H

#include <p11-kit/pkcs11.h>

#include "hsm/hsm.h"

/* The module's function list (valid while h is open). */
CK_FUNCTION_LIST *qs_hsm_p11(const qs_hsm *h);

/* The slot of the token h uses. */
CK_SLOT_ID qs_hsm_slot(const qs_hsm *h);

/* The object handle of a service key in this process. */
CK_OBJECT_HANDLE qs_hsm_service_key_handle(const qs_hsm *h, qs_hsm_service_key k);

/* The PKCS#11 session of s (after re-opening it, should the process have forked). */
CK_SESSION_HANDLE qs_hsm_session_handle(qs_hsm_session *s);

/* The session object of an unwrapped key. */
CK_OBJECT_HANDLE qs_hsm_key_handle(const qs_hsm_key *k);

/* CKK_EC or CKK_RSA for `alg`; CKK_VENDOR_DEFINED for a value outside the enum. */
CK_KEY_TYPE qs_hsm_alg_key_type(qs_key_alg alg);

/* Generates a key pair with exactly the attributes qs_hsm_generate_signer_key uses and leaves
 * both session objects in place, for tests that probe what the token allows on them. */
QS_MUST_CHECK qs_err qs_hsm_generate_session_keypair(qs_hsm_session *s, qs_key_alg alg,
                                                     CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);

/* The mechanism and parameter the layer signs with, and the exact input it hands to C_Sign
 * (DigestInfo for RSA PKCS#1 v1.5, the digest otherwise), for raw comparisons.  `pss` receives
 * the PSS parameters; `in` needs room for QS_HSM_SIGN_INPUT_MAX bytes. */
#define QS_HSM_SIGN_INPUT_MAX (19 + QS_HASH_MAX_LEN)
QS_MUST_CHECK qs_err qs_hsm_sign_mechanism(qs_sig_scheme scheme, qs_hash_alg hash,
                                           const uint8_t *digest, size_t dlen, CK_MECHANISM *mech,
                                           CK_RSA_PKCS_PSS_PARAMS *pss, uint8_t *in,
                                           size_t *in_len);

/* Generates an EC key pair (QS_KEY_EC_P256 or QS_KEY_EC_P384) as token objects labelled
 * `label` (at most 64 bytes) with a random shared CKA_ID: the private key private, sensitive,
 * never extractable, signing only; the public key verifying only.  For the SAM's CA key and
 * OCSP responder key (hsm/ca_key.c), which it then uses through libp11.  QS_ERR_EXISTS when an
 * object with the label exists (nothing is replaced). */
QS_MUST_CHECK qs_err qs_hsm_generate_token_ec_key(qs_hsm_session *s, qs_key_alg alg,
                                                  const char *label);

/* The name of a PKCS#11 return value ("CKR_PIN_INCORRECT"); "CKR_VENDOR_DEFINED" or
 * "CKR_UNKNOWN" when it has none. */
const char *qs_hsm_ckr_name(CK_RV rv);

/* The project error a PKCS#11 return value maps to (one table for the whole layer). */
qs_err qs_hsm_ckr_err(CK_RV rv);

#endif
