//! Login lockout: too many failures for one username within a window lock
//! further attempts until the oldest of those failures leaves the window.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub max_failures: usize,
    pub window: Duration,
}

/// When the lock lifts, or `None` when not locked. `failures` are the
/// failures since the last successful login, in any order.
pub fn locked_until(policy: LockoutPolicy, failures: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut recent: Vec<_> = failures.iter().copied().filter(|t| *t > now - policy.window).collect();
    if policy.max_failures == 0 || recent.len() < policy.max_failures {
        return None;
    }
    recent.sort_unstable_by(|a, b| b.cmp(a));
    // The lock holds while `max_failures` failures remain inside the window.
    Some(recent[policy.max_failures - 1] + policy.window)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: LockoutPolicy = LockoutPolicy {
        max_failures: 5,
        window: Duration::minutes(15),
    };

    #[test]
    fn five_failures_in_fifteen_minutes_lock() {
        let now = Utc::now();
        let four: Vec<_> = (0..4).map(|i| now - Duration::minutes(i)).collect();
        assert_eq!(locked_until(POLICY, &four, now), None);
        let mut five = four.clone();
        five.push(now - Duration::minutes(10));
        assert_eq!(
            locked_until(POLICY, &five, now),
            Some(now - Duration::minutes(10) + Duration::minutes(15))
        );
    }

    #[test]
    fn old_failures_do_not_count() {
        let now = Utc::now();
        let mut failures: Vec<_> = (0..4).map(|i| now - Duration::minutes(i)).collect();
        failures.push(now - Duration::minutes(16));
        assert_eq!(locked_until(POLICY, &failures, now), None);
    }
}
