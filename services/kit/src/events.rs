//! Domain events: a transactional outbox, the `Subscribe` stream every
//! producing service serves, and the consumer loop that applies events once.
//!
//! # Producing
//!
//! A service writes its state change and calls [`publish`] on the same
//! transaction, so the event exists exactly when the change does. The row is
//! inserted *without* a sequence number. After committing, the service calls
//! [`EventLog::notify`]; the [`EventLog`]'s single sequencer then gives every
//! committed, unsequenced row the next numbers in its own short transaction
//! (under a PostgreSQL advisory lock, so replicas never race). Because only
//! committed rows are numbered, and by one writer, a transaction that commits
//! late gets a number above every cursor handed out before it: a consumer can
//! never skip it. Sequence numbers are dense and increase with commit order.
//!
//! Events of one aggregate keep their order when the transactions that
//! publish them are serialised on the aggregate (they update its row before
//! publishing, which takes its row lock): the later transaction then commits
//! later and is numbered later.
//!
//! # Serving
//!
//! [`EventLog::stream_service`] is the `sanshi.events.v1.EventStreamService`
//! to add to the server. `Subscribe(after_sequence)` requires a service token
//! and streams `seq > after_sequence` in order, then stays open, woken when
//! the sequencer numbers new rows and, for rows numbered by another replica,
//! by a polling fallback. Call [`EventLog::close`] when the server shuts
//! down so open streams end and the drain does not wait on them.
//!
//! # Consuming
//!
//! A [`Consumer`] keeps its cursor in its own database (`event_cursors`) and
//! applies each event with its [`EventHandler`] in one transaction that also
//! records the event id (`applied_events`) and advances the cursor. A replay
//! from an older cursor therefore changes nothing, and a crash at any point
//! either applied the event with its cursor or neither. It reconnects with
//! exponential backoff, and retries an event whose handler fails, never
//! skipping it.
//!
//! ```text
//! // producer
//! let events = EventLog::start(db.clone(), "identity");
//! let services = Services::new().with(identity_service).with(events.stream_service());
//! let closing = events.clone();
//! let running = kit::server::start("identity", &config.server, verifier, services,
//!     async move { kit::server::shutdown_signal().await; closing.close() }).await?;
//! // in a handler: publish(&txn, "identity", "account", &id, &AccountCreated { .. }).await?;
//! //               txn.commit().await?; events.notify();
//!
//! // consumer
//! Consumer::new("qualification.identity", "identity", db, &identity_url, tokens, handler)?
//!     .spawn(shutdown);
//! ```
//!
//! The tables come from [`migrations`], which every service's migrator lists
//! before its own.

mod consumer;
mod log;
mod m20261122_000011_kit_outbox_events;
mod m20261122_000012_kit_event_cursors;
mod m20261122_000013_kit_applied_events;
mod payloads;
mod schema;

pub use consumer::{Backoff, Consumer, EventHandler};
pub use log::{EventLog, EventLogOptions, StreamService};
pub use sanshi_proto::events::v1::Event;

use sea_orm::sea_query::Query;
use sea_orm::{ConnectionTrait, DbErr};
use sea_orm_migration::MigrationTrait;
use uuid::Uuid;

/// A protobuf message that travels as an event payload.
pub trait EventPayload: prost::Message + Default {
    /// The fully qualified protobuf name, e.g. `sanshi.identity.v1.AccountCreated`;
    /// consumers dispatch on it.
    const TYPE: &'static str;
}

/// Writes an event to the outbox on `db`, normally the transaction that makes
/// the state change the event reports. It carries the current span's trace
/// context. The event is streamed once the transaction has committed and the
/// sequencer has numbered it; call [`EventLog::notify`] after committing so
/// that this happens at once rather than at the next poll.
///
/// `producer` is the name the service's [`EventLog`] runs under; consumers
/// refuse events of another producer. Returns the event's id (a UUIDv7).
pub async fn publish<C: ConnectionTrait, P: EventPayload>(
    db: &C,
    producer: &str,
    aggregate_type: &str,
    aggregate_id: &str,
    payload: &P,
) -> Result<Uuid, DbErr> {
    let ids = publish_many(db, producer, aggregate_type, [(aggregate_id, payload)]).await?;
    ids.into_iter()
        .next()
        .ok_or_else(|| DbErr::Custom("outbox insert wrote no event".into()))
}

/// [`publish`] for many events of one type in one statement (batches such as
/// a year's roll-over); events keep the order given. Returns their ids.
pub async fn publish_many<'a, C: ConnectionTrait, P: EventPayload + 'a>(
    db: &C,
    producer: &str,
    aggregate_type: &str,
    events: impl IntoIterator<Item = (&'a str, &'a P)>,
) -> Result<Vec<Uuid>, DbErr> {
    use schema::OutboxEvents as T;

    let trace_context = serde_json::to_string(&crate::telemetry::current_trace_context())
        .map_err(|e| DbErr::Custom(format!("encode trace context: {e}")))?;
    let now = chrono::Utc::now();
    let rows: Vec<(Uuid, &str, Vec<u8>)> = events
        .into_iter()
        .map(|(aggregate_id, payload)| (Uuid::now_v7(), aggregate_id, payload.encode_to_vec()))
        .collect();
    let fixed = 96 + producer.len() + aggregate_type.len() + P::TYPE.len() + trace_context.len();
    for chunk in crate::db::chunks_by_size(&rows, |(_, id, payload)| fixed + id.len() + payload.len()) {
        let mut insert = Query::insert();
        insert.into_table(T::Table).columns([
            T::EventId,
            T::Producer,
            T::AggregateType,
            T::AggregateId,
            T::EventType,
            T::Payload,
            T::TraceContext,
            T::CreatedAt,
        ]);
        for (event_id, aggregate_id, payload) in chunk {
            insert
                .values([
                    event_id.to_string().into(),
                    producer.into(),
                    aggregate_type.into(),
                    (*aggregate_id).into(),
                    P::TYPE.into(),
                    payload.clone().into(),
                    trace_context.clone().into(),
                    now.into(),
                ])
                .map_err(|e| DbErr::Custom(format!("build outbox insert: {e}")))?;
            tracing::debug!(producer, aggregate_type, aggregate_id, event_type = P::TYPE, event_id = %event_id, "event published");
        }
        db.execute(&insert).await?;
    }
    Ok(rows.into_iter().map(|(id, _, _)| id).collect())
}

/// How many committed outbox events wait to be numbered for the stream, and
/// when the oldest of them was written (for metrics: a growing backlog means
/// the sequencer is stuck).
pub async fn outbox_backlog(db: &impl ConnectionTrait) -> Result<(i64, Option<chrono::DateTime<chrono::Utc>>), DbErr> {
    use schema::OutboxEvents as T;
    use sea_orm::sea_query::{Expr, ExprTrait};
    let select = Query::select()
        .expr(Expr::col(T::Id).count())
        .expr(Expr::col(T::CreatedAt).min())
        .from(T::Table)
        .and_where(Expr::col(T::Seq).is_null())
        .to_owned();
    let Some(row) = db.query_one(&select).await? else {
        return Ok((0, None));
    };
    Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?))
}

/// The payload of `event` as `P`, or `None` when the event is of another type.
pub fn decode<P: EventPayload>(event: &Event) -> Option<Result<P, prost::DecodeError>> {
    (event.r#type == P::TYPE).then(|| P::decode(event.payload.as_slice()))
}

/// The tables of the event subsystem: `outbox_events` (producers),
/// `event_cursors` and `applied_events` (consumers). Every service creates
/// all three, listed before its own migrations.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m20261122_000011_kit_outbox_events::Migration),
        Box::new(m20261122_000012_kit_event_cursors::Migration),
        Box::new(m20261122_000013_kit_applied_events::Migration),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, PartialEq, prost::Message)]
    struct Ping {
        #[prost(string, tag = "1")]
        text: String,
    }

    impl EventPayload for Ping {
        const TYPE: &'static str = "sanshi.test.v1.Ping";
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Pong {}

    impl EventPayload for Pong {
        const TYPE: &'static str = "sanshi.test.v1.Pong";
    }

    #[test]
    fn migrations_are_named_after_their_files() {
        let names: Vec<String> = migrations().iter().map(|m| m.name().to_string()).collect();
        assert_eq!(
            names,
            [
                "m20261122_000011_kit_outbox_events",
                "m20261122_000012_kit_event_cursors",
                "m20261122_000013_kit_applied_events"
            ]
        );
    }

    #[test]
    fn decode_dispatches_on_type() {
        let ping = Ping { text: "hello".into() };
        let event = Event {
            r#type: Ping::TYPE.into(),
            payload: prost::Message::encode_to_vec(&ping),
            ..Event::default()
        };
        assert_eq!(decode::<Ping>(&event).map(Result::ok), Some(Some(ping)));
        assert!(decode::<Pong>(&event).is_none());
        let garbage = Event {
            payload: vec![0xff, 0xff],
            ..event
        };
        assert!(matches!(decode::<Ping>(&garbage), Some(Err(_))));
    }
}

/// One shutdown for a service's server, consumers and background tasks: when
/// `shutdown` resolves, the event log closes (so that open streams do not
/// hold the drain until its grace period) and every [`Stop::wait`] resolves.
#[derive(Clone)]
pub struct Stop(tokio::sync::watch::Receiver<bool>);

impl Stop {
    pub fn new(shutdown: impl Future<Output = ()> + Send + 'static, events: std::sync::Arc<EventLog>) -> Stop {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            events.close();
            let _ = stop.send(true);
        });
        Stop(stopped)
    }

    /// Resolves once shutdown has begun.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stopped = self.0.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    }
}
