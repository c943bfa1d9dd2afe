/*
 * Activation codes of new signers (sam/activation.c), shared by CREATE_SIGNER, which makes
 * them, and ACTIVATE, which checks them.  Private to sam/.
 *
 * A code is 120 random bits as 24 base32 characters (A-Z, 2-7), shown in groups of four with
 * dashes.  Only its SHA-256 is stored.  Presented codes are read case-insensitively, ignoring
 * dashes and spaces.
 */
#ifndef QS_SAM_SIGNER_H
#define QS_SAM_SIGNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SAM_ACTIVATION_RAW_LEN  15
#define SAM_ACTIVATION_CHARS    24 /* base32 characters */
#define SAM_ACTIVATION_CODE_LEN (SAM_ACTIVATION_CHARS + SAM_ACTIVATION_CHARS / 4 - 1) /* dashes */
#define SAM_ACTIVATION_HASH_LEN 32

/* A new code as shown to the officer (NUL-terminated; a secret the caller wipes) and the hash
 * to store. */
void sam_activation_code_new(char code[static SAM_ACTIVATION_CODE_LEN + 1],
                             uint8_t hash[static SAM_ACTIVATION_HASH_LEN]);

/* The hash of a presented code (`len` bytes): false when it is not 24 base32 characters once
 * dashes and spaces are dropped. */
bool sam_activation_code_hash(const char *code, size_t len,
                              uint8_t hash[static SAM_ACTIVATION_HASH_LEN]);

#endif
