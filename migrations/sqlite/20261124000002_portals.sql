-- Installed portals, their sealed OAuth tokens, the audit trail, and used install states.
-- Times are epoch milliseconds (UTC).
CREATE TABLE portals (
    portal_id        INTEGER PRIMARY KEY,
    state            TEXT    NOT NULL,            -- installed | needs_reauth | uninstalled
    hub_domain       TEXT,
    app_id           INTEGER,
    scopes           TEXT    NOT NULL,            -- space-separated, as granted
    installer_id     INTEGER,                     -- HubSpot user id of the installing user
    installer_email  TEXT,
    reauth_reason    TEXT,
    installed_at     INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

-- Tokens are AEAD-sealed (key id, nonce and ciphertext); never stored in plain text.
CREATE TABLE portal_tokens (
    portal_id          INTEGER PRIMARY KEY REFERENCES portals (portal_id) ON DELETE CASCADE,
    key_id             TEXT    NOT NULL,
    access_sealed      BLOB    NOT NULL,
    refresh_sealed     BLOB    NOT NULL,
    access_expires_at  INTEGER NOT NULL,
    refreshed_at       INTEGER NOT NULL,
    refresh_failures   INTEGER NOT NULL DEFAULT 0,
    lease_holder       TEXT,                      -- the instance refreshing right now
    lease_until        INTEGER
);

CREATE INDEX portal_tokens_by_expiry ON portal_tokens (access_expires_at);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    portal_id  INTEGER NOT NULL,
    action     TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_by_portal ON audit_log (portal_id, id);

-- OAuth `state` nonces already used: a replayed callback finds its nonce here.
CREATE TABLE used_install_states (
    nonce       TEXT    PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);
