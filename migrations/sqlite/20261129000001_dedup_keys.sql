-- Dedup keys in a table of their own, scoped by queue as on every backend, so that a key
-- outlives its job: a window longer than the retention of finished jobs is still honoured.
CREATE TABLE queue_dedup (
    queue       TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    job_id      TEXT    NOT NULL,            -- the job the key answers with
    until       INTEGER NOT NULL,            -- end of the window (ms); the key lives at least
                                             -- while its job is unfinished
    fingerprint TEXT,
    PRIMARY KEY (queue, key)
) WITHOUT ROWID;
-- retention of expired keys.
CREATE INDEX queue_dedup_until ON queue_dedup (until);

INSERT OR REPLACE INTO queue_dedup (queue, key, job_id, until, fingerprint)
    SELECT queue, dedup_key, id, dedup_until, dedup_fingerprint
    FROM queue_jobs WHERE dedup_key IS NOT NULL ORDER BY seq;

DROP INDEX queue_jobs_dedup;
ALTER TABLE queue_jobs DROP COLUMN dedup_key;
ALTER TABLE queue_jobs DROP COLUMN dedup_until;
ALTER TABLE queue_jobs DROP COLUMN dedup_fingerprint;
