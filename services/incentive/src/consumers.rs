//! Incentive follows records: every scored service record earns points once.
//! The ledger's unique source (`record:<id>`) makes an award idempotent on
//! its own, beyond the consumer's once-per-event guarantee, so the same
//! record arriving again — in any order, under any event id — changes nothing.

use crate::domain::Tenths;
use crate::domain::points::{self, RuleSet, ScoredRecord};
use crate::store::ledger::{self, Entry, Kind};
use chrono::{DateTime, Datelike, Utc};
use futures::future::BoxFuture;
use kit::events::{Event, EventHandler, decode};
use kit::{ServiceError, ServiceResult};
use sanshi_proto::incentive::v1 as pb;
use sanshi_proto::records::v1 as records;
use sea_orm::DatabaseTransaction;

pub const PRODUCER: &str = "incentive";
pub const RECORDS_CONSUMER: &str = "incentive.records";

/// The rule set in force for a year's points.
pub trait Rules: Send + Sync + 'static {
    fn for_year(&self, year: i32) -> RuleSet;
}

/// The built-in rules of every year.
pub struct StandardRules;

impl Rules for StandardRules {
    fn for_year(&self, year: i32) -> RuleSet {
        RuleSet::standard(year)
    }
}

pub struct RecordEvents<R: Rules> {
    pub rules: R,
}

impl<R: Rules> EventHandler for RecordEvents<R> {
    fn apply<'a>(&'a self, txn: &'a DatabaseTransaction, event: &'a Event) -> BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(async move {
            if let Some(scored) = decode::<records::ServiceRecordScored>(event) {
                let scored = scored.map_err(|e| ServiceError::internal(anyhow::anyhow!("undecodable event: {e}")))?;
                award(txn, &self.rules, &scored, event).await?;
            }
            Ok(())
        })
    }
}

fn time(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
}

/// Awards a scored record's points unless it was awarded before; returns the
/// amount awarded now (None: already in the ledger).
pub async fn award(
    txn: &DatabaseTransaction,
    rules: &impl Rules,
    e: &records::ServiceRecordScored,
    event: &Event,
) -> ServiceResult<Option<Tenths>> {
    // Points count in the year of the visit.
    let when = time(e.visit_time.as_ref())
        .or_else(|| time(event.occur_time.as_ref()))
        .unwrap_or_else(Utc::now);
    let year = when.year();
    let rule_set = rules.for_year(year);
    let previous_year = ledger::balance(txn, &e.professional_account_id, Some(year - 1)).await?;
    let breakdown = points::score(
        &rule_set,
        &ScoredRecord {
            service_type: e.service_type.clone(),
            distance_km: e.distance_km,
            community_rating: e.community_rating,
            resident_average: e.resident_rating_average,
            resident_count: e.resident_rating_count,
        },
        previous_year,
    );
    let entry = Entry {
        id: uuid::Uuid::now_v7().to_string(),
        professional_id: e.professional_account_id.clone(),
        source: format!("record:{}", e.record_id),
        kind: Kind::Award,
        amount: breakdown.amount,
        year,
        rule_version: rule_set.version.clone(),
        breakdown: kit::db::to_json(&breakdown)?,
        compensates: String::new(),
        reason: breakdown.explain(),
        actor_id: "system".into(),
        created_at: Utc::now(),
    };
    if !ledger::append(txn, &entry).await? {
        tracing::info!(record_id = %e.record_id, "record already awarded");
        return Ok(None);
    }
    let payload = pb::PointsAwarded {
        entry_id: entry.id.clone(),
        professional_account_id: entry.professional_id.clone(),
        source: entry.source.clone(),
        tenths: entry.amount,
        year,
        rule_version: entry.rule_version.clone(),
    };
    kit::events::publish(txn, PRODUCER, "professional", &entry.professional_id, &payload).await?;
    tracing::info!(record_id = %e.record_id, tenths = entry.amount, "points awarded");
    Ok(Some(entry.amount))
}
