/*
 * qsign-sam: the Signature Activation Module daemon.  Parses the options, loads the config and
 * runs the server (sam/server.c).
 */
#define QS_LOG_MODULE "sam"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "sam/sam.h"
#include "util/log.h"
#include "util/secret.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: qsign-sam [-c CONFIG] [--check-config]\n"
            "\n"
            "  -c, --config FILE   config file (default %s)\n"
            "  --check-config      load and check the config, then exit\n"
            "  --example-config    print a commented example config and exit\n"
            "  -h, --help          this help\n",
            SAM_DEFAULT_CONFIG);
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
    const char *path = SAM_DEFAULT_CONFIG;
    bool check_only = false;
    int c;

    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'C':
            check_only = true;
            break;
        case 'E':
            sam_config_write_example(stdout);
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
    if (qs_util_init() != QS_OK) {
        fprintf(stderr, "qsign-sam: cannot initialise libsodium\n");
        return 1;
    }
    sam_config cfg;
    char err[1024];
    if (sam_config_load(path, &cfg, err, sizeof err) != QS_OK) {
        fprintf(stderr, "qsign-sam: %s\n", err);
        return 1;
    }
    if (check_only) {
        printf("%s: OK\n", path);
        sam_config_free(&cfg);
        return 0;
    }
    int status = sam_run(&cfg);
    sam_config_free(&cfg);
    return status;
}
