//! The event subsystem end to end: a producer serving `Subscribe` over real
//! gRPC from its outbox, and a consumer applying into a database of its own,
//! each test on SQLite and on PostgreSQL.

use futures::future::BoxFuture;
use kit::ServiceError;
use kit::auth::testing::{person_claims, service_claims, verifier};
use kit::auth::{Role, SigningKey, Verifier};
use kit::config::ServerConfig;
use kit::db::DbKind;
use kit::db::testing::TestDb;
use kit::events::{self, Backoff, Consumer, Event, EventHandler, EventLog, EventLogOptions, EventPayload};
use kit::server::{Running, Services};
use sanshi_proto::events::v1::SubscribeRequest;
use sanshi_proto::events::v1::event_stream_service_client::EventStreamServiceClient;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, Statement,
    TransactionTrait, Value,
};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Upper bound of every wait, so that a broken build fails instead of hanging.
const WAIT: Duration = Duration::from_secs(30);
const PRODUCER: &str = "testprod";
const CONSUMER: &str = "testcons.testprod";

/// The payload of every test event: an aggregate's version after the bump.
#[derive(Clone, PartialEq, prost::Message)]
struct Bumped {
    #[prost(string, tag = "1")]
    aggregate: String,
    #[prost(int64, tag = "2")]
    version: i64,
}

impl EventPayload for Bumped {
    const TYPE: &'static str = "sanshi.test.v1.Bumped";
}

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        events::migrations()
    }
}

// ---- SQL helpers: tests write `$1` placeholders, SQLite gets `?1`. ----

fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = if backend == DbBackend::Sqlite {
        sql.replace('$', "?")
    } else {
        sql.to_string()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

async fn exec(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Result<ExecResult, DbErr> {
    db.execute_raw(statement(db.get_database_backend(), sql, values)).await
}

async fn query(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Vec<QueryResult> {
    db.query_all_raw(statement(db.get_database_backend(), sql, values))
        .await
        .expect(sql)
}

async fn scalar(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> i64 {
    query(db, sql, values).await[0]
        .try_get_by_index::<i64>(0)
        .expect("an integer")
}

// ---- producer side ----

async fn producer_db(kind: DbKind, db: TestDb) -> TestDb {
    assert_eq!(db.kind, kind);
    kit::db::migrate::<Migrator>(&db.conn).await.expect("migrate producer");
    exec(
        &db.conn,
        "CREATE TABLE aggregates (id TEXT PRIMARY KEY, version BIGINT NOT NULL)",
        vec![],
    )
    .await
    .expect("create aggregates");
    db
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Published {
    event_id: String,
    aggregate: String,
    version: i64,
}

/// Bumps `aggregate`'s version and publishes the new version in `txn`. The
/// upsert takes the aggregate's row lock first, so bumps of one aggregate
/// commit in version order.
async fn bump_in(txn: &DatabaseTransaction, aggregate: &str) -> Published {
    let version = scalar(
        txn,
        "INSERT INTO aggregates (id, version) VALUES ($1, 1) \
         ON CONFLICT (id) DO UPDATE SET version = aggregates.version + 1 RETURNING version",
        vec![aggregate.into()],
    )
    .await;
    let payload = Bumped {
        aggregate: aggregate.into(),
        version,
    };
    let event_id = events::publish(txn, PRODUCER, "aggregate", aggregate, &payload)
        .await
        .expect("publish");
    Published {
        event_id: event_id.to_string(),
        aggregate: aggregate.into(),
        version,
    }
}

/// One business transaction: bump and publish, commit.
async fn bump(db: &DatabaseConnection, aggregate: &str) -> Published {
    let txn = db.begin().await.expect("begin");
    let published = bump_in(&txn, aggregate).await;
    txn.commit().await.expect("commit");
    published
}

/// `writers` tasks publishing `per_writer` events each, concurrently, over
/// `aggregates` aggregates; `notify` after each commit when given.
fn publish_concurrently(
    db: &DatabaseConnection,
    notify: Option<Arc<EventLog>>,
    writers: usize,
    per_writer: usize,
    aggregates: usize,
    count: Arc<AtomicUsize>,
) -> JoinHandle<Vec<Published>> {
    let db = db.clone();
    tokio::spawn(async move {
        let tasks: Vec<_> = (0..writers)
            .map(|writer| {
                let (db, notify, count) = (db.clone(), notify.clone(), count.clone());
                tokio::spawn(async move {
                    let mut published = Vec::new();
                    for i in 0..per_writer {
                        published.push(bump(&db, &format!("agg-{}", (writer + i) % aggregates)).await);
                        count.fetch_add(1, Ordering::SeqCst);
                        if let Some(log) = &notify {
                            log.notify();
                        }
                        // Spread publishing out so that disruptions land mid-stream.
                        if i % 10 == 9 {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                    published
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.expect("publisher task"));
        }
        all
    })
}

fn server_config(port: u16) -> ServerConfig {
    ServerConfig {
        host: "127.0.0.1".into(),
        port,
        request_timeout_ms: 10_000,
        concurrency_limit: 64,
        max_message_bytes: 4 << 20,
        shutdown_grace_ms: 5_000,
        admin_port: None,
        admin_token: None,
    }
}

fn log_options() -> EventLogOptions {
    EventLogOptions {
        poll_interval: Duration::from_millis(100),
        batch_size: 16,
    }
}

/// A producer serving its event stream, wired as a service wires it.
struct ProducerServer {
    log: Arc<EventLog>,
    running: Running,
    stop: oneshot::Sender<()>,
}

impl ProducerServer {
    async fn start(db: &DatabaseConnection, verifier: &Arc<Verifier>, port: u16) -> Self {
        let log = EventLog::start_with(db.clone(), PRODUCER, log_options());
        let mut tries = 0;
        // A restarted server may find its port still held for a moment.
        let (running, stop) = loop {
            let (stop, stopped) = oneshot::channel::<()>();
            let closing = log.clone();
            let shutdown = async move {
                let _ = stopped.await;
                closing.close();
            };
            let services = Services::new().with(log.stream_service());
            match kit::server::start(PRODUCER, &server_config(port), verifier.clone(), services, shutdown).await {
                Ok(running) => break (running, stop),
                Err(e) if tries < 100 => {
                    tries += 1;
                    eprintln!("producer start failed, retrying: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("producer does not start: {e}"),
            }
        };
        running.set_ready().await;
        Self { log, running, stop }
    }

    fn url(&self) -> String {
        format!("http://{}", self.running.local_addr)
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.running.wait())
            .await
            .expect("producer stops in time")
            .expect("producer stops cleanly");
    }
}

// ---- consumer side ----

async fn consumer_db(kind: DbKind) -> TestDb {
    let db = TestDb::of_kind(kind).await.expect("a second database of the same kind");
    kit::db::migrate::<Migrator>(&db.conn).await.expect("migrate consumer");
    let key = match kind {
        DbKind::Postgres => "n BIGSERIAL PRIMARY KEY",
        DbKind::Sqlite => "n INTEGER PRIMARY KEY AUTOINCREMENT",
    };
    let sql = format!(
        "CREATE TABLE applied_log ({key}, event_id TEXT NOT NULL, aggregate_id TEXT NOT NULL, \
         version BIGINT NOT NULL, seq BIGINT NOT NULL, trace_id TEXT NOT NULL)"
    );
    exec(&db.conn, &sql, vec![]).await.expect("create applied_log");
    db
}

/// Writes each applied event to `applied_log`, in the consumer's transaction.
#[derive(Default)]
struct Recorder {
    /// Fails each event whose sequence is a multiple of this, once, after
    /// writing: the write must be rolled back and the event retried.
    fail_every: Option<i64>,
    failed: Mutex<HashSet<String>>,
    /// Time spent inside the transaction, so that kills land mid-apply.
    delay: Duration,
}

impl EventHandler for Recorder {
    fn apply<'a>(&'a self, txn: &'a DatabaseTransaction, event: &'a Event) -> BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(async move {
            let Some(bumped) = events::decode::<Bumped>(event) else {
                return Ok(());
            };
            let bumped = bumped.map_err(ServiceError::internal)?;
            assert_eq!(bumped.aggregate, event.aggregate_id);
            let trace_id = kit::telemetry::trace_id(&tracing::Span::current());
            exec(
                txn,
                "INSERT INTO applied_log (event_id, aggregate_id, version, seq, trace_id) VALUES ($1, $2, $3, $4, $5)",
                vec![
                    event.id.clone().into(),
                    bumped.aggregate.into(),
                    bumped.version.into(),
                    event.sequence.into(),
                    trace_id.into(),
                ],
            )
            .await?;
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            if let Some(every) = self.fail_every
                && event.sequence % every == 0
                && self.failed.lock().expect("lock").insert(event.id.clone())
            {
                return Err(ServiceError::Unavailable("injected failure".into()));
            }
            Ok(())
        })
    }
}

struct RunningConsumer {
    task: JoinHandle<()>,
    stop: oneshot::Sender<()>,
}

impl RunningConsumer {
    fn start(db: &DatabaseConnection, url: &str, key: &SigningKey, handler: Arc<Recorder>) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = consumer(db, url, key, handler).spawn(async move {
            let _ = stopped.await;
        });
        Self { task, stop }
    }

    /// Graceful stop.
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("consumer stops in time")
            .expect("consumer task");
    }

    /// A crash: the task is dropped wherever it is, mid-transaction included.
    async fn kill(self) {
        self.task.abort();
        let _ = tokio::time::timeout(WAIT, self.task)
            .await
            .expect("consumer dies in time");
    }
}

fn consumer(db: &DatabaseConnection, url: &str, key: &SigningKey, handler: Arc<Recorder>) -> Consumer {
    let tokens = kit::grpc::static_token(key.sign(&service_claims(CONSUMER)));
    Consumer::new(CONSUMER, PRODUCER, db.clone(), url, tokens, handler)
        .expect("consumer")
        .with_backoff(Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(500),
        })
}

async fn applied_count(db: &DatabaseConnection) -> usize {
    scalar(db, "SELECT COUNT(*) FROM applied_log", vec![]).await as usize
}

async fn cursor(db: &DatabaseConnection) -> i64 {
    scalar(
        db,
        "SELECT last_sequence FROM event_cursors WHERE consumer = $1",
        vec![CONSUMER.into()],
    )
    .await
}

async fn wait_until<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let polled = async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(WAIT, polled).await.is_err() {
        panic!("timed out waiting for {what}");
    }
}

async fn wait_applied(db: &DatabaseConnection, at_least: usize) {
    wait_until(&format!("{at_least} applied events"), || async {
        applied_count(db).await >= at_least
    })
    .await;
}

async fn join<T>(task: JoinHandle<T>) -> T {
    tokio::time::timeout(WAIT, task)
        .await
        .expect("task ends in time")
        .expect("task")
}

/// The consumer applied exactly `published`, each once, in sequence order
/// (dense from 1), versions of each aggregate in order, and its cursor is at
/// the last one.
async fn verify(db: &DatabaseConnection, published: &[Published]) {
    let rows = query(
        db,
        "SELECT event_id, aggregate_id, version, seq FROM applied_log ORDER BY n",
        vec![],
    )
    .await;
    let applied: Vec<(String, String, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get("", "event_id").expect("event_id"),
                r.try_get("", "aggregate_id").expect("aggregate_id"),
                r.try_get("", "version").expect("version"),
                r.try_get("", "seq").expect("seq"),
            )
        })
        .collect();

    let applied_ids: HashSet<&str> = applied.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(applied_ids.len(), applied.len(), "an event was applied twice");
    let published_ids: HashSet<&str> = published.iter().map(|p| p.event_id.as_str()).collect();
    assert_eq!(published_ids.len(), published.len(), "publish returned a duplicate id");
    assert_eq!(applied_ids, published_ids, "applied set differs from published set");

    let sequences: Vec<i64> = applied.iter().map(|a| a.3).collect();
    let dense: Vec<i64> = (1..=published.len() as i64).collect();
    assert_eq!(sequences, dense, "events applied out of sequence order or with gaps");

    let mut next_version: HashMap<&str, i64> = HashMap::new();
    for (id, aggregate, version, _) in &applied {
        let expected = next_version.entry(aggregate.as_str()).or_insert(1);
        assert_eq!(version, expected, "event {id} of {aggregate} applied out of order");
        *expected += 1;
    }
    let by_id: HashMap<&str, &Published> = published.iter().map(|p| (p.event_id.as_str(), p)).collect();
    for (id, aggregate, version, _) in &applied {
        let p = by_id[id.as_str()];
        assert_eq!((&p.aggregate, p.version), (aggregate, *version), "payload of {id}");
    }
    assert_eq!(cursor(db).await, published.len() as i64, "cursor is at the last event");
}

struct Setup {
    producer: TestDb,
    consumer: TestDb,
    key: SigningKey,
    verifier: Arc<Verifier>,
}

/// One subscriber for the whole test binary: OpenTelemetry ids on every
/// span (so trace context propagates) and, with `RUST_LOG`, logs in the test
/// output. Scoped per-test subscribers would race on tracing's process-wide
/// callsite cache while other tests run.
fn init_tracing() {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    static PROVIDER: OnceLock<opentelemetry_sdk::trace::SdkTracerProvider> = OnceLock::new();
    PROVIDER.get_or_init(|| {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
        let _ = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("events-test")))
            .with(tracing_subscriber::fmt::layer().with_test_writer().with_filter(filter))
            .try_init();
        provider
    });
}

async fn setup(db: TestDb) -> Setup {
    init_tracing();
    let kind = db.kind;
    let key = SigningKey::generate();
    let verifier = verifier(&key);
    Setup {
        producer: producer_db(kind, db).await,
        consumer: consumer_db(kind).await,
        key,
        verifier,
    }
}

// ---- the tests ----

/// (a) Events of several aggregates from concurrent transactions, with a
/// handler that fails some events once: all applied once, in order.
async fn concurrent_events_apply_once_in_order(db: TestDb) {
    let s = setup(db).await;
    let server = ProducerServer::start(&s.producer.conn, &s.verifier, 0).await;
    let recorder = Arc::new(Recorder {
        fail_every: Some(7),
        ..Recorder::default()
    });
    let consumer = RunningConsumer::start(&s.consumer.conn, &server.url(), &s.key, recorder.clone());

    let published = join(publish_concurrently(
        &s.producer.conn,
        Some(server.log.clone()),
        8,
        25,
        5,
        Arc::default(),
    ))
    .await;
    assert_eq!(published.len(), 200);
    wait_applied(&s.consumer.conn, published.len()).await;
    verify(&s.consumer.conn, &published).await;
    assert_eq!(
        recorder.failed.lock().expect("lock").len(),
        200 / 7,
        "every seventh event failed once"
    );

    consumer.stop().await;
    server.stop().await;
}

/// (b) A transaction that publishes, then stays open while later ones commit
/// and are consumed, is still delivered when it commits.
async fn late_commit_is_not_skipped(db: TestDb) {
    let s = setup(db).await;
    let server = ProducerServer::start(&s.producer.conn, &s.verifier, 0).await;
    let consumer = RunningConsumer::start(&s.consumer.conn, &server.url(), &s.key, Arc::default());
    let p = &s.producer.conn;

    let first = bump(p, "early").await;
    server.log.notify();
    wait_applied(&s.consumer.conn, 1).await;

    let late_txn = p.begin().await.expect("begin");
    let late = bump_in(&late_txn, "late").await;
    let published = if s.producer.kind == DbKind::Postgres {
        let second = bump(p, "early").await;
        let third = bump(p, "other").await;
        server.log.notify();
        wait_applied(&s.consumer.conn, 3).await;
        assert_eq!(
            cursor(&s.consumer.conn).await,
            3,
            "the later commits were consumed first"
        );
        late_txn.commit().await.expect("late commit");
        server.log.notify();
        vec![first, second, third, late]
    } else {
        // SQLite has one writer: nothing else can commit while the late
        // transaction is open, so it only checks the same path end to end.
        late_txn.commit().await.expect("late commit");
        let second = bump(p, "early").await;
        let third = bump(p, "other").await;
        server.log.notify();
        vec![first, late, second, third]
    };
    wait_applied(&s.consumer.conn, 4).await;
    // `verify` checks that applied order is sequence order; check it is also
    // the order we expect.
    let applied_order: Vec<String> = query(&s.consumer.conn, "SELECT event_id FROM applied_log ORDER BY n", vec![])
        .await
        .iter()
        .map(|r| r.try_get("", "event_id").expect("event_id"))
        .collect();
    let expected_order: Vec<String> = published.iter().map(|p| p.event_id.clone()).collect();
    assert_eq!(applied_order, expected_order);
    verify(&s.consumer.conn, &published).await;

    consumer.stop().await;
    server.stop().await;
}

/// (c) The consumer is killed mid-stream (and later stopped gracefully)
/// while events keep coming; each restart resumes from its cursor.
async fn consumer_restarts_resume_from_cursor(db: TestDb) {
    let s = setup(db).await;
    let server = ProducerServer::start(&s.producer.conn, &s.verifier, 0).await;
    let recorder = Arc::new(Recorder {
        delay: Duration::from_millis(2),
        ..Recorder::default()
    });
    let publisher = publish_concurrently(&s.producer.conn, Some(server.log.clone()), 3, 100, 6, Arc::default());

    let first = RunningConsumer::start(&s.consumer.conn, &server.url(), &s.key, recorder.clone());
    wait_applied(&s.consumer.conn, 30).await;
    first.kill().await;

    let second = RunningConsumer::start(&s.consumer.conn, &server.url(), &s.key, recorder.clone());
    wait_applied(&s.consumer.conn, 90).await;
    second.kill().await;

    let third = RunningConsumer::start(&s.consumer.conn, &server.url(), &s.key, recorder.clone());
    wait_applied(&s.consumer.conn, 150).await;
    third.stop().await;

    let last = RunningConsumer::start(&s.consumer.conn, &server.url(), &s.key, recorder);
    let published = join(publisher).await;
    wait_applied(&s.consumer.conn, published.len()).await;
    verify(&s.consumer.conn, &published).await;

    last.stop().await;
    server.stop().await;
}

/// (d) The producer's server shuts down mid-stream and comes back on the
/// same port, twice, while events keep being published; the consumer
/// reconnects and catches up.
async fn producer_restarts_consumer_reconnects(db: TestDb) {
    let s = setup(db).await;
    let server = ProducerServer::start(&s.producer.conn, &s.verifier, 0).await;
    let port = server.running.local_addr.port();
    let url = server.url();
    let count = Arc::new(AtomicUsize::new(0));
    // No notify: the event log changes with each restart, so the sequencer's
    // polling picks the events up.
    let publisher = publish_concurrently(&s.producer.conn, None, 3, 100, 6, count.clone());
    let consumer = RunningConsumer::start(&s.consumer.conn, &url, &s.key, Arc::default());

    wait_applied(&s.consumer.conn, 20).await;
    server.stop().await;
    let published_before = count.load(Ordering::SeqCst);
    wait_until("events published while the producer is down", || async {
        count.load(Ordering::SeqCst) >= (published_before + 20).min(300)
    })
    .await;

    let server = ProducerServer::start(&s.producer.conn, &s.verifier, port).await;
    let applied = applied_count(&s.consumer.conn).await;
    wait_applied(&s.consumer.conn, applied + 20).await;
    server.stop().await;

    let server = ProducerServer::start(&s.producer.conn, &s.verifier, port).await;
    let published = join(publisher).await;
    wait_applied(&s.consumer.conn, published.len()).await;
    verify(&s.consumer.conn, &published).await;

    consumer.stop().await;
    server.stop().await;
}

/// (e) Resetting the cursor to an older position replays events but applies
/// none twice, and the stream goes on with new events.
async fn replay_from_older_cursor_applies_nothing_twice(db: TestDb) {
    let s = setup(db).await;
    let server = ProducerServer::start(&s.producer.conn, &s.verifier, 0).await;
    let mut published = join(publish_concurrently(&s.producer.conn, None, 2, 20, 3, Arc::default())).await;
    server.log.notify();

    let consumer = RunningConsumer::start(&s.consumer.conn, &server.url(), &s.key, Arc::default());
    wait_applied(&s.consumer.conn, 40).await;
    verify(&s.consumer.conn, &published).await;
    consumer.stop().await;

    for reset_to in [0i64, 25] {
        exec(
            &s.consumer.conn,
            "UPDATE event_cursors SET last_sequence = $1 WHERE consumer = $2",
            vec![reset_to.into(), CONSUMER.into()],
        )
        .await
        .expect("reset cursor");
        let consumer = RunningConsumer::start(&s.consumer.conn, &server.url(), &s.key, Arc::default());
        wait_until("the replay to reach the end", || async {
            cursor(&s.consumer.conn).await == 40
        })
        .await;
        verify(&s.consumer.conn, &published).await;
        consumer.stop().await;
    }

    let consumer = RunningConsumer::start(&s.consumer.conn, &server.url(), &s.key, Arc::default());
    for _ in 0..5 {
        published.push(bump(&s.producer.conn, "after-replay").await);
    }
    server.log.notify();
    wait_applied(&s.consumer.conn, 45).await;
    verify(&s.consumer.conn, &published).await;

    consumer.stop().await;
    server.stop().await;
}

/// (f) Subscribe needs a service token and a valid cursor; with both it
/// streams the events with their envelope filled in.
async fn subscribe_requires_a_service(db: TestDb) {
    use tonic::Code;
    use tonic_types::StatusExt as _;

    init_tracing();
    let key = SigningKey::generate();
    let verifier = verifier(&key);
    let db = producer_db(db.kind, db).await;
    let server = ProducerServer::start(&db.conn, &verifier, 0).await;
    let mut client = EventStreamServiceClient::connect(server.url()).await.expect("connect");
    let service_token = key.sign(&service_claims(CONSUMER));

    let status = client
        .subscribe(SubscribeRequest { after_sequence: 0 })
        .await
        .expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);

    let person = key.sign(&person_claims("p1", Role::CityAdmin, "500103"));
    let request = kit::grpc::with_token(SubscribeRequest { after_sequence: 0 }, &person);
    let status = client.subscribe(request).await.expect_err("person token");
    assert_eq!(status.code(), Code::PermissionDenied);

    let request = kit::grpc::with_token(SubscribeRequest { after_sequence: -1 }, &service_token);
    let status = client.subscribe(request).await.expect_err("negative cursor");
    assert_eq!(status.code(), Code::InvalidArgument);
    let bad = status.get_details_bad_request().expect("bad request details");
    assert_eq!(bad.field_violations[0].field, "after_sequence");

    let request = kit::grpc::with_token(SubscribeRequest { after_sequence: 1 }, &service_token);
    let status = client.subscribe(request).await.expect_err("cursor beyond the log");
    assert_eq!(status.code(), Code::FailedPrecondition);

    let published = [
        bump(&db.conn, "a").await,
        bump(&db.conn, "b").await,
        bump(&db.conn, "a").await,
    ];
    server.log.notify();
    let log = server.log.clone();
    wait_until("the events to be sequenced", || async {
        log.last_sequence().await.expect("last sequence") == 3
    })
    .await;
    let request = kit::grpc::with_token(SubscribeRequest { after_sequence: 1 }, &service_token);
    let mut stream = client.subscribe(request).await.expect("service token").into_inner();
    for (sequence, p) in (2..).zip(&published[1..]) {
        let event = tokio::time::timeout(WAIT, stream.message())
            .await
            .expect("event in time")
            .expect("stream ok")
            .expect("stream open");
        assert_eq!(event.sequence, sequence);
        assert_eq!(event.id, p.event_id);
        assert_eq!(event.producer, PRODUCER);
        assert_eq!(
            (event.aggregate_type.as_str(), event.aggregate_id.as_str()),
            ("aggregate", p.aggregate.as_str())
        );
        let payload = events::decode::<Bumped>(&event).expect("a Bumped").expect("decodes");
        assert_eq!(
            payload,
            Bumped {
                aggregate: p.aggregate.clone(),
                version: p.version
            }
        );
        let occurred = event.occur_time.expect("occur_time");
        let age = chrono::Utc::now().timestamp() - occurred.seconds;
        assert!((0..3600).contains(&age), "occur_time is the publish time, {age}s ago");
    }
    // The server's shutdown ends the open stream cleanly.
    let stopping = tokio::spawn(server.stop());
    let end = tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("stream ends in time");
    assert!(matches!(end, Ok(None)), "stream ended with {end:?}");
    join(stopping).await;
}

/// Events carry the publishing request's trace context, and the consumer
/// applies each in a span of that trace.
async fn events_carry_trace_context(db: TestDb) {
    use tracing::Instrument as _;

    let s = setup(db).await;
    let server = ProducerServer::start(&s.producer.conn, &s.verifier, 0).await;
    let consumer = RunningConsumer::start(&s.consumer.conn, &server.url(), &s.key, Arc::default());

    let conn = s.producer.conn.clone();
    let (published, trace_id) = async move {
        let published = bump(&conn, "traced").await;
        (published, kit::telemetry::trace_id(&tracing::Span::current()))
    }
    .instrument(tracing::info_span!("request"))
    .await;
    assert_eq!(trace_id.len(), 32, "the request span has a trace id");
    server.log.notify();

    wait_applied(&s.consumer.conn, 1).await;
    verify(&s.consumer.conn, &[published]).await;
    let applied_trace = query(&s.consumer.conn, "SELECT trace_id FROM applied_log", vec![]).await[0]
        .try_get::<String>("", "trace_id")
        .expect("trace_id");
    assert_eq!(
        applied_trace, trace_id,
        "the event was applied in the publishing request's trace"
    );

    consumer.stop().await;
    server.stop().await;
}

kit::db_tests!(
    concurrent_events_apply_once_in_order,
    late_commit_is_not_skipped,
    consumer_restarts_resume_from_cursor,
    producer_restarts_consumer_reconnects,
    replay_from_older_cursor_applies_nothing_twice,
    subscribe_requires_a_service,
    events_carry_trace_context,
);
