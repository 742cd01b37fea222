-- Schedules, as on SQLite (migrations/sqlite/20261205000001_store_schedules.sql).
CREATE TABLE store_schedules (
    name         TEXT    PRIMARY KEY,
    kind         TEXT    NOT NULL,
    args         JSONB   NOT NULL DEFAULT '{}',
    expression   TEXT    NOT NULL,
    last_tick    BIGINT,
    next_tick    BIGINT,
    last_job     TEXT,
    last_outcome TEXT,
    updated_at   BIGINT  NOT NULL
);
