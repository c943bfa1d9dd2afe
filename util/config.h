/*
 * Configuration files, driven by a declarative option table per program.
 *
 * Format (INI):
 *   # comment            ; also a comment
 *   [section]
 *   key = value          values run to the end of the line, surrounding blanks trimmed;
 *                        "double quotes" keep blanks and allow # inside
 * Every key must be in the table: an unknown section or key, a value of the wrong type or out of
 * range, a duplicate key, or a missing required option stops loading with a message naming the
 * file, line, section and key.  Secrets are never inline: options point to secret files.
 */
#ifndef QS_UTIL_CONFIG_H
#define QS_UTIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

typedef enum qs_cfg_type {
    QS_CFG_STRING, /* char *  (malloc'd; freed by qs_cfg_free) */
    QS_CFG_INT,    /* int64_t, within [min, max] */
    QS_CFG_BOOL,   /* bool: true/false, yes/no, on/off, 1/0 */
} qs_cfg_type;

typedef struct qs_cfg_opt {
    const char *section;
    const char *key;
    qs_cfg_type type;
    const char *def;  /* default as text; NULL = required */
    const char *help; /* one line, printed in example configs and --help-config */
    size_t offset;    /* offsetof() the field in the program's config struct */
    int64_t min, max; /* QS_CFG_INT only; min == max == 0 means no range check */
} qs_cfg_opt;

/* The table ends with an entry whose section is NULL. */
#define QS_CFG_END                                                                                 \
    {                                                                                              \
        NULL, NULL, QS_CFG_STRING, NULL, NULL, 0, 0, 0                                             \
    }

/* Longest line, section, key and value accepted. */
#define QS_CFG_LINE_MAX 4096

/*
 * Parses `len` bytes of config text against `opts` into the struct at `out`: first every
 * default, then the text.  On error returns QS_ERR_CONFIG with a message in err (which names the
 * line, section and key), and `out` holds no allocations (qs_cfg_free was applied).
 * `origin` names the source in messages (a file name).
 */
QS_MUST_CHECK qs_err qs_cfg_load_buf(const char *text, size_t len, const char *origin,
                                     const qs_cfg_opt *opts, void *out, char *err, size_t err_len);

/* As qs_cfg_load_buf, from a file.  A missing or unreadable file is QS_ERR_CONFIG too. */
QS_MUST_CHECK qs_err qs_cfg_load_file(const char *path, const qs_cfg_opt *opts, void *out,
                                      char *err, size_t err_len);

/* Frees the strings the loader put into `out` and sets those fields to NULL. */
void qs_cfg_free(const qs_cfg_opt *opts, void *out);

/* Writes a commented example config with every option, its help text and default. */
void qs_cfg_write_example(FILE *f, const char *program, const qs_cfg_opt *opts);

#endif
