/*
 * libFuzzer harness over the reader of evidence bundles (`qsignctl audit check-evidence`, which
 * reads files people hand an auditor): the input is a bundle file, checked in full with every
 * check running, and parsed and re-serialized on its own.  Whatever the input, the check ends
 * with a verdict (valid or a first failing check), never a crash; a parse that succeeds must
 * serialize, and what it serializes must parse back to the same text.
 *
 * The trust is the audit key and CA certificate of the run of test_audit_evidence that made the
 * seed bundles (tests/fuzz/corpus/evidence), so the seeds pass every check and mutations reach
 * every one of them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sam/evidence.h"
#include "sam/evidence_internal.h"
#include "util/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char audit_pem[] = "-----BEGIN PUBLIC KEY-----\n"
                                "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEdv3o6hwf2ny9JDOzboi2qQLA3oR6\n"
                                "DgBAQr8OlewidQgtPCRDqhA/oAzNY1uOCDnRDAlBIBvZUwDq8mUGB4oEEA==\n"
                                "-----END PUBLIC KEY-----\n";

static const char ca_pem[] = "-----BEGIN CERTIFICATE-----\n"
                             "MIICazCCAfGgAwIBAgIQOOiN2BHU+IVXIMSa808InzAKBggqhkjOPQQDAzBsMQsw\n"
                             "CQYDVQQGEwJFRTEiMCAGA1UECgwZcXNpZ24gVGVzdCBUcnVzdCBTZXJ2aWNlczEX\n"
                             "MBUGA1UEYQwOTlRSRUUtMTAwMDAwMDAxIDAeBgNVBAMMF3FzaWduIFRlc3QgUXVh\n"
                             "bGlmaWVkIENBMB4XDTI2MTEyMTEwNTI1MVoXDTM2MTExODEwNTI1MVowbDELMAkG\n"
                             "A1UEBhMCRUUxIjAgBgNVBAoMGXFzaWduIFRlc3QgVHJ1c3QgU2VydmljZXMxFzAV\n"
                             "BgNVBGEMDk5UUkVFLTEwMDAwMDAwMSAwHgYDVQQDDBdxc2lnbiBUZXN0IFF1YWxp\n"
                             "ZmllZCBDQTB2MBAGByqGSM49AgEGBSuBBAAiA2IABMxEJlKOoG1NdICxk7zPhZ6l\n"
                             "JSrEo9R6lzVKKlL2aVBf6sbnj3RluJ8XovrdPUK5F1eKbJPqBBFaNmatV8Z28hGH\n"
                             "TVsIuvjMp1LKMUcc4Iepj2aIroqAlJedF6ACf/UYHqNYMFYwEgYDVR0TAQH/BAgw\n"
                             "BgEB/wIBADAOBgNVHQ8BAf8EBAMCAQYwHQYDVR0OBBYEFAk4XmAEX1RyPamraW0p\n"
                             "vBznqHgdMBEGA1UdIAQKMAgwBgYEVR0gADAKBggqhkjOPQQDAwNoADBlAjBGydki\n"
                             "/aJSm4Gy2xDF9K/A99r/Gt8Bzwe7QyUr+KGGtsc2DcLLx9vpt8ZbLR17X6ICMQCm\n"
                             "AgCb5PDo/1TkOEiH0PZeBI/EyGJxqAunlcCxjzEuu8SCdMcm7ru4EZNU5hFxtgo=\n"
                             "-----END CERTIFICATE-----\n";

static qs_evidence_trust *trust;

static void roundtrip(const uint8_t *data, size_t size)
{
    qs_ev_bundle b, again;
    char why[QS_EVIDENCE_WHY_MAX];
    qs_err r = qs_ev_bundle_parse(data, size, &b, why, sizeof why);
    if (r != QS_OK) {
        if ((r != QS_ERR_PARSE && r != QS_ERR_TOO_LARGE && r != QS_ERR_NOMEM) || why[0] == '\0')
            abort();
        return;
    }
    char *text = NULL, *text2 = NULL;
    size_t len = 0, len2 = 0;
    if (qs_ev_bundle_serialize(&b, &text, &len) != QS_OK ||
        qs_ev_bundle_parse((const uint8_t *)text, len, &again, why, sizeof why) != QS_OK ||
        qs_ev_bundle_serialize(&again, &text2, &len2) != QS_OK || len != len2 ||
        memcmp(text, text2, len) != 0)
        abort();
    free(text);
    free(text2);
    qs_ev_bundle_clear(&again);
    qs_ev_bundle_clear(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (trust == NULL) {
        char why[256];
        if (qs_util_init() != QS_OK ||
            qs_evidence_trust_new(audit_pem, sizeof audit_pem - 1, ca_pem, sizeof ca_pem - 1,
                                  &trust, why, sizeof why) != QS_OK)
            abort();
    }
    qs_evidence_verdict v;
    qs_err r = qs_evidence_check(trust, data, size, 0, NULL, NULL, &v);
    if (r == QS_OK ? v.any_failed : (r != QS_ERR_MAC || !v.any_failed) && r != QS_ERR_NOMEM)
        abort();
    roundtrip(data, size);
    return 0;
}
