/*
 * libFuzzer harness over qsignd's request parsing: the input is a request body, parsed as JSON
 * and checked against the field spec of every endpoint in both CSC versions (v1 and v2
 * mappings), nested specs included (signDoc's documentDigests), and against the audit API's
 * search spec (/audit/v1/search).  On success every present field must respect its spec; on
 * failure a description must be given.  The same bytes also go through the Basic-header, token,
 * UUID, audit cursor and signing-window parsers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/audit.h"
#include "util/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_params(const api_field_spec *spec, size_t nspec, api_ver ver, const api_params *p)
{
    for (size_t k = 0; k < nspec; k++) {
        const api_field_spec *fs = &spec[k];
        const api_param *v = &p->f[fs->field];
        if (!v->present)
            continue;
        switch (fs->type) {
        case API_T_STRING:
            if (v->s == NULL || (int64_t)v->len < fs->min || (int64_t)v->len > fs->max ||
                strlen(v->s) != v->len)
                abort();
            break;
        case API_T_INT:
            if (v->i < fs->min || v->i > fs->max)
                abort();
            break;
        case API_T_STRINGS:
        case API_T_AUTHDATA:
            if (v->a == NULL || (int64_t)v->n < fs->min || (int64_t)v->n > fs->max)
                abort();
            break;
        case API_T_OBJECTS:
            if (v->a == NULL || (int64_t)v->n < fs->min || (int64_t)v->n > fs->max)
                abort();
            /* every element was accepted: it parses again against the sub-spec, as handlers
             * do, and respects it */
            for (size_t i = 0; i < v->n; i++) {
                api_params ep;
                char d[API_DESC_MAX];
                if (api_spec_parse(json_array_get(v->a, i), ver, fs->sub, fs->nsub, &ep, d,
                                   sizeof d) != QS_OK)
                    abort();
                check_params(fs->sub, fs->nsub, ver, &ep);
            }
            break;
        case API_T_BOOL:
            break;
        }
    }
}

/* An accepted search holds only what the database and the SAM accept. */
static void check_search(const api_audit_query *q)
{
    if (q->limit < 1 || q->limit > API_AUDIT_LIMIT_MAX ||
        (q->format != API_AUDIT_JSONL && q->format != API_AUDIT_CSV) || q->result < -1 ||
        q->result > 1 || (q->has_from && q->from_us < 0) || (q->has_to && q->to_us < 0) ||
        (q->has_from && q->has_to && q->from_us >= q->to_us) ||
        (q->event_type != NULL && !api_audit_event_type_valid(q->event_type)) ||
        (q->writer_id != NULL && !api_audit_writer_id_valid(q->writer_id)) ||
        (q->has_user && strlen(q->user_id_str) != API_UUID_STR_LEN) ||
        (q->has_credential && strlen(q->credential_id_str) != API_UUID_STR_LEN) ||
        (q->cursor.started &&
         (q->cursor.seq < 1 || !api_audit_writer_id_valid(q->cursor.writer_id))))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready = false;
    if (!ready) {
        if (qs_util_init() != QS_OK)
            abort();
        api_json_init();
        ready = true;
    }
    char desc[API_DESC_MAX];
    json_t *body = NULL;
    qs_err r = api_body_parse(data, size, &body, desc, sizeof desc);
    if (r == QS_OK) {
        size_t n = 0;
        const api_route *routes = api_routes(&n);
        for (size_t i = 0; i < n; i++) {
            const api_endpoint *ep = routes[i].ep;
            if (ep->nspec == 0)
                continue;
            for (int v = 0; v < API_VER_COUNT; v++) {
                if (!(ep->versions & api_version_get((api_ver)v)->bit))
                    continue;
                api_params p;
                desc[0] = '\0';
                r = api_spec_parse(body, (api_ver)v, ep->spec, ep->nspec, &p, desc, sizeof desc);
                if (r == QS_OK)
                    check_params(ep->spec, ep->nspec, (api_ver)v, &p);
                else if (r != QS_ERR_INVALID_ARGUMENT || desc[0] == '\0')
                    abort();
            }
        }
        api_audit_query q;
        desc[0] = '\0';
        r = api_audit_search_parse(body, &q, desc, sizeof desc);
        if (r == QS_OK)
            check_search(&q);
        else if (r != QS_ERR_INVALID_ARGUMENT || desc[0] == '\0')
            abort();
        json_decref(body);
    } else if (r == QS_ERR_PARSE && desc[0] == '\0') {
        abort();
    }

    /* The same bytes as an Authorization value, a token and a UUID. */
    char *text = malloc(size + 7);
    if (text == NULL)
        return 0;
    memcpy(text, "Basic ", 6);
    memcpy(text + 6, data, size);
    text[size + 6] = '\0';
    char *user = NULL, *pass = NULL;
    size_t pass_len = 0;
    if (api_basic_parse(text, &user, &pass, &pass_len) == QS_OK) {
        if (user == NULL || pass == NULL || pass_len == 0 || strlen(pass) != pass_len)
            abort();
        free(user);
        qs_free_wiped(pass, pass_len);
    }
    uint8_t hash[API_SHA256_LEN], id[API_UUID_LEN];
    if (api_token_hash((const char *)data, size, hash) == QS_OK && size != API_TOKEN_B64_LEN)
        abort();
    if (api_uuid_parse((const char *)data, size, id) == QS_OK && size != API_UUID_STR_LEN)
        abort();
    /* an accepted cursor is the one encoding of its position */
    qs_db_audit_cursor cur;
    if (api_audit_cursor_parse((const char *)data, size, &cur)) {
        char again[API_AUDIT_CURSOR_MAX + 1];
        if (!cur.started || !api_audit_cursor_format(&cur, again, sizeof again) ||
            strlen(again) != size || memcmp(again, data, size) != 0)
            abort();
    }
    /* the signing window of the config ("HH:MM-HH:MM") */
    int from = 0, to = 0;
    if (qs_api_time_window_parse(text + 6, &from, &to) &&
        (from < 0 || from >= 1440 || to < 0 || to >= 1440 || from == to || strlen(text + 6) != 11))
        abort();
    free(text);
    return 0;
}
