/*
 * Database access (PostgreSQL through libpq).
 *
 * A qs_db is one connection to the qsign database under one role (qsign_owner for migrations,
 * qsign_sam, qsign_api, qsign_audit).  It is not thread-safe: each thread owns its own qs_db.
 * Every statement is a server-side prepared statement with $n parameters, prepared lazily the
 * first time it is used on a connection and again after a reconnect.
 *
 * Work happens inside qs_db_run_txn(): it owns BEGIN/COMMIT/ROLLBACK, retries serialization
 * failures and deadlocks a bounded number of times, and reconnects a lost connection before
 * the transaction commits.  Callbacks call the per-operation functions (qs_db_<operation>,
 * one per file db/pg_<operation>.c) and never commit.
 *
 * Errors: QS_ERR_DB_RETRY (serialization failure or deadlock, after the retries are spent),
 * QS_ERR_DB_UNAVAILABLE (server unreachable, shut down, or the connection was lost),
 * QS_ERR_DB_CONSTRAINT (a constraint refused the row), QS_ERR_DB_PERMISSION (the role may not do
 * that), QS_ERR_DB_SCHEMA (schema missing or at another version than this binary), QS_ERR_DB
 * (anything else, usually a bug).  Error details go to the log (SQLSTATE and the server's primary
 * message, never its DETAIL, which can quote row values).
 */
#ifndef QS_DB_DB_H
#define QS_DB_DB_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct qs_db qs_db;

/* Attempts qs_db_run_txn makes before it gives up on serialization failures, deadlocks and
 * lost connections. */
#define QS_DB_TXN_MAX_ATTEMPTS 5

/* Connects with a libpq conninfo string ("host=/run/postgresql dbname=qsign user=qsign_sam").
 * The string is not kept.  On success *out is a new handle (free with qs_db_free); on failure
 * *out is NULL and the result is QS_ERR_DB_UNAVAILABLE (server unreachable or login refused;
 * the reason is logged), QS_ERR_NOMEM or QS_ERR_INVALID_ARGUMENT (NULL conninfo).  A lost
 * connection is re-established by qs_db_run_txn, not by the operations. */
QS_MUST_CHECK qs_err qs_db_connect(const char *conninfo, qs_db **out);

/* Closes the connection and frees the handle.  NULL is a no-op. */
void qs_db_free(qs_db *db);

/* How many times this handle has (re)connected: 1 after qs_db_connect, +1 per reconnect.
 * Prepared statements belong to one generation. */
uint64_t qs_db_generation(const qs_db *db);

/* A transaction body.  It runs the operations it needs and returns QS_OK to commit or an error
 * to roll back; it may be called several times (once per attempt), so it must not keep effects
 * outside the database from an earlier attempt. */
typedef qs_err (*qs_db_txn_cb)(qs_db *db, void *cls);

/* Transaction options for qs_db_run_txn_opt, or-ed together.  The default is SERIALIZABLE,
 * READ WRITE. */
#define QS_DB_TXN_READ_COMMITTED 0x1u /* READ COMMITTED: each statement sees fresh commits */
#define QS_DB_TXN_READ_ONLY      0x2u /* READ ONLY */

/*
 * Runs cb(db, cls) inside one transaction and commits it.  `name` labels the transaction in
 * logs.  A serialization failure (40001) or deadlock (40P01), from the callback or at COMMIT,
 * rolls back and runs the callback again, up to QS_DB_TXN_MAX_ATTEMPTS times in all; so does a
 * connection lost before COMMIT was sent (after a reconnect).  A connection lost during COMMIT
 * is not retried (the outcome is unknown): QS_ERR_DB_UNAVAILABLE.  Any other error from the
 * callback rolls back and is returned as is.  A callback that returns QS_OK after a statement
 * failed (the transaction is aborted) is a bug: rolled back, QS_ERR_INTERNAL.  Calling this from
 * inside a callback is a bug too (QS_ERR_INTERNAL).
 */
QS_MUST_CHECK qs_err qs_db_run_txn(qs_db *db, const char *name, qs_db_txn_cb cb, void *cls);

/* As qs_db_run_txn, with QS_DB_TXN_* options. */
QS_MUST_CHECK qs_err qs_db_run_txn_opt(qs_db *db, const char *name, unsigned flags, qs_db_txn_cb cb,
                                       void *cls);

/* The SQLSTATE -> qs_err mapping used for every statement (a 5-character code; NULL, as for a
 * client-side failure, gives QS_ERR_DB). */
qs_err qs_db_err_from_sqlstate(const char *sqlstate);

/* ---- Migrations -------------------------------------------------------------------------- */

/* One schema migration, embedded in the binary at build time from db/migrations/NNNN-name.sql.
 * Versions run 1, 2, 3, ... without gaps. */
typedef struct qs_db_migration {
    uint32_t version;
    const char *name; /* file name without ".sql", e.g. "0001-initial" */
    const char *sql;  /* the file's bytes, NUL-terminated */
    size_t sql_len;   /* without the NUL */
} qs_db_migration;

/* Length of the checksum stored per applied migration (SHA-256 of the SQL). */
#define QS_DB_MIGRATION_SHA256_LEN 32

/* The embedded migrations: count, and the one at index i (version i + 1), NULL if out of
 * range.  The array is static data. */
size_t qs_db_migration_count(void);
const qs_db_migration *qs_db_migration_at(size_t i);

/* Told about each migration right after its transaction committed. */
typedef void (*qs_db_migrate_cb)(const qs_db_migration *m, void *cls);

/*
 * Brings the schema up to the newest embedded migration.  Needs the schema owner's connection.
 * Each pending migration runs in its own transaction, under a transaction-scoped advisory lock
 * (so concurrent migrators serialize and each migration is applied once), and is recorded with
 * its name and SHA-256.  Before applying anything the applied ones are checked against the
 * embedded ones: a different name or checksum, or a version this binary does not know, is
 * QS_ERR_DB_SCHEMA and nothing is applied.  `cb` may be NULL; *n_applied (may be NULL) is the
 * number applied by this call, also on error.
 */
QS_MUST_CHECK qs_err qs_db_migrate(qs_db *db, qs_db_migrate_cb cb, void *cls, size_t *n_applied);

/* Reads the applied migrations and checks them as qs_db_migrate does, without changing
 * anything: *current is the number applied (0 on an empty database).  QS_ERR_DB_SCHEMA on a
 * mismatch (then *current is what the database records). */
QS_MUST_CHECK qs_err qs_db_migration_status(qs_db *db, uint32_t *current);

/* For daemons at start-up: QS_OK when the schema is exactly at the newest embedded migration,
 * QS_ERR_DB_SCHEMA when it is older, newer or missing.  Runs its own transaction; any role. */
QS_MUST_CHECK qs_err qs_db_check_schema(qs_db *db);

/* ---- Operations (call inside a transaction callback) ------------------------------------- */

/* The highest applied migration version (0 when the version table is empty).  QS_ERR_DB_SCHEMA
 * when the version table does not exist. */
QS_MUST_CHECK qs_err qs_db_schema_version(qs_db *db, uint32_t *version);

#endif
