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

[federation]
# Other provinces' platforms call sanshi.federation.v1 on this port over TLS
# with client certificates required (README: "Federation: adding a peer").
enabled = false
port = 50050
# This platform, and its province-level division code.
platform = "chongqing"
province_code = "50"
# This platform's certificate chain and private key (PEM): served to peers,
# and presented to them when calling them.
cert_path = ""
key_path = ""
# The gateway's account in identity, for what it asks the services on a peer's behalf.
client_id = "gateway"
client_secret = ""
# Calls to peers: the deadline of each attempt, attempts of idempotent
# calls, and the circuit breaker (open after this many failures in a row,
# for this long).
call_timeout_ms = 3000
max_attempts = 3
breaker_failures = 5
breaker_cooldown_ms = 30000
# How often WatchSupportRequests looks for changes.
watch_poll_ms = 1000
# [[federation.peers]]
# name = "sichuan"
# province_code = "51"
# ca_path = "/etc/sanshi/federation/peers/sichuan-ca.pem"
# names = ["federation.sichuan.example.cn"]
# allow = ["Ping", "SearchExperts", "GetProgrammeStats", "RequestSupport", "GetSupportRequest", "WatchSupportRequests"]
# url = "https://federation.sichuan.example.cn:50050"
peers = []
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
    pub federation: FederationConfig,
}

/// The federation port and the peers (other provinces' platforms).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationConfig {
    pub enabled: bool,
    pub port: u16,
    pub platform: String,
    pub province_code: String,
    pub cert_path: String,
    pub key_path: String,
    pub client_id: String,
    pub client_secret: String,
    pub call_timeout_ms: u64,
    pub max_attempts: u32,
    pub breaker_failures: u32,
    pub breaker_cooldown_ms: u64,
    pub watch_poll_ms: u64,
    pub peers: Vec<PeerConfig>,
}

/// A peer platform: who it is, the CA bundle its certificates chain to,
/// the names its certificate must carry, what it may call, and where we call it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    pub name: String,
    pub province_code: String,
    pub ca_path: String,
    /// DNS names of which the peer's client certificate must carry one; empty: any certificate of the CA.
    #[serde(default)]
    pub names: Vec<String>,
    /// Operations of sanshi.federation.v1 the peer may call, e.g. "SearchExperts".
    #[serde(default)]
    pub allow: Vec<String>,
    /// The peer's federation endpoint (https://host:port); empty: we do not call it.
    #[serde(default)]
    pub url: String,
    /// The name its server certificate carries, when not the URL's host.
    #[serde(default)]
    pub server_name: String,
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
        self.federation.validate()?;
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

impl FederationConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        let required = [
            ("federation.platform", &self.platform),
            ("federation.cert_path", &self.cert_path),
            ("federation.key_path", &self.key_path),
            ("federation.client_secret", &self.client_secret),
        ];
        for (key, value) in required {
            if value.trim().is_empty() {
                return Err(ConfigError::new(key, "must be set when federation is enabled"));
            }
        }
        if !(self.province_code.len() == 2 && self.province_code.bytes().all(|b| b.is_ascii_digit())) {
            return Err(ConfigError::new(
                "federation.province_code",
                "must be a 2-digit province code",
            ));
        }
        if self.max_attempts == 0 || self.breaker_failures == 0 || self.call_timeout_ms == 0 || self.watch_poll_ms == 0
        {
            return Err(ConfigError::new(
                "federation",
                "call_timeout_ms, max_attempts, breaker_failures and watch_poll_ms must be positive",
            ));
        }
        if self.peers.is_empty() {
            return Err(ConfigError::new(
                "federation.peers",
                "must list at least one peer when enabled",
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, peer) in self.peers.iter().enumerate() {
            let key = |field: &str| format!("federation.peers[{i}].{field}");
            if peer.name.trim().is_empty() || !names.insert(peer.name.as_str()) {
                return Err(ConfigError::new(key("name"), "must be set and unique"));
            }
            if !(peer.province_code.len() == 2 && peer.province_code.bytes().all(|b| b.is_ascii_digit())) {
                return Err(ConfigError::new(
                    key("province_code"),
                    "must be a 2-digit province code",
                ));
            }
            if peer.ca_path.trim().is_empty() {
                return Err(ConfigError::new(key("ca_path"), "must name the peer's CA bundle (PEM)"));
            }
            for (j, op) in peer.allow.iter().enumerate() {
                if crate::federation::Operation::parse(op).is_none() {
                    return Err(ConfigError::new(
                        format!("federation.peers[{i}].allow[{j}]"),
                        "must be an operation of sanshi.federation.v1, e.g. SearchExperts",
                    ));
                }
            }
            if !peer.url.is_empty() && !peer.url.starts_with("https://") {
                return Err(ConfigError::new(key("url"), "must be an https:// URL"));
            }
        }
        Ok(())
    }
}
