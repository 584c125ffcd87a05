//! Login throttling per account *and* source.
//!
//! Failures are counted per (account name, source), never per account alone:
//! whoever guesses from one address slows down only that address, and the
//! holder logging in from elsewhere is never refused because of it (a lock
//! per account let anyone lock out any named account, the admin included).
//!
//! The first `max_failures` failures within `window` cost nothing; from then
//! on the source waits after each failure, `base_delay` doubling per further
//! failure up to `max_delay` (defaults: 5 free, then 1, 2, 4, 8, 15, 15 …
//! minutes). Failures older than `window` are forgotten, and a successful
//! login from the source clears its failures.

use chrono::{DateTime, Duration, Utc};
use kit::auth::PrincipalKind;
use std::fmt;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures from one source that cost no wait.
    pub max_failures: usize,
    /// How long a failure is remembered.
    pub window: Duration,
    /// The wait after the `max_failures`-th failure.
    pub base_delay: Duration,
    /// The longest wait; at most `window`, so that the failures behind a
    /// wait are still remembered while it lasts.
    pub max_delay: Duration,
}

impl LockoutPolicy {
    /// The wait imposed after a source's `failures`-th remembered failure.
    pub fn delay_after(&self, failures: usize) -> Duration {
        if self.max_failures == 0 || failures < self.max_failures {
            return Duration::zero();
        }
        // 2^20 times any sane base is far past any sane cap.
        let doublings = (failures - self.max_failures).min(20) as u32;
        let millis = self
            .base_delay
            .num_milliseconds()
            .saturating_mul(1i64 << doublings)
            .min(self.max_delay.num_milliseconds());
        Duration::milliseconds(millis)
    }
}

/// When the source may try again, or `None` when it may now. `failures` are
/// the source's failures on the account since its last success, in any order.
pub fn locked_until(policy: LockoutPolicy, failures: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let recent: Vec<_> = failures.iter().copied().filter(|t| *t > now - policy.window).collect();
    let latest = recent.iter().max()?;
    let until = *latest + policy.delay_after(recent.len());
    (until > now).then_some(until)
}

/// What the person is told while their source waits: when to try again,
/// rounded up to the second, or to the minute past one.
pub fn lockout_message(wait: Duration) -> String {
    format!("登录失败次数过多，请 {}后再试", super::wait_in_words(wait))
}

/// Where a login attempt comes from: a client's address. IPv6 clients are
/// taken by their /64, which one subscriber usually holds whole: counting
/// each of its 2^64 addresses apart would make the limit meaningless.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoginSource(String);

impl LoginSource {
    pub fn from_ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(v4.to_string()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(v4.to_string()),
                None => {
                    let s = v6.segments();
                    Self(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
                }
            },
        }
    }

    /// An address as a client names it (`203.0.113.7`, `2001:db8::1`, or
    /// either with a port); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        text.parse::<IpAddr>()
            .ok()
            .or_else(|| text.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
            .map(Self::from_ip)
    }

    /// Calls whose peer address is unknown (not over TCP) share one source.
    pub fn unknown() -> Self {
        Self("unknown".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LoginSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The account kind as stored and as the login metrics label it.
pub fn kind_label(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::Person => "person",
        PrincipalKind::Service => "service",
    }
}

/// Whose failures one lockout counts: one account name of one kind, tried
/// from one source. People and services count apart, so that failed logins
/// as a service's client id through the public login cannot slow the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptKey {
    kind: PrincipalKind,
    account: String,
    source: LoginSource,
}

impl AttemptKey {
    /// `account` is the name as audited: the username, or a keyed hash of a
    /// name no account has (never what was typed, which may be a password).
    pub fn new(kind: PrincipalKind, account: impl Into<String>, source: LoginSource) -> Self {
        Self {
            kind,
            account: account.into(),
            source,
        }
    }

    /// The stored key, `person:<account>@<source>`: at most 8 + 32 + 1 + 24
    /// characters (usernames have at most 32, a /64 prefix 24).
    pub fn bucket(&self) -> String {
        format!("{}:{}@{}", kind_label(self.kind), self.account, self.source)
    }

    pub fn kind(&self) -> PrincipalKind {
        self.kind
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn source(&self) -> &LoginSource {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: LockoutPolicy = LockoutPolicy {
        max_failures: 5,
        window: Duration::hours(1),
        base_delay: Duration::minutes(1),
        max_delay: Duration::minutes(15),
    };

    fn ago(now: DateTime<Utc>, minutes: &[i64]) -> Vec<DateTime<Utc>> {
        minutes.iter().map(|m| now - Duration::minutes(*m)).collect()
    }

    #[test]
    fn five_failures_are_free_then_the_source_waits() {
        let now = Utc::now();
        assert_eq!(locked_until(POLICY, &[], now), None);
        assert_eq!(locked_until(POLICY, &[now; 4], now), None);
        assert_eq!(locked_until(POLICY, &[now; 5], now), Some(now + Duration::minutes(1)));
        // The wait runs from the latest failure.
        let five = ago(now, &[0, 1, 2, 3, 4]);
        assert_eq!(locked_until(POLICY, &five, now), Some(now + Duration::minutes(1)));
        let earlier = ago(now, &[2, 3, 4, 5, 6]);
        assert_eq!(locked_until(POLICY, &earlier, now), None, "waited long enough");
    }

    #[test]
    fn each_further_failure_doubles_the_wait_up_to_the_cap() {
        let schedule: Vec<i64> = (4..=12).map(|n| POLICY.delay_after(n).num_seconds()).collect();
        assert_eq!(schedule, [0, 60, 120, 240, 480, 900, 900, 900, 900]);
        assert_eq!(POLICY.delay_after(10_000), Duration::minutes(15), "no overflow");
        let now = Utc::now();
        let seven = ago(now, &[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(locked_until(POLICY, &seven, now), Some(now + Duration::minutes(3)));
    }

    #[test]
    fn old_failures_are_forgotten() {
        let now = Utc::now();
        assert_eq!(locked_until(POLICY, &ago(now, &[0, 1, 2, 3, 61]), now), None);
        assert_eq!(locked_until(POLICY, &ago(now, &[0, 1, 2, 61, 62, 63]), now), None);
    }

    #[test]
    fn the_message_says_when_to_retry() {
        assert_eq!(
            lockout_message(Duration::milliseconds(59_500)),
            "登录失败次数过多，请 1 分钟后再试"
        );
        assert_eq!(
            lockout_message(Duration::seconds(61)),
            "登录失败次数过多，请 2 分钟后再试"
        );
        assert_eq!(
            lockout_message(Duration::seconds(30)),
            "登录失败次数过多，请 30 秒后再试"
        );
        assert_eq!(lockout_message(Duration::zero()), "登录失败次数过多，请 1 秒后再试");
    }

    #[test]
    fn sources_are_addresses_and_ipv6_counts_by_slash_64() {
        assert_eq!(LoginSource::parse("203.0.113.7").unwrap().as_str(), "203.0.113.7");
        assert_eq!(LoginSource::parse(" 203.0.113.7:443 ").unwrap().as_str(), "203.0.113.7");
        assert_eq!(
            LoginSource::parse("::ffff:203.0.113.7").unwrap().as_str(),
            "203.0.113.7"
        );
        let a = LoginSource::parse("2001:db8:1:2::1").unwrap();
        let b = LoginSource::parse("[2001:db8:1:2:aaaa::9]:8080").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "2001:db8:1:2::/64");
        assert_ne!(a, LoginSource::parse("2001:db8:1:3::1").unwrap());
        for junk in ["", "localhost", "203.0.113", "1.2.3.4, 5.6.7.8", "unknown"] {
            assert_eq!(LoginSource::parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn buckets_separate_kinds_and_sources() {
        let a = LoginSource::parse("203.0.113.7").unwrap();
        let b = LoginSource::parse("198.51.100.1").unwrap();
        let person = AttemptKey::new(PrincipalKind::Person, "city", a.clone());
        assert_eq!(person.bucket(), "person:city@203.0.113.7");
        assert_ne!(
            person.bucket(),
            AttemptKey::new(PrincipalKind::Person, "city", b).bucket()
        );
        assert_ne!(
            person.bucket(),
            AttemptKey::new(PrincipalKind::Service, "city", a).bucket()
        );
        let longest = AttemptKey::new(
            PrincipalKind::Service,
            "a".repeat(32),
            LoginSource::parse("ffff:ffff:ffff:ffff::1").unwrap(),
        );
        assert!(longest.bucket().chars().count() <= 80, "fits login_failures.bucket");
    }
}
