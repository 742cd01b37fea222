-- The store (store/), as on SQLite (migrations/sqlite/20261203000001_store.sql). Times are ms
-- since the epoch; JSON is JSONB. No secret is ever stored here.
CREATE TABLE store_tenants (
    slug        TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    desired     JSONB   NOT NULL DEFAULT '{}',
    steps       JSONB   NOT NULL DEFAULT '{}',
    authentik   JSONB   NOT NULL DEFAULT '{}',
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

CREATE TABLE store_invitations (
    id          TEXT    PRIMARY KEY,
    tenant      TEXT    NOT NULL REFERENCES store_tenants (slug),
    email       TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    UNIQUE (tenant, email)
);

CREATE TABLE store_runs (
    job_id      TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    started_at  BIGINT  NOT NULL,
    finished_at BIGINT,
    outcome     TEXT,
    error       TEXT,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX store_runs_started ON store_runs (started_at);
