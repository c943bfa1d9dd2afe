# shellcheck shell=bash
# Part "pg": a PostgreSQL cluster of the instance's own, in var/pg, run by the service user.
#
# Access (pg_hba.conf, rewritten on every `up`):
#   - the superuser `postgres` only over the unix socket, by peer authentication, and only for
#     the service user's OS account (pg_ident map `qsign_local`); it has no password and TCP
#     rejects it.  Peer authentication is a choice for this local stack only: in production the
#     database is administered however the site administers PostgreSQL.
#   - every other role with a SCRAM-SHA-256 password (var/secrets/pgpass), over the socket and
#     over TCP on 127.0.0.1.

QL_PG_DATA=$QL_VAR/pg/data
QL_PG_LOG=$QL_VAR/pg/log/postgresql.log

# The PostgreSQL server programs: QSIGN_PG_BINDIR, else the newest /usr/lib/postgresql/N/bin,
# else whatever pg_ctl is on PATH.
ql_pg_find_bindir() {
    local d best=""
    if [[ -n ${QSIGN_PG_BINDIR-} ]]; then
        QL_PG_BINDIR=$QSIGN_PG_BINDIR
    else
        for d in /usr/lib/postgresql/*/bin; do
            [[ -x $d/pg_ctl ]] && best=$d
        done
        if [[ -z $best ]] && command -v pg_ctl >/dev/null 2>&1; then
            best=$(dirname "$(command -v pg_ctl)")
        fi
        QL_PG_BINDIR=$best
    fi
    [[ -n $QL_PG_BINDIR && -x $QL_PG_BINDIR/pg_ctl ]] ||
        ql_die "PostgreSQL server programs not found (install package postgresql, or set QSIGN_PG_BINDIR)"
}

# A unix socket path holds at most 107 bytes, and PostgreSQL adds "/.s.PGSQL.<port>" to the
# directory.  When var/run is too deep for that, use a short directory named after var/'s path.
ql_pg_pick_socket_dir() {
    local want=$QL_VAR/run suffix="/.s.PGSQL.$QL_PG_PORT" h dir
    if ((${#want} + ${#suffix} <= 107)); then
        QL_PG_SOCKET_DIR=$want
        return 0
    fi
    h=$(printf '%s' "$QL_VAR" | sha256sum | cut -c1-12)
    if ((EUID == 0)) && [[ -d /run && -w /run ]]; then
        dir=/run/qsign-local-$h
    else
        dir=/tmp/qsign-local-$h
    fi
    QL_PG_SOCKET_DIR=$dir
    ql_note "the socket path under $want would be longer than 107 bytes;"
    ql_note "PostgreSQL's and the SAM's sockets live in $dir instead"
}

# Creates the socket directory (it may be under /run, which a reboot empties) and checks that
# it is ours and not a link someone else planted.
ql_pg_socket_dir_ready() {
    local d=$QL_PG_SOCKET_DIR owner
    if [[ -L $d ]]; then
        ql_die "$d is a symbolic link; remove it"
    fi
    ql_dir "$d" 0755
    owner=$(stat -c %U -- "$d")
    [[ $owner == "$QL_SVC_USER" ]] || ql_die "$d belongs to $owner, not $QL_SVC_USER; remove it"
}

ql_pg_ctl() { ql_as_svc "$QL_PG_BINDIR/pg_ctl" "$@"; }

ql_pg_running() { ql_pg_ctl status -D "$QL_PG_DATA" >/dev/null 2>&1; }

# psql as the superuser over the socket; stops at the first error.
ql_psql_super() {
    ql_as_svc "$QL_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$QL_PG_SOCKET_DIR" \
        -p "$QL_PG_PORT" -U postgres "$@"
}

ql_pg_write_config() {
    local changed=1 sockdir_sql=${QL_PG_SOCKET_DIR//\'/\'\'}
    if ql_write "$QL_PG_DATA/qsign-local.conf" 0600 svc <<EOF; then changed=0; fi
# Written by deploy/qsign-local on every 'up'; change the script or its environment, not this.
listen_addresses = '127.0.0.1'
port = $QL_PG_PORT
unix_socket_directories = '$sockdir_sql'
unix_socket_permissions = 0777
password_encryption = scram-sha-256
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
log_connections = off
EOF
    if ql_write "$QL_PG_DATA/pg_hba.conf" 0600 svc <<EOF; then changed=0; fi
# Written by deploy/qsign-local on every 'up' (see deploy/lib/part-pg.sh for the reasons).
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       postgres                 peer map=qsign_local
local   all       all                      scram-sha-256
host    all       postgres  127.0.0.1/32   reject
host    all       all       127.0.0.1/32   scram-sha-256
EOF
    if ql_write "$QL_PG_DATA/pg_ident.conf" 0600 svc <<EOF; then changed=0; fi
# Written by deploy/qsign-local on every 'up'.
# MAPNAME     SYSTEM-USERNAME  PG-USERNAME
qsign_local   $QL_SVC_USER    postgres
EOF
    if ! grep -q "^include_if_exists = 'qsign-local.conf'" "$QL_PG_DATA/postgresql.conf"; then
        printf "\n# Settings of the qsign local stack.\ninclude_if_exists = 'qsign-local.conf'\n" \
            >>"$QL_PG_DATA/postgresql.conf"
        changed=0
    fi
    return $changed
}

pg_up() {
    ql_step "PostgreSQL: cluster in $(ql_rel "$QL_VAR/pg"), port $QL_PG_PORT"
    ql_dir "$QL_VAR/pg" 0700
    ql_dir "$QL_VAR/pg/log" 0700
    if [[ ! -f $QL_PG_DATA/PG_VERSION ]]; then
        ql_note "initdb (log: $(ql_rel "$QL_VAR/pg/log/initdb.log"))"
        ql_dir "$QL_PG_DATA" 0700
        if ! ql_as_svc "$QL_PG_BINDIR/initdb" -D "$QL_PG_DATA" -U postgres --auth-local=peer \
            --auth-host=scram-sha-256 --encoding=UTF8 --no-locale --data-checksums \
            >"$QL_VAR/pg/log/initdb.log" 2>&1; then
            tail -n 20 "$QL_VAR/pg/log/initdb.log" >&2
            ql_die "initdb failed"
        fi
    fi
    local changed=1
    if ql_pg_write_config; then changed=0; fi
    ql_pg_socket_dir_ready
    if ql_pg_running; then
        if ((changed == 0)); then
            ql_note "configuration changed: restarting"
            ql_pg_ctl restart -D "$QL_PG_DATA" -m fast -w -t 60 -s -l "$QL_PG_LOG" ||
                ql_die "PostgreSQL did not restart; see $QL_PG_LOG"
        else
            ql_note "already running"
        fi
    else
        if ! ql_pg_ctl start -D "$QL_PG_DATA" -w -t 60 -s -l "$QL_PG_LOG"; then
            tail -n 20 "$QL_PG_LOG" >&2 || true
            if tail -n 20 "$QL_PG_LOG" | grep -q 'Address already in use'; then
                ql_die "PostgreSQL did not start: port $QL_PG_PORT is taken;" \
                    "choose another with QSIGN_PG_PORT=PORT deploy/qsign-local up"
            fi
            ql_die "PostgreSQL did not start (log: $QL_PG_LOG)"
        fi
        ql_note "started"
    fi
}

pg_down() {
    [[ -f $QL_PG_DATA/PG_VERSION ]] || return 0
    if ql_pg_running; then
        ql_pg_ctl stop -D "$QL_PG_DATA" -m fast -w -t 60 -s ||
            ql_die "PostgreSQL did not stop (log: $QL_PG_LOG)"
        ql_say "PostgreSQL stopped"
    else
        ql_say "PostgreSQL was not running"
    fi
}

pg_status() {
    if [[ ! -f $QL_PG_DATA/PG_VERSION ]]; then
        printf '%-12s %s\n' "PostgreSQL" "DOWN: no cluster in $(ql_rel "$QL_PG_DATA")"
        return 1
    fi
    if ! ql_pg_running; then
        printf '%-12s %s\n' "PostgreSQL" "DOWN: stopped (data $(ql_rel "$QL_PG_DATA"))"
        return 1
    fi
    local sock=ok tcp=ok
    "$QL_PG_BINDIR/pg_isready" -q -h "$QL_PG_SOCKET_DIR" -p "$QL_PG_PORT" || sock="not answering"
    "$QL_PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$QL_PG_PORT" || tcp="not answering"
    if [[ $sock != ok || $tcp != ok ]]; then
        printf '%-12s %s\n' "PostgreSQL" \
            "DOWN: running but socket $QL_PG_SOCKET_DIR: $sock, 127.0.0.1:$QL_PG_PORT: $tcp"
        return 1
    fi
    printf '%-12s %s\n' "PostgreSQL" \
        "up: 127.0.0.1:$QL_PG_PORT, socket $(ql_rel "$QL_PG_SOCKET_DIR"), data $(ql_rel "$QL_PG_DATA")"
}
