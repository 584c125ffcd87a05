//! One-time codes that prove a person holds a phone number (registration).
//!
//! A code is 6 digits from a CSPRNG, texted to the number and stored only as
//! a keyed hash (HMAC-SHA-256 under a key derived from `pii.hash_key`) next to
//! a keyed hash of the number: neither the code nor the number is kept in the
//! clear. A code lives `ttl`, is spent by its first successful use, and is
//! void after `max_attempts` wrong guesses. Sending is limited per number (one
//! per `resend_interval`, `per_phone_per_hour` an hour) and per client address
//! (`per_source_per_hour` an hour).
//!
//! Nothing here tells whether a number has an account: requesting a code
//! answers alike, and registering with a registered number fails exactly as
//! a wrong code does ([`WRONG_CODE`]).

use chrono::{DateTime, Duration, Utc};

/// Digits in a code.
pub const CODE_DIGITS: usize = 6;

/// The one answer to a wrong, expired, spent or voided code, and to a number
/// that already has an account.
pub const WRONG_CODE: &str = "验证码错误或已过期";

/// How long the sending limits look back.
pub const RATE_WINDOW: Duration = Duration::hours(1);

/// What a code proves the number for; a code for one purpose proves nothing
/// for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    Registration,
}

impl Purpose {
    /// As stored (`phone_codes.purpose`) and hashed.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Registration => "registration",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneCodePolicy {
    /// How long a code is valid.
    pub ttl: Duration,
    /// Wrong guesses after which a code is void.
    pub max_attempts: i32,
    /// The shortest time between two codes to one number.
    pub resend_interval: Duration,
    /// Codes to one number within [`RATE_WINDOW`].
    pub per_phone_per_hour: usize,
    /// Codes requested from one client address within [`RATE_WINDOW`].
    pub per_source_per_hour: usize,
}

impl Default for PhoneCodePolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::minutes(5),
            max_attempts: 5,
            resend_interval: Duration::seconds(60),
            per_phone_per_hour: 5,
            per_source_per_hour: 10,
        }
    }
}

/// A new code: [`CODE_DIGITS`] decimal digits, uniformly drawn.
pub fn new_code(rng: &mut (impl rand::Rng + rand::CryptoRng)) -> String {
    format!("{:06}", rng.gen_range(0..1_000_000u32))
}

/// The code as typed: surrounding blanks are ignored; it must be 6 digits.
pub fn parse_code(input: &str) -> Result<String, &'static str> {
    let code = input.trim();
    if code.is_empty() {
        return Err("请输入短信验证码");
    }
    if code.len() != CODE_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err("验证码为 6 位数字");
    }
    Ok(code.to_string())
}

/// The stored form of `code` sent to the number whose keyed hash is
/// `phone_hash`, for `purpose`: hex HMAC-SHA-256 under `key`. Bound to the
/// number and purpose, so it proves nothing for another.
pub fn code_mac(key: &[u8; 32], purpose: Purpose, phone_hash: &str, code: &str) -> String {
    kit::pii::mac_hex(
        key,
        &[purpose.as_str().as_bytes(), phone_hash.as_bytes(), code.as_bytes()],
    )
}

/// Equality whose time does not depend on where the inputs differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A live code as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    pub mac: String,
    pub expires_at: DateTime<Utc>,
    /// Wrong guesses so far.
    pub attempts: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    /// Wrong: counts as an attempt.
    Wrong,
    Expired,
    /// Too many wrong guesses: void, even for the right code.
    Exhausted,
}

/// Whether `presented` (the MAC of what was typed) matches `stored` at `now`.
pub fn check(policy: &PhoneCodePolicy, stored: &StoredCode, presented: &str, now: DateTime<Utc>) -> Verdict {
    if stored.expires_at <= now {
        Verdict::Expired
    } else if stored.attempts >= policy.max_attempts {
        Verdict::Exhausted
    } else if same(&stored.mac, presented) {
        Verdict::Valid
    } else {
        Verdict::Wrong
    }
}

/// When the next code may be sent to a number that was sent codes at
/// `phone_sends` (any order) by a client that requested codes at
/// `source_sends`; `None` when now.
pub fn next_send_at(
    policy: &PhoneCodePolicy,
    phone_sends: &[DateTime<Utc>],
    source_sends: &[DateTime<Utc>],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let recent = |sends: &[DateTime<Utc>]| {
        let mut recent: Vec<_> = sends.iter().copied().filter(|t| *t > now - RATE_WINDOW).collect();
        recent.sort();
        recent
    };
    // With at most `limit` sends in any window, the next waits until the
    // `limit`-th most recent one leaves the window.
    let full = |sends: &[DateTime<Utc>], limit: usize| {
        (limit > 0 && sends.len() >= limit).then(|| sends[sends.len() - limit] + RATE_WINDOW)
    };
    let phone = recent(phone_sends);
    let source = recent(source_sends);
    [
        phone.last().map(|last| *last + policy.resend_interval),
        full(&phone, policy.per_phone_per_hour),
        full(&source, policy.per_source_per_hour),
    ]
    .into_iter()
    .flatten()
    .max()
    .filter(|until| *until > now)
}

/// What the requester is told while sending waits: when to try again,
/// rounded up to the second (up to the resend minute), or to the minute.
pub fn rate_limit_message(wait: Duration) -> String {
    format!("验证码发送过于频繁，请 {}后再试", super::wait_in_words(wait))
}

/// The text message carrying `code`.
pub fn message(code: &str, ttl: Duration) -> String {
    let minutes = ((ttl.num_seconds() + 59) / 60).max(1);
    format!("【三师进社区】您的验证码是 {code}，{minutes} 分钟内有效。请勿告诉他人。")
}

/// The sending limit's keys (`phone_code_requests.bucket`): keyed hashes of
/// the number or the client address, never either in the clear.
pub fn phone_bucket(phone_hash: &str) -> String {
    format!("phone:{phone_hash}")
}

pub fn source_bucket(source_hash: &str) -> String {
    format!("source:{source_hash}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const POLICY: PhoneCodePolicy = PhoneCodePolicy {
        ttl: Duration::minutes(5),
        max_attempts: 5,
        resend_interval: Duration::seconds(60),
        per_phone_per_hour: 5,
        per_source_per_hour: 10,
    };

    fn ago(now: DateTime<Utc>, minutes: &[i64]) -> Vec<DateTime<Utc>> {
        minutes.iter().map(|m| now - Duration::minutes(*m)).collect()
    }

    #[test]
    fn codes_are_six_digits_spread_over_the_whole_range() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let codes: Vec<String> = (0..2000).map(|_| new_code(&mut rng)).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        );
        assert!(codes.iter().any(|c| c.starts_with('0')), "leading zeros are kept");
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert!(distinct.len() > 1990, "{}", distinct.len());
        let code = new_code(&mut rand::rngs::OsRng);
        assert_eq!(code.len(), 6);
    }

    #[test]
    fn typed_codes_are_parsed() {
        assert_eq!(parse_code(" 012345 ").unwrap(), "012345");
        assert_eq!(parse_code("").unwrap_err(), "请输入短信验证码");
        for bad in ["12345", "1234567", "12345a", "１２３４５６"] {
            assert_eq!(parse_code(bad).unwrap_err(), "验证码为 6 位数字", "{bad}");
        }
    }

    #[test]
    fn the_stored_form_is_bound_to_key_number_purpose_and_code() {
        let key = [7u8; 32];
        let mac = code_mac(&key, Purpose::Registration, "phonehash", "123456");
        assert_eq!(mac.len(), 64);
        assert_eq!(mac, code_mac(&key, Purpose::Registration, "phonehash", "123456"));
        assert_ne!(mac, code_mac(&[8u8; 32], Purpose::Registration, "phonehash", "123456"));
        assert_ne!(mac, code_mac(&key, Purpose::Registration, "otherphone", "123456"));
        assert_ne!(mac, code_mac(&key, Purpose::Registration, "phonehash", "123457"));
    }

    #[test]
    fn a_code_is_valid_until_it_expires_or_is_guessed_at_too_often() {
        let now = Utc::now();
        let key = [1u8; 32];
        let right = code_mac(&key, Purpose::Registration, "h", "424242");
        let wrong = code_mac(&key, Purpose::Registration, "h", "424243");
        let stored = StoredCode {
            mac: right.clone(),
            expires_at: now + Duration::minutes(5),
            attempts: 0,
        };
        assert_eq!(check(&POLICY, &stored, &right, now), Verdict::Valid);
        assert_eq!(check(&POLICY, &stored, &wrong, now), Verdict::Wrong);
        let late = now + Duration::minutes(5);
        assert_eq!(check(&POLICY, &stored, &right, late), Verdict::Expired);
        let four = StoredCode {
            attempts: 4,
            ..stored.clone()
        };
        assert_eq!(check(&POLICY, &four, &right, now), Verdict::Valid);
        let five = StoredCode { attempts: 5, ..stored };
        assert_eq!(check(&POLICY, &five, &right, now), Verdict::Exhausted);
    }

    #[test]
    fn one_code_a_minute_and_five_an_hour_per_number() {
        let now = Utc::now();
        assert_eq!(next_send_at(&POLICY, &[], &[], now), None);
        let just = vec![now - Duration::seconds(20)];
        assert_eq!(
            next_send_at(&POLICY, &just, &just, now),
            Some(now + Duration::seconds(40))
        );
        assert_eq!(next_send_at(&POLICY, &ago(now, &[2]), &[], now), None);
        // Five in the last hour: the next when the oldest of them is an hour old.
        let five = ago(now, &[50, 40, 30, 20, 10]);
        assert_eq!(
            next_send_at(&POLICY, &five, &[], now),
            Some(now + Duration::minutes(10))
        );
        let four = ago(now, &[61, 40, 30, 20, 10]);
        assert_eq!(next_send_at(&POLICY, &four, &[], now), None, "older ones are forgotten");
    }

    #[test]
    fn ten_codes_an_hour_per_client_address() {
        let now = Utc::now();
        let nine = ago(now, &[55, 50, 45, 40, 35, 30, 25, 20, 15]);
        assert_eq!(next_send_at(&POLICY, &[], &nine, now), None);
        let mut ten = nine.clone();
        ten.push(now - Duration::minutes(5));
        assert_eq!(
            next_send_at(&POLICY, &[], &ten, now),
            Some(now + Duration::minutes(5)),
            "when the oldest of the ten is an hour old"
        );
    }

    #[test]
    fn the_message_says_when_to_retry() {
        assert_eq!(
            rate_limit_message(Duration::seconds(40)),
            "验证码发送过于频繁，请 40 秒后再试"
        );
        assert_eq!(
            rate_limit_message(Duration::milliseconds(59_500)),
            "验证码发送过于频繁，请 1 分钟后再试"
        );
        assert_eq!(
            rate_limit_message(Duration::seconds(61)),
            "验证码发送过于频繁，请 2 分钟后再试"
        );
        assert_eq!(
            rate_limit_message(Duration::minutes(10)),
            "验证码发送过于频繁，请 10 分钟后再试"
        );
        assert_eq!(
            rate_limit_message(Duration::zero()),
            "验证码发送过于频繁，请 1 秒后再试"
        );
    }

    #[test]
    fn the_text_names_the_code_and_its_lifetime() {
        assert_eq!(
            message("012345", Duration::minutes(5)),
            "【三师进社区】您的验证码是 012345，5 分钟内有效。请勿告诉他人。"
        );
    }

    #[test]
    fn buckets_fit_their_column() {
        let hash = "f".repeat(64);
        assert!(phone_bucket(&hash).len() <= 80);
        assert!(source_bucket(&hash).len() <= 80);
        assert_ne!(phone_bucket(&hash), source_bucket(&hash));
    }
}
