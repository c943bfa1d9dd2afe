/*
 * qsignd: parse options, load the config, serve until SIGINT or SIGTERM.
 */
#define QS_LOG_MODULE "qsignd"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "api/api.h"
#include "util/log.h"
#include "util/secret.h"

#define QSIGND_DEFAULT_CONFIG "/etc/qsign/qsignd.conf"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: qsignd [-c CONFIG] [--check-config]\n"
            "\n"
            "  -c, --config FILE     config file (default $QSIGND_CONFIG or %s)\n"
            "  --check-config        load and check the config and the files it names, then exit\n"
            "  --example-config      print a commented example config and exit\n"
            "  -h, --help            this help\n",
            QSIGND_DEFAULT_CONFIG);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'C'},
        {"example-config", no_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = getenv("QSIGND_CONFIG");
    bool check_only = false;
    int c;

    umask(077);
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'C':
            check_only = true;
            break;
        case 'E':
            qs_api_config_write_example(stdout);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (config_path == NULL || config_path[0] == '\0')
        config_path = QSIGND_DEFAULT_CONFIG;

    /* Keep the TLS key and request secrets out of core dumps. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        fprintf(stderr, "qsignd: cannot disable core dumps\n");
    if (qs_util_init() != QS_OK) {
        fprintf(stderr, "qsignd: cannot initialise libsodium\n");
        return 1;
    }
    qs_api_config cfg;
    char err[1024];
    if (qs_api_config_load(config_path, &cfg, err, sizeof err) != QS_OK) {
        fprintf(stderr, "qsignd: %s\n", err);
        return 1;
    }
    if (check_only) {
        int rc = 0;
        if (qs_api_config_check_files(&cfg, err, sizeof err) != QS_OK) {
            fprintf(stderr, "qsignd: %s: %s\n", config_path, err);
            rc = 1;
        } else {
            printf("%s: ok\n", config_path);
        }
        qs_api_config_free(&cfg);
        return rc;
    }
    qs_log_level level = QS_LOG_INFO;
    if (!qs_log_level_parse(cfg.log_level, &level))
        level = QS_LOG_INFO;
    qs_log_set_level(level);

    /* Signals are taken synchronously by this thread; the workers inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    qs_api_server *srv = NULL;
    qs_err r = qs_api_server_start(&cfg, &srv);
    if (r != QS_OK) {
        qs_error("start-up failed: %s", qs_err_str(r));
        qs_api_config_free(&cfg);
        return 1;
    }
    int sig = 0;
    sigwait(&set, &sig);
    qs_info("stopping on signal %d", sig);
    qs_api_server_stop(srv);
    qs_api_config_free(&cfg);
    return 0;
}
