//! Incentive follows records: every scored service record earns points once
//! (and an amended one is scored again, by a compensating entry).
//! The ledger's unique source (`record:<id>`) makes an award idempotent on
//! its own, beyond the consumer's once-per-event guarantee, so the same
//! record arriving again — in any order, under any event id — changes nothing.

use crate::domain::Tenths;
use crate::domain::points::{self, Overflow, RuleBook, RuleSet, ScoredRecord};
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
use std::collections::HashMap;

pub const PRODUCER: &str = "incentive";
pub const RECORDS_CONSUMER: &str = "incentive.records";
pub const QUALIFICATION_CONSUMER: &str = "incentive.qualification";

/// The rule set in force for a record of `year` scored at `scored_at`.
pub trait Rules: Send + Sync + 'static {
    fn for_year(&self, year: i32, scored_at: DateTime<Utc>) -> RuleSet;
}

/// The built-in rules of every year.
pub struct StandardRules;

impl Rules for StandardRules {
    fn for_year(&self, year: i32, _scored_at: DateTime<Utc>) -> RuleSet {
        RuleSet::standard(year)
    }
}

/// The configured rule sets (`rules.rule_sets_file`), the standard ones otherwise.
impl Rules for RuleBook {
    fn for_year(&self, year: i32, scored_at: DateTime<Utc>) -> RuleSet {
        self.in_force(year, scored_at)
    }
}

pub struct RecordEvents<R: Rules> {
    pub rules: R,
}

impl<R: Rules> EventHandler for RecordEvents<R> {
    fn apply<'a>(&'a self, txn: &'a DatabaseTransaction, event: &'a Event) -> BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(async move {
            if let Some(scored) = decode::<records::ServiceRecordScored>(event) {
                award(txn, &self.rules, &scored.map_err(undecodable)?, event).await?;
            }
            Ok(())
        })
    }

    fn apply_batch<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        events: &'a [Event],
    ) -> Option<BoxFuture<'a, Result<(), ServiceError>>> {
        Some(Box::pin(async move {
            let mut scored = Vec::new();
            for event in events {
                if let Some(e) = decode::<records::ServiceRecordScored>(event) {
                    scored.push((e.map_err(undecodable)?, event));
                }
            }
            let mut records: Vec<&str> = scored.iter().map(|(e, _)| e.record_id.as_str()).collect();
            records.sort_unstable();
            records.dedup();
            if records.len() < scored.len() {
                // A record twice in one batch (an amendment right after scoring): in turn.
                for (e, event) in &scored {
                    award(txn, &self.rules, e, event).await?;
                }
                return Ok(());
            }
            award_many(txn, &self.rules, &scored).await.map(|_| ())
        }))
    }
}

fn undecodable(e: prost::DecodeError) -> ServiceError {
    ServiceError::internal(anyhow::anyhow!("undecodable event: {e}"))
}

fn time(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
}

/// Points count in the year of the visit.
fn visit_year(e: &records::ServiceRecordScored, event: &Event) -> i32 {
    time(e.visit_time.as_ref())
        .or_else(|| time(event.occur_time.as_ref()))
        .unwrap_or_else(Utc::now)
        .year()
}

/// What awarding one scored record writes.
pub struct Award {
    pub entry: Entry,
    pub record: RecordAward,
}

/// The award of a scored record in `year` for a professional carrying over
/// `carry_over` points, given what the record counted for so far (`current`):
/// the points, or for a new version the difference as a compensating entry.
fn plan(
    rules: &impl Rules,
    (e, event): (&records::ServiceRecordScored, &Event),
    current: Option<&RecordAward>,
    year: i32,
    carry_over: Tenths,
) -> ServiceResult<Award> {
    // The set in force when the record was scored (when records published it).
    let scored_at = time(event.occur_time.as_ref()).unwrap_or_else(Utc::now);
    let rule_set = rules.for_year(year, scored_at);
    let breakdown = points::score(
        &rule_set,
        &ScoredRecord {
            service_type: e.service_type.clone(),
            distance_km: e.distance_km,
            community_rating: e.community_rating,
            resident_average: e.resident_rating_average,
            resident_count: e.resident_rating_count,
        },
        carry_over,
    )
    .map_err(ServiceError::internal)?;
    let (source, kind, amount, compensates, reason) = match current {
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
            breakdown
                .amount
                .checked_sub(c.points)
                .ok_or_else(|| ServiceError::internal(Overflow))?,
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
    let record = RecordAward {
        record_id: e.record_id.clone(),
        professional_id: e.professional_account_id.clone(),
        year,
        region_code: e.community_code.clone(),
        version: e.version,
        satisfaction_milli: breakdown.satisfaction_milli,
        points: breakdown.amount,
        first_entry_id: current.map_or(entry.id.clone(), |c| c.first_entry_id.clone()),
    };
    Ok(Award { entry, record })
}

/// Writes awards (their ledger entries, record figures and `PointsAwarded`
/// events), skipping any whose source the ledger already holds; returns how
/// many were written.
async fn write(txn: &DatabaseTransaction, awards: Vec<Award>) -> ServiceResult<Vec<Award>> {
    let entries: Vec<Entry> = awards.iter().map(|a| a.entry.clone()).collect();
    let appended = ledger::append_many(txn, &entries).await?;
    let written: Vec<Award> = awards
        .into_iter()
        .filter(|a| {
            let fresh = appended.contains(&a.entry.source);
            if !fresh {
                tracing::info!(source = %a.entry.source, "record already awarded");
            }
            fresh
        })
        .collect();
    let records: Vec<RecordAward> = written.iter().map(|a| a.record.clone()).collect();
    awards::save_many(txn, &records).await?;
    let payloads: Vec<pb::PointsAwarded> = written.iter().map(|a| awarded(&a.entry)).collect();
    let ids = written.iter().map(|a| a.entry.professional_id.as_str());
    kit::events::publish_many(txn, PRODUCER, "professional", ids.zip(&payloads)).await?;
    Ok(written)
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
    let visited = visit_year(e, event);
    let (current, mut carry_over) = awards::prior(txn, &e.record_id, &e.professional_account_id, visited - 1).await?;
    if current.as_ref().is_some_and(|c| e.version <= c.version) {
        tracing::info!(record_id = %e.record_id, version = e.version, "record version already awarded");
        return Ok(None);
    }
    // An amendment keeps the year of the first award.
    let year = current.as_ref().map_or(visited, |c| c.year);
    if year != visited {
        carry_over = years::carry_over(txn, &e.professional_account_id, year - 1).await?;
    }
    let planned = plan(rules, (e, event), current.as_ref(), year, carry_over)?;
    let written = write(txn, vec![planned]).await?;
    Ok(written.first().map(|a| {
        tracing::info!(record_id = %e.record_id, version = e.version, tenths = a.entry.amount, "points awarded");
        a.entry.amount
    }))
}

/// [`award`] for many scored records (each once) in a few statements: their
/// prior figures and carry-overs read together, awards written together. A
/// carry-over includes what earlier events of the batch added to that year.
pub async fn award_many(
    txn: &DatabaseTransaction,
    rules: &impl Rules,
    scored: &[(records::ServiceRecordScored, &Event)],
) -> ServiceResult<usize> {
    if scored.is_empty() {
        return Ok(0);
    }
    let record_ids: Vec<&str> = scored.iter().map(|(e, _)| e.record_id.as_str()).collect();
    let current = awards::find_many(txn, &record_ids).await?;
    let year_of = |e: &records::ServiceRecordScored, event: &Event| {
        current
            .get(&e.record_id)
            .map_or_else(|| visit_year(e, event), |c| c.year)
    };
    let mut professionals: Vec<&str> = scored.iter().map(|(e, _)| e.professional_account_id.as_str()).collect();
    professionals.sort_unstable();
    professionals.dedup();
    let mut previous_years: Vec<i32> = scored.iter().map(|(e, event)| year_of(e, event) - 1).collect();
    previous_years.sort_unstable();
    previous_years.dedup();
    let carried = awards::carry_overs(txn, &professionals, &previous_years).await?;
    let mut added: HashMap<(String, i32), Tenths> = HashMap::new();
    let mut planned = Vec::new();
    for (e, event) in scored {
        let current = current.get(&e.record_id);
        if current.is_some_and(|c| e.version <= c.version) {
            continue;
        }
        let year = year_of(e, event);
        let key = (e.professional_account_id.clone(), year - 1);
        let carry_over = match carried.get(&key) {
            Some((points, true)) => *points,
            open => open
                .map_or(0, |(points, _)| *points)
                .saturating_add(added.get(&key).copied().unwrap_or(0)),
        };
        let award = plan(rules, (e, event), current, year, carry_over)?;
        let sum = added.entry((e.professional_account_id.clone(), year)).or_default();
        *sum = sum
            .checked_add(award.entry.amount)
            .ok_or_else(|| ServiceError::internal(Overflow))?;
        planned.push(award);
    }
    let written = write(txn, planned).await?;
    tracing::info!(events = scored.len(), awarded = written.len(), "points awarded");
    Ok(written.len())
}

fn awarded(entry: &Entry) -> pb::PointsAwarded {
    pb::PointsAwarded {
        entry_id: entry.id.clone(),
        professional_account_id: entry.professional_id.clone(),
        source: entry.source.clone(),
        tenths: entry.amount,
        year: entry.year,
        rule_version: entry.rule_version.clone(),
    }
}

/// Tells the platform (notification, dashboards) that points moved.
pub async fn publish_awarded(txn: &DatabaseTransaction, entry: &Entry) -> ServiceResult<()> {
    kit::events::publish(txn, PRODUCER, "professional", &entry.professional_id, &awarded(entry)).await?;
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
