/*
 * The token: opening a qs_hsm (slot by label, one login for the whole process), the sessions
 * that worker threads own, and bringing both back after fork().
 *
 * Login state in PKCS#11 belongs to the application, not to a session, and ends when the
 * application's last session closes; each qs_hsm therefore keeps one "keeper" session open for
 * its lifetime and logs in through it once.  Several qs_hsm on the same token in one process
 * share that login; the second must present the same PIN (checked in constant time).
 *
 * The PIN is kept, for logging in again in a forked child, in sodium_malloc memory that is
 * PROT_NONE except during C_Login (and the comparison above), all under hsm_lock.
 */
#define QS_LOG_MODULE "hsm"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hsm/hsm_impl.h"
#include "util/log.h"
#include "util/secret.h"

/* C_Login with the guarded PIN, readable only for the call. */
static CK_RV hsm_login_guarded(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE sess, CK_USER_TYPE user,
                               char *pin, size_t pin_len)
{
    (void)sodium_mprotect_readonly(pin);
    CK_RV rv = fn->C_Login(sess, user, (CK_UTF8CHAR *)pin, (CK_ULONG)pin_len);
    (void)sodium_mprotect_noaccess(pin);
    return rv;
}

/* Another instance of ours, set up in this process generation, logged in to the same token. */
static qs_hsm *hsm_other_user(const qs_hsm *h)
{
    unsigned g = hsm_fork_gen();
    for (qs_hsm *o = h->mod->users; o != NULL; o = o->next_user) {
        if (o != h && o->slot == h->slot && o->have_keeper &&
            atomic_load_explicit(&o->gen, memory_order_relaxed) == g)
            return o;
    }
    return NULL;
}

static bool hsm_same_pin(qs_hsm *a, qs_hsm *b)
{
    if (a->pin_len != b->pin_len)
        return false;
    (void)sodium_mprotect_readonly(a->pin);
    (void)sodium_mprotect_readonly(b->pin);
    bool same = qs_ct_equal(a->pin, b->pin, a->pin_len);
    (void)sodium_mprotect_noaccess(b->pin);
    (void)sodium_mprotect_noaccess(a->pin);
    return same;
}

/* The token is already logged in for this application: accept it only with the same PIN. */
static qs_err hsm_join_login(qs_hsm *h)
{
    qs_hsm *o = hsm_other_user(h);
    if (o == NULL) {
        qs_warn("token \"%s\" is already logged in by other code in this process; using that "
                "login",
                h->label);
        h->logged_in = false;
        return QS_OK;
    }
    if (!hsm_same_pin(h, o)) {
        qs_warn("login to token \"%s\" refused: the PIN differs from the one in use", h->label);
        return QS_ERR_HSM_LOGIN;
    }
    h->logged_in = true;
    return QS_OK;
}

static qs_err hsm_login(qs_hsm *h)
{
    CK_SESSION_INFO info;
    qs_err r = HSM_CK(h->fn->C_GetSessionInfo(h->keeper, &info), "C_GetSessionInfo");
    if (r != QS_OK)
        return r;
    switch (info.state) {
    case CKS_RO_USER_FUNCTIONS:
    case CKS_RW_USER_FUNCTIONS:
        return hsm_join_login(h);
    case CKS_RW_SO_FUNCTIONS:
        qs_error("token \"%s\" is logged in as security officer in this process", h->label);
        return QS_ERR_HSM_LOGIN;
    default:
        break;
    }
    CK_RV rv = hsm_login_guarded(h->fn, h->keeper, CKU_USER, h->pin, h->pin_len);
    if (rv == CKR_USER_ALREADY_LOGGED_IN)
        return hsm_join_login(h);
    r = HSM_CK(rv, "C_Login");
    if (r != QS_OK) {
        qs_warn("login to token \"%s\" failed", h->label);
        return r == QS_ERR_INTERNAL ? QS_ERR_HSM_LOGIN : r;
    }
    h->logged_in = true;
    return QS_OK;
}

/* Undoes hsm_setup for the current generation: log out if the login is ours and no other
 * instance of ours still needs it, then close the keeper session.  Under hsm_lock. */
static void hsm_teardown(qs_hsm *h)
{
    if (!h->have_keeper)
        return;
    if (h->logged_in && hsm_other_user(h) == NULL)
        (void)HSM_CK(h->fn->C_Logout(h->keeper), "C_Logout");
    (void)HSM_CK(h->fn->C_CloseSession(h->keeper), "C_CloseSession");
    h->have_keeper = false;
    h->logged_in = false;
}

/* Keeper session, login, service keys; publishes the generation last.  Under hsm_lock. */
static qs_err hsm_setup(qs_hsm *h)
{
    unsigned g = hsm_fork_gen();
    qs_err r = hsm_find_slot(h->fn, h->label, &h->slot);
    if (r != QS_OK)
        return r;
    r = HSM_CK(h->fn->C_OpenSession(h->slot, CKF_SERIAL_SESSION, NULL, NULL, &h->keeper),
               "C_OpenSession");
    if (r != QS_OK)
        return r;
    h->have_keeper = true;
    r = hsm_login(h);
    if (r == QS_OK)
        r = hsm_load_service_keys(h);
    if (r != QS_OK) {
        hsm_teardown(h);
        return r;
    }
    atomic_store_explicit(&h->gen, g, memory_order_release);
    return QS_OK;
}

/* Brings h up to date after a fork: the fast path is one atomic load. */
static qs_err hsm_sync(qs_hsm *h)
{
    if (atomic_load_explicit(&h->gen, memory_order_acquire) == hsm_fork_gen())
        return QS_OK;
    qs_err r = QS_OK;
    hsm_lock();
    if (atomic_load_explicit(&h->gen, memory_order_acquire) != hsm_fork_gen()) {
        /* The parent's session handles mean nothing here and must never be used. */
        h->have_keeper = false;
        h->logged_in = false;
        r = hsm_module_sync(h->mod);
        if (r == QS_OK)
            r = hsm_setup(h);
        if (r == QS_OK)
            qs_info("token \"%s\" re-opened after fork", h->label);
    }
    hsm_unlock();
    return r;
}

static qs_err hsm_check_params(const qs_hsm_params *p)
{
    if (p == NULL || p->module_path == NULL || p->module_path[0] == '\0' ||
        p->token_label == NULL || p->token_label[0] == '\0' || p->pin == NULL) {
        qs_error("HSM parameters incomplete: module, token label and PIN are needed");
        return QS_ERR_INVALID_ARGUMENT;
    }
    if (strlen(p->token_label) > QS_HSM_TOKEN_LABEL_MAX) {
        qs_error("token label longer than %d bytes", QS_HSM_TOKEN_LABEL_MAX);
        return QS_ERR_INVALID_ARGUMENT;
    }
    if (p->pin_len == 0 || p->pin_len > QS_HSM_PIN_MAX) {
        qs_error("token PIN must be 1 to %d bytes", QS_HSM_PIN_MAX);
        return QS_ERR_INVALID_ARGUMENT;
    }
    return QS_OK;
}

static void hsm_free(qs_hsm *h)
{
    if (h->pin != NULL) {
        (void)sodium_mprotect_readwrite(h->pin);
        qs_secret_free(h->pin);
    }
    free(h);
}

static qs_err hsm_open_internal(const qs_hsm_params *p, bool require_keys, qs_hsm **out)
{
    qs_err r;
    qs_hsm *h = NULL;

    *out = NULL;
    r = hsm_check_params(p);
    if (r != QS_OK)
        return r;
    r = qs_util_init();
    if (r != QS_OK)
        return r;
    h = calloc(1, sizeof *h);
    if (h == NULL)
        return QS_ERR_NOMEM;
    memcpy(h->label, p->token_label, strlen(p->token_label) + 1);
    h->require_keys = require_keys;
    h->pin_len = p->pin_len;
    h->pin = qs_secret_alloc(p->pin_len);
    if (h->pin == NULL) {
        free(h);
        return QS_ERR_NOMEM;
    }
    memcpy(h->pin, p->pin, p->pin_len);
    (void)sodium_mprotect_noaccess(h->pin);
    atomic_init(&h->gen, hsm_fork_gen() - 1);
    atomic_init(&h->sessions, 0);

    hsm_lock();
    r = hsm_module_acquire(p->module_path, &h->mod);
    if (r != QS_OK)
        goto out;
    h->fn = h->mod->fn;
    r = hsm_setup(h);
    if (r != QS_OK) {
        hsm_module_release(h->mod);
        goto out;
    }
    h->next_user = h->mod->users;
    h->mod->users = h;
    qs_info("token \"%s\" open", h->label);
    *out = h;
    h = NULL;
    r = QS_OK;
out:
    hsm_unlock();
    if (h != NULL)
        hsm_free(h);
    return r;
}

qs_err qs_hsm_open(const qs_hsm_params *p, qs_hsm **out)
{
    return hsm_open_internal(p, true, out);
}

void qs_hsm_close(qs_hsm *h)
{
    if (h == NULL)
        return;
    unsigned open_sessions = atomic_load(&h->sessions);
    if (open_sessions != 0)
        qs_bug("qs_hsm_close with %u sessions still open", open_sessions);
    hsm_lock();
    if (atomic_load_explicit(&h->gen, memory_order_acquire) == hsm_fork_gen())
        hsm_teardown(h);
    for (qs_hsm **pp = &h->mod->users; *pp != NULL; pp = &(*pp)->next_user) {
        if (*pp == h) {
            *pp = h->next_user;
            break;
        }
    }
    hsm_module_release(h->mod);
    hsm_unlock();
    hsm_free(h);
}

qs_err qs_hsm_service_key_status(const qs_hsm_params *p, qs_hsm_service_report *report)
{
    qs_hsm *h = NULL;
    memset(report, 0, sizeof *report);
    qs_err r = hsm_open_internal(p, false, &h);
    if (r != QS_OK)
        return r;
    *report = h->report;
    qs_hsm_close(h);
    return QS_OK;
}

static qs_err hsm_open_session_handle(qs_hsm *h, CK_SESSION_HANDLE *out)
{
    return HSM_CK(h->fn->C_OpenSession(h->slot, CKF_SERIAL_SESSION, NULL, NULL, out),
                  "C_OpenSession");
}

qs_err qs_hsm_session_open(qs_hsm *h, qs_hsm_session **out)
{
    *out = NULL;
    qs_err r = hsm_sync(h);
    if (r != QS_OK)
        return r;
    qs_hsm_session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return QS_ERR_NOMEM;
    s->h = h;
    s->gen = hsm_fork_gen();
    atomic_init(&s->busy, false);
    r = hsm_open_session_handle(h, &s->handle);
    if (r != QS_OK) {
        free(s);
        return r;
    }
    atomic_fetch_add(&h->sessions, 1);
    *out = s;
    return QS_OK;
}

void qs_hsm_session_close(qs_hsm_session *s)
{
    if (s == NULL)
        return;
    /* A handle from before a fork may equal one of the child's own sessions: leave it. */
    if (s->gen == hsm_fork_gen())
        (void)HSM_CK(s->h->fn->C_CloseSession(s->handle), "C_CloseSession");
    atomic_fetch_sub(&s->h->sessions, 1);
    free(s);
}

qs_err hsm_session_enter(qs_hsm_session *s)
{
    if (atomic_exchange_explicit(&s->busy, true, memory_order_acquire)) {
        qs_bug("an HSM session is used by two threads at once");
        return QS_ERR_INTERNAL;
    }
    qs_err r = hsm_sync(s->h);
    if (r == QS_OK && s->gen != hsm_fork_gen()) {
        r = hsm_open_session_handle(s->h, &s->handle);
        if (r == QS_OK)
            s->gen = hsm_fork_gen();
    }
    if (r != QS_OK)
        atomic_store_explicit(&s->busy, false, memory_order_release);
    return r;
}

void hsm_session_leave(qs_hsm_session *s)
{
    atomic_store_explicit(&s->busy, false, memory_order_release);
}

CK_FUNCTION_LIST *qs_hsm_p11(const qs_hsm *h)
{
    return h->fn;
}

CK_SLOT_ID qs_hsm_slot(const qs_hsm *h)
{
    return h->slot;
}

CK_OBJECT_HANDLE qs_hsm_service_key_handle(const qs_hsm *h, qs_hsm_service_key k)
{
    if ((unsigned)k >= QS_HSM_SERVICE_KEY_COUNT)
        return CK_INVALID_HANDLE;
    return h->svc[k];
}

CK_SESSION_HANDLE qs_hsm_session_handle(qs_hsm_session *s)
{
    if (hsm_session_enter(s) != QS_OK)
        return CK_INVALID_HANDLE;
    CK_SESSION_HANDLE handle = s->handle;
    hsm_session_leave(s);
    return handle;
}
