-- Inbound integrations serve the organizations they are linked to, as partners do; and a
-- user's status remembers who set it, so that a partner cannot lift an operator's disable.

CREATE TABLE integration_organizations (
    integration_id TEXT NOT NULL REFERENCES inbound_integrations (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (integration_id, organization_id)
);
CREATE INDEX integration_organizations_organization ON integration_organizations (organization_id);

-- NULL: the status a user was created with, never changed since. Users disabled before this
-- migration were disabled by whoever could: counted as the operator's, the safe side.
ALTER TABLE users ADD COLUMN status_set_by TEXT CHECK (status_set_by IN ('operator', 'partner'));
UPDATE users SET status_set_by = 'operator' WHERE status = 'disabled';
