-- 0001-initial: the core model of qsign.
--
-- Runs as qsign_owner inside the migrator's transaction, after the bootstrap created schema
-- qsign and qsign.schema_migration.  Every name is schema-qualified; nothing depends on
-- search_path.
--
-- Record MACs.  A row the SAM (qsign-sam) relies on for a security decision carries
-- record_mac: HMAC-SHA-256 made in the HSM under the record-MAC key, which never leaves the HSM.
-- The SAM computes it over a canonical, domain-separated encoding of the table name and of the
-- row's MACed columns (each column comment says whether it is), including the primary key, so
-- a MAC cannot be moved to another row or another table; it checks the MAC before it uses the
-- row and refuses the row on a mismatch.  The database only stores the MAC.  So:
--   * every change to a MACed column goes through the SAM, which writes the new MAC with it
--     (a failed attempt updates the counter and the MAC together);
--   * a row written or altered by anyone else (qsignd cannot write at all) is rejected;
--   * a MAC proves origin, not freshness: whoever can write a table could put back an older,
--     validly MACed version of a row.  Only qsign_sam and the owner can write, and the SAM
--     checks such state (attempt counters, consumed hashes, remaining signatures) against
--     the audit log, whose per-writer sequence and hash chain make a rollback visible.
--
-- Privileges (least privilege per process):
--   qsign_api    SELECT on non-secret columns only; writes nothing.
--   qsign_sam    SELECT, INSERT and UPDATE of the columns that may change; DELETE only on the
--                short-lived SAD tables (purging a SAD can never enable a signature);
--                INSERT + SELECT on the audit tables.
--   qsign_audit  SELECT only, secrets (wrapped keys, PIN verifiers, TOTP seeds) excluded.
--   PUBLIC       nothing: no CONNECT, TEMP, schema USAGE or CREATE.
-- Only the owner can CREATE in the schema.  The audit log takes INSERT only: no role has UPDATE
-- or DELETE on it and a trigger refuses UPDATE, DELETE and TRUNCATE for everyone.

-- ---- Users ------------------------------------------------------------------------------

CREATE TABLE qsign.users (
    id uuid PRIMARY KEY,
    username text NOT NULL UNIQUE
        CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._@+-]*$' AND char_length(username) <= 128),
    kind text NOT NULL CHECK (kind IN ('signer', 'officer', 'auditor')),
    status text NOT NULL CHECK (status IN ('active', 'suspended', 'closed')),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    record_mac bytea NOT NULL CHECK (octet_length(record_mac) = 32)
);
COMMENT ON TABLE qsign.users IS
    'People known to the service: signers, registration officers and auditors.  Rows are '
    'never deleted (status closed), so audit records keep a meaning.  Written by the SAM only';
COMMENT ON COLUMN qsign.users.id IS
    'User id, chosen by the SAM at enrolment (random UUID); the CSC userID.  MACed';
COMMENT ON COLUMN qsign.users.username IS
    'Login name, unique, 1..128 characters from [A-Za-z0-9._@+-].  MACed';
COMMENT ON COLUMN qsign.users.kind IS
    'signer (owns credentials), officer (registration officer: enrols and unlocks) or '
    'auditor (reads evidence).  MACed';
COMMENT ON COLUMN qsign.users.status IS
    'active, suspended (may not authenticate) or closed (permanently).  MACed';
COMMENT ON COLUMN qsign.users.created_at IS 'When the user was enrolled.  Not MACed';
COMMENT ON COLUMN qsign.users.record_mac IS
    'HMAC-SHA-256 (32 bytes) made in the HSM by the SAM over the MACed columns';

-- ---- Credentials (signer keys) -----------------------------------------------------------

CREATE TABLE qsign.credentials (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES qsign.users (id),
    key_alg text NOT NULL
        CHECK (key_alg IN ('ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096')),
    spki bytea NOT NULL CHECK (octet_length(spki) BETWEEN 32 AND 2048),
    wrapped_key bytea CHECK (octet_length(wrapped_key) BETWEEN 16 AND 8192),
    status text NOT NULL CHECK (status IN ('enabled', 'disabled', 'locked', 'destroyed')),
    failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts BETWEEN 0 AND 1000000),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    record_mac bytea NOT NULL CHECK (octet_length(record_mac) = 32),
    -- The key is gone exactly when the credential is destroyed.
    CONSTRAINT credentials_destroyed_has_no_key
        CHECK ((status = 'destroyed') = (wrapped_key IS NULL)),
    -- Target of the SAD's (credential, user) reference.
    CONSTRAINT credentials_id_user_key UNIQUE (id, user_id)
);
CREATE INDEX credentials_user_id_idx ON qsign.credentials (user_id);
COMMENT ON TABLE qsign.credentials IS
    'Signer keys: one key, one signer.  The private key exists outside the HSM only wrapped '
    'under the HSM key-encryption key.  Written by the SAM only';
COMMENT ON COLUMN qsign.credentials.id IS
    'Credential id, chosen by the SAM (random UUID); the CSC credentialID.  MACed';
COMMENT ON COLUMN qsign.credentials.user_id IS 'The signer who solely controls the key.  MACed';
COMMENT ON COLUMN qsign.credentials.key_alg IS
    'Key type and size: ec-p256, ec-p384, rsa-2048, rsa-3072 or rsa-4096.  MACed';
COMMENT ON COLUMN qsign.credentials.spki IS
    'Public key, DER SubjectPublicKeyInfo (32..2048 bytes).  MACed';
COMMENT ON COLUMN qsign.credentials.wrapped_key IS
    'Private key wrapped in the HSM under the key-encryption key (RFC 5649, 16..8192 bytes); '
    'NULL once destroyed.  Secret: no role but qsign_sam and the owner may read it.  MACed';
COMMENT ON COLUMN qsign.credentials.status IS
    'enabled, disabled (by an officer or the signer), locked (too many failed '
    'authentications; an officer unlocks) or destroyed (key erased, final).  MACed';
COMMENT ON COLUMN qsign.credentials.failed_attempts IS
    'Consecutive failed authorizations for this credential; reset on success.  MACed';
COMMENT ON COLUMN qsign.credentials.created_at IS 'When the key was generated.  Not MACed';
COMMENT ON COLUMN qsign.credentials.record_mac IS
    'HMAC-SHA-256 (32 bytes) made in the HSM by the SAM over the MACed columns, binding the '
    'wrapped key to its credential, user and public key';

-- ---- Authentication factors -------------------------------------------------------------

CREATE TABLE qsign.factor_pin (
    user_id uuid PRIMARY KEY REFERENCES qsign.users (id),
    verifier text NOT NULL
        CHECK (verifier LIKE '$argon2id$%' AND octet_length(verifier) <= 127),
    failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts BETWEEN 0 AND 1000000),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    record_mac bytea NOT NULL CHECK (octet_length(record_mac) = 32)
);
COMMENT ON TABLE qsign.factor_pin IS
    'Knowledge factor: the signing PIN of a user, stored only as a verifier.  Written by the '
    'SAM only';
COMMENT ON COLUMN qsign.factor_pin.user_id IS 'The user the PIN belongs to.  MACed';
COMMENT ON COLUMN qsign.factor_pin.verifier IS
    'Argon2id verifier string (libsodium crypto_pwhash_str, at most 127 bytes) of the PIN '
    'after HMAC with the HSM pepper key, so a dump allows no offline guessing.  Secret: no '
    'role but qsign_sam and the owner may read it.  MACed';
COMMENT ON COLUMN qsign.factor_pin.failed_attempts IS
    'Consecutive wrong PINs over all the user''s credentials; reset on success.  MACed';
COMMENT ON COLUMN qsign.factor_pin.updated_at IS 'When the PIN was last set.  Not MACed';
COMMENT ON COLUMN qsign.factor_pin.record_mac IS
    'HMAC-SHA-256 (32 bytes) made in the HSM by the SAM over the MACed columns';

CREATE TABLE qsign.factor_totp (
    user_id uuid PRIMARY KEY REFERENCES qsign.users (id),
    seed_ciphertext bytea NOT NULL CHECK (octet_length(seed_ciphertext) BETWEEN 16 AND 512),
    algorithm text NOT NULL DEFAULT 'SHA1' CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
    digits smallint NOT NULL DEFAULT 6 CHECK (digits BETWEEN 6 AND 8),
    period smallint NOT NULL DEFAULT 30 CHECK (period BETWEEN 15 AND 300),
    last_step bigint NOT NULL DEFAULT 0 CHECK (last_step >= 0),
    failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts BETWEEN 0 AND 1000000),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    record_mac bytea NOT NULL CHECK (octet_length(record_mac) = 32)
);
COMMENT ON TABLE qsign.factor_totp IS
    'Possession factor: a TOTP authenticator (RFC 6238) of a user.  Written by the SAM only';
COMMENT ON COLUMN qsign.factor_totp.user_id IS 'The user the authenticator belongs to.  MACed';
COMMENT ON COLUMN qsign.factor_totp.seed_ciphertext IS
    'TOTP seed encrypted under an HSM key (16..512 bytes).  Secret: no role but qsign_sam and '
    'the owner may read it.  MACed';
COMMENT ON COLUMN qsign.factor_totp.algorithm IS 'HMAC hash of the TOTP: SHA1, SHA256 or SHA512.  MACed';
COMMENT ON COLUMN qsign.factor_totp.digits IS 'Code length, 6..8.  MACed';
COMMENT ON COLUMN qsign.factor_totp.period IS 'Time step in seconds, 15..300.  MACed';
COMMENT ON COLUMN qsign.factor_totp.last_step IS
    'Last accepted time step (Unix time / period); a code is accepted only for a later step, '
    'so each step is accepted once.  MACed';
COMMENT ON COLUMN qsign.factor_totp.failed_attempts IS
    'Consecutive wrong codes over all the user''s credentials; reset on success.  MACed';
COMMENT ON COLUMN qsign.factor_totp.updated_at IS 'When the authenticator was last set.  Not MACed';
COMMENT ON COLUMN qsign.factor_totp.record_mac IS
    'HMAC-SHA-256 (32 bytes) made in the HSM by the SAM over the MACed columns';

-- ---- Signature Activation Data ----------------------------------------------------------

CREATE TABLE qsign.sads (
    sad_hash bytea PRIMARY KEY CHECK (octet_length(sad_hash) = 32),
    user_id uuid NOT NULL REFERENCES qsign.users (id),
    credential_id uuid NOT NULL REFERENCES qsign.credentials (id),
    hash_alg text NOT NULL CHECK (hash_alg IN ('2.16.840.1.101.3.4.2.1',
                                               '2.16.840.1.101.3.4.2.2',
                                               '2.16.840.1.101.3.4.2.3')),
    num_signatures integer NOT NULL CHECK (num_signatures BETWEEN 1 AND 1000),
    remaining integer NOT NULL,
    hashes_sha256 bytea NOT NULL CHECK (octet_length(hashes_sha256) = 32),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at timestamptz NOT NULL,
    auth_event_writer text NOT NULL CHECK (char_length(auth_event_writer) BETWEEN 1 AND 64),
    auth_event_seq bigint NOT NULL CHECK (auth_event_seq >= 1),
    record_mac bytea NOT NULL CHECK (octet_length(record_mac) = 32),
    CONSTRAINT sads_remaining_range CHECK (remaining BETWEEN 0 AND num_signatures),
    CONSTRAINT sads_expiry_after_issue CHECK (expires_at > created_at),
    -- The credential must be the user's own.
    CONSTRAINT sads_credential_of_user FOREIGN KEY (credential_id, user_id)
        REFERENCES qsign.credentials (id, user_id)
);
CREATE INDEX sads_credential_id_idx ON qsign.sads (credential_id);
CREATE INDEX sads_expires_at_idx ON qsign.sads (expires_at);
COMMENT ON TABLE qsign.sads IS
    'Signature Activation Data issued by credentials/authorize: binds signer, credential, the '
    'set of authorized hashes, hash algorithm, number of signatures, expiry and the '
    'authentication event.  Short-lived; the SAM may purge expired rows.  Written by the SAM only';
COMMENT ON COLUMN qsign.sads.sad_hash IS
    'SHA-256 of the SAD handle given to the client (32 bytes); the handle itself is never '
    'stored.  MACed';
COMMENT ON COLUMN qsign.sads.user_id IS 'The signer the SAD was issued to.  MACed';
COMMENT ON COLUMN qsign.sads.credential_id IS
    'The credential it activates; must belong to user_id.  MACed';
COMMENT ON COLUMN qsign.sads.hash_alg IS
    'OID of the digest algorithm of the authorized hashes (SHA-256, SHA-384, SHA-512).  MACed';
COMMENT ON COLUMN qsign.sads.num_signatures IS
    'Signatures authorized in total (CSC numSignatures), 1..1000.  MACed';
COMMENT ON COLUMN qsign.sads.remaining IS
    'Signatures still allowed, 0..num_signatures; decremented with each signature.  MACed';
COMMENT ON COLUMN qsign.sads.hashes_sha256 IS
    'SHA-256 over the authorized digests in ascending byte order, concatenated: as it is '
    'MACed, rows cannot be added to or removed from sad_hashes unnoticed.  MACed';
COMMENT ON COLUMN qsign.sads.created_at IS 'When the SAD was issued.  MACed';
COMMENT ON COLUMN qsign.sads.expires_at IS
    'End of validity; no signature after it (short, configurable).  MACed';
COMMENT ON COLUMN qsign.sads.auth_event_writer IS
    'Audit writer of the audit record of the authentication that produced the SAD (with '
    'auth_event_seq: a reference to audit_log (writer_id, seq)).  MACed';
COMMENT ON COLUMN qsign.sads.auth_event_seq IS
    'Sequence number of that audit record.  MACed';
COMMENT ON COLUMN qsign.sads.record_mac IS
    'HMAC-SHA-256 (32 bytes) made in the HSM by the SAM over the MACed columns';

CREATE TABLE qsign.sad_hashes (
    sad_hash bytea NOT NULL REFERENCES qsign.sads (sad_hash) ON DELETE CASCADE,
    digest bytea NOT NULL CHECK (octet_length(digest) IN (32, 48, 64)),
    consumed_at timestamptz,
    record_mac bytea NOT NULL CHECK (octet_length(record_mac) = 32),
    PRIMARY KEY (sad_hash, digest)
);
COMMENT ON TABLE qsign.sad_hashes IS
    'The digests an SAD authorizes, each signed at most once.  Written by the SAM only';
COMMENT ON COLUMN qsign.sad_hashes.sad_hash IS 'The SAD (sads.sad_hash).  MACed';
COMMENT ON COLUMN qsign.sad_hashes.digest IS
    'An authorized digest (32, 48 or 64 bytes, per sads.hash_alg).  MACed';
COMMENT ON COLUMN qsign.sad_hashes.consumed_at IS
    'When the digest was signed; NULL while unused.  Set once.  MACed';
COMMENT ON COLUMN qsign.sad_hashes.record_mac IS
    'HMAC-SHA-256 (32 bytes) made in the HSM by the SAM over the MACed columns';

-- ---- Audit log ----------------------------------------------------------------------------

CREATE TABLE qsign.audit_writers (
    writer_id text PRIMARY KEY CHECK (writer_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 256),
    mac_key_label text NOT NULL CHECK (char_length(mac_key_label) BETWEEN 1 AND 64),
    checkpoint_spki bytea CHECK (octet_length(checkpoint_spki) BETWEEN 32 AND 2048)
);
COMMENT ON TABLE qsign.audit_writers IS
    'Audit chain writers: each SAM instance appends to its own chain (writer id + sequence); '
    'verification reads all chains together.  Public information; rows are never changed';
COMMENT ON COLUMN qsign.audit_writers.writer_id IS
    'Writer id, 1..64 characters from [A-Za-z0-9._-]';
COMMENT ON COLUMN qsign.audit_writers.created_at IS 'When the writer registered';
COMMENT ON COLUMN qsign.audit_writers.description IS 'Free text: host, instance (<= 256 chars)';
COMMENT ON COLUMN qsign.audit_writers.mac_key_label IS
    'Label of the HSM key that makes this writer''s record MACs (a name, not key material)';
COMMENT ON COLUMN qsign.audit_writers.checkpoint_spki IS
    'Public key (DER SubjectPublicKeyInfo) verifying the writer''s signed checkpoints; NULL '
    'until it has one';

CREATE TABLE qsign.audit_log (
    writer_id text NOT NULL REFERENCES qsign.audit_writers (writer_id),
    seq bigint NOT NULL CHECK (seq >= 1),
    event_time timestamptz NOT NULL,
    event_type text NOT NULL CHECK (event_type ~ '^[a-z][a-z0-9_.]{0,63}$'),
    actor text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 200),
    user_id uuid,
    credential_id uuid,
    sad_ref bytea CHECK (octet_length(sad_ref) = 32),
    result text NOT NULL CHECK (result IN ('success', 'failure')),
    -- text, not jsonb: jsonb normalizes (key order, spacing, duplicate keys), and the record
    -- hash covers the exact bytes the writer sent.  Malformed JSON fails the cast with SQLSTATE
    -- 22P02 rather than 23514; the writer validates before it inserts.
    details text NOT NULL DEFAULT '{}'
        CHECK (octet_length(details) <= 16384 AND jsonb_typeof(details::jsonb) = 'object'),
    prev_hash bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
    record_hash bytea NOT NULL CHECK (octet_length(record_hash) = 32),
    record_mac bytea NOT NULL CHECK (octet_length(record_mac) = 32),
    PRIMARY KEY (writer_id, seq)
);
CREATE INDEX audit_log_event_time_idx ON qsign.audit_log (event_time);
CREATE INDEX audit_log_event_type_idx ON qsign.audit_log (event_type, event_time);
CREATE INDEX audit_log_user_idx ON qsign.audit_log (user_id, event_time)
    WHERE user_id IS NOT NULL;
CREATE INDEX audit_log_credential_idx ON qsign.audit_log (credential_id, event_time)
    WHERE credential_id IS NOT NULL;
COMMENT ON TABLE qsign.audit_log IS
    'Append-only, tamper-evident audit log: per-writer sequence numbers, a hash chain and a '
    'MAC per record made in the HSM.  INSERT only: no role may UPDATE or DELETE, and a trigger '
    'refuses UPDATE, DELETE and TRUNCATE for everyone.  Never holds secrets';
COMMENT ON COLUMN qsign.audit_log.writer_id IS 'The writer (audit_writers) whose chain holds it';
COMMENT ON COLUMN qsign.audit_log.seq IS
    'Position in the writer''s chain: 1, 2, 3, ... without gaps';
COMMENT ON COLUMN qsign.audit_log.event_time IS 'When the event happened (set by the writer)';
COMMENT ON COLUMN qsign.audit_log.event_type IS
    'Event type, dotted lowercase (e.g. sad.issued, signature.created, key.destroyed)';
COMMENT ON COLUMN qsign.audit_log.actor IS
    'Who acted: the authenticated user, officer or component (1..200 characters)';
COMMENT ON COLUMN qsign.audit_log.user_id IS
    'The user concerned, if any.  No foreign key: a record may name an id that does not exist '
    '(a failed lookup)';
COMMENT ON COLUMN qsign.audit_log.credential_id IS 'The credential concerned, if any (no foreign key)';
COMMENT ON COLUMN qsign.audit_log.sad_ref IS
    'The SAD concerned, if any: sads.sad_hash (no foreign key: SADs are purged, records stay)';
COMMENT ON COLUMN qsign.audit_log.result IS 'success or failure';
COMMENT ON COLUMN qsign.audit_log.details IS
    'Event specifics as the text of a JSON object (at most 16384 bytes of UTF-8), stored '
    'byte for byte as the writer hashed it (cast to jsonb to query it): factors used, hash, '
    'algorithm, digest of the signature value.  Never secrets';
COMMENT ON COLUMN qsign.audit_log.prev_hash IS
    'record_hash of the previous record of the same writer; 32 zero bytes for seq 1';
COMMENT ON COLUMN qsign.audit_log.record_hash IS
    'SHA-256 over the canonical encoding (version 1, docs/audit-log.md) of this record''s '
    'other columns, prev_hash included (the chain link)';
COMMENT ON COLUMN qsign.audit_log.record_mac IS
    'HMAC-SHA-256 (32 bytes) made in the HSM under the writer''s MAC key over '
    '"qsign-audit-mac-v1" || record_hash';

-- Append-only: refuse UPDATE, DELETE and TRUNCATE at statement level, for every role.
CREATE FUNCTION qsign.audit_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RAISE EXCEPTION 'qsign.audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;
COMMENT ON FUNCTION qsign.audit_log_refuse_change() IS
    'Trigger function: refuses any UPDATE, DELETE or TRUNCATE of qsign.audit_log';
CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON qsign.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION qsign.audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON qsign.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION qsign.audit_log_refuse_change();
COMMENT ON TRIGGER audit_log_no_update_delete ON qsign.audit_log IS
    'The audit log is append-only';
COMMENT ON TRIGGER audit_log_no_truncate ON qsign.audit_log IS 'The audit log is append-only';

-- Chain shape on insert: seq 1 links to 32 zero bytes, seq n links to the record_hash of n - 1
-- of the same writer, which must exist.  Catches a writer's bugs at once; the cryptographic
-- verification (hashes, MACs, checkpoints) remains the verifier's job.
CREATE FUNCTION qsign.audit_log_check_chain() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    prev bytea;
BEGIN
    IF NEW.seq = 1 THEN
        IF NEW.prev_hash <> pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex') THEN
            RAISE EXCEPTION 'audit record %/1 must link to 32 zero bytes', NEW.writer_id
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    SELECT a.record_hash INTO prev
        FROM qsign.audit_log a
        WHERE a.writer_id = NEW.writer_id AND a.seq = NEW.seq - 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'audit record %/% has no predecessor', NEW.writer_id, NEW.seq
            USING ERRCODE = 'check_violation';
    END IF;
    IF prev <> NEW.prev_hash THEN
        RAISE EXCEPTION 'audit record %/% does not link to its predecessor', NEW.writer_id,
            NEW.seq USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION qsign.audit_log_check_chain() IS
    'Trigger function: an inserted audit record must extend its writer''s chain';
CREATE TRIGGER audit_log_chain
    BEFORE INSERT ON qsign.audit_log
    FOR EACH ROW EXECUTE FUNCTION qsign.audit_log_check_chain();
COMMENT ON TRIGGER audit_log_chain ON qsign.audit_log IS
    'Each inserted record links to its predecessor';

-- ---- Privileges ---------------------------------------------------------------------------

-- Nothing for PUBLIC: no CONNECT or TEMP on the database, nothing in the schemas.
DO $db$
BEGIN
    EXECUTE pg_catalog.format('REVOKE ALL ON DATABASE %I FROM PUBLIC',
                              pg_catalog.current_database());
    EXECUTE pg_catalog.format('GRANT CONNECT ON DATABASE %I TO qsign_api, qsign_sam, qsign_audit',
                              pg_catalog.current_database());
END
$db$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON SCHEMA qsign FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA qsign FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA qsign FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA qsign REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
GRANT USAGE ON SCHEMA qsign TO qsign_api, qsign_sam, qsign_audit;

GRANT SELECT ON qsign.schema_migration TO qsign_api, qsign_sam, qsign_audit;

-- qsign_api: non-secret columns only.
GRANT SELECT (id, username, kind, status, created_at) ON qsign.users TO qsign_api;
GRANT SELECT (id, user_id, key_alg, spki, status, created_at) ON qsign.credentials TO qsign_api;
GRANT SELECT (user_id) ON qsign.factor_pin TO qsign_api;
GRANT SELECT (user_id, algorithm, digits, period) ON qsign.factor_totp TO qsign_api;

-- qsign_sam: the only writer; UPDATE limited to the columns that change.
GRANT SELECT, INSERT ON qsign.users, qsign.credentials, qsign.factor_pin, qsign.factor_totp,
    qsign.sads, qsign.sad_hashes, qsign.audit_writers, qsign.audit_log TO qsign_sam;
GRANT UPDATE (username, status, record_mac) ON qsign.users TO qsign_sam;
GRANT UPDATE (wrapped_key, status, failed_attempts, record_mac) ON qsign.credentials TO qsign_sam;
GRANT UPDATE (verifier, failed_attempts, updated_at, record_mac) ON qsign.factor_pin TO qsign_sam;
GRANT UPDATE (seed_ciphertext, algorithm, digits, period, last_step, failed_attempts,
              updated_at, record_mac) ON qsign.factor_totp TO qsign_sam;
GRANT UPDATE (remaining, record_mac) ON qsign.sads TO qsign_sam;
GRANT UPDATE (consumed_at, record_mac) ON qsign.sad_hashes TO qsign_sam;
GRANT DELETE ON qsign.sads, qsign.sad_hashes TO qsign_sam;

-- qsign_audit: read-only, without the secrets.
GRANT SELECT ON qsign.users, qsign.sads, qsign.sad_hashes, qsign.audit_writers, qsign.audit_log
    TO qsign_audit;
GRANT SELECT (id, user_id, key_alg, spki, status, failed_attempts, created_at, record_mac)
    ON qsign.credentials TO qsign_audit;
GRANT SELECT (user_id, failed_attempts, updated_at, record_mac) ON qsign.factor_pin
    TO qsign_audit;
GRANT SELECT (user_id, algorithm, digits, period, last_step, failed_attempts, updated_at,
              record_mac) ON qsign.factor_totp TO qsign_audit;
