/*
 * qsign-sam fails closed on its socket: a frame that does not parse, a response type, a frame
 * cut short, or one that never completes ends that connection without an answer, is audited as
 * protocol.rejected with the reason, and leaves every other connection working.  A request
 * refused on its merits gets an ERROR and the connection stays open.  More connections than
 * workers are all served, request ids are echoed, and the config options --check-config and
 * --example-config behave.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/lib/samd.h"
#include "tests/lib/testutil.h"

typedef struct fixture {
    qs_test_samd *d;
    qs_sam_client *c; /* stays open through every test: never affected */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    qs_test_samd_opts o = {.workers = 2, .read_timeout_ms = 1000};
    f->d = qs_test_samd_start("proto", &o);
    f->c = qs_test_samd_connect(f->d);
    assert_int_equal(qs_sam_client_ping(f->c), QS_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    qs_sam_client_close(f->c);
    qs_test_samd_stop(f->d);
    free(f);
    return 0;
}

static int raw_connect(const fixture *f)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", f->d->socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* True when the SAM closes the connection (EOF) within `ms` without sending anything. */
static bool closed_without_answer(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) != 1)
        return false;
    char b;
    ssize_t n = recv(fd, &b, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static long rejected(const fixture *f, const char *reason)
{
    char where[256];
    snprintf(where, sizeof where,
             "event_type = 'protocol.rejected' AND result = 'failure' AND "
             "details::jsonb->>'reason' = '%s'",
             reason);
    return qs_test_samd_audit_count(f->d, where);
}

/* A well-formed frame of `type` with only its required fields, built by the codec. */
static uint8_t *frame_of(uint16_t type, uint64_t reqid, size_t *len)
{
    qs_sam_builder *b = NULL;
    uint8_t *frame = NULL;
    assert_int_equal(qs_sam_msg_begin(type, reqid, &b), QS_OK);
    assert_int_equal(qs_sam_msg_finish(b, &frame, len, NULL), QS_OK);
    return frame;
}

static void test_garbage_ends_only_that_connection(void **state)
{
    fixture *f = *state;
    int a = raw_connect(f);
    uint8_t garbage[64];
    memset(garbage, 'x', sizeof garbage);
    send_all(a, garbage, sizeof garbage);
    assert_true(closed_without_answer(a, 5000));
    close(a);
    assert_int_equal(rejected(f, "BAD_MAGIC"), 1);
    assert_int_equal(qs_sam_client_ping(f->c), QS_OK);
}

static void test_header_and_body_defects(void **state)
{
    fixture *f = *state;
    /* unknown type */
    size_t len = 0;
    uint8_t *fr = frame_of(QS_SAM_PING, 1, &len);
    fr[7] = 0x42;
    int a = raw_connect(f);
    send_all(a, fr, len);
    assert_true(closed_without_answer(a, 5000));
    close(a);
    assert_int_equal(rejected(f, "UNKNOWN_TYPE"), 1);

    /* another protocol version */
    fr[7] = (uint8_t)QS_SAM_PING;
    fr[5] = 2;
    a = raw_connect(f);
    send_all(a, fr, len);
    assert_true(closed_without_answer(a, 5000));
    close(a);
    assert_int_equal(rejected(f, "BAD_VERSION"), 1);
    qs_sam_frame_free(fr, len);

    /* a response type from the peer */
    fr = frame_of(QS_SAM_PING_RESP, 2, &len);
    a = raw_connect(f);
    send_all(a, fr, len);
    assert_true(closed_without_answer(a, 5000));
    close(a);
    qs_sam_frame_free(fr, len);
    assert_int_equal(rejected(f, "RESPONSE_TYPE"), 1);

    /* ERROR is a response too */
    qs_sam_builder *b = NULL;
    assert_int_equal(qs_sam_msg_begin(QS_SAM_ERROR, 3, &b), QS_OK);
    assert_int_equal(qs_sam_msg_put_u32(b, QS_SAM_T_ERROR_CODE, 1), QS_OK);
    assert_int_equal(qs_sam_msg_put_str(b, QS_SAM_T_ERROR_MESSAGE, "hi"), QS_OK);
    assert_int_equal(qs_sam_msg_finish(b, &fr, &len, NULL), QS_OK);
    a = raw_connect(f);
    send_all(a, fr, len);
    assert_true(closed_without_answer(a, 5000));
    close(a);
    qs_sam_frame_free(fr, len);
    assert_int_equal(rejected(f, "RESPONSE_TYPE"), 2);

    /* a PING with a field it does not allow (a body where none is expected) */
    static const uint8_t ping_with_field[] = {'Q', 'S', 'A', 'M', 0, 1, 0,   1,   0,   0,
                                              0,   0,   0,   0,   0, 9, 0,   0,   0,   10,
                                              0,   1,   0,   0,   0, 4, 'a', 'l', 'i', 'c'};
    a = raw_connect(f);
    send_all(a, ping_with_field, sizeof ping_with_field);
    assert_true(closed_without_answer(a, 5000));
    close(a);
    assert_int_equal(rejected(f, "UNKNOWN_TAG"), 1);

    /* fields out of order: CREATE_CREDENTIAL with KEY_ALG before USER_ID */
    static const uint8_t out_of_order[] = {'Q', 'S', 'A', 'M', 0, 1, 0,  3, 0, 0,
                                           0,   0,   0,   0,   0, 9, 0,  0, 0, 17, /* header */
                                           0,   9,   0,   0,   0, 4, 0,  0, 0, 4,  /* KEY_ALG */
                                           0,   1,   0,   0,   0, 1, 'u'};         /* USER_ID */
    a = raw_connect(f);
    send_all(a, out_of_order, sizeof out_of_order);
    assert_true(closed_without_answer(a, 5000));
    close(a);
    assert_int_equal(rejected(f, "FIELD_ORDER"), 1);

    assert_int_equal(qs_sam_client_ping(f->c), QS_OK);
}

static void test_truncated_and_slow_frames(void **state)
{
    fixture *f = *state;
    size_t len = 0;
    uint8_t *fr = frame_of(QS_SAM_PING, 5, &len);

    /* the stream ends inside the header */
    int a = raw_connect(f);
    send_all(a, fr, 10);
    shutdown(a, SHUT_WR);
    assert_true(closed_without_answer(a, 5000));
    close(a);
    assert_int_equal(rejected(f, "EOF_IN_FRAME"), 1);

    /* a started frame that never completes: the read timeout (1 s here) ends it */
    a = raw_connect(f);
    send_all(a, fr, 10);
    assert_true(closed_without_answer(a, 5000));
    close(a);
    assert_int_equal(rejected(f, "READ_TIMEOUT"), 1);
    qs_sam_frame_free(fr, len);

    /* a body longer than the limit is refused from its header alone */
    static const uint8_t huge[] = {'Q', 'S', 'A', 'M', 0, 1, 0,    1,    0,    0,
                                   0,   0,   0,   0,   0, 1, 0x7f, 0xff, 0xff, 0xff};
    a = raw_connect(f);
    send_all(a, huge, sizeof huge);
    assert_true(closed_without_answer(a, 5000));
    close(a);
    assert_int_equal(rejected(f, "BODY_TOO_LARGE"), 1);

    /* closing between frames is a normal end: nothing audited */
    long before = qs_test_samd_audit_count(f->d, "event_type = 'protocol.rejected'");
    qs_sam_client *c = qs_test_samd_connect(f->d);
    assert_int_equal(qs_sam_client_ping(c), QS_OK);
    qs_sam_client_close(c);
    assert_int_equal(qs_sam_client_ping(f->c), QS_OK);
    assert_int_equal(qs_test_samd_audit_count(f->d, "event_type = 'protocol.rejected'"), before);
}

static void test_semantic_errors_keep_the_connection(void **state)
{
    fixture *f = *state;
    char sad[QS_SAM_SAD_BUF];
    uint32_t expires = 0;
    uint8_t h[32] = {7};
    qs_sam_bytes hb[1] = {{h, 32}};
    qs_sam_authorize_req q = {
        .user_id = "00000000-0000-4000-8000-000000000001",
        .credential_id = "00000000-0000-4000-8000-000000000002",
        .pin = "123456",
        .otp = "123456",
        .num_signatures = 1,
        .hash_alg = QS_SAM_HASH_SHA256,
        .hashes = hb,
        .n_hashes = 1,
    };
    assert_int_equal(qs_sam_client_authorize(f->c, &q, sad, &expires), QS_ERR_NOT_FOUND);
    assert_true(strlen(qs_sam_client_error(f->c)) > 0);
    assert_int_equal(qs_sam_client_ping(f->c), QS_OK);

    /* the request id comes back as sent */
    qs_sam_builder *b = NULL;
    qs_sam_msg *m = NULL;
    assert_int_equal(qs_sam_msg_begin(QS_SAM_PING, 0xfedcba9876543210ULL, &b), QS_OK);
    assert_int_equal(qs_sam_client_call(f->c, b, &m), QS_OK);
    assert_true(qs_sam_msg_reqid(m) == 0xfedcba9876543210ULL);
    assert_int_equal(qs_sam_msg_type(m), QS_SAM_PING_RESP);
    qs_sam_msg_free(m);

    /* two requests in one write are answered in order */
    size_t l1 = 0, l2 = 0;
    uint8_t *f1 = frame_of(QS_SAM_PING, 11, &l1), *f2 = frame_of(QS_SAM_PING, 12, &l2);
    uint8_t both[64];
    memcpy(both, f1, l1);
    memcpy(both + l1, f2, l2);
    int a = raw_connect(f);
    send_all(a, both, l1 + l2);
    qs_sam_reason why;
    assert_int_equal(qs_sam_recv(a, QS_SAM_MAX_BODY, 5000, &m, &why), QS_OK);
    assert_true(qs_sam_msg_reqid(m) == 11);
    qs_sam_msg_free(m);
    assert_int_equal(qs_sam_recv(a, QS_SAM_MAX_BODY, 5000, &m, &why), QS_OK);
    assert_true(qs_sam_msg_reqid(m) == 12);
    qs_sam_msg_free(m);
    close(a);
    qs_sam_frame_free(f1, l1);
    qs_sam_frame_free(f2, l2);
}

static void test_more_connections_than_workers(void **state)
{
    fixture *f = *state;
    enum { N = 40 };
    qs_sam_client *cs[N];
    for (int i = 0; i < N; i++)
        cs[i] = qs_test_samd_connect(f->d);
    /* every connection is served, in any order, by the two workers */
    for (int round = 0; round < 2; round++) {
        for (int i = N - 1; i >= 0; i--)
            assert_int_equal(qs_sam_client_ping(cs[i]), QS_OK);
    }
    for (int i = 0; i < N; i++)
        qs_sam_client_close(cs[i]);
    assert_int_equal(qs_sam_client_ping(f->c), QS_OK);
}

static void test_config_options(void **state)
{
    fixture *f = *state;
    const char *bin = getenv("QS_SAM_BIN");
    char path[PATH_MAX + 64];
    assert_int_equal(
        qs_test_system("'%s' --check-config -c '%s' >/dev/null", bin, f->d->config_path), 0);
    /* the example config lists every option; with the required ones filled in it loads */
    snprintf(path, sizeof path, "%s/example.conf", f->d->token.dir);
    assert_int_equal(qs_test_system("'%s' --example-config | sed -e 's|^conninfo = $|conninfo = "
                                    "dbname=x|' -e 's|^module = $|module = /x.so|' -e "
                                    "'s|^pin_file = $|pin_file = /x|' > '%s'",
                                    bin, path),
                     0);
    assert_int_equal(qs_test_system("'%s' --check-config -c '%s' >/dev/null", bin, path), 0);
    /* a bad value stops it, naming the section and key */
    assert_int_equal(qs_test_system("sed -i 's|^#socket_mode = .*|socket_mode = 0999|' '%s'", path),
                     0);
    char out[PATH_MAX + 64];
    snprintf(out, sizeof out, "%s/check.out", f->d->token.dir);
    assert_int_equal(qs_test_system("'%s' --check-config -c '%s' 2>'%s'", bin, path, out), 1);
    assert_int_equal(qs_test_system("grep -q 'socket_mode' '%s'", out), 0);
    /* a second daemon on the same socket refuses to start */
    assert_int_not_equal(qs_test_system("'%s' -c '%s' >/dev/null 2>&1", bin, f->d->config_path), 0);
    assert_int_equal(qs_sam_client_ping(f->c), QS_OK);
}

/* Killed hard, the daemon leaves its socket file behind; the next start removes it (nobody
 * listens) and carries on with the same audit chain. */
static void test_restart_after_kill(void **state)
{
    fixture *f = *state;
    qs_sam_client_close(f->c);
    f->c = NULL;
    assert_int_equal(qs_test_samd_terminate(f->d, SIGKILL), 128 + SIGKILL);
    assert_int_equal(access(f->d->socket_path, F_OK), 0);
    qs_test_samd_launch(f->d);
    f->c = qs_test_samd_connect(f->d);
    assert_int_equal(qs_sam_client_ping(f->c), QS_OK);
    uint64_t count = 0;
    assert_int_equal(qs_test_samd_verify_audit(f->d, &count), QS_OK);
    assert_int_equal(qs_test_samd_audit_count(f->d, "event_type = 'service.started'"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_garbage_ends_only_that_connection),
        cmocka_unit_test(test_header_and_body_defects),
        cmocka_unit_test(test_truncated_and_slow_frames),
        cmocka_unit_test(test_semantic_errors_keep_the_connection),
        cmocka_unit_test(test_more_connections_than_workers),
        cmocka_unit_test(test_config_options),
        cmocka_unit_test(test_restart_after_kill),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
