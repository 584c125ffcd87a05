//! Incentive's part: its read model of the professionals, and each scored
//! record's award (ledger entry and record figures) scored by incentive's
//! own rules, so that balances and year totals (kept by incentive's
//! triggers) exist; then the first year is closed as the roll-over does.

use super::Progress;
use super::world::{Visit, World};
use chrono::{Datelike, Utc};
use incentive::domain::Tenths;
use incentive::domain::points::{self, RuleSet, ScoredRecord};
use incentive::store::awards::{self, RecordAward};
use incentive::store::ledger::{self, Entry, Kind};
use incentive::store::professionals::{self, Professional};
use sea_orm::DatabaseConnection;

pub async fn write_professionals(db: &DatabaseConnection, world: &World, batch: usize) -> anyhow::Result<()> {
    let mut progress = Progress::new("incentive professionals", world.professionals.len());
    for chunk in world.professionals.chunks(batch) {
        let rows: Vec<Professional> = chunk
            .iter()
            .map(|p| Professional {
                account_id: p.account_id.clone(),
                real_name: p.real_name.clone(),
                profession: p.profession.as_str().to_string(),
                specialties: p.specialties.clone(),
                service_regions: p.service_regions.clone(),
                status: "active".into(),
            })
            .collect();
        let txn = kit::db::begin(db).await?;
        professionals::upsert_many(&txn, &rows, Utc::now()).await?;
        txn.commit().await?;
        progress.add(chunk.len());
    }
    Ok(())
}

/// Scores visits as incentive does (the standard rules; incentive's default
/// when no rule file is configured), with each professional's progressive
/// bonus from the first year's total.
pub struct Scorer {
    first_year: i32,
    rules: [RuleSet; 2],
    /// Each professional's points of the first year.
    first_year_points: Vec<Tenths>,
}

impl Scorer {
    /// Adds up the first year's points (which carry no bonus: the year
    /// before has no visits), one pass over every visit.
    pub fn new(world: &World) -> anyhow::Result<Scorer> {
        let first_year = world.first_year();
        let mut scorer = Scorer {
            first_year,
            rules: [RuleSet::standard(first_year), RuleSet::standard(first_year + 1)],
            first_year_points: vec![0; world.professionals.len()],
        };
        for r in 0..world.counts.records {
            let visit = world.visit(r);
            if visit.start.year() == first_year {
                let amount = scorer.score(world, &visit)?.amount;
                let p = world.matches[visit.match_index].professional;
                scorer.first_year_points[p] += amount;
            }
        }
        Ok(scorer)
    }

    fn score(&self, world: &World, v: &Visit) -> anyhow::Result<points::Breakdown> {
        let m = &world.matches[v.match_index];
        let year = v.start.year();
        let (rules, carried) = if year == self.first_year {
            (&self.rules[0], 0)
        } else {
            (&self.rules[1], self.first_year_points[m.professional])
        };
        let record = ScoredRecord {
            service_type: v.service_type.to_string(),
            distance_km: m.distance_km,
            community_rating: v.community_rating,
            resident_average: 0.0,
            resident_count: 0,
        };
        Ok(points::score(rules, &record, carried)?)
    }

    /// The visit's award: its ledger entry and its record's figures.
    fn award(&self, world: &World, v: &Visit) -> anyhow::Result<(Entry, RecordAward)> {
        let m = &world.matches[v.match_index];
        let professional_id = world.professionals[m.professional].account_id.clone();
        let community_code = world.communities[m.community].code.clone();
        let breakdown = self.score(world, v)?;
        let mut rng = super::rng::Rng::item(world.seed, super::rng::Stream::Award, v.index as u64);
        let entry = Entry {
            id: rng.uuid_v7(v.scored_at),
            professional_id: professional_id.clone(),
            source: format!("record:{}", v.record_id),
            kind: Kind::Award,
            amount: breakdown.amount,
            year: v.start.year(),
            rule_version: breakdown.rule_version.clone(),
            breakdown: kit::db::to_json(&breakdown)?,
            compensates: String::new(),
            reason: breakdown.explain(),
            actor_id: "system".into(),
            created_at: v.scored_at,
            region_code: community_code.clone(),
        };
        let record = RecordAward {
            record_id: v.record_id.clone(),
            professional_id,
            year: entry.year,
            region_code: community_code,
            version: 1,
            satisfaction_milli: breakdown.satisfaction_milli,
            points: breakdown.amount,
            first_entry_id: entry.id.clone(),
        };
        Ok((entry, record))
    }
}

/// Writes the visits' awards: ledger entries, then the records' figures
/// (the order incentive writes them in), in one transaction.
pub async fn write_awards(
    db: &DatabaseConnection,
    world: &World,
    scorer: &Scorer,
    visits: &[Visit],
) -> anyhow::Result<()> {
    let mut entries = Vec::with_capacity(visits.len());
    let mut records = Vec::with_capacity(visits.len());
    for v in visits {
        let (entry, record) = scorer.award(world, v)?;
        entries.push(entry);
        records.push(record);
    }
    let txn = kit::db::begin(db).await?;
    let appended = ledger::append_many(&txn, &entries).await?;
    anyhow::ensure!(
        appended.len() == entries.len(),
        "{} of {} awards were in the ledger already",
        entries.len() - appended.len(),
        entries.len()
    );
    awards::save_many(&txn, &records).await?;
    txn.commit().await?;
    Ok(())
}

/// Closes the first year as an administrator would (annual results, star
/// ratings and their `StarRatingsChanged` events, which matching and
/// notification pick up once they run).
pub async fn close_first_year(db: &DatabaseConnection, world: &World) -> anyhow::Result<()> {
    let rules = incentive::domain::stars::StarRules::standard();
    incentive::rollover::close(db, None, &rules, world.first_year(), "natl-generator").await?;
    let summary = incentive::store::years::summary(db, world.first_year()).await?;
    tracing::info!(
        year = world.first_year(),
        professionals = summary.professionals,
        upgraded = summary.upgraded,
        total_points = summary.total_points,
        "first year closed"
    );
    Ok(())
}
