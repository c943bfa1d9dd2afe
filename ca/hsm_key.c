/*
 * The CA key in a PKCS#11 token as an OpenSSL EVP_PKEY, through libp11 (library qsign_ca_hsm,
 * linked by the SAM only).  Certificates, CRLs and OCSP responses are then signed with OpenSSL's
 * own calls; every private-key operation runs in the token.
 *
 * libp11 0.4.12 on OpenSSL 3: the key it returns is a legacy EC_KEY / RSA object carrying
 * libp11's EC_KEY_METHOD / RSA_METHOD.  OpenSSL 3 treats such a key as "foreign" and routes
 * signing through the legacy method instead of a provider, which is what makes X509_sign,
 * X509_CRL_sign and OCSP_basic_sign work with it.  Nothing here calls a deprecated OpenSSL
 * function or the ENGINE API, so no deprecation warning needs silencing.
 *
 * Threads: libp11 keeps a session pool per slot; signing with the key from several threads is
 * safe.  After fork() libp11 re-initialises the module itself on next use.
 *
 * Sharing the module: C_Initialize / C_Finalize act on the whole process, and the SAM also has
 * the same module open through hsm/ (qs_hsm).  libp11 ends its use of a slot with
 * C_CloseAllSessions, which would also close hsm/'s sessions (and log the token out), and ends
 * its use of the module with C_Finalize.  So when the module was already initialised by someone
 * else at open time, closing here frees the key but keeps libp11's context (slots, sessions,
 * module) alive for the rest of the process, parked on a list: nothing is closed under the other
 * user.  hsm/ likewise leaves a module it did not initialise alone.  Login state is per process
 * too: when the token is already logged in, C_Login answers CKR_USER_ALREADY_LOGGED_IN whatever
 * the PIN, so a wrong PIN is only caught by whoever logs in first.
 *
 * Trust boundary: the PIN is passed to C_Login and not kept by this file; libp11 keeps its own
 * copy to log in again after fork.
 */
#define QS_LOG_MODULE "ca"

#include "ca/ca.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libp11.h>
#include <openssl/err.h>
#include <p11-kit/pkcs11.h>

#include "util/log.h"

struct ca_hsm_key {
    PKCS11_CTX *ctx;
    PKCS11_SLOT *slots;
    unsigned int nslots;
    bool loaded;
    bool shared; /* the module was initialised by someone else in this process */
    EVP_PKEY *pkey;
    ca_hsm_key *parked_next;
};

/* libp11 contexts kept until exit because releasing them would close others' sessions. */
static pthread_mutex_t parked_lock = PTHREAD_MUTEX_INITIALIZER;
static ca_hsm_key *parked;

/* True when the module is loaded and initialised in this process already: C_GetInfo works only
 * between C_Initialize and C_Finalize. */
static bool initialised_elsewhere(const char *module)
{
    void *dl = dlopen(module, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (dl == NULL)
        return false;
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR fn = NULL;
    CK_INFO info;
    bool in_use = get != NULL && get(&fn) == CKR_OK && fn != NULL && fn->C_GetInfo(&info) == CKR_OK;
    (void)dlclose(dl);
    return in_use;
}

void ca_hsm_key_close(ca_hsm_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
    ERR_clear_error();
    if (k->loaded && k->shared) {
        pthread_mutex_lock(&parked_lock);
        k->parked_next = parked;
        parked = k;
        pthread_mutex_unlock(&parked_lock);
        return;
    }
    if (k->slots != NULL)
        PKCS11_release_all_slots(k->ctx, k->slots, k->nslots);
    if (k->loaded)
        PKCS11_CTX_unload(k->ctx);
    if (k->ctx != NULL)
        PKCS11_CTX_free(k->ctx);
    ERR_clear_error();
    free(k);
}

EVP_PKEY *ca_hsm_key_pkey(const ca_hsm_key *k)
{
    return k != NULL ? k->pkey : NULL;
}

static PKCS11_SLOT *find_token(ca_hsm_key *k, const char *label, unsigned *matches)
{
    PKCS11_SLOT *found = NULL;
    *matches = 0;
    for (unsigned i = 0; i < k->nslots; i++) {
        PKCS11_SLOT *s = &k->slots[i];
        if (s->token != NULL && s->token->initialized && s->token->label != NULL &&
            strcmp(s->token->label, label) == 0) {
            if (found == NULL)
                found = s;
            (*matches)++;
        }
    }
    return found;
}

qs_err ca_hsm_key_open(const char *module, const char *token_label, const char *pin,
                       const char *key_label, ca_hsm_key **out)
{
    ca_hsm_key *k = NULL;
    PKCS11_KEY *keys = NULL;
    unsigned int nkeys = 0, matches = 0;
    qs_err r;

    *out = NULL;
    if (module == NULL || token_label == NULL || pin == NULL || key_label == NULL)
        return QS_ERR_INVALID_ARGUMENT;
    k = calloc(1, sizeof *k);
    if (k == NULL)
        return QS_ERR_NOMEM;
    k->ctx = PKCS11_CTX_new();
    if (k->ctx == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    k->shared = initialised_elsewhere(module);
    if (PKCS11_CTX_load(k->ctx, module) != 0) {
        qs_error("cannot load PKCS#11 module %s", module);
        r = QS_ERR_HSM_UNAVAILABLE;
        goto out;
    }
    k->loaded = true;
    if (PKCS11_enumerate_slots(k->ctx, &k->slots, &k->nslots) != 0) {
        k->slots = NULL;
        qs_error("cannot list the slots of %s", module);
        r = QS_ERR_HSM_UNAVAILABLE;
        goto out;
    }
    PKCS11_SLOT *slot = find_token(k, token_label, &matches);
    if (slot == NULL || matches != 1) {
        qs_error("token \"%s\": %s", token_label, slot == NULL ? "not found" : "label ambiguous");
        r = QS_ERR_HSM_TOKEN_NOT_FOUND;
        goto out;
    }
    if (PKCS11_login(slot, 0, pin) != 0) {
        qs_error("login to token \"%s\" refused", token_label);
        r = QS_ERR_HSM_LOGIN;
        goto out;
    }
    if (PKCS11_enumerate_keys(slot->token, &keys, &nkeys) != 0) {
        r = QS_ERR_HSM;
        goto out;
    }
    PKCS11_KEY *key = NULL;
    unsigned int labelled = 0;
    for (unsigned int i = 0; i < nkeys; i++) {
        if (keys[i].isPrivate && keys[i].label != NULL && strcmp(keys[i].label, key_label) == 0) {
            key = &keys[i];
            labelled++;
        }
    }
    if (key == NULL || labelled != 1) {
        qs_error("private key \"%s\" on token \"%s\": %s", key_label, token_label,
                 key == NULL ? "not found" : "label ambiguous");
        r = QS_ERR_HSM_KEY_NOT_FOUND;
        goto out;
    }
    k->pkey = PKCS11_get_private_key(key);
    if (k->pkey == NULL) {
        qs_error("private key \"%s\" unusable through libp11", key_label);
        r = QS_ERR_HSM_KEY_NOT_FOUND;
        goto out;
    }
    qs_info("CA key \"%s\" opened on token \"%s\"", key_label, token_label);
    *out = k;
    k = NULL;
    r = QS_OK;
out:
    ERR_clear_error();
    ca_hsm_key_close(k);
    return r;
}
