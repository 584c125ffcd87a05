//! Channels and preferences, driven by the sender's own steps with chosen
//! clocks: e-mail through an SMTP sink in this process (a refusal retried),
//! the daily digest bundling low-priority notifications once a day, quiet
//! hours holding deliveries back, and two senders never sending one
//! delivery twice; on SQLite and PostgreSQL.

use axum::extract::State;
use chrono::{DateTime, TimeZone, Utc};
use kit::db::testing::TestDb;
use kit::events::{Event, EventHandler, EventPayload};
use notification::consumers::Events;
use notification::delivery::Sender;
use notification::domain::preferences::{CategoryChannels, Preferences, QuietHours};
use notification::store::{preferences, webhooks};
use sanshi_proto::incentive::v1 as incentive;
use sanshi_proto::matching::v1 as matching;
use sea_orm::ConnectionTrait;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A mail server that accepts everything after refusing `refuse` times.
#[derive(Default)]
struct Sink {
    /// (recipients, message) of each mail accepted.
    mails: Mutex<Vec<(Vec<String>, String)>>,
    refuse: AtomicU32,
}

async fn smtp_sink(sink: Arc<Sink>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut recipients = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "MAIL" if sink.refuse.load(Ordering::SeqCst) > 0 => {
                            sink.refuse.fetch_sub(1, Ordering::SeqCst);
                            b"451 4.3.0 try again later\r\n"
                        }
                        "RCPT" => {
                            recipients.push(line[8..].trim().trim_matches(['<', '>']).to_string());
                            b"250 ok\r\n"
                        }
                        "DATA" => {
                            write.write_all(b"354 go ahead\r\n").await.unwrap();
                            let mut message = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                message.push_str(&l);
                                message.push('\n');
                            }
                            sink.mails
                                .lock()
                                .unwrap()
                                .push((std::mem::take(&mut recipients), message));
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    addr
}

/// Every POST body the webhook receiver got.
type Posts = Arc<Mutex<Vec<serde_json::Value>>>;

async fn receiver(delay_ms: u64) -> (std::net::SocketAddr, Posts) {
    async fn receive(State((posts, delay)): State<(Posts, u64)>, body: String) -> axum::http::StatusCode {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        posts
            .lock()
            .unwrap()
            .push(serde_json::from_str(&body).unwrap_or_default());
        axum::http::StatusCode::OK
    }
    let posts: Posts = Arc::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state((posts.clone(), delay_ms));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, posts)
}

fn sender(db: &TestDb, smtp: std::net::SocketAddr) -> Sender {
    let config: notification::Config = kit::config::from_toml(
        notification::config::DEFAULTS,
        &format!(
            "[webhook]\ntimeout_ms = 2000\nmax_attempts = 3\ninitial_backoff_ms = 200\nmax_backoff_ms = 400\n\
             allowed_private_cidrs = [\"127.0.0.0/8\"]\n\
             [email]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\n",
            smtp.port()
        ),
    )
    .unwrap();
    Sender::new(db.conn.clone(), config.webhook, config.email).unwrap()
}

fn event<P: EventPayload>(id: &str, payload: &P) -> Event {
    Event {
        id: id.into(),
        r#type: P::TYPE.into(),
        payload: payload.encode_to_vec(),
        ..Default::default()
    }
}

async fn apply(db: &TestDb, e: &Event) {
    let txn = kit::db::begin(&db.conn).await.unwrap();
    Events { email: true }.apply(&txn, e).await.unwrap();
    txn.commit().await.unwrap();
}

fn points(id: &str, professional: &str, tenths: i64) -> Event {
    event(
        id,
        &incentive::PointsAwarded {
            professional_account_id: professional.into(),
            source: format!("record:{id}"),
            tenths,
            ..Default::default()
        },
    )
}

fn invitation(id: &str, professional: &str) -> Event {
    event(
        id,
        &matching::MatchProposed {
            match_id: format!("m-{id}"),
            community_code: "500103003013".into(),
            professional_account_id: professional.into(),
            initiated_by: "community".into(),
            ..Default::default()
        },
    )
}

/// Beijing wall-clock time on 2026-11-`day` (days before these tests were
/// written, so that what a digest queues is due at once).
fn beijing(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, minute, 0).unwrap() - chrono::Duration::hours(8)
}

async fn hook(db: &TestDb, owner: &str, at: std::net::SocketAddr) {
    let w = webhooks::Webhook {
        id: format!("w-{owner}"),
        owner_id: owner.into(),
        url: format!("http://{at}/hook"),
        secret: "s".repeat(64),
        region_code: String::new(),
    };
    webhooks::add(&db.conn, &w, Utc::now()).await.unwrap();
}

async fn deliveries(db: &TestDb, owner: &str) -> Vec<webhooks::Delivery> {
    webhooks::list(&db.conn, Some(owner), None, 0, 100).await.unwrap()
}

async fn email_and_the_daily_digest(db: TestDb) {
    kit::db::migrate::<notification::migrations::Migrator>(&db.conn)
        .await
        .unwrap();
    let sink = Arc::new(Sink::default());
    let smtp = smtp_sink(sink.clone()).await;
    let (hooks_at, posts) = receiver(0).await;
    let sender = sender(&db, smtp);
    hook(&db, "p1", hooks_at).await;
    let prefs = Preferences {
        email: "p1@example.cn".into(),
        daily_digest: true,
        digest_hour: 8,
        ..Default::default()
    };
    preferences::put(&db.conn, "p1", &prefs, Utc::now()).await.unwrap();

    // Three low-priority notifications wait for the digest; the invitation goes at once.
    for (i, tenths) in [132, 240, 6].into_iter().enumerate() {
        apply(&db, &points(&format!("pa{i}"), "p1", tenths)).await;
    }
    apply(&db, &invitation("inv1", "p1")).await;
    // The first attempt at the mail is refused (451) and retried.
    sink.refuse.store(1, Ordering::SeqCst);
    assert_eq!(
        sender.send_due().await.unwrap(),
        2,
        "webhook and e-mail of the invitation"
    );
    tokio::time::sleep(std::time::Duration::from_millis(450)).await;
    assert_eq!(sender.send_due().await.unwrap(), 1, "the refused e-mail again");
    let sent = deliveries(&db, "p1").await;
    assert!(sent.iter().all(|d| d.state == "delivered"), "{sent:?}");
    let email = sent.iter().find(|d| d.channel == "email").unwrap();
    assert_eq!((email.attempts, email.email.as_str()), (2, "p1@example.cn"));
    {
        let mails = sink.mails.lock().unwrap();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].0, ["p1@example.cn"]);
        assert!(
            mails[0]
                .1
                .contains(&format!("Message-ID: <{}@sanshi>", email.notification_id)),
            "{}",
            mails[0].1
        );
        assert_eq!(posts.lock().unwrap()[0]["title"], "社区服务邀请");
    }

    // Before 08:00 Beijing time nothing is bundled; from 08:00, once.
    assert_eq!(sender.send_digests(beijing(20, 7, 59)).await.unwrap(), 0);
    assert_eq!(sender.send_digests(beijing(20, 8, 1)).await.unwrap(), 1);
    assert_eq!(sender.send_digests(beijing(20, 9, 0)).await.unwrap(), 0);
    assert_eq!(sender.send_due().await.unwrap(), 2, "the digest by webhook and e-mail");
    {
        let posts = posts.lock().unwrap();
        assert_eq!(posts.len(), 2);
        assert_eq!(posts[1]["category"], "digest");
        assert_eq!(posts[1]["title"], "每日通知摘要（3 条）");
        let body = posts[1]["body"].as_str().unwrap();
        assert!(
            body.contains("获得积分 13.2") && body.contains("获得积分 0.6"),
            "{body}"
        );
        assert_eq!(sink.mails.lock().unwrap().len(), 2);
    }
    // The digest is not an inbox item; the three bundled ones are.
    let listed = notification::store::inbox::list(&db.conn, &["p1".to_string()], false, 0, 50)
        .await
        .unwrap();
    assert_eq!(listed.len(), 4);
    // A point awarded after today's digest waits for tomorrow's.
    apply(&db, &points("pa9", "p1", 10)).await;
    assert_eq!(sender.send_digests(beijing(20, 20, 0)).await.unwrap(), 0);
    assert_eq!(sender.send_digests(beijing(21, 8, 0)).await.unwrap(), 1);
    assert_eq!(sender.send_due().await.unwrap(), 2);

    // Categories: no e-mail for points. With the digest off, what waits goes at once.
    let prefs = Preferences {
        categories: vec![CategoryChannels {
            category: "points".into(),
            webhook: true,
            email: false,
        }],
        daily_digest: false,
        ..prefs
    };
    preferences::put(&db.conn, "p1", &prefs, Utc::now()).await.unwrap();
    apply(&db, &points("pb1", "p1", 10)).await;
    let before = sink.mails.lock().unwrap().len();
    sender.send_due().await.unwrap();
    assert_eq!(sink.mails.lock().unwrap().len(), before, "points never by e-mail now");
    assert_eq!(
        posts.lock().unwrap().last().unwrap()["body"],
        "服务记录已计分，获得积分 1.0。"
    );
    drop(db);
}

async fn quiet_hours_and_two_senders(db: TestDb) {
    kit::db::migrate::<notification::migrations::Migrator>(&db.conn)
        .await
        .unwrap();
    let sink = Arc::new(Sink::default());
    let smtp = smtp_sink(sink.clone()).await;
    let (hooks_at, posts) = receiver(15).await;

    // Quiet from ten minutes ago for an hour (Beijing time): held until it ends.
    hook(&db, "night", hooks_at).await;
    let local = Utc::now() + chrono::Duration::hours(8);
    let minute = (chrono::Timelike::hour(&local) * 60 + chrono::Timelike::minute(&local)) as i32;
    let quiet = Preferences {
        quiet: QuietHours {
            start_minute: (minute - 10).rem_euclid(1440),
            end_minute: (minute + 60).rem_euclid(1440),
        },
        ..Default::default()
    };
    preferences::put(&db.conn, "night", &quiet, Utc::now()).await.unwrap();
    apply(&db, &invitation("q1", "night")).await;
    let held = deliveries(&db, "night").await;
    assert_eq!(held.len(), 1);
    let wait = held[0].next_attempt_at - Utc::now();
    assert!(
        wait > chrono::Duration::minutes(58) && wait <= chrono::Duration::minutes(61),
        "{wait}"
    );
    assert_eq!(
        sender(&db, smtp).send_due().await.unwrap(),
        0,
        "nothing goes out in quiet hours"
    );

    // Two senders (two replicas) working the same 30 deliveries: each sent once.
    hook(&db, "busy", hooks_at).await;
    for i in 0..30 {
        apply(&db, &invitation(&format!("b{i}"), "busy")).await;
    }
    let (a, b) = (sender(&db, smtp), sender(&db, smtp));
    let (sent_a, sent_b) = tokio::join!(a.send_due(), b.send_due());
    assert_eq!(sent_a.unwrap() + sent_b.unwrap(), 30);
    let (posted, mut ids) = {
        let posts = posts.lock().unwrap();
        let ids: Vec<String> = posts.iter().map(|p| p["id"].as_str().unwrap().to_string()).collect();
        (posts.len(), ids)
    };
    ids.sort();
    ids.dedup();
    assert_eq!((posted, ids.len()), (30, 30), "no delivery sent twice");
    let pending = db
        .conn
        .query_one_raw(sea_orm::Statement::from_string(
            db.conn.get_database_backend(),
            "SELECT COUNT(*) FROM deliveries WHERE owner_id = 'busy' AND state = 'delivered'".to_string(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(pending, 30);
    drop(db);
}

kit::db_tests!(email_and_the_daily_digest, quiet_hours_and_two_senders);
