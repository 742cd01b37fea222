-- The overview's jobs finished per queue within a window: one range of this index per queue and
-- state, answered from the index alone.
CREATE INDEX queue_jobs_queue_finished ON queue_jobs (queue, state, finished_at) WHERE finished_at IS NOT NULL;
