//! The scheduler of Dezky Jobs. Today it runs queue maintenance: the rescue of expired leases
//! (so a crashed worker's jobs come back even when no worker polls their queue) and retention
//! (finished jobs are deleted after their keep time). Seeding on boot and cron-triggered jobs,
//! with exactly one job per tick across replicas, come next. It depends on the queue only, never
//! on the workers.

pub mod maintenance;

pub use maintenance::{MaintenanceConfig, run_maintenance};
