-- 0003-audit-checkpoints: signed checkpoints of the audit chains.
--
-- Runs as qsign_owner inside the migrator's transaction.  Every name is schema-qualified.
--
-- A checkpoint is the writer's signed statement "my chain had head_hash at seq, at this time",
-- signed in the HSM with the audit signing key (ECDSA P-256, label qsign-audit-sign) over the
-- canonical encoding in docs/audit-log.md.  The public key is audit_writers.checkpoint_spki,
-- set once by the writer when it first has the key.  An auditor who exported checkpoints earlier
-- detects a log cut short after one of them, or rewritten wholesale, even by someone able to
-- make record MACs; the stored ones let anyone check the chain's head against a signature.
--
-- Privileges:
--   qsign_sam    INSERT + SELECT on audit_checkpoints; UPDATE of audit_writers.checkpoint_spki
--                only, and a trigger lets that column go from NULL to a key once, nothing else.
--   qsign_audit  SELECT.
--   qsign_api    nothing.
-- No role may UPDATE or DELETE a checkpoint, and a trigger refuses UPDATE, DELETE and TRUNCATE
-- of audit_checkpoints, and DELETE and TRUNCATE of audit_writers, for everyone.

-- ---- Append-only, for the audit tables of this migration ----------------------------------

CREATE FUNCTION qsign.audit_refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RAISE EXCEPTION '%.% is append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;
COMMENT ON FUNCTION qsign.audit_refuse_change() IS
    'Trigger function: refuses the change it fires on (UPDATE, DELETE or TRUNCATE) of an '
    'append-only audit table';

-- ---- Checkpoints ----------------------------------------------------------------------------

CREATE TABLE qsign.audit_checkpoints (
    writer_id text NOT NULL,
    seq bigint NOT NULL CHECK (seq >= 1),
    head_hash bytea NOT NULL CHECK (octet_length(head_hash) = 32),
    checkpoint_time timestamptz NOT NULL,
    -- DER Ecdsa-Sig-Value of a P-256 signature: 8..72 bytes.
    signature bytea NOT NULL CHECK (octet_length(signature) BETWEEN 8 AND 72),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- No foreign key to audit_log: the insert trigger below checks the record (and its hash),
    -- and a foreign key would make TRUNCATE of audit_log fail on it before the append-only
    -- trigger could refuse it.
    PRIMARY KEY (writer_id, seq),
    CONSTRAINT audit_checkpoints_writer FOREIGN KEY (writer_id)
        REFERENCES qsign.audit_writers (writer_id)
);
COMMENT ON TABLE qsign.audit_checkpoints IS
    'Signed checkpoints of the audit chains: the writer''s ECDSA P-256 signature, made in the '
    'HSM with the audit signing key, over (writer, seq, record_hash at seq, time) in the '
    'encoding of docs/audit-log.md.  Verified with audit_writers.checkpoint_spki.  INSERT only: '
    'no role may UPDATE or DELETE, and a trigger refuses UPDATE, DELETE and TRUNCATE for everyone';
COMMENT ON COLUMN qsign.audit_checkpoints.writer_id IS 'The writer whose chain is checkpointed';
COMMENT ON COLUMN qsign.audit_checkpoints.seq IS
    'The chain''s head when signed: the seq of the last committed record it covers';
COMMENT ON COLUMN qsign.audit_checkpoints.head_hash IS
    'record_hash of the record at seq (32 bytes): it commits to the whole chain up to seq';
COMMENT ON COLUMN qsign.audit_checkpoints.checkpoint_time IS
    'When the writer signed it (microseconds; part of the signed statement)';
COMMENT ON COLUMN qsign.audit_checkpoints.signature IS
    'DER ECDSA P-256 signature (8..72 bytes) over SHA-256 of the canonical checkpoint statement';
COMMENT ON COLUMN qsign.audit_checkpoints.created_at IS
    'When the row was inserted (server clock; not signed)';

CREATE TRIGGER audit_checkpoints_no_update_delete
    BEFORE UPDATE OR DELETE ON qsign.audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION qsign.audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON qsign.audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION qsign.audit_refuse_change();
COMMENT ON TRIGGER audit_checkpoints_no_update_delete ON qsign.audit_checkpoints IS
    'Checkpoints are append-only';
COMMENT ON TRIGGER audit_checkpoints_no_truncate ON qsign.audit_checkpoints IS
    'Checkpoints are append-only';

-- Shape on insert: the writer has a checkpoint key, head_hash is the stored record_hash at seq,
-- and seq lies beyond the writer's previous checkpoints.  Catches a writer's bugs at once; the
-- signature remains the verifier's job.
CREATE FUNCTION qsign.audit_checkpoints_check() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    head bytea;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM qsign.audit_writers w
                   WHERE w.writer_id = NEW.writer_id AND w.checkpoint_spki IS NOT NULL) THEN
        RAISE EXCEPTION 'audit checkpoint %/%: the writer has no checkpoint key', NEW.writer_id,
            NEW.seq USING ERRCODE = 'check_violation';
    END IF;
    SELECT a.record_hash INTO head
        FROM qsign.audit_log a
        WHERE a.writer_id = NEW.writer_id AND a.seq = NEW.seq;
    IF NOT FOUND OR head <> NEW.head_hash THEN
        RAISE EXCEPTION 'audit checkpoint %/% does not match the record at that seq',
            NEW.writer_id, NEW.seq USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM qsign.audit_checkpoints c
               WHERE c.writer_id = NEW.writer_id AND c.seq >= NEW.seq) THEN
        RAISE EXCEPTION 'audit checkpoint %/% is not beyond the writer''s last one',
            NEW.writer_id, NEW.seq USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION qsign.audit_checkpoints_check() IS
    'Trigger function: an inserted checkpoint names its writer''s stored record and comes '
    'after the writer''s earlier checkpoints';
CREATE TRIGGER audit_checkpoints_shape
    BEFORE INSERT ON qsign.audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION qsign.audit_checkpoints_check();
COMMENT ON TRIGGER audit_checkpoints_shape ON qsign.audit_checkpoints IS
    'Each inserted checkpoint covers a stored record, after the previous checkpoint';

-- ---- Writers: the checkpoint key, set once --------------------------------------------------

-- audit_writers rows never change, except that checkpoint_spki goes from NULL to a key once.
CREATE FUNCTION qsign.audit_writers_check_update() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NEW.writer_id IS DISTINCT FROM OLD.writer_id
       OR NEW.created_at IS DISTINCT FROM OLD.created_at
       OR NEW.description IS DISTINCT FROM OLD.description
       OR NEW.mac_key_label IS DISTINCT FROM OLD.mac_key_label
       OR (OLD.checkpoint_spki IS NOT NULL
           AND NEW.checkpoint_spki IS DISTINCT FROM OLD.checkpoint_spki) THEN
        RAISE EXCEPTION 'audit writer %: only a missing checkpoint key may be set',
            OLD.writer_id USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION qsign.audit_writers_check_update() IS
    'Trigger function: an audit writer row may change only by setting a NULL checkpoint_spki';
CREATE TRIGGER audit_writers_set_key_once
    BEFORE UPDATE ON qsign.audit_writers
    FOR EACH ROW EXECUTE FUNCTION qsign.audit_writers_check_update();
COMMENT ON TRIGGER audit_writers_set_key_once ON qsign.audit_writers IS
    'Writers never change, but for their checkpoint key being set once';
CREATE TRIGGER audit_writers_no_delete
    BEFORE DELETE ON qsign.audit_writers
    FOR EACH STATEMENT EXECUTE FUNCTION qsign.audit_refuse_change();
CREATE TRIGGER audit_writers_no_truncate
    BEFORE TRUNCATE ON qsign.audit_writers
    FOR EACH STATEMENT EXECUTE FUNCTION qsign.audit_refuse_change();
COMMENT ON TRIGGER audit_writers_no_delete ON qsign.audit_writers IS
    'Audit writers are never removed';
COMMENT ON TRIGGER audit_writers_no_truncate ON qsign.audit_writers IS
    'Audit writers are never removed';

-- ---- Privileges -----------------------------------------------------------------------------

REVOKE ALL ON qsign.audit_checkpoints FROM PUBLIC;
REVOKE ALL ON FUNCTION qsign.audit_refuse_change(), qsign.audit_checkpoints_check(),
    qsign.audit_writers_check_update() FROM PUBLIC;
GRANT SELECT, INSERT ON qsign.audit_checkpoints TO qsign_sam;
GRANT UPDATE (checkpoint_spki) ON qsign.audit_writers TO qsign_sam;
GRANT SELECT ON qsign.audit_checkpoints TO qsign_audit;
