//! A circuit breaker per peer: after `threshold` failures in a row, calls
//! fail at once for `cooldown`; then one is let through, and its outcome
//! closes the breaker or opens it again.

use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

impl Breaker {
    /// Whether a call may go out at `now`.
    pub fn allows(&self, now: Instant) -> bool {
        self.open_until.is_none_or(|until| now >= until)
    }

    pub fn is_open(&self, now: Instant) -> bool {
        !self.allows(now)
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.open_until = None;
    }

    /// Records a failure; true when it opens the breaker.
    pub fn failed(&mut self, now: Instant, threshold: u32, cooldown: Duration) -> bool {
        self.failures += 1;
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
        assert!(b.allows(t0));
        assert!(!b.failed(t0, 3, cooldown));
        b.succeeded();
        assert!(!b.failed(t0, 3, cooldown));
        assert!(!b.failed(t0, 3, cooldown));
        assert!(b.failed(t0, 3, cooldown));
        assert!(b.is_open(t0 + Duration::from_secs(29)));
        // Half open: one call goes out; another failure opens it again at once.
        let later = t0 + cooldown;
        assert!(b.allows(later));
        assert!(b.failed(later, 3, cooldown));
        assert!(b.is_open(later + Duration::from_secs(1)));
        b.succeeded();
        assert!(b.allows(later + Duration::from_secs(1)));
    }
}
