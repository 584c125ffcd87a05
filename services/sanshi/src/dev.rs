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

pub fn identity_config(data_dir: &Path, host: &str, port: u16) -> anyhow::Result<identity::Config> {
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
        [database]
        url = "sqlite://{db}"
        [telemetry]
        log_format = "pretty"
        {DEV_PII}
        [consumers]
        qualification_url = "http://{host}:50052"
        [bootstrap]
        accounts = [{accounts}]
        services = [{services}]
        "#,
        db = data_dir.join("identity.db").display(),
        accounts = accounts.join(", "),
        services = services.join(", "),
    );
    Ok(kit::config::from_toml(identity::config::DEFAULTS, &overrides)?)
}

/// The settings every service behind identity shares in `sanshi dev`: its
/// address, its SQLite file, pretty logs and its client credentials.
fn service_overrides(data_dir: &Path, host: &str, port: u16, identity_url: &str, service: &str) -> String {
    format!(
        r#"
        [server]
        host = "{host}"
        port = {port}
        [database]
        url = "sqlite://{db}"
        [telemetry]
        log_format = "pretty"
        [auth]
        identity_url = "{identity_url}"
        client_secret = "{secret}"
        "#,
        db = data_dir.join(format!("{service}.db")).display(),
        secret = service_secret(service),
    )
}

/// Public development keys: never use them outside `sanshi dev`.
const DEV_PII: &str = concat!(
    "[pii]\nencryption_key = \"c2Fuc2hpLWRldi1vbmx5LWVuY3J5cHRpb24ta2V5ISE=\"\n",
    "hash_key = \"c2Fuc2hpLWRldi1vbmx5LWxvb2t1cC1oYXNoLWtleSE=\"\n"
);

pub fn qualification_config(
    data_dir: &Path,
    host: &str,
    port: u16,
    identity_url: &str,
) -> anyhow::Result<qualification::Config> {
    let overrides = service_overrides(data_dir, host, port, identity_url, "qualification") + DEV_PII;
    Ok(kit::config::from_toml(qualification::config::DEFAULTS, &overrides)?)
}

pub fn matching_config(data_dir: &Path, host: &str, port: u16, identity_url: &str) -> anyhow::Result<matching::Config> {
    let overrides = service_overrides(data_dir, host, port, identity_url, "matching")
        + &format!(
            "[consumers]\nqualification_url = \"http://{host}:50052\"\nincentive_url = \"http://{host}:50055\"\n"
        );
    Ok(kit::config::from_toml(matching::config::DEFAULTS, &overrides)?)
}

pub fn records_config(data_dir: &Path, host: &str, port: u16, identity_url: &str) -> anyhow::Result<records::Config> {
    let overrides = service_overrides(data_dir, host, port, identity_url, "records")
        + DEV_PII
        + &format!(
            // A two-minute rating window, so that the demo's confirmed visits are scored (and
            // earn points in incentive) while one looks at them; production keeps 14 days.
            "[consumers]\nmatching_url = \"http://{host}:50053\"\n[attachments]\nlocal_path = \"{}\"\n\
             [rules]\nrating_window_secs = 120\nscoring_sweep_secs = 10\n",
            data_dir.join("attachments").display()
        );
    Ok(kit::config::from_toml(records::config::DEFAULTS, &overrides)?)
}

pub fn notification_config(
    data_dir: &Path,
    host: &str,
    port: u16,
    identity_url: &str,
) -> anyhow::Result<notification::Config> {
    let overrides = service_overrides(data_dir, host, port, identity_url, "notification")
        + &format!(
            "[consumers]\nqualification_url = \"http://{host}:50052\"\nmatching_url = \"http://{host}:50053\"\n\
             records_url = \"http://{host}:50054\"\nincentive_url = \"http://{host}:50055\"\n"
        );
    Ok(kit::config::from_toml(notification::config::DEFAULTS, &overrides)?)
}

pub fn incentive_config(
    data_dir: &Path,
    host: &str,
    port: u16,
    identity_url: &str,
) -> anyhow::Result<incentive::Config> {
    let overrides = service_overrides(data_dir, host, port, identity_url, "incentive")
        + &format!("[consumers]\nrecords_url = \"http://{host}:50054\"\nqualification_url = \"http://{host}:50052\"\n");
    Ok(kit::config::from_toml(incentive::config::DEFAULTS, &overrides)?)
}

pub fn gateway_config(host: &str, port: u16, identity_url: &str) -> anyhow::Result<gateway::Config> {
    let overrides = format!(
        "[server]\nhost = \"{host}\"\nport = {port}\n[telemetry]\nlog_format = \"pretty\"\n[upstreams]\nidentity_url = \"{identity_url}\"\n\
         qualification_url = \"http://{host}:50052\"\nmatching_url = \"http://{host}:50053\"\nrecords_url = \"http://{host}:50054\"\n\
         incentive_url = \"http://{host}:50055\"\nnotification_url = \"http://{host}:50056\"\n"
    );
    Ok(kit::config::from_toml(gateway::config::DEFAULTS, &overrides)?)
}

pub async fn run(data_dir: &Path, host: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let identity_config = identity_config(data_dir, host, 50051)?;
    let _telemetry = kit::telemetry::init("sanshi-dev", &identity_config.telemetry)?;

    // One shutdown signal fans out to every service.
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let signal = |stop: &tokio::sync::broadcast::Sender<()>| {
        let mut rx = stop.subscribe();
        async move {
            let _ = rx.recv().await;
        }
    };

    let identity = identity::start(identity_config, signal(&stop)).await?;
    let identity_url = format!("http://{}", identity.local_addr);
    let qualification = qualification::start(
        qualification_config(data_dir, host, 50052, &identity_url)?,
        signal(&stop),
    )
    .await?;
    let matching = matching::start(matching_config(data_dir, host, 50053, &identity_url)?, signal(&stop)).await?;
    let records = records::start(records_config(data_dir, host, 50054, &identity_url)?, signal(&stop)).await?;
    let incentive = incentive::start(incentive_config(data_dir, host, 50055, &identity_url)?, signal(&stop)).await?;
    let notification = notification::start(
        notification_config(data_dir, host, 50056, &identity_url)?,
        signal(&stop),
    )
    .await?;
    let gateway = gateway::start(gateway_config(host, 8080, &identity_url)?, signal(&stop)).await?;

    let channel = |addr: std::net::SocketAddr| tonic::transport::Channel::from_shared(format!("http://{addr}"));
    let seeding = async {
        let identity_channel = channel(identity.local_addr)?.connect().await?;
        let qualification_channel = channel(qualification.local_addr)?.connect().await?;
        let matching_channel = channel(matching.local_addr)?.connect().await?;
        let seeded = crate::seed::applications(identity_channel.clone(), qualification_channel, DEMO_PASSWORD).await?;
        crate::seed::community_profiles(identity_channel.clone(), matching_channel.clone(), DEMO_PASSWORD).await?;
        let records_channel = channel(records.local_addr)?.connect().await?;
        let records_db = kit::db::connect(&records_config(data_dir, host, 50054, &identity_url)?.database).await?;
        crate::seed::records_demo(
            identity_channel,
            matching_channel,
            records_channel,
            &records_db,
            DEMO_PASSWORD,
        )
        .await?;
        anyhow::Ok(seeded)
    };
    // Demo data is a convenience: the platform runs without it.
    match seeding.await {
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
    println!();
    println!("Demo accounts (username / password):");
    for (username, name, role, region) in DEMO_ACCOUNTS {
        println!("  {username} / {DEMO_PASSWORD}    # {name}, {role} @ {region}");
    }
    println!();

    kit::server::shutdown_signal().await;
    let _ = stop.send(());
    let (a, b, c, d, e, f, g) = tokio::join!(
        identity.wait(),
        qualification.wait(),
        matching.wait(),
        records.wait(),
        incentive.wait(),
        notification.wait(),
        gateway.wait()
    );
    a.and(b).and(c).and(d).and(e).and(f).and(g)
}
