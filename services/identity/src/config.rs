//! Identity's configuration. Defaults below; override with a TOML file
//! (`--config`) or `SANSHI_*` variables, e.g. `SANSHI_DATABASE__URL`.

use kit::config::{ConfigError, DatabaseConfig, PiiConfig, ServerConfig, TelemetryConfig, Validate};
use serde::Deserialize;

pub const DEFAULTS: &str = r#"
[server]
host = "0.0.0.0"
port = 50051
request_timeout_ms = 30000
concurrency_limit = 512
max_message_bytes = 4194304
shutdown_grace_ms = 10000

[database]
url = "sqlite://data/identity.db"
max_connections = 8

[telemetry]
log_format = "json"
log_level = "info"

[tokens]
issuer = "sanshi-identity"
audience = "sanshi"
access_ttl_secs = 900
refresh_ttl_secs = 1209600
service_ttl_secs = 900

[pii]
encryption_key = ""
hash_key = ""

[lockout]
# Per account and source (client address): max_failures failures within
# window_secs cost nothing; after that the source waits base_delay_secs,
# doubling with each further failure up to max_delay_secs (<= window_secs).
# Other sources are never held back by them.
max_failures = 5
window_secs = 3600
base_delay_secs = 60
max_delay_secs = 900

[passwords]
# Memory that Argon2id hashing may hold at once (each hash or check takes
# 19 MiB, the OWASP minimum): this many MiB / 19 run at a time (at least
# one) and the rest wait their turn. Raise it with the pod's memory limit.
hashing_memory_mib = 40

[consumers]
# gRPC endpoint of the qualification service whose decisions grant the
# professional role; empty while there is none.
qualification_url = ""

[sms]
# Who texts one-time codes: "none" (nobody: codes cannot be requested, so
# nobody can register) or "log" (written to the log at info, target
# sanshi::sms, and not sent: for `sanshi dev` only).
provider = "none"

[phone_codes]
# A code is valid ttl_secs and void after max_attempts wrong guesses. One
# number gets a code at most every resend_interval_secs and per_phone_per_hour
# an hour; one client address requests at most per_source_per_hour an hour.
ttl_secs = 300
max_attempts = 5
resend_interval_secs = 60
per_phone_per_hour = 5
per_source_per_hour = 10
"#;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub telemetry: TelemetryConfig,
    pub tokens: TokenConfig,
    pub pii: PiiConfig,
    pub lockout: LockoutConfig,
    pub passwords: PasswordsConfig,
    pub consumers: ConsumersConfig,
    pub sms: SmsConfig,
    pub phone_codes: PhoneCodesConfig,
    #[serde(default)]
    pub bootstrap: Bootstrap,
}

/// Who texts one-time codes (`crate::sms`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// `none` or `log`.
    pub provider: String,
}

/// One-time phone codes (`domain::phone_code`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneCodesConfig {
    pub ttl_secs: i64,
    pub max_attempts: i32,
    pub resend_interval_secs: i64,
    pub per_phone_per_hour: usize,
    pub per_source_per_hour: usize,
}

impl PhoneCodesConfig {
    pub fn policy(&self) -> crate::domain::phone_code::PhoneCodePolicy {
        crate::domain::phone_code::PhoneCodePolicy {
            ttl: chrono::Duration::seconds(self.ttl_secs),
            max_attempts: self.max_attempts,
            resend_interval: chrono::Duration::seconds(self.resend_interval_secs),
            per_phone_per_hour: self.per_phone_per_hour,
            per_source_per_hour: self.per_source_per_hour,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(60..=1800).contains(&self.ttl_secs) {
            return Err(ConfigError::new(
                "phone_codes.ttl_secs",
                "must be between 60 and 1800 seconds",
            ));
        }
        if !(1..=10).contains(&self.max_attempts) {
            return Err(ConfigError::new("phone_codes.max_attempts", "must be between 1 and 10"));
        }
        if !(1..=3600).contains(&self.resend_interval_secs) {
            return Err(ConfigError::new(
                "phone_codes.resend_interval_secs",
                "must be between 1 and 3600 seconds",
            ));
        }
        if !(1..=100).contains(&self.per_phone_per_hour) {
            return Err(ConfigError::new(
                "phone_codes.per_phone_per_hour",
                "must be between 1 and 100",
            ));
        }
        if !(1..=100_000).contains(&self.per_source_per_hour) {
            return Err(ConfigError::new(
                "phone_codes.per_source_per_hour",
                "must be between 1 and 100000",
            ));
        }
        Ok(())
    }
}

/// Password hashing (`crate::passwords`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordsConfig {
    pub hashing_memory_mib: usize,
}

/// Event streams identity follows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumersConfig {
    pub qualification_url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub issuer: String,
    pub audience: String,
    /// Access tokens live at most 15 minutes.
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    pub service_ttl_secs: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutConfig {
    pub max_failures: usize,
    pub window_secs: i64,
    pub base_delay_secs: i64,
    pub max_delay_secs: i64,
}

/// Accounts that must exist, created at start when missing: the first city
/// admin of a new installation, the platform's service clients, and in
/// `sanshi dev` the demo accounts. Existing accounts are left untouched.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bootstrap {
    #[serde(default)]
    pub accounts: Vec<BootstrapAccount>,
    #[serde(default)]
    pub services: Vec<BootstrapService>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapAccount {
    pub username: String,
    pub password: String,
    pub display_name: String,
    pub region_code: String,
    pub role: String,
}

impl std::fmt::Debug for BootstrapAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BootstrapAccount({} as {} in {})",
            self.username, self.role, self.region_code
        )
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapService {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for BootstrapService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BootstrapService({})", self.client_id)
    }
}

impl LockoutConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=100).contains(&self.max_failures) {
            return Err(ConfigError::new("lockout.max_failures", "must be between 1 and 100"));
        }
        if self.window_secs <= 0 {
            return Err(ConfigError::new("lockout.window_secs", "must be positive"));
        }
        if self.base_delay_secs <= 0 {
            return Err(ConfigError::new("lockout.base_delay_secs", "must be positive"));
        }
        if self.max_delay_secs < self.base_delay_secs {
            return Err(ConfigError::new(
                "lockout.max_delay_secs",
                "must be at least lockout.base_delay_secs",
            ));
        }
        // A wait must end before the failures behind it are forgotten.
        if self.max_delay_secs > self.window_secs {
            return Err(ConfigError::new(
                "lockout.max_delay_secs",
                "must not exceed lockout.window_secs",
            ));
        }
        Ok(())
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
        if !(19..=65_536).contains(&self.passwords.hashing_memory_mib) {
            return Err(ConfigError::new(
                "passwords.hashing_memory_mib",
                "must be between 19 (one hash) and 65536",
            ));
        }
        if !(60..=900).contains(&self.tokens.access_ttl_secs) {
            return Err(ConfigError::new(
                "tokens.access_ttl_secs",
                "must be between 60 and 900 seconds",
            ));
        }
        if self.tokens.refresh_ttl_secs <= self.tokens.access_ttl_secs {
            return Err(ConfigError::new(
                "tokens.refresh_ttl_secs",
                "must exceed tokens.access_ttl_secs",
            ));
        }
        if !(60..=3600).contains(&self.tokens.service_ttl_secs) {
            return Err(ConfigError::new(
                "tokens.service_ttl_secs",
                "must be between 60 and 3600 seconds",
            ));
        }
        self.pii.validate()?;
        if !self.consumers.qualification_url.is_empty() {
            kit::config::require_http_url("consumers.qualification_url", &self.consumers.qualification_url)?;
        }
        self.lockout.validate()?;
        if !["none", "log"].contains(&self.sms.provider.as_str()) {
            return Err(ConfigError::new("sms.provider", "must be \"none\" or \"log\""));
        }
        self.phone_codes.validate()?;
        for (i, account) in self.bootstrap.accounts.iter().enumerate() {
            let key = |field: &str| format!("bootstrap.accounts[{i}].{field}");
            crate::domain::account::validate_username(&account.username)
                .map_err(|e| ConfigError::new(key("username"), e))?;
            let holder = crate::domain::password::Holder {
                username: &account.username,
                phone: None,
            };
            crate::domain::password::NewPassword::parse(&account.password, holder)
                .map_err(|e| ConfigError::new(key("password"), e.to_string()))?;
            let role = kit::auth::Role::parse(&account.role)
                .filter(|r| *r != kit::auth::Role::Service)
                .ok_or_else(|| ConfigError::new(key("role"), "unknown role"))?;
            let region = kit::region::RegionCode::parse(&account.region_code)
                .map_err(|e| ConfigError::new(key("region_code"), e.to_string()))?;
            crate::domain::account::validate_grant(role, &region).map_err(|e| ConfigError::new(key("role"), e))?;
        }
        for (i, service) in self.bootstrap.services.iter().enumerate() {
            crate::domain::account::validate_username(&service.client_id)
                .map_err(|e| ConfigError::new(format!("bootstrap.services[{i}].client_id"), e))?;
            if service.client_secret.len() < 16 {
                return Err(ConfigError::new(
                    format!("bootstrap.services[{i}].client_secret"),
                    "must be at least 16 characters",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(overrides: &str) -> Result<Config, ConfigError> {
        kit::config::from_toml(DEFAULTS, overrides)
    }

    const KEYS: &str = "[pii]\nencryption_key = \"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\"\nhash_key = \"ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICA=\"\n";

    #[test]
    fn personal_data_keys_are_required() {
        let err = with("").unwrap_err();
        assert_eq!(err.key, "pii.encryption_key");
        assert!(with(KEYS).is_ok());
        let same = "[pii]\nencryption_key = \"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\"\nhash_key = \"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\"\n";
        assert_eq!(with(same).unwrap_err().key, "pii.hash_key");
    }

    #[test]
    fn token_lifetimes_are_bounded() {
        let err = with(&format!("{KEYS}[tokens]\naccess_ttl_secs = 3600\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tokens.access_ttl_secs: must be between 60 and 900 seconds"
        );
    }

    #[test]
    fn bootstrap_accounts_are_validated() {
        let bad_role = format!(
            "{KEYS}[bootstrap]\naccounts = [{{ username = \"xiaoli\", password = \"Sanshi2026\", display_name = \"x\", region_code = \"500103001\", role = \"district_admin\" }}]\n"
        );
        assert_eq!(with(&bad_role).unwrap_err().key, "bootstrap.accounts[0].role");
        let weak = format!(
            "{KEYS}[bootstrap]\naccounts = [{{ username = \"admin\", password = \"Welcome2026\", display_name = \"x\", region_code = \"50\", role = \"city_admin\" }}]\n"
        );
        let err = with(&weak).unwrap_err();
        assert_eq!(err.key, "bootstrap.accounts[0].password");
        assert_eq!(err.reason, "密码过于常见，请换一个更难猜的密码");
        let named = format!(
            "{KEYS}[bootstrap]\naccounts = [{{ username = \"admin\", password = \"Admin-2026x\", display_name = \"x\", region_code = \"50\", role = \"city_admin\" }}]\n"
        );
        assert_eq!(with(&named).unwrap_err().reason, "密码不能包含用户名");
        let bad_db = format!("{KEYS}[database]\nurl = \"mysql://db/identity\"\n");
        let err = with(&bad_db).unwrap_err();
        assert_eq!(err.key, "database.url");
        assert!(err.reason.starts_with("unsupported scheme"), "{err}");
    }

    #[test]
    fn sms_and_phone_code_settings_are_validated() {
        let defaults = with(KEYS).unwrap();
        assert_eq!(defaults.sms.provider, "none", "nothing is sent unless configured");
        let policy = defaults.phone_codes.policy();
        assert_eq!(policy, crate::domain::phone_code::PhoneCodePolicy::default());
        assert!(with(&format!("{KEYS}[sms]\nprovider = \"log\"\n")).is_ok());
        let err = with(&format!("{KEYS}[sms]\nprovider = \"memory\"\n")).unwrap_err();
        assert_eq!(err.key, "sms.provider");
        let cases = [
            ("ttl_secs = 10", "phone_codes.ttl_secs"),
            ("max_attempts = 0", "phone_codes.max_attempts"),
            ("resend_interval_secs = 0", "phone_codes.resend_interval_secs"),
            ("per_phone_per_hour = 0", "phone_codes.per_phone_per_hour"),
            ("per_source_per_hour = 0", "phone_codes.per_source_per_hour"),
        ];
        for (setting, key) in cases {
            let err = with(&format!("{KEYS}[phone_codes]\n{setting}\n")).unwrap_err();
            assert_eq!(err.key, key, "{setting}");
        }
    }

    #[test]
    fn lockout_settings_are_validated() {
        let defaults = with(KEYS).unwrap();
        assert_eq!(defaults.lockout.max_failures, 5);
        assert!(defaults.lockout.max_delay_secs <= defaults.lockout.window_secs);
        let cases = [
            ("max_failures = 0", "lockout.max_failures"),
            ("window_secs = 0", "lockout.window_secs"),
            ("base_delay_secs = 0", "lockout.base_delay_secs"),
            ("base_delay_secs = 120\nmax_delay_secs = 60", "lockout.max_delay_secs"),
            ("window_secs = 600\nmax_delay_secs = 900", "lockout.max_delay_secs"),
        ];
        for (lockout, key) in cases {
            let err = with(&format!("{KEYS}[lockout]\n{lockout}\n")).unwrap_err();
            assert_eq!(err.key, key, "{lockout}");
        }
    }
}
