//! kit's server bootstrap: health follows readiness, and RPCs other than
//! health and reflection wait for it.

use kit::auth::SigningKey;
use kit::auth::testing::{service_claims, verifier};
use kit::config::ServerConfig;
use kit::events::{EventLog, EventLogOptions};
use kit::server::Services;
use sanshi_proto::events::v1::SubscribeRequest;
use sanshi_proto::events::v1::event_stream_service_client::EventStreamServiceClient;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn server_config() -> ServerConfig {
    ServerConfig {
        host: "127.0.0.1".into(),
        port: 0,
        request_timeout_ms: 5_000,
        concurrency_limit: 16,
        max_message_bytes: 1 << 20,
        shutdown_grace_ms: 2_000,
        admin_port: Some(0),
        admin_token: None,
    }
}

async fn health(channel: &tonic::transport::Channel, service: &str) -> i32 {
    HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_rpcs_follow_readiness() {
    let db = kit::db::testing::TestDb::sqlite().await;
    let log = EventLog::new(db.conn.clone(), "test", EventLogOptions::default());
    let key = SigningKey::generate();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = kit::server::start(
        "test",
        &server_config(),
        verifier(&key),
        Services::new().with(log.stream_service()),
        async {
            let _ = stopped.await;
        },
    )
    .await
    .unwrap();
    assert_ne!(running.local_addr.port(), 0, "port 0 picks a free port");
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", running.local_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let service = "sanshi.events.v1.EventStreamService";
    let token = key.sign(&service_claims("svc"));
    let subscribe = || {
        let mut client = EventStreamServiceClient::new(channel.clone());
        let token = token.clone();
        async move {
            client
                .subscribe(kit::grpc::with_token(SubscribeRequest { after_sequence: 0 }, &token))
                .await
        }
    };

    // Before readiness (migrations not applied): health says so, RPCs are refused.
    assert_eq!(health(&channel, "").await, ServingStatus::NotServing as i32);
    assert_eq!(health(&channel, service).await, ServingStatus::NotServing as i32);
    assert_eq!(subscribe().await.unwrap_err().code(), tonic::Code::Unavailable);
    // The refusal is counted on the admin port's /metrics, by method and code.
    let admin = running.admin_addr.expect("an admin port");
    let metrics = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "sanshi_rpc_requests_total{{service=\"test\",method=\"/{service}/Subscribe\",code=\"Unavailable\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("sanshi_rpc_duration_seconds_count{service=\"test\""),
        "{metrics}"
    );

    kit::db::migrate::<Migrator>(&db.conn).await.unwrap();
    log.start_sequencer();
    running.set_ready().await;
    assert_eq!(health(&channel, "").await, ServingStatus::Serving as i32);
    assert_eq!(health(&channel, service).await, ServingStatus::Serving as i32);
    subscribe().await.expect("served once ready");

    log.close();
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), running.wait())
        .await
        .expect("drains within the grace period")
        .unwrap();
}

struct Migrator;

impl sea_orm_migration::MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> {
        kit::events::migrations()
    }
}

/// Operators change the log level at run time on the admin port; a
/// malformed filter is refused and changes nothing.
#[tokio::test]
async fn the_log_level_changes_at_run_time() {
    let config = kit::config::TelemetryConfig {
        log_format: kit::config::LogFormat::Json,
        log_level: "info".into(),
        otlp_endpoint: None,
    };
    let telemetry = kit::telemetry::init("test", &config).unwrap();
    assert!(telemetry.installed() || std::env::var("NEXTEST").is_err());
    if !telemetry.installed() {
        return; // another test of this process set up logging (not under nextest)
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/log-level", listener.local_addr().unwrap());
    kit::metrics::serve(listener, None);
    let client = reqwest::Client::new();
    let get = || async { client.get(&url).send().await.unwrap().text().await.unwrap() };
    // The audit trail is always on (kit::telemetry::AUDIT).
    assert_eq!(get().await.trim(), "sanshi::audit=info,info");
    let changed = client.put(&url).body("warn,kit=debug").send().await.unwrap();
    assert_eq!(changed.status(), 200);
    assert!(tracing::enabled!(target: "kit::server", tracing::Level::DEBUG));
    assert!(!tracing::enabled!(target: "other", tracing::Level::INFO));
    assert!(tracing::enabled!(target: "sanshi::audit", tracing::Level::INFO));
    let level = get().await;
    assert!(level.contains("kit=debug") && level.contains("warn"), "{level}");
    let refused = client.put(&url).body("kit=loudest").send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("invalid log filter"));
    assert!(get().await.contains("kit=debug"), "unchanged");

    // With a token configured, changing the level takes it, even from loopback.
    let guarded = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let guarded_url = format!("http://{}/log-level", guarded.local_addr().unwrap());
    kit::metrics::serve(guarded, Some(kit::config::Secret::new("admin-token-0123456789")));
    let anonymous = client.put(&guarded_url).body("info").send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = client
        .put(&guarded_url)
        .bearer_auth("admin-token-0123456788")
        .body("info")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(get().await.contains("kit=debug"), "unchanged by refused calls");
    let allowed = client
        .put(&guarded_url)
        .bearer_auth("admin-token-0123456789")
        .body("info")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert!(!get().await.contains("kit=debug"));
}

/// Accepted connections answer without Nagle's delay.
#[tokio::test]
async fn accepted_connections_have_tcp_nodelay() {
    use futures::StreamExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut incoming = Box::pin(kit::server::incoming(listener));
    let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let accepted = incoming.next().await.unwrap().unwrap();
    assert!(accepted.nodelay().unwrap());
}
