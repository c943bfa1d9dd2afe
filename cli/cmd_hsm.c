/*
 * qsignctl hsm: creating and checking the service keys in the token.
 *   hsm init     creates the missing service keys (needs the SO PIN), never replaces one;
 *                prints per key "created" or "exists".  Running it again changes nothing.
 *   hsm status   token found, login works, each service key present or missing; exit 1 when
 *                any key is missing or unusable.
 * PINs are read from the files the config names and wiped after use; they are never printed.
 */
#define QS_LOG_MODULE "qsignctl"

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "hsm/hsm.h"
#include "util/err.h"
#include "util/secret.h"

static void hsm_usage(FILE *f)
{
    fprintf(f, "usage: qsignctl hsm init|status\n");
}

static bool hsm_need(const char *value, const char *key)
{
    if (value != NULL && value[0] != '\0')
        return true;
    fprintf(stderr, "qsignctl: [hsm] %s must be set in the config\n", key);
    return false;
}

static bool hsm_read_pin(const char *path, const char *what, char **pin, size_t *pin_len)
{
    char why[512];
    if (qs_secret_read_file(path, QS_HSM_PIN_MAX, pin, pin_len, why, sizeof why) != QS_OK) {
        fprintf(stderr, "qsignctl: %s: %s\n", what, why);
        return false;
    }
    return true;
}

static const char *hsm_state_word(qs_hsm_key_state st, bool init)
{
    switch (st) {
    case QS_HSM_KEY_MISSING:
        return "missing";
    case QS_HSM_KEY_EXISTS:
        return init ? "exists" : "present";
    case QS_HSM_KEY_CREATED:
        return "created";
    case QS_HSM_KEY_BAD:
        return "unusable (ambiguous label or unsafe attributes; see the log)";
    }
    return "?";
}

/* Prints one line per service key; true when every key is usable. */
static bool hsm_print_report(const qs_hsm_service_report *rep, bool init)
{
    bool all_ok = true;
    for (unsigned k = 0; k < QS_HSM_SERVICE_KEY_COUNT; k++) {
        qs_hsm_key_state st = rep->state[k];
        printf("%-18s %s", qs_hsm_service_key_label((qs_hsm_service_key)k),
               hsm_state_word(st, init));
        if (rep->id_hex[k][0] != '\0')
            printf("  id %s", rep->id_hex[k]);
        printf("\n");
        if (st != QS_HSM_KEY_EXISTS && st != QS_HSM_KEY_CREATED)
            all_ok = false;
    }
    return all_ok;
}

static int hsm_fail(const char *sub, const char *label, qs_err r)
{
    fprintf(stderr, "qsignctl: hsm %s on token \"%s\": %s (%s)\n", sub, label, qs_err_str(r),
            qs_err_name(r));
    return 1;
}

int qs_ctl_hsm(const qs_ctl_config *cfg, int argc, char **argv)
{
    if (argc != 2) {
        hsm_usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    bool init = strcmp(sub, "init") == 0;
    if (!init && strcmp(sub, "status") != 0) {
        fprintf(stderr, "qsignctl: unknown hsm command \"%s\"\n", sub);
        hsm_usage(stderr);
        return 2;
    }
    if (!hsm_need(cfg->hsm_module, "module") || !hsm_need(cfg->hsm_token_label, "token_label") ||
        !hsm_need(cfg->hsm_pin_file, "pin_file") ||
        (init && !hsm_need(cfg->hsm_so_pin_file, "so_pin_file")))
        return 1;

    int rc = 1;
    char *pin = NULL, *so_pin = NULL;
    size_t pin_len = 0, so_pin_len = 0;
    qs_hsm_service_report rep;
    memset(&rep, 0, sizeof rep);

    if (!hsm_read_pin(cfg->hsm_pin_file, "[hsm] pin_file", &pin, &pin_len))
        goto out;
    if (init && !hsm_read_pin(cfg->hsm_so_pin_file, "[hsm] so_pin_file", &so_pin, &so_pin_len))
        goto out;
    qs_hsm_params p = {
        .module_path = cfg->hsm_module,
        .token_label = cfg->hsm_token_label,
        .pin = pin,
        .pin_len = pin_len,
    };
    if (init) {
        qs_err r = qs_hsm_init_service_keys(&p, so_pin, so_pin_len, &rep);
        if (r != QS_OK && r != QS_ERR_HSM_KEY_POLICY) {
            rc = hsm_fail(sub, cfg->hsm_token_label, r);
            goto out;
        }
        printf("token \"%s\": service keys\n", cfg->hsm_token_label);
        bool ok = hsm_print_report(&rep, true);
        rc = ok && r == QS_OK ? 0 : hsm_fail(sub, cfg->hsm_token_label, QS_ERR_HSM_KEY_POLICY);
        goto out;
    }
    qs_err r = qs_hsm_service_key_status(&p, &rep);
    if (r != QS_OK) {
        rc = hsm_fail(sub, cfg->hsm_token_label, r);
        goto out;
    }
    printf("token \"%s\": found, login ok\n", cfg->hsm_token_label);
    rc = hsm_print_report(&rep, false) ? 0 : 1;
out:
    qs_secret_free(pin);
    qs_secret_free(so_pin);
    fflush(stdout);
    return rc;
}
