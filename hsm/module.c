/*
 * Loading PKCS#11 modules and keeping them initialised across fork().
 *
 * A module is dlopen()ed by path and entered through C_GetFunctionList; every qs_hsm naming the
 * same file shares one registry entry, so C_Initialize and C_Finalize happen once per process
 * however many instances are open.  The module is initialised with CKF_OS_LOCKING_OK: the
 * worker threads call into it at the same time, each on its own session.
 *
 * fork(): a child inherits the module's memory but not a usable PKCS#11 state, so it must call
 * C_Initialize again.  A pthread_atfork child handler bumps a generation counter; every instance
 * compares it with the generation it was set up in and re-initialises lazily, on first use.  The
 * prepare/parent/child handlers also hold hsm_lock across fork(), so the child never inherits it
 * locked by a thread that does not exist there.
 */
#define QS_LOG_MODULE "hsm"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hsm/hsm_impl.h"
#include "util/log.h"

static pthread_mutex_t hsm_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t hsm_atfork_once = PTHREAD_ONCE_INIT;
static atomic_uint hsm_generation;
static hsm_module *hsm_modules;

void hsm_lock(void)
{
    (void)pthread_mutex_lock(&hsm_mutex);
}

void hsm_unlock(void)
{
    (void)pthread_mutex_unlock(&hsm_mutex);
}

unsigned hsm_fork_gen(void)
{
    return atomic_load_explicit(&hsm_generation, memory_order_acquire);
}

static void hsm_atfork_prepare(void)
{
    hsm_lock();
}

static void hsm_atfork_parent(void)
{
    hsm_unlock();
}

static void hsm_atfork_child(void)
{
    atomic_fetch_add_explicit(&hsm_generation, 1, memory_order_acq_rel);
    hsm_unlock();
}

static void hsm_atfork_register(void)
{
    if (pthread_atfork(hsm_atfork_prepare, hsm_atfork_parent, hsm_atfork_child) != 0)
        qs_error("pthread_atfork failed: a forked child cannot use the HSM");
}

static qs_err hsm_module_initialize(hsm_module *m, bool after_fork)
{
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = m->fn->C_Initialize(&args);
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED && after_fork && m->initialized) {
        /* The module does not notice fork() and kept the parent's sessions and login (SoftHSM
         * 2.6 does): drop that copy and start clean, so the child never shares the parent's
         * state and logs in by itself. */
        qs_info("PKCS#11 module kept its state across fork; finalising it in the child");
        (void)HSM_CK(m->fn->C_Finalize(NULL), "C_Finalize");
        rv = m->fn->C_Initialize(&args);
    }
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        /* Another library in this process initialised it; leave finalising to that one. */
        qs_info("PKCS#11 module already initialised in this process");
        m->initialized = false;
        m->init_gen = hsm_fork_gen();
        return QS_OK;
    }
    qs_err r = HSM_CK(rv, "C_Initialize");
    if (r != QS_OK)
        return r == QS_ERR_INTERNAL ? QS_ERR_HSM_UNAVAILABLE : r;
    m->initialized = true;
    m->init_gen = hsm_fork_gen();
    return QS_OK;
}

qs_err hsm_module_acquire(const char *path, hsm_module **out)
{
    qs_err r = QS_ERR_HSM_UNAVAILABLE;
    hsm_module *m = NULL;
    void *dl = NULL;

    *out = NULL;
    (void)pthread_once(&hsm_atfork_once, hsm_atfork_register);

    /* RTLD_NODELETE: modules register atexit and thread handlers of their own, and OpenSSL
     * inside them keeps global state; unmapping one while the process lives is not safe. */
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (dl == NULL) {
        const char *why = dlerror();
        qs_error("cannot load PKCS#11 module %s: %s", path, why != NULL ? why : "?");
        goto out;
    }
    for (hsm_module *it = hsm_modules; it != NULL; it = it->next) {
        if (it->dl == dl) {
            (void)dlclose(dl); /* the entry keeps its own reference */
            dl = NULL;
            r = hsm_module_sync(it);
            if (r != QS_OK)
                goto out;
            it->refs++;
            *out = it;
            r = QS_OK;
            goto out;
        }
    }

    CK_C_GetFunctionList get_list;
    void *sym = dlsym(dl, "C_GetFunctionList");
    if (sym == NULL) {
        qs_error("%s is not a PKCS#11 module: no C_GetFunctionList", path);
        goto out;
    }
    memcpy(&get_list, &sym, sizeof get_list);
    CK_FUNCTION_LIST *fn = NULL;
    r = HSM_CK(get_list(&fn), "C_GetFunctionList");
    if (r != QS_OK || fn == NULL) {
        r = QS_ERR_HSM_UNAVAILABLE;
        goto out;
    }
    if (fn->version.major != 2) {
        qs_error("PKCS#11 module %s speaks version %u.%u; 2.x is needed", path,
                 (unsigned)fn->version.major, (unsigned)fn->version.minor);
        r = QS_ERR_HSM_UNAVAILABLE;
        goto out;
    }

    m = calloc(1, sizeof *m);
    if (m == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    m->dl = dl;
    m->fn = fn;
    r = hsm_module_initialize(m, false);
    if (r != QS_OK)
        goto out;
    dl = NULL;
    m->refs = 1;
    m->next = hsm_modules;
    hsm_modules = m;
    *out = m;
    m = NULL;
    qs_info("PKCS#11 module %s loaded", path);
    r = QS_OK;
out:
    free(m);
    if (dl != NULL)
        (void)dlclose(dl);
    return r;
}

qs_err hsm_module_sync(hsm_module *m)
{
    if (m->init_gen == hsm_fork_gen())
        return QS_OK;
    qs_info("re-initialising the PKCS#11 module after fork");
    return hsm_module_initialize(m, true);
}

void hsm_module_release(hsm_module *m)
{
    if (m == NULL)
        return;
    if (m->refs > 1) {
        m->refs--;
        return;
    }
    if (m->initialized && m->init_gen == hsm_fork_gen())
        (void)HSM_CK(m->fn->C_Finalize(NULL), "C_Finalize");
    for (hsm_module **pp = &hsm_modules; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    }
    (void)dlclose(m->dl);
    free(m);
}

/* Token labels are blank-padded to 32 bytes, not NUL-terminated. */
static bool hsm_label_equal(const CK_UTF8CHAR padded[32], const char *label)
{
    size_t n = strlen(label);
    if (n > 32 || memcmp(padded, label, n) != 0)
        return false;
    for (size_t i = n; i < 32; i++) {
        if (padded[i] != ' ')
            return false;
    }
    return true;
}

qs_err hsm_find_slot(CK_FUNCTION_LIST *fn, const char *label, CK_SLOT_ID *out)
{
    qs_err r;
    CK_SLOT_ID *slots = NULL;
    CK_ULONG n = 0;
    size_t found = 0;

    for (int attempt = 0;; attempt++) {
        r = HSM_CK(fn->C_GetSlotList(CK_TRUE, NULL, &n), "C_GetSlotList");
        if (r != QS_OK)
            goto out;
        free(slots);
        slots = calloc(n > 0 ? n : 1, sizeof *slots);
        if (slots == NULL) {
            r = QS_ERR_NOMEM;
            goto out;
        }
        CK_RV rv = fn->C_GetSlotList(CK_TRUE, slots, &n);
        if (rv == CKR_BUFFER_TOO_SMALL && attempt < 3)
            continue; /* a token appeared meanwhile */
        r = HSM_CK(rv, "C_GetSlotList");
        if (r != QS_OK)
            goto out;
        break;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO info;
        CK_RV rv = fn->C_GetTokenInfo(slots[i], &info);
        if (rv != CKR_OK) {
            (void)HSM_CK(rv, "C_GetTokenInfo");
            continue;
        }
        if ((info.flags & CKF_TOKEN_INITIALIZED) == 0 || !hsm_label_equal(info.label, label))
            continue;
        if (found++ == 0)
            *out = slots[i];
    }
    if (found == 0) {
        qs_error("no token labelled \"%s\" among %lu slots", label, (unsigned long)n);
        r = QS_ERR_HSM_TOKEN_NOT_FOUND;
        goto out;
    }
    if (found > 1) {
        qs_error("%zu tokens are labelled \"%s\"; refusing to guess", found, label);
        r = QS_ERR_HSM_TOKEN_NOT_FOUND;
        goto out;
    }
    r = QS_OK;
out:
    free(slots);
    return r;
}
