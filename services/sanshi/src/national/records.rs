//! Records' part: its read model of the matches (who, where, when active)
//! and of the matched communities' positions, and the service records as
//! the workflow leaves them (submitted, confirmed and rated by the
//! community, scored), with their history.

use super::world::{Visit, World};
use chrono::{DateTime, Utc};
use records::domain::record::Content;
use records::domain::workflow::State;
use records::store::matches::{self, MatchView};
use records::store::records::{self as store, Change, Record};
use sea_orm::DatabaseConnection;
use std::collections::BTreeSet;

/// How records measures a visit's distance when positions are synthetic.
const DISTANCE_METHOD: &str = "haversine:base-to-community(synthetic-position)";
/// Records' default `rules.check_in_radius_km`.
const CHECK_IN_RADIUS_KM: f64 = 3.0;

type Interval = (String, DateTime<Utc>, Option<DateTime<Utc>>);

/// Matches `start..end` as matching's `MatchConfirmed` (and `MatchEnded`) leave them in records.
pub async fn write_matches(db: &DatabaseConnection, world: &World, start: usize, end: usize) -> anyhow::Result<()> {
    let mut views = Vec::with_capacity(end - start);
    let mut intervals: Vec<Interval> = Vec::with_capacity(end - start);
    for m in &world.matches[start..end] {
        let professional = &world.professionals[m.professional];
        views.push(MatchView {
            match_id: m.id.clone(),
            professional_id: professional.account_id.clone(),
            community_code: world.communities[m.community].code.clone(),
            profession: professional.profession.as_str().to_string(),
            professional_location: Some((professional.lon, professional.lat)),
            state: if m.ended_at.is_some() { "ended" } else { "active" }.into(),
        });
        intervals.push((m.id.clone(), m.confirmed_at, m.ended_at));
    }
    let txn = kit::db::begin(db).await?;
    matches::upsert_many(&txn, &views).await?;
    matches::add_intervals(&txn, &intervals).await?;
    txn.commit().await?;
    Ok(())
}

/// The positions of the matched communities (which matching's events
/// carry); returns how many.
pub async fn write_positions(db: &DatabaseConnection, world: &World, batch: usize) -> anyhow::Result<usize> {
    let matched: BTreeSet<usize> = world.matches.iter().map(|m| m.community).collect();
    let rows: Vec<(String, f64, f64, bool)> = matched
        .into_iter()
        .map(|i| {
            let c = &world.communities[i];
            (c.code.clone(), c.lon, c.lat, true)
        })
        .collect();
    for chunk in rows.chunks(batch) {
        let txn = kit::db::begin(db).await?;
        matches::set_positions(&txn, chunk).await?;
        txn.commit().await?;
    }
    Ok(rows.len())
}

fn content(v: &Visit) -> Content {
    Content {
        service_type: v.service_type.to_string(),
        start: v.start,
        end: v.end,
        check_in: Some(v.check_in),
        summary: v.summary.clone(),
        participants: Vec::new(),
        residents_reached: v.residents_reached,
        need_ids: Vec::new(),
        attachment_ids: Vec::new(),
    }
}

fn record(world: &World, v: &Visit) -> Record {
    let m = &world.matches[v.match_index];
    Record {
        id: v.record_id.clone(),
        match_id: m.id.clone(),
        professional_id: world.professionals[m.professional].account_id.clone(),
        community_code: world.communities[m.community].code.clone(),
        state: State::Scored,
        version: 1,
        content: content(v),
        far_check_in: v.check_in_distance_km > CHECK_IN_RADIUS_KM,
        check_in_distance_km: v.check_in_distance_km,
        distance_km: m.distance_km,
        distance_method: DISTANCE_METHOD.into(),
        dispute_reason: String::new(),
        pending_amendment: None,
        amendment_reason: String::new(),
        community_rating: v.community_rating,
        community_comment: v.comment.into(),
        submitted_at: v.submitted_at,
        confirmed_at: Some(v.confirmed_at),
        rating_closes_at: Some(v.rating_closes_at),
        scored_at: Some(v.scored_at),
        request_id: format!("natl-{}", v.record_id),
        // Stands in for the fingerprint of the submission's body, which only
        // tells a retried submission from a different one under the same key.
        request_hash: kit::pii::mac_hex(b"sanshi-national", &[v.record_id.as_bytes()]),
    }
}

/// The record's history: submitted by the professional, confirmed and rated
/// by the province's administrator (for the community), scored by records.
fn history(world: &World, v: &Visit) -> [(String, i32, Change); 4] {
    let m = &world.matches[v.match_index];
    let professional = &world.professionals[m.professional].account_id;
    let admin = &world.province_of(m.community).admin_id;
    let change = |action: &'static str, actor: &str, content: Option<Content>, at: DateTime<Utc>| Change {
        version: 1,
        action,
        actor_id: actor.to_string(),
        reason: String::new(),
        content,
        at,
    };
    [
        (
            v.record_id.clone(),
            1,
            change("submitted", professional, Some(content(v)), v.submitted_at),
        ),
        (v.record_id.clone(), 2, change("confirmed", admin, None, v.confirmed_at)),
        (v.record_id.clone(), 3, change("rated", admin, None, v.rated_at)),
        (v.record_id.clone(), 4, change("scored", "system", None, v.scored_at)),
    ]
}

/// Writes the visits' records and their history, in one transaction.
pub async fn write_visits(db: &DatabaseConnection, world: &World, visits: &[Visit]) -> anyhow::Result<()> {
    let rows: Vec<Record> = visits.iter().map(|v| record(world, v)).collect();
    let changes: Vec<(String, i32, Change)> = visits.iter().flat_map(|v| history(world, v)).collect();
    let txn = kit::db::begin(db).await?;
    store::insert_many(&txn, &rows).await?;
    store::add_history_many(&txn, &changes).await?;
    txn.commit().await?;
    Ok(())
}
