-- The association mirror: the records each record is associated with, per other type, as
-- HubSpot's associations API last answered for it (kept current by association change
-- events). Both directions are kept, each as read from its own side. Types are named as in
-- `records.object_type` (path names; custom objects by type id).
CREATE TABLE associations (
    portal_id  INTEGER NOT NULL,
    from_type  TEXT   NOT NULL,
    from_id    INTEGER NOT NULL,
    to_type    TEXT   NOT NULL,
    to_id      INTEGER NOT NULL,
    kinds      TEXT   NOT NULL,   -- JSON array of {"category", "typeId", "label"?}
    read_at    INTEGER NOT NULL,   -- epoch ms of the read that found it
    PRIMARY KEY (portal_id, from_type, from_id, to_type, to_id)
);
-- A deleted or erased record's associations are found from the other side too.
CREATE INDEX associations_by_target ON associations (portal_id, to_type, to_id);
