# shellcheck shell=bash
# Shared helpers for deploy/qsign-local: messages, running commands as the service user,
# directories, secrets, and the instance's state file.  Sourced, never run.

ql_say() { printf 'qsign-local: %s\n' "$*"; }
ql_step() { printf '==> %s\n' "$*"; }
ql_note() { printf '    %s\n' "$*"; }
# Indents a command's output under the current step: cmd 2>&1 | ql_indent
ql_indent() { sed -u 's/^/    /'; }
ql_die() {
    printf 'qsign-local: error: %s\n' "$*" >&2
    exit 1
}

# Runs a command as the service user, from / (the caller's working directory may be one that
# user cannot enter).  Pass environment with `env NAME=value`: runuser resets some of it.
ql_as_svc() {
    # fd 9 holds qsign-local's lock: a daemon started here must not inherit it.
    if ((EUID == 0)) && [[ $QL_SVC_USER != root ]]; then
        (cd / && runuser -u "$QL_SVC_USER" -- "$@" 9>&-)
    else
        (cd / && "$@" 9>&-)
    fi
}

# ql_dir PATH MODE: makes a directory owned by the service user with exactly MODE.
ql_dir() {
    mkdir -p -- "$1"
    chmod "$2" -- "$1"
    if ((EUID == 0)); then
        chown "$QL_SVC_USER:" -- "$1"
    fi
}

# ql_write FILE MODE OWNER: writes stdin to FILE (OWNER "svc" = the service user, "self" = the
# caller), replacing it only when the content changed.  Returns 0 when it changed, 1 when not.
ql_write() {
    local file=$1 mode=$2 owner=$3 tmp
    tmp=$(mktemp "$file.XXXXXX")
    cat >"$tmp"
    chmod "$mode" -- "$tmp"
    if ((EUID == 0)) && [[ $owner == svc ]]; then
        chown "$QL_SVC_USER:" -- "$tmp"
    fi
    if [[ -f $file ]] && cmp -s -- "$tmp" "$file"; then
        rm -f -- "$tmp"
        chmod "$mode" -- "$file"
        return 1
    fi
    mv -f -- "$tmp" "$file"
    return 0
}

# ql_secret FILE BYTES: creates FILE (0600, service user) holding BYTES random bytes as hex, once.
# An existing file is never touched: secrets are generated exactly once per instance.
ql_secret() {
    local file=$1 bytes=$2
    if [[ -s $file ]]; then
        return 0
    fi
    (
        umask 077
        openssl rand -hex "$bytes" >"$file.new"
        mv -f -- "$file.new" "$file"
    )
    if ((EUID == 0)); then
        chown "$QL_SVC_USER:" -- "$file"
    fi
    ql_note "generated $(ql_rel "$file")"
}

# Path relative to the repository when inside it (for messages).
ql_rel() {
    local p=$1
    if [[ $p == "$QL_ROOT"/* ]]; then
        printf '%s' "${p#"$QL_ROOT"/}"
    else
        printf '%s' "$p"
    fi
}

# ql_traverse PATH: makes sure the service user can reach PATH by granting only search (x)
# permission, by ACL, on each blocking ancestor.  PATH itself must exist.
ql_traverse() {
    local p="" part parts
    ((EUID == 0)) && [[ $QL_SVC_USER != root ]] || return 0
    IFS=/ read -ra parts <<<"$1"
    for part in "${parts[@]}"; do
        [[ -n $part ]] || continue
        p=$p/$part
        if ! ql_as_svc test -x "$p"; then
            if ! setfacl -m "u:$QL_SVC_USER:x" -- "$p"; then
                ql_die "user $QL_SVC_USER cannot enter $p and setting an ACL failed;" \
                    "run 'chmod o+x $p' or put the instance elsewhere with QSIGN_VAR"
            fi
            ql_note "granted user $QL_SVC_USER search-only access (ACL u:$QL_SVC_USER:x) to $p"
        fi
    done
}

# Quotes a libpq conninfo value when it needs it.
ql_conn_quote() {
    local v=$1
    if [[ $v =~ [[:space:]\'\\] || -z $v ]]; then
        v=${v//\\/\\\\}
        v=${v//\'/\\\'}
        printf "'%s'" "$v"
    else
        printf '%s' "$v"
    fi
}

# The state file keeps what `up` chose (service user, ports, socket directory) so that the other
# commands use the same values without the environment that `up` had.
ql_state_load() {
    [[ -f $QL_STATE ]] || return 1
    local key value
    while IFS='=' read -r key value; do
        case $key in
        SVC_USER) QL_SVC_USER=$value ;;
        PG_PORT) QL_PG_PORT=$value ;;
        PG_SOCKET_DIR) QL_PG_SOCKET_DIR=$value ;;
        API_PORT) QL_API_PORT=$value ;;
        PKI_PORT) QL_PKI_PORT=$value ;;
        *) ;;
        esac
    done <"$QL_STATE"
    return 0
}

ql_state_save() {
    ql_write "$QL_STATE" 0644 self <<EOF || true
# Written by deploy/qsign-local up: what this instance uses.  Edit with care.
SVC_USER=$QL_SVC_USER
PG_PORT=$QL_PG_PORT
PG_SOCKET_DIR=$QL_PG_SOCKET_DIR
API_PORT=$QL_API_PORT
PKI_PORT=$QL_PKI_PORT
EOF
}

# ---------------------------------------------------------------------------------------------
# Daemons (qsign-sam, qsignd).  The local stack has no systemd: each runs in the background as
# the service user, in a session of its own, with a pid file in var/run and its output appended
# to a log in var/log.  A pid file counts only while its process lives and is that program
# with that config (a pid reused by something else is not ours).

# ql_proc_alive PID: the process exists and is not a zombie (this stack's daemons are nobody's
# children once started, and whatever adopts them may be slow to reap them).
ql_proc_alive() {
    local stat
    [[ $1 =~ ^[1-9][0-9]*$ ]] || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != [ZX] ]]
}

# ql_daemon_pid PIDFILE PROG CONF: prints the pid of PROG (a path) running with config CONF as
# recorded in PIDFILE; false when that process does not run.
ql_daemon_pid() {
    local pidfile=$1 prog=$2 conf=$3 pid="" name
    [[ -f $pidfile ]] || return 1
    read -r pid <"$pidfile" || true
    ql_proc_alive "$pid" || return 1
    name=$(basename "$prog")
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "${name:0:15}" ]] || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$conf" || return 1
    printf '%s\n' "$pid"
}

# ql_daemon_rebuilt PID: true when the program file PID runs has been replaced (a rebuild).
ql_daemon_rebuilt() {
    local exe
    exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
    [[ $exe == *" (deleted)" ]]
}

# ql_log_file FILE: makes FILE (a daemon's log) if missing, owned by the service user, 0640.
ql_log_file() {
    [[ -f $1 ]] || : >>"$1"
    chmod 0640 -- "$1"
    if ((EUID == 0)); then
        chown "$QL_SVC_USER:" -- "$1"
    fi
}

# ql_daemon_start PIDFILE LOG COMMAND...: starts COMMAND as the service user in a new session
# (setsid), stdin /dev/null, stdout and stderr appended to LOG, and writes its pid to PIDFILE.
# No other descriptor of the caller reaches the daemon.
ql_daemon_start() {
    local pidfile=$1 log=$2
    shift 2
    rm -f -- "$pidfile"
    # shellcheck disable=SC2016 # the script is for the inner bash
    ql_as_svc bash -c '
        pidfile=$1 log=$2
        shift 2
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            if ((fd > 2)); then eval "exec $fd>&-"; fi
        done 2>/dev/null
        # A background job of a non-interactive shell is no process group leader, so setsid
        # makes the new session without forking: $! is the daemon itself.
        setsid "$@" </dev/null >>"$log" 2>&1 &
        printf "%s\n" "$!" >"$pidfile"
    ' qsign-local "$pidfile" "$log" "$@"
}

# ql_daemon_stop NAME PIDFILE PROG CONF: SIGTERM, then waits up to 30 s for the process to end.
ql_daemon_stop() {
    local name=$1 pidfile=$2 prog=$3 conf=$4 pid i
    if ! pid=$(ql_daemon_pid "$pidfile" "$prog" "$conf"); then
        rm -f -- "$pidfile"
        ql_say "$name was not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        ql_proc_alive "$pid" || break
        sleep 0.1
    done
    if ql_proc_alive "$pid"; then
        ql_die "$name (pid $pid) did not stop within 30 s of SIGTERM; see its log," \
            "or end it with: kill -KILL $pid"
    fi
    rm -f -- "$pidfile"
    ql_say "$name stopped (pid $pid)"
}
