/*
 * Schema migrations: the numbered SQL files embedded at build time, applied in order, each in
 * its own READ COMMITTED transaction under a transaction-scoped advisory lock.
 *
 * Every step re-reads the version table after taking the lock (READ COMMITTED gives each
 * statement a fresh snapshot), so a migrator that waited for another sees that one's work and
 * does not apply it again.  Before applying anything, what the database records is checked
 * against the embedded set: same names, same SHA-256, no version unknown to this binary.
 */
#define QS_LOG_MODULE "db"
#include <string.h>

#include <sodium.h>

#include "db/db_internal.h"
#include "util/log.h"

size_t qs_db_migration_count(void)
{
    return qs_db_migrations_count;
}

const qs_db_migration *qs_db_migration_at(size_t i)
{
    return i < qs_db_migrations_count ? &qs_db_migrations[i] : NULL;
}

static void migration_sha256(const qs_db_migration *m,
                             uint8_t out[static QS_DB_MIGRATION_SHA256_LEN])
{
    crypto_hash_sha256(out, (const unsigned char *)m->sql, m->sql_len);
}

/* Checks the applied migrations against the set: QS_OK or QS_ERR_DB_SCHEMA. */
static qs_err verify_applied(const qs_db_migration *set, size_t n, const qs_db_applied_migration *a,
                             size_t na)
{
    for (size_t i = 0; i < na; i++) {
        uint8_t sha[QS_DB_MIGRATION_SHA256_LEN];
        if (a[i].version != i + 1) {
            qs_error("version table is not contiguous: row %zu has version %u", i + 1,
                     a[i].version);
            return QS_ERR_DB_SCHEMA;
        }
        if (i >= n) {
            qs_error("the database has migration %s, which this binary does not know "
                     "(newest known: %zu)",
                     a[i].name, n);
            return QS_ERR_DB_SCHEMA;
        }
        if (set[i].version != a[i].version) {
            qs_bug("migration set out of order at %zu", i);
            return QS_ERR_INTERNAL;
        }
        if (strcmp(set[i].name, a[i].name) != 0) {
            qs_error("migration %u is %s in the database but %s in this binary", a[i].version,
                     a[i].name, set[i].name);
            return QS_ERR_DB_SCHEMA;
        }
        migration_sha256(&set[i], sha);
        /* Checksums are public: a plain comparison is fine. */
        if (memcmp(sha, a[i].sha256, sizeof sha) != 0) {
            qs_error("migration %s was changed after it was applied (SHA-256 differs)",
                     set[i].name);
            return QS_ERR_DB_SCHEMA;
        }
    }
    return QS_OK;
}

typedef struct migrate_step_ctx {
    const qs_db_migration *set;
    size_t n;
    const qs_db_migration *applied; /* out: what this step applied, NULL when none pending */
} migrate_step_ctx;

static qs_err migrate_step(qs_db *db, void *cls)
{
    migrate_step_ctx *ctx = cls;
    qs_db_applied_migration *a = NULL;
    size_t na = 0;
    uint8_t sha[QS_DB_MIGRATION_SHA256_LEN];
    qs_err r;

    ctx->applied = NULL;
    r = qs_db_migration_lock(db);
    if (r != QS_OK)
        goto out;
    r = qs_db_migration_bootstrap(db);
    if (r != QS_OK)
        goto out;
    r = qs_db_migrations_applied(db, &a, &na);
    if (r != QS_OK)
        goto out;
    r = verify_applied(ctx->set, ctx->n, a, na);
    if (r != QS_OK)
        goto out;
    if (na == ctx->n) {
        r = QS_OK;
        goto out;
    }
    const qs_db_migration *m = &ctx->set[na];
    r = qs_db_migration_apply(db, m);
    if (r != QS_OK) {
        qs_error("migration %s failed: %s", m->name, qs_err_str(r));
        goto out;
    }
    migration_sha256(m, sha);
    r = qs_db_migration_record(db, m, sha);
    if (r != QS_OK)
        goto out;
    ctx->applied = m;
    r = QS_OK;
out:
    qs_db_applied_migrations_free(a, na);
    return r;
}

static qs_err check_set(const qs_db_migration *set, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (set[i].version != i + 1 || set[i].name == NULL || set[i].sql == NULL) {
            qs_bug("migration set entry %zu is malformed", i);
            return QS_ERR_INTERNAL;
        }
    }
    return QS_OK;
}

qs_err qs_db_migrate_set(qs_db *db, const qs_db_migration *set, size_t n, qs_db_migrate_cb cb,
                         void *cls, size_t *n_applied)
{
    size_t count = 0;
    qs_err r = check_set(set, n);

    if (n_applied != NULL)
        *n_applied = 0;
    if (r != QS_OK)
        return r;
    for (;;) {
        migrate_step_ctx ctx = {.set = set, .n = n, .applied = NULL};
        r = qs_db_run_txn_opt(db, "migrate", QS_DB_TXN_READ_COMMITTED, migrate_step, &ctx);
        if (r != QS_OK)
            break;
        if (ctx.applied == NULL)
            break;
        count++;
        if (n_applied != NULL)
            *n_applied = count;
        qs_info("applied migration %s", ctx.applied->name);
        if (cb != NULL)
            cb(ctx.applied, cls);
    }
    return r;
}

qs_err qs_db_migrate(qs_db *db, qs_db_migrate_cb cb, void *cls, size_t *n_applied)
{
    return qs_db_migrate_set(db, qs_db_migrations, qs_db_migrations_count, cb, cls, n_applied);
}

typedef struct status_ctx {
    const qs_db_migration *set;
    size_t n;
    uint32_t current;
} status_ctx;

static qs_err status_step(qs_db *db, void *cls)
{
    status_ctx *ctx = cls;
    qs_db_applied_migration *a = NULL;
    size_t na = 0;
    bool exists;
    qs_err r;

    ctx->current = 0;
    r = qs_db_migration_table_exists(db, &exists);
    if (r != QS_OK || !exists)
        goto out;
    r = qs_db_migrations_applied(db, &a, &na);
    if (r != QS_OK)
        goto out;
    ctx->current = (uint32_t)na;
    r = verify_applied(ctx->set, ctx->n, a, na);
out:
    qs_db_applied_migrations_free(a, na);
    return r;
}

qs_err qs_db_migration_status_set(qs_db *db, const qs_db_migration *set, size_t n,
                                  uint32_t *current)
{
    status_ctx ctx = {.set = set, .n = n, .current = 0};
    qs_err r = check_set(set, n);

    *current = 0;
    if (r != QS_OK)
        return r;
    r = qs_db_run_txn_opt(db, "migration_status", QS_DB_TXN_READ_COMMITTED | QS_DB_TXN_READ_ONLY,
                          status_step, &ctx);
    *current = ctx.current;
    return r;
}

qs_err qs_db_migration_status(qs_db *db, uint32_t *current)
{
    return qs_db_migration_status_set(db, qs_db_migrations, qs_db_migrations_count, current);
}

qs_err qs_db_check_schema(qs_db *db)
{
    uint32_t current;
    qs_err r = qs_db_migration_status(db, &current);
    if (r != QS_OK)
        return r;
    if (current != qs_db_migrations_count) {
        qs_error("database schema is at version %u, this binary needs %zu", current,
                 qs_db_migrations_count);
        return QS_ERR_DB_SCHEMA;
    }
    return QS_OK;
}
