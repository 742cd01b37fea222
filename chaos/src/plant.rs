//! Faults the harness plants after a run, before the check (`--plant`), so a run can show the
//! checker catching them: an acknowledged job deleted from the queue, a tick's job enqueued a
//! second time, a duplicate object in the simulator's state.

use std::path::Path;

use dezky_queue::{DynQueue, JobId, NewJob, QueueError};

use crate::checker::Ack;

/// Deletes the first acknowledged job that finished; answers its id.
pub async fn delete_acknowledged(
    queue: &DynQueue,
    acks: &[Ack],
) -> Result<Option<String>, QueueError> {
    for ack in acks {
        let id = JobId(ack.job.clone());
        if queue
            .get(&id)
            .await?
            .is_some_and(|j| !j.state.is_unfinished())
        {
            queue.delete(&id).await?;
            return Ok(Some(ack.job.clone()));
        }
    }
    Ok(None)
}

/// Pushes the current tick of `schedule` twice, as a scheduler that lost the race but pushed
/// anyway would (twice: the tick's own job may have been skipped); answers the jobs' kind.
pub async fn tick_twice(queue: &DynQueue, schedule: &str) -> Result<Option<String>, QueueError> {
    let by = format!("scheduler:{schedule}");
    let jobs = crate::observe::jobs(queue).await?;
    let Some(tick) = jobs
        .values()
        .find(|j| j.enqueued_by.as_deref() == Some(&by))
    else {
        return Ok(None);
    };
    for _ in 0..2 {
        let mut twin = NewJob::new(&tick.kind, serde_json::json!({}));
        twin.enqueued_by = Some(by.clone());
        queue.push(twin).await?;
    }
    Ok(Some(tick.kind.clone()))
}

/// Adds a copy of the first object of `collection` (`brands`, `groups`, …) to the simulator's
/// state file, under a new primary key; answers whether there was one to copy.
pub fn duplicate_object(state_file: &Path, collection: &str) -> std::io::Result<bool> {
    let mut objects = crate::observe::authentik_objects(state_file)?;
    let Some(list) = objects[collection].as_array_mut() else {
        return Ok(false);
    };
    let Some(mut twin) = list.first().cloned() else {
        return Ok(false);
    };
    if let Some(fields) = twin.as_object_mut() {
        for key in ["pk", "brand_uuid", "group_uuid"] {
            if fields.contains_key(key) {
                fields.insert(key.into(), format!("planted-{key}").into());
            }
        }
    }
    list.push(twin);
    std::fs::write(state_file, objects.to_string())?;
    Ok(true)
}

/// Plants the queue's two faults into a drained run (the schedulers still running): an
/// acknowledged job deleted, a tick of `schedule` enqueued a second time.
pub async fn plant_in_queue(queue: &DynQueue, acks: &[Ack], schedule: &str) -> anyhow::Result<()> {
    let deleted = delete_acknowledged(queue, acks).await?;
    let tick = tick_twice(queue, schedule).await?;
    eprintln!("chaos: planted: job {deleted:?} deleted, a tick's job enqueued again ({tick:?})");
    anyhow::ensure!(deleted.is_some() && tick.is_some(), "nothing to plant on");
    Ok(())
}
