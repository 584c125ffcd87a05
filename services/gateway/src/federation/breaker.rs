//! A circuit breaker per peer: after `threshold` failures in a row, calls
//! fail at once for `cooldown`; then one is let through, and its outcome
//! closes the breaker or opens it again.

use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    /// The one call let through after the cooldown is under way.
    probing: bool,
}

impl Breaker {
    /// Whether a call may go out at `now`; after the cooldown, only one
    /// until its outcome is known.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        match self.open_until {
            None => true,
            Some(until) if now >= until && !self.probing => {
                self.probing = true;
                true
            }
            Some(_) => false,
        }
    }

    pub fn is_open(&self, now: Instant) -> bool {
        self.open_until.is_some_and(|until| now < until || self.probing)
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.open_until = None;
        self.probing = false;
    }

    /// Records a failure; true when it opens the breaker (again).
    pub fn failed(&mut self, now: Instant, threshold: u32, cooldown: Duration) -> bool {
        self.failures += 1;
        self.probing = false;
        if self.failures >= threshold {
            self.open_until = Some(now + cooldown);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_in_a_row_and_half_opens_after_the_cooldown() {
        let cooldown = Duration::from_secs(30);
        let t0 = Instant::now();
        let mut b = Breaker::default();
        assert!(b.try_acquire(t0));
        assert!(!b.failed(t0, 3, cooldown));
        b.succeeded();
        assert!(!b.failed(t0, 3, cooldown));
        assert!(!b.failed(t0, 3, cooldown));
        assert!(b.failed(t0, 3, cooldown));
        assert!(b.is_open(t0 + Duration::from_secs(29)));
        assert!(!b.try_acquire(t0 + Duration::from_secs(29)));
        // Half open: one call goes out, the others still fail fast.
        let later = t0 + cooldown;
        assert!(b.try_acquire(later));
        assert!(!b.try_acquire(later), "one probe at a time");
        // Its failure opens the breaker again at once.
        assert!(b.failed(later, 3, cooldown));
        assert!(b.is_open(later + Duration::from_secs(1)));
        // A probe's success closes it.
        let after = later + cooldown;
        assert!(b.try_acquire(after));
        b.succeeded();
        assert!(b.try_acquire(after));
        assert!(b.try_acquire(after));
    }
}
