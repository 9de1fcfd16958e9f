//! When to probe and what a probe's result means, as Mesos' health checker
//! decides it (src/checks/health_checker.cpp): the first probe after the
//! delay, the next one an interval after each result; failures before the
//! first success are ignored while the grace period (counted from the start)
//! lasts; a change of health is reported; enough consecutive failures kill.
//! Pure: time is the caller's, given as the time since the checker started.

use std::time::Duration;

use super::check::Timing;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The task's health changed to this.
    pub report: Option<bool>,
    /// Kill the task: the consecutive failures reached the limit. Probing
    /// stops with it.
    pub kill: bool,
    /// Consecutive failures counted so far (not those ignored in grace).
    pub failures: u32,
    /// When to probe next, as time since the start; `None` after a kill.
    pub next: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    timing: Timing,
    /// No success yet: failures within the grace period do not count.
    initializing: bool,
    failures: u32,
    healthy: Option<bool>,
}

impl Schedule {
    pub fn new(timing: Timing) -> Schedule {
        Schedule {
            timing,
            initializing: true,
            failures: 0,
            healthy: None,
        }
    }

    pub fn first_probe(&self) -> Duration {
        self.timing.delay
    }

    /// A probe's result arrived `at` (time since start).
    pub fn record(&mut self, at: Duration, ok: bool) -> Verdict {
        let next = Some(at + self.timing.interval);
        if ok {
            self.initializing = false;
            self.failures = 0;
            return Verdict {
                report: self.change_to(true),
                kill: false,
                failures: 0,
                next,
            };
        }
        let grace = self.timing.grace;
        if self.initializing && !grace.is_zero() && at <= grace {
            return Verdict {
                report: None,
                kill: false,
                failures: 0,
                next,
            };
        }
        self.failures += 1;
        let kill = self.timing.kill_after.is_some_and(|n| self.failures >= n);
        Verdict {
            report: self.change_to(false),
            kill,
            failures: self.failures,
            next: if kill { None } else { next },
        }
    }

    fn change_to(&mut self, healthy: bool) -> Option<bool> {
        let changed = self.healthy != Some(healthy);
        self.healthy = Some(healthy);
        changed.then_some(healthy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(delay: u64, interval: u64, grace: u64, kill_after: Option<u32>) -> Timing {
        Timing {
            delay: Duration::from_secs(delay),
            interval: Duration::from_secs(interval),
            timeout: Some(Duration::from_secs(1)),
            grace: Duration::from_secs(grace),
            kill_after,
        }
    }

    /// (at second, probe ok) → (report, kill, failures, next probe second).
    type Row = (u64, bool, Option<bool>, bool, u32, Option<u64>);

    fn run(t: Timing, rows: &[Row]) {
        let mut s = Schedule::new(t.clone());
        for (i, &(at, ok, report, kill, failures, next)) in rows.iter().enumerate() {
            let got = s.record(Duration::from_secs(at), ok);
            let want = Verdict {
                report,
                kill,
                failures,
                next: next.map(Duration::from_secs),
            };
            assert_eq!(got, want, "row {i} ({at}s, ok={ok}) with {t:?}");
        }
    }

    #[test]
    fn first_probe_waits_for_the_delay() {
        assert_eq!(
            Schedule::new(timing(15, 10, 10, Some(3))).first_probe(),
            Duration::from_secs(15)
        );
        assert_eq!(
            Schedule::new(timing(0, 1, 0, None)).first_probe(),
            Duration::ZERO
        );
    }

    #[test]
    fn a_first_success_reports_healthy_once() {
        run(
            timing(0, 10, 0, Some(3)),
            &[
                (0, true, Some(true), false, 0, Some(10)),
                (10, true, None, false, 0, Some(20)),
                (20, true, None, false, 0, Some(30)),
            ],
        );
    }

    #[test]
    fn failures_in_grace_before_any_success_are_ignored() {
        run(
            timing(0, 5, 12, Some(2)),
            &[
                (0, false, None, false, 0, Some(5)),
                (5, false, None, false, 0, Some(10)),
                (10, false, None, false, 0, Some(15)),
                // The grace ends at 12 s: from here failures count.
                (15, false, Some(false), false, 1, Some(20)),
                (20, false, None, true, 2, None),
            ],
        );
    }

    #[test]
    fn the_grace_boundary_is_inclusive() {
        run(
            timing(0, 1, 3, Some(1)),
            &[
                (3, false, None, false, 0, Some(4)),
                (4, false, Some(false), true, 1, None),
            ],
        );
    }

    #[test]
    fn after_a_success_the_grace_no_longer_shields() {
        run(
            timing(0, 1, 100, Some(2)),
            &[
                (0, true, Some(true), false, 0, Some(1)),
                (1, false, Some(false), false, 1, Some(2)),
                (2, false, None, true, 2, None),
            ],
        );
    }

    #[test]
    fn a_success_resets_the_count_and_reports_recovery() {
        run(
            timing(0, 1, 0, Some(3)),
            &[
                (0, false, Some(false), false, 1, Some(1)),
                (1, false, None, false, 2, Some(2)),
                (2, true, Some(true), false, 0, Some(3)),
                (3, false, Some(false), false, 1, Some(4)),
                (4, false, None, false, 2, Some(5)),
                (5, false, None, true, 3, None),
            ],
        );
    }

    #[test]
    fn zero_grace_counts_from_the_first_probe() {
        run(
            timing(0, 1, 0, Some(1)),
            &[(0, false, Some(false), true, 1, None)],
        );
    }

    #[test]
    fn no_limit_never_kills() {
        run(
            timing(0, 1, 0, None),
            &[
                (0, false, Some(false), false, 1, Some(1)),
                (1, false, None, false, 2, Some(2)),
                (50, false, None, false, 3, Some(51)),
            ],
        );
    }

    #[test]
    fn mesos_zero_consecutive_failures_kills_at_the_first_counted_failure() {
        // Mesos compares `failures >= consecutive_failures`.
        run(
            timing(0, 1, 0, Some(0)),
            &[(0, false, Some(false), true, 1, None)],
        );
    }

    #[test]
    fn the_next_probe_follows_the_result_not_the_start() {
        // A slow probe (result at 7 s) pushes the next one to 7 + interval.
        run(
            timing(2, 3, 0, Some(3)),
            &[
                (7, true, Some(true), false, 0, Some(10)),
                (10, true, None, false, 0, Some(13)),
            ],
        );
    }
}
