//! The consumer side: subscribe from a persisted cursor and apply each event
//! once, in the transaction that advances the cursor.

use super::schema::{AppliedEvents as A, EventCursors as C};
use crate::error::ServiceError;
use crate::grpc::{TokenSource, TracedChannel};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use sanshi_proto::events::v1::event_stream_service_client::EventStreamServiceClient;
use sanshi_proto::events::v1::{Event, SubscribeRequest};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tracing::Instrument as _;

/// Applies events to a consumer's database.
pub trait EventHandler: Send + Sync + 'static {
    /// Applies `event` inside `txn`, which also records the event as applied
    /// and advances the cursor; write nothing outside it. Ignore event types
    /// you do not handle (return `Ok`). An error rolls the transaction back
    /// and the same event is retried after a backoff; it is never skipped.
    fn apply<'a>(&'a self, txn: &'a DatabaseTransaction, event: &'a Event) -> BoxFuture<'a, Result<(), ServiceError>>;

    /// Applies several events, in order, inside one `txn` (never applied
    /// before): the same outcome as [`EventHandler::apply`] on each in turn,
    /// with fewer statements. `None` (the default): the consumer applies them
    /// one by one, each in a span of its own.
    fn apply_batch<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        events: &'a [Event],
    ) -> Option<BoxFuture<'a, Result<(), ServiceError>>> {
        let _ = (txn, events);
        None
    }
}

/// Exponential backoff with jitter: attempt `n` waits between half and all
/// of `initial · 2ⁿ⁻¹`, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The wait before retry number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        let full = self.initial.saturating_mul(factor).min(self.max);
        // Jitter keeps consumers that lost the same producer from returning in lockstep.
        let half = full / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// A consumer of one producer's event stream.
pub struct Consumer {
    name: &'static str,
    producer: &'static str,
    db: DatabaseConnection,
    client: EventStreamServiceClient<TracedChannel>,
    tokens: TokenSource,
    handler: Arc<dyn EventHandler>,
    backoff: Backoff,
}

/// Most events applied in one transaction.
const MAX_BATCH: usize = 100;

/// Why a subscription ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error(transparent)]
    Status(#[from] tonic::Status),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error("{0}")]
    WrongProducer(String),
}

impl Consumer {
    /// A consumer named `name` (unique per consuming service, e.g.
    /// `qualification.identity`) of the events of `producer` (e.g.
    /// `identity`), served at `producer_url`. Its cursor and applied ids
    /// live in `db`. Fails only on a malformed URL.
    pub fn new(
        name: &'static str,
        producer: &'static str,
        db: DatabaseConnection,
        producer_url: &str,
        tokens: TokenSource,
        handler: Arc<dyn EventHandler>,
    ) -> anyhow::Result<Self> {
        let client = EventStreamServiceClient::new(crate::grpc::connect_lazy(producer_url)?);
        Ok(Self {
            name,
            producer,
            db,
            client,
            tokens,
            handler,
            backoff: Backoff::default(),
        })
    }

    /// Replaces the reconnect and retry backoff (default 100 ms doubling to 5 s).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Runs [`Consumer::run`] on a task of its own.
    pub fn spawn(self, shutdown: impl Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
        tokio::spawn(self.run(shutdown))
    }

    /// Consumes until `shutdown` resolves. Stopping at any point is safe: an
    /// event is applied together with its cursor or not at all.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::select! {
            _ = shutdown => tracing::info!(consumer = self.name, "event consumer stopped"),
            _ = self.consume() => {}
        }
    }

    async fn consume(&self) {
        let mut attempt = 0u32;
        loop {
            let started = Instant::now();
            let mut received = false;
            let outcome = self.session(&mut received).await;
            // A stream that delivered, or stayed up longer than the longest
            // wait, was healthy: start the backoff over.
            if received || started.elapsed() >= self.backoff.max {
                attempt = 0;
            }
            attempt = attempt.saturating_add(1);
            match outcome {
                Ok(()) => tracing::info!(consumer = self.name, producer = self.producer, "event stream ended"),
                Err(e) => {
                    tracing::warn!(consumer = self.name, producer = self.producer, attempt, error = %e, "event stream disconnected")
                }
            }
            tokio::time::sleep(self.backoff.delay(attempt)).await;
        }
    }

    /// One subscription from the persisted cursor until the stream ends.
    async fn session(&self, received: &mut bool) -> Result<(), SessionError> {
        let after_sequence = self.load_cursor().await?;
        let token = (self.tokens)().await?;
        let request = crate::grpc::with_token(SubscribeRequest { after_sequence }, &token);
        let mut stream = self.client.clone().subscribe(request).await?.into_inner();
        tracing::info!(
            consumer = self.name,
            producer = self.producer,
            after_sequence,
            "event stream connected"
        );
        while let Some(first) = stream.message().await? {
            *received = true;
            // What the stream has already delivered is applied together, up
            // to MAX_BATCH events: one commit instead of one per event.
            let mut batch = vec![first];
            let mut ended = None;
            while batch.len() < MAX_BATCH {
                match stream.message().now_or_never() {
                    Some(Ok(Some(event))) => batch.push(event),
                    Some(Ok(None)) => {
                        ended = Some(Ok(()));
                        break;
                    }
                    Some(Err(status)) => {
                        ended = Some(Err(SessionError::from(status)));
                        break;
                    }
                    None => break,
                }
            }
            if let Some(wrong) = batch.iter().find(|e| e.producer != self.producer) {
                return Err(SessionError::WrongProducer(format!(
                    "event {} comes from producer {:?}, expected {:?}",
                    wrong.id, wrong.producer, self.producer
                )));
            }
            self.apply_batch_until_done(&batch).await;
            if let Some(outcome) = ended {
                return outcome;
            }
        }
        Ok(())
    }

    /// The cursor, creating it at 0 on first use.
    async fn load_cursor(&self) -> Result<i64, SessionError> {
        let insert = Query::insert()
            .into_table(C::Table)
            .columns([C::Consumer, C::Producer, C::LastSequence, C::UpdatedAt])
            .values([
                self.name.into(),
                self.producer.into(),
                0i64.into(),
                chrono::Utc::now().into(),
            ])
            .map_err(|e| sea_orm::DbErr::Custom(format!("build cursor insert: {e}")))?
            .on_conflict(OnConflict::column(C::Consumer).do_nothing().to_owned())
            .to_owned();
        self.db.execute(&insert).await?;
        let select = Query::select()
            .columns([C::Producer, C::LastSequence])
            .from(C::Table)
            .and_where(Expr::col(C::Consumer).eq(self.name))
            .to_owned();
        let row = self
            .db
            .query_one(&select)
            .await?
            .ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("cursor of consumer {}", self.name)))?;
        let producer: String = row.try_get("", "producer")?;
        if producer != self.producer {
            return Err(SessionError::WrongProducer(format!(
                "cursor of consumer {} counts in producer {producer:?}, not {:?}",
                self.name, self.producer
            )));
        }
        Ok(row.try_get("", "last_sequence")?)
    }

    /// Applies a batch at once; if that fails, event by event, so that one
    /// failing event is retried alone (and the ones before it get through).
    async fn apply_batch_until_done(&self, batch: &[Event]) {
        if batch.len() > 1 {
            match self.apply_batch(batch).await {
                Ok(()) => return,
                Err(e) => tracing::warn!(
                    consumer = self.name,
                    events = batch.len(),
                    error = %describe(&e),
                    "applying a batch failed, applying its events one by one"
                ),
            }
        }
        for event in batch {
            self.apply_until_done(event).await;
        }
    }

    /// Applies `event`, retrying after a backoff until it succeeds: a later
    /// event must never be applied before it.
    async fn apply_until_done(&self, event: &Event) {
        let mut failures = 0u32;
        loop {
            match self.apply(event).await {
                Ok(()) => return,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    crate::metrics::add("sanshi_consumer_failures_total", &[("consumer", self.name)], 1.0);
                    tracing::error!(
                        consumer = self.name,
                        event_id = %event.id,
                        sequence = event.sequence,
                        event_type = %event.r#type,
                        attempt = failures,
                        error = %describe(&e),
                        "applying event failed, will retry"
                    );
                    tokio::time::sleep(self.backoff.delay(failures)).await;
                }
            }
        }
    }

    /// One transaction: apply unless already applied, record it, advance the
    /// cursor. Public for benchmarks that measure the consumer's write path.
    pub async fn apply(&self, event: &Event) -> Result<(), ServiceError> {
        self.apply_batch(std::slice::from_ref(event)).await
    }

    /// Applies `events` (in stream order) in one transaction that advances
    /// the cursor past the last: one commit for what the stream had already
    /// delivered. All or nothing, like a single event.
    pub async fn apply_batch(&self, events: &[Event]) -> Result<(), ServiceError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let txn = crate::db::begin(&self.db).await?;
        if events.len() == 1 {
            self.apply_in(&txn, last).await?;
        } else {
            let fresh = self.remember_all(&txn, events).await?;
            let batch = tracing::info_span!(
                "apply_events",
                consumer = self.name,
                events = fresh.len(),
                first_sequence = events.first().map_or(0, |e| e.sequence),
                last_sequence = last.sequence,
            );
            for event in &fresh {
                crate::telemetry::link_to(&batch, &event.trace_context);
            }
            match self.handler.apply_batch(&txn, &fresh) {
                Some(applied) => applied.instrument(batch).await?,
                None => {
                    for event in &fresh {
                        self.apply_remembered(&txn, event).await?;
                    }
                }
            }
        }
        // Only forward: a replay from an older cursor moves it back up.
        let advance = Query::update()
            .table(C::Table)
            .value(C::LastSequence, last.sequence)
            .value(C::UpdatedAt, chrono::Utc::now())
            .and_where(Expr::col(C::Consumer).eq(self.name))
            .and_where(Expr::col(C::LastSequence).lt(last.sequence))
            .to_owned();
        txn.execute(&advance).await?;
        txn.commit().await?;
        let head = events.iter().map(|e| e.head_sequence).max().unwrap_or(0);
        let labels = [("consumer", self.name), ("producer", self.producer)];
        crate::metrics::set("sanshi_consumer_cursor", &labels, last.sequence as f64);
        crate::metrics::set(
            "sanshi_consumer_lag_events",
            &labels,
            std::cmp::max(head - last.sequence, 0) as f64,
        );
        Ok(())
    }

    /// Applies one event in `txn` unless it was applied before, and remembers it.
    async fn apply_in(&self, txn: &DatabaseTransaction, event: &Event) -> Result<(), ServiceError> {
        if self.remember_all(txn, std::slice::from_ref(event)).await?.is_empty() {
            tracing::debug!(event_id = %event.id, "event already applied, skipped");
            return Ok(());
        }
        self.apply_remembered(txn, event).await
    }

    /// Remembers `events` as applied (in `txn`, so that it holds only if they
    /// are) and returns those not applied before, in order: one statement for
    /// the check and the mark.
    async fn remember_all(&self, txn: &DatabaseTransaction, events: &[Event]) -> Result<Vec<Event>, ServiceError> {
        let mut insert = Query::insert();
        insert
            .into_table(A::Table)
            .columns([A::Consumer, A::EventId, A::Sequence, A::AppliedAt]);
        let now = chrono::Utc::now();
        for event in events {
            insert
                .values([
                    self.name.into(),
                    event.id.as_str().into(),
                    event.sequence.into(),
                    now.into(),
                ])
                .map_err(|e| ServiceError::internal(anyhow::anyhow!("build applied insert: {e}")))?;
        }
        insert
            .on_conflict(OnConflict::columns([A::Consumer, A::EventId]).do_nothing().to_owned())
            .returning_col(A::EventId);
        let mut fresh = std::collections::HashSet::new();
        for row in txn.query_all(&insert).await? {
            fresh.insert(row.try_get_by_index::<String>(0)?);
        }
        Ok(events.iter().filter(|e| fresh.contains(&e.id)).cloned().collect())
    }

    /// Applies an event already remembered in `txn`, in a span joined to the
    /// trace of the transaction that published it.
    async fn apply_remembered(&self, txn: &DatabaseTransaction, event: &Event) -> Result<(), ServiceError> {
        let span = tracing::info_span!(
            "apply_event",
            otel.name = %format!("apply {}", event.r#type),
            otel.kind = "consumer",
            consumer = self.name,
            event_id = %event.id,
            event_type = %event.r#type,
            sequence = event.sequence,
            aggregate_type = %event.aggregate_type,
            aggregate_id = %event.aggregate_id,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
        );
        crate::telemetry::adopt_parent(&span, crate::telemetry::context_from_map(&event.trace_context));
        self.handler.apply(txn, event).instrument(span).await
    }
}

/// An error with its causes, for logs (the `Display` of an internal
/// `ServiceError` is the generic message shown to callers).
fn describe(error: &ServiceError) -> String {
    match error {
        ServiceError::Internal(source) => format!("{source:#}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let backoff = Backoff::default();
        for (attempt, full_ms) in [(1u32, 100u64), (2, 200), (3, 400), (6, 3200), (7, 5000), (40, 5000)] {
            let delay = backoff.delay(attempt);
            let full = Duration::from_millis(full_ms);
            assert!(delay >= full / 2 && delay <= full, "attempt {attempt}: {delay:?}");
        }
    }
}
