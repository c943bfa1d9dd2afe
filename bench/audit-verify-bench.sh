#!/usr/bin/env bash
# How fast `qsignctl audit verify` checks a large audit log.
#
#   bench/audit-verify-bench.sh [BUILD_DIR [RECORDS]]
#
# BUILD_DIR (default build/release; a Release build is meant) must hold bin/qsignctl and
# bin/qsign-bench-audit.  In a scratch directory it starts a throwaway PostgreSQL cluster
# (tests/lib/pg-cluster), makes a SoftHSM token, runs `qsignctl db migrate` and `qsignctl hsm
# init`, has qsign-bench-audit write RECORDS records (default 1000000) with the real writer and
# time the parts of verification, then runs the real `qsignctl audit verify`, an export of the
# checkpoints and `qsignctl audit verify --checkpoints`; then tampers with the log (one record
# changed, one deleted) and shows what verify says.  Everything is removed at the end.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/.." && pwd)
build=${1:-$src/build/release}
records=${2:-1000000}
case $build in
/*) ;;
*) build=$PWD/$build ;;
esac
ctl=$build/bin/qsignctl
bench=$build/bin/qsign-bench-audit
module=${QS_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
for f in "$ctl" "$bench" "$module"; do
    [[ -x $f || -f $f ]] || {
        echo "audit-verify-bench: $f is missing" >&2
        exit 1
    }
done

scratch=$(mktemp -d /tmp/qsign-audit-bench.XXXXXX)
chmod 755 "$scratch"
cleanup() {
    QS_SOURCE_DIR=$src bash "$src/tests/lib/pg-cluster" stop "$scratch/pg" >/dev/null 2>&1 || true
    rm -rf "$scratch"
}
trap cleanup EXIT

QS_SOURCE_DIR=$src bash "$src/tests/lib/pg-cluster" start "$scratch/pg"
# shellcheck disable=SC1091
source "$scratch/pg/env"
psql=$QS_PG_BINDIR/psql
"$psql" -X -q -h "$PGHOST" -p "$PGPORT" -U "$QS_PG_SUPERUSER" -d postgres \
    -c "CREATE DATABASE qsign OWNER qsign_owner ENCODING 'UTF8'"

mkdir -p "$scratch/tokens"
export SOFTHSM2_CONF=$scratch/softhsm2.conf
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$scratch/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label qsign-bench --pin bench-user-pin \
    --so-pin bench-so-pin >/dev/null
printf 'bench-user-pin\n' >"$scratch/pin"
printf 'bench-so-pin\n' >"$scratch/so-pin"
chmod 600 "$scratch/pin" "$scratch/so-pin"

ci="host=$PGHOST port=$PGPORT dbname=qsign"
cat >"$scratch/qsignctl.conf" <<EOF
[database]
owner_conninfo = $ci user=qsign_owner
sam_conninfo = $ci user=qsign_sam
audit_conninfo = $ci user=qsign_audit
[hsm]
module = $module
token_label = qsign-bench
pin_file = $scratch/pin
so_pin_file = $scratch/so-pin
[log]
level = warn
EOF
"$ctl" -c "$scratch/qsignctl.conf" db migrate >/dev/null
"$ctl" -c "$scratch/qsignctl.conf" hsm init >/dev/null

echo "== qsign-bench-audit: $records records"
"$bench" --sam-conninfo "$ci user=qsign_sam" --audit-conninfo "$ci user=qsign_audit" \
    --module "$module" --token qsign-bench --pin-file "$scratch/pin" --records "$records"

echo "== qsignctl audit verify"
/usr/bin/time -f "   (%e s wall, %U s user, %S s system, %M kB max resident)" \
    "$ctl" -c "$scratch/qsignctl.conf" audit verify

echo "== qsignctl audit checkpoints export + verify --checkpoints"
"$ctl" -c "$scratch/qsignctl.conf" audit checkpoints export --output "$scratch/cps.jsonl"
/usr/bin/time -f "   (%e s wall, %M kB max resident)" \
    "$ctl" -c "$scratch/qsignctl.conf" audit verify --checkpoints "$scratch/cps.jsonl"

# What verify says of a tampered log: as the superuser (the roles cannot), with the append-only
# triggers skipped, one record of the middle of the chain gets another actor, and one record
# further on is deleted.  verify must name both and exit non-zero.
writer=$("$psql" -X -qAt -h "$PGHOST" -p "$PGPORT" -U "$QS_PG_SUPERUSER" -d qsign \
    -c "SELECT writer_id FROM qsign.audit_log GROUP BY writer_id ORDER BY count(*) DESC LIMIT 1")
mid=$((records / 2))
echo "== tampered: writer $writer, seq $mid gets another actor, seq $((mid + 1000)) is deleted"
"$psql" -X -q -h "$PGHOST" -p "$PGPORT" -U "$QS_PG_SUPERUSER" -d qsign -v ON_ERROR_STOP=1 \
    -v w="$writer" -v a="$mid" -v b="$((mid + 1000))" <<'SQL'
SET session_replication_role = replica;
UPDATE qsign.audit_log SET actor = 'mallory' WHERE writer_id = :'w' AND seq = :a;
DELETE FROM qsign.audit_log WHERE writer_id = :'w' AND seq = :b;
SQL
rc=0
"$ctl" -c "$scratch/qsignctl.conf" audit verify || rc=$?
echo "   (exit status $rc)"
((rc != 0)) || {
    echo "audit-verify-bench: verify found nothing in the tampered log" >&2
    exit 1
}
