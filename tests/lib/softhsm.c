/* A throwaway SoftHSM token in a private temporary directory. */
#include "tests/lib/softhsm.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/testutil.h"
#include "util/secret.h"

#define QS_SOFTHSM_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"

/* An env value set by CMake is "<VAR>-NOTFOUND" when the package is absent. */
static const char *env_path(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0' || strstr(v, "NOTFOUND") != NULL)
        return NULL;
    return v;
}

static void copy_path(char *dst, size_t cap, const char *src, const char *what)
{
    if (snprintf(dst, cap, "%s", src) >= (int)cap) {
        fprintf(stderr, "%s path too long\n", what);
        exit(1);
    }
}

static void find_tools(qs_test_token *t)
{
    const char *module = env_path("QS_SOFTHSM_MODULE");
    if (module == NULL)
        module = QS_SOFTHSM_DEFAULT_MODULE;
    if (access(module, R_OK) != 0)
        qs_test_skip("SoftHSMv2 PKCS#11 module (package softhsm2) not installed");
    copy_path(t->module, sizeof t->module, module, "module");

    const char *util = env_path("QS_SOFTHSM_UTIL");
    if (util == NULL) {
        if (qs_test_system("command -v softhsm2-util >/dev/null 2>&1") != 0)
            qs_test_skip("softhsm2-util (package softhsm2) not installed");
        util = "softhsm2-util";
    } else if (access(util, X_OK) != 0) {
        qs_test_skip("softhsm2-util (package softhsm2) not installed");
    }
    copy_path(t->util, sizeof t->util, util, "softhsm2-util");
}

void qs_test_token_add(const qs_test_token *t, const char *label)
{
    int rc = qs_test_system("SOFTHSM2_CONF='%s' '%s' --init-token --free --label '%s' "
                            "--pin '%s' --so-pin '%s' >/dev/null",
                            t->conf, t->util, label, t->pin, t->so_pin);
    if (rc != 0) {
        fprintf(stderr, "softhsm2-util --init-token failed (%d)\n", rc);
        exit(1);
    }
}

void qs_test_token_create(qs_test_token *t, const char *tag)
{
    memset(t, 0, sizeof *t);
    if (qs_util_init() != QS_OK) {
        fprintf(stderr, "libsodium initialisation failed\n");
        exit(1);
    }
    t->label = QS_TEST_TOKEN_LABEL;
    t->pin = QS_TEST_TOKEN_PIN;
    t->so_pin = QS_TEST_TOKEN_SO_PIN;
    find_tools(t);
    qs_test_tmpdir(tag, t->dir, sizeof t->dir);

    char tokens[PATH_MAX + 16];
    snprintf(tokens, sizeof tokens, "%s/tokens", t->dir);
    snprintf(t->conf, sizeof t->conf, "%s/softhsm2.conf", t->dir);
    if (mkdir(tokens, 0700) != 0) {
        fprintf(stderr, "cannot make %s\n", tokens);
        exit(1);
    }
    FILE *f = fopen(t->conf, "w");
    if (f == NULL) {
        fprintf(stderr, "cannot write %s\n", t->conf);
        exit(1);
    }
    fprintf(f,
            "directories.tokendir = %s\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n",
            tokens);
    fclose(f);
    if (setenv("SOFTHSM2_CONF", t->conf, 1) != 0) {
        fprintf(stderr, "setenv failed\n");
        exit(1);
    }
    qs_test_token_add(t, t->label);
}

void qs_test_token_secret_file(const qs_test_token *t, const char *name, const char *secret,
                               char *path, size_t path_len)
{
    snprintf(path, path_len, "%s/%s", t->dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(secret);
    if (fd < 0 || write(fd, secret, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    close(fd);
}

void qs_test_token_params(const qs_test_token *t, qs_hsm_params *p)
{
    p->module_path = t->module;
    p->token_label = t->label;
    p->pin = t->pin;
    p->pin_len = strlen(t->pin);
}

void qs_test_token_init_keys(const qs_test_token *t)
{
    qs_hsm_params p;
    qs_hsm_service_report rep;
    qs_test_token_params(t, &p);
    qs_err r = qs_hsm_init_service_keys(&p, t->so_pin, strlen(t->so_pin), &rep);
    if (r != QS_OK) {
        fprintf(stderr, "qs_hsm_init_service_keys: %s\n", qs_err_name(r));
        exit(1);
    }
}

qs_hsm *qs_test_token_open(const qs_test_token *t)
{
    qs_hsm_params p;
    qs_hsm *h = NULL;
    qs_test_token_params(t, &p);
    qs_err r = qs_hsm_open(&p, &h);
    if (r != QS_OK) {
        fprintf(stderr, "qs_hsm_open: %s\n", qs_err_name(r));
        exit(1);
    }
    return h;
}

void qs_test_token_destroy(qs_test_token *t)
{
    if (t->dir[0] != '\0')
        qs_test_rmtree(t->dir);
    t->dir[0] = '\0';
}
