-- Portals erased (`spoke portals erase`, the dashboard), until they install again. Counts
-- gathered in memory before an erase and flushed after it must not bring the portal's
-- statistics back; a hydration round in flight must not write its records back.
CREATE TABLE erased_portals (
    portal_id BIGINT PRIMARY KEY,
    erased_at TIMESTAMPTZ NOT NULL
);
