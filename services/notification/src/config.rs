//! Notification's configuration (`sanshi config notification` prints the defaults).

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
