/*
 * Service keys on a real SoftHSM token: `qsignctl hsm init` creates them once and never
 * replaces them; they survive closing and reopening (same HMAC, old ciphertext decrypts, old
 * blobs unwrap); HMAC and AES-GCM refuse any change; the audit signing key signs digests that
 * its public key verifies and gives nothing else away; open fails clearly for a wrong PIN, an
 * unknown token, a missing, ambiguous or unsafe service key; a token made before the audit key
 * existed gets it from the next init, and half a key pair is refused, never completed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cli/cli.h"
#include "hsm/hsm.h"
#include "hsm/hsm_internal.h"
#include "tests/lib/softhsm.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

static qs_test_token token;
static char pin_file[PATH_MAX + 64], so_pin_file[PATH_MAX + 64];
static qs_ctl_config cfg;
static char ids_at_init[QS_HSM_SERVICE_KEY_COUNT][QS_HSM_KEY_ID_HEX_LEN + 1];

static int setup(void **state)
{
    qs_test_token_create(&token, "hsm-service");
    qs_test_token_secret_file(&token, "pin", token.pin, pin_file, sizeof pin_file);
    qs_test_token_secret_file(&token, "so-pin", token.so_pin, so_pin_file, sizeof so_pin_file);
    cfg.hsm_module = token.module;
    cfg.hsm_token_label = (char *)token.label;
    cfg.hsm_pin_file = pin_file;
    cfg.hsm_so_pin_file = so_pin_file;
    return 0;
}

static int teardown(void **state)
{
    qs_test_token_destroy(&token);
    return 0;
}

/* Runs `qsignctl hsm <sub>` in-process with stdout captured into out. */
static int run_ctl(const char *sub, char *out, size_t cap)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/ctl.out", token.dir);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    assert_true(dup2(fd, STDOUT_FILENO) >= 0);
    close(fd);
    char *argv[] = {(char *)"hsm", (char *)sub, NULL};
    int rc = qs_ctl_hsm(&cfg, 2, argv);
    fflush(stdout);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
    fprintf(stderr, "qsignctl hsm %s -> %d\n%s", sub, rc, out);
    return rc;
}

/* The output line of `label` says `word`. */
static void expect_line(const char *out, const char *label, const char *word)
{
    char needle[128];
    snprintf(needle, sizeof needle, "%-18s %s", label, word);
    if (strstr(out, needle) == NULL)
        fail_msg("no \"%s\" in:\n%s", needle, out);
}

static void params(qs_hsm_params *p)
{
    qs_test_token_params(&token, p);
}

static void test_init_creates_once(void **state)
{
    char out[4096];
    /* Before init: the token is there, the keys are not. */
    assert_int_equal(run_ctl("status", out, sizeof out), 1);
    for (unsigned k = 0; k < QS_HSM_SERVICE_KEY_COUNT; k++)
        expect_line(out, qs_hsm_service_key_label(k), "missing");
    qs_hsm_params p;
    params(&p);
    qs_hsm *h = NULL;
    assert_int_equal(qs_hsm_open(&p, &h), QS_ERR_HSM_KEY_NOT_FOUND);
    assert_null(h);

    assert_int_equal(run_ctl("init", out, sizeof out), 0);
    for (unsigned k = 0; k < QS_HSM_SERVICE_KEY_COUNT; k++)
        expect_line(out, qs_hsm_service_key_label(k), "created");

    qs_hsm_service_report rep;
    assert_int_equal(qs_hsm_service_key_status(&p, &rep), QS_OK);
    for (unsigned k = 0; k < QS_HSM_SERVICE_KEY_COUNT; k++) {
        assert_int_equal(rep.state[k], QS_HSM_KEY_EXISTS);
        assert_int_equal(strlen(rep.id_hex[k]), QS_HSM_KEY_ID_HEX_LEN);
        memcpy(ids_at_init[k], rep.id_hex[k], sizeof ids_at_init[k]);
        for (unsigned j = 0; j < k; j++)
            assert_string_not_equal(rep.id_hex[j], rep.id_hex[k]);
        /* The CLI printed the same ids. */
        assert_non_null(strstr(out, rep.id_hex[k]));
    }

    /* Again, through the CLI and the API: nothing is created or replaced. */
    assert_int_equal(run_ctl("init", out, sizeof out), 0);
    for (unsigned k = 0; k < QS_HSM_SERVICE_KEY_COUNT; k++) {
        expect_line(out, qs_hsm_service_key_label(k), "exists");
        assert_non_null(strstr(out, ids_at_init[k]));
    }
    assert_null(strstr(out, "created"));
    assert_int_equal(qs_hsm_init_service_keys(&p, token.so_pin, strlen(token.so_pin), &rep), QS_OK);
    for (unsigned k = 0; k < QS_HSM_SERVICE_KEY_COUNT; k++) {
        assert_int_equal(rep.state[k], QS_HSM_KEY_EXISTS);
        assert_string_equal(rep.id_hex[k], ids_at_init[k]);
    }
    assert_int_equal(run_ctl("status", out, sizeof out), 0);
    assert_non_null(strstr(out, "found, login ok"));
    for (unsigned k = 0; k < QS_HSM_SERVICE_KEY_COUNT; k++)
        expect_line(out, qs_hsm_service_key_label(k), "present");
}

static void test_keys_survive_restart(void **state)
{
    static const uint8_t data[] = "credential 42 | user 7 | spki ...";
    static const uint8_t aad[] = "factor 9";
    static const uint8_t secret[] = "JBSWY3DPEHPK3PXP";
    uint8_t mac1[QS_HSM_HMAC_LEN], pep1[QS_HSM_HMAC_LEN], mac2[QS_HSM_HMAC_LEN],
        pep2[QS_HSM_HMAC_LEN];
    uint8_t ct[sizeof secret + QS_HSM_AEAD_OVERHEAD];
    size_t ct_len = sizeof ct;
    qs_hsm_keypair kp;
    qs_hsm_params p;
    params(&p);

    qs_hsm *h = NULL;
    qs_hsm_session *s = NULL;
    assert_int_equal(qs_hsm_open(&p, &h), QS_OK);
    assert_int_equal(qs_hsm_session_open(h, &s), QS_OK);
    CK_OBJECT_HANDLE handles[QS_HSM_SERVICE_KEY_COUNT];
    for (unsigned k = 0; k < QS_HSM_SERVICE_KEY_COUNT; k++)
        handles[k] = qs_hsm_service_key_handle(h, k);
    assert_int_equal(qs_hsm_hmac(s, QS_HSM_RECORD_MAC, data, sizeof data, mac1), QS_OK);
    assert_int_equal(qs_hsm_hmac(s, QS_HSM_PEPPER, data, sizeof data, pep1), QS_OK);
    assert_memory_not_equal(mac1, pep1, QS_HSM_HMAC_LEN);
    assert_int_equal(qs_hsm_encrypt(s, aad, sizeof aad, secret, sizeof secret, ct, &ct_len), QS_OK);
    assert_int_equal(qs_hsm_generate_signer_key(s, QS_KEY_EC_P256, &kp), QS_OK);
    qs_hsm_session_close(s);
    qs_hsm_close(h);

    /* hsm init in between must not touch them. */
    qs_hsm_service_report rep;
    assert_int_equal(qs_hsm_init_service_keys(&p, token.so_pin, strlen(token.so_pin), &rep), QS_OK);
    for (unsigned k = 0; k < QS_HSM_SERVICE_KEY_COUNT; k++) {
        assert_int_equal(rep.state[k], QS_HSM_KEY_EXISTS);
        assert_string_equal(rep.id_hex[k], ids_at_init[k]);
    }

    assert_int_equal(qs_hsm_open(&p, &h), QS_OK);
    assert_int_equal(qs_hsm_session_open(h, &s), QS_OK);
    for (unsigned k = 0; k < QS_HSM_SERVICE_KEY_COUNT; k++)
        assert_int_equal(qs_hsm_service_key_handle(h, k), handles[k]);
    assert_int_equal(qs_hsm_hmac(s, QS_HSM_RECORD_MAC, data, sizeof data, mac2), QS_OK);
    assert_int_equal(qs_hsm_hmac(s, QS_HSM_PEPPER, data, sizeof data, pep2), QS_OK);
    assert_memory_equal(mac1, mac2, QS_HSM_HMAC_LEN);
    assert_memory_equal(pep1, pep2, QS_HSM_HMAC_LEN);
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    assert_int_equal(qs_hsm_decrypt(s, aad, sizeof aad, ct, ct_len, &pt, &pt_len), QS_OK);
    assert_int_equal(pt_len, sizeof secret);
    assert_memory_equal(pt, secret, sizeof secret);
    qs_secret_free(pt);
    qs_hsm_key *key = NULL;
    assert_int_equal(qs_hsm_unwrap_signer_key(s, QS_KEY_EC_P256, kp.wrapped, kp.wrapped_len, &key),
                     QS_OK);
    qs_hsm_key_destroy(key);
    qs_hsm_keypair_clear(&kp);
    qs_hsm_session_close(s);
    qs_hsm_close(h);
}

static void test_hmac(void **state)
{
    qs_hsm_params p;
    params(&p);
    qs_hsm *h = NULL;
    qs_hsm_session *s = NULL;
    assert_int_equal(qs_hsm_open(&p, &h), QS_OK);
    assert_int_equal(qs_hsm_session_open(h, &s), QS_OK);

    uint8_t data[300], mac[QS_HSM_HMAC_LEN], mac2[QS_HSM_HMAC_LEN];
    qs_random(data, sizeof data);
    assert_int_equal(qs_hsm_hmac(s, QS_HSM_RECORD_MAC, data, sizeof data, mac), QS_OK);
    assert_int_equal(qs_hsm_hmac_verify(s, QS_HSM_RECORD_MAC, data, sizeof data, mac), QS_OK);
    /* Any changed MAC bit, data bit or length, or the other key: rejected. */
    for (size_t bit = 0; bit < QS_HSM_HMAC_LEN * 8; bit += 37) {
        mac[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(qs_hsm_hmac_verify(s, QS_HSM_RECORD_MAC, data, sizeof data, mac),
                         QS_ERR_MAC);
        mac[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    data[150] ^= 0x10;
    assert_int_equal(qs_hsm_hmac_verify(s, QS_HSM_RECORD_MAC, data, sizeof data, mac), QS_ERR_MAC);
    data[150] ^= 0x10;
    assert_int_equal(qs_hsm_hmac_verify(s, QS_HSM_RECORD_MAC, data, sizeof data - 1, mac),
                     QS_ERR_MAC);
    assert_int_equal(qs_hsm_hmac_verify(s, QS_HSM_PEPPER, data, sizeof data, mac), QS_ERR_MAC);
    assert_int_equal(qs_hsm_hmac_verify(s, QS_HSM_RECORD_MAC, data, sizeof data, mac), QS_OK);

    /* Parts give the HMAC of their concatenation, however split. */
    qs_hsm_buf parts[] = {{data, 10}, {data + 10, 0}, {data + 10, 200}, {data + 210, 90}};
    assert_int_equal(qs_hsm_hmac_parts(s, QS_HSM_RECORD_MAC, parts, 4, mac2), QS_OK);
    assert_memory_equal(mac, mac2, QS_HSM_HMAC_LEN);
    /* Empty input is a valid message, distinct from others. */
    assert_int_equal(qs_hsm_hmac(s, QS_HSM_RECORD_MAC, NULL, 0, mac2), QS_OK);
    assert_memory_not_equal(mac, mac2, QS_HSM_HMAC_LEN);
    assert_int_equal(qs_hsm_hmac_verify(s, QS_HSM_RECORD_MAC, NULL, 0, mac2), QS_OK);

    /* Only the two MAC keys make MACs. */
    assert_int_equal(qs_hsm_hmac(s, QS_HSM_KEK, data, sizeof data, mac2), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_hsm_hmac(s, QS_HSM_SECRET_ENC, data, sizeof data, mac2),
                     QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_hsm_hmac(s, QS_HSM_RECORD_MAC, NULL, 5, mac2), QS_ERR_INVALID_ARGUMENT);
    /* And the session is still fine after the refusals. */
    assert_int_equal(qs_hsm_hmac_verify(s, QS_HSM_RECORD_MAC, data, sizeof data, mac), QS_OK);

    qs_hsm_session_close(s);
    qs_hsm_close(h);
}

static void test_aead(void **state)
{
    qs_hsm_params p;
    params(&p);
    qs_hsm *h = NULL;
    qs_hsm_session *s = NULL;
    assert_int_equal(qs_hsm_open(&p, &h), QS_OK);
    assert_int_equal(qs_hsm_session_open(h, &s), QS_OK);

    static const uint8_t aad[] = "user 7 factor 3 totp";
    const size_t sizes[] = {0, 1, 16, 100, 5000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *pt = malloc(n + 1), *ct = malloc(n + QS_HSM_AEAD_OVERHEAD),
                *ct2 = malloc(n + QS_HSM_AEAD_OVERHEAD);
        assert_true(pt != NULL && ct != NULL && ct2 != NULL);
        qs_random(pt, n);
        size_t ct_len = n + QS_HSM_AEAD_OVERHEAD, ct2_len = ct_len;
        assert_int_equal(qs_hsm_encrypt(s, aad, sizeof aad, pt, n, ct, &ct_len), QS_OK);
        assert_int_equal(ct_len, n + QS_HSM_AEAD_OVERHEAD);
        assert_int_equal(qs_hsm_encrypt(s, aad, sizeof aad, pt, n, ct2, &ct2_len), QS_OK);
        /* A fresh IV each time. */
        assert_memory_not_equal(ct, ct2, QS_HSM_GCM_IV_LEN);

        uint8_t *out = NULL;
        size_t out_len = 99;
        assert_int_equal(qs_hsm_decrypt(s, aad, sizeof aad, ct, ct_len, &out, &out_len), QS_OK);
        assert_int_equal(out_len, n);
        if (n > 0)
            assert_memory_equal(out, pt, n);
        assert_int_equal(out[n], 0);
        qs_secret_free(out);

        /* One flipped bit in the IV, the ciphertext body or the tag. */
        size_t where[] = {0,
                          QS_HSM_GCM_IV_LEN - 1,
                          QS_HSM_GCM_IV_LEN,
                          QS_HSM_GCM_IV_LEN + n / 2,
                          ct_len - QS_HSM_GCM_TAG_LEN,
                          ct_len - 1};
        for (size_t w = 0; w < sizeof where / sizeof where[0]; w++) {
            if (where[w] >= ct_len)
                continue;
            ct[where[w]] ^= 0x04;
            out = (uint8_t *)&out;
            assert_int_equal(qs_hsm_decrypt(s, aad, sizeof aad, ct, ct_len, &out, &out_len),
                             QS_ERR_MAC);
            assert_null(out);
            assert_int_equal(out_len, 0);
            ct[where[w]] ^= 0x04;
        }
        /* Another record's AAD, no AAD, truncation. */
        static const uint8_t other[] = "user 8 factor 3 totp";
        assert_int_equal(qs_hsm_decrypt(s, other, sizeof other, ct, ct_len, &out, &out_len),
                         QS_ERR_MAC);
        assert_int_equal(qs_hsm_decrypt(s, NULL, 0, ct, ct_len, &out, &out_len), QS_ERR_MAC);
        assert_int_equal(qs_hsm_decrypt(s, aad, sizeof aad, ct, ct_len - 1, &out, &out_len),
                         QS_ERR_MAC);
        assert_int_equal(
            qs_hsm_decrypt(s, aad, sizeof aad, ct, QS_HSM_AEAD_OVERHEAD - 1, &out, &out_len),
            QS_ERR_MAC);
        /* Still intact after all that. */
        assert_int_equal(qs_hsm_decrypt(s, aad, sizeof aad, ct, ct_len, &out, &out_len), QS_OK);
        qs_secret_free(out);
        free(pt);
        free(ct);
        free(ct2);
    }
    /* A ciphertext buffer without room for IV and tag. */
    uint8_t small[QS_HSM_AEAD_OVERHEAD + 3];
    size_t small_len = sizeof small;
    assert_int_equal(qs_hsm_encrypt(s, NULL, 0, (const uint8_t *)"abcd", 4, small, &small_len),
                     QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(small_len, 0);

    qs_hsm_session_close(s);
    qs_hsm_close(h);
}

static void test_open_errors(void **state)
{
    qs_hsm_params p;
    qs_hsm *h = (qs_hsm *)&h;
    qs_hsm_service_report rep;

    params(&p);
    p.pin = "0000";
    p.pin_len = 4;
    assert_int_equal(qs_hsm_open(&p, &h), QS_ERR_HSM_LOGIN);
    assert_null(h);
    assert_int_equal(qs_hsm_service_key_status(&p, &rep), QS_ERR_HSM_LOGIN);
    params(&p);
    p.pin_len -= 1; /* a prefix of the right PIN */
    assert_int_equal(qs_hsm_open(&p, &h), QS_ERR_HSM_LOGIN);

    params(&p);
    p.token_label = "no-such-token";
    assert_int_equal(qs_hsm_open(&p, &h), QS_ERR_HSM_TOKEN_NOT_FOUND);
    assert_int_equal(qs_hsm_service_key_status(&p, &rep), QS_ERR_HSM_TOKEN_NOT_FOUND);
    p.token_label = "qsign-tes"; /* a prefix of the real label */
    assert_int_equal(qs_hsm_open(&p, &h), QS_ERR_HSM_TOKEN_NOT_FOUND);
    p.token_label = "a-label-longer-than-thirty-two-bytes";
    assert_int_equal(qs_hsm_open(&p, &h), QS_ERR_INVALID_ARGUMENT);

    params(&p);
    p.module_path = "/nonexistent/libpkcs11.so";
    assert_int_equal(qs_hsm_open(&p, &h), QS_ERR_HSM_UNAVAILABLE);
    char not_p11[PATH_MAX];
    Dl_info info;
    assert_true(dladdr((void *)&_cmocka_run_group_tests, &info) != 0 && info.dli_fname != NULL);
    snprintf(not_p11, sizeof not_p11, "%s", info.dli_fname);
    p.module_path = not_p11; /* libcmocka: a shared object without C_GetFunctionList */
    assert_int_equal(qs_hsm_open(&p, &h), QS_ERR_HSM_UNAVAILABLE);

    params(&p);
    p.pin_len = 0;
    assert_int_equal(qs_hsm_open(&p, &h), QS_ERR_INVALID_ARGUMENT);
    params(&p);
    assert_int_equal(qs_hsm_init_service_keys(&p, "wrong-so", 8, &rep), QS_ERR_HSM_LOGIN);

    /* The CLI: bad sub-command, missing config, unreadable PIN file. */
    char out[4096];
    assert_int_equal(run_ctl("bogus", out, sizeof out), 2);
    char *saved = cfg.hsm_so_pin_file;
    cfg.hsm_so_pin_file = NULL;
    assert_int_equal(run_ctl("init", out, sizeof out), 1);
    cfg.hsm_so_pin_file = saved;
    assert_int_equal(chmod(pin_file, 0644), 0);
    assert_int_equal(run_ctl("status", out, sizeof out), 1);
    assert_int_equal(chmod(pin_file, 0600), 0);
    assert_int_equal(run_ctl("status", out, sizeof out), 0);

    /* After all the failures a correct open still works. */
    params(&p);
    assert_int_equal(qs_hsm_open(&p, &h), QS_OK);
    qs_hsm_close(h);
    qs_hsm_close(NULL);
}

/* Two instances in one process share the token's login; the second needs the same PIN. */
static void test_second_instance(void **state)
{
    qs_hsm_params p;
    params(&p);
    qs_hsm *h1 = NULL, *h2 = NULL, *h3 = (qs_hsm *)&h3;
    assert_int_equal(qs_hsm_open(&p, &h1), QS_OK);
    assert_int_equal(qs_hsm_open(&p, &h2), QS_OK);
    qs_hsm_params wrong = p;
    wrong.pin = "0000";
    wrong.pin_len = 4;
    assert_int_equal(qs_hsm_open(&wrong, &h3), QS_ERR_HSM_LOGIN);
    assert_null(h3);
    qs_hsm_service_report rep;
    assert_int_equal(qs_hsm_service_key_status(&wrong, &rep), QS_ERR_HSM_LOGIN);
    /* hsm init wants the token to itself. */
    assert_int_equal(qs_hsm_init_service_keys(&p, token.so_pin, strlen(token.so_pin), &rep),
                     QS_ERR_INVALID_ARGUMENT);

    qs_hsm_close(h1);
    /* h2 keeps working with h1 gone: the login stays while h2 holds a session. */
    qs_hsm_session *s = NULL;
    uint8_t mac[QS_HSM_HMAC_LEN];
    assert_int_equal(qs_hsm_session_open(h2, &s), QS_OK);
    assert_int_equal(qs_hsm_hmac(s, QS_HSM_PEPPER, (const uint8_t *)"x", 1, mac), QS_OK);
    qs_hsm_session_close(s);
    qs_hsm_close(h2);

    /* All closed: the wrong PIN is refused by the token itself again. */
    assert_int_equal(qs_hsm_open(&wrong, &h3), QS_ERR_HSM_LOGIN);
}

/* Raw PKCS#11 access to the token outside the layer (none of its instances open). */
typedef struct raw {
    CK_FUNCTION_LIST *fn;
    CK_SESSION_HANDLE s;
    bool finalize;
} raw;

static void raw_begin(raw *r)
{
    void *dl = dlopen(token.module, RTLD_NOW | RTLD_NODELETE);
    assert_non_null(dl);
    CK_C_GetFunctionList gfl;
    void *sym = dlsym(dl, "C_GetFunctionList");
    assert_non_null(sym);
    memcpy(&gfl, &sym, sizeof gfl);
    assert_int_equal(gfl(&r->fn), CKR_OK);
    CK_RV rv = r->fn->C_Initialize(NULL);
    assert_true(rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED);
    r->finalize = rv == CKR_OK;
    CK_SLOT_ID slots[16];
    CK_ULONG n = 16;
    assert_int_equal(r->fn->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    bool found = false;
    for (CK_ULONG i = 0; i < n && !found; i++) {
        CK_TOKEN_INFO ti;
        assert_int_equal(r->fn->C_GetTokenInfo(slots[i], &ti), CKR_OK);
        if (memcmp(ti.label, token.label, strlen(token.label)) == 0 &&
            ti.label[strlen(token.label)] == ' ') {
            found = true;
            assert_int_equal(r->fn->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                                  NULL, NULL, &r->s),
                             CKR_OK);
        }
    }
    assert_true(found);
    assert_int_equal(r->fn->C_Login(r->s, CKU_USER, (CK_UTF8CHAR *)token.pin, strlen(token.pin)),
                     CKR_OK);
    dlclose(dl);
}

static void raw_end(raw *r)
{
    assert_int_equal(r->fn->C_Logout(r->s), CKR_OK);
    assert_int_equal(r->fn->C_CloseSession(r->s), CKR_OK);
    if (r->finalize)
        assert_int_equal(r->fn->C_Finalize(NULL), CKR_OK);
}

/* The first object labelled `label` (and of class cls, unless cls is ~0); handles are only
 * valid within one raw_begin/raw_end. */
static CK_OBJECT_HANDLE raw_find_class(raw *r, const char *label, CK_OBJECT_CLASS cls,
                                       CK_ULONG *count)
{
    CK_ATTRIBUTE t[] = {{CKA_LABEL, (void *)label, strlen(label)}, {CKA_CLASS, &cls, sizeof cls}};
    CK_OBJECT_HANDLE found[4] = {CK_INVALID_HANDLE};
    assert_int_equal(r->fn->C_FindObjectsInit(r->s, t, cls == (CK_OBJECT_CLASS)~0ul ? 1 : 2),
                     CKR_OK);
    assert_int_equal(r->fn->C_FindObjects(r->s, found, 4, count), CKR_OK);
    assert_int_equal(r->fn->C_FindObjectsFinal(r->s), CKR_OK);
    return found[0];
}

static CK_OBJECT_HANDLE raw_find(raw *r, const char *label, CK_ULONG *count)
{
    return raw_find_class(r, label, (CK_OBJECT_CLASS)~0ul, count);
}

static void test_missing_key(void **state)
{
    char out[4096];
    raw r;
    CK_ULONG n;
    raw_begin(&r);
    CK_OBJECT_HANDLE mac = raw_find(&r, "qsign-record-mac", &n);
    assert_int_equal(n, 1);
    assert_int_equal(r.fn->C_DestroyObject(r.s, mac), CKR_OK);
    raw_end(&r);

    qs_hsm_params p;
    params(&p);
    qs_hsm *h = (qs_hsm *)&h;
    assert_int_equal(qs_hsm_open(&p, &h), QS_ERR_HSM_KEY_NOT_FOUND);
    assert_null(h);
    qs_hsm_service_report rep;
    assert_int_equal(qs_hsm_service_key_status(&p, &rep), QS_OK);
    assert_int_equal(rep.state[QS_HSM_RECORD_MAC], QS_HSM_KEY_MISSING);
    assert_int_equal(rep.state[QS_HSM_KEK], QS_HSM_KEY_EXISTS);
    assert_int_equal(rep.state[QS_HSM_PEPPER], QS_HSM_KEY_EXISTS);
    assert_int_equal(rep.state[QS_HSM_SECRET_ENC], QS_HSM_KEY_EXISTS);
    assert_int_equal(run_ctl("status", out, sizeof out), 1);
    expect_line(out, "qsign-record-mac", "missing");
    expect_line(out, "qsign-kek", "present");

    /* init makes just the missing one; the others keep their ids. */
    assert_int_equal(run_ctl("init", out, sizeof out), 0);
    expect_line(out, "qsign-record-mac", "created");
    expect_line(out, "qsign-kek", "exists");
    expect_line(out, "qsign-pepper", "exists");
    expect_line(out, "qsign-secret-enc", "exists");
    assert_int_equal(qs_hsm_service_key_status(&p, &rep), QS_OK);
    assert_string_not_equal(rep.id_hex[QS_HSM_RECORD_MAC], ids_at_init[QS_HSM_RECORD_MAC]);
    assert_string_equal(rep.id_hex[QS_HSM_KEK], ids_at_init[QS_HSM_KEK]);
    assert_int_equal(qs_hsm_open(&p, &h), QS_OK);
    qs_hsm_close(h);
}

/* A DER SubjectPublicKeyInfo as an OpenSSL key. */
static EVP_PKEY *pkey_of(const uint8_t *spki, size_t len)
{
    const uint8_t *p = spki;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)len);
    assert_non_null(k);
    assert_ptr_equal(p, spki + len);
    return k;
}

static int verify_digest(EVP_PKEY *k, const uint8_t *digest, const uint8_t *sig, size_t sig_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
    int ok = EVP_PKEY_verify(ctx, sig, sig_len, digest, QS_SHA256_LEN);
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static void test_audit_sign_key(void **state)
{
    qs_hsm_params p;
    params(&p);
    qs_hsm *h = NULL;
    qs_hsm_session *s = NULL;
    assert_int_equal(qs_hsm_open(&p, &h), QS_OK);
    assert_int_equal(qs_hsm_session_open(h, &s), QS_OK);

    uint8_t *spki = NULL, digest[QS_SHA256_LEN], sig[QS_HSM_SERVICE_SIG_MAX];
    size_t spki_len = 0, sig_len = sizeof sig;
    assert_int_equal(qs_hsm_service_public_key(h, QS_HSM_AUDIT_SIGN, &spki, &spki_len), QS_OK);
    EVP_PKEY *k = pkey_of(spki, spki_len);
    assert_true(EVP_PKEY_is_a(k, "EC"));
    assert_int_equal(EVP_PKEY_get_bits(k), 256);

    qs_random(digest, sizeof digest);
    assert_int_equal(
        qs_hsm_service_sign(s, QS_HSM_AUDIT_SIGN, digest, sizeof digest, sig, &sig_len), QS_OK);
    assert_true(sig_len >= 8 && sig_len <= QS_HSM_SERVICE_SIG_MAX);
    assert_int_equal(sig[0], 0x30); /* DER SEQUENCE */
    assert_int_equal(verify_digest(k, digest, sig, sig_len), 1);
    /* Another digest, a changed signature: refused. */
    digest[0] ^= 1;
    assert_int_equal(verify_digest(k, digest, sig, sig_len), 0);
    digest[0] ^= 1;
    sig[sig_len - 1] ^= 1;
    assert_int_equal(verify_digest(k, digest, sig, sig_len), 0);

    /* Only the audit key signs, only 32-byte digests, only into room enough. */
    sig_len = sizeof sig;
    assert_int_equal(
        qs_hsm_service_sign(s, QS_HSM_RECORD_MAC, digest, sizeof digest, sig, &sig_len),
        QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(sig_len, 0);
    sig_len = sizeof sig;
    assert_int_equal(qs_hsm_service_sign(s, QS_HSM_AUDIT_SIGN, digest, 31, sig, &sig_len),
                     QS_ERR_INVALID_ARGUMENT);
    sig_len = QS_HSM_SERVICE_SIG_MAX - 1;
    assert_int_equal(
        qs_hsm_service_sign(s, QS_HSM_AUDIT_SIGN, digest, sizeof digest, sig, &sig_len),
        QS_ERR_INVALID_ARGUMENT);
    uint8_t mac[QS_HSM_HMAC_LEN], *none = (uint8_t *)&none;
    size_t none_len = 5;
    assert_int_equal(qs_hsm_hmac(s, QS_HSM_AUDIT_SIGN, digest, sizeof digest, mac),
                     QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_hsm_service_public_key(h, QS_HSM_PEPPER, &none, &none_len),
                     QS_ERR_INVALID_ARGUMENT);
    assert_null(none);
    assert_int_equal(none_len, 0);

    /* The private half gives nothing away and signs only; the public half is readable. */
    CK_FUNCTION_LIST *fn = qs_hsm_p11(h);
    CK_SESSION_HANDLE hs = qs_hsm_session_handle(s);
    CK_OBJECT_HANDLE priv = qs_hsm_service_key_handle(h, QS_HSM_AUDIT_SIGN);
    uint8_t value[64];
    CK_ATTRIBUTE va = {CKA_VALUE, value, sizeof value};
    assert_int_equal(fn->C_GetAttributeValue(hs, priv, &va, 1), CKR_ATTRIBUTE_SENSITIVE);
    CK_BBOOL extractable = CK_TRUE, decrypt = CK_TRUE, derive = CK_TRUE, modifiable = CK_TRUE;
    CK_ATTRIBUTE fa[] = {{CKA_EXTRACTABLE, &extractable, 1},
                         {CKA_DECRYPT, &decrypt, 1},
                         {CKA_DERIVE, &derive, 1},
                         {CKA_MODIFIABLE, &modifiable, 1}};
    assert_int_equal(fn->C_GetAttributeValue(hs, priv, fa, 4), CKR_OK);
    assert_false(extractable || decrypt || derive || modifiable);
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE make_extractable = {CKA_EXTRACTABLE, &yes, sizeof yes};
    assert_int_not_equal(fn->C_SetAttributeValue(hs, priv, &make_extractable, 1), CKR_OK);
    /* Not wrappable, not even by the KEK. */
    CK_MECHANISM wrap = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    uint8_t blob[512];
    CK_ULONG blob_len = sizeof blob;
    assert_int_not_equal(
        fn->C_WrapKey(hs, &wrap, qs_hsm_service_key_handle(h, QS_HSM_KEK), priv, blob, &blob_len),
        CKR_OK);

    free(spki);
    EVP_PKEY_free(k);
    qs_hsm_session_close(s);
    qs_hsm_close(h);
}

/* A token made before the audit key existed: status says so, open refuses, init adds just it. */
static void test_audit_key_added_to_old_token(void **state)
{
    char out[4096];
    raw r;
    CK_ULONG n;
    qs_hsm_params p;
    qs_hsm_service_report rep, before;
    qs_hsm *h = (qs_hsm *)&h;
    params(&p);
    assert_int_equal(qs_hsm_service_key_status(&p, &before), QS_OK);

    /* Half a pair first: refused, and init does not complete it. */
    raw_begin(&r);
    CK_OBJECT_HANDLE pub = raw_find_class(&r, "qsign-audit-sign", CKO_PUBLIC_KEY, &n);
    assert_int_equal(n, 1);
    assert_int_equal(r.fn->C_DestroyObject(r.s, pub), CKR_OK);
    raw_end(&r);
    assert_int_equal(qs_hsm_open(&p, &h), QS_ERR_HSM_KEY_POLICY);
    assert_int_equal(qs_hsm_service_key_status(&p, &rep), QS_OK);
    assert_int_equal(rep.state[QS_HSM_AUDIT_SIGN], QS_HSM_KEY_BAD);
    assert_int_equal(run_ctl("init", out, sizeof out), 1);
    expect_line(out, "qsign-audit-sign", "unusable");
    raw_begin(&r);
    raw_find_class(&r, "qsign-audit-sign", CKO_PUBLIC_KEY, &n);
    assert_int_equal(n, 0);

    /* No pair at all, as on a token from before. */
    CK_OBJECT_HANDLE priv = raw_find(&r, "qsign-audit-sign", &n);
    assert_int_equal(n, 1);
    assert_int_equal(r.fn->C_DestroyObject(r.s, priv), CKR_OK);
    raw_end(&r);
    assert_int_equal(qs_hsm_open(&p, &h), QS_ERR_HSM_KEY_NOT_FOUND);
    assert_null(h);
    assert_int_equal(run_ctl("status", out, sizeof out), 1);
    expect_line(out, "qsign-audit-sign", "missing");
    expect_line(out, "qsign-record-mac", "present");

    assert_int_equal(run_ctl("init", out, sizeof out), 0);
    expect_line(out, "qsign-audit-sign", "created");
    expect_line(out, "qsign-kek", "exists");
    expect_line(out, "qsign-record-mac", "exists");
    assert_int_equal(qs_hsm_service_key_status(&p, &rep), QS_OK);
    for (unsigned k = 0; k < QS_HSM_SERVICE_KEY_COUNT; k++) {
        assert_int_equal(rep.state[k], QS_HSM_KEY_EXISTS);
        if (k == QS_HSM_AUDIT_SIGN)
            assert_string_not_equal(rep.id_hex[k], before.id_hex[k]);
        else
            assert_string_equal(rep.id_hex[k], before.id_hex[k]);
    }
    raw_begin(&r);
    raw_find(&r, "qsign-audit-sign", &n);
    assert_int_equal(n, 2);
    raw_end(&r);
    assert_int_equal(qs_hsm_open(&p, &h), QS_OK);
    qs_hsm_close(h);
}

/* A second object with a service key's label, or a look-alike key with unsafe attributes, is
 * refused and never silently replaced. */
static void test_ambiguous_and_unsafe_keys(void **state)
{
    char out[4096];
    raw r;
    CK_ULONG n;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    qs_hsm_params p;
    qs_hsm_service_report rep;
    qs_hsm *h = (qs_hsm *)&h;
    params(&p);

    /* A data object labelled like the pepper key. */
    raw_begin(&r);
    CK_OBJECT_CLASS data_cls = CKO_DATA;
    static const char pep[] = "qsign-pepper";
    CK_ATTRIBUTE dt[] = {{CKA_CLASS, &data_cls, sizeof data_cls},
                         {CKA_TOKEN, &yes, 1},
                         {CKA_PRIVATE, &yes, 1},
                         {CKA_LABEL, (void *)pep, strlen(pep)},
                         {CKA_VALUE, (void *)"x", 1}};
    CK_OBJECT_HANDLE decoy;
    assert_int_equal(r.fn->C_CreateObject(r.s, dt, 5, &decoy), CKR_OK);
    raw_end(&r);
    assert_int_equal(qs_hsm_open(&p, &h), QS_ERR_HSM_KEY_POLICY);
    assert_int_equal(qs_hsm_service_key_status(&p, &rep), QS_OK);
    assert_int_equal(rep.state[QS_HSM_PEPPER], QS_HSM_KEY_BAD);
    assert_int_equal(rep.state[QS_HSM_KEK], QS_HSM_KEY_EXISTS);
    assert_int_equal(run_ctl("status", out, sizeof out), 1);
    expect_line(out, "qsign-pepper", "unusable");
    assert_int_equal(run_ctl("init", out, sizeof out), 1);
    expect_line(out, "qsign-pepper", "unusable");

    /* Swap the secret-enc key for an extractable look-alike. */
    raw_begin(&r);
    raw_find(&r, pep, &n);
    assert_int_equal(n, 2); /* init replaced nothing and added nothing */
    decoy = raw_find_class(&r, pep, CKO_DATA, &n);
    assert_int_equal(n, 1);
    assert_int_equal(r.fn->C_DestroyObject(r.s, decoy), CKR_OK);
    CK_OBJECT_HANDLE enc = raw_find(&r, "qsign-secret-enc", &n);
    assert_int_equal(n, 1);
    assert_int_equal(r.fn->C_DestroyObject(r.s, enc), CKR_OK);
    CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    CK_ULONG len = 32;
    static const char enc_label[] = "qsign-secret-enc";
    CK_ATTRIBUTE kt[] = {{CKA_CLASS, &sk, sizeof sk},
                         {CKA_KEY_TYPE, &aes, sizeof aes},
                         {CKA_VALUE_LEN, &len, sizeof len},
                         {CKA_TOKEN, &yes, 1},
                         {CKA_PRIVATE, &yes, 1},
                         {CKA_SENSITIVE, &no, 1},
                         {CKA_EXTRACTABLE, &yes, 1},
                         {CKA_ENCRYPT, &yes, 1},
                         {CKA_DECRYPT, &yes, 1},
                         {CKA_LABEL, (void *)enc_label, strlen(enc_label)}};
    CK_MECHANISM kg = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE fake;
    assert_int_equal(r.fn->C_GenerateKey(r.s, &kg, kt, 10, &fake), CKR_OK);
    raw_end(&r);

    assert_int_equal(qs_hsm_open(&p, &h), QS_ERR_HSM_KEY_POLICY);
    assert_int_equal(qs_hsm_service_key_status(&p, &rep), QS_OK);
    assert_int_equal(rep.state[QS_HSM_PEPPER], QS_HSM_KEY_EXISTS);
    assert_int_equal(rep.state[QS_HSM_SECRET_ENC], QS_HSM_KEY_BAD);
    assert_int_equal(qs_hsm_init_service_keys(&p, token.so_pin, strlen(token.so_pin), &rep),
                     QS_ERR_HSM_KEY_POLICY);
    assert_int_equal(rep.state[QS_HSM_SECRET_ENC], QS_HSM_KEY_BAD);

    /* Once the look-alike is gone, init makes a proper key and open works again. */
    raw_begin(&r);
    fake = raw_find(&r, enc_label, &n);
    assert_int_equal(n, 1);
    assert_int_equal(r.fn->C_DestroyObject(r.s, fake), CKR_OK);
    raw_end(&r);
    assert_int_equal(run_ctl("init", out, sizeof out), 0);
    expect_line(out, "qsign-secret-enc", "created");
    assert_int_equal(qs_hsm_open(&p, &h), QS_OK);
    qs_hsm_close(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_creates_once),
        cmocka_unit_test(test_keys_survive_restart),
        cmocka_unit_test(test_hmac),
        cmocka_unit_test(test_aead),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_second_instance),
        cmocka_unit_test(test_missing_key),
        cmocka_unit_test(test_audit_sign_key),
        cmocka_unit_test(test_audit_key_added_to_old_token),
        cmocka_unit_test(test_ambiguous_and_unsafe_keys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
