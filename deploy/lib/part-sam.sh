# shellcheck shell=bash
# Part "sam": qsign-sam, the Signature Activation Module, run in the background by the service
# user (no systemd on the local stack; deploy/systemd has the production units).
#
# Its config, var/etc/qsign-sam.conf, is rewritten by every `up` (a change restarts the daemon)
# and holds no secret: the token PIN is in var/secrets/hsm-pin, the database password of role
# qsign_sam in var/secrets/pgpass.  The socket lives in PostgreSQL's socket directory (var/run,
# or the short directory part-pg.sh picks when var/run is too deep for a unix socket path).
#
# On this stack qsign-sam, qsignd and qsignctl (`deploy/qsign-local ctl`) all run as the service
# user, so [sam] admin_uids names that user and the SAM cannot tell qsignd from an operator.  In
# production they are separate users and only operators are admins (docs/deployment.md).

QL_SAM_CONF=$QL_ETC/qsign-sam.conf
QL_SAM_PIDFILE=$QL_VAR/run/qsign-sam.pid
QL_SAM_LOG=$QL_LOGDIR/qsign-sam.log
QL_SAM_WRITER_ID=local-1

# The SAM's socket: "sam.sock" is shorter than PostgreSQL's ".s.PGSQL.<port>", so it fits
# wherever PostgreSQL's socket fits.
ql_sam_socket() { printf '%s/sam.sock' "$QL_PG_SOCKET_DIR"; }

ql_sam_pid() { ql_daemon_pid "$QL_SAM_PIDFILE" "$QL_BIN/qsign-sam" "$QL_SAM_CONF"; }

# Writes the config; returns 0 when it changed.
ql_sam_write_config() {
    local uid
    uid=$(id -u "$QL_SVC_USER") || ql_die "no user $QL_SVC_USER"
    ql_write "$QL_SAM_CONF" 0644 self <<EOF
# qsign-sam configuration of the local qsign instance, written by deploy/qsign-local up (and
# rewritten by it: change the script or its environment, not this file).  Every option is in
# deploy/qsign-sam.conf.example (qsign-sam --example-config).  No secret here: the token PIN is
# in pin_file, the database password in the passfile the conninfo names.

[sam]
socket_path = $(ql_ini_value "$(ql_sam_socket)")
# Only the service user connects: qsignd and qsignctl run as that user on this stack ...
socket_mode = 0600
workers = 2
writer_id = $QL_SAM_WRITER_ID
# ... and that is why it is the admin too (production keeps operators and qsignd apart).
admin_uids = $uid
# An unprivileged process under a finite RLIMIT_MEMLOCK cannot lock its memory; production runs
# with LimitMEMLOCK=infinity and lock_memory = true (deploy/systemd).
lock_memory = false

[database]
conninfo = $(ql_conninfo qsign_sam)

[hsm]
module = $(ql_ini_value "$QL_PKCS11_MODULE")
token_label = $(ql_ini_value "$QL_TOKEN_LABEL")
pin_file = $(ql_ini_value "$QL_HSM_PIN")

# The CA (part "ca" initialises it once with qsignctl ca init --self-signed): a test CA, nothing
# qualified.  EN 319 412-2 and RFC 5280 want http for caIssuers, OCSP and the CRL: qsignd serves
# them on its plain-HTTP [pki] listener (port $QL_PKI_PORT, /pki/ only).  The SAM writes each
# new CRL to $(ql_rel "$QL_CRL_FILE") and checks every minute whether one is due.  No PDS is
# served: pds_url is a placeholder.
[ca]
subject_country = EE
subject_organization = qsign local test CA
subject_common_name = qsign local test CA (not qualified)
pds_url = https://127.0.0.1:$QL_API_PORT/pds/en.pdf
ca_issuers_url = http://127.0.0.1:$QL_PKI_PORT/pki/ca.crt
ocsp_url = http://127.0.0.1:$QL_PKI_PORT/pki/ocsp
crl_url = http://127.0.0.1:$QL_PKI_PORT/pki/crl
crl_file = $(ql_ini_value "$QL_CRL_FILE")
crl_check_seconds = 60

[log]
level = info
EOF
}

ql_sam_start() {
    local sock pid i
    sock=$(ql_sam_socket)
    # The socket appears once the SAM is ready: one left by a dead SAM must not count.
    rm -f -- "$sock"
    ql_log_file "$QL_SAM_LOG"
    ql_daemon_start "$QL_SAM_PIDFILE" "$QL_SAM_LOG" \
        env SOFTHSM2_CONF="$QL_SOFTHSM_CONF" "$QL_BIN/qsign-sam" -c "$QL_SAM_CONF"
    pid=$(<"$QL_SAM_PIDFILE")
    # Ready: it binds the socket after the token, the database and the audit writer are open.
    for ((i = 0; i < 600; i++)); do
        if ! ql_proc_alive "$pid"; then
            tail -n 20 "$QL_SAM_LOG" >&2 || true
            ql_die "qsign-sam exited during start-up (log: $QL_SAM_LOG)"
        fi
        [[ -S $sock ]] && break
        sleep 0.1
    done
    [[ -S $sock ]] || ql_die "qsign-sam (pid $pid) made no socket $sock within 60 s (log: $QL_SAM_LOG)"
    ql_note "started (pid $pid), socket $(ql_rel "$sock"), log $(ql_rel "$QL_SAM_LOG")"
}

sam_up() {
    ql_step "qsign-sam: the SAM, socket $(ql_rel "$(ql_sam_socket)")"
    [[ -x $QL_BIN/qsign-sam ]] || ql_die "the build produced no $QL_BIN/qsign-sam"
    ql_dir "$QL_VAR/run" 0755
    ql_dir "$QL_PKI_DIR" 0755 # the SAM writes the CRL file there
    local changed=1 pid
    if ql_sam_write_config; then changed=0; fi
    ql_as_svc "$QL_BIN/qsign-sam" --check-config -c "$QL_SAM_CONF" >/dev/null ||
        ql_die "qsign-sam refuses $QL_SAM_CONF (above)"
    if pid=$(ql_sam_pid); then
        if ((changed == 0)) || ql_daemon_rebuilt "$pid" || [[ ! -S $(ql_sam_socket) ]]; then
            if ((changed == 0)); then
                ql_note "configuration changed: restarting"
            elif ql_daemon_rebuilt "$pid"; then
                ql_note "program rebuilt: restarting"
            else
                ql_note "its socket is gone: restarting"
            fi
            ql_daemon_stop qsign-sam "$QL_SAM_PIDFILE" "$QL_BIN/qsign-sam" "$QL_SAM_CONF" |
                ql_indent || exit 1
            ql_sam_start
        else
            ql_note "already running (pid $pid)"
        fi
    else
        ql_sam_start
    fi
}

sam_down() {
    ql_daemon_stop qsign-sam "$QL_SAM_PIDFILE" "$QL_BIN/qsign-sam" "$QL_SAM_CONF"
}

sam_status() {
    local pid sock
    sock=$(ql_sam_socket)
    if ! pid=$(ql_sam_pid); then
        printf '%-12s %s\n' "qsign-sam" "DOWN: not running (log $(ql_rel "$QL_SAM_LOG"))"
        return 1
    fi
    if [[ ! -S $sock ]]; then
        printf '%-12s %s\n' "qsign-sam" "DOWN: pid $pid runs but has no socket $sock"
        return 1
    fi
    printf '%-12s %s\n' "qsign-sam" "up: pid $pid, socket $(ql_rel "$sock")"
}
