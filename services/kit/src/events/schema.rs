//! Names of the event tables and columns, shared by the migrations and queries.

use sea_orm::DeriveIden;

/// The outbox: one row per published event. `id` orders insertion, `seq` is
/// NULL until the sequencer numbers the committed row.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum OutboxEvents {
    Table,
    Id,
    EventId,
    Seq,
    Producer,
    AggregateType,
    AggregateId,
    EventType,
    Payload,
    TraceContext,
    CreatedAt,
}

/// A consumer's position in its producer's stream.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum EventCursors {
    Table,
    Consumer,
    Producer,
    LastSequence,
    UpdatedAt,
}

/// The events a consumer has applied, so that a replay applies none twice.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum AppliedEvents {
    Table,
    Consumer,
    EventId,
    Sequence,
    AppliedAt,
}
