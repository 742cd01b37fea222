-- Fenced locks (queue/src/lock.rs): per key, the last fencing token handed out and until when
-- it is held (0: released). Rows stay once released, so tokens keep growing.
CREATE TABLE queue_locks (
    key        TEXT    PRIMARY KEY,
    token      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
