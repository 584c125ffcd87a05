//! A configuration for tests of identity and of services that need a real
//! identity: a random port, the given database, fixed test keys, and test
//! accounts (`city`, `yuzhong`, `dadukou`, `jiefangbei`, `auditor`, all with
//! [`PASSWORD`]) plus the service clients `matching` and `records` ([`SERVICE_SECRET`]).

use crate::Config;

/// Keeps the text messages (one-time codes) a test's identity sends: pass it
/// to [`crate::start_with`] and read the codes with `wait_code`.
pub use crate::sms::Outbox as SmsOutbox;

/// An outbox for [`crate::start_with`], and the sender to pass.
pub fn sms_outbox() -> (SmsOutbox, Option<std::sync::Arc<dyn crate::sms::SmsSender>>) {
    let outbox = SmsOutbox::new();
    let sender: std::sync::Arc<dyn crate::sms::SmsSender> = std::sync::Arc::new(outbox.clone());
    (outbox, Some(sender))
}

pub const PASSWORD: &str = "Sanshi2026";
pub const SERVICE_SECRET: &str = "test-service-secret-0123456789";

pub fn config(database_url: &str) -> Config {
    let overrides = format!(
        r#"
        [server]
        host = "127.0.0.1"
        port = 0
        [database]
        url = "{url}"
        [telemetry]
        log_format = "pretty"
        log_level = "warn"
        [pii]
        encryption_key = "{enc}"
        hash_key = "{hash}"
        [bootstrap]
        accounts = [
          {{ username = "city", password = "{pw}", display_name = "市管理员", region_code = "50", role = "city_admin" }},
          {{ username = "yuzhong", password = "{pw}", display_name = "渝中区管理员", region_code = "500103", role = "district_admin" }},
          {{ username = "dadukou", password = "{pw}", display_name = "大渡口区管理员", region_code = "500104", role = "district_admin" }},
          {{ username = "jiefangbei", password = "{pw}", display_name = "解放碑街道管理员", region_code = "500103003", role = "street_admin" }},
          {{ username = "auditor", password = "{pw}", display_name = "审计员", region_code = "50", role = "auditor" }},
        ]
        services = [
          {{ client_id = "matching", client_secret = "{secret}" }},
          {{ client_id = "records", client_secret = "{secret}" }},
        ]
        "#,
        url = database_url,
        enc = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
        hash = "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICA=",
        pw = PASSWORD,
        secret = SERVICE_SECRET,
    );
    kit::config::from_toml(crate::config::DEFAULTS, &overrides).expect("test config")
}
