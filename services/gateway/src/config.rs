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
"#;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub upstreams: Upstreams,
}

/// gRPC endpoints of the services the gateway fronts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstreams {
    pub identity_url: String,
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
        kit::config::require_http_url("upstreams.identity_url", &self.upstreams.identity_url)
    }
}
