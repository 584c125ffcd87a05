//! `sanshi dev`: the whole platform in one process on the default ports,
//! each service with its own SQLite file, seeded with real data and demo
//! accounts. For trying things out only: its keys are public.

use std::path::Path;

/// Demo accounts: username, display name, role, region. All share [`DEMO_PASSWORD`].
pub const DEMO_ACCOUNTS: &[(&str, &str, &str, &str)] = &[
    ("admin", "重庆市管理员", "city_admin", "50"),
    ("yuzhong", "渝中区管理员", "district_admin", "500103"),
    ("jiefangbei", "解放碑街道管理员", "street_admin", "500103003"),
    ("reviewer", "市级审核员", "reviewer", "50"),
    ("minshenglu", "民生路社区工作者", "community_worker", "500103003013"),
];
pub const DEMO_PASSWORD: &str = "Sanshi2026";

/// Client credentials of the services, which call each other and stream events.
pub const SERVICE_CLIENTS: &[&str] = &[
    "qualification",
    "matching",
    "records",
    "incentive",
    "notification",
    "gateway",
];

pub fn service_secret(client: &str) -> String {
    format!("dev-secret-{client}-not-for-production")
}

/// Where each service of a whole suite listens and keeps its data: `sanshi
/// dev`'s fixed ports and SQLite files, or a test's random ports and
/// databases.
#[derive(Debug, Clone)]
pub struct Layout {
    pub host: String,
    /// identity, qualification, matching, records, incentive, notification, gateway.
    pub ports: [u16; 7],
    /// Database URL per service, in the order of [`SERVICES`].
    pub databases: [String; 6],
    pub attachments: std::path::PathBuf,
    /// Records' rating window: how long after confirmation a visit is scored.
    pub rating_window_secs: u64,
    /// Records' shortest visit.
    pub min_visit_minutes: u32,
    pub log_level: String,
    /// The admin port (`/metrics`, `/log-level`), served by identity's
    /// server; the process has one registry, so it shows every service
    /// (the `service` label tells them apart). 0 picks a free port.
    pub metrics_port: Option<u16>,
    /// Each service's database pool (the services' default is 8; tests that
    /// run whole suites side by side on one PostgreSQL take fewer).
    pub max_connections: u32,
    /// The gateway's `[federation]` settings (TOML lines: `enabled = true`,
    /// the certificate, the peers …); None leaves federation off.
    pub federation: Option<String>,
    /// What overrides the settings above and the rest of each service's:
    /// `sanshi dev --config` and `SANSHI_<SERVICE>__<SECTION>__<KEY>`
    /// variables (see [`read_overrides`]).
    pub overrides: kit::config::Overrides,
}

/// The services with a database, in [`Layout::databases`] order.
pub const SERVICES: [&str; 6] = [
    "identity",
    "qualification",
    "matching",
    "records",
    "incentive",
    "notification",
];

/// Every service `sanshi dev` configures: the tables its `--config` file may have.
pub const CONFIGURED: [&str; 7] = [
    "identity",
    "qualification",
    "matching",
    "records",
    "incentive",
    "notification",
    "gateway",
];

/// `sanshi dev`'s overrides: `file` (`--config`, one table per service:
/// `[gateway.limits]`, `[records.rules]` …), then the environment's
/// `SANSHI_<SERVICE>__<SECTION>__<KEY>` variables
/// (`SANSHI_GATEWAY__LIMITS__PER_IP_BURST=1000`), over what dev sets itself;
/// `vars` is the environment.
pub fn read_overrides(
    file: Option<&Path>,
    vars: impl Iterator<Item = (String, String)>,
) -> anyhow::Result<kit::config::Overrides> {
    Ok(kit::config::Overrides::with_vars(file, "SANSHI", &CONFIGURED, vars)?)
}

impl Layout {
    /// `sanshi dev`: the default ports and a SQLite file per service in `data_dir`.
    pub fn dev(data_dir: &Path, host: &str) -> Layout {
        Layout {
            host: host.to_string(),
            ports: [50051, 50052, 50053, 50054, 50055, 50056, 8080],
            databases: SERVICES.map(|s| format!("sqlite://{}", data_dir.join(format!("{s}.db")).display())),
            attachments: data_dir.join("attachments"),
            // A two-minute rating window, so that the demo's confirmed visits are scored (and
            // earn points in incentive) while one looks at them; production keeps 14 days.
            rating_window_secs: 120,
            min_visit_minutes: 15,
            log_level: "info".into(),
            metrics_port: Some(9464),
            max_connections: 8,
            federation: None,
            overrides: kit::config::Overrides::default(),
        }
    }

    fn url(&self, service: usize) -> String {
        format!("http://{}:{}", self.host, self.ports[service])
    }

    fn identity_url(&self) -> String {
        self.url(0)
    }
}

pub fn identity_config(layout: &Layout) -> anyhow::Result<identity::Config> {
    let accounts: Vec<String> = DEMO_ACCOUNTS
        .iter()
        .map(|(username, name, role, region)| {
            format!(
                r#"{{ username = "{username}", password = "{DEMO_PASSWORD}", display_name = "{name}", region_code = "{region}", role = "{role}" }}"#
            )
        })
        .collect();
    let services: Vec<String> = SERVICE_CLIENTS
        .iter()
        .map(|c| format!(r#"{{ client_id = "{c}", client_secret = "{}" }}"#, service_secret(c)))
        .collect();
    let overrides = format!(
        r#"
        [server]
        host = "{host}"
        port = {port}
        {admin_port}
        [database]
        url = "{db}"
        max_connections = {pool}
        [telemetry]
        log_format = "pretty"
        log_level = "{level}"
        {pii}
        [consumers]
        qualification_url = "{qualification}"
        [sms]
        provider = "log"
        [bootstrap]
        accounts = [{accounts}]
        services = [{services}]
        "#,
        host = layout.host,
        port = layout.ports[0],
        admin_port = layout
            .metrics_port
            .map(|p| format!("admin_port = {p}"))
            .unwrap_or_default(),
        db = layout.databases[0],
        pool = layout.max_connections,
        level = layout.log_level,
        pii = dev_pii(),
        qualification = layout.url(1),
        accounts = accounts.join(", "),
        services = services.join(", "),
    );
    Ok(layout
        .overrides
        .apply("identity", identity::config::DEFAULTS, &overrides)?)
}

/// The settings every service behind identity shares: its address, its
/// database, pretty logs and its client credentials.
fn service_overrides(layout: &Layout, index: usize) -> String {
    let service = SERVICES[index];
    format!(
        r#"
        [server]
        host = "{host}"
        port = {port}
        [database]
        url = "{db}"
        max_connections = {pool}
        [telemetry]
        log_format = "pretty"
        log_level = "{level}"
        [auth]
        identity_url = "{identity_url}"
        client_secret = "{secret}"
        "#,
        host = layout.host,
        port = layout.ports[index],
        db = layout.databases[index],
        pool = layout.max_connections,
        level = layout.log_level,
        identity_url = layout.identity_url(),
        secret = service_secret(service),
    )
}

/// Public development keys of personal data (`pii.encryption_key`,
/// `pii.hash_key`): never use them outside `sanshi dev`, tests and benchmarks.
pub const DEV_ENCRYPTION_KEY: &str = "c2Fuc2hpLWRldi1vbmx5LWVuY3J5cHRpb24ta2V5ISE=";
pub const DEV_HASH_KEY: &str = "c2Fuc2hpLWRldi1vbmx5LWxvb2t1cC1oYXNoLWtleSE=";

/// The `[pii]` section with the development keys.
fn dev_pii() -> String {
    format!("[pii]\nencryption_key = \"{DEV_ENCRYPTION_KEY}\"\nhash_key = \"{DEV_HASH_KEY}\"\n")
}

pub fn qualification_config(layout: &Layout) -> anyhow::Result<qualification::Config> {
    let overrides = service_overrides(layout, 1) + &dev_pii();
    Ok(layout
        .overrides
        .apply("qualification", qualification::config::DEFAULTS, &overrides)?)
}

pub fn matching_config(layout: &Layout) -> anyhow::Result<matching::Config> {
    let overrides = service_overrides(layout, 2)
        + &dev_pii()
        + &format!(
            "[consumers]\nqualification_url = \"{}\"\nincentive_url = \"{}\"\n",
            layout.url(1),
            layout.url(4)
        );
    Ok(layout
        .overrides
        .apply("matching", matching::config::DEFAULTS, &overrides)?)
}

pub fn records_config(layout: &Layout) -> anyhow::Result<records::Config> {
    let overrides = service_overrides(layout, 3)
        + &dev_pii()
        + &format!(
            "[consumers]\nmatching_url = \"{}\"\n[attachments]\nlocal_path = \"{}\"\n\
             [rules]\nrating_window_secs = {}\nscoring_sweep_secs = {}\nmin_duration_minutes = {}\n",
            layout.url(2),
            layout.attachments.display(),
            layout.rating_window_secs,
            layout.rating_window_secs.clamp(1, 10),
            layout.min_visit_minutes,
        );
    Ok(layout
        .overrides
        .apply("records", records::config::DEFAULTS, &overrides)?)
}

pub fn incentive_config(layout: &Layout) -> anyhow::Result<incentive::Config> {
    let overrides = service_overrides(layout, 4)
        + &dev_pii()
        + &format!(
            "[consumers]\nrecords_url = \"{}\"\nqualification_url = \"{}\"\n",
            layout.url(3),
            layout.url(1)
        );
    Ok(layout
        .overrides
        .apply("incentive", incentive::config::DEFAULTS, &overrides)?)
}

pub fn notification_config(layout: &Layout) -> anyhow::Result<notification::Config> {
    let overrides = service_overrides(layout, 5)
        + &format!(
            "[consumers]\nqualification_url = \"{}\"\nmatching_url = \"{}\"\nrecords_url = \"{}\"\nincentive_url = \"{}\"\n",
            layout.url(1),
            layout.url(2),
            layout.url(3),
            layout.url(4)
        )
        // A developer's webhook receivers run on their own machine (the
        // README's relay at 127.0.0.1:9000); deployments reach public ones only.
        + "[webhook]\nallowed_private_cidrs = [\"127.0.0.0/8\", \"::1/128\"]\n";
    Ok(layout
        .overrides
        .apply("notification", notification::config::DEFAULTS, &overrides)?)
}

pub fn gateway_config(layout: &Layout) -> anyhow::Result<gateway::Config> {
    let overrides = format!(
        "[server]\nhost = \"{host}\"\nport = {port}\n[telemetry]\nlog_format = \"pretty\"\nlog_level = \"{level}\"\n\
         [upstreams]\nidentity_url = \"{}\"\nqualification_url = \"{}\"\nmatching_url = \"{}\"\nrecords_url = \"{}\"\n\
         incentive_url = \"{}\"\nnotification_url = \"{}\"\n\
         [federation]\nclient_secret = \"{secret}\"\n{federation}\n",
        layout.url(0),
        layout.url(1),
        layout.url(2),
        layout.url(3),
        layout.url(4),
        layout.url(5),
        host = layout.host,
        port = layout.ports[6],
        level = layout.log_level,
        secret = service_secret("gateway"),
        federation = layout.federation.as_deref().unwrap_or_default(),
    );
    Ok(layout
        .overrides
        .apply("gateway", gateway::config::DEFAULTS, &overrides)?)
}

/// Every service of the platform, running in this process.
pub struct Suite {
    pub identity: kit::server::Running,
    pub qualification: kit::server::Running,
    pub matching: kit::server::Running,
    pub records: kit::server::Running,
    pub incentive: kit::server::Running,
    pub notification: kit::server::Running,
    pub gateway: gateway::Running,
    /// The text messages identity sent: registration codes, which `sanshi
    /// dev` does not send but writes to its log (target `sanshi::sms`), and
    /// which tests read here.
    pub sms: identity::sms::Outbox,
    stop: tokio::sync::broadcast::Sender<()>,
}

impl Suite {
    /// Stops every service and waits for them.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        let (a, b, c, d, e, f, g) = tokio::join!(
            self.identity.wait(),
            self.qualification.wait(),
            self.matching.wait(),
            self.records.wait(),
            self.incentive.wait(),
            self.notification.wait(),
            self.gateway.wait()
        );
        a.and(b).and(c).and(d).and(e).and(f).and(g)
    }
}

/// Starts the whole platform as `layout` says, as `sanshi dev` does.
pub async fn start(layout: &Layout) -> anyhow::Result<Suite> {
    // One shutdown signal fans out to every service.
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let signal = |stop: &tokio::sync::broadcast::Sender<()>| {
        let mut rx = stop.subscribe();
        async move {
            let _ = rx.recv().await;
        }
    };
    // Codes are logged (the configured "log" provider) and kept for tests.
    let sms = identity::sms::Outbox::logging();
    let sender: std::sync::Arc<dyn identity::sms::SmsSender> = std::sync::Arc::new(sms.clone());
    let identity = identity::start_with(identity_config(layout)?, Some(sender), signal(&stop)).await?;
    let qualification = qualification::start(qualification_config(layout)?, signal(&stop)).await?;
    let matching = matching::start(matching_config(layout)?, signal(&stop)).await?;
    let records = records::start(records_config(layout)?, signal(&stop)).await?;
    let incentive = incentive::start(incentive_config(layout)?, signal(&stop)).await?;
    let notification = notification::start(notification_config(layout)?, signal(&stop)).await?;
    let gateway = gateway::start(gateway_config(layout)?, signal(&stop)).await?;
    Ok(Suite {
        identity,
        qualification,
        matching,
        records,
        incentive,
        notification,
        gateway,
        sms,
        stop,
    })
}

/// The name `sanshi dev`'s federation certificate carries.
pub const DEV_FEDERATION_NAME: &str = "federation.sanshi.dev";

/// `sanshi dev`'s federation: a CA and a certificate in `dir`, made once
/// and kept (so that a gRPC client set up with them keeps working), and the
/// platform as its own peer `chongqing`, so that the federation port and
/// `/api/v1/federation/peers/...` can be tried with one platform. Returns
/// the gateway's `[federation]` lines.
pub fn dev_federation(dir: &Path, port: u16) -> anyhow::Result<String> {
    std::fs::create_dir_all(dir)?;
    let (ca, cert, key) = (dir.join("ca.pem"), dir.join("tls.crt"), dir.join("tls.key"));
    if !(ca.exists() && cert.exists() && key.exists()) {
        let authority = kit::dev_certs::Ca::new("Sanshi dev CA (not for production)")?;
        let issued = authority.issue(DEV_FEDERATION_NAME)?;
        std::fs::write(&ca, &authority.pem)?;
        std::fs::write(&cert, &issued.cert_pem)?;
        std::fs::write(&key, &issued.key_pem)?;
    }
    let operations = r#"["Ping", "SearchExperts", "GetProgrammeStats", "RequestSupport", "GetSupportRequest", "WatchSupportRequests"]"#;
    Ok(format!(
        r#"enabled = true
port = {port}
cert_path = "{cert}"
key_path = "{key}"
peers = [{{ name = "chongqing", province_code = "50", ca_path = "{ca}", names = ["{DEV_FEDERATION_NAME}"], allow = {operations}, url = "https://127.0.0.1:{port}", server_name = "{DEV_FEDERATION_NAME}" }}]
"#,
        cert = cert.display(),
        key = key.display(),
        ca = ca.display(),
    ))
}

/// Seeds the demo data (applications in every state, community profiles, a
/// visit with its ratings) once; returns how many applications it made (0
/// when the data was already there).
pub async fn seed(suite: &Suite, layout: &Layout) -> anyhow::Result<usize> {
    let channel = |addr: std::net::SocketAddr| tonic::transport::Channel::from_shared(format!("http://{addr}"));
    let identity_channel = channel(suite.identity.local_addr)?.connect().await?;
    let qualification_channel = channel(suite.qualification.local_addr)?.connect().await?;
    let matching_channel = channel(suite.matching.local_addr)?.connect().await?;
    let seeded = crate::seed::applications(identity_channel.clone(), qualification_channel, DEMO_PASSWORD).await?;
    crate::seed::community_profiles(identity_channel.clone(), matching_channel.clone(), DEMO_PASSWORD).await?;
    let records_channel = channel(suite.records.local_addr)?.connect().await?;
    let records_db = kit::db::connect(&records_config(layout)?.database).await?;
    crate::seed::records_demo(
        identity_channel,
        matching_channel,
        records_channel,
        &records_db,
        DEMO_PASSWORD,
    )
    .await?;
    Ok(seeded)
}

/// `sanshi dev`: `config` is `--config`, a TOML file with a table per service.
/// What `sanshi dev` is asked for besides its folder and host.
#[derive(Debug, Default)]
pub struct Options {
    /// A TOML file with a table per service, over dev's own settings.
    pub config: Option<std::path::PathBuf>,
    /// Existing databases (prefix + service name) instead of SQLite files.
    pub database_url_prefix: Option<String>,
    /// Whether to add the demo data.
    pub seed: bool,
}

pub async fn run(data_dir: &Path, host: &str, options: &Options) -> anyhow::Result<()> {
    let overrides = read_overrides(options.config.as_deref(), std::env::vars())?;
    std::fs::create_dir_all(data_dir)?;
    let mut layout = Layout::dev(data_dir, host);
    if let Some(prefix) = &options.database_url_prefix {
        layout.databases = SERVICES.map(|service| crate::national::database_url(prefix, service));
    }
    layout.federation = Some(dev_federation(&data_dir.join("federation"), 50050)?);
    layout.overrides = overrides;
    let _telemetry = kit::telemetry::init("sanshi-dev", &identity_config(&layout)?.telemetry)?;
    let suite = start(&layout).await?;
    let (identity, qualification, matching, records, incentive, notification, gateway) = (
        &suite.identity,
        &suite.qualification,
        &suite.matching,
        &suite.records,
        &suite.incentive,
        &suite.notification,
        &suite.gateway,
    );

    // Demo data is a convenience: the platform runs without it.
    match if options.seed {
        seed(&suite, &layout).await
    } else {
        Ok(0)
    } {
        Ok(0) => {}
        Ok(seeded) => tracing::info!(applications = seeded, "demo applications seeded"),
        Err(error) => tracing::warn!(error = format!("{error:#}"), "seeding demo applications failed"),
    }

    println!();
    println!(
        "Sanshi dev is running (data in {}). Ctrl-C stops it.",
        data_dir.display()
    );
    println!();
    println!(
        "  gateway   http://{}   (try POST /api/v1/auth/login)",
        gateway.local_addr
    );
    println!("  identity       grpc://{}  (reflection enabled)", identity.local_addr);
    println!("  qualification  grpc://{}", qualification.local_addr);
    println!("  matching       grpc://{}", matching.local_addr);
    println!("  records        grpc://{}", records.local_addr);
    println!("  incentive      grpc://{}", incentive.local_addr);
    println!("  notification   grpc://{}", notification.local_addr);
    if let Some(federation) = gateway.federation_addr {
        println!(
            "  federation     grpcs://{federation}  (mTLS: certificates in {}; the platform is its own peer `chongqing`)",
            data_dir.join("federation").display()
        );
    }
    if let Some(admin) = identity.admin_addr {
        println!("  metrics        http://{admin}/metrics   (every service; PUT /log-level to change logging)");
    }
    println!();
    println!("Demo accounts (username / password):");
    for (username, name, role, region) in DEMO_ACCOUNTS {
        println!("  {username} / {DEMO_PASSWORD}    # {name}, {role} @ {region}");
    }
    println!();
    println!("Registration codes (POST /api/v1/auth/phone-codes) are not texted: they appear in this log");
    println!("as `sanshi::sms` lines, for development only.");
    println!();

    kit::server::shutdown_signal().await;
    suite.stop().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn vars(pairs: &[(&str, &str)]) -> std::vec::IntoIter<(String, String)> {
        let owned: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        owned.into_iter()
    }

    #[test]
    fn config_file_and_environment_override_what_dev_sets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dev.toml");
        std::fs::write(
            &file,
            "[gateway.limits]\nper_ip_burst = 7\nper_principal_burst = 5000\n\
             [records.rules]\nmin_duration_minutes = 5\nrating_window_secs = 600\n",
        )
        .unwrap();
        let environment = vars(&[
            ("SANSHI_GATEWAY__LIMITS__PER_IP_PER_MINUTE", "60000"),
            ("SANSHI_GATEWAY__LIMITS__PER_IP_BURST", "9000"),
            ("SANSHI_RECORDS__RULES__MIN_DURATION_MINUTES", "30"),
            // A standalone service's variable: one process cannot tell whose it is.
            ("SANSHI_LIMITS__PER_IP_BURST", "1"),
            ("SANSHI_CONFIG", "/etc/sanshi/gateway.toml"),
        ]);
        let mut layout = Layout::dev(dir.path(), "127.0.0.1");
        layout.overrides = read_overrides(Some(&file), environment).unwrap();

        // What start() gives the gateway and records.
        let gateway = gateway_config(&layout).unwrap();
        assert_eq!(gateway.limits.per_ip_per_minute, 60000, "environment");
        assert_eq!(gateway.limits.per_ip_burst, 9000, "the environment wins over the file");
        assert_eq!(gateway.limits.per_principal_burst, 5000, "file");
        assert_eq!(gateway.limits.login_per_ip_burst, 10, "untouched: the default");
        assert_eq!(gateway.server.port, 8080, "untouched: dev's own");
        let records = records_config(&layout).unwrap();
        assert_eq!(
            records.rules.min_duration_minutes, 30,
            "the environment wins over dev's own"
        );
        assert_eq!(records.rules.rating_window_secs, 600, "the file wins over dev's own");
        assert_eq!(records.server.port, 50054);

        // Without overrides, dev's own settings.
        let plain = Layout::dev(dir.path(), "127.0.0.1");
        assert_eq!(gateway_config(&plain).unwrap().limits.per_ip_burst, 30);
        assert_eq!(records_config(&plain).unwrap().rules.min_duration_minutes, 15);
        assert_eq!(records_config(&plain).unwrap().rules.rating_window_secs, 120);

        // A bad value names the service and the key; so does a table that is no service.
        let bad = vars(&[("SANSHI_GATEWAY__LIMITS__PER_IP_BURST", "lots")]);
        layout.overrides = read_overrides(None, bad).unwrap();
        let error = gateway_config(&layout).unwrap_err().to_string();
        assert!(error.starts_with("gateway.limits.per_ip_burst: "), "{error}");
        std::fs::write(&file, "[gatway.limits]\nper_ip_burst = 7\n").unwrap();
        let error = read_overrides(Some(&file), vars(&[])).unwrap_err().to_string();
        assert!(error.starts_with("gatway: "), "{error}");

        // `sanshi dev --config FILE`.
        let args = ["sanshi", "dev", "--config", "dev.toml"];
        let cli = crate::Cli::try_parse_from(args).unwrap();
        let crate::Command::Dev { config, .. } = cli.command else {
            panic!("not the dev command")
        };
        assert_eq!(config.as_deref(), Some(Path::new("dev.toml")));
    }

    #[test]
    fn dev_federation_configures_the_gateway_with_itself_as_peer() {
        let dir = tempfile::tempdir().unwrap();
        let federation = dir.path().join("federation");
        let mut layout = Layout::dev(dir.path(), "127.0.0.1");
        layout.federation = Some(dev_federation(&federation, 50050).unwrap());
        assert_eq!(
            identity_config(&layout).unwrap().sms.provider,
            "log",
            "codes go to the log"
        );
        let config = gateway_config(&layout).unwrap();
        assert!(config.federation.enabled);
        assert_eq!(config.federation.peers[0].name, "chongqing");
        let peers = gateway::federation::Peers::load(&config.federation.peers).unwrap();
        assert!(
            peers
                .get("chongqing")
                .unwrap()
                .allows(gateway::federation::Operation::RequestSupport)
        );
        // Made once: a restart keeps the certificates a client was set up with.
        let ca = std::fs::read(federation.join("ca.pem")).unwrap();
        dev_federation(&federation, 50050).unwrap();
        assert_eq!(std::fs::read(federation.join("ca.pem")).unwrap(), ca);
    }
}
