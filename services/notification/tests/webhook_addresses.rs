//! Where webhooks may go: registration refuses a URL that names a private
//! address; at delivery every address a host name resolves to is checked
//! (loopback only when the operator allow-lists it), a refused address is
//! dead at once with nothing sent, and redirects are not followed; on SQLite
//! and PostgreSQL.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::Utc;
use kit::db::testing::TestDb;
use kit::events::{Event, EventHandler, EventPayload};
use notification::consumers::Events;
use notification::delivery::Sender;
use notification::store::webhooks;
use sanshi_proto::identity::v1 as id;
use sanshi_proto::matching::v1 as matching;
use sanshi_proto::notification::v1 as pb;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tonic::transport::Channel;

const NOT_PUBLIC: &str = "Webhook 地址须为公网地址";

fn t<T>(message: T, token: &str) -> tonic::Request<T> {
    kit::grpc::with_token(message, token)
}

async fn login(identity: &Channel, username: &str) -> String {
    id::auth_service_client::AuthServiceClient::new(identity.clone())
        .login(id::LoginRequest {
            username: username.into(),
            password: identity::testing::PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap()
        .access_token
}

/// (field, description) of each field violation.
fn violations(status: &tonic::Status) -> Vec<(String, String)> {
    tonic_types::StatusExt::get_error_details(status)
        .bad_request()
        .map(|b| {
            b.field_violations
                .iter()
                .map(|f| (f.field.clone(), f.description.clone()))
                .collect()
        })
        .unwrap_or_default()
}

async fn registration_refuses_private_addresses(db: TestDb) {
    let idb = TestDb::of_kind(db.kind).await.unwrap();
    let identity = identity::start(identity::testing::config(&idb.config.url), std::future::pending())
        .await
        .unwrap();
    // The defaults: no private block allow-listed.
    let config: notification::Config = kit::config::from_toml(
        notification::config::DEFAULTS,
        &format!(
            "[server]\nhost = \"127.0.0.1\"\nport = 0\n[database]\nurl = \"{}\"\n[telemetry]\nlog_format = \"pretty\"\nlog_level = \"warn\"\n[auth]\nidentity_url = \"http://{}\"\n",
            db.config.url, identity.local_addr
        ),
    )
    .unwrap();
    let server = notification::start(config, std::future::pending()).await.unwrap();
    let connect = |addr: std::net::SocketAddr| async move {
        Channel::from_shared(format!("http://{addr}")).unwrap().connect().await
    };
    let identity_channel = connect(identity.local_addr).await.unwrap();
    let mut client =
        pb::notification_service_client::NotificationServiceClient::new(connect(server.local_addr).await.unwrap());
    tokio::spawn(identity.wait());
    tokio::spawn(server.wait());
    let token = login(&identity_channel, "yuzhong").await;
    let register = |url: &str| {
        t(
            pb::RegisterWebhookRequest {
                url: url.into(),
                ..Default::default()
            },
            &token,
        )
    };

    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://127.0.0.1:9000/hook",
        "http://0x7f000001/",
        "http://[::1]/",
        "https://192.168.1.1/",
        "http://100.64.0.1/",
    ] {
        let refused = client.register_webhook(register(url)).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{url}");
        assert_eq!(
            violations(&refused),
            [("url".to_string(), NOT_PUBLIC.to_string())],
            "{url}"
        );
    }
    for url in ["ftp://example.cn/", "gopher://127.0.0.1:25/", "file:///etc/passwd"] {
        let refused = client.register_webhook(register(url)).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{url}");
        assert_eq!(violations(&refused)[0].0, "url", "{url}");
    }
    // A host name is checked where it leads, at each delivery.
    for url in ["https://hooks.example.cn/sanshi", "http://localhost:9000/hook"] {
        let hook = client.register_webhook(register(url)).await.unwrap().into_inner();
        assert_eq!(hook.url, url);
    }
    drop(idb);
}

/// Requests per path, whatever their method.
type Hits = Arc<Mutex<HashMap<String, u32>>>;

/// A receiver on loopback: `/moved` answers 302 to `elsewhere` (when
/// given), any other path 200.
async fn receiver(elsewhere: Option<SocketAddr>) -> (SocketAddr, Hits) {
    async fn receive(
        State((hits, elsewhere)): State<(Hits, Option<SocketAddr>)>,
        Path(path): Path<String>,
    ) -> axum::response::Response {
        *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
        match (path.as_str(), elsewhere) {
            ("moved", Some(to)) => (
                StatusCode::FOUND,
                [(axum::http::header::LOCATION, format!("http://{to}/stolen"))],
            )
                .into_response(),
            _ => StatusCode::OK.into_response(),
        }
    }
    let hits: Hits = Arc::default();
    let app = axum::Router::new()
        .route("/{path}", axum::routing::any(receive))
        .with_state((hits.clone(), elsewhere));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, hits)
}

/// A sender allowing `allowed` (TOML list items) besides public addresses;
/// a failed attempt waits long enough not to be tried again in the test.
fn sender(db: &TestDb, allowed: &str) -> Sender {
    let config: notification::Config = kit::config::from_toml(
        notification::config::DEFAULTS,
        &format!(
            "[webhook]\ntimeout_ms = 2000\nmax_attempts = 3\ninitial_backoff_ms = 60000\nmax_backoff_ms = 60000\n\
             allowed_private_cidrs = [{allowed}]\n"
        ),
    )
    .unwrap();
    Sender::new(db.conn.clone(), config.webhook, config.email).unwrap()
}

/// `owner`'s webhook at `url`, and a notification for them that goes at once.
async fn notify(db: &TestDb, owner: &str, url: String) {
    let hook = webhooks::Webhook {
        id: format!("w-{owner}"),
        owner_id: owner.into(),
        url,
        secret: "s".repeat(64),
        region_code: String::new(),
    };
    webhooks::add(&db.conn, &hook, Utc::now()).await.unwrap();
    let invitation = matching::MatchProposed {
        match_id: format!("m-{owner}"),
        community_code: "500103003013".into(),
        professional_account_id: owner.into(),
        initiated_by: "community".into(),
        ..Default::default()
    };
    let event = Event {
        id: format!("e-{owner}"),
        r#type: <matching::MatchProposed as EventPayload>::TYPE.into(),
        payload: prost::Message::encode_to_vec(&invitation),
        ..Default::default()
    };
    let txn = kit::db::begin(&db.conn).await.unwrap();
    Events { email: false }.apply(&txn, &event).await.unwrap();
    txn.commit().await.unwrap();
}

/// `owner`'s one delivery.
async fn delivery(db: &TestDb, owner: &str) -> webhooks::Delivery {
    let all = webhooks::list(&db.conn, Some(owner), None, 0, 10).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    all.into_iter().next().unwrap()
}

async fn deliveries_reach_checked_addresses_only(db: TestDb) {
    kit::db::migrate::<notification::migrations::Migrator>(&db.conn)
        .await
        .unwrap();
    let (elsewhere, stolen) = receiver(None).await;
    let (at, hits) = receiver(Some(elsewhere)).await;

    // A name that resolves to loopback, loopback not allow-listed: nothing
    // is sent, and the delivery is dead after one attempt (of three).
    let public_only = sender(&db, "");
    notify(&db, "p1", format!("http://localhost:{}/hook", at.port())).await;
    assert_eq!(public_only.send_due().await.unwrap(), 1);
    let refused = delivery(&db, "p1").await;
    assert_eq!((refused.state.as_str(), refused.attempts), ("dead", 1));
    assert!(refused.last_error.contains("not permitted"), "{}", refused.last_error);
    // So is a URL naming the address (one stored before registration checked).
    notify(&db, "p2", format!("http://{at}/hook")).await;
    assert_eq!(public_only.send_due().await.unwrap(), 1);
    assert_eq!(delivery(&db, "p2").await.state, "dead");
    assert!(hits.lock().unwrap().is_empty(), "the receiver got nothing");

    // With loopback allow-listed, the same name is delivered to.
    let with_loopback = sender(&db, r#""127.0.0.0/8", "::1/128""#);
    notify(&db, "p3", format!("http://localhost:{}/hook", at.port())).await;
    assert_eq!(with_loopback.send_due().await.unwrap(), 1);
    let delivered = delivery(&db, "p3").await;
    assert_eq!(delivered.state, "delivered", "{}", delivered.last_error);
    assert_eq!(hits.lock().unwrap().get("hook"), Some(&1));

    // A redirect is not followed, even to an allowed address: the attempt
    // failed and waits for the next.
    notify(&db, "p4", format!("http://localhost:{}/moved", at.port())).await;
    assert_eq!(with_loopback.send_due().await.unwrap(), 1);
    let moved = delivery(&db, "p4").await;
    assert_eq!((moved.state.as_str(), moved.attempts), ("pending", 1));
    assert!(moved.last_error.starts_with("HTTP 302"), "{}", moved.last_error);
    assert_eq!(hits.lock().unwrap().get("moved"), Some(&1));
    assert!(stolen.lock().unwrap().is_empty(), "the redirect's target got nothing");
    drop(db);
}

kit::db_tests!(
    registration_refuses_private_addresses,
    deliveries_reach_checked_addresses_only
);
