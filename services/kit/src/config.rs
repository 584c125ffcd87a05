//! Configuration: built-in defaults → optional TOML file → `SANSHI_*`
//! environment variables (`SANSHI_DATABASE__URL`, `SANSHI_SERVER__PORT`, …),
//! validated at start with an error that names the bad key and why.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// A configuration problem, e.g. `database.url: unsupported scheme "mysql"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Checks a loaded configuration beyond what its types say.
pub trait Validate {
    fn validate(&self) -> Result<(), ConfigError>;
}

/// Loads `T` from `defaults` (TOML text), then `file` if given, then the
/// environment (`prefix` is normally `SANSHI`), and validates it.
pub fn load<T: DeserializeOwned + Validate>(
    defaults: &str,
    file: Option<&Path>,
    env_prefix: &str,
) -> Result<T, ConfigError> {
    load_with_vars(defaults, file, env_prefix, std::env::vars())
}

/// [`load`] with the environment given: what a deployment's variables and
/// file make of a service's configuration (the chart's tests).
pub fn load_with_vars<T: DeserializeOwned + Validate>(
    defaults: &str,
    file: Option<&Path>,
    env_prefix: &str,
    vars: impl Iterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let vars = env_vars_for(defaults, env_prefix, vars)?;
    load_from(defaults, file, env_source(env_prefix, Some(vars)))
}

/// The variables that configure this service: `<PREFIX>_<SECTION>__<KEY>`
/// where SECTION is a top-level table of its defaults. Others that share the
/// prefix (`SANSHI_CONFIG`, another service's sections in a shared
/// environment, tool settings) are not configuration keys and are left alone.
fn env_vars_for(
    defaults: &str,
    prefix: &str,
    vars: impl Iterator<Item = (String, String)>,
) -> Result<std::collections::HashMap<String, String>, ConfigError> {
    let sections: std::collections::HashMap<String, config::Value> = config::Config::builder()
        .add_source(config::File::from_str(defaults, config::FileFormat::Toml))
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(from_config_error)?;
    let head = format!("{prefix}_");
    Ok(vars
        .filter(|(name, _)| {
            name.strip_prefix(&head)
                .and_then(|rest| rest.split_once("__"))
                .is_some_and(|(section, _)| sections.contains_key(&section.to_lowercase()))
        })
        .collect())
}

/// Loads `T` from `defaults` with `overrides` (TOML text) on top, ignoring
/// the environment: for tests, which configure in code.
pub fn from_toml<T: DeserializeOwned + Validate>(defaults: &str, overrides: &str) -> Result<T, ConfigError> {
    finish(
        config::Config::builder()
            .add_source(config::File::from_str(defaults, config::FileFormat::Toml))
            .add_source(config::File::from_str(overrides, config::FileFormat::Toml)),
    )
}

/// What configures the services of a process that runs several of them
/// (`sanshi dev`) on top of the settings it gives each itself: a TOML file
/// with one table per service (`[gateway.limits]`, `[records.rules]`), then
/// the environment variables `<PREFIX>_<SERVICE>__<SECTION>__<KEY>`
/// (`SANSHI_GATEWAY__LIMITS__PER_IP_BURST`): a standalone service's
/// variables with the service's name in front, since one process cannot
/// tell whose `SANSHI_SERVER__PORT` it would be. The default overrides
/// nothing.
#[derive(Clone, Default)]
pub struct Overrides {
    prefix: String,
    /// The file's table of each service.
    tables: std::collections::HashMap<String, config::Map<String, config::Value>>,
    /// The variables under the prefix; each service takes its own.
    vars: std::collections::HashMap<String, String>,
}

impl std::fmt::Debug for Overrides {
    // Values can be secrets: names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field("tables", &self.tables.keys().collect::<Vec<_>>())
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Overrides {
    /// Reads `file` (if any) and the environment; `services` are the tables
    /// the file may have (`env_prefix` is normally `SANSHI`).
    pub fn load(file: Option<&Path>, env_prefix: &str, services: &[&str]) -> Result<Self, ConfigError> {
        Self::with_vars(file, env_prefix, services, std::env::vars())
    }

    /// [`Overrides::load`] with the environment given.
    pub fn with_vars(
        file: Option<&Path>,
        env_prefix: &str,
        services: &[&str],
        vars: impl Iterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut tables = std::collections::HashMap::new();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::new(
                    "--config",
                    format!("file {} does not exist", path.display()),
                ));
            }
            let top: std::collections::HashMap<String, config::Value> = config::Config::builder()
                .add_source(config::File::from(path).format(config::FileFormat::Toml))
                .build()
                .and_then(|c| c.try_deserialize())
                .map_err(from_config_error)?;
            for (service, value) in top {
                if !services.contains(&service.as_str()) {
                    return Err(ConfigError::new(
                        service,
                        format!("not a service (one of {})", services.join(", ")),
                    ));
                }
                let Ok(table) = value.into_table() else {
                    return Err(ConfigError::new(
                        service,
                        "must be a table of sections, e.g. [gateway.limits]",
                    ));
                };
                tables.insert(service, table);
            }
        }
        let head = format!("{env_prefix}_");
        Ok(Self {
            prefix: env_prefix.to_string(),
            tables,
            vars: vars.filter(|(name, _)| name.starts_with(&head)).collect(),
        })
    }

    /// Loads `service`'s `T`: `defaults`, then `own` (TOML text: what the
    /// process sets), then the file's table, then the variables; validated,
    /// and an error names the key with the service in front
    /// (`gateway.limits.per_ip_burst: …`).
    pub fn apply<T: DeserializeOwned + Validate>(
        &self,
        service: &str,
        defaults: &str,
        own: &str,
    ) -> Result<T, ConfigError> {
        // SANSHI_GATEWAY__LIMITS__PER_IP_BURST is the gateway's SANSHI_LIMITS__PER_IP_BURST.
        let head = format!("{}_{}__", self.prefix, service.to_uppercase());
        let scoped = self.vars.iter().filter_map(|(name, value)| {
            let rest = name.strip_prefix(&head)?;
            Some((format!("{}_{rest}", self.prefix), value.clone()))
        });
        let named = |e: ConfigError| ConfigError::new(format!("{service}.{}", e.key), e.reason);
        let vars = env_vars_for(defaults, &self.prefix, scoped).map_err(named)?;
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(defaults, config::FileFormat::Toml))
            .add_source(config::File::from_str(own, config::FileFormat::Toml));
        if let Some(table) = self.tables.get(service) {
            builder = builder.add_source(Table(table.clone()));
        }
        let builder = builder.add_source(env_source(&self.prefix, Some(vars)));
        finish(builder).map_err(named)
    }
}

/// A file's table of one service, as a source of its configuration.
#[derive(Debug, Clone)]
struct Table(config::Map<String, config::Value>);

impl config::Source for Table {
    fn clone_into_box(&self) -> Box<dyn config::Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<config::Map<String, config::Value>, config::ConfigError> {
        Ok(self.0.clone())
    }
}

fn env_source(prefix: &str, vars: Option<std::collections::HashMap<String, String>>) -> config::Environment {
    config::Environment::with_prefix(prefix)
        .prefix_separator("_")
        .separator("__")
        .try_parsing(true)
        .source(vars)
}

fn load_from<T: DeserializeOwned + Validate>(
    defaults: &str,
    file: Option<&Path>,
    env: config::Environment,
) -> Result<T, ConfigError> {
    let mut builder = config::Config::builder().add_source(config::File::from_str(defaults, config::FileFormat::Toml));
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError::new(
                "--config",
                format!("file {} does not exist", path.display()),
            ));
        }
        builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
    }
    finish(builder.add_source(env))
}

/// Builds, deserialises and validates.
fn finish<T: DeserializeOwned + Validate>(
    builder: config::ConfigBuilder<config::builder::DefaultState>,
) -> Result<T, ConfigError> {
    let loaded = builder.build().map_err(from_config_error)?;
    let value: T = loaded.try_deserialize().map_err(from_config_error)?;
    value.validate()?;
    Ok(value)
}

fn from_config_error(error: config::ConfigError) -> ConfigError {
    match error {
        config::ConfigError::Type {
            key,
            unexpected,
            expected,
            ..
        } => ConfigError::new(
            key.unwrap_or_else(|| "<root>".into()),
            format!("invalid type: {unexpected}, expected {expected}"),
        ),
        config::ConfigError::NotFound(key) => ConfigError::new(key, "missing"),
        config::ConfigError::At {
            error, key: Some(key), ..
        } => {
            let inner = from_config_error(*error);
            let key = if inner.key == "<root>" { key } else { inner.key };
            ConfigError::new(key, inner.reason)
        }
        other => {
            // serde messages name the field as "missing field `x`" or
            // "unknown variant"; keep them, with the best key we have.
            let text = other.to_string();
            let key = text
                .split('`')
                .nth(1)
                .map(str::to_string)
                .unwrap_or_else(|| "<config>".into());
            ConfigError::new(key, text)
        }
    }
}

/// Checks that `value` is an `http://` or `https://` URL; `key` names it in the error.
pub fn require_http_url(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(())
    } else {
        Err(ConfigError::new(key, "must start with http:// or https://"))
    }
}

/// gRPC listener settings every service shares.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// Upper bound on any one RPC; the client's own deadline applies when shorter.
    pub request_timeout_ms: u64,
    /// In-flight RPCs across all connections; beyond it calls are shed with RESOURCE_EXHAUSTED.
    pub concurrency_limit: usize,
    pub max_message_bytes: usize,
    /// How long in-flight calls may take to drain after SIGTERM.
    pub shutdown_grace_ms: u64,
    /// Plain HTTP port for `GET /metrics` (Prometheus); unset: none. 0 picks a free one.
    #[serde(default)]
    pub admin_port: Option<u16>,
    /// Bearer token that `PUT /log-level` on the admin port requires; unset:
    /// only callers on loopback (`kubectl port-forward`, `sanshi dev`) may change it.
    #[serde(default)]
    pub admin_token: Option<Secret>,
}

/// A configured secret: deserialised as a string, never printed.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl ServerConfig {
    pub fn validate(&self, section: &str) -> Result<(), ConfigError> {
        if self.host.parse::<std::net::IpAddr>().is_err() {
            return Err(ConfigError::new(format!("{section}.host"), "not an IP address"));
        }
        if self.request_timeout_ms == 0 {
            return Err(ConfigError::new(
                format!("{section}.request_timeout_ms"),
                "must be positive",
            ));
        }
        if self.concurrency_limit == 0 {
            return Err(ConfigError::new(
                format!("{section}.concurrency_limit"),
                "must be positive",
            ));
        }
        if self.admin_token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            return Err(ConfigError::new(
                format!("{section}.admin_token"),
                "must be at least 16 characters",
            ));
        }
        if self.max_message_bytes < 1024 {
            return Err(ConfigError::new(
                format!("{section}.max_message_bytes"),
                "must be at least 1024",
            ));
        }
        Ok(())
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.host.parse().expect("validated host"), self.port)
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` or `postgres://user@host:port/db`.
    pub url: String,
    pub max_connections: u32,
    /// How long a write's remembered response answers its retries
    /// (`kit::idempotency`); then it is deleted. Default 7 days.
    #[serde(default = "default_idempotency_ttl_secs")]
    pub idempotency_ttl_secs: u64,
    /// How long a call waits for a PostgreSQL connection before it is
    /// answered UNAVAILABLE.
    #[serde(default = "default_acquire_timeout_ms")]
    pub acquire_timeout_ms: u64,
    /// How often readiness pings the database, and after how many failed
    /// pings in a row health turns NOT_SERVING (until a ping succeeds).
    #[serde(default = "default_probe_interval_ms")]
    pub probe_interval_ms: u64,
    #[serde(default = "default_probe_failures")]
    pub probe_failures: u32,
}

fn default_idempotency_ttl_secs() -> u64 {
    crate::idempotency::DEFAULT_TTL.as_secs()
}

fn default_acquire_timeout_ms() -> u64 {
    10_000
}

fn default_probe_interval_ms() -> u64 {
    5_000
}

fn default_probe_failures() -> u32 {
    3
}

impl DatabaseConfig {
    /// Every setting at its default, for an empty `url` (tests, tools).
    pub fn defaults() -> Self {
        Self {
            url: String::new(),
            max_connections: 8,
            idempotency_ttl_secs: default_idempotency_ttl_secs(),
            acquire_timeout_ms: default_acquire_timeout_ms(),
            probe_interval_ms: default_probe_interval_ms(),
            probe_failures: default_probe_failures(),
        }
    }

    pub fn idempotency_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.idempotency_ttl_secs)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        crate::db::DbKind::of_url(&self.url)
            .map(|_| ())
            .map_err(|reason| ConfigError::new("database.url", reason))?;
        if self.max_connections == 0 {
            return Err(ConfigError::new("database.max_connections", "must be positive"));
        }
        for (key, value) in [
            ("database.idempotency_ttl_secs", self.idempotency_ttl_secs),
            ("database.acquire_timeout_ms", self.acquire_timeout_ms),
            ("database.probe_interval_ms", self.probe_interval_ms),
            ("database.probe_failures", u64::from(self.probe_failures)),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be positive"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    pub log_format: LogFormat,
    /// An `EnvFilter` directive such as `info,sqlx=warn`; `RUST_LOG` overrides it.
    pub log_level: String,
    /// OTLP/gRPC collector, e.g. `http://otel-collector:4317`. Falls back to
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`; traces are not exported when neither is set.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(endpoint) = &self.otlp_endpoint {
            require_http_url("telemetry.otlp_endpoint", endpoint)?;
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| ConfigError::new("telemetry.log_level", e.to_string()))?;
        Ok(())
    }

    pub fn effective_otlp_endpoint(&self) -> Option<String> {
        self.otlp_endpoint
            .clone()
            .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok())
            .filter(|e| !e.is_empty())
    }
}

/// Keys for personal data at rest: base64 of 32 random bytes each
/// (`openssl rand -base64 32`). Required; there is no default.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PiiConfig {
    /// AES-256-GCM key that seals values.
    pub encryption_key: String,
    /// HMAC key of lookup hashes (and keys derived from it).
    pub hash_key: String,
}

impl std::fmt::Debug for PiiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PiiConfig(..)")
    }
}

impl PiiConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("pii.encryption_key", &self.encryption_key),
            ("pii.hash_key", &self.hash_key),
        ] {
            crate::pii::decode_key(value)
                .map_err(|_| ConfigError::new(key, "must be base64 of 32 bytes (openssl rand -base64 32)"))?;
        }
        if self.encryption_key == self.hash_key {
            return Err(ConfigError::new("pii.hash_key", "must differ from pii.encryption_key"));
        }
        Ok(())
    }

    pub fn cipher(&self) -> Result<crate::pii::PiiCipher, crate::pii::CipherError> {
        crate::pii::PiiCipher::from_base64(&self.encryption_key, &self.hash_key)
    }
}

/// How a service verifies tokens and obtains its own.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    /// gRPC endpoint of the identity service, for JWKS and service tokens.
    pub identity_url: String,
    /// This service's client credentials (its account in identity).
    pub client_id: String,
    pub client_secret: String,
}

impl AuthConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.issuer.is_empty() {
            return Err(ConfigError::new("auth.issuer", "must not be empty"));
        }
        if self.audience.is_empty() {
            return Err(ConfigError::new("auth.audience", "must not be empty"));
        }
        require_http_url("auth.identity_url", &self.identity_url)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Debug, Deserialize)]
    struct Sample {
        server: ServerConfig,
        database: DatabaseConfig,
    }

    impl Validate for Sample {
        fn validate(&self) -> Result<(), ConfigError> {
            self.server.validate("server")?;
            self.database.validate()
        }
    }

    const DEFAULTS: &str = r#"
        [server]
        host = "127.0.0.1"
        port = 50051
        request_timeout_ms = 30000
        concurrency_limit = 256
        max_message_bytes = 4194304
        shutdown_grace_ms = 10000
        [database]
        url = "sqlite://data/identity.db"
        max_connections = 4
    "#;

    fn env(vars: &[(&str, &str)]) -> config::Environment {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env_source("SANSHI", Some(map))
    }

    #[test]
    fn layers_defaults_file_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[server]\nport = 6000\n").unwrap();
        let c: Sample = load_from(DEFAULTS, Some(&file), env(&[("SANSHI_DATABASE__MAX_CONNECTIONS", "9")])).unwrap();
        assert_eq!(c.server.port, 6000);
        assert_eq!(c.server.host, "127.0.0.1");
        assert_eq!(c.database.max_connections, 9);
    }

    #[test]
    fn errors_name_the_bad_key() {
        let err = load_from::<Sample>(DEFAULTS, None, env(&[("SANSHI_DATABASE__URL", "mysql://x/y")])).unwrap_err();
        assert_eq!(err.key, "database.url");
        assert!(err.reason.contains("unsupported scheme"), "{err}");

        let err = load_from::<Sample>(DEFAULTS, None, env(&[("SANSHI_SERVER__PORT", "eighty")])).unwrap_err();
        assert_eq!(err.key, "server.port", "{err}");

        let err = load_from::<Sample>(DEFAULTS, None, env(&[("SANSHI_SERVER__HOST", "localhost:1")])).unwrap_err();
        assert_eq!(err.to_string(), "server.host: not an IP address");

        let err = load_from::<Sample>(DEFAULTS, Some(Path::new("/nonexistent/c.toml")), env(&[])).unwrap_err();
        assert_eq!(err.key, "--config");
    }

    #[test]
    fn only_this_services_sections_come_from_the_environment() {
        let vars = [
            ("SANSHI_CONFIG", "/etc/sanshi/identity.toml"),
            ("SANSHI_TEST_POSTGRES_URL", "postgres://x"),
            ("SANSHI_UPSTREAMS__IDENTITY_URL", "http://identity:50051"),
            ("SANSHI_SERVER__PORT", "7000"),
            ("OTHER_SERVER__PORT", "1"),
        ];
        let kept = env_vars_for(
            DEFAULTS,
            "SANSHI",
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .unwrap();
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["SANSHI_SERVER__PORT"]);
        let c: Sample = load_from(DEFAULTS, None, env_source("SANSHI", Some(kept))).unwrap();
        assert_eq!(c.server.port, 7000);
    }

    #[test]
    fn overrides_layer_a_services_table_and_its_variables_over_its_own_settings() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dev.toml");
        let table = "[identity.server]\nport = 6000\nrequest_timeout_ms = 5000\n";
        std::fs::write(&file, table).unwrap();
        let vars = [
            ("SANSHI_IDENTITY__SERVER__PORT", "7000"),
            ("SANSHI_SERVER__CONCURRENCY_LIMIT", "1"),
            ("SANSHI_MATCHING__SERVER__CONCURRENCY_LIMIT", "2"),
        ];
        let overrides = Overrides::with_vars(
            Some(&file),
            "SANSHI",
            &["identity", "matching"],
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .unwrap();
        let own = "[server]\nport = 5000\nrequest_timeout_ms = 1000\nshutdown_grace_ms = 1\n";
        let c: Sample = overrides.apply("identity", DEFAULTS, own).unwrap();
        assert_eq!(c.server.port, 7000, "the variable wins over the file");
        assert_eq!(c.server.request_timeout_ms, 5000, "the file wins over the own settings");
        assert_eq!(c.server.shutdown_grace_ms, 1, "the own settings win over the defaults");
        assert_eq!(
            c.server.concurrency_limit, 256,
            "not a standalone's nor another service's variable"
        );
        let m: Sample = overrides.apply("matching", DEFAULTS, own).unwrap();
        assert_eq!((m.server.port, m.server.concurrency_limit), (5000, 2));
        let plain: Sample = Overrides::default().apply("identity", DEFAULTS, own).unwrap();
        assert_eq!(plain.server.port, 5000);

        let bad = Overrides::with_vars(
            None,
            "SANSHI",
            &["identity"],
            std::iter::once(("SANSHI_IDENTITY__SERVER__PORT".to_string(), "eighty".to_string())),
        )
        .unwrap();
        let err = bad.apply::<Sample>("identity", DEFAULTS, own).unwrap_err();
        assert_eq!(err.key, "identity.server.port", "{err}");

        std::fs::write(&file, "[identiy.server]\nport = 6000\n").unwrap();
        let read = Overrides::with_vars(Some(&file), "SANSHI", &["identity"], std::iter::empty());
        assert_eq!(read.unwrap_err().key, "identiy");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[server]\nprot = 6000\n").unwrap();
        let err = load_from::<Sample>(DEFAULTS, Some(&file), env(&[])).unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
    }
}
