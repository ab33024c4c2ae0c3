-- Failed authentications per client address, in fixed windows: shared by every node, so the
-- limit holds however many nodes an attacker spreads attempts over.

CREATE TABLE auth_failures (
    key TEXT PRIMARY KEY NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL
);
