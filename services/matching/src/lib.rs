//! The matching service: communities and their profiles, the read model of
//! qualified professionals, two-way matching, recommendations, optimal batch
//! assignment, teams and residents' needs. Publishes `MatchConfirmed`,
//! `MatchEnded`, `MatchSuspended`, `NeedAssigned`, `NeedResolved` …; follows
//! qualification's events.

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
use sanshi_proto::matching::v1::{
    assignment_service_server::AssignmentServiceServer, community_service_server::CommunityServiceServer,
    federation_support_service_server::FederationSupportServiceServer, match_service_server::MatchServiceServer,
    need_service_server::NeedServiceServer, professional_service_server::ProfessionalServiceServer,
    team_service_server::TeamServiceServer,
};
use std::sync::Arc;
use std::time::Duration;

pub const NAME: &str = "matching";

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = kit::db::connect(&config.database).await?;
    kit::db::migrate::<migrations::Migrator>(&db).await
}

pub async fn serve(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    start(config, shutdown).await?.wait().await
}

/// Marks pending matches past their time expired, every `interval`, until shutdown.
async fn expiry_sweep(db: sea_orm::DatabaseConnection, interval: Duration, events: Arc<EventLog>) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        if events.is_closed() {
            return;
        }
        match store::matches::expire_due(&db, chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "pending matches expired"),
            Err(error) => tracing::warn!(error = %error, "expiry sweep failed"),
        }
    }
}

/// Starts serving; other RPCs than health answer UNAVAILABLE until migrations are done.
pub async fn start(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<Running> {
    let db = kit::db::connect(&config.database)
        .await
        .context("connect matching database")?;
    let events = EventLog::new(db.clone(), api::PRODUCER, EventLogOptions::default());
    let rules = &config.rules;
    let matching = Arc::new(api::Matching {
        db: db.clone(),
        events: events.clone(),
        idempotency: kit::idempotency::Idempotency::new(config.pii.cipher()?, config.database.idempotency_ttl()),
        rules: api::Rules {
            offer_ttl: chrono::Duration::seconds(rules.offer_ttl_secs as i64),
            default_capacity: rules.default_capacity,
            max_capacity: rules.max_capacity,
            default_max_distance_km: rules.default_max_distance_km,
            max_distance_limit_km: rules.max_distance_limit_km,
        },
        federation_client: config.federation.gateway_client_id.clone(),
    });
    let keys = kit::auth::jwks_from_url(&config.auth.identity_url)?;
    let verifier = Arc::new(Verifier::new(&config.auth.issuer, &config.auth.audience, keys));
    verifier.follow_revocations(
        kit::auth::revocations_from_url(&config.auth.identity_url)?,
        kit::auth::REVOCATION_POLL,
    );
    let max = config.server.max_message_bytes;
    let services = Services::new()
        .with(
            CommunityServiceServer::new(api::communities::Communities(matching.clone())).max_decoding_message_size(max),
        )
        .with(
            ProfessionalServiceServer::new(api::professionals::Professionals(matching.clone()))
                .max_decoding_message_size(max),
        )
        .with(MatchServiceServer::new(api::matches::Matches(matching.clone())).max_decoding_message_size(max))
        .with(TeamServiceServer::new(api::teams::Teams(matching.clone())).max_decoding_message_size(max))
        .with(NeedServiceServer::new(api::needs::Needs(matching.clone())).max_decoding_message_size(max))
        .with(
            AssignmentServiceServer::new(api::assignments::Assignments(matching.clone()))
                .max_decoding_message_size(max),
        )
        .with(
            FederationSupportServiceServer::new(api::federation::Federation(matching.clone()))
                .max_decoding_message_size(max),
        )
        .with(events.stream_service());
    let stop = kit::events::Stop::new(shutdown, events.clone());
    let running = kit::server::start(NAME, &config.server, verifier, services, stop.wait()).await?;
    kit::db::migrate::<migrations::Migrator>(&db)
        .await
        .context("migrate matching database")?;
    kit::metrics::watch_database(NAME, db.clone());
    matching.idempotency.spawn_sweeper(db.clone(), events.clone());
    events.start_sequencer();
    if !config.consumers.qualification_url.is_empty() {
        let tokens = kit::grpc::service_tokens(
            &config.auth.identity_url,
            config.auth.client_id.clone(),
            config.auth.client_secret.clone(),
        )?;
        let handler = Arc::new(consumers::QualificationEvents {
            default_capacity: config.rules.default_capacity,
        });
        kit::events::Consumer::new(
            consumers::QUALIFICATION_CONSUMER,
            "qualification",
            db.clone(),
            &config.consumers.qualification_url,
            tokens,
            handler,
        )?
        .spawn(stop.wait());
    }
    if !config.consumers.incentive_url.is_empty() {
        let tokens = kit::grpc::service_tokens(
            &config.auth.identity_url,
            config.auth.client_id.clone(),
            config.auth.client_secret.clone(),
        )?;
        kit::events::Consumer::new(
            consumers::INCENTIVE_CONSUMER,
            "incentive",
            db.clone(),
            &config.consumers.incentive_url,
            tokens,
            Arc::new(consumers::IncentiveEvents),
        )?
        .spawn(stop.wait());
    }
    running.watch_database(db.clone(), &config.database);
    tokio::spawn(expiry_sweep(
        db,
        Duration::from_secs(config.rules.expiry_sweep_secs),
        events.clone(),
    ));
    running.set_ready().await;
    Ok(running)
}
