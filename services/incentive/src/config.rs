//! Incentive's configuration (`sanshi config incentive` prints the defaults).

use crate::domain::points::RuleBook;
use kit::config::{AuthConfig, ConfigError, DatabaseConfig, PiiConfig, ServerConfig, TelemetryConfig, Validate};
use serde::Deserialize;

pub const DEFAULTS: &str = r#"
[server]
host = "0.0.0.0"
port = 50055
request_timeout_ms = 30000
concurrency_limit = 512
max_message_bytes = 4194304
shutdown_grace_ms = 10000

[database]
url = "sqlite://data/incentive.db"
max_connections = 8

[telemetry]
log_format = "json"
log_level = "info"

[auth]
issuer = "sanshi-identity"
audience = "sanshi"
identity_url = "http://127.0.0.1:50051"
client_id = "incentive"
client_secret = ""

[pii]
# Seals remembered responses (idempotency keys) and personal data.
encryption_key = ""
hash_key = ""

[consumers]
# Records' event stream (scored service records); empty: not followed.
records_url = ""
# Qualification's event stream (names, professions, specialties, standing).
qualification_url = ""

[rules]
# A TOML file of scoring rule sets ([[rule_sets]] with effective_from and
# rules); empty: the standard rules of every year. Checked at start.
rule_sets_file = ""
"#;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub telemetry: TelemetryConfig,
    pub auth: AuthConfig,
    pub pii: PiiConfig,
    pub consumers: ConsumersConfig,
    pub rules: RulesConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    pub rule_sets_file: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumersConfig {
    pub records_url: String,
    pub qualification_url: String,
}

impl Config {
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        kit::config::load(DEFAULTS, file, "SANSHI")
    }

    /// The scoring rules: the rule sets file, read and checked, or the standard rules.
    pub fn rule_book(&self) -> Result<RuleBook, ConfigError> {
        let path = &self.rules.rule_sets_file;
        if path.is_empty() {
            return Ok(RuleBook::default());
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("rules.rule_sets_file", format!("cannot read {path}: {e}")))?;
        RuleBook::parse(&text)
            .map_err(|e| ConfigError::new("rules.rule_sets_file", format!("{path}: {}: {}", e.field, e.message)))
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate("server")?;
        self.database.validate()?;
        self.telemetry.validate()?;
        self.auth.validate()?;
        self.pii.validate()?;
        if !self.consumers.records_url.is_empty() {
            kit::config::require_http_url("consumers.records_url", &self.consumers.records_url)?;
        }
        if !self.consumers.qualification_url.is_empty() {
            kit::config::require_http_url("consumers.qualification_url", &self.consumers.qualification_url)?;
        }
        self.rule_book()?;
        Ok(())
    }
}
