//! Records follows matching: which matches exist, when each was active, and
//! where communities are. Each event is applied once, in the consumer's
//! transaction; the event's own time marks suspensions and resumptions.

use crate::store::{self, matches::MatchView};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use kit::events::{Event, EventHandler, decode};
use kit::{ServiceError, ServiceResult};
use sanshi_proto::matching::v1 as matching;
use sea_orm::DatabaseTransaction;

pub const MATCHING_CONSUMER: &str = "records.matching";

pub struct MatchingEvents;

impl EventHandler for MatchingEvents {
    fn apply<'a>(&'a self, txn: &'a DatabaseTransaction, event: &'a Event) -> BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(handle(txn, event))
    }
}

fn bad_payload(error: prost::DecodeError) -> ServiceError {
    ServiceError::internal(anyhow::anyhow!("undecodable matching event: {error}"))
}

fn at(t: Option<&prost_types::Timestamp>, event: &Event) -> DateTime<Utc> {
    t.or(event.occur_time.as_ref())
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .unwrap_or_else(Utc::now)
}

async fn handle(txn: &DatabaseTransaction, event: &Event) -> ServiceResult<()> {
    if let Some(e) = decode::<matching::MatchConfirmed>(event) {
        let e = e.map_err(bad_payload)?;
        let profession = sanshi_proto::qualification::v1::Profession::try_from(e.profession)
            .map(|p| p.as_str_name().trim_start_matches("PROFESSION_").to_ascii_lowercase())
            .unwrap_or_default();
        store::matches::upsert(
            txn,
            &MatchView {
                match_id: e.match_id.clone(),
                professional_id: e.professional_account_id,
                community_code: e.community_code.clone(),
                profession,
                professional_location: e.professional_location.map(|l| (l.longitude, l.latitude)),
                state: "active".into(),
            },
        )
        .await?;
        store::matches::open_interval(txn, &e.match_id, at(e.confirm_time.as_ref(), event)).await?;
        if let Some(l) = e.community_location {
            store::matches::set_position(
                txn,
                &e.community_code,
                l.longitude,
                l.latitude,
                e.community_location_synthetic,
            )
            .await?;
        }
    } else if let Some(e) = decode::<matching::MatchEnded>(event) {
        let e = e.map_err(bad_payload)?;
        store::matches::close_interval(txn, &e.match_id, at(e.end_time.as_ref(), event)).await?;
        store::matches::set_state(txn, &e.match_id, "ended").await?;
    } else if let Some(e) = decode::<matching::MatchSuspended>(event) {
        let e = e.map_err(bad_payload)?;
        store::matches::close_interval(txn, &e.match_id, at(None, event)).await?;
        store::matches::set_state(txn, &e.match_id, "suspended").await?;
    } else if let Some(e) = decode::<matching::MatchResumed>(event) {
        let e = e.map_err(bad_payload)?;
        store::matches::open_interval(txn, &e.match_id, at(None, event)).await?;
        store::matches::set_state(txn, &e.match_id, "active").await?;
    } else if let Some(e) = decode::<matching::CommunityUpdated>(event) {
        let e = e.map_err(bad_payload)?;
        if let Some(l) = e.location {
            store::matches::set_position(txn, &e.code, l.longitude, l.latitude, e.location_synthetic).await?;
        }
    }
    Ok(())
}
