//! Retry delays that double up to a ceiling, each drawn at random from its
//! upper half. Executors that lost the same agent at the same moment (an
//! agent restart drops every one of them) would otherwise retry in lockstep,
//! a hundred at a time.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    next: Duration,
    max: Duration,
    rng: fastrand::Rng,
}

impl Backoff {
    /// Delays from about `first` doubling to `max`, never above `max`.
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff::with_rng(first, max, fastrand::Rng::new())
    }

    fn with_rng(first: Duration, max: Duration, rng: fastrand::Rng) -> Backoff {
        let first = first.min(max);
        Backoff {
            first,
            next: first,
            max,
            rng,
        }
    }

    /// The delay before the next attempt: between half the nominal delay and
    /// all of it, so retries spread out but never come faster than half.
    pub fn next_delay(&mut self) -> Duration {
        let nominal = self.next;
        self.next = (nominal * 2).min(self.max);
        nominal / 2 + nominal.mul_f64(self.rng.f64() / 2.0)
    }

    /// After a success: start again from the first delay.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_within_their_upper_half_and_stop_at_the_ceiling() {
        for seed in 0..200 {
            let mut b = Backoff::with_rng(100 * MS, 2000 * MS, fastrand::Rng::with_seed(seed));
            for nominal in [100, 200, 400, 800, 1600, 2000, 2000, 2000] {
                let d = b.next_delay();
                assert!(
                    d >= nominal * MS / 2 && d <= nominal * MS,
                    "seed {seed}: {d:?} outside [{}, {nominal}] ms",
                    nominal / 2
                );
            }
        }
    }

    #[test]
    fn executors_started_together_draw_different_delays() {
        let delays: Vec<Duration> = (0..100)
            .map(|_| {
                let mut b = Backoff::new(2000 * MS, 2000 * MS);
                b.next_delay()
            })
            .collect();
        let (lo, hi) = (delays.iter().min().unwrap(), delays.iter().max().unwrap());
        assert!(
            *hi - *lo > 500 * MS,
            "100 executors in step: {lo:?}..{hi:?}"
        );
    }

    #[test]
    fn reset_starts_over_and_a_first_above_the_ceiling_is_capped() {
        let mut b = Backoff::new(100 * MS, 2000 * MS);
        for _ in 0..10 {
            b.next_delay();
        }
        b.reset();
        assert!(b.next_delay() <= 100 * MS);
        let mut capped = Backoff::new(5000 * MS, 300 * MS);
        assert!(capped.next_delay() <= 300 * MS);
    }
}
