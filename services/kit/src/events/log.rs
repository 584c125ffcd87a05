//! The producer side: the sequencer that numbers committed outbox rows, and
//! the `Subscribe` stream that serves them.

use super::schema::OutboxEvents as T;
use crate::error::ServiceError;
use futures::stream::BoxStream;
use sanshi_proto::events::v1::event_stream_service_server::{EventStreamService, EventStreamServiceServer};
use sanshi_proto::events::v1::{Event, SubscribeRequest};
use sea_orm::sea_query::{Expr, ExprTrait as _, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tonic::{Request, Response, Status};

/// Key of the PostgreSQL advisory lock that makes one sequencer at a time
/// number a database's outbox ("sanshiSQ" in ASCII). Each service has a
/// database of its own, so one constant serves every service.
const SEQUENCER_LOCK: i64 = 0x7361_6e73_6869_5351;

/// Numbers every committed, unsequenced row after the highest number so far,
/// in insertion order. Rows of transactions still open are invisible to it,
/// so they are numbered by a later pass, above everything numbered before.
/// The statement runs on PostgreSQL and on SQLite ≥ 3.33 (UPDATE … FROM).
/// Numbering continues from `MAX(seq)`: whoever prunes the outbox one day
/// must keep the row with the highest number, or numbers would be reused.
const SEQUENCE_PENDING: &str = "UPDATE outbox_events SET seq = s.n \
     FROM (SELECT id, (SELECT COALESCE(MAX(seq), 0) FROM outbox_events) + ROW_NUMBER() OVER (ORDER BY id) AS n \
           FROM outbox_events WHERE seq IS NULL) s \
     WHERE outbox_events.id = s.id";

const MAX_SEQUENCE: &str = "SELECT COALESCE(MAX(seq), 0) AS max_seq FROM outbox_events";

/// Tuning of an [`EventLog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLogOptions {
    /// How often the sequencer looks for committed rows without being
    /// notified, and how often an idle stream looks for rows another replica
    /// numbered.
    pub poll_interval: Duration,
    /// Rows read per query while a stream catches up.
    pub batch_size: u64,
}

impl Default for EventLogOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(500),
            batch_size: 500,
        }
    }
}

/// A producer's event log: runs the sequencer and serves `Subscribe`.
pub struct EventLog {
    db: DatabaseConnection,
    producer: &'static str,
    options: EventLogOptions,
    wake_sequencer: Notify,
    /// The highest sequence number known to be committed; streams wait on it.
    latest: watch::Sender<i64>,
    closed: watch::Sender<bool>,
}

impl EventLog {
    /// Starts the sequencer of `producer`'s outbox in `db` with default options.
    pub fn start(db: DatabaseConnection, producer: &'static str) -> Arc<Self> {
        Self::start_with(db, producer, EventLogOptions::default())
    }

    /// Starts the sequencer with `options` on the current tokio runtime. It
    /// runs until [`EventLog::close`].
    pub fn start_with(db: DatabaseConnection, producer: &'static str, options: EventLogOptions) -> Arc<Self> {
        let log = Self::new(db, producer, options);
        log.start_sequencer();
        log
    }

    /// An event log whose sequencer is not running yet: for a service that
    /// must serve (NOT_SERVING) before its migrations have created the outbox.
    /// Call [`EventLog::start_sequencer`] once they have.
    pub fn new(db: DatabaseConnection, producer: &'static str, options: EventLogOptions) -> Arc<Self> {
        // A zero batch would never make progress and a zero interval would spin.
        let options = EventLogOptions {
            poll_interval: std::cmp::max(options.poll_interval, Duration::from_millis(10)),
            batch_size: std::cmp::max(options.batch_size, 1),
        };
        Arc::new(Self {
            db,
            producer,
            options,
            wake_sequencer: Notify::new(),
            latest: watch::Sender::new(0),
            closed: watch::Sender::new(false),
        })
    }

    /// Spawns the sequencer on the current tokio runtime.
    pub fn start_sequencer(self: &Arc<Self>) {
        tokio::spawn(self.clone().run_sequencer());
    }

    /// Tells the sequencer that events have been committed. Call it after
    /// committing a transaction that published; without it they are streamed
    /// at the next poll.
    pub fn notify(&self) {
        // `notify_one` keeps a permit when the sequencer is busy, so a
        // notification during a pass is not lost.
        self.wake_sequencer.notify_one();
    }

    /// Stops the sequencer and ends every open stream. Call it when the
    /// server starts shutting down: an open stream would otherwise hold the
    /// graceful drain until its grace period is over.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Whether [`EventLog::close`] was called: background work tied to the
    /// service's life can stop too.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// The `EventStreamService` to add to the server.
    pub fn stream_service(self: &Arc<Self>) -> EventStreamServiceServer<StreamService> {
        EventStreamServiceServer::new(StreamService { log: self.clone() })
    }

    /// The highest sequence number committed so far (0 when there is none).
    pub async fn last_sequence(&self) -> Result<i64, DbErr> {
        max_sequence(&self.db).await
    }

    /// Up to `limit` events numbered above `after`, in order.
    pub async fn events_after(&self, after: i64, limit: u64) -> Result<Vec<Event>, DbErr> {
        let select = Query::select()
            .columns([
                T::Seq,
                T::EventId,
                T::Producer,
                T::AggregateType,
                T::AggregateId,
                T::EventType,
                T::Payload,
                T::TraceContext,
                T::CreatedAt,
            ])
            .from(T::Table)
            .and_where(Expr::col(T::Seq).gt(after))
            .order_by(T::Seq, Order::Asc)
            .limit(limit)
            .to_owned();
        self.db.query_all(&select).await?.iter().map(event_from_row).collect()
    }

    /// Every event numbered above `after`, then new ones as they are
    /// numbered, until the log is closed or the stream is dropped. A
    /// database error ends the stream with UNAVAILABLE; the consumer
    /// resubscribes from its cursor.
    pub fn subscribe(self: &Arc<Self>, after: i64) -> BoxStream<'static, Result<Event, Status>> {
        let tail = Tail {
            log: self.clone(),
            after,
            pending: VecDeque::new(),
            latest: self.latest.subscribe(),
            closed: self.closed.subscribe(),
            failed: false,
        };
        Box::pin(futures::stream::unfold(tail, |mut tail| async move {
            let item = tail.next().await?;
            Some((item, tail))
        }))
    }

    async fn run_sequencer(self: Arc<Self>) {
        let mut closed = self.closed.subscribe();
        loop {
            match self.sequence_pending().await {
                Ok(max) => {
                    self.latest.send_if_modified(|latest| {
                        let newer = max > *latest;
                        if newer {
                            *latest = max;
                        }
                        newer
                    });
                }
                // A database outage: the next pass retries, nothing is lost
                // because unnumbered rows stay unnumbered until then.
                Err(e) => {
                    tracing::warn!(producer = self.producer, error = %e, "event sequencing failed")
                }
            }
            tokio::select! {
                _ = self.wake_sequencer.notified() => {}
                _ = tokio::time::sleep(self.options.poll_interval) => {}
                _ = closed.wait_for(|closed| *closed) => {
                    tracing::debug!(producer = self.producer, "event sequencer stopped");
                    return;
                }
            }
        }
    }

    /// One sequencer pass; returns the highest number now committed, which
    /// may also come from another replica's sequencer.
    async fn sequence_pending(&self) -> Result<i64, DbErr> {
        let backend = self.db.get_database_backend();
        let txn = crate::db::begin(&self.db).await?;
        if backend == DbBackend::Postgres {
            // Held until commit; the UPDATE below then runs with a snapshot
            // taken after the previous holder committed, so it sees its numbers.
            txn.query_one_raw(Statement::from_sql_and_values(
                backend,
                "SELECT pg_advisory_xact_lock($1)",
                [SEQUENCER_LOCK.into()],
            ))
            .await?;
        }
        let numbered = txn.execute_unprepared(SEQUENCE_PENDING).await?.rows_affected();
        let max = max_sequence(&txn).await?;
        txn.commit().await?;
        if numbered > 0 {
            tracing::debug!(producer = self.producer, numbered, max_seq = max, "events sequenced");
        }
        Ok(max)
    }
}

/// The state of one open stream.
struct Tail {
    log: Arc<EventLog>,
    after: i64,
    pending: VecDeque<Event>,
    latest: watch::Receiver<i64>,
    closed: watch::Receiver<bool>,
    failed: bool,
}

impl Tail {
    async fn next(&mut self) -> Option<Result<Event, Status>> {
        loop {
            if self.failed || *self.closed.borrow() {
                return None;
            }
            if let Some(mut event) = self.pending.pop_front() {
                event.head_sequence = std::cmp::max(*self.latest.borrow(), event.sequence);
                return Some(Ok(event));
            }
            // Mark the current value seen before reading, so a number given
            // out while the query runs wakes the wait below.
            self.latest.borrow_and_update();
            match self.log.events_after(self.after, self.log.options.batch_size).await {
                Ok(events) if !events.is_empty() => {
                    if let Some(last) = events.last() {
                        self.after = last.sequence;
                    }
                    self.pending.extend(events);
                }
                Ok(_) => {
                    tokio::select! {
                        changed = self.latest.changed() => {
                            if changed.is_err() {
                                return None;
                            }
                        }
                        // Rows numbered by another replica's sequencer do not wake us.
                        _ = tokio::time::sleep(self.log.options.poll_interval) => {}
                        _ = self.closed.wait_for(|closed| *closed) => return None,
                    }
                }
                Err(e) => {
                    tracing::warn!(producer = self.log.producer, after = self.after, error = %e, "reading events failed");
                    self.failed = true;
                    return Some(Err(Status::unavailable("事件流暂不可用，请稍后重试")));
                }
            }
        }
    }
}

async fn max_sequence(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let statement = Statement::from_string(db.get_database_backend(), MAX_SEQUENCE);
    Ok(db
        .query_one_raw(statement)
        .await?
        .map(|row| row.try_get::<i64>("", "max_seq"))
        .transpose()?
        .unwrap_or(0))
}

fn event_from_row(row: &QueryResult) -> Result<Event, DbErr> {
    let created_at: chrono::DateTime<chrono::Utc> = row.try_get("", "created_at")?;
    let trace_context: String = row.try_get("", "trace_context")?;
    Ok(Event {
        sequence: row.try_get("", "seq")?,
        id: row.try_get("", "event_id")?,
        producer: row.try_get("", "producer")?,
        aggregate_type: row.try_get("", "aggregate_type")?,
        aggregate_id: row.try_get("", "aggregate_id")?,
        r#type: row.try_get("", "event_type")?,
        payload: row.try_get("", "payload")?,
        occur_time: Some(prost_types::Timestamp {
            seconds: created_at.timestamp(),
            // Below 2·10⁹ even with a leap second, so it fits.
            nanos: created_at.timestamp_subsec_nanos() as i32,
        }),
        // Trace context is for observability only: a damaged one must not
        // stop the stream.
        trace_context: serde_json::from_str::<HashMap<String, String>>(&trace_context).unwrap_or_default(),
        head_sequence: 0,
    })
}

/// The `sanshi.events.v1.EventStreamService` of an [`EventLog`].
pub struct StreamService {
    log: Arc<EventLog>,
}

#[tonic::async_trait]
impl EventStreamService for StreamService {
    type SubscribeStream = BoxStream<'static, Result<Event, Status>>;

    async fn subscribe(&self, request: Request<SubscribeRequest>) -> Result<Response<Self::SubscribeStream>, Status> {
        let caller = crate::auth::principal(&request)?;
        caller.require_service()?;
        let after = request.get_ref().after_sequence;
        if after < 0 {
            return Err(ServiceError::invalid("after_sequence", "不能为负数").into());
        }
        // A cursor can only come from events this log served, so one beyond
        // its end means the log lost events (a database restored from an
        // older backup, say). Streaming on would silently skip the events
        // numbered up to the cursor when they are numbered anew: refuse.
        let last = self.log.last_sequence().await.map_err(|e| {
            tracing::warn!(producer = self.log.producer, error = %e, "reading last sequence failed");
            Status::unavailable("事件流暂不可用，请稍后重试")
        })?;
        if after > last {
            tracing::error!(
                producer = self.log.producer,
                subscriber = %caller.username,
                after_sequence = after,
                last_sequence = last,
                "subscriber cursor is beyond the end of the event log"
            );
            return Err(ServiceError::FailedPrecondition(format!(
                "after_sequence {after} 超出事件流末尾 {last}，生产者的事件日志可能已丢失"
            ))
            .into());
        }
        tracing::info!(producer = self.log.producer, subscriber = %caller.username, after_sequence = after, "event stream opened");
        Ok(Response::new(self.log.subscribe(after)))
    }
}
