//! Qualification's configuration (`sanshi config qualification` prints the defaults).

use kit::config::{AuthConfig, ConfigError, DatabaseConfig, PiiConfig, ServerConfig, TelemetryConfig, Validate};
use serde::Deserialize;

pub const DEFAULTS: &str = r#"
[server]
host = "0.0.0.0"
port = 50052
request_timeout_ms = 30000
concurrency_limit = 512
max_message_bytes = 4194304
shutdown_grace_ms = 10000

[database]
url = "sqlite://data/qualification.db"
max_connections = 8

[telemetry]
log_format = "json"
log_level = "info"

[auth]
issuer = "sanshi-identity"
audience = "sanshi"
identity_url = "http://127.0.0.1:50051"
client_id = "qualification"
client_secret = ""

[pii]
encryption_key = ""
hash_key = ""

[rules]
min_years_of_practice = 5
validity_months = 36
# How often approved qualifications past their validity are marked expired.
expiry_sweep_secs = 3600
"#;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub telemetry: TelemetryConfig,
    pub auth: AuthConfig,
    pub pii: PiiConfig,
    pub rules: RulesConfig,
}

/// The programme's rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Years of practice an applicant needs on the submission date.
    pub min_years_of_practice: u32,
    /// How long a qualification lasts before it must be renewed.
    pub validity_months: u32,
    pub expiry_sweep_secs: u64,
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
        self.pii.validate()?;
        if self.rules.min_years_of_practice > 60 {
            return Err(ConfigError::new("rules.min_years_of_practice", "must be at most 60"));
        }
        if self.rules.expiry_sweep_secs == 0 {
            return Err(ConfigError::new("rules.expiry_sweep_secs", "must be positive"));
        }
        if !(1..=120).contains(&self.rules.validity_months) {
            return Err(ConfigError::new("rules.validity_months", "must be between 1 and 120"));
        }
        Ok(())
    }
}
