/*
 * A throwaway SoftHSM token for tests and benchmarks: a private token directory, a
 * softhsm2.conf pointing at it (exported as SOFTHSM2_CONF), and one token made with
 * softhsm2-util.  Skips the test (exit 77) only when SoftHSM itself is not installed.
 */
#ifndef QS_TESTS_SOFTHSM_H
#define QS_TESTS_SOFTHSM_H

#include <limits.h>
#include <stddef.h>

#include "hsm/hsm.h"

#define QS_TEST_TOKEN_LABEL  "qsign-test"
#define QS_TEST_TOKEN_PIN    "1234-user-pin"
#define QS_TEST_TOKEN_SO_PIN "5678-so-pin"

typedef struct qs_test_token {
    char dir[PATH_MAX]; /* made by qs_test_tmpdir; removed by qs_test_token_destroy */
    char conf[PATH_MAX + 32];
    char module[PATH_MAX]; /* the SoftHSM PKCS#11 module */
    char util[PATH_MAX];   /* softhsm2-util */
    const char *label, *pin, *so_pin;
} qs_test_token;

/* Makes the directory, the config and the token labelled QS_TEST_TOKEN_LABEL (with the PINs
 * above).  Must run before the module is initialised in this process (SoftHSM reads
 * SOFTHSM2_CONF in C_Initialize).  Exits the program on failure. */
void qs_test_token_create(qs_test_token *t, const char *tag);

/* Adds one more token with another label to the same directory. */
void qs_test_token_add(const qs_test_token *t, const char *label);

/* Writes `secret` to a new 0600 file `name` in the token directory; its path goes to path. */
void qs_test_token_secret_file(const qs_test_token *t, const char *name, const char *secret,
                               char *path, size_t path_len);

/* Parameters for qs_hsm_open on this token (pointing into t). */
void qs_test_token_params(const qs_test_token *t, qs_hsm_params *p);

/* Creates the service keys (qs_hsm_init_service_keys); exits the program on failure. */
void qs_test_token_init_keys(const qs_test_token *t);

/* qs_hsm_open on this token; exits the program on failure. */
qs_hsm *qs_test_token_open(const qs_test_token *t);

/* Removes the token directory. */
void qs_test_token_destroy(qs_test_token *t);

#endif
