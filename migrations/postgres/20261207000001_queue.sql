-- The durable queue on PostgreSQL (queue/src/postgres), the same contract and the same columns
-- as on SQLite (migrations/sqlite/*queue*). Times are milliseconds since the Unix epoch, from the
-- database's clock (queue_now) unless a test overrides it.

-- Now, in ms: the override when given (a test's clock), else the transaction's time.
CREATE FUNCTION queue_now(override BIGINT) RETURNS BIGINT
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT COALESCE(override, (extract(epoch FROM now()) * 1000)::BIGINT) $$;

-- Lease tokens: unique per lease, so a stale holder's token never matches again.
CREATE SEQUENCE queue_lease_tokens;

CREATE TABLE queue_jobs (
    -- Insertion order: FIFO tie-break and list cursor.
    seq               BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                TEXT    NOT NULL UNIQUE,          -- ULID
    queue             TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    args              TEXT    NOT NULL,                 -- JSON as pushed (search matches its text)
    tenant            TEXT,
    enqueued_by       TEXT,
    state             TEXT    NOT NULL CHECK (state IN ('scheduled','available','running','succeeded','dead','cancelled')),
    priority          BIGINT  NOT NULL DEFAULT 0,
    run_at            BIGINT  NOT NULL,
    attempt           BIGINT  NOT NULL DEFAULT 0,
    max_attempts      BIGINT  NOT NULL CHECK (max_attempts >= 1),
    snoozes           BIGINT  NOT NULL DEFAULT 0,
    lease_token       BIGINT,
    lease_expires_at  BIGINT,
    worker            TEXT,
    cancel_requested  BOOLEAN NOT NULL DEFAULT FALSE,
    result            TEXT,                             -- JSON
    errors            JSONB   NOT NULL DEFAULT '[]',    -- [{at, attempt, class, message}]
    created_at        BIGINT  NOT NULL,
    finished_at       BIGINT
);
-- A queue's rows churn (each job is updated about three times): leave room on each page for the
-- new row versions, so updates stay on the page (HOT) and indexes are not touched.
ALTER TABLE queue_jobs SET (fillfactor = 80);

-- fetch: a queue's available jobs in priority, run_at, FIFO order.
CREATE INDEX queue_jobs_fetch ON queue_jobs (queue, priority DESC, run_at, seq) WHERE state = 'available';
-- promotion: due scheduled jobs of a queue.
CREATE INDEX queue_jobs_scheduled ON queue_jobs (queue, run_at) WHERE state = 'scheduled';
-- rescue: expired leases.
CREATE INDEX queue_jobs_leases ON queue_jobs (lease_expires_at) WHERE state = 'running';
-- retention, and the overview's endings per queue within a window.
CREATE INDEX queue_jobs_queue_finished ON queue_jobs (queue, state, finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX queue_jobs_finished ON queue_jobs (state, finished_at) WHERE finished_at IS NOT NULL;
-- filtered lists, newest first.
CREATE INDEX queue_jobs_queue_state ON queue_jobs (queue, state, seq);
CREATE INDEX queue_jobs_kind ON queue_jobs (kind, seq);
CREATE INDEX queue_jobs_state ON queue_jobs (state, seq);
CREATE INDEX queue_jobs_tenant ON queue_jobs (tenant, seq) WHERE tenant IS NOT NULL;

-- Text search in args: a trigram index where pg_trgm can be had (it lives in `public`, once per
-- database, whatever schema the queue is in); without it, search is the bounded scan.
DO $$
DECLARE
    home TEXT;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
    EXCEPTION WHEN OTHERS THEN
        -- Not permitted, not installed, or another session created it at the same moment.
        RAISE NOTICE 'pg_trgm not created: %', SQLERRM;
    END;
    SELECT n.nspname INTO home FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_trgm';
    IF home IS NOT NULL THEN
        EXECUTE format('CREATE INDEX queue_jobs_args_trgm ON queue_jobs USING gin (args %I.gin_trgm_ops)', home);
    END IF;
END $$;

-- Per-queue settings: the pause flag.
CREATE TABLE queue_queues (
    name       TEXT    PRIMARY KEY,
    paused     BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at BIGINT  NOT NULL
);

-- Dedup keys, scoped by queue, outliving their job until their window ends.
CREATE TABLE queue_dedup (
    queue       TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    job_id      TEXT    NOT NULL,
    until       BIGINT  NOT NULL,
    fingerprint TEXT,
    PRIMARY KEY (queue, key)
);
CREATE INDEX queue_dedup_until ON queue_dedup (until);

-- Fenced locks (queue/src/lock.rs): per key, the last token handed out and until when it is held.
CREATE TABLE queue_locks (
    key        TEXT    PRIMARY KEY,
    token      BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);

-- Counts per queue and state without counting every job, and without a hot counter row that
-- every writer would queue on: each statement that moves jobs appends its net changes to
-- queue_count_deltas (an insert never waits for another), and `counts` folds the deltas into
-- queue_counts before it reads. Statement-level triggers, so a fetch of 50 jobs appends two rows.
CREATE TABLE queue_counts (
    queue TEXT   NOT NULL,
    state TEXT   NOT NULL,
    n     BIGINT NOT NULL,
    PRIMARY KEY (queue, state)
);
CREATE TABLE queue_count_deltas (
    queue TEXT   NOT NULL,
    state TEXT   NOT NULL,
    n     BIGINT NOT NULL
);

CREATE FUNCTION queue_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_count_deltas (queue, state, n)
        SELECT queue, state, count(*) FROM new_rows GROUP BY queue, state;
    RETURN NULL;
END $$;

CREATE FUNCTION queue_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_count_deltas (queue, state, n)
        SELECT queue, state, -count(*) FROM old_rows GROUP BY queue, state;
    RETURN NULL;
END $$;

CREATE FUNCTION queue_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Renewals and cancel requests keep the state: their changes cancel out and add nothing.
    INSERT INTO queue_count_deltas (queue, state, n)
        SELECT queue, state, sum(n) FROM (
            SELECT queue, state, -1 AS n FROM old_rows
            UNION ALL
            SELECT queue, state, 1 AS n FROM new_rows
        ) moved GROUP BY queue, state HAVING sum(n) <> 0;
    RETURN NULL;
END $$;

CREATE TRIGGER queue_count_insert AFTER INSERT ON queue_jobs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_count_inserted();
CREATE TRIGGER queue_count_delete AFTER DELETE ON queue_jobs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_count_deleted();
CREATE TRIGGER queue_count_update AFTER UPDATE ON queue_jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_count_updated();
