/*
 * The anomaly detector's parts on their own (api/anomaly.c): the sliding-window counts (one
 * alert per crossing of the threshold, counts that fall back as time passes, several events at
 * once, a full table, exact under concurrent threads), the daily signing window (parse,
 * inside/outside, spanning midnight) and the metric that counts alerts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"

#define S 1000u /* milliseconds in a second */

static bool add(api_window *w, const char *key, uint64_t n, uint64_t now_ms, uint64_t *count)
{
    return api_window_add(w, key, strlen(key), n, now_ms, count);
}

static void test_window_crossing(void **state)
{
    (void)state;
    api_window *w = api_window_new(3, 60, 64);
    uint64_t c = 0;
    assert_non_null(w);
    /* three within the window: no alert; the fourth: one; more of the burst: none */
    for (int i = 0; i < 3; i++) {
        assert_false(add(w, "account:eve", 1, 1000 * S + (uint64_t)i * S, &c));
        assert_int_equal(c, (uint64_t)i + 1);
    }
    assert_true(add(w, "account:eve", 1, 1003 * S, &c));
    assert_int_equal(c, 4);
    assert_false(add(w, "account:eve", 1, 1004 * S, &c));
    assert_int_equal(c, 5);
    /* other keys count apart */
    assert_false(add(w, "account:bob", 1, 1004 * S, &c));
    assert_int_equal(c, 1);
    /* a minute later the burst has left the window: counting starts again, and a new burst
     * alerts again */
    assert_false(add(w, "account:eve", 1, 1070 * S, &c));
    assert_int_equal(c, 1);
    assert_false(add(w, "account:eve", 2, 1071 * S, &c));
    assert_int_equal(c, 3);
    assert_true(add(w, "account:eve", 1, 1072 * S, &c));
    assert_int_equal(c, 4);
    api_window_free(w);
}

static void test_window_slides(void **state)
{
    (void)state;
    /* a window of 600 s counts in slots of 10 s: events leave it slot by slot */
    api_window *w = api_window_new(100, 600, 64);
    uint64_t c = 0;
    assert_false(add(w, "k", 5, 0, &c));
    assert_false(add(w, "k", 7, 300 * S, &c));
    assert_int_equal(c, 12);
    assert_false(add(w, "k", 1, 599 * S, &c));
    assert_int_equal(c, 13);
    assert_false(add(w, "k", 1, 610 * S, &c)); /* the first 5 are older than 600 s */
    assert_int_equal(c, 9);
    assert_false(add(w, "k", 1, 910 * S, &c)); /* the 7 too */
    assert_int_equal(c, 3);
    assert_false(add(w, "k", 1, 100000 * S, &c)); /* a long pause empties it */
    assert_int_equal(c, 1);
    api_window_free(w);
}

static void test_window_many_at_once(void **state)
{
    (void)state;
    api_window *w = api_window_new(1000, 3600, 64);
    uint64_t c = 0;
    assert_false(add(w, "signer", 999, 5 * S, &c));
    assert_true(add(w, "signer", 2, 6 * S, &c)); /* 999 -> 1001 */
    assert_int_equal(c, 1001);
    assert_false(add(w, "signer", 1000, 7 * S, &c));
    assert_int_equal(c, 2001);
    /* one call above the threshold alone */
    assert_true(add(w, "other", 5000, 7 * S, &c));
    /* zero events count nothing; threshold 0 never alerts; no window counts nothing */
    assert_false(add(w, "third", 0, 7 * S, &c));
    assert_int_equal(c, 0);
    api_window_free(w);
    w = api_window_new(0, 60, 64);
    assert_false(add(w, "k", 1000000, 0, &c));
    api_window_free(w);
    assert_false(api_window_add(NULL, "k", 1, 1, 0, &c));
    assert_null(api_window_new(1, 0, 64));
}

static void test_window_full_table(void **state)
{
    (void)state;
    /* 8 entries for 1000 keys: every key still counts; a busy key survives the others */
    api_window *w = api_window_new(3, 3600, 8);
    char key[32];
    uint64_t c = 0;
    assert_false(add(w, "busy", 3, 0, &c));
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_false(add(w, key, 1, S, &c));
        assert_int_equal(c, 1);
    }
    assert_true(add(w, "busy", 1, 2 * S, &c));
    assert_int_equal(c, 4);
    api_window_free(w);
}

typedef struct hammer {
    api_window *w;
    int n;
    int alerts;
} hammer;

static void *hammer_main(void *cls)
{
    hammer *h = cls;
    for (int i = 0; i < h->n; i++)
        h->alerts += api_window_add(h->w, "shared", 6, 1, 5 * S, NULL);
    return NULL;
}

static void test_window_threads(void **state)
{
    (void)state;
    /* 8 threads x 2000 events on one key, threshold 9999: exactly one thread sees the crossing */
    api_window *w = api_window_new(9999, 3600, 64);
    pthread_t t[8];
    hammer h[8];
    for (int i = 0; i < 8; i++) {
        h[i] = (hammer){.w = w, .n = 2000};
        assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h[i]), 0);
    }
    int alerts = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        alerts += h[i].alerts;
    }
    assert_int_equal(alerts, 1);
    uint64_t c = 0;
    assert_false(api_window_add(w, "shared", 6, 1, 5 * S, &c));
    assert_int_equal(c, 16001);
    api_window_free(w);
}

static void test_signing_window(void **state)
{
    (void)state;
    int from = 0, to = 0;
    assert_true(qs_api_time_window_parse("06:00-22:00", &from, &to));
    assert_int_equal(from, 360);
    assert_int_equal(to, 1320);
    assert_true(qs_api_time_window_parse("22:30-06:15", &from, &to));
    assert_int_equal(from, 1350);
    assert_int_equal(to, 375);
    static const char *const bad[] = {"",
                                      "06:00",
                                      "6:00-22:00",
                                      "06:00-24:00",
                                      "06:60-07:00",
                                      "06:00-06:00",
                                      "06:00 22:00",
                                      "06:00-22:00 ",
                                      "aa:bb-cc:dd",
                                      "06:00--2:00",
                                      NULL};
    for (const char *const *b = bad; *b != NULL; b++) {
        if (qs_api_time_window_parse(*b, &from, &to))
            fail_msg("accepted \"%s\"", *b);
        assert_int_equal(from, -1);
    }

    qs_api_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.signing_window_from = cfg.signing_window_to = -1;
    assert_false(api_signing_window_outside(&cfg, 3 * 3600)); /* no window */
    assert_true(
        qs_api_time_window_parse("06:00-22:00", &cfg.signing_window_from, &cfg.signing_window_to));
    int64_t day = 19000LL * 86400; /* some day, midnight UTC */
    assert_true(api_signing_window_outside(&cfg, day + 5 * 3600 + 59 * 60 + 59));
    assert_false(api_signing_window_outside(&cfg, day + 6 * 3600));
    assert_false(api_signing_window_outside(&cfg, day + 21 * 3600 + 59 * 60));
    assert_true(api_signing_window_outside(&cfg, day + 22 * 3600));
    assert_true(api_signing_window_outside(&cfg, day));
    /* spanning midnight */
    assert_true(
        qs_api_time_window_parse("22:00-06:00", &cfg.signing_window_from, &cfg.signing_window_to));
    assert_false(api_signing_window_outside(&cfg, day + 23 * 3600));
    assert_false(api_signing_window_outside(&cfg, day + 2 * 3600));
    assert_true(api_signing_window_outside(&cfg, day + 6 * 3600));
    assert_true(api_signing_window_outside(&cfg, day + 12 * 3600));
}

static void test_config(void **state)
{
    (void)state;
    static const char base[] = "[http]\nplain_http_loopback = true\n[database]\nconninfo = x\n";
    char text[512], err[256];
    qs_api_config cfg;

    /* defaults: no window, no audit API */
    assert_int_equal(qs_api_config_load_buf(base, strlen(base), "t", &cfg, err, sizeof err), QS_OK);
    assert_int_equal(cfg.signing_window_from, -1);
    assert_string_equal(cfg.audit_conninfo, "");
    assert_int_equal(cfg.anomaly_auth_failures, 10);
    qs_api_config_free(&cfg);
    snprintf(text, sizeof text, "%s[anomaly]\nsigning_window = 22:00-06:00\n", base);
    assert_int_equal(qs_api_config_load_buf(text, strlen(text), "t", &cfg, err, sizeof err), QS_OK);
    assert_int_equal(cfg.signing_window_from, 1320);
    assert_int_equal(cfg.signing_window_to, 360);
    qs_api_config_free(&cfg);
    snprintf(text, sizeof text, "%s[anomaly]\nsigning_window = 25:00-06:00\n", base);
    assert_int_equal(qs_api_config_load_buf(text, strlen(text), "t", &cfg, err, sizeof err),
                     QS_ERR_CONFIG);
    assert_non_null(strstr(err, "[anomaly] signing_window"));
    snprintf(text, sizeof text, "%s[anomaly]\nauth_failure_window = 0\n", base);
    assert_int_equal(qs_api_config_load_buf(text, strlen(text), "t", &cfg, err, sizeof err),
                     QS_ERR_CONFIG);
    assert_non_null(strstr(err, "auth_failure_window"));
}

static void test_metric(void **state)
{
    (void)state;
    api_metrics *m = api_metrics_new(api_route_slots());
    char *text = NULL;
    size_t len = 0;
    api_metrics_anomaly(m, API_A_LOCKOUT);
    api_metrics_anomaly(m, API_A_BULK_SIGNING);
    api_metrics_anomaly(m, API_A_BULK_SIGNING);
    assert_int_equal(api_metrics_render(m, &text, &len), QS_OK);
    assert_non_null(strstr(text, "# TYPE qsign_anomalies_total counter\n"));
    assert_non_null(strstr(text, "\nqsign_anomalies_total{kind=\"lockout\"} 1\n"));
    assert_non_null(strstr(text, "\nqsign_anomalies_total{kind=\"auth_failure_burst\"} 0\n"));
    assert_non_null(strstr(text, "\nqsign_anomalies_total{kind=\"signing_outside_window\"} 0\n"));
    assert_non_null(strstr(text, "\nqsign_anomalies_total{kind=\"bulk_signing\"} 2\n"));
    free(text);
    api_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_crossing),
        cmocka_unit_test(test_window_slides),
        cmocka_unit_test(test_window_many_at_once),
        cmocka_unit_test(test_window_full_table),
        cmocka_unit_test(test_window_threads),
        cmocka_unit_test(test_signing_window),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_metric),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
