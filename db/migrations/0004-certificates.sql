-- 0004-certificates: the certification authority and the registration authority.
--
-- Runs as qsign_owner inside the migrator's transaction.  Every name is schema-qualified.
--
-- What the SAM relies on carries a record MAC (HMAC-SHA-256 made in the HSM under the
-- record-MAC key, as in 0001): issued certificates and their revocation state, the CA's state,
-- the identity evidence a certificate's subject comes from, activation codes and RA sessions.
-- The CRLs are signed by the CA key itself and carry no MAC.
--
-- Privileges:
--   qsign_sam    the only writer: INSERT + SELECT, UPDATE of the columns that change, DELETE of
--                expired RA sessions only.  Identity evidence and CRLs are insert-only.
--   qsign_api    reads what is public (certificates, the CA and OCSP responder certificates,
--                CRLs) and what the RA API shows (signers' evidence without the document
--                number's hash, activation state, RA session validity); writes nothing.
--   qsign_audit  reads everything but the hashes of activation codes, RA session handles and
--                document numbers.

-- ---- The CA ----------------------------------------------------------------------------------

CREATE TABLE qsign.ca_state (
    id smallint PRIMARY KEY CHECK (id = 1),
    key_label text NOT NULL CHECK (char_length(key_label) BETWEEN 1 AND 64),
    key_alg text NOT NULL CHECK (key_alg IN ('ec-p256', 'ec-p384')),
    status text NOT NULL CHECK (status IN ('pending', 'active')),
    ca_cert bytea CHECK (octet_length(ca_cert) BETWEEN 64 AND 16384),
    csr bytea CHECK (octet_length(csr) BETWEEN 64 AND 16384),
    ocsp_key_label text NOT NULL CHECK (char_length(ocsp_key_label) BETWEEN 1 AND 64),
    ocsp_cert bytea CHECK (octet_length(ocsp_cert) BETWEEN 64 AND 16384),
    crl_number bigint NOT NULL DEFAULT 0 CHECK (crl_number >= 0),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    record_mac bytea NOT NULL CHECK (octet_length(record_mac) = 32),
    -- An active CA has its certificate and its OCSP responder's.
    CONSTRAINT ca_state_active_has_certs
        CHECK (status = 'pending' OR (ca_cert IS NOT NULL AND ocsp_cert IS NOT NULL))
);
COMMENT ON TABLE qsign.ca_state IS
    'The one certification authority of this deployment (a single row, id 1): its key in the '
    'HSM, its certificate, its OCSP responder and the CRL counter.  Written by the SAM only';
COMMENT ON COLUMN qsign.ca_state.id IS 'Always 1: there is one CA.  MACed';
COMMENT ON COLUMN qsign.ca_state.key_label IS
    'CKA_LABEL of the CA key pair in the HSM (token objects, never extractable).  MACed';
COMMENT ON COLUMN qsign.ca_state.key_alg IS 'Curve of the CA key: ec-p256 or ec-p384.  MACed';
COMMENT ON COLUMN qsign.ca_state.status IS
    'pending (key made, the external root has not certified it yet) or active.  MACed';
COMMENT ON COLUMN qsign.ca_state.ca_cert IS
    'The CA certificate, DER (self-signed, or issued by the external root); NULL while '
    'pending.  Public.  MACed';
COMMENT ON COLUMN qsign.ca_state.csr IS
    'The PKCS#10 request sent to the external root, DER; NULL for a self-signed CA.  MACed';
COMMENT ON COLUMN qsign.ca_state.ocsp_key_label IS
    'CKA_LABEL of the OCSP responder key pair in the HSM.  MACed';
COMMENT ON COLUMN qsign.ca_state.ocsp_cert IS
    'The delegated OCSP responder certificate (id-kp-OCSPSigning, id-pkix-ocsp-nocheck), DER; '
    'NULL while pending.  Public.  MACed';
COMMENT ON COLUMN qsign.ca_state.crl_number IS
    'cRLNumber of the last CRL made (0: none yet); only ever increases.  MACed';
COMMENT ON COLUMN qsign.ca_state.created_at IS 'When the CA was initialised.  Not MACed';
COMMENT ON COLUMN qsign.ca_state.updated_at IS 'When the row last changed.  Not MACed';
COMMENT ON COLUMN qsign.ca_state.record_mac IS
    'HMAC-SHA-256 (32 bytes) made in the HSM by the SAM over the MACed columns';

CREATE TABLE qsign.crls (
    crl_number bigint PRIMARY KEY CHECK (crl_number >= 1),
    this_update timestamptz NOT NULL,
    next_update timestamptz NOT NULL,
    der bytea NOT NULL CHECK (octet_length(der) BETWEEN 64 AND 1048000),
    CONSTRAINT crls_next_after_this CHECK (next_update > this_update)
);
COMMENT ON TABLE qsign.crls IS
    'Every CRL the CA made, kept (the highest crl_number is the current one).  Signed by the '
    'CA key, so no record MAC.  Written by the SAM only; public';
COMMENT ON COLUMN qsign.crls.crl_number IS 'The CRL''s cRLNumber extension';
COMMENT ON COLUMN qsign.crls.this_update IS
    'When the CRL was made, to the microsecond (its thisUpdate holds the whole seconds)';
COMMENT ON COLUMN qsign.crls.next_update IS 'The CRL''s nextUpdate';
COMMENT ON COLUMN qsign.crls.der IS 'The signed CRL, DER';

-- ---- Certificates ----------------------------------------------------------------------------

CREATE TABLE qsign.certificates (
    serial bytea PRIMARY KEY CHECK (octet_length(serial) BETWEEN 1 AND 20),
    credential_id uuid NOT NULL UNIQUE REFERENCES qsign.credentials (id),
    issuer text NOT NULL CHECK (octet_length(issuer) BETWEEN 1 AND 2048),
    subject text NOT NULL CHECK (octet_length(subject) BETWEEN 1 AND 4096),
    not_before timestamptz NOT NULL,
    not_after timestamptz NOT NULL,
    der bytea NOT NULL CHECK (octet_length(der) BETWEEN 64 AND 16384),
    profile text NOT NULL CHECK (profile IN ('qcp-n-qscd', 'qcp-l-qscd')),
    status text NOT NULL CHECK (status IN ('valid', 'revoked')),
    revoked_at timestamptz,
    reason smallint CHECK (reason IN (0, 1, 3, 4, 5, 9)),
    issued_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    record_mac bytea NOT NULL CHECK (octet_length(record_mac) = 32),
    CONSTRAINT certificates_validity CHECK (not_after > not_before),
    -- Revocation time and reason exactly when revoked.
    CONSTRAINT certificates_revocation
        CHECK ((status = 'revoked') = (revoked_at IS NOT NULL)
               AND (revoked_at IS NULL) = (reason IS NULL))
);
CREATE INDEX certificates_revoked_idx ON qsign.certificates (revoked_at)
    WHERE revoked_at IS NOT NULL;
COMMENT ON TABLE qsign.certificates IS
    'End-entity qualified certificates the CA issued, one per credential (one key, one signer, '
    'one certificate), for keys the SAM generated.  Revoked ones are kept for ever (CRL '
    'ExpiredCertsOnCRL, OCSP ArchiveCutoff).  Written by the SAM only; public';
COMMENT ON COLUMN qsign.certificates.serial IS
    'Serial number, big-endian (16 random octets, top bit clear).  MACed';
COMMENT ON COLUMN qsign.certificates.credential_id IS 'The credential whose key it certifies.  MACed';
COMMENT ON COLUMN qsign.certificates.issuer IS 'Issuer DN as RFC 4514 text (at most 2048 bytes).  MACed';
COMMENT ON COLUMN qsign.certificates.subject IS 'Subject DN as RFC 4514 text (at most 4096 bytes).  MACed';
COMMENT ON COLUMN qsign.certificates.not_before IS 'Start of validity.  MACed';
COMMENT ON COLUMN qsign.certificates.not_after IS 'End of validity.  MACed';
COMMENT ON COLUMN qsign.certificates.der IS 'The certificate, DER.  MACed';
COMMENT ON COLUMN qsign.certificates.profile IS
    'Profile it was issued under: qcp-n-qscd (natural person) or qcp-l-qscd (legal '
    'person).  MACed';
COMMENT ON COLUMN qsign.certificates.status IS
    'valid or revoked (final: the key is destroyed with the revocation).  Expiry is read from '
    'not_after.  MACed';
COMMENT ON COLUMN qsign.certificates.revoked_at IS 'Revocation time; NULL unless revoked.  MACed';
COMMENT ON COLUMN qsign.certificates.reason IS
    'RFC 5280 CRLReason code of the revocation (0, 1, 3, 4, 5 or 9); NULL unless revoked.  '
    'MACed';
COMMENT ON COLUMN qsign.certificates.issued_at IS 'When it was stored.  Not MACed';
COMMENT ON COLUMN qsign.certificates.record_mac IS
    'HMAC-SHA-256 (32 bytes) made in the HSM by the SAM over the MACed columns';

-- ---- Registration: identity evidence, activation codes, RA sessions ------------------------

CREATE TABLE qsign.identity_evidence (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES qsign.users (id),
    method text NOT NULL CHECK (method IN ('physical', 'remote')),
    document_type text NOT NULL
        CHECK (document_type IN ('passport', 'id_card', 'residence_permit', 'driving_licence')),
    document_number_hash bytea NOT NULL CHECK (octet_length(document_number_hash) = 32),
    document_salt bytea NOT NULL CHECK (octet_length(document_salt) = 16),
    issuing_country text NOT NULL CHECK (issuing_country ~ '^[A-Z]{2}$'),
    officer text NOT NULL CHECK (octet_length(officer) BETWEEN 1 AND 256),
    verified_at timestamptz NOT NULL,
    notes text CHECK (octet_length(notes) BETWEEN 1 AND 1000),
    profile text NOT NULL CHECK (profile IN ('qcp-n-qscd', 'qcp-l-qscd')),
    country text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    common_name text NOT NULL CHECK (octet_length(common_name) BETWEEN 1 AND 256),
    given_name text CHECK (octet_length(given_name) BETWEEN 1 AND 1024),
    surname text CHECK (octet_length(surname) BETWEEN 1 AND 1024),
    pseudonym text CHECK (octet_length(pseudonym) BETWEEN 1 AND 512),
    serial_number text CHECK (octet_length(serial_number) BETWEEN 1 AND 256),
    organization text CHECK (octet_length(organization) BETWEEN 1 AND 256),
    organization_id text CHECK (octet_length(organization_id) BETWEEN 1 AND 256),
    record_mac bytea NOT NULL CHECK (octet_length(record_mac) = 32)
);
CREATE INDEX identity_evidence_user_idx ON qsign.identity_evidence (user_id, verified_at);
COMMENT ON TABLE qsign.identity_evidence IS
    'Identity validation by a registration officer (EN 319 411-1): how the person was '
    'identified, on which document, by whom and when, and the subject attributes verified, '
    'from which the certificate subject is made.  Audit records name the row by id.  '
    'Insert-only; written by the SAM only';
COMMENT ON COLUMN qsign.identity_evidence.id IS 'Evidence id (random UUID).  MACed';
COMMENT ON COLUMN qsign.identity_evidence.user_id IS 'The person identified.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.method IS
    'physical (in person before the officer) or remote.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.document_type IS
    'passport, id_card, residence_permit or driving_licence.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.document_number_hash IS
    'HMAC-SHA-256 with the HSM pepper key over a domain string, document_salt and the '
    'document number: the number itself is never stored, and a dump alone allows no guessing '
    'of it.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.document_salt IS
    'Random salt (16 bytes) of document_number_hash.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.issuing_country IS
    'ISO 3166-1 alpha-2 code of the state that issued the document.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.officer IS
    'The registration officer who verified it (the SAM''s actor text).  MACed';
COMMENT ON COLUMN qsign.identity_evidence.verified_at IS 'When it was recorded.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.notes IS 'The officer''s notes, if any.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.profile IS
    'Certificate profile the subject is for: qcp-n-qscd or qcp-l-qscd.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.country IS 'Subject countryName.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.common_name IS 'Subject commonName.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.given_name IS 'Subject givenName, if any.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.surname IS 'Subject surname, if any.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.pseudonym IS 'Subject pseudonym, if any.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.serial_number IS
    'Subject serialNumber (natural persons: TYPE + country + "-" + id), if any.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.organization IS
    'Subject organizationName (legal persons), if any.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.organization_id IS
    'Subject organizationIdentifier (legal persons), if any.  MACed';
COMMENT ON COLUMN qsign.identity_evidence.record_mac IS
    'HMAC-SHA-256 (32 bytes) made in the HSM by the SAM over the MACed columns';

CREATE TABLE qsign.activation_codes (
    user_id uuid PRIMARY KEY REFERENCES qsign.users (id),
    code_hash bytea NOT NULL CHECK (octet_length(code_hash) = 32),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts BETWEEN 0 AND 1000000),
    record_mac bytea NOT NULL CHECK (octet_length(record_mac) = 32),
    CONSTRAINT activation_codes_expiry_after_issue CHECK (expires_at > created_at)
);
COMMENT ON TABLE qsign.activation_codes IS
    'One-time codes a new signer uses to set their PIN and TOTP authenticator themselves '
    '(sole control): random, expiring, single use, given out once.  Written by the SAM only';
COMMENT ON COLUMN qsign.activation_codes.user_id IS 'The signer the code activates.  MACed';
COMMENT ON COLUMN qsign.activation_codes.code_hash IS
    'SHA-256 of the code (120 random bits); the code itself is never stored.  MACed';
COMMENT ON COLUMN qsign.activation_codes.created_at IS 'When the code was made.  MACed';
COMMENT ON COLUMN qsign.activation_codes.expires_at IS 'End of validity.  MACed';
COMMENT ON COLUMN qsign.activation_codes.used_at IS 'When it was used; NULL while unused.  MACed';
COMMENT ON COLUMN qsign.activation_codes.failed_attempts IS
    'Wrong codes presented for this user; at [auth] max_failed_attempts the code is void.  '
    'MACed';
COMMENT ON COLUMN qsign.activation_codes.record_mac IS
    'HMAC-SHA-256 (32 bytes) made in the HSM by the SAM over the MACed columns';

CREATE TABLE qsign.ra_sessions (
    session_hash bytea PRIMARY KEY CHECK (octet_length(session_hash) = 32),
    officer_id uuid NOT NULL REFERENCES qsign.users (id),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    record_mac bytea NOT NULL CHECK (octet_length(record_mac) = 32),
    CONSTRAINT ra_sessions_expiry_after_issue CHECK (expires_at > created_at)
);
CREATE INDEX ra_sessions_expires_idx ON qsign.ra_sessions (expires_at);
COMMENT ON TABLE qsign.ra_sessions IS
    'Sessions of registration officers, opened by the SAM after qsignd checked the login '
    'password and the SAM the officer''s TOTP code.  The handle is the bearer token of the RA '
    'API and authorizes the SAM''s registration requests.  Written by the SAM only';
COMMENT ON COLUMN qsign.ra_sessions.session_hash IS
    'SHA-256 of the session handle (32 random bytes); the handle is never stored.  MACed';
COMMENT ON COLUMN qsign.ra_sessions.officer_id IS 'The officer (users.kind officer).  MACed';
COMMENT ON COLUMN qsign.ra_sessions.created_at IS 'When the session was opened.  MACed';
COMMENT ON COLUMN qsign.ra_sessions.expires_at IS 'End of validity.  MACed';
COMMENT ON COLUMN qsign.ra_sessions.record_mac IS
    'HMAC-SHA-256 (32 bytes) made in the HSM by the SAM over the MACed columns';

-- ---- Privileges -----------------------------------------------------------------------------

REVOKE ALL ON qsign.ca_state, qsign.crls, qsign.certificates, qsign.identity_evidence,
    qsign.activation_codes, qsign.ra_sessions FROM PUBLIC;

GRANT SELECT, INSERT ON qsign.ca_state, qsign.crls, qsign.certificates,
    qsign.identity_evidence, qsign.activation_codes, qsign.ra_sessions TO qsign_sam;
GRANT UPDATE (status, ca_cert, csr, ocsp_cert, crl_number, updated_at, record_mac)
    ON qsign.ca_state TO qsign_sam;
GRANT UPDATE (status, revoked_at, reason, record_mac) ON qsign.certificates TO qsign_sam;
GRANT UPDATE (code_hash, created_at, expires_at, used_at, failed_attempts, record_mac)
    ON qsign.activation_codes TO qsign_sam;
GRANT DELETE ON qsign.ra_sessions TO qsign_sam;

GRANT SELECT ON qsign.crls, qsign.certificates TO qsign_api;
GRANT SELECT (id, status, ca_cert, ocsp_cert, crl_number) ON qsign.ca_state TO qsign_api;
GRANT SELECT (id, user_id, method, document_type, issuing_country, officer, verified_at, notes,
              profile, country, common_name, given_name, surname, pseudonym, serial_number,
              organization, organization_id)
    ON qsign.identity_evidence TO qsign_api;
GRANT SELECT (user_id, created_at, expires_at, used_at) ON qsign.activation_codes TO qsign_api;
GRANT SELECT (session_hash, officer_id, expires_at) ON qsign.ra_sessions TO qsign_api;

GRANT SELECT ON qsign.ca_state, qsign.crls, qsign.certificates TO qsign_audit;
GRANT SELECT (id, user_id, method, document_type, issuing_country, officer, verified_at, notes,
              profile, country, common_name, given_name, surname, pseudonym, serial_number,
              organization, organization_id, record_mac)
    ON qsign.identity_evidence TO qsign_audit;
GRANT SELECT (user_id, created_at, expires_at, used_at, failed_attempts, record_mac)
    ON qsign.activation_codes TO qsign_audit;
GRANT SELECT (officer_id, created_at, expires_at) ON qsign.ra_sessions TO qsign_audit;
