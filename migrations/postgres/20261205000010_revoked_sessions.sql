-- Operator sessions signed out before they expired: a copied cookie is refused until it
-- would have expired anyway, when its row is forgotten.
CREATE TABLE revoked_sessions (
    nonce       TEXT        PRIMARY KEY,
    expires_at  TIMESTAMPTZ NOT NULL
);
