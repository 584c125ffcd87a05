//! The qualification service: professionals' applications, automatic
//! pre-checks and the review workflow. It is the source of truth for who is
//! qualified to serve, and publishes `ProfessionalQualified`,
//! `QualificationSuspended`, `QualificationRevoked` and `QualificationRenewed`.

pub mod api;
pub mod config;
pub mod domain;
pub mod migrations;
pub mod store;

use anyhow::Context as _;
pub use config::Config;
use kit::auth::Verifier;
use kit::events::{EventLog, EventLogOptions};
use kit::server::{Running, Services};
use sanshi_proto::qualification::v1::qualification_service_server::QualificationServiceServer;
use std::sync::Arc;
use std::time::Duration;

/// Expires lapsed qualifications every `interval` until the event log closes
/// (which the shutdown does).
async fn expiry_sweep(qualification: Arc<api::Qualification>, interval: Duration, events: Arc<EventLog>) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        if events.is_closed() {
            return;
        }
        if let Err(error) = qualification.expire_due(chrono::Utc::now().date_naive()).await {
            tracing::warn!(error = %error, "expiry sweep failed");
        }
    }
}

pub const NAME: &str = "qualification";

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = kit::db::connect(&config.database).await?;
    kit::db::migrate::<migrations::Migrator>(&db).await
}

pub async fn serve(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    start(config, shutdown).await?.wait().await
}

/// Starts serving; other RPCs than health answer UNAVAILABLE until migrations are done.
pub async fn start(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<Running> {
    let db = kit::db::connect(&config.database)
        .await
        .context("connect qualification database")?;
    let events = EventLog::new(db.clone(), api::PRODUCER, EventLogOptions::default());
    let qualification = Arc::new(api::Qualification {
        db: db.clone(),
        cipher: config.pii.cipher()?,
        idempotency: kit::idempotency::Idempotency::new(config.pii.cipher()?, config.database.idempotency_ttl()),
        rules: domain::Rules {
            min_years_of_practice: config.rules.min_years_of_practice,
            ..Default::default()
        },
        validity_months: config.rules.validity_months,
        events: events.clone(),
    });
    let sweeper = qualification.clone();
    let keys = kit::auth::jwks_from_url(&config.auth.identity_url)?;
    let verifier = Arc::new(Verifier::new(&config.auth.issuer, &config.auth.audience, keys));
    verifier.follow_revocations(
        kit::auth::revocations_from_url(&config.auth.identity_url)?,
        kit::auth::REVOCATION_POLL,
    );
    let services = Services::new()
        .with(
            QualificationServiceServer::new(api::Service(qualification.clone()))
                .max_decoding_message_size(config.server.max_message_bytes),
        )
        .with(events.stream_service());
    let closing = events.clone();
    let shutdown = async move {
        shutdown.await;
        closing.close();
    };
    let running = kit::server::start(NAME, &config.server, verifier, services, shutdown).await?;
    kit::db::migrate::<migrations::Migrator>(&db)
        .await
        .context("migrate qualification database")?;
    kit::metrics::watch_database(NAME, db.clone());
    qualification.idempotency.spawn_sweeper(db.clone(), events.clone());
    events.start_sequencer();
    tokio::spawn(expiry_sweep(
        sweeper,
        Duration::from_secs(config.rules.expiry_sweep_secs),
        events.clone(),
    ));
    running.watch_database(db.clone(), &config.database);
    running.set_ready().await;
    Ok(running)
}
