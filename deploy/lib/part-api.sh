# shellcheck shell=bash
# Part "api": qsignd, the CSC API server, serving HTTPS on 127.0.0.1 (port 8443, or
# QSIGN_API_PORT), run in the background by the service user.
#
# TLS: a CA of the instance's own and a server certificate for localhost and 127.0.0.1, both
# EC P-256, made once with openssl into var/tls: ca.pem (public: clients trust it with
# `curl --cacert var/tls/ca.pem`), server.pem, and the keys ca-key.pem and server-key.pem (mode
# 0600, the service user's).  The server certificate is issued again when it nears its end; the
# CA is never re-made while var/tls holds it.
#
# The config, var/etc/qsignd.conf, is rewritten by every `up` (a change restarts the daemon)
# and holds no secret: the database passwords of roles qsign_api and qsign_audit (the auditors'
# API, /audit/v1) are in var/secrets/pgpass.

QL_API_CONF=$QL_ETC/qsignd.conf
QL_API_PIDFILE=$QL_VAR/run/qsignd.pid
QL_API_LOG=$QL_LOGDIR/qsignd.log
QL_TLS_DIR=$QL_VAR/tls
QL_TLS_CA=$QL_TLS_DIR/ca.pem
QL_TLS_CA_KEY=$QL_TLS_DIR/ca-key.pem
QL_TLS_CERT=$QL_TLS_DIR/server.pem
QL_TLS_KEY=$QL_TLS_DIR/server-key.pem

ql_api_url() { printf 'https://127.0.0.1:%s/' "$QL_API_PORT"; }
# The plain-HTTP listener for /pki/ only: the http URLs the certificates name (CRL, OCSP, CA).
ql_pki_url() { printf 'http://127.0.0.1:%s/' "$QL_PKI_PORT"; }

ql_api_pid() { ql_daemon_pid "$QL_API_PIDFILE" "$QL_BIN/qsignd" "$QL_API_CONF"; }

# The HTTP status of GET /readyz over TLS, checked against the instance's CA ("000": no answer).
ql_api_readyz() {
    curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$QL_TLS_CA" \
        "$(ql_api_url)readyz" 2>/dev/null || true
}

# ql_tls_own FILE...: the service user's files (the directory is already).
ql_tls_own() {
    if ((EUID == 0)); then
        chown "$QL_SVC_USER:" -- "$@"
    fi
}

ql_tls_new_key() {
    (
        umask 077
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.new" 2>/dev/null
    ) || ql_die "openssl could not make an EC P-256 key"
}

# True when the server certificate is usable for 30 more days, was issued by our CA and
# matches its key.
ql_tls_cert_ok() {
    [[ -s $QL_TLS_CERT && -s $QL_TLS_KEY ]] || return 1
    openssl x509 -in "$QL_TLS_CERT" -noout -checkend 2592000 >/dev/null 2>&1 || return 1
    openssl verify -CAfile "$QL_TLS_CA" "$QL_TLS_CERT" >/dev/null 2>&1 || return 1
    [[ $(openssl x509 -in "$QL_TLS_CERT" -noout -pubkey 2>/dev/null) == \
        "$(openssl pkey -in "$QL_TLS_KEY" -pubout 2>/dev/null)" ]]
}

# Makes the CA once and the server certificate when needed; returns 0 when something changed.
ql_api_tls() {
    local changed=1 tag ext
    ql_dir "$QL_TLS_DIR" 0755
    if [[ ! -s $QL_TLS_CA || ! -s $QL_TLS_CA_KEY ]]; then
        if [[ -e $QL_TLS_CA || -e $QL_TLS_CA_KEY ]]; then
            ql_die "$QL_TLS_DIR holds only half of the local CA (ca.pem, ca-key.pem);" \
                "remove the directory to make a new CA (clients must then trust the new ca.pem)"
        fi
        tag=$(openssl rand -hex 4)
        ql_tls_new_key "$QL_TLS_CA_KEY"
        openssl req -x509 -new -key "$QL_TLS_CA_KEY.new" -sha256 -days 3650 \
            -subj "/O=qsign local stack/CN=qsign local CA $tag" \
            -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -out "$QL_TLS_CA.new" 2>/dev/null || ql_die "openssl could not make the local CA"
        chmod 0644 -- "$QL_TLS_CA.new"
        ql_tls_own "$QL_TLS_CA_KEY.new" "$QL_TLS_CA.new"
        mv -f -- "$QL_TLS_CA_KEY.new" "$QL_TLS_CA_KEY"
        mv -f -- "$QL_TLS_CA.new" "$QL_TLS_CA"
        rm -f -- "$QL_TLS_CERT" # issued by another CA, if any
        ql_note "created a local CA \"qsign local CA $tag\" (EC P-256, 10 years): $(ql_rel "$QL_TLS_CA")"
    fi
    if ! ql_tls_cert_ok; then
        ext=$(printf '%s\n' "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
            "subjectAltName=DNS:localhost,IP:127.0.0.1" "subjectKeyIdentifier=hash" \
            "authorityKeyIdentifier=keyid")
        ql_tls_new_key "$QL_TLS_KEY"
        if ! openssl req -new -key "$QL_TLS_KEY.new" -subj "/CN=localhost" 2>/dev/null |
            openssl x509 -req -CA "$QL_TLS_CA" -CAkey "$QL_TLS_CA_KEY" \
                -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 \
                -extfile <(printf '%s\n' "$ext") -out "$QL_TLS_CERT.new" 2>/dev/null; then
            rm -f -- "$QL_TLS_KEY.new" "$QL_TLS_CERT.new"
            ql_die "openssl could not issue the server certificate"
        fi
        chmod 0644 -- "$QL_TLS_CERT.new"
        ql_tls_own "$QL_TLS_KEY.new" "$QL_TLS_CERT.new"
        mv -f -- "$QL_TLS_KEY.new" "$QL_TLS_KEY"
        mv -f -- "$QL_TLS_CERT.new" "$QL_TLS_CERT"
        ql_note "created the server certificate for localhost and 127.0.0.1 (until" \
            "$(openssl x509 -in "$QL_TLS_CERT" -noout -enddate | cut -d= -f2)): $(ql_rel "$QL_TLS_CERT")"
        changed=0
    fi
    chmod 0600 -- "$QL_TLS_CA_KEY" "$QL_TLS_KEY"
    return $changed
}

# Writes the config; returns 0 when it changed.
ql_api_write_config() {
    ql_write "$QL_API_CONF" 0644 self <<EOF
# qsignd configuration of the local qsign instance, written by deploy/qsign-local up (and
# rewritten by it: change the script or its environment, not this file).  Every option is in
# deploy/qsignd.conf.example (qsignd --example-config).  No secret here: the TLS key is a file
# of the service user's, the database password in the passfile the conninfo names.

[http]
listen_address = 127.0.0.1
port = $QL_API_PORT
tls_cert_file = $(ql_ini_value "$QL_TLS_CERT")
tls_key_file = $(ql_ini_value "$QL_TLS_KEY")

# Relying parties fetch the CA certificate, the CRL and OCSP answers from the http URLs in the
# certificates ([ca] of qsign-sam.conf): served here without TLS, /pki/ only.
[pki]
listen_address = 127.0.0.1
port = $QL_PKI_PORT

[database]
conninfo = $(ql_conninfo qsign_api)

[sam]
socket_path = $(ql_ini_value "$(ql_sam_socket)")

[audit]
# The auditors' API /audit/v1 reads the audit log as the read-only role qsign_audit (its
# password is in the same passfile).
conninfo = $(ql_conninfo qsign_audit)

[csc]
name = qsign (local stack)
description = A local qsign instance for development: not a qualified service
pin_format = N

[log]
level = info
EOF
}

ql_api_start() {
    local pid i code=000
    if (exec 3<>"/dev/tcp/127.0.0.1/$QL_API_PORT") 2>/dev/null; then
        ql_die "qsignd cannot start: port $QL_API_PORT is taken (something answers on" \
            "127.0.0.1:$QL_API_PORT); choose another with QSIGN_API_PORT=PORT deploy/qsign-local up"
    fi
    ql_log_file "$QL_API_LOG"
    ql_daemon_start "$QL_API_PIDFILE" "$QL_API_LOG" "$QL_BIN/qsignd" -c "$QL_API_CONF"
    pid=$(<"$QL_API_PIDFILE")
    for ((i = 0; i < 120; i++)); do
        if ! ql_proc_alive "$pid"; then
            tail -n 20 "$QL_API_LOG" >&2 || true
            if tail -n 20 "$QL_API_LOG" | grep -q 'Address already in use'; then
                ql_die "qsignd did not start: port $QL_API_PORT is taken;" \
                    "choose another with QSIGN_API_PORT=PORT deploy/qsign-local up"
            fi
            ql_die "qsignd exited during start-up (log: $QL_API_LOG)"
        fi
        code=$(ql_api_readyz)
        [[ $code == 200 ]] && break
        sleep 0.5
    done
    [[ $code == 200 ]] ||
        ql_die "qsignd (pid $pid): $(ql_api_url)readyz did not answer 200 within 60 s" \
            "(last: $code; log: $QL_API_LOG)"
    ql_note "started (pid $pid), log $(ql_rel "$QL_API_LOG")"
}

api_up() {
    ql_step "qsignd: the CSC API, $(ql_api_url) (TLS, CA $(ql_rel "$QL_TLS_CA"))"
    [[ -x $QL_BIN/qsignd ]] || ql_die "the build produced no $QL_BIN/qsignd"
    ql_dir "$QL_VAR/run" 0755
    local changed=1 pid
    if ql_api_tls; then changed=0; fi
    if ql_api_write_config; then changed=0; fi
    ql_as_svc "$QL_BIN/qsignd" --check-config -c "$QL_API_CONF" >/dev/null ||
        ql_die "qsignd refuses $QL_API_CONF (above)"
    if pid=$(ql_api_pid); then
        if ((changed == 0)) || ql_daemon_rebuilt "$pid"; then
            if ((changed == 0)); then
                ql_note "configuration or certificate changed: restarting"
            else
                ql_note "program rebuilt: restarting"
            fi
            ql_daemon_stop qsignd "$QL_API_PIDFILE" "$QL_BIN/qsignd" "$QL_API_CONF" |
                ql_indent || exit 1
            ql_api_start
        elif [[ $(ql_api_readyz) == 200 ]]; then
            ql_note "already running (pid $pid)"
        else
            ql_die "qsignd (pid $pid) runs but $(ql_api_url)readyz does not answer 200;" \
                "see $QL_API_LOG (deploy/qsign-local status shows the answer)"
        fi
    else
        ql_api_start
    fi
    ql_note "ready: $(ql_api_url)readyz answers 200 with --cacert $(ql_rel "$QL_TLS_CA")"
}

api_down() {
    ql_daemon_stop qsignd "$QL_API_PIDFILE" "$QL_BIN/qsignd" "$QL_API_CONF"
}

api_status() {
    local pid code body
    if ! pid=$(ql_api_pid); then
        printf '%-12s %s\n' "qsignd" "DOWN: not running (log $(ql_rel "$QL_API_LOG"))"
        return 1
    fi
    body=$(curl -sS --max-time 10 --cacert "$QL_TLS_CA" -w '\n%{http_code}' \
        "$(ql_api_url)readyz" 2>&1) || true
    code=${body##*$'\n'}
    body=${body%$'\n'*}
    if [[ $code != 200 ]]; then
        printf '%-12s %s\n' "qsignd" "DOWN: pid $pid runs, but $(ql_api_url)readyz answers $code"
        printf '             %s\n' "$body"
        return 1
    fi
    printf '%-12s %s\n' "qsignd" "up: pid $pid, $(ql_api_url) ready (CA $(ql_rel "$QL_TLS_CA"))"
}
