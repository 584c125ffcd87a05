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
"#;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub telemetry: TelemetryConfig,
    pub auth: AuthConfig,
    pub consumers: ConsumersConfig,
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
        for (name, _, url) in self.consumers.streams() {
            let key = format!("consumers.{}_url", name.trim_start_matches("notification."));
            kit::config::require_http_url(&key, url)?;
        }
        Ok(())
    }
}
