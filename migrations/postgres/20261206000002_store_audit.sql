-- The dashboard's audit, as on SQLite (migrations/sqlite/20261206000002_store_audit.sql).
CREATE TABLE store_audit (
    id     BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     BIGINT  NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    target TEXT    NOT NULL,
    detail TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX store_audit_target ON store_audit (target, id);
