/*
 * The pieces of the web page inside qsignd, one by one: the Origin rule (own origin, default
 * ports, case, "null", look-alike hosts, public_origin, methods that only read), the check of
 * [http] public_origin (values, and the config loader naming the key), the embedded file table
 * (paths, Content-Types, exact lookups), and the enrolment QR code: its SVG is rasterised here
 * from its path and decoded by an independent QR reader (zbarimg, Debian package zbar-tools),
 * which must read back the exact text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

#define PX 6 /* pixels per QR module in the test image */

static void test_origin_rule(void **state)
{
    (void)state;
    /* Reads, and clients without Origin, always pass. */
    assert_true(api_origin_allowed("GET", "https://evil.example", "sign.example", true, ""));
    assert_true(api_origin_allowed("HEAD", "null", "sign.example", true, ""));
    assert_true(api_origin_allowed("OPTIONS", "https://evil.example", "sign.example", true, ""));
    assert_true(api_origin_allowed("POST", NULL, "sign.example", true, ""));
    assert_true(api_origin_allowed("POST", NULL, NULL, true, "https://sign.example"));
    /* The own origin from the Host header and the listener's scheme. */
    assert_true(api_origin_allowed("POST", "https://sign.example", "sign.example", true, ""));
    assert_true(api_origin_allowed("POST", "https://sign.example", "sign.example", true, NULL));
    assert_true(api_origin_allowed("PUT", "https://Sign.Example", "sign.EXAMPLE", true, ""));
    assert_true(api_origin_allowed("POST", "https://127.0.0.1:8443", "127.0.0.1:8443", true, ""));
    assert_true(api_origin_allowed("POST", "https://[::1]:8443", "[::1]:8443", true, ""));
    assert_true(api_origin_allowed("POST", "http://localhost:8080", "localhost:8080", false, ""));
    /* Default ports: written or not, the same origin. */
    assert_true(api_origin_allowed("POST", "https://sign.example", "sign.example:443", true, ""));
    assert_true(api_origin_allowed("POST", "https://sign.example:443", "sign.example", true, ""));
    assert_true(api_origin_allowed("POST", "http://sign.example", "sign.example:80", false, ""));
    /* Everything else is refused. */
    static const char *const foreign[] = {
        "https://evil.example",
        "null",
        "",
        "http://sign.example",
        "https://sign.example:8443",
        "https://sign.example.evil.example",
        "https://evil-sign.example",
        "https://sign.exampl",
        "https://sign.example/",
        "https://sign.example:443x",
        "https://",
        "sign.example",
        "https://sign.example:80",
    };
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++)
        if (api_origin_allowed("POST", foreign[i], "sign.example", true, ""))
            fail_msg("Origin \"%s\" passed for host sign.example", foreign[i]);
    assert_false(api_origin_allowed("POST", "https://sign.example", NULL, true, ""));
    assert_false(api_origin_allowed("POST", "https://sign.example", "", true, ""));
    assert_false(api_origin_allowed("POST", "http://sign.example", "sign.example", true, ""));
    assert_false(api_origin_allowed("POST", "https://sign.example:443", "sign.example", false, ""));
    assert_false(api_origin_allowed("DELETE", "https://evil.example", "sign.example", true, ""));
    /* public_origin: that one only, whatever the Host says. */
    assert_true(api_origin_allowed("POST", "https://sign.example", "127.0.0.1:8080", false,
                                   "https://sign.example"));
    assert_true(
        api_origin_allowed("POST", "HTTPS://SIGN.EXAMPLE", "x", false, "https://sign.example"));
    assert_false(api_origin_allowed("POST", "https://127.0.0.1:8080", "127.0.0.1:8080", false,
                                    "https://sign.example"));
    assert_false(api_origin_allowed("POST", "https://sign.example.evil", "sign.example.evil", true,
                                    "https://sign.example"));
}

static void test_public_origin_values(void **state)
{
    (void)state;
    static const char *const good[] = {"https://sign.example", "http://localhost:8080",
                                       "https://[::1]:8443", "https://127.0.0.1"};
    static const char *const bad[] = {"sign.example",          "https://",
                                      "https://sign.example/", "https://sign.example/path",
                                      "ftp://sign.example",    "https://sign example",
                                      "https://a?b",           "https://a#b",
                                      "https://user@a",        "null"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!api_origin_valid(good[i]))
            fail_msg("\"%s\" refused", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (api_origin_valid(bad[i]))
            fail_msg("\"%s\" accepted", bad[i]);
}

/* A bad [http] public_origin stops start-up naming the key; a good one is kept. */
static void test_public_origin_config(void **state)
{
    (void)state;
    static const char base[] = "[http]\nplain_http_loopback = true\n%s\n"
                               "[database]\nconninfo = \"dbname=qsign\"\n";
    char text[512], err[512];
    qs_api_config cfg;

    snprintf(text, sizeof text, base, "public_origin = https://sign.example");
    err[0] = '\0';
    assert_int_equal(qs_api_config_load_buf(text, strlen(text), "t.conf", &cfg, err, sizeof err),
                     QS_OK);
    assert_string_equal(cfg.public_origin, "https://sign.example");
    qs_api_config_free(&cfg);

    snprintf(text, sizeof text, base, "");
    assert_int_equal(qs_api_config_load_buf(text, strlen(text), "t.conf", &cfg, err, sizeof err),
                     QS_OK);
    assert_string_equal(cfg.public_origin, "");
    qs_api_config_free(&cfg);

    static const char *const bad[] = {"public_origin = sign.example",
                                      "public_origin = https://sign.example/",
                                      "public_origin = \"https://sign example\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, base, bad[i]);
        err[0] = '\0';
        assert_int_equal(
            qs_api_config_load_buf(text, strlen(text), "t.conf", &cfg, err, sizeof err),
            QS_ERR_CONFIG);
        if (strstr(err, "t.conf: [http] public_origin:") == NULL)
            fail_msg("%s: the message \"%s\" does not name [http] public_origin", bad[i], err);
    }
}

static void test_asset_table(void **state)
{
    (void)state;
    assert_true(api_web_assets_count >= 3);
    assert_non_null(api_web_find(API_WEB_INDEX));
    for (size_t i = 0; i < api_web_assets_count; i++) {
        const api_web_asset *a = &api_web_assets[i];
        assert_int_equal(strncmp(a->path, API_WEB_PREFIX, strlen(API_WEB_PREFIX)), 0);
        assert_null(strchr(a->path + strlen(API_WEB_PREFIX), '/'));
        assert_true(a->len > 0);
        assert_ptr_equal(api_web_find(a->path), a);
        const char *ext = strrchr(a->path, '.');
        const char *want = strcmp(ext, ".html") == 0  ? "text/html; charset=utf-8"
                           : strcmp(ext, ".css") == 0 ? "text/css; charset=utf-8"
                           : strcmp(ext, ".js") == 0  ? "text/javascript; charset=utf-8"
                                                      : "image/svg+xml";
        assert_string_equal(a->content_type, want);
        /* A lookup is exact: no prefix, no suffix, no case folding. */
        char buf[256];
        snprintf(buf, sizeof buf, "%s/", a->path);
        assert_null(api_web_find(buf));
        snprintf(buf, sizeof buf, "%.*s", (int)strlen(a->path) - 1, a->path);
        assert_null(api_web_find(buf));
        snprintf(buf, sizeof buf, "%s", a->path);
        buf[strlen(API_WEB_PREFIX)] ^= 0x20;
        assert_null(api_web_find(buf));
    }
    assert_null(api_web_find("/"));
    assert_null(api_web_find(API_WEB_PREFIX));
    assert_null(api_web_find(""));
}

/* ---- QR codes ----------------------------------------------------------------------------- */

/* Draws the SVG's black path into a PGM image (PX pixels a module) at `path`. */
static void rasterise(const char *svg, const char *path)
{
    unsigned side = 0;
    assert_int_equal(strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ", 53),
                     0);
    assert_int_equal(sscanf(svg + 53, "%u", &side), 1);
    assert_true(side > 21 && side < 200);
    const char *white = strstr(svg, "<path fill=\"#fff\"");
    const char *d = strstr(svg, "<path fill=\"#000\" d=\"");
    assert_non_null(white);
    assert_non_null(d);
    assert_null(strstr(d + 1, "<path"));
    d += strlen("<path fill=\"#000\" d=\"");
    size_t w = side * PX;
    unsigned char *img = malloc(w * w);
    assert_non_null(img);
    memset(img, 255, w * w);
    int steps = 0;
    while (*d == 'M') {
        unsigned x, y, run, back;
        int used = 0;
        if (sscanf(d, "M%u %uh%uv1h-%uz%n", &x, &y, &run, &back, &used) != 4 || used == 0)
            fail_msg("unexpected path step: %.40s", d);
        assert_int_equal(run, back);
        assert_true(x + run <= side && y < side);
        for (size_t py = y * PX; py < (y + 1) * PX; py++)
            memset(img + py * w + x * PX, 0, run * PX);
        d += used;
        steps++;
    }
    assert_int_equal(strcmp(d, "\"/></svg>"), 0);
    assert_true(steps > 20);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f, "P5\n%zu %zu\n255\n", w, w);
    assert_int_equal(fwrite(img, 1, w * w, f), w * w);
    fclose(f);
    free(img);
}

/* What zbarimg reads in the image, malloc'd (NULL: nothing). */
static char *decode(const char *image)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "zbarimg --raw -q -Sdisable -Sqrcode.enable '%s'", image);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *out = calloc(1, 4096);
    size_t n = fread(out, 1, 4095, p);
    int st = pclose(p);
    if (st != 0 || n == 0) {
        free(out);
        return NULL;
    }
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return out;
}

static void test_qr_svg(void **state)
{
    (void)state;
    if (qs_test_system("command -v zbarimg >/dev/null 2>&1") != 0)
        qs_test_skip("zbarimg (Debian package zbar-tools) is not installed");
    char dir[512], image[600];
    qs_test_tmpdir("api_qr", dir, sizeof dir);
    snprintf(image, sizeof image, "%s/qr.pgm", dir);

    char long_text[API_QR_TEXT_MAX + 2];
    for (size_t i = 0; i < API_QR_TEXT_MAX; i++)
        long_text[i] = (char)('a' + i % 26);
    long_text[API_QR_TEXT_MAX] = '\0';
    const char *const texts[] = {
        "otpauth://totp/qsign:mari?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=qsign&"
        "algorithm=SHA1&digits=6&period=30",
        "x",
        long_text,
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char *svg = NULL;
        size_t len = 0;
        assert_int_equal(api_qr_svg(texts[i], &svg, &len), QS_OK);
        assert_int_equal(strlen(svg), len);
        rasterise(svg, image);
        char *got = decode(image);
        if (got == NULL || strcmp(got, texts[i]) != 0)
            fail_msg("the QR code of \"%.60s...\" reads \"%.60s\"", texts[i], got ? got : "");
        free(got);
        qs_free_wiped(svg, len + 1);
    }
    /* A drawing that is not a QR code reads as nothing: the reader is not fooled. */
    FILE *f = fopen(image, "wb");
    assert_non_null(f);
    fprintf(f, "P5\n60 60\n255\n");
    for (int k = 0; k < 3600; k++)
        fputc((k / 7) % 2 ? 0 : 255, f);
    fclose(f);
    assert_null(decode(image));

    char *svg = (char *)1;
    size_t len = 1;
    assert_int_equal(api_qr_svg("", &svg, &len), QS_ERR_INVALID_ARGUMENT);
    assert_null(svg);
    assert_int_equal(len, 0);
    long_text[API_QR_TEXT_MAX] = 'z';
    long_text[API_QR_TEXT_MAX + 1] = '\0';
    assert_int_equal(api_qr_svg(long_text, &svg, &len), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(api_qr_svg(NULL, &svg, &len), QS_ERR_INVALID_ARGUMENT);
    qs_test_rmtree(dir);
}

int main(void)
{
    if (qs_util_init() != QS_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origin_rule),
        cmocka_unit_test(test_public_origin_values),
        cmocka_unit_test(test_public_origin_config),
        cmocka_unit_test(test_asset_table),
        cmocka_unit_test(test_qr_svg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
