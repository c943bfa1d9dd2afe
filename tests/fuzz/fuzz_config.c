/* libFuzzer harness for the config loader: arbitrary text must load or fail cleanly. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/config.h"

typedef struct cfg {
    char *a;
    char *b;
    int64_t n;
    bool flag;
} cfg;

static const qs_cfg_opt opts[] = {
    {"s", "a", QS_CFG_STRING, NULL, "", offsetof(cfg, a), 0, 0},
    {"s", "n", QS_CFG_INT, "1", "", offsetof(cfg, n), -5, 5},
    {"t", "b", QS_CFG_STRING, "x", "", offsetof(cfg, b), 0, 0},
    {"t", "flag", QS_CFG_BOOL, "no", "", offsetof(cfg, flag), 0, 0},
    QS_CFG_END,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cfg c;
    char err[256];
    memset(&c, 0x5a, sizeof c);
    if (qs_cfg_load_buf((const char *)data, size, "fuzz", opts, &c, err, sizeof err) == QS_OK) {
        if (c.a == NULL || c.b == NULL || c.n < -5 || c.n > 5)
            abort();
        qs_cfg_free(opts, &c);
    } else if (c.a != NULL || c.b != NULL || err[0] == '\0') {
        abort();
    }
    return 0;
}
