//! Matching's configuration (`sanshi config matching` prints the defaults).

use kit::config::{AuthConfig, ConfigError, DatabaseConfig, PiiConfig, ServerConfig, TelemetryConfig, Validate};
use serde::Deserialize;

pub const DEFAULTS: &str = r#"
[server]
host = "0.0.0.0"
port = 50053
request_timeout_ms = 30000
concurrency_limit = 512
max_message_bytes = 4194304
shutdown_grace_ms = 10000

[database]
url = "sqlite://data/matching.db"
max_connections = 8

[telemetry]
log_format = "json"
log_level = "info"

[auth]
issuer = "sanshi-identity"
audience = "sanshi"
identity_url = "http://127.0.0.1:50051"
client_id = "matching"
client_secret = ""

[pii]
# Seals remembered responses (idempotency keys) and personal data.
encryption_key = ""
hash_key = ""

[consumers]
# Qualification's event stream, source of the professionals' read model;
# empty while there is none.
qualification_url = ""
# Incentive's event stream (star ratings, the city expert team); empty: not followed.
incentive_url = ""

[rules]
# Seconds an invitation or application waits for the other side (7 days).
offer_ttl_secs = 604800
# How often pending matches past their time are marked expired.
expiry_sweep_secs = 60
# Max active matches of a professional who has not set their own.
default_capacity = 3
max_capacity = 20
# Batch assignment: default and largest allowed pair distance.
default_max_distance_km = 10.0
max_distance_limit_km = 50.0

[federation]
# The platform client that speaks for other provinces' platforms (the
# gateway's federation port, which knows them by certificate): the only
# caller of FederationSupportService.
gateway_client_id = "gateway"
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
    pub federation: FederationConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationConfig {
    pub gateway_client_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumersConfig {
    pub qualification_url: String,
    pub incentive_url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    pub offer_ttl_secs: u64,
    pub expiry_sweep_secs: u64,
    pub default_capacity: i32,
    pub max_capacity: i32,
    pub default_max_distance_km: f64,
    pub max_distance_limit_km: f64,
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
        if !self.consumers.qualification_url.is_empty() {
            kit::config::require_http_url("consumers.qualification_url", &self.consumers.qualification_url)?;
        }
        if !self.consumers.incentive_url.is_empty() {
            kit::config::require_http_url("consumers.incentive_url", &self.consumers.incentive_url)?;
        }
        let r = &self.rules;
        if !(1..=90 * 24 * 3600).contains(&r.offer_ttl_secs) {
            return Err(ConfigError::new(
                "rules.offer_ttl_secs",
                "must be between 1 and 7776000 (90 days)",
            ));
        }
        if r.expiry_sweep_secs == 0 {
            return Err(ConfigError::new("rules.expiry_sweep_secs", "must be positive"));
        }
        if !(1..=100).contains(&r.max_capacity) {
            return Err(ConfigError::new("rules.max_capacity", "must be between 1 and 100"));
        }
        if !(0..=r.max_capacity).contains(&r.default_capacity) {
            return Err(ConfigError::new(
                "rules.default_capacity",
                "must be between 0 and rules.max_capacity",
            ));
        }
        if !(r.max_distance_limit_km.is_finite() && r.max_distance_limit_km > 0.0) {
            return Err(ConfigError::new("rules.max_distance_limit_km", "must be positive"));
        }
        if !(r.default_max_distance_km > 0.0 && r.default_max_distance_km <= r.max_distance_limit_km) {
            return Err(ConfigError::new(
                "rules.default_max_distance_km",
                "must be positive and at most rules.max_distance_limit_km",
            ));
        }
        Ok(())
    }
}
