-- qsign database roles.  Cluster-wide, so created by a superuser (the deploy scripts and the test
-- cluster run this file), not by a migration.  Idempotent: safe to run again; it also resets
-- the role attributes to the ones below.
--
--   qsign_owner  owns the qsign schema and its objects; used only by `qsignctl db migrate`
--   qsign_api    qsignd, the internet-facing daemon: reads non-secret columns only
--   qsign_sam    the Signature Activation Module: reads and writes users, factors,
--                credentials and SADs, appends to the audit log
--   qsign_audit  auditors: read-only
--
-- None of them is a superuser or may create databases or roles, and none is a member of
-- another, so no role inherits another's privileges.  Passwords or certificate mappings are
-- set by the deployment (pg_hba.conf), never here.  Creating the qsign database owned by
-- qsign_owner is the deploy script's job too:
--   CREATE DATABASE qsign OWNER qsign_owner ENCODING 'UTF8';

DO $roles$
DECLARE
    r text;
    g text;
    m text;
BEGIN
    FOREACH r IN ARRAY ARRAY['qsign_owner', 'qsign_api', 'qsign_sam', 'qsign_audit'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I LOGIN', r);
        END IF;
        EXECUTE pg_catalog.format(
            'ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
            'NOBYPASSRLS INHERIT', r);
    END LOOP;
    -- No qsign role may be a member of another role (it would inherit its privileges).
    FOR g, m IN
        SELECT gr.rolname, mr.rolname
        FROM pg_catalog.pg_auth_members am
        JOIN pg_catalog.pg_roles gr ON gr.oid = am.roleid
        JOIN pg_catalog.pg_roles mr ON mr.oid = am.member
        WHERE mr.rolname IN ('qsign_owner', 'qsign_api', 'qsign_sam', 'qsign_audit')
    LOOP
        EXECUTE pg_catalog.format('REVOKE %I FROM %I', g, m);
    END LOOP;
END
$roles$;

COMMENT ON ROLE qsign_owner IS 'qsign schema owner; used only to apply migrations';
COMMENT ON ROLE qsign_api IS 'qsignd (internet-facing): SELECT on non-secret columns only';
COMMENT ON ROLE qsign_sam IS 'qsign-sam (Signature Activation Module): the only writer';
COMMENT ON ROLE qsign_audit IS 'auditors: read-only access';

-- The SAM reports an audit record, a consumed hash or a counted failure as done only once it is
-- durable (DESIGN.md invariant 1: no signature before its audit record is durably committed), so
-- its sessions never run with synchronous_commit off, whatever the cluster's default.  'on'
-- waits for the local WAL flush (and for synchronous standbys, if any are configured); the audit
-- writer refuses to start on a session where it is off.
ALTER ROLE qsign_sam SET synchronous_commit = 'on';
