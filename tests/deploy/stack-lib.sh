# shellcheck shell=bash
# shellcheck disable=SC2154 # src, stack_name, stack_tag and deadline: the sourcing script's
# What the tests that run deploy/qsign-local for real share (tests/deploy/local-stack-test,
# tests/browser/run-web-test): a throwaway instance in a new directory under $TMPDIR on free
# ports of 127.0.0.1, brought up with the Release programs of build/release as they are
# (QSIGN_SKIP_BUILD=1), and always taken down again, even when the test fails: its daemons and
# PostgreSQL stopped, its directory removed; an instance a killed earlier run left is removed by
# the next run.  The repository's var/ is never touched.
#
# The sourcing script sets, before calling anything here:
#   stack_name   its name, for messages, and to tell its own runs going on in parallel
#   stack_tag    the prefix of its directories under $TMPDIR
#   src          the repository
#   deadline     seconds the whole run may take (each qsign-local command is stopped before)
# and then calls stack_require, stack_start and stack_up.  These set:
#   work         the temporary directory; the instance is $work/var
#   var          QSIGN_VAR (exported)
#   svc          the user the instance runs as (qsign as root, else the caller)
#   port         PostgreSQL's TCP port, api_port qsignd's HTTPS port, pki_port its plain-HTTP
#                /pki/ port
#   out, rc      output file and exit status of the last ql command

qsign_local=$src/deploy/qsign-local
release_bin=$src/build/release/bin

work=""     # the temporary directory; the instance is $work/var
var=""      # QSIGN_VAR
out=""      # output file of the last qsign-local command
rc=0        # its exit status
port=""     # PostgreSQL's TCP port
api_port="" # qsignd's HTTPS port
pki_port="" # qsignd's plain-HTTP /pki/ port
svc=""      # the user the instance runs as
up_all=""   # the output of every attempt of stack_up, one after the other

say() { printf '%s: %s\n' "$stack_name" "$*"; }

fail() {
    printf '\n%s: FAILED: %s\n' "$stack_name" "$*" >&2
    if [[ -n $var && -f $var/pg/log/postgresql.log ]]; then
        printf '\nlast lines of %s:\n' "$var/pg/log/postgresql.log" >&2
        tail -n 30 "$var/pg/log/postgresql.log" >&2 || true
    fi
    local log
    for log in qsign-sam qsignd; do
        if [[ -n $var && -f $var/log/$log.log ]]; then
            printf '\nlast lines of %s:\n' "$var/log/$log.log" >&2
            tail -n 30 "$var/log/$log.log" >&2 || true
        fi
    done
    exit 1
}

# A package is truly missing: skip, or fail under CI.
missing_package() {
    printf '%s: %s\n' "$stack_name" "$*" >&2
    if [[ ${QS_TEST_NO_SKIP-} == 1 ]]; then
        printf '%s: FAILED: QS_TEST_NO_SKIP=1, so a missing package fails the test\n' "$stack_name" >&2
        exit 1
    fi
    exit 77
}

# ---------------------------------------------------------------------------------------------
# Cleanup

# is_postmaster PID DATA: true when PID is a postgres process working in data directory DATA.
is_postmaster() {
    [[ $1 =~ ^[0-9]+$ && -d /proc/$1 ]] || return 1
    [[ $(cat "/proc/$1/comm" 2>/dev/null) == postgres ]] || return 1
    [[ $(readlink "/proc/$1/cwd" 2>/dev/null) == "$2" ]]
}

# alive PID: the process exists and is no zombie (the daemons are nobody's children once
# started, and what adopts them may reap them late).
alive() {
    local stat
    [[ $1 =~ ^[1-9][0-9]*$ ]] || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != [ZX] ]]
}

# daemon_pids VARDIR: the live qsign-sam and qsignd processes of the instance in VARDIR (their
# command line names its config), one pid a line.
daemon_pids() {
    local d pid comm
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        comm=$(cat "$d/comm" 2>/dev/null) || continue
        [[ $comm == qsign-sam || $comm == qsignd ]] || continue
        tr '\0' '\n' <"$d/cmdline" 2>/dev/null | grep -qxF -e "$1/etc/$comm.conf" || continue
        alive "$pid" && printf '%s\n' "$pid"
    done
    return 0
}

# stop_instance DIR: stops the daemons and the PostgreSQL of the instance in DIR/var, removes
# its socket directory when that lies outside DIR (long paths, see deploy/lib/part-pg.sh), and
# removes DIR.
stop_instance() {
    local dir=$1 v=$1/var data pid sd="" i
    data=$v/pg/data
    if [[ -f $v/etc/qsign-local.env ]]; then
        sd=$(sed -n 's/^PG_SOCKET_DIR=//p' "$v/etc/qsign-local.env")
    fi
    if [[ -f $data/postmaster.pid || -n $(daemon_pids "$v") ]]; then
        QSIGN_VAR=$v timeout -k 5 120 "$qsign_local" down </dev/null >/dev/null 2>&1 || true
    fi
    # Daemons that `down` did not stop.
    for pid in $(daemon_pids "$v"); do
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
    if [[ -f $data/postmaster.pid ]]; then
        pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
        if is_postmaster "$pid" "$data"; then
            kill -QUIT "$pid" 2>/dev/null || true # immediate shutdown
            for ((i = 0; i < 100; i++)); do
                is_postmaster "$pid" "$data" || break
                sleep 0.1
            done
            if is_postmaster "$pid" "$data"; then kill -KILL "$pid" 2>/dev/null || true; fi
        fi
    fi
    case $sd in
    /run/qsign-local-* | /tmp/qsign-local-*) rm -rf -- "$sd" ;;
    *) ;;
    esac
    rm -rf -- "$dir"
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n $work && -d $work ]]; then
        stop_instance "$work"
    fi
    exit "$status"
}

# Instances of earlier runs that were killed (a ctest timeout kills without a trap) go first.
# Only directories of this user whose run is over: runs going on in parallel are left alone.
sweep_stale() {
    local d owner
    for d in "${TMPDIR:-/tmp}"/"$stack_tag".*; do
        [[ -d $d && -O $d && -f $d/owner ]] || continue
        owner=$(<"$d/owner")
        if [[ $owner =~ ^[0-9]+$ && -d /proc/$owner ]] &&
            grep -qa -- "$stack_name" "/proc/$owner/cmdline" 2>/dev/null; then
            continue
        fi
        say "removing the instance of an earlier run that did not finish: $d"
        stop_instance "$d"
    done
}

# ---------------------------------------------------------------------------------------------
# Running qsign-local and checking what it says

# ql NAME ARGS...: runs deploy/qsign-local ARGS and shows its output; the output stays in
# $out ($work/NAME.out) and the exit status in $rc.  A command that would run past the deadline
# is stopped and fails the test.
ql() {
    local name=$1 left
    shift
    out=$work/$name.out
    left=$((deadline - SECONDS))
    ((left > 0)) || fail "out of time (QS_DEPLOY_TIMEOUT=${deadline}s) before: qsign-local $*"
    printf '\n$ deploy/qsign-local %s\n' "$*"
    rc=0
    timeout -k 10 "$left" "$qsign_local" "$@" </dev/null >"$out" 2>&1 || rc=$?
    sed 's/^/  | /' "$out"
    printf '  (exit %d)\n' "$rc"
    if ((rc == 124 || rc == 137)); then
        fail "deploy/qsign-local $* was stopped: out of time (QS_DEPLOY_TIMEOUT=${deadline}s)"
    fi
}

# has FILE TEXT [WHAT]: FILE has a line containing TEXT.
has() {
    grep -qF -- "$2" "$1" || fail "${3:-output}: expected a line with '$2'"
}
# lacks FILE TEXT [WHAT]: no line of FILE contains TEXT.
lacks() {
    if grep -F -- "$2" "$1"; then fail "${3:-output}: unexpected line(s) with '$2' (above)"; fi
}
# has_re FILE ERE [WHAT]
has_re() {
    grep -qE -- "$2" "$1" || fail "${3:-output}: expected a line matching /$2/"
}

# in_order FILE TEXT...: each TEXT appears on a line after the previous one's.
in_order() {
    local file=$1 text n prev=0
    shift
    for text in "$@"; do
        n=$(grep -nF -m 1 -- "$text" "$file" | cut -d: -f1) || true
        [[ -n $n ]] || fail "output: expected a line with '$text'"
        ((n > prev)) || fail "output: '$text' comes before what should precede it"
        prev=$n
    done
}


# ---------------------------------------------------------------------------------------------
# Port, process and file helpers

# True when a TCP socket (IPv4 or IPv6, any state) is bound to local port $1.
port_bound() {
    local hex f files=()
    hex=$(printf ':%04X' "$1")
    for f in /proc/net/tcp /proc/net/tcp6; do
        [[ -r $f ]] && files+=("$f")
    done
    ((${#files[@]} > 0)) || return 1
    awk -v p="$hex" 'FNR > 1 && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
        "${files[@]}"
}

# A port free on 127.0.0.1, tried from a random base below the ephemeral range.
pick_port() {
    local p i
    p=$((20000 + RANDOM % 12000))
    for ((i = 0; i < 500; i++)); do
        p=$((20000 + (p - 20000 + 1) % 12000))
        port_bound "$p" && continue
        # Belt and braces: nothing may answer there either.
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi
        printf '%s\n' "$p"
        return 0
    done
    return 1
}

postmaster_pid() {
    local pidfile=$var/pg/data/postmaster.pid pid
    [[ -f $pidfile ]] || return 1
    pid=$(head -n 1 "$pidfile")
    is_postmaster "$pid" "$var/pg/data" || return 1
    printf '%s\n' "$pid"
}

# ---------------------------------------------------------------------------------------------
# Starting and bringing up

# stack_require: the Release programs, the packages and the tools (curl, jq, oathtool, openssl)
# the run needs; sets svc.  A missing package skips (fails under CI).
stack_require() {
    local tool
    [[ -x $qsign_local ]] || fail "$qsign_local is missing (QS_SOURCE_DIR=$src)"
    [[ $deadline =~ ^[1-9][0-9]*$ ]] || fail "the deadline must be a number of seconds"
    if [[ ! -x $release_bin/qsignctl ]]; then
        fail "$release_bin/qsignctl is missing: the test uses the Release build as it is." \
            "tests/run builds it before ctest; by hand: cmake -S $src -B $src/build/release" \
            "-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc && cmake --build $src/build/release"
    fi
    if ((EUID == 0)); then
        svc=qsign # `up` installs what is missing and creates the user
    else
        svc=$(id -un)
        if ! "$src/deploy/install-deps" --check; then
            missing_package "packages the local stack needs are missing (above); as root," \
                "deploy/install-deps installs them"
        fi
    fi
    command -v timeout >/dev/null || fail "timeout (coreutils) is not on PATH"
    if ((EUID != 0)); then
        for tool in curl jq oathtool openssl; do
            command -v "$tool" >/dev/null || missing_package "$tool is not installed"
        done
    fi
}

# stack_start: removes what killed runs left, arms the cleanup, makes the temporary directory.
stack_start() {
    # Only what this test sets: the instance must not pick up the caller's settings.
    unset QSIGN_USER QSIGN_PG_PORT QSIGN_API_PORT QSIGN_PKI_PORT QSIGN_VAR
    export QSIGN_SKIP_BUILD=1

    sweep_stale
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    work=$(mktemp -d "${TMPDIR:-/tmp}/$stack_tag.XXXXXX")
    work=$(cd "$work" && pwd -P)
    printf '%s\n' "$$" >"$work/owner"
    var=$work/var
    export QSIGN_VAR=$var
    say "instance in $var, service user $svc, programs from $release_bin" \
        "(qsignctl built $(date -u -r "$release_bin/qsignctl" '+%F %T UTC'))"
}

# stack_up: the first `up` of the instance, on free ports (tried again, up to three times, when
# another process took a port in between).  Leaves its output in $out, all attempts' in
# $up_all, and fails the test unless it succeeded.
stack_up() {
    local attempt
    up_all=$work/up-first.all
    : >"$up_all"
    for attempt in 1 2 3; do
        port=$(pick_port) || fail "found no free TCP port on 127.0.0.1"
        api_port=$(pick_port) || fail "found no free TCP port on 127.0.0.1"
        while ((api_port == port)); do
            api_port=$(pick_port) || fail "found no free TCP port on 127.0.0.1"
        done
        pki_port=$(pick_port) || fail "found no free TCP port on 127.0.0.1"
        while ((pki_port == port || pki_port == api_port)); do
            pki_port=$(pick_port) || fail "found no free TCP port on 127.0.0.1"
        done
        export QSIGN_PG_PORT=$port QSIGN_API_PORT=$api_port QSIGN_PKI_PORT=$pki_port
        say "PostgreSQL port $port, qsignd ports $api_port (https) and $pki_port (/pki/)" \
            "(attempt $attempt)"
        ql "up-first-$attempt" up
        cat "$out" >>"$up_all"
        # Another process may take a port between the pick and the start of PostgreSQL or qsignd.
        if ((rc != 0)) && grep -qE "(port ($port|$api_port) is taken)|(qsignd did not start)" "$out"; then
            continue
        fi
        break
    done
    ((rc == 0)) || fail "the first up exited $rc"
}
