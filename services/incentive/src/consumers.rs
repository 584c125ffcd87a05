//! Incentive follows records: every scored service record earns points once
//! (and an amended one is scored again, by a compensating entry).
//! The ledger's unique source (`record:<id>`) makes an award idempotent on
//! its own, beyond the consumer's once-per-event guarantee, so the same
//! record arriving again — in any order, under any event id — changes nothing.

use crate::domain::Tenths;
use crate::domain::points::{self, RuleSet, ScoredRecord};
use crate::store::awards::{self, RecordAward};
use crate::store::ledger::{self, Entry, Kind};
use crate::store::professionals::{self, Professional};
use crate::store::years;
use chrono::{DateTime, Datelike, Utc};
use futures::future::BoxFuture;
use kit::events::{Event, EventHandler, decode};
use kit::{ServiceError, ServiceResult};
use sanshi_proto::incentive::v1 as pb;
use sanshi_proto::qualification::v1 as qualification;
use sanshi_proto::records::v1 as records;
use sea_orm::DatabaseTransaction;

pub const PRODUCER: &str = "incentive";
pub const RECORDS_CONSUMER: &str = "incentive.records";
pub const QUALIFICATION_CONSUMER: &str = "incentive.qualification";

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

/// Awards a scored record's points unless that version was awarded before;
/// returns the amount written now (None: nothing to do). A higher version (an
/// amendment accepted after scoring) is scored again and the difference to
/// what the record counted for so far is written as a compensating entry.
pub async fn award(
    txn: &DatabaseTransaction,
    rules: &impl Rules,
    e: &records::ServiceRecordScored,
    event: &Event,
) -> ServiceResult<Option<Tenths>> {
    // Points count in the year of the visit (an amendment keeps the first year).
    let when = time(e.visit_time.as_ref())
        .or_else(|| time(event.occur_time.as_ref()))
        .unwrap_or_else(Utc::now);
    let (current, mut previous_year) =
        awards::prior(txn, &e.record_id, &e.professional_account_id, when.year() - 1).await?;
    if current.as_ref().is_some_and(|c| e.version <= c.version) {
        tracing::info!(record_id = %e.record_id, version = e.version, "record version already awarded");
        return Ok(None);
    }
    let year = current.as_ref().map_or(when.year(), |c| c.year);
    if year != when.year() {
        previous_year = years::carry_over(txn, &e.professional_account_id, year - 1).await?;
    }
    let rule_set = rules.for_year(year);
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
    let (source, kind, amount, compensates, reason) = match &current {
        None => (
            format!("record:{}", e.record_id),
            Kind::Award,
            breakdown.amount,
            String::new(),
            breakdown.explain(),
        ),
        Some(c) => (
            format!("record:{}:v{}", e.record_id, e.version),
            Kind::Compensation,
            breakdown.amount - c.points,
            c.first_entry_id.clone(),
            format!(
                "服务记录修改后（第 {} 版）重新计分：{}，原计 {}",
                e.version,
                breakdown.explain(),
                crate::domain::format_points(c.points)
            ),
        ),
    };
    let entry = Entry {
        id: uuid::Uuid::now_v7().to_string(),
        professional_id: e.professional_account_id.clone(),
        source,
        kind,
        amount,
        year,
        rule_version: rule_set.version.clone(),
        breakdown: kit::db::to_json(&breakdown)?,
        compensates,
        reason,
        actor_id: "system".into(),
        created_at: Utc::now(),
        region_code: e.community_code.clone(),
    };
    if !ledger::append(txn, &entry).await? {
        tracing::info!(record_id = %e.record_id, "record already awarded");
        return Ok(None);
    }
    awards::save(
        txn,
        &RecordAward {
            record_id: e.record_id.clone(),
            professional_id: e.professional_account_id.clone(),
            year,
            region_code: e.community_code.clone(),
            version: e.version,
            satisfaction_milli: breakdown.satisfaction_milli,
            points: breakdown.amount,
            first_entry_id: current.map_or(entry.id.clone(), |c| c.first_entry_id),
        },
    )
    .await?;
    publish_awarded(txn, &entry).await?;
    tracing::info!(record_id = %e.record_id, version = e.version, tenths = entry.amount, "points awarded");
    Ok(Some(entry.amount))
}

/// Tells the platform (notification, dashboards) that points moved.
pub async fn publish_awarded(txn: &DatabaseTransaction, entry: &Entry) -> ServiceResult<()> {
    let payload = pb::PointsAwarded {
        entry_id: entry.id.clone(),
        professional_account_id: entry.professional_id.clone(),
        source: entry.source.clone(),
        tenths: entry.amount,
        year: entry.year,
        rule_version: entry.rule_version.clone(),
    };
    kit::events::publish(txn, PRODUCER, "professional", &entry.professional_id, &payload).await?;
    Ok(())
}

/// Incentive follows qualification: who the professionals are (names,
/// professions, specialties, home region) and whether their standing lapsed
/// in a year, which bars that year's star rating.
pub struct QualificationEvents;

fn bad_payload(error: prost::DecodeError) -> ServiceError {
    ServiceError::internal(anyhow::anyhow!("undecodable qualification event: {error}"))
}

impl EventHandler for QualificationEvents {
    fn apply<'a>(&'a self, txn: &'a DatabaseTransaction, event: &'a Event) -> BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(async move {
            let now = Utc::now();
            let when = time(event.occur_time.as_ref()).unwrap_or(now);
            if let Some(e) = decode::<qualification::ProfessionalQualified>(event) {
                let e = e.map_err(bad_payload)?;
                let profession = qualification::Profession::try_from(e.profession)
                    .map(|p| p.as_str_name().trim_start_matches("PROFESSION_").to_ascii_lowercase())
                    .unwrap_or_default();
                let p = Professional {
                    account_id: e.account_id,
                    real_name: e.real_name,
                    profession,
                    specialties: e.specialties,
                    service_regions: e.service_region_codes,
                    status: "active".into(),
                };
                return professionals::upsert(txn, &p, now).await;
            }
            if let Some(e) = decode::<qualification::QualificationRenewed>(event) {
                professionals::set_status(txn, &e.map_err(bad_payload)?.account_id, "active", now).await?;
                return Ok(());
            }
            let (account_id, status, reason) = if let Some(e) = decode::<qualification::QualificationSuspended>(event) {
                let e = e.map_err(bad_payload)?;
                (e.account_id, "suspended", e.reason)
            } else if let Some(e) = decode::<qualification::QualificationRevoked>(event) {
                let e = e.map_err(bad_payload)?;
                (e.account_id, "revoked", e.reason)
            } else if let Some(e) = decode::<qualification::QualificationExpired>(event) {
                (e.map_err(bad_payload)?.account_id, "expired", "资格已到期".to_string())
            } else {
                return Ok(());
            };
            professionals::set_status(txn, &account_id, status, now).await?;
            professionals::record_lapse(txn, &account_id, when.year(), &reason).await
        })
    }
}
