-- Installed portals, their sealed OAuth tokens, the audit trail, and used install states.
CREATE TABLE portals (
    portal_id        BIGINT      PRIMARY KEY,
    state            TEXT        NOT NULL,        -- installed | needs_reauth | uninstalled
    hub_domain       TEXT,
    app_id           BIGINT,
    scopes           TEXT        NOT NULL,        -- space-separated, as granted
    installer_id     BIGINT,                      -- HubSpot user id of the installing user
    installer_email  TEXT,
    reauth_reason    TEXT,
    installed_at     TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

-- Tokens are AEAD-sealed (key id, nonce and ciphertext); never stored in plain text.
CREATE TABLE portal_tokens (
    portal_id          BIGINT      PRIMARY KEY REFERENCES portals (portal_id) ON DELETE CASCADE,
    key_id             TEXT        NOT NULL,
    access_sealed      BYTEA       NOT NULL,
    refresh_sealed     BYTEA       NOT NULL,
    access_expires_at  TIMESTAMPTZ NOT NULL,
    refreshed_at       TIMESTAMPTZ NOT NULL,
    refresh_failures   INTEGER     NOT NULL DEFAULT 0,
    lease_holder       TEXT,                      -- the instance refreshing right now
    lease_until        TIMESTAMPTZ
);

CREATE INDEX portal_tokens_by_expiry ON portal_tokens (access_expires_at);

CREATE TABLE audit_log (
    id         BIGSERIAL   PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
    portal_id  BIGINT      NOT NULL,
    action     TEXT        NOT NULL,
    actor      TEXT        NOT NULL,
    detail     TEXT        NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_by_portal ON audit_log (portal_id, id);

-- OAuth `state` nonces already used: a replayed callback finds its nonce here.
CREATE TABLE used_install_states (
    nonce       TEXT        PRIMARY KEY,
    expires_at  TIMESTAMPTZ NOT NULL
);
