//! The incentive service: points for scored service records in an
//! append-only ledger with their explanation, admin adjustments, leaderboards,
//! the yearly roll-over with star ratings, policies and the city expert team.

pub mod api;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod migrations;
pub mod rollover;
pub mod store;

use anyhow::Context as _;
pub use config::Config;
use kit::auth::Verifier;
use kit::events::{EventLog, EventLogOptions};
use kit::server::{Running, Services};
use sanshi_proto::incentive::v1::incentive_service_server::IncentiveServiceServer;
use std::sync::Arc;

pub const NAME: &str = "incentive";

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
        .context("connect incentive database")?;
    let events = EventLog::new(db.clone(), consumers::PRODUCER, EventLogOptions::default());
    let keys = kit::auth::jwks_from_url(&config.auth.identity_url)?;
    let verifier = Arc::new(Verifier::new(&config.auth.issuer, &config.auth.audience, keys));
    verifier.follow_revocations(
        kit::auth::revocations_from_url(&config.auth.identity_url)?,
        kit::auth::REVOCATION_POLL,
    );
    let idempotency = kit::idempotency::Idempotency::new(config.pii.cipher()?, config.database.idempotency_ttl());
    let incentive = Arc::new(api::Incentive::new(db.clone(), events.clone(), idempotency.clone()));
    let services = Services::new()
        .with(
            IncentiveServiceServer::new(api::Service(Arc::clone(&incentive)))
                .max_decoding_message_size(config.server.max_message_bytes),
        )
        .with(events.stream_service());
    let stop = kit::events::Stop::new(shutdown, events.clone());
    let running = kit::server::start(NAME, &config.server, verifier, services, stop.wait()).await?;
    kit::db::migrate::<migrations::Migrator>(&db)
        .await
        .context("migrate incentive database")?;
    kit::metrics::watch_database(NAME, db.clone());
    idempotency.spawn_sweeper(db.clone(), events.clone());
    events.start_sequencer();
    let follows = [
        (
            consumers::RECORDS_CONSUMER,
            "records",
            &config.consumers.records_url,
            true,
        ),
        (
            consumers::QUALIFICATION_CONSUMER,
            "qualification",
            &config.consumers.qualification_url,
            false,
        ),
    ];
    for (name, producer, url, records) in follows {
        if url.is_empty() {
            continue;
        }
        let tokens = kit::grpc::service_tokens(
            &config.auth.identity_url,
            config.auth.client_id.clone(),
            config.auth.client_secret.clone(),
        )?;
        let handler: Arc<dyn kit::events::EventHandler> = if records {
            Arc::new(consumers::RecordEvents {
                rules: config.rule_book()?,
            })
        } else {
            Arc::new(consumers::QualificationEvents)
        };
        kit::events::Consumer::new(name, producer, db.clone(), url, tokens, handler)?.spawn(stop.wait());
    }
    // A closing interrupted by a restart resumes.
    for year in store::years::unfinished(&db).await? {
        incentive.spawn_closing(year, "system".into());
    }
    running.watch_database(db.clone(), &config.database);
    running.set_ready().await;
    Ok(running)
}
