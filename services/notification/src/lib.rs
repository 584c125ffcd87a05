//! The notification service: in-app inboxes filled from the platform's
//! events by Chinese templates; webhook and e-mail channels with retries and
//! dead letters; preferences, daily digests and quiet hours; announcements.

pub mod api;
pub mod config;
pub mod consumers;
pub mod delivery;
pub mod domain;
pub mod migrations;
pub mod store;

use anyhow::Context as _;
pub use config::Config;
use kit::auth::Verifier;
use kit::events::{EventLog, EventLogOptions};
use kit::server::{Running, Services};
use sanshi_proto::notification::v1::notification_service_server::NotificationServiceServer;
use std::sync::Arc;

pub const NAME: &str = "notification";

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
        .context("connect notification database")?;
    // Notification publishes nothing yet; its outbox and stream exist like every service's.
    let events = EventLog::new(db.clone(), NAME, EventLogOptions::default());
    let keys = kit::auth::jwks_from_url(&config.auth.identity_url)?;
    let verifier = Arc::new(Verifier::new(&config.auth.issuer, &config.auth.audience, keys));
    verifier.follow_revocations(
        kit::auth::revocations_from_url(&config.auth.identity_url)?,
        kit::auth::REVOCATION_POLL,
    );
    let services = Services::new()
        .with(
            NotificationServiceServer::new(api::Service(Arc::new(api::Inbox {
                db: db.clone(),
                addresses: config.webhook.addresses()?,
            })))
            .max_decoding_message_size(config.server.max_message_bytes),
        )
        .with(events.stream_service());
    let stop = kit::events::Stop::new(shutdown, events.clone());
    let running = kit::server::start(NAME, &config.server, verifier, services, stop.wait()).await?;
    kit::db::migrate::<migrations::Migrator>(&db)
        .await
        .context("migrate notification database")?;
    kit::metrics::watch_database(NAME, db.clone());
    events.start_sequencer();
    for (name, producer, url) in config.consumers.streams() {
        let tokens = kit::grpc::service_tokens(
            &config.auth.identity_url,
            config.auth.client_id.clone(),
            config.auth.client_secret.clone(),
        )?;
        kit::events::Consumer::new(
            name,
            producer,
            db.clone(),
            url,
            tokens,
            Arc::new(consumers::Events {
                email: config.email.enabled(),
            }),
        )?
        .spawn(stop.wait());
    }
    tokio::spawn(delivery::Sender::new(db.clone(), config.webhook.clone(), config.email.clone())?.run(stop.wait()));
    running.watch_database(db.clone(), &config.database);
    running.set_ready().await;
    Ok(running)
}
