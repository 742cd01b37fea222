//! The scheduler of Dezky Jobs: queue maintenance — the rescue of expired leases (so a crashed
//! worker's jobs come back even when no worker polls their queue) and retention (finished jobs
//! are deleted after their keep time) — and the jobs that run on their own: boot jobs (seeding)
//! and cron schedules (seeding, reconciliation), each tick enqueued once however many replicas
//! run. It depends on the queue and the store only, never on the workers.

pub mod cron;
pub mod maintenance;
pub mod metrics;
pub mod schedules;
pub mod tick;

pub use cron::{CronExpr, CronParseError};
pub use maintenance::{MaintenanceConfig, run_maintenance};
pub use schedules::{
    BootJob, Outcome, Schedule, ScheduleConfig, ScheduleError, Scheduler, push_tick, run_now,
};
pub use tick::{Due, MissedTicks, due};
