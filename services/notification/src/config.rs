//! Notification's configuration (`sanshi config notification` prints the defaults).

use crate::domain::addresses::{AddressPolicy, Cidr};
use kit::config::{AuthConfig, ConfigError, DatabaseConfig, ServerConfig, TelemetryConfig, Validate};
use serde::Deserialize;

pub const DEFAULTS: &str = r#"
[server]
host = "0.0.0.0"
port = 50056
request_timeout_ms = 30000
concurrency_limit = 512
max_message_bytes = 4194304
shutdown_grace_ms = 10000

[database]
url = "sqlite://data/notification.db"
max_connections = 8

[telemetry]
log_format = "json"
log_level = "info"

[auth]
issuer = "sanshi-identity"
audience = "sanshi"
identity_url = "http://127.0.0.1:50051"
client_id = "notification"
client_secret = ""

[consumers]
# The event streams notifications come from; empty: not followed.
qualification_url = ""
matching_url = ""
records_url = ""
incentive_url = ""

[webhook]
# Deliveries on both external channels (webhook and e-mail) follow this
# section's retry policy. Each attempt's time limit, and how often due
# deliveries (and due daily digests) are looked for.
timeout_ms = 5000
poll_ms = 1000
# Attempts before a delivery is dead-lettered; the waits between them double
# from the first to the longest, with jitter.
max_attempts = 6
initial_backoff_ms = 1000
max_backoff_ms = 300000
# Webhooks reach public internet addresses only: every address a webhook's
# host resolves to is checked at each delivery. These private blocks (CIDRs,
# e.g. "10.20.0.0/16" for a relay inside your network) are allowed as well.
# In the environment: comma-separated.
allowed_private_cidrs = []

[email]
# The SMTP relay; empty: no e-mail (deliveries go to webhooks only).
smtp_host = ""
smtp_port = 25
# "none" (a relay inside the cluster), "starttls" or "tls".
tls = "none"
username = ""
password = ""
from = "三师进社区平台 <noreply@sanshi.local>"
"#;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub telemetry: TelemetryConfig,
    pub auth: AuthConfig,
    pub consumers: ConsumersConfig,
    pub webhook: WebhookConfig,
    pub email: EmailConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: String,
    pub username: String,
    pub password: String,
    pub from: String,
}

impl EmailConfig {
    pub fn enabled(&self) -> bool {
        !self.smtp_host.is_empty()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub timeout_ms: u64,
    pub poll_ms: u64,
    pub max_attempts: i32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Private blocks webhooks may reach besides the public internet (CIDRs,
    /// checked by `validate`).
    #[serde(default, deserialize_with = "list_or_commas")]
    pub allowed_private_cidrs: Vec<String>,
}

impl WebhookConfig {
    /// Where webhooks may be sent; the error names the bad entry.
    pub fn addresses(&self) -> Result<AddressPolicy, ConfigError> {
        let mut allowed = Vec::with_capacity(self.allowed_private_cidrs.len());
        for (i, text) in self.allowed_private_cidrs.iter().enumerate() {
            let block = text
                .parse::<Cidr>()
                .map_err(|reason| ConfigError::new(format!("webhook.allowed_private_cidrs[{i}]"), reason))?;
            allowed.push(block);
        }
        Ok(AddressPolicy::new(allowed))
    }
}

/// A list of strings, or one string of comma-separated items: environment
/// variables carry no lists (`SANSHI_WEBHOOK__ALLOWED_PRIVATE_CIDRS=10.20.0.0/16,fd00::/8`).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct ListOrCommas;
    impl<'de> serde::de::Visitor<'de> for ListOrCommas {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of strings or a comma-separated string")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Vec<String>, E> {
            Ok(text
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(String::from)
                .collect())
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut all = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                all.push(item);
            }
            Ok(all)
        }
    }
    deserializer.deserialize_any(ListOrCommas)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumersConfig {
    pub qualification_url: String,
    pub matching_url: String,
    pub records_url: String,
    pub incentive_url: String,
}

impl ConsumersConfig {
    /// (consumer name, producer, URL) of each stream followed.
    pub fn streams(&self) -> Vec<(&'static str, &'static str, &str)> {
        [
            ("notification.qualification", "qualification", &self.qualification_url),
            ("notification.matching", "matching", &self.matching_url),
            ("notification.records", "records", &self.records_url),
            ("notification.incentive", "incentive", &self.incentive_url),
        ]
        .into_iter()
        .filter(|(_, _, url)| !url.is_empty())
        .map(|(name, producer, url)| (name, producer, url.as_str()))
        .collect()
    }
}

impl Config {
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        kit::config::load(DEFAULTS, file, "SANSHI")
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate("server")?;
        self.database.validate()?;
        self.telemetry.validate()?;
        self.auth.validate()?;
        let w = &self.webhook;
        if w.timeout_ms == 0 || w.poll_ms == 0 {
            return Err(ConfigError::new(
                "webhook.timeout_ms",
                "timeout_ms and poll_ms must be positive",
            ));
        }
        if w.max_attempts < 1 {
            return Err(ConfigError::new("webhook.max_attempts", "must be at least 1"));
        }
        if w.initial_backoff_ms == 0 || w.max_backoff_ms < w.initial_backoff_ms {
            return Err(ConfigError::new(
                "webhook.initial_backoff_ms",
                "must be positive and at most max_backoff_ms",
            ));
        }
        w.addresses()?;
        if !["none", "starttls", "tls"].contains(&self.email.tls.as_str()) {
            return Err(ConfigError::new("email.tls", "must be none, starttls or tls"));
        }
        if self.email.enabled() && self.email.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "email.from",
                "must be an address, e.g. 平台 <noreply@example.cn>",
            ));
        }
        for (name, _, url) in self.consumers.streams() {
            let key = format!("consumers.{}_url", name.trim_start_matches("notification."));
            kit::config::require_http_url(&key, url)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn the_allow_list_is_checked_and_read_from_the_environment() {
        let config: Config = kit::config::from_toml(DEFAULTS, "").unwrap();
        assert!(config.webhook.allowed_private_cidrs.is_empty());
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(!config.webhook.addresses().unwrap().permits(loopback));

        let bad = kit::config::from_toml::<Config>(
            DEFAULTS,
            "[webhook]\nallowed_private_cidrs = [\"127.0.0.0/8\", \"10.0.0.1/8\"]\n",
        )
        .unwrap_err();
        assert_eq!(bad.key, "webhook.allowed_private_cidrs[1]");

        let vars = [(
            "SANSHI_WEBHOOK__ALLOWED_PRIVATE_CIDRS".to_string(),
            "127.0.0.0/8, ::1/128".to_string(),
        )];
        let config: Config = kit::config::load_with_vars(DEFAULTS, None, "SANSHI", vars.into_iter()).unwrap();
        assert_eq!(config.webhook.allowed_private_cidrs, ["127.0.0.0/8", "::1/128"]);
        assert!(config.webhook.addresses().unwrap().permits(loopback));
    }
}
