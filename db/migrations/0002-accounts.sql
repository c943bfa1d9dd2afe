-- 0002-accounts: login accounts and access tokens of qsignd (the CSC API's auth/login).
--
-- Runs as qsign_owner inside the migrator's transaction.  Every name is schema-qualified.
--
-- A login password is separate from the signing PIN: it only opens an API session (a bearer
-- token); it never authorizes a signature, which needs the PIN and the OTP checked by the SAM.
-- So these rows are qsignd's own state and carry no record MAC: whoever can write them gains an
-- API session, never key use.
--
-- Privileges:
--   qsign_api    reads accounts (verifier included: it verifies logins), updates only the
--                login counters; reads, inserts and deletes access tokens and updates only
--                revoked_at.
--   qsign_sam    nothing: the SAM does not need API sessions.
--   qsign_audit  reads everything but the verifier and the token hashes.
--   Passwords are set by the owner role (`qsignctl account set-password`), never by qsignd.

-- ---- Accounts ------------------------------------------------------------------------------

CREATE TABLE qsign.accounts (
    user_id uuid PRIMARY KEY REFERENCES qsign.users (id),
    verifier text NOT NULL
        CHECK (verifier LIKE '$argon2id$%' AND octet_length(verifier) <= 127),
    failed_logins integer NOT NULL DEFAULT 0 CHECK (failed_logins BETWEEN 0 AND 1000000),
    last_failed_at timestamptz,
    last_login_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE qsign.accounts IS
    'API login accounts: the password a user logs in with over HTTP Basic (CSC auth/login).  '
    'Separate from the signing PIN; a login never authorizes a signature.  Written by the '
    'owner (passwords) and qsignd (login counters)';
COMMENT ON COLUMN qsign.accounts.user_id IS 'The user (users.id) this login belongs to';
COMMENT ON COLUMN qsign.accounts.verifier IS
    'Argon2id verifier string of the login password (libsodium crypto_pwhash_str, at most '
    '127 bytes).  Secret: only qsign_api (which verifies logins) and the owner may read it';
COMMENT ON COLUMN qsign.accounts.failed_logins IS
    'Consecutive failed logins (saturating at 1000000); reset by a successful one';
COMMENT ON COLUMN qsign.accounts.last_failed_at IS 'Time of the last failed login, if any';
COMMENT ON COLUMN qsign.accounts.last_login_at IS 'Time of the last successful login, if any';
COMMENT ON COLUMN qsign.accounts.created_at IS 'When the password was first set';
COMMENT ON COLUMN qsign.accounts.updated_at IS 'When the password was last set';

-- ---- Access tokens -------------------------------------------------------------------------

CREATE TABLE qsign.access_tokens (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id uuid NOT NULL REFERENCES qsign.users (id),
    session_id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('access', 'refresh')),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    CONSTRAINT access_tokens_expiry_after_issue CHECK (expires_at > created_at),
    CONSTRAINT access_tokens_revoked_after_issue
        CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);
CREATE INDEX access_tokens_user_idx ON qsign.access_tokens (user_id, expires_at);
CREATE INDEX access_tokens_session_idx ON qsign.access_tokens (session_id);
COMMENT ON TABLE qsign.access_tokens IS
    'Bearer tokens issued by auth/login: access tokens and refresh tokens.  The token (32 '
    'random bytes, base64url) is given to the client once and never stored; rows are deleted '
    'by qsignd once expired.  Written by qsignd';
COMMENT ON COLUMN qsign.access_tokens.token_hash IS
    'SHA-256 of the raw 32-byte token (32 bytes); the lookup key';
COMMENT ON COLUMN qsign.access_tokens.user_id IS 'The user the token authenticates';
COMMENT ON COLUMN qsign.access_tokens.session_id IS
    'Login session: the tokens issued by one login and its refreshes share it, so revoking a '
    'refresh token (or replaying a used one) revokes them all';
COMMENT ON COLUMN qsign.access_tokens.kind IS
    'access (authenticates API calls) or refresh (single use: obtains a new access token)';
COMMENT ON COLUMN qsign.access_tokens.created_at IS 'When the token was issued';
COMMENT ON COLUMN qsign.access_tokens.expires_at IS 'End of validity';
COMMENT ON COLUMN qsign.access_tokens.revoked_at IS
    'When the token was revoked (auth/revoke, or a refresh token used); NULL while valid';

-- ---- Privileges ----------------------------------------------------------------------------

REVOKE ALL ON qsign.accounts, qsign.access_tokens FROM PUBLIC;

GRANT SELECT (user_id, verifier, failed_logins, last_failed_at, last_login_at, created_at,
              updated_at) ON qsign.accounts TO qsign_api;
GRANT UPDATE (failed_logins, last_failed_at, last_login_at) ON qsign.accounts TO qsign_api;
GRANT SELECT, INSERT, DELETE ON qsign.access_tokens TO qsign_api;
GRANT UPDATE (revoked_at) ON qsign.access_tokens TO qsign_api;

GRANT SELECT (user_id, failed_logins, last_failed_at, last_login_at, created_at, updated_at)
    ON qsign.accounts TO qsign_audit;
GRANT SELECT (user_id, session_id, kind, created_at, expires_at, revoked_at)
    ON qsign.access_tokens TO qsign_audit;
