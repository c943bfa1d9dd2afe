/* What the sub-commands that talk to qsign-sam share: connecting, reporting its errors, and the
 * default audit actor. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sam/client.h"

const char *qs_ctl_default_actor(char *buf, size_t cap)
{
    struct passwd pw, *res = NULL;
    char tmp[1024];
    if (getpwuid_r(getuid(), &pw, tmp, sizeof tmp, &res) == 0 && res != NULL)
        snprintf(buf, cap, "%s", pw.pw_name);
    else
        snprintf(buf, cap, "uid %u", (unsigned)getuid());
    return buf;
}

int qs_ctl_sam_failed(const char *what, qs_sam_client *c, qs_err r)
{
    const char *msg = c != NULL ? qs_sam_client_error(c) : "";
    fprintf(stderr, "qsignctl: %s: %s (%s)%s%s\n", what, qs_err_str(r), qs_err_name(r),
            msg[0] != '\0' ? ": " : "", msg);
    return 1;
}

qs_sam_client *qs_ctl_connect_sam(const qs_ctl_config *cfg)
{
    qs_sam_client *c = NULL;
    if (!qs_ctl_need(cfg->sam_socket_path, "sam", "socket_path"))
        return NULL;
    qs_err r = qs_sam_client_connect(cfg->sam_socket_path, QS_SAM_CLIENT_TIMEOUT_MS, &c);
    if (r != QS_OK) {
        fprintf(stderr, "qsignctl: cannot connect to qsign-sam at %s: %s\n", cfg->sam_socket_path,
                r == QS_ERR_IO ? strerror(errno) : qs_err_str(r));
        return NULL;
    }
    return c;
}
