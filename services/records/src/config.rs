//! Records' configuration (`sanshi config records` prints the defaults).

use kit::config::{AuthConfig, ConfigError, DatabaseConfig, PiiConfig, ServerConfig, TelemetryConfig, Validate};
use serde::Deserialize;

pub const DEFAULTS: &str = r#"
[server]
host = "0.0.0.0"
port = 50054
request_timeout_ms = 30000
concurrency_limit = 512
# Attachments travel in requests: up to attachments.max_bytes plus headroom.
max_message_bytes = 12582912
shutdown_grace_ms = 10000

[database]
url = "sqlite://data/records.db"
max_connections = 8

[telemetry]
log_format = "json"
log_level = "info"

[auth]
issuer = "sanshi-identity"
audience = "sanshi"
identity_url = "http://127.0.0.1:50051"
client_id = "records"
client_secret = ""

[pii]
# Residents' contacts behind rating codes are kept only as keyed hashes.
encryption_key = ""
hash_key = ""

[consumers]
# Matching's event stream (matches and community positions); empty: not followed.
matching_url = ""

[attachments]
# "local" (a folder) or "s3" (any S3-compatible store).
store = "local"
local_path = "data/attachments"
s3_bucket = ""
s3_endpoint = ""
s3_region = "us-east-1"
s3_access_key_id = ""
s3_secret_access_key = ""
max_bytes = 10485760
content_types = ["image/jpeg", "image/png", "image/webp", "application/pdf"]

[rules]
min_duration_minutes = 15
max_duration_hours = 12
# A check-in farther than this from the community is flagged for it.
check_in_radius_km = 3.0
# From confirmation until the record is scored (14 days).
rating_window_secs = 1209600
scoring_sweep_secs = 60
# Resident ratings one rating code accepts at most.
max_ratings_per_code = 300
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
    pub attachments: AttachmentsConfig,
    pub rules: RulesConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumersConfig {
    pub matching_url: String,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentsConfig {
    pub store: String,
    pub local_path: String,
    pub s3_bucket: String,
    pub s3_endpoint: String,
    pub s3_region: String,
    pub s3_access_key_id: String,
    pub s3_secret_access_key: String,
    pub max_bytes: usize,
    pub content_types: Vec<String>,
}

impl std::fmt::Debug for AttachmentsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentsConfig")
            .field("store", &self.store)
            .field("local_path", &self.local_path)
            .field("s3_bucket", &self.s3_bucket)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    pub min_duration_minutes: i64,
    pub max_duration_hours: i64,
    pub check_in_radius_km: f64,
    pub rating_window_secs: i64,
    pub scoring_sweep_secs: u64,
    pub max_ratings_per_code: i64,
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
        if !self.consumers.matching_url.is_empty() {
            kit::config::require_http_url("consumers.matching_url", &self.consumers.matching_url)?;
        }
        let a = &self.attachments;
        match a.store.as_str() {
            "local" if a.local_path.is_empty() => {
                return Err(ConfigError::new(
                    "attachments.local_path",
                    "must be set for the local store",
                ));
            }
            "local" => {}
            "s3" if a.s3_bucket.is_empty() => {
                return Err(ConfigError::new(
                    "attachments.s3_bucket",
                    "must be set for the s3 store",
                ));
            }
            "s3" => {}
            _ => return Err(ConfigError::new("attachments.store", "must be \"local\" or \"s3\"")),
        }
        if a.max_bytes == 0 || a.max_bytes > self.server.max_message_bytes {
            return Err(ConfigError::new(
                "attachments.max_bytes",
                "must be positive and at most server.max_message_bytes",
            ));
        }
        let r = &self.rules;
        if !(1..=24 * 60).contains(&r.min_duration_minutes) {
            return Err(ConfigError::new(
                "rules.min_duration_minutes",
                "must be between 1 and 1440",
            ));
        }
        if !(1..=72).contains(&r.max_duration_hours) || r.max_duration_hours * 60 < r.min_duration_minutes {
            return Err(ConfigError::new(
                "rules.max_duration_hours",
                "must be 1–72 and above the minimum",
            ));
        }
        if !(r.check_in_radius_km.is_finite() && r.check_in_radius_km > 0.0) {
            return Err(ConfigError::new("rules.check_in_radius_km", "must be positive"));
        }
        if r.rating_window_secs < 1 {
            return Err(ConfigError::new("rules.rating_window_secs", "must be positive"));
        }
        if r.scoring_sweep_secs == 0 {
            return Err(ConfigError::new("rules.scoring_sweep_secs", "must be positive"));
        }
        if r.max_ratings_per_code < 1 {
            return Err(ConfigError::new("rules.max_ratings_per_code", "must be positive"));
        }
        Ok(())
    }
}
