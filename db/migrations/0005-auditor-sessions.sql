-- 0005-auditor-sessions: the sessions of auditors, beside those of registration officers.
--
-- Runs as qsign_owner inside the migrator's transaction.  Every name is schema-qualified.
--
-- An auditor logs in like a registration officer (login password checked by qsignd, TOTP code
-- checked by the SAM) and gets a session of the same kind, in the same table; the session now
-- names the role it carries, and the role is covered by the session's record MAC.  The SAM
-- accepts an officer's session only for registration requests and an auditor's only for the
-- audit API (it also checks that the user's kind is the session's role).
--
-- Sessions opened before this migration carry MACs made without the role: they are deleted, so
-- officers logged in at the upgrade log in again (sessions live minutes, [ra] session_lifetime).
--
-- Privileges:
--   qsign_sam    writes the new column with the row (INSERT, as before).
--   qsign_api    reads it: qsignd answers a session of the wrong role with 403 before asking the
--                SAM, which checks again.
--   qsign_audit  reads it.

DELETE FROM qsign.ra_sessions;

ALTER TABLE qsign.ra_sessions
    ADD COLUMN role text NOT NULL DEFAULT 'officer'
        CONSTRAINT ra_sessions_role CHECK (role IN ('officer', 'auditor'));
ALTER TABLE qsign.ra_sessions ALTER COLUMN role DROP DEFAULT;

COMMENT ON TABLE qsign.ra_sessions IS
    'Sessions of registration officers and auditors, opened by the SAM after qsignd checked the '
    'login password and the SAM the user''s TOTP code.  The handle is the bearer token of the RA '
    'API (role officer) or of the audit API (role auditor) and authorizes the SAM''s requests of '
    'that role only.  Written by the SAM only';
COMMENT ON COLUMN qsign.ra_sessions.officer_id IS
    'The user who logged in (users.kind equal to role: an officer or an auditor).  MACed';
COMMENT ON COLUMN qsign.ra_sessions.role IS
    'What the session may do: officer (the RA API) or auditor (the audit API).  MACed';

GRANT SELECT (role) ON qsign.ra_sessions TO qsign_api, qsign_audit;
