/*
 * Private to the database layer: the connection handle, statement execution, typed parameters
 * and result extraction used by the db/pg_<operation>.c files.  Nothing outside db/ (tests of
 * this layer aside) includes this header.
 */
#ifndef QS_DB_DB_INTERNAL_H
#define QS_DB_DB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "db/db.h"

/* Type OIDs of the built-in types we bind and read (stable across PostgreSQL versions). */
#define QS_DB_OID_BOOL        16u
#define QS_DB_OID_BYTEA       17u
#define QS_DB_OID_INT8        20u
#define QS_DB_OID_INT2        21u
#define QS_DB_OID_INT4        23u
#define QS_DB_OID_TEXT        25u
#define QS_DB_OID_TIMESTAMPTZ 1184u
#define QS_DB_OID_UUID        2950u
/* One-dimensional arrays of those (binary array format). */
#define QS_DB_OID_BOOL_ARRAY        1000u
#define QS_DB_OID_BYTEA_ARRAY       1001u
#define QS_DB_OID_INT8_ARRAY        1016u
#define QS_DB_OID_TEXT_ARRAY        1009u
#define QS_DB_OID_TIMESTAMPTZ_ARRAY 1185u
#define QS_DB_OID_UUID_ARRAY        2951u

#define QS_DB_UUID_LEN 16

/* Longest server error message kept on the handle (for logs and tests). */
#define QS_DB_ERRMSG_MAX 256

struct qs_db {
    PGconn *conn;
    uint64_t generation; /* connections made so far; bumps on every reconnect */
    char **prepared;     /* names prepared on the current connection (owned copies) */
    size_t n_prepared;
    size_t cap_prepared;
    bool in_txn;                        /* inside qs_db_run_txn's callback */
    bool need_reset;                    /* the connection is known to be lost */
    char last_sqlstate[6];              /* SQLSTATE of the last failed statement, "" if none */
    char last_errmsg[QS_DB_ERRMSG_MAX]; /* its primary message */
};

/*
 * One statement parameter, binary format, with its type.  Fill with the qs_db_param_* helpers;
 * the value stays owned by the caller (text and bytea) or by the struct (numbers) and must live
 * until the statement ran.
 */
typedef struct qs_db_param {
    const char *value; /* NULL for SQL NULL */
    int length;
    unsigned int type; /* QS_DB_OID_* */
    uint8_t buf[8];    /* storage for fixed-size values */
} qs_db_param;

void qs_db_param_int8(qs_db_param *p, int64_t v);
void qs_db_param_int4(qs_db_param *p, int32_t v);
void qs_db_param_bool(qs_db_param *p, bool v);
/* `len` bytes at `v`; NULL v gives SQL NULL. */
void qs_db_param_bytea(qs_db_param *p, const void *v, size_t len);
/* A NUL-terminated UTF-8 string; NULL gives SQL NULL. */
void qs_db_param_text(qs_db_param *p, const char *v);
void qs_db_param_uuid(qs_db_param *p, const uint8_t v[static QS_DB_UUID_LEN]);
void qs_db_param_null(qs_db_param *p, unsigned int type);
/* Microseconds since the Unix epoch, sent as a binary timestamptz (no text or float rounding).
 * The value must lie in PostgreSQL's range; callers pass times from the clock. */
void qs_db_param_timestamptz(qs_db_param *p, int64_t unix_us);

/*
 * A one-dimensional array parameter in PostgreSQL's binary array format, built element by
 * element (for INSERT ... SELECT FROM unnest($n, ...): many rows in one statement).  Add
 * functions never fail on their own; an allocation failure is remembered and reported by
 * qs_db_param_array.  The parameter points into the array's buffer: keep the array until the
 * statement ran, then qs_db_array_free it.
 */
typedef struct qs_db_array {
    uint8_t *buf;
    size_t len, cap;
    unsigned int elem_type; /* QS_DB_OID_* of the elements */
    int32_t count;
    bool has_null;
    bool failed; /* an allocation failed */
} qs_db_array;

void qs_db_array_init(qs_db_array *a, unsigned int elem_type);
/* `len` bytes at `v` in the element type's binary format; NULL v adds SQL NULL. */
void qs_db_array_add(qs_db_array *a, const void *v, size_t len);
void qs_db_array_add_int8(qs_db_array *a, int64_t v);
void qs_db_array_add_bool(qs_db_array *a, bool v);
void qs_db_array_add_text(qs_db_array *a, const char *v); /* NULL adds SQL NULL */
void qs_db_array_add_timestamptz(qs_db_array *a, int64_t unix_us);
/* Finishes the array and points `p` at it.  QS_ERR_NOMEM if an add failed, QS_ERR_INTERNAL
 * for an element type without an array type here or a buffer past INT_MAX bytes. */
QS_MUST_CHECK qs_err qs_db_param_array(qs_db_param *p, qs_db_array *a);
void qs_db_array_free(qs_db_array *a);

/*
 * Runs the prepared statement `name` (prepared from `sql` with the parameters' types on first
 * use on this connection) with binary parameters and binary results.  `name` is the calling
 * operation's function name (__func__).  On success, when `out` is not NULL, *out is the result
 * (PQclear it); on failure *out is NULL and the error is mapped and logged.
 */
QS_MUST_CHECK qs_err qs_db_exec(qs_db *db, const char *name, const char *sql, int nparams,
                                const qs_db_param *params, PGresult **out);

/*
 * Runs a parameterless script of one or more statements with the simple query protocol.  Only
 * for fixed SQL that cannot be prepared (migration scripts, DDL bootstrap); never for anything
 * built at run time.
 */
QS_MUST_CHECK qs_err qs_db_exec_script(qs_db *db, const char *name, const char *sql);

/* Maps a failed result (or, with res NULL, the connection's state) to a qs_err, records the
 * SQLSTATE and message on the handle, marks a lost connection for reset, and logs. */
qs_err qs_db_result_err(qs_db *db, const PGresult *res, const char *name);

/* Reconnects (PQreset), bumps the generation and forgets the prepared statements.
 * QS_ERR_DB_UNAVAILABLE if the server cannot be reached. */
QS_MUST_CHECK qs_err qs_db_reconnect(qs_db *db);

/* The SQLSTATE and primary message of the last failed statement on this handle ("" if none). */
const char *qs_db_last_sqlstate(const qs_db *db);
const char *qs_db_last_errmsg(const qs_db *db);

/*
 * Result extraction (binary format).  Each checks the column's type, that the value is not NULL
 * (except where noted) and its size; a mismatch is a bug (QS_ERR_DB, logged with the column).
 */
QS_MUST_CHECK qs_err qs_db_get_int8(const PGresult *res, int row, int col, int64_t *out);
QS_MUST_CHECK qs_err qs_db_get_int4(const PGresult *res, int row, int col, int32_t *out);
QS_MUST_CHECK qs_err qs_db_get_bool(const PGresult *res, int row, int col, bool *out);
/* Exactly `len` bytes. */
QS_MUST_CHECK qs_err qs_db_get_bytea_fixed(const PGresult *res, int row, int col, void *out,
                                           size_t len);
/* A malloc'd, NUL-terminated copy of a text value. */
QS_MUST_CHECK qs_err qs_db_get_text(const PGresult *res, int row, int col, char **out);
/* Microseconds since the Unix epoch. */
QS_MUST_CHECK qs_err qs_db_get_timestamptz(const PGresult *res, int row, int col, int64_t *out_us);
/* A uuid that may be NULL: *present tells which; out (16 bytes) is zeroed when NULL. */
QS_MUST_CHECK qs_err qs_db_get_uuid_opt(const PGresult *res, int row, int col,
                                        uint8_t out[static QS_DB_UUID_LEN], bool *present);
/* A bytea of exactly `len` bytes that may be NULL. */
QS_MUST_CHECK qs_err qs_db_get_bytea_fixed_opt(const PGresult *res, int row, int col, void *out,
                                               size_t len, bool *present);

/* ---- Audit log rows (db_audit_row.c), shared by the operations that read them ------------ */

struct qs_db_audit_row;

/* The columns every audit_log read selects, in this order; qs_db_audit_row_read reads them.
 * result comes as a boolean (result = 'success'): the table's CHECK allows only two values. */
#define QS_DB_AUDIT_ROW_COLUMNS                                                                    \
    "seq, event_time, event_type, actor, user_id, credential_id, sad_ref,"                         \
    " result = 'success', details, prev_hash, record_hash, record_mac"

/* Reads row `row` of a result selecting QS_DB_AUDIT_ROW_COLUMNS into *out (owning). */
QS_MUST_CHECK qs_err qs_db_audit_row_read(const PGresult *res, int row,
                                          struct qs_db_audit_row *out);

/* The embedded migrations (generated at build time into db_migrations.c). */
extern const qs_db_migration qs_db_migrations[];
extern const size_t qs_db_migrations_count;

/* ---- Migration operations (db/pg_migration_*.c), each inside a READ COMMITTED transaction -- */

/* A migration as recorded in the version table. */
typedef struct qs_db_applied_migration {
    uint32_t version;
    char *name;
    uint8_t sha256[QS_DB_MIGRATION_SHA256_LEN];
} qs_db_applied_migration;

/* Blocks until this transaction holds the migration advisory lock (released at its end). */
QS_MUST_CHECK qs_err qs_db_migration_lock(qs_db *db);

/* Creates the qsign schema and the version table if they do not exist.  Owner only. */
QS_MUST_CHECK qs_err qs_db_migration_bootstrap(qs_db *db);

/* Whether the version table exists. */
QS_MUST_CHECK qs_err qs_db_migration_table_exists(qs_db *db, bool *exists);

/* The applied migrations in version order: *out is a malloc'd array of *n entries (free with
 * qs_db_applied_migrations_free). */
QS_MUST_CHECK qs_err qs_db_migrations_applied(qs_db *db, qs_db_applied_migration **out, size_t *n);
void qs_db_applied_migrations_free(qs_db_applied_migration *a, size_t n);

/* Runs the migration's SQL. */
QS_MUST_CHECK qs_err qs_db_migration_apply(qs_db *db, const qs_db_migration *m);

/* Records a migration as applied. */
QS_MUST_CHECK qs_err qs_db_migration_record(
    qs_db *db, const qs_db_migration *m, const uint8_t sha256[static QS_DB_MIGRATION_SHA256_LEN]);

/* qs_db_migrate over an explicit list of migrations (versions 1..n in order), so tests can
 * present a changed or extended set. */
QS_MUST_CHECK qs_err qs_db_migrate_set(qs_db *db, const qs_db_migration *set, size_t n,
                                       qs_db_migrate_cb cb, void *cls, size_t *n_applied);

/* qs_db_migration_status over an explicit list. */
QS_MUST_CHECK qs_err qs_db_migration_status_set(qs_db *db, const qs_db_migration *set, size_t n,
                                                uint32_t *current);

#endif
