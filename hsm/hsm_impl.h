/*
 * Private to hsm/: the structures behind the opaque handles and the helpers the files share.
 *
 * Locking: one process-wide mutex (hsm_lock) guards the module registry, opening, closing,
 * login and the re-initialisation after fork.  Everything a signing thread touches on the fast
 * path (service key handles, the fork generation) is written before the instance's generation
 * is published with a release store, and read after an acquire load.
 */
#ifndef QS_HSM_HSM_IMPL_H
#define QS_HSM_HSM_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "hsm/hsm.h"
#include "hsm/hsm_internal.h"

/* A loaded PKCS#11 module, shared by every qs_hsm of the process that names the same file. */
typedef struct hsm_module {
    struct hsm_module *next;
    void *dl;
    CK_FUNCTION_LIST *fn;
    unsigned refs;        /* qs_hsm instances and service-key runs using it */
    bool initialized;     /* C_Initialize done by us in generation init_gen */
    unsigned init_gen;    /* fork generation of that C_Initialize */
    struct qs_hsm *users; /* open instances, linked by next_user */
} hsm_module;

struct qs_hsm {
    hsm_module *mod;
    CK_FUNCTION_LIST *fn;
    CK_SLOT_ID slot;
    char label[QS_HSM_TOKEN_LABEL_MAX + 1];
    /* Keeps the login alive (login state ends with an application's last session) and serves
     * lookups made under hsm_lock. */
    CK_SESSION_HANDLE keeper;
    bool have_keeper;
    bool logged_in; /* the login belongs to us: log out when the last of our users goes */
    char *pin;      /* sodium_malloc'd, PROT_NONE between uses */
    size_t pin_len;
    bool require_keys;
    CK_OBJECT_HANDLE svc[QS_HSM_SERVICE_KEY_COUNT];     /* secret or private key */
    CK_OBJECT_HANDLE svc_pub[QS_HSM_SERVICE_KEY_COUNT]; /* public key of a pair, else invalid */
    qs_hsm_service_report report;
    atomic_uint gen;      /* fork generation the instance is set up for */
    atomic_uint sessions; /* open qs_hsm_session objects */
    struct qs_hsm *next_user;
};

struct qs_hsm_session {
    qs_hsm *h;
    CK_SESSION_HANDLE handle;
    unsigned gen; /* fork generation of `handle` */
    atomic_bool busy;
};

struct qs_hsm_key {
    qs_hsm_session *s;
    CK_OBJECT_HANDLE obj;
    qs_key_alg alg;
    unsigned gen; /* fork generation of `obj` */
};

/* ---- module.c ---- */
void hsm_lock(void);
void hsm_unlock(void);
/* Increases in a child after every fork(). */
unsigned hsm_fork_gen(void);

/* Loads (or finds) the module at `path` and makes sure it is initialised in this process.
 * Under hsm_lock. */
QS_MUST_CHECK qs_err hsm_module_acquire(const char *path, hsm_module **out);
/* Drops one reference; the last finalises the module.  Under hsm_lock. */
void hsm_module_release(hsm_module *m);
/* Re-initialises the module in a forked child, once per generation.  Under hsm_lock. */
QS_MUST_CHECK qs_err hsm_module_sync(hsm_module *m);
/* Finds the one slot whose token has `label`. */
QS_MUST_CHECK qs_err hsm_find_slot(CK_FUNCTION_LIST *fn, const char *label, CK_SLOT_ID *out);

/* Maps rv, logging the call name and the CKR name at a level fitting the error. */
qs_err hsm_ck_at(CK_RV rv, const char *call, const char *file, int line);
#define HSM_CK(rv, call) hsm_ck_at((rv), (call), __FILE__, __LINE__)

/* True for errors that say nothing about the caller's input: the token, the login or memory. */
bool hsm_err_is_infra(qs_err e);

/* ---- token.c ---- */
/* Claims s for the calling thread and brings it up to date after a fork. */
QS_MUST_CHECK qs_err hsm_session_enter(qs_hsm_session *s);
void hsm_session_leave(qs_hsm_session *s);

/* ---- signer.c ---- */
/* The DER CKA_EC_PARAMS (curve OID) of an EC key type; NULL for other types. */
const uint8_t *hsm_ec_params(qs_key_alg alg, size_t *len);

/* ---- service_keys.c ---- */
/* Looks every service key up through h->keeper, filling h->svc and h->report.  With
 * h->require_keys, a key that is not usable is an error naming it. */
QS_MUST_CHECK qs_err hsm_load_service_keys(qs_hsm *h);

#endif
