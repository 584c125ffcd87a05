//! The yearly roll-over: closes a year in three resumable steps.
//!
//! 1. One statement writes every professional's annual results (total,
//!    services, satisfaction, standing, stars); rows already written are kept.
//! 2. Results whose stars changed are announced as `StarRatingChanged` in
//!    pages, in professional order; each page's events and the cursor that
//!    says how far the announcing got are written in one transaction.
//! 3. The year is marked done.
//!
//! A crash between steps leaves the closing "running"; running it again (by
//! the admin, or at start-up) continues where it stopped, and running a done
//! year changes nothing. So closing a year twice is closing it once.

use crate::consumers::PRODUCER;
use crate::domain::stars::{self, StarRules};
use crate::store::{audit, years};
use chrono::Utc;
use kit::events::EventLog;
use kit::{ServiceError, ServiceResult};
use sanshi_proto::incentive::v1 as pb;
use sea_orm::{DatabaseConnection, TransactionTrait};

/// Professionals announced per transaction (× 8 values per outbox row stays
/// under SQLite's limit of bound parameters).
pub const PAGE: u64 = 2000;

/// Records that `actor` starts closing `year` (audit-logged), unless it was started before.
pub async fn begin(db: &DatabaseConnection, year: i32, actor: &str) -> ServiceResult<()> {
    if years::start(db, year, actor, Utc::now()).await? {
        audit::log(db, actor, "close_year", &format!("year:{year}"), "开始年度结算").await?;
    }
    Ok(())
}

/// Closes `year` (started by `actor`), or finishes closing it.
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
    if !closing.aggregated {
        let txn = db.begin().await?;
        let written = years::aggregate(&txn, year, rules).await?;
        txn.commit().await?;
        tracing::info!(
            year,
            professionals = written,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "annual results written"
        );
    }
    let mut announced = 0;
    loop {
        let txn = db.begin().await?;
        let through = years::closing(&txn, year)
            .await?
            .map(|c| c.announced_through)
            .unwrap_or_default();
        let page = years::changed_after(&txn, year, &through, PAGE).await?;
        let Some(last) = page.last() else {
            txn.rollback().await?;
            break;
        };
        if !years::advance_announced(&txn, year, &through, &last.professional_id).await? {
            // Another run announced this page first: read the cursor again.
            txn.rollback().await?;
            continue;
        }
        let changes: Vec<pb::StarRatingChanged> = page
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
        let ids = page.iter().map(|r| r.professional_id.as_str());
        kit::events::publish_many(&txn, PRODUCER, "professional", ids.zip(&changes)).await?;
        txn.commit().await?;
        announced += changes.len();
        if let Some(events) = events {
            events.notify();
        }
    }
    years::finish(db, year, Utc::now()).await?;
    tracing::info!(
        year,
        announced,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "year closed"
    );
    Ok(())
}
