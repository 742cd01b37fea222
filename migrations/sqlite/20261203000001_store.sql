-- The store (store/): desired state and what became of it. Times are ms since the epoch; JSON is
-- TEXT. No secret is ever stored here.
CREATE TABLE store_tenants (
    slug        TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    desired     TEXT    NOT NULL DEFAULT '{}',  -- what the tenant should have (JSON)
    steps       TEXT    NOT NULL DEFAULT '{}',  -- step → {status, detail, at} (JSON)
    authentik   TEXT    NOT NULL DEFAULT '{}',  -- Authentik object ids by role (JSON)
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE store_invitations (
    id          TEXT    PRIMARY KEY,
    tenant      TEXT    NOT NULL REFERENCES store_tenants (slug),
    email       TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (tenant, email)
);

-- A row per attempt: written when it starts, completed when it ends.
CREATE TABLE store_runs (
    job_id      TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    outcome     TEXT,
    error       TEXT,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX store_runs_started ON store_runs (started_at);
