//! The yearly roll-over: closes a year in one transaction.
//!
//! One statement writes every professional's annual results (total,
//! services, satisfaction, standing, stars) and returns them; those whose
//! stars changed are announced in pages, one `StarRatingsChanged` event per
//! page; the year is marked done; all of it commits together.
//!
//! Starting the closing is recorded (and audit-logged) first, in its own
//! transaction, so a crash leaves the year "running" and it is run again at
//! start-up (or by the admin) from the beginning: nothing of the crashed run
//! was kept. A done year changes nothing, and two runs at once cannot both
//! write: the transaction first takes the year's closing row, so the second
//! waits for the first and then finds the year done. So closing a year twice
//! is closing it once.
//!
//! One transaction is fine at the national scale (≈ 111,000 professionals:
//! 100,000 result rows and 50 events, about a second on PostgreSQL; see
//! BENCHMARKS.md), and it is what makes the closing exactly-once without a
//! cursor.

use crate::consumers::PRODUCER;
use crate::domain::stars::{self, StarRules};
use crate::store::{audit, years};
use chrono::Utc;
use kit::events::EventLog;
use kit::{ServiceError, ServiceResult};
use sanshi_proto::incentive::v1 as pb;
use sea_orm::{DatabaseConnection, TransactionTrait};

/// Star changes per `StarRatingsChanged` event (≈ 250 KB of payload).
pub const PAGE: usize = 2000;

/// Records that `actor` starts closing `year` (audit-logged), unless it was started before.
pub async fn begin(db: &DatabaseConnection, year: i32, actor: &str) -> ServiceResult<()> {
    if years::start(db, year, actor, Utc::now()).await? {
        audit::log(db, actor, "close_year", &format!("year:{year}"), "开始年度结算").await?;
    }
    Ok(())
}

/// Closes `year` (started by `actor`), or closes it again after a crash.
pub async fn close(
    db: &DatabaseConnection,
    events: Option<&EventLog>,
    rules: &StarRules,
    year: i32,
    actor: &str,
) -> ServiceResult<()> {
    begin(db, year, actor).await?;
    let closing = years::closing(db, year)
        .await?
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("year closing vanished")))?;
    if closing.state == "done" {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let txn = db.begin().await?;
    match years::lock(&txn, year).await? {
        Some(c) if c.state == "running" => {}
        _ => return Ok(txn.rollback().await?),
    }
    let written = years::aggregate(&txn, year, rules).await?;
    let professionals = written.len();
    let mut changed: Vec<years::AnnualResult> = written.into_iter().filter(|r| r.stars != r.previous_stars).collect();
    changed.sort_by(|a, b| a.professional_id.cmp(&b.professional_id));
    let written_ms = started.elapsed().as_millis() as u64;
    for page in changed.chunks(PAGE) {
        let changes = page
            .iter()
            .map(|r| {
                let rating = stars::rate(rules, &r.results);
                pb::StarRatingChanged {
                    professional_account_id: r.professional_id.clone(),
                    year,
                    previous_stars: r.previous_stars,
                    stars: r.stars,
                    reason: stars::change(r.previous_stars, &rating).unwrap_or(rating.reason),
                }
            })
            .collect();
        let event = pb::StarRatingsChanged { year, changes };
        kit::events::publish(&txn, PRODUCER, "year", &year.to_string(), &event).await?;
    }
    years::finish(&txn, year, Utc::now()).await?;
    txn.commit().await?;
    if let Some(events) = events {
        events.notify();
    }
    tracing::info!(
        year,
        professionals,
        announced = changed.len(),
        written_ms,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "year closed"
    );
    Ok(())
}
