//! Health checks as Mesos runs them for its Docker executor: `check` reads
//! the definition (TaskInfo.health_check or Marathon's app JSON),
//! `schedule` is the pure state machine (delay, interval, grace, consecutive
//! failures), `net` probes HTTP and TCP from inside the container's network
//! namespace, and `watch` drives it all for a running task.

pub mod check;
pub mod net;
pub mod schedule;
pub mod watch;

pub use check::{Check, CheckError, Probe, Timing, for_task};
pub use watch::{Change, Watcher};
