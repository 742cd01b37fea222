-- Schedules (scheduler/): what each one runs and when it last and next ticks, so the policy holds
-- across restarts and the API answers without the schedulers' configuration. Times are ms since
-- the epoch; JSON is TEXT.
CREATE TABLE store_schedules (
    name         TEXT    PRIMARY KEY,
    kind         TEXT    NOT NULL,
    args         TEXT    NOT NULL DEFAULT '{}',
    expression   TEXT    NOT NULL,
    last_tick    INTEGER,          -- the newest tick dealt with (enqueued, skipped or missed)
    next_tick    INTEGER,
    last_job     TEXT,             -- the newest job a tick (or a run now) enqueued
    last_outcome TEXT,             -- what the newest tick did: enqueued, skipped, missed
    updated_at   INTEGER NOT NULL
);
