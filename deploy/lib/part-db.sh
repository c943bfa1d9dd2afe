# shellcheck shell=bash
# Part "db": the roles (db/roles.sql), their passwords, database `qsign` and its schema
# (`qsignctl db migrate`, as the schema owner).
#
# Each login role gets a random password, generated once into var/secrets/db-<role>.password and
# set with ALTER ROLE; var/secrets/pgpass (libpq's passfile format) carries them to the clients,
# whose conninfo names it with passfile=..., so no password sits in a config file.

QL_DB_NAME=qsign
QL_DB_OWNER=qsign_owner
QL_PGPASS=$QL_SECRETS/pgpass

ql_db_login_roles() {
    ql_psql_super -d postgres -At -c \
        "SELECT rolname FROM pg_roles WHERE rolcanlogin AND rolname LIKE 'qsign\\_%' ORDER BY 1"
}

db_up() {
    ql_step "database: roles, passwords, database $QL_DB_NAME, schema"
    local roles_sql=$QL_ROOT/db/roles.sql
    [[ -f $roles_sql ]] || ql_die "$roles_sql is missing"
    # db/roles.sql is idempotent: it runs on every `up`, so roles added to it appear.
    ql_psql_super -d postgres -f - <"$roles_sql" || ql_die "db/roles.sql failed"

    local exists
    exists=$(ql_psql_super -d postgres -At -c \
        "SELECT 1 FROM pg_database WHERE datname = '$QL_DB_NAME'")
    if [[ $exists != 1 ]]; then
        ql_psql_super -d postgres -c "CREATE DATABASE $QL_DB_NAME OWNER $QL_DB_OWNER ENCODING 'UTF8'" ||
            ql_die "could not create database $QL_DB_NAME"
        ql_note "created database $QL_DB_NAME (owner $QL_DB_OWNER)"
    fi

    local role pw sql="SET log_statement = 'none';"$'\n' pgpass=""
    local -a roles
    mapfile -t roles < <(ql_db_login_roles)
    ((${#roles[@]} > 0)) || ql_die "db/roles.sql created no login role named qsign_*"
    for role in "${roles[@]}"; do
        ql_secret "$QL_SECRETS/db-$role.password" 24
        pw=$(<"$QL_SECRETS/db-$role.password")
        [[ $pw =~ ^[0-9a-f]+$ ]] || ql_die "$QL_SECRETS/db-$role.password is not a hex string"
        sql+="ALTER ROLE \"$role\" PASSWORD '$pw';"$'\n'
        pgpass+="*:*:*:$role:$pw"$'\n'
    done
    # Passwords travel on stdin, never on a command line.
    ql_psql_super -d postgres -f - <<<"$sql" || ql_die "could not set the role passwords"
    ql_write "$QL_PGPASS" 0600 svc <<<"${pgpass%$'\n'}" || true
    ql_note "login roles: ${roles[*]} (passwords in $(ql_rel "$QL_SECRETS"))"

    ql_ctl db migrate 2>&1 | ql_indent || ql_die "qsignctl db migrate failed"
}

db_down() { :; }

db_status() {
    if ! ql_pg_running; then
        printf '%-12s %s\n' "database" "DOWN: PostgreSQL is not running"
        return 1
    fi
    local out rc=0
    out=$(ql_ctl db status 2>&1) || rc=$?
    if ((rc != 0)); then
        printf '%-12s %s\n' "database" "DOWN: qsignctl db status failed"
    elif grep -q '^pending:' <<<"$out"; then
        printf '%-12s %s\n' "database" "DOWN: migrations pending (run: deploy/qsign-local up)"
        rc=1
    else
        printf '%-12s %s\n' "database" "up: $QL_DB_NAME"
    fi
    [[ -z $out ]] || printf '%s\n' "$out" | sed 's/^/             /'
    return $rc
}
