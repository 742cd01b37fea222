-- The durable queue (docs/queue-contract.md). Times are milliseconds since the Unix epoch.
CREATE TABLE queue_jobs (
    -- Insertion order: FIFO tie-break and list cursor. AUTOINCREMENT so a pruned tail is never reused.
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT    NOT NULL UNIQUE,          -- ULID
    queue             TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    args              TEXT    NOT NULL,                 -- JSON
    tenant            TEXT,
    enqueued_by       TEXT,
    state             TEXT    NOT NULL CHECK (state IN ('scheduled','available','running','succeeded','dead','cancelled')),
    priority          INTEGER NOT NULL DEFAULT 0,
    run_at            INTEGER NOT NULL,
    attempt           INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL CHECK (max_attempts >= 1),
    snoozes           INTEGER NOT NULL DEFAULT 0,
    lease_token       INTEGER,
    lease_expires_at  INTEGER,
    worker            TEXT,
    cancel_requested  INTEGER NOT NULL DEFAULT 0,
    dedup_key         TEXT,
    dedup_until       INTEGER,
    dedup_fingerprint TEXT,
    result            TEXT,                             -- JSON
    errors            TEXT    NOT NULL DEFAULT '[]',    -- JSON array of {at, attempt, class, message}
    created_at        INTEGER NOT NULL,
    finished_at       INTEGER
);

-- fetch: the next available jobs of a queue in priority, run_at, FIFO order.
CREATE INDEX queue_jobs_fetch ON queue_jobs (queue, priority DESC, run_at, seq) WHERE state = 'available';
-- promotion: due scheduled jobs of a queue.
CREATE INDEX queue_jobs_scheduled ON queue_jobs (queue, run_at) WHERE state = 'scheduled';
-- rescue: expired leases.
CREATE INDEX queue_jobs_leases ON queue_jobs (lease_expires_at) WHERE state = 'running';
-- dedup look-ups.
CREATE INDEX queue_jobs_dedup ON queue_jobs (dedup_key, seq) WHERE dedup_key IS NOT NULL;
-- retention.
CREATE INDEX queue_jobs_finished ON queue_jobs (state, finished_at) WHERE finished_at IS NOT NULL;
-- counts and filtered lists.
CREATE INDEX queue_jobs_queue_state ON queue_jobs (queue, state);
CREATE INDEX queue_jobs_kind ON queue_jobs (kind, seq);
CREATE INDEX queue_jobs_state ON queue_jobs (state, seq);
CREATE INDEX queue_jobs_tenant ON queue_jobs (tenant, seq) WHERE tenant IS NOT NULL;

-- Per-queue settings: the pause flag.
CREATE TABLE queue_queues (
    name       TEXT    PRIMARY KEY,
    paused     INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);
