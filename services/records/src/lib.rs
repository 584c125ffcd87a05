//! The records service: service visits, their confirmation and ratings,
//! opinion surveys and the community wellbeing index. Publishes
//! `ServiceRecordSubmitted`, `ServiceRecordConfirmed`, `ServiceRecordAmended`
//! and `ServiceRecordScored`; follows matching's events.

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
use object_store::ObjectStore;
use sanshi_proto::records::v1::{
    attachment_service_server::AttachmentServiceServer, record_service_server::RecordServiceServer,
    survey_service_server::SurveyServiceServer,
};
use std::sync::Arc;
use std::time::Duration;

pub const NAME: &str = "records";

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = kit::db::connect(&config.database).await?;
    kit::db::migrate::<migrations::Migrator>(&db).await
}

pub async fn serve(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    start(config, shutdown).await?.wait().await
}

/// The configured object store: a local folder, or an S3-compatible bucket.
fn object_store(config: &config::AttachmentsConfig) -> anyhow::Result<Arc<dyn ObjectStore>> {
    Ok(match config.store.as_str() {
        "s3" => {
            let mut builder = object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(&config.s3_bucket)
                .with_region(&config.s3_region);
            if !config.s3_endpoint.is_empty() {
                builder = builder
                    .with_endpoint(&config.s3_endpoint)
                    .with_allow_http(config.s3_endpoint.starts_with("http://"));
            }
            if !config.s3_access_key_id.is_empty() {
                builder = builder
                    .with_access_key_id(&config.s3_access_key_id)
                    .with_secret_access_key(&config.s3_secret_access_key);
            }
            Arc::new(builder.build().context("configure the s3 attachment store")?)
        }
        _ => {
            std::fs::create_dir_all(&config.local_path)
                .with_context(|| format!("create attachment folder {}", config.local_path))?;
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(
                &config.local_path,
            )?)
        }
    })
}

/// Scores records whose rating window closed, every `interval`, until shutdown.
async fn scoring_sweep(records: Arc<api::RecordsService>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        if records.events.is_closed() {
            return;
        }
        match records.score_due(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(scored) => tracing::info!(scored, "service records scored"),
            Err(error) => tracing::warn!(error = %error, "scoring sweep failed"),
        }
    }
}

/// Starts serving; other RPCs than health answer UNAVAILABLE until migrations are done.
pub async fn start(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<Running> {
    let db = kit::db::connect(&config.database)
        .await
        .context("connect records database")?;
    let events = EventLog::new(db.clone(), api::PRODUCER, EventLogOptions::default());
    let rules = &config.rules;
    let records = Arc::new(api::RecordsService {
        db: db.clone(),
        events: events.clone(),
        cipher: config.pii.cipher()?,
        idempotency: kit::idempotency::Idempotency::new(config.pii.cipher()?, config.database.idempotency_ttl()),
        objects: object_store(&config.attachments)?,
        rules: api::Rules {
            limits: domain::record::Limits {
                min_duration: chrono::Duration::minutes(rules.min_duration_minutes),
                max_duration: chrono::Duration::hours(rules.max_duration_hours),
                clock_skew: chrono::Duration::minutes(5),
                check_in_radius_km: rules.check_in_radius_km,
            },
            rating_window: chrono::Duration::seconds(rules.rating_window_secs),
            max_ratings_per_code: rules.max_ratings_per_code,
            max_attachment_bytes: config.attachments.max_bytes,
            content_types: config.attachments.content_types.clone(),
        },
    });
    let keys = kit::auth::jwks_from_url(&config.auth.identity_url)?;
    let verifier = Arc::new(Verifier::new(&config.auth.issuer, &config.auth.audience, keys));
    verifier.follow_revocations(
        kit::auth::revocations_from_url(&config.auth.identity_url)?,
        kit::auth::REVOCATION_POLL,
    );
    let max = config.server.max_message_bytes;
    let services = Services::new()
        .with(RecordServiceServer::new(api::records::Records(records.clone())).max_decoding_message_size(max))
        .with(
            AttachmentServiceServer::new(api::attachments::Attachments(records.clone()))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .with(SurveyServiceServer::new(api::surveys::Surveys(records.clone())).max_decoding_message_size(max))
        .with(events.stream_service());
    let stop = kit::events::Stop::new(shutdown, events.clone());
    let running = kit::server::start(NAME, &config.server, verifier, services, stop.wait()).await?;
    kit::db::migrate::<migrations::Migrator>(&db)
        .await
        .context("migrate records database")?;
    kit::metrics::watch_database(NAME, db.clone());
    records.idempotency.spawn_sweeper(db.clone(), events.clone());
    events.start_sequencer();
    if !config.consumers.matching_url.is_empty() {
        let tokens = kit::grpc::service_tokens(
            &config.auth.identity_url,
            config.auth.client_id.clone(),
            config.auth.client_secret.clone(),
        )?;
        kit::events::Consumer::new(
            consumers::MATCHING_CONSUMER,
            "matching",
            db.clone(),
            &config.consumers.matching_url,
            tokens,
            Arc::new(consumers::MatchingEvents),
        )?
        .spawn(stop.wait());
    }
    tokio::spawn(scoring_sweep(
        records,
        Duration::from_secs(config.rules.scoring_sweep_secs),
    ));
    running.watch_database(db.clone(), &config.database);
    running.set_ready().await;
    Ok(running)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attachments(store: &str, path: &str) -> config::AttachmentsConfig {
        let config: Config = kit::config::from_toml(
            config::DEFAULTS,
            &format!(
                r#"
                [pii]
                encryption_key = "CAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEiIyQlJic="
                hash_key = "UFFSU1RVVldYWVpbXF1eX2BhYmNkZWZnaGlqa2xtbm8="
                [attachments]
                store = "{store}"
                local_path = "{path}"
                s3_bucket = "sanshi-attachments"
                s3_endpoint = "http://minio.sanshi.svc:9000"
                s3_access_key_id = "sanshi"
                s3_secret_access_key = "secret"
                "#
            ),
        )
        .unwrap();
        config.attachments
    }

    #[tokio::test]
    async fn both_stores_are_built_from_configuration() {
        use object_store::ObjectStoreExt as _;
        let dir = tempfile::tempdir().unwrap();
        let local = object_store(&attachments("local", &dir.path().display().to_string())).unwrap();
        let path = object_store::path::Path::from("a/b");
        local.put(&path, bytes::Bytes::from_static(b"x").into()).await.unwrap();
        assert_eq!(local.get(&path).await.unwrap().bytes().await.unwrap().as_ref(), b"x");
        // Building an S3 client does not connect; its settings are taken as given.
        let s3 = object_store(&attachments("s3", "")).unwrap();
        assert!(s3.to_string().contains("sanshi-attachments"), "{s3}");
    }

    #[test]
    fn configuration_errors_name_their_key() {
        let bad: Result<Config, _> = kit::config::from_toml(
            config::DEFAULTS,
            r#"
            [pii]
            encryption_key = "CAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEiIyQlJic="
            hash_key = "UFFSU1RVVldYWVpbXF1eX2BhYmNkZWZnaGlqa2xtbm8="
            [attachments]
            store = "ftp"
            "#,
        );
        assert!(bad.unwrap_err().to_string().contains("attachments.store"));
    }
}
