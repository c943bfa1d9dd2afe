/*
 * Operation: create the qsign schema and the migration version table when missing, and refuse
 * to migrate as anyone but the schema's owner (a superuser would own new objects, and the
 * audit log's protections assume one owner role).
 *
 * This script is the fixed base every migration builds on; it must never change, because
 * databases bootstrapped by older binaries would not get the change.  New objects belong in a
 * new migration.
 */
#define QS_LOG_MODULE "db"
#include "db/db_internal.h"

qs_err qs_db_migration_bootstrap(qs_db *db)
{
    static const char sql[] =
        "DO $bootstrap$\n"
        "BEGIN\n"
        "  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN\n"
        "    RAISE EXCEPTION 'migrations run as the schema owner role (qsign_owner), not as "
        "a superuser' USING ERRCODE = 'insufficient_privilege';\n"
        "  END IF;\n"
        "  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'qsign') THEN\n"
        "    CREATE SCHEMA qsign;\n"
        "    COMMENT ON SCHEMA qsign IS 'qsign remote signing service: users, factors, "
        "credentials, signature activation data and the audit log';\n"
        "  END IF;\n"
        "  IF (SELECT nspowner FROM pg_catalog.pg_namespace WHERE nspname = 'qsign')\n"
        "     <> (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN\n"
        "    RAISE EXCEPTION 'schema qsign belongs to another role: migrate as its owner'\n"
        "      USING ERRCODE = 'insufficient_privilege';\n"
        "  END IF;\n"
        "  IF pg_catalog.to_regclass('qsign.schema_migration') IS NULL THEN\n"
        "    CREATE TABLE qsign.schema_migration (\n"
        "      version integer PRIMARY KEY CHECK (version > 0),\n"
        "      name text NOT NULL UNIQUE\n"
        "        CHECK (name ~ '^[0-9]{4}-[a-z0-9][a-z0-9-]*$' AND octet_length(name) <= 100),\n"
        "      sha256 bytea NOT NULL CHECK (octet_length(sha256) = 32),\n"
        "      applied_at timestamptz NOT NULL DEFAULT pg_catalog.now()\n"
        "    );\n"
        "    COMMENT ON TABLE qsign.schema_migration IS 'Applied schema migrations, one row "
        "each, written by qsignctl db migrate in the same transaction as the migration';\n"
        "    COMMENT ON COLUMN qsign.schema_migration.version IS 'Migration number (the NNNN "
        "of db/migrations/NNNN-name.sql); versions are applied in order without gaps';\n"
        "    COMMENT ON COLUMN qsign.schema_migration.name IS 'Migration file name without "
        ".sql';\n"
        "    COMMENT ON COLUMN qsign.schema_migration.sha256 IS 'SHA-256 of the migration SQL "
        "as applied; a binary whose embedded SQL differs refuses to run against this "
        "database';\n"
        "    COMMENT ON COLUMN qsign.schema_migration.applied_at IS 'When the migration "
        "committed';\n"
        "  END IF;\n"
        "END\n"
        "$bootstrap$";

    return qs_db_exec_script(db, __func__, sql);
}
