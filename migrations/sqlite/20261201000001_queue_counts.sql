-- Per-queue, per-state job counts kept up to date by triggers, so that `counts` reads a few rows
-- instead of grouping every job (a scan that grows with the table). The triggers run inside the
-- writing transaction, whichever process writes, so the counts are exactly as consistent as the
-- jobs. A count that drops to zero stays as a row with n = 0 (readers skip it).
CREATE TABLE queue_counts (
    queue TEXT    NOT NULL,
    state TEXT    NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (queue, state)
) WITHOUT ROWID;

INSERT INTO queue_counts (queue, state, n)
    SELECT queue, state, count(*) FROM queue_jobs GROUP BY queue, state;

-- Each trigger writes with plain statements that cannot hit a conflict: a BEFORE trigger creates
-- a missing counter row, the AFTER trigger only adds to it. (An upsert in the trigger would do in
-- one statement, but it makes SQLite keep a statement journal for every job written, which
-- costs a push more than half its speed; with these, a statement run `OR FAIL` keeps none.)

CREATE TRIGGER queue_counts_insert_row BEFORE INSERT ON queue_jobs
WHEN NOT EXISTS (SELECT 1 FROM queue_counts WHERE queue = NEW.queue AND state = NEW.state)
BEGIN
    INSERT INTO queue_counts (queue, state, n) VALUES (NEW.queue, NEW.state, 0);
END;

CREATE TRIGGER queue_counts_insert AFTER INSERT ON queue_jobs
BEGIN
    UPDATE queue_counts SET n = n + 1 WHERE queue = NEW.queue AND state = NEW.state;
END;

CREATE TRIGGER queue_counts_delete AFTER DELETE ON queue_jobs
BEGIN
    UPDATE queue_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
END;

-- Only real moves: most updates (renewals, a cancel request on a running job) keep the state.
CREATE TRIGGER queue_counts_update_row BEFORE UPDATE OF queue, state ON queue_jobs
WHEN (OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue)
 AND NOT EXISTS (SELECT 1 FROM queue_counts WHERE queue = NEW.queue AND state = NEW.state)
BEGIN
    INSERT INTO queue_counts (queue, state, n) VALUES (NEW.queue, NEW.state, 0);
END;

CREATE TRIGGER queue_counts_update AFTER UPDATE OF queue, state ON queue_jobs
WHEN OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue
BEGIN
    UPDATE queue_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
    UPDATE queue_counts SET n = n + 1 WHERE queue = NEW.queue AND state = NEW.state;
END;
