/*
 * INI-style config loader driven by a per-program option table (see config.h).  The text is
 * outside input: every line is bounded, every error names where it happened, and a failed load
 * leaves nothing allocated.
 */
#include "util/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define QS_CFG_FILE_MAX (1024 * 1024)

static void qs_cfg_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void qs_cfg_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (err == NULL || err_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

static size_t qs_cfg_count(const qs_cfg_opt *opts)
{
    size_t n = 0;
    while (opts[n].section != NULL)
        n++;
    return n;
}

static int qs_cfg_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int qs_cfg_is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

static bool qs_cfg_parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Stores `value` into the field of option `o`.  Returns false with a message on a bad value. */
static bool qs_cfg_store(const qs_cfg_opt *o, const char *value, void *out, const char *where,
                         char *err, size_t err_len)
{
    char *field = (char *)out + o->offset;
    switch (o->type) {
    case QS_CFG_STRING: {
        char *copy = strdup(value);
        if (copy == NULL) {
            qs_cfg_err(err, err_len, "%s: out of memory", where);
            return false;
        }
        char **slot = (char **)(void *)field;
        free(*slot);
        *slot = copy;
        return true;
    }
    case QS_CFG_INT: {
        if (value[0] == '\0') {
            qs_cfg_err(err, err_len, "%s [%s] %s: empty value, expected an integer", where,
                       o->section, o->key);
            return false;
        }
        errno = 0;
        char *end = NULL;
        long long v = strtoll(value, &end, 10);
        if (errno != 0 || end == NULL || *end != '\0') {
            qs_cfg_err(err, err_len, "%s [%s] %s: \"%s\" is not an integer", where, o->section,
                       o->key, value);
            return false;
        }
        if ((o->min != 0 || o->max != 0) && (v < o->min || v > o->max)) {
            qs_cfg_err(err, err_len,
                       "%s [%s] %s: %lld is out of range (%" PRId64 " to %" PRId64 ")", where,
                       o->section, o->key, v, o->min, o->max);
            return false;
        }
        *(int64_t *)(void *)field = (int64_t)v;
        return true;
    }
    case QS_CFG_BOOL: {
        bool b;
        if (!qs_cfg_parse_bool(value, &b)) {
            qs_cfg_err(err, err_len, "%s [%s] %s: \"%s\" is not a boolean (true/false)", where,
                       o->section, o->key, value);
            return false;
        }
        *(bool *)(void *)field = b;
        return true;
    }
    }
    qs_cfg_err(err, err_len, "[%s] %s: unknown option type", o->section, o->key);
    return false;
}

/* Sets every string field to NULL without freeing: the struct may hold garbage on entry. */
static void qs_cfg_zero_strings(const qs_cfg_opt *opts, void *out)
{
    for (size_t i = 0; opts[i].section != NULL; i++)
        if (opts[i].type == QS_CFG_STRING)
            *(char **)(void *)((char *)out + opts[i].offset) = NULL;
}

void qs_cfg_free(const qs_cfg_opt *opts, void *out)
{
    for (size_t i = 0; opts[i].section != NULL; i++) {
        if (opts[i].type == QS_CFG_STRING) {
            char **slot = (char **)(void *)((char *)out + opts[i].offset);
            free(*slot);
            *slot = NULL;
        }
    }
}

/* Trims blanks at both ends of [*s, *s + *n). */
static void qs_cfg_trim(const char **s, size_t *n)
{
    while (*n > 0 && qs_cfg_is_blank((*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && (qs_cfg_is_blank((*s)[*n - 1]) || (*s)[*n - 1] == '\r'))
        (*n)--;
}

/* Parses one value: either "quoted" (no escapes; the closing quote must end the value, a comment
 * may follow) or bare up to a comment.  Writes a NUL-terminated copy into val. */
static bool qs_cfg_value(const char *s, size_t n, char *val, size_t val_cap, const char **why)
{
    qs_cfg_trim(&s, &n);
    if (n > 0 && s[0] == '"') {
        const char *close = memchr(s + 1, '"', n - 1);
        if (close == NULL) {
            *why = "unterminated quoted value";
            return false;
        }
        size_t len = (size_t)(close - (s + 1));
        const char *rest = close + 1;
        size_t rest_n = n - (size_t)(rest - s);
        qs_cfg_trim(&rest, &rest_n);
        if (rest_n > 0 && rest[0] != '#' && rest[0] != ';') {
            *why = "text after a quoted value";
            return false;
        }
        if (len >= val_cap) {
            *why = "value too long";
            return false;
        }
        memcpy(val, s + 1, len);
        val[len] = '\0';
        return true;
    }
    size_t len = 0;
    while (len < n && s[len] != '#' && s[len] != ';')
        len++;
    while (len > 0 && qs_cfg_is_blank(s[len - 1]))
        len--;
    if (len >= val_cap) {
        *why = "value too long";
        return false;
    }
    memcpy(val, s, len);
    val[len] = '\0';
    return true;
}

qs_err qs_cfg_load_buf(const char *text, size_t len, const char *origin, const qs_cfg_opt *opts,
                       void *out, char *err, size_t err_len)
{
    size_t nopts = qs_cfg_count(opts);
    unsigned char *seen = NULL;
    char *section = NULL, *value = NULL;
    qs_err r = QS_ERR_CONFIG;

    if (err_len > 0)
        err[0] = '\0';
    if (origin == NULL)
        origin = "config";
    /* Fields start empty so that qs_cfg_free is always safe. */
    qs_cfg_zero_strings(opts, out);

    seen = calloc(nopts + 1, 1);
    section = calloc(QS_CFG_LINE_MAX + 1, 1);
    value = calloc(QS_CFG_LINE_MAX + 1, 1);
    if (seen == NULL || section == NULL || value == NULL) {
        r = QS_ERR_NOMEM;
        qs_cfg_err(err, err_len, "%s: out of memory", origin);
        goto out;
    }
    for (size_t i = 0; i < nopts; i++) {
        if (opts[i].def != NULL &&
            !qs_cfg_store(&opts[i], opts[i].def, out, "default", err, err_len))
            goto out;
    }
    if (len > QS_CFG_FILE_MAX) {
        qs_cfg_err(err, err_len, "%s: larger than %d bytes", origin, QS_CFG_FILE_MAX);
        goto out;
    }

    size_t pos = 0, lineno = 0;
    while (pos < len) {
        lineno++;
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        char where[512];
        snprintf(where, sizeof where, "%s:%zu:", origin, lineno);

        if (n > QS_CFG_LINE_MAX) {
            qs_cfg_err(err, err_len, "%s line longer than %d bytes", where, QS_CFG_LINE_MAX);
            goto out;
        }
        if (memchr(line, '\0', n) != NULL) {
            qs_cfg_err(err, err_len, "%s NUL byte in line", where);
            goto out;
        }
        qs_cfg_trim(&line, &n);
        if (n == 0 || line[0] == '#' || line[0] == ';')
            continue;

        if (line[0] == '[') {
            size_t k = 1;
            while (k < n && qs_cfg_is_name_char(line[k]))
                k++;
            if (k == 1 || k >= n || line[k] != ']') {
                qs_cfg_err(err, err_len, "%s malformed section header", where);
                goto out;
            }
            const char *rest = line + k + 1;
            size_t rest_n = n - k - 1;
            qs_cfg_trim(&rest, &rest_n);
            if (rest_n > 0 && rest[0] != '#' && rest[0] != ';') {
                qs_cfg_err(err, err_len, "%s text after section header", where);
                goto out;
            }
            memcpy(section, line + 1, k - 1);
            section[k - 1] = '\0';
            bool known = false;
            for (size_t i = 0; i < nopts && !known; i++)
                known = strcmp(opts[i].section, section) == 0;
            if (!known) {
                qs_cfg_err(err, err_len, "%s unknown section [%s]", where, section);
                goto out;
            }
            continue;
        }

        size_t k = 0;
        while (k < n && qs_cfg_is_name_char(line[k]))
            k++;
        size_t key_len = k;
        while (k < n && qs_cfg_is_blank(line[k]))
            k++;
        if (key_len == 0 || k >= n || line[k] != '=') {
            qs_cfg_err(err, err_len, "%s expected \"key = value\"", where);
            goto out;
        }
        if (section[0] == '\0') {
            qs_cfg_err(err, err_len, "%s option %.*s before any [section]", where, (int)key_len,
                       line);
            goto out;
        }
        size_t idx = nopts;
        for (size_t i = 0; i < nopts; i++) {
            if (strcmp(opts[i].section, section) == 0 && strlen(opts[i].key) == key_len &&
                memcmp(opts[i].key, line, key_len) == 0) {
                idx = i;
                break;
            }
        }
        if (idx == nopts) {
            qs_cfg_err(err, err_len, "%s unknown option [%s] %.*s", where, section, (int)key_len,
                       line);
            goto out;
        }
        if (seen[idx]) {
            qs_cfg_err(err, err_len, "%s [%s] %s given twice", where, section, opts[idx].key);
            goto out;
        }
        const char *why = NULL;
        if (!qs_cfg_value(line + k + 1, n - k - 1, value, QS_CFG_LINE_MAX + 1, &why)) {
            qs_cfg_err(err, err_len, "%s [%s] %s: %s", where, section, opts[idx].key, why);
            goto out;
        }
        if (!qs_cfg_store(&opts[idx], value, out, where, err, err_len))
            goto out;
        seen[idx] = 1;
    }

    for (size_t i = 0; i < nopts; i++) {
        if (opts[i].def == NULL && !seen[i]) {
            qs_cfg_err(err, err_len, "%s: required option [%s] %s is missing", origin,
                       opts[i].section, opts[i].key);
            goto out;
        }
    }
    r = QS_OK;
out:
    if (r != QS_OK)
        qs_cfg_free(opts, out);
    free(seen);
    free(section);
    free(value);
    return r;
}

qs_err qs_cfg_load_file(const char *path, const qs_cfg_opt *opts, void *out, char *err,
                        size_t err_len)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        qs_cfg_zero_strings(opts, out);
        qs_cfg_err(err, err_len, "cannot open config file %s: %s", path, strerror(errno));
        return QS_ERR_CONFIG;
    }
    char *buf = malloc(QS_CFG_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, QS_CFG_FILE_MAX + 1, f) : 0;
    int bad = buf == NULL || ferror(f);
    fclose(f);
    qs_err r;
    if (bad) {
        qs_cfg_zero_strings(opts, out);
        qs_cfg_err(err, err_len, "cannot read config file %s", path);
        r = QS_ERR_CONFIG;
    } else {
        r = qs_cfg_load_buf(buf, n, path, opts, out, err, err_len);
    }
    free(buf);
    return r;
}

void qs_cfg_write_example(FILE *f, const char *program, const qs_cfg_opt *opts)
{
    static const char *const type_names[] = {"string", "integer", "boolean"};
    fprintf(f, "# Example configuration for %s.\n", program);
    fprintf(f, "# Options without a default are required; secrets are never inline: options\n"
               "# ending in _file name a file (mode 0600) that holds the secret.\n");
    const char *cur = NULL;
    for (size_t i = 0; opts[i].section != NULL; i++) {
        const qs_cfg_opt *o = &opts[i];
        if (cur == NULL || strcmp(cur, o->section) != 0) {
            fprintf(f, "\n[%s]\n", o->section);
            cur = o->section;
        }
        fprintf(f, "\n# %s (%s", o->help ? o->help : "", type_names[o->type]);
        if (o->type == QS_CFG_INT && (o->min != 0 || o->max != 0))
            fprintf(f, ", %" PRId64 " to %" PRId64, o->min, o->max);
        fprintf(f, "%s)\n", o->def == NULL ? ", required" : "");
        if (o->def == NULL)
            fprintf(f, "%s = \n", o->key);
        else
            fprintf(f, "#%s = %s\n", o->key, o->def);
    }
}
