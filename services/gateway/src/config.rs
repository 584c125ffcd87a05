//! Gateway configuration (`SANSHI_SERVER__PORT`, `SANSHI_UPSTREAMS__IDENTITY_URL`, …).

use kit::config::{ConfigError, ServerConfig, TelemetryConfig, Validate};
use serde::Deserialize;

pub const DEFAULTS: &str = r#"
[server]
host = "0.0.0.0"
port = 8080
request_timeout_ms = 30000
concurrency_limit = 1024
max_message_bytes = 1048576
shutdown_grace_ms = 10000

[telemetry]
log_format = "json"
log_level = "info"

[upstreams]
identity_url = "http://127.0.0.1:50051"
qualification_url = "http://127.0.0.1:50052"
matching_url = "http://127.0.0.1:50053"
records_url = "http://127.0.0.1:50054"
incentive_url = "http://127.0.0.1:50055"
notification_url = "http://127.0.0.1:50056"

[auth]
# Bearer tokens are verified (against identity's JWKS) to rate-limit per account.
issuer = "sanshi-identity"
audience = "sanshi"

[limits]
# Token buckets: per account (a verified token), per peer IP without one,
# and per peer IP for login, register and refresh.
per_principal_per_minute = 600
per_principal_burst = 100
per_ip_per_minute = 120
per_ip_burst = 30
login_per_ip_per_minute = 20
login_per_ip_burst = 10

[cors]
# Origins allowed to call from a browser, e.g. ["https://dashboard.example.cn"]; empty: none.
allowed_origins = []
"#;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub upstreams: Upstreams,
    pub auth: GatewayAuth,
    pub limits: LimitsConfig,
    pub cors: CorsConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayAuth {
    pub issuer: String,
    pub audience: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub per_principal_per_minute: u32,
    pub per_principal_burst: u32,
    pub per_ip_per_minute: u32,
    pub per_ip_burst: u32,
    pub login_per_ip_per_minute: u32,
    pub login_per_ip_burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    pub allowed_origins: Vec<String>,
}

/// gRPC endpoints of the services the gateway fronts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstreams {
    pub identity_url: String,
    pub qualification_url: String,
    pub matching_url: String,
    pub records_url: String,
    pub incentive_url: String,
    pub notification_url: String,
}

impl Upstreams {
    /// (config key, proto package, URL) of each service.
    pub fn all(&self) -> [(&'static str, &'static str, &str); 6] {
        [
            ("upstreams.identity_url", "sanshi.identity.v1", &self.identity_url),
            (
                "upstreams.qualification_url",
                "sanshi.qualification.v1",
                &self.qualification_url,
            ),
            ("upstreams.matching_url", "sanshi.matching.v1", &self.matching_url),
            ("upstreams.records_url", "sanshi.records.v1", &self.records_url),
            ("upstreams.incentive_url", "sanshi.incentive.v1", &self.incentive_url),
            (
                "upstreams.notification_url",
                "sanshi.notification.v1",
                &self.notification_url,
            ),
        ]
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
        self.telemetry.validate()?;
        for (key, _, url) in self.upstreams.all() {
            kit::config::require_http_url(key, url)?;
        }
        for (i, origin) in self.cors.allowed_origins.iter().enumerate() {
            if http::HeaderValue::from_str(origin).is_err() || !origin.starts_with("http") {
                return Err(ConfigError::new(
                    format!("cors.allowed_origins[{i}]"),
                    "must be an origin such as https://dashboard.example.cn",
                ));
            }
        }
        Ok(())
    }
}
