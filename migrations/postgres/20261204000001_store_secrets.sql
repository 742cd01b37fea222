-- Secret parts of job results, as on SQLite (migrations/sqlite/20261204000001_store_secrets.sql).
CREATE TABLE store_secrets (
    job_id      TEXT    PRIMARY KEY,
    sealed      BYTEA   NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX store_secrets_expiry ON store_secrets (expires_at);
