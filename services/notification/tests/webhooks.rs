//! Webhooks: signed POSTs to a receiver in this process (on loopback, which
//! the configuration allow-lists), retried after 500s and timeouts,
//! dead-lettered after the last attempt, retried by an admin; on SQLite and
//! PostgreSQL.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use kit::db::testing::TestDb;
use kit::events::{Event, EventHandler, EventPayload};
use notification::consumers::Events;
use notification::domain::signature;
use sanshi_proto::identity::v1 as id;
use sanshi_proto::notification::v1 as pb;
use sanshi_proto::records::v1 as records;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tonic::transport::Channel;

fn t<T>(message: T, token: &str) -> tonic::Request<T> {
    kit::grpc::with_token(message, token)
}

/// What the receiver knows and saw.
#[derive(Default)]
struct Receiver {
    /// Secret per path, once registered.
    secrets: HashMap<String, String>,
    /// Requests per path.
    hits: HashMap<String, u32>,
    bad_signatures: u32,
    /// Paths that answer 200 from now on.
    healed: Vec<String>,
    bodies: Vec<serde_json::Value>,
}

type Shared = Arc<Mutex<Receiver>>;

async fn receive(State(r): State<Shared>, Path(path): Path<String>, headers: HeaderMap, body: String) -> StatusCode {
    let hits = {
        let mut r = r.lock().unwrap();
        let secret = r.secrets.get(&path).cloned().unwrap_or_default();
        let timestamp: i64 = headers
            .get(signature::TIMESTAMP_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let signed = headers
            .get(signature::SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !signature::verify(&secret, timestamp, body.as_bytes(), signed) {
            r.bad_signatures += 1;
        }
        r.bodies.push(serde_json::from_str(&body).unwrap_or_default());
        let hits = {
            let count = r.hits.entry(path.clone()).or_default();
            *count += 1;
            *count
        };
        if r.healed.contains(&path) {
            return StatusCode::OK;
        }
        hits
    };
    match path.as_str() {
        "flaky" if hits <= 2 => StatusCode::INTERNAL_SERVER_ERROR,
        "flaky" => StatusCode::OK,
        "slow" => {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            StatusCode::OK
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn login(identity: &Channel, username: &str) -> (String, String) {
    let token = id::auth_service_client::AuthServiceClient::new(identity.clone())
        .login(id::LoginRequest {
            username: username.into(),
            password: identity::testing::PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap()
        .access_token;
    let me = id::account_service_client::AccountServiceClient::new(identity.clone())
        .get_account(t(id::GetAccountRequest { id: "me".into() }, &token))
        .await
        .unwrap()
        .into_inner();
    (token, me.id)
}

async fn confirmed(db: &TestDb, event_id: &str, professional: &str) {
    let payload = records::ServiceRecordConfirmed {
        record_id: format!("r-{event_id}"),
        professional_account_id: professional.into(),
        community_code: "500103003013".into(),
        service_type: "deliberation".into(),
    };
    let event = Event {
        id: event_id.into(),
        r#type: <records::ServiceRecordConfirmed as EventPayload>::TYPE.into(),
        payload: prost::Message::encode_to_vec(&payload),
        ..Default::default()
    };
    let txn = kit::db::begin(&db.conn).await.unwrap();
    Events { email: false }.apply(&txn, &event).await.unwrap();
    txn.commit().await.unwrap();
}

/// Deliveries the caller sees, once none is pending any more (or after 15 s).
async fn settled(
    client: &mut pb::notification_service_client::NotificationServiceClient<Channel>,
    token: &str,
) -> Vec<pb::Delivery> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let all = client
            .list_deliveries(t(pb::ListDeliveriesRequest::default(), token))
            .await
            .unwrap()
            .into_inner()
            .deliveries;
        if all.iter().all(|d| d.state != pb::DeliveryState::Pending as i32) || std::time::Instant::now() > deadline {
            return all;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn webhooks_retry_and_dead_letter(db: TestDb) {
    let receiver: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/hook/{path}", axum::routing::post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hooks_at = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let idb = TestDb::of_kind(db.kind).await.unwrap();
    let identity = identity::start(identity::testing::config(&idb.config.url), std::future::pending())
        .await
        .unwrap();
    let config: notification::Config = kit::config::from_toml(
        notification::config::DEFAULTS,
        &format!(
            "[server]\nhost = \"127.0.0.1\"\nport = 0\n[database]\nurl = \"{}\"\n[telemetry]\nlog_format = \"pretty\"\nlog_level = \"warn\"\n[auth]\nidentity_url = \"http://{}\"\n\
             [webhook]\ntimeout_ms = 300\npoll_ms = 50\nmax_attempts = 3\ninitial_backoff_ms = 50\nmax_backoff_ms = 200\n\
             allowed_private_cidrs = [\"127.0.0.0/8\"]\n",
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

    let (flaky, flaky_id) = login(&identity_channel, "yuzhong").await;
    let (down, down_id) = login(&identity_channel, "dadukou").await;
    let (slow, slow_id) = login(&identity_channel, "jiefangbei").await;
    let (city, _) = login(&identity_channel, "city").await;
    for (token, path) in [(&flaky, "flaky"), (&down, "down"), (&slow, "slow")] {
        let hook = client
            .register_webhook(t(
                pb::RegisterWebhookRequest {
                    url: format!("http://{hooks_at}/hook/{path}"),
                    ..Default::default()
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(hook.secret.len(), 64);
        receiver.lock().unwrap().secrets.insert(path.into(), hook.secret);
    }
    let bad = client
        .register_webhook(t(
            pb::RegisterWebhookRequest {
                url: "ftp://x".into(),
                ..Default::default()
            },
            &flaky,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);

    confirmed(&db, "e1", &flaky_id).await;
    confirmed(&db, "e1", &flaky_id).await; // delivered again: no second POST
    confirmed(&db, "e2", &down_id).await;
    confirmed(&db, "e3", &slow_id).await;

    // flaky: 500, 500, then 200 on the third attempt.
    let mine = settled(&mut client, &flaky).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(
        (mine[0].state, mine[0].attempts),
        (pb::DeliveryState::Delivered as i32, 3)
    );
    // down: dead after three 500s; slow: dead after three timeouts.
    let theirs = settled(&mut client, &down).await;
    assert_eq!(
        (theirs[0].state, theirs[0].attempts, theirs[0].last_error.as_str()),
        (pb::DeliveryState::Dead as i32, 3, "HTTP 500")
    );
    let timed_out = settled(&mut client, &slow).await;
    assert_eq!(
        (timed_out[0].state, timed_out[0].last_error.as_str()),
        (pb::DeliveryState::Dead as i32, "timed out")
    );
    {
        let r = receiver.lock().unwrap();
        assert_eq!(r.bad_signatures, 0, "every POST is signed with its webhook's secret");
        assert_eq!(r.hits.get("flaky"), Some(&3));
        assert_eq!(r.bodies[0]["title"], "服务记录已确认");
    }

    // Only the owner or a city admin may retry; the admin retries once it is fixed.
    let retry = pb::RetryDeliveryRequest {
        id: theirs[0].id.clone(),
    };
    let denied = client.retry_delivery(t(retry.clone(), &flaky)).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::NotFound);
    receiver.lock().unwrap().healed.push("down".into());
    let again = client
        .retry_delivery(t(retry.clone(), &city))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.state, pb::DeliveryState::Pending as i32);
    let fixed = settled(&mut client, &down).await;
    assert_eq!(
        (fixed[0].state, fixed[0].attempts),
        (pb::DeliveryState::Delivered as i32, 1)
    );
    // Retried once delivered (the admin's answer lost): the delivery as it
    // is, not reset and not sent again.
    let done = client.retry_delivery(t(retry, &city)).await.unwrap().into_inner();
    assert_eq!(
        (done.id.as_str(), done.state, done.attempts),
        (fixed[0].id.as_str(), pb::DeliveryState::Delivered as i32, 1)
    );
    assert_eq!(done.update_time, fixed[0].update_time);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        receiver.lock().unwrap().hits.get("down"),
        Some(&4),
        "three failures, then one success"
    );
    let still = settled(&mut client, &down).await;
    assert_eq!(
        (still[0].state, still[0].attempts),
        (pb::DeliveryState::Delivered as i32, 1)
    );
    // Every attempt's outcome is counted for the operators' metrics (per
    // process: at least this test's own).
    let metrics = kit::metrics::render().await;
    for (outcome, at_least) in [("delivered", 2.0), ("retry", 6.0), ("dead", 2.0)] {
        let series = format!("sanshi_notification_deliveries_total{{channel=\"webhook\",outcome=\"{outcome}\"}} ");
        let value: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .unwrap_or_else(|| panic!("{series} missing from:\n{metrics}"))
            .parse()
            .unwrap();
        assert!(value >= at_least, "{series}{value}");
    }
    // The admin sees everyone's deliveries; dead ones can be listed alone.
    let everyone = client
        .list_deliveries(t(pb::ListDeliveriesRequest::default(), &city))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(everyone.deliveries.len(), 3);
    let dead = client
        .list_deliveries(t(
            pb::ListDeliveriesRequest {
                state: pb::DeliveryState::Dead as i32,
                ..Default::default()
            },
            &city,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dead.deliveries.len(), 1);
    drop(idb);
}

kit::db_tests!(webhooks_retry_and_dead_letter);
