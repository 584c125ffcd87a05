//! The incentive service: points for scored service records in an
//! append-only ledger, with their explanation. Star ratings, policies, the
//! roll-over and leaderboards are domain rules so far (issue 6 continues).

pub mod api;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod migrations;
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
    let services = Services::new()
        .with(
            IncentiveServiceServer::new(api::Service(Arc::new(api::Incentive { db: db.clone() })))
                .max_decoding_message_size(config.server.max_message_bytes),
        )
        .with(events.stream_service());
    let stop = kit::events::Stop::new(shutdown, events.clone());
    let running = kit::server::start(NAME, &config.server, verifier, services, stop.wait()).await?;
    kit::db::migrate::<migrations::Migrator>(&db)
        .await
        .context("migrate incentive database")?;
    events.start_sequencer();
    if !config.consumers.records_url.is_empty() {
        let tokens = kit::grpc::service_tokens(
            &config.auth.identity_url,
            config.auth.client_id.clone(),
            config.auth.client_secret.clone(),
        )?;
        kit::events::Consumer::new(
            consumers::RECORDS_CONSUMER,
            "records",
            db.clone(),
            &config.consumers.records_url,
            tokens,
            Arc::new(consumers::RecordEvents {
                rules: consumers::StandardRules,
            }),
        )?
        .spawn(stop.wait());
    }
    running.set_ready().await;
    Ok(running)
}
