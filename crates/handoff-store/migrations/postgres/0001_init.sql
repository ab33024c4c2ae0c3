-- handoff schema, PostgreSQL. Released migrations are never edited; add a new file instead.
-- Times are Unix seconds. Ids are hyphenated UUID text. Digests are 32-byte SHA-256 values.

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_digest BYTEA NOT NULL,
    previous_secret_digest BYTEA,
    previous_secret_expires_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE organization_numbers (
    org_number TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE
);
CREATE INDEX organization_numbers_organization ON organization_numbers (organization_id);

CREATE TABLE partners (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    embed_origins TEXT NOT NULL,          -- JSON array of origins
    allowed_path_prefixes TEXT NOT NULL,  -- JSON array of path prefixes
    secret_digest BYTEA NOT NULL,
    previous_secret_digest BYTEA,
    previous_secret_expires_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE partner_organizations (
    partner_id TEXT NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (partner_id, organization_id)
);
CREATE INDEX partner_organizations_organization ON partner_organizations (organization_id);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at BIGINT NOT NULL,
    UNIQUE (organization_id, email)
);

CREATE TABLE sessions (
    id_digest BYTEA PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    partner_id TEXT REFERENCES partners (id) ON DELETE CASCADE,
    embed BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_partner ON sessions (partner_id);

-- One row per redeemed SSO token: the primary key is what makes redemption single-use, on every
-- node at once.
CREATE TABLE consumed_tokens (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT,
    reason TEXT NOT NULL,
    partner_id TEXT,
    organization_id TEXT,
    user_id TEXT,
    client_addr TEXT,
    request_id TEXT,
    detail TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_partner ON audit_log (partner_id, id);
CREATE INDEX audit_log_organization ON audit_log (organization_id, id);
CREATE INDEX audit_log_user ON audit_log (user_id, id);

CREATE TABLE keys (
    kid TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    sealed_secret BYTEA NOT NULL,
    public BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
