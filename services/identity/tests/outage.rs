//! A database outage is visible and temporary: with its PostgreSQL
//! connections cut (through a TCP proxy the test controls), identity answers
//! UNAVAILABLE instead of INTERNAL and, once the outage lasts, its health
//! turns NOT_SERVING so that Kubernetes stops routing to it; when the
//! database is back it serves again by itself. PostgreSQL only: SQLite is a
//! file in the process, with no connection to cut.

use kit::db::testing::TestDb;
use sanshi_proto::identity::v1 as pb;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// Forwards connections to PostgreSQL while up; `cut` closes every
/// forwarded connection and refuses new ones until `restore`.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links = Arc::new(Mutex::new(Vec::new()));
        let (accepting, forwarded) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                forwarded.lock().unwrap().push(link.abort_handle());
            }
        });
        Proxy { port, up, links }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn health(channel: &tonic::transport::Channel) -> i32 {
    HealthClient::new(channel.clone())
        .check(HealthCheckRequest { service: String::new() })
        .await
        .map(|r| r.into_inner().status)
        .unwrap_or(-1)
}

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_unavailable_and_not_serving_then_recovers() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (host_port, name) = db
        .config
        .url
        .trim_start_matches("postgres://")
        .split_once('@')
        .map(|(_, rest)| rest.split_once('/').unwrap())
        .unwrap();
    let proxy = Proxy::start(host_port.to_string()).await;
    let mut config = identity::testing::config(&format!("postgres://postgres@127.0.0.1:{}/{name}", proxy.port));
    config.database.acquire_timeout_ms = 1_000;
    config.database.probe_interval_ms = 200;
    config.database.probe_failures = 3;
    let running = identity::start(config, std::future::pending()).await.unwrap();
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", running.local_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    tokio::spawn(running.wait());
    let mut auth = pb::auth_service_client::AuthServiceClient::new(channel.clone());
    let login = pb::LoginRequest {
        username: "yuzhong".into(),
        password: identity::testing::PASSWORD.into(),
    };
    assert!(auth.login(login.clone()).await.is_ok());
    assert_eq!(health(&channel).await, ServingStatus::Serving as i32);

    // Cut: calls are UNAVAILABLE (a retry may succeed), never INTERNAL, and
    // after a few failed pings the service says it is not serving.
    proxy.cut();
    let refused = auth.login(login.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("暂不可用"), "{}", refused.message());
    until("not serving during the outage", async || {
        health(&channel).await == ServingStatus::NotServing as i32
    })
    .await;

    // Restored: serving again and answering, without a restart.
    proxy.restore();
    until("serving after the outage", async || {
        health(&channel).await == ServingStatus::Serving as i32
    })
    .await;
    until("logins after the outage", async || {
        auth.clone().login(login.clone()).await.is_ok()
    })
    .await;
    drop(db);
}
