//! Text messages to phones (one-time codes), behind [`SmsSender`].
//!
//! Providers (`sms.provider`): `none` sends nothing (codes cannot be
//! requested, so nobody can register); `log` writes each message to the log
//! at info under target `sanshi::sms` instead of sending it — for `sanshi
//! dev` only, since whoever reads the log can then register any number. A
//! provider that delivers (an SMS gateway's HTTP API) is still to come.
//! Tests and `sanshi dev` pass an [`Outbox`] to [`crate::start_with`] to read
//! the codes sent.

use futures::future::BoxFuture;
use kit::pii::PhoneNumber;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The log target of the `log` provider's messages.
pub const LOG_TARGET: &str = "sanshi::sms";

#[derive(Debug, Clone, thiserror::Error)]
#[error("sms not sent: {0}")]
pub struct SmsError(pub String);

/// Sends a text message to a phone.
pub trait SmsSender: Send + Sync {
    fn send<'a>(&'a self, phone: &'a PhoneNumber, text: &'a str) -> BoxFuture<'a, Result<(), SmsError>>;
}

/// The configured provider: `None` for `none`.
pub fn from_config(config: &crate::config::SmsConfig) -> Option<Arc<dyn SmsSender>> {
    match config.provider.as_str() {
        "log" => Some(Arc::new(LogSms) as Arc<dyn SmsSender>),
        _ => None,
    }
}

/// Writes messages to the log instead of sending them (development only).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSms;

impl SmsSender for LogSms {
    fn send<'a>(&'a self, phone: &'a PhoneNumber, text: &'a str) -> BoxFuture<'a, Result<(), SmsError>> {
        log_message(phone, text);
        Box::pin(async { Ok::<(), SmsError>(()) })
    }
}

fn log_message(phone: &PhoneNumber, text: &str) {
    tracing::info!(target: "sanshi::sms", phone = %phone.masked(), text = text, "sms not delivered: log provider");
}

/// A message an [`Outbox`] kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The number as normalised (`13812345678`).
    pub phone: String,
    pub text: String,
}

/// Messages kept at most; older ones are dropped.
const OUTBOX_CAPACITY: usize = 1000;

/// Keeps the messages it is given in memory (and, when made with
/// [`Outbox::logging`], logs them as [`LogSms`] does), for tests and `sanshi
/// dev` to read the codes. Clones share the messages.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    sent: Arc<Mutex<VecDeque<Sent>>>,
    log: bool,
}

impl Outbox {
    pub fn new() -> Self {
        Self::default()
    }

    /// An outbox that also writes each message to the log.
    pub fn logging() -> Self {
        Self {
            log: true,
            ..Self::default()
        }
    }

    fn messages(&self) -> std::sync::MutexGuard<'_, VecDeque<Sent>> {
        self.sent.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every message kept, oldest first.
    pub fn all(&self) -> Vec<Sent> {
        self.messages().iter().cloned().collect()
    }

    /// The messages to `phone` (as typed; normalised first), oldest first.
    pub fn sent_to(&self, phone: &str) -> Vec<String> {
        let phone = PhoneNumber::parse(phone)
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        self.messages()
            .iter()
            .filter(|m| m.phone == phone)
            .map(|m| m.text.clone())
            .collect()
    }

    /// The code of the newest message to `phone`, if any.
    pub fn last_code(&self, phone: &str) -> Option<String> {
        self.sent_to(phone).last().and_then(|text| code_in(text))
    }

    /// Waits (10 s at most) until `phone` has been sent `count` messages,
    /// and returns the code of the `count`-th (1-based). Codes are sent
    /// after the request is answered, so a test waits for them.
    pub async fn wait_code(&self, phone: &str, count: usize) -> Option<String> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let sent = self.sent_to(phone);
            if sent.len() >= count {
                return sent.get(count.checked_sub(1)?).and_then(|text| code_in(text));
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl SmsSender for Outbox {
    fn send<'a>(&'a self, phone: &'a PhoneNumber, text: &'a str) -> BoxFuture<'a, Result<(), SmsError>> {
        if self.log {
            log_message(phone, text);
        }
        {
            let mut sent = self.messages();
            if sent.len() >= OUTBOX_CAPACITY {
                sent.pop_front();
            }
            sent.push_back(Sent {
                phone: phone.as_str().to_string(),
                text: text.to_string(),
            });
        }
        Box::pin(async { Ok::<(), SmsError>(()) })
    }
}

/// The first run of 6 digits in a message: its code.
pub fn code_in(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.windows(6).enumerate().find_map(|(i, w)| {
        let bounded =
            (i == 0 || !chars[i - 1].is_ascii_digit()) && chars.get(i + 6).is_none_or(|c| !c.is_ascii_digit());
        (bounded && w.iter().all(|c| c.is_ascii_digit())).then(|| w.iter().collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_found_in_the_message() {
        let text = crate::domain::phone_code::message("012345", chrono::Duration::minutes(5));
        assert_eq!(code_in(&text).as_deref(), Some("012345"));
        assert_eq!(code_in("no code here 12345 or 1234567"), None);
    }

    #[tokio::test]
    async fn the_outbox_keeps_messages_per_phone() {
        let outbox = Outbox::new();
        let phone = PhoneNumber::parse("13812345678").unwrap();
        let other = PhoneNumber::parse("13900001111").unwrap();
        outbox.send(&phone, "您的验证码是 111111").await.unwrap();
        outbox.send(&other, "您的验证码是 222222").await.unwrap();
        outbox.send(&phone, "您的验证码是 333333").await.unwrap();
        assert_eq!(outbox.sent_to("+86 138-1234-5678").len(), 2);
        assert_eq!(outbox.last_code("13812345678").as_deref(), Some("333333"));
        assert_eq!(outbox.wait_code("13812345678", 1).await.as_deref(), Some("111111"));
        assert_eq!(outbox.clone().last_code("13900001111").as_deref(), Some("222222"));
        assert!(outbox.sent_to("13700000000").is_empty());
    }
}
