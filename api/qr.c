/*
 * QR codes for enrolment: the otpauth:// URI of a new TOTP authenticator drawn as an SVG, so a
 * signer scans it from the web page with an authenticator app.  libqrencode makes the module
 * matrix (8-bit mode, error correction level M); each horizontal run of dark modules becomes
 * one "M x y h w v1 h-w z" step of a single path, inside a white square with the quiet zone of
 * four modules the standard asks for.
 *
 * The URI holds the TOTP seed, and so does the drawing: the matrix is wiped before libqrencode
 * frees it and the SVG lives in memory the caller wipes.  libqrencode's own working copies of
 * the text are freed inside it without wiping (it has no hook for that).  Nothing here logs.
 */
#define QS_LOG_MODULE "api"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qrencode.h>

#include "api/api_internal.h"
#include "util/log.h"
#include "util/secret.h"

#define QR_QUIET  4   /* modules of white around the symbol */
#define QR_STEP   48  /* longest path step: "M%u %uh%uv1h-%uz" */
#define QR_HEADER 320 /* the fixed text around the path */

qs_err api_qr_svg(const char *text, char **svg, size_t *len)
{
    *svg = NULL;
    *len = 0;
    if (text == NULL || text[0] == '\0' || strlen(text) > API_QR_TEXT_MAX)
        return QS_ERR_INVALID_ARGUMENT;
    errno = 0;
    QRcode *q = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
    if (q == NULL)
        return errno == ENOMEM ? QS_ERR_NOMEM : QS_ERR_INVALID_ARGUMENT;

    size_t w = (size_t)q->width, side = w + 2 * QR_QUIET;
    size_t cap = QR_HEADER + w * (w / 2 + 1) * QR_STEP;
    char *out = malloc(cap);
    qs_err r = QS_ERR_NOMEM;
    if (out == NULL)
        goto out;
    size_t n = (size_t)snprintf(out, cap,
                                "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %zu %zu\""
                                " shape-rendering=\"crispEdges\"><path fill=\"#fff\" d=\"M0 "
                                "0h%zuv%zuH0z\"/><path fill=\"#000\" d=\"",
                                side, side, side, side);
    for (size_t y = 0; y < w; y++) {
        for (size_t x = 0; x < w;) {
            if (!(q->data[y * w + x] & 1)) {
                x++;
                continue;
            }
            size_t run = 1;
            while (x + run < w && (q->data[y * w + x + run] & 1))
                run++;
            n += (size_t)snprintf(out + n, cap - n, "M%zu %zuh%zuv1h-%zuz", x + QR_QUIET,
                                  y + QR_QUIET, run, run);
            x += run;
        }
    }
    n += (size_t)snprintf(out + n, cap - n, "\"/></svg>");
    if (n >= cap) {
        qs_bug("QR SVG of %zu modules does not fit %zu bytes", w, cap);
        qs_free_wiped(out, cap);
        out = NULL;
        r = QS_ERR_INTERNAL;
        goto out;
    }
    *svg = out;
    *len = n;
    r = QS_OK;
out:
    qs_wipe(q->data, w * w);
    QRcode_free(q);
    return r;
}
