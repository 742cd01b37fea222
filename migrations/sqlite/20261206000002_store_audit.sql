-- What operators did from the dashboard (retry, discard, cancel, delete, pause, bulk actions,
-- run now), by the ops token's name. Times are ms since the epoch.
CREATE TABLE store_audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    target TEXT    NOT NULL,   -- a job id, `queue:<name>` or `schedule:<name>`
    detail TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX store_audit_target ON store_audit (target, id);
