//! Matching follows qualification: a qualified professional enters (or
//! re-enters) the read model; a suspended, revoked or expired one leaves the
//! active pool and their matches are suspended; reinstatement resumes them.
//! Each event is applied once, in the consumer's transaction.

use crate::api::PRODUCER;
use crate::domain::lifecycle::MatchState;
use crate::store::{self, matches::Match, professionals::Professional, professionals::Status};
use chrono::Utc;
use futures::future::BoxFuture;
use kit::events::{Event, EventHandler, decode};
use kit::{ServiceError, ServiceResult};
use sanshi_proto::incentive::v1 as incentive;
use sanshi_proto::matching::v1 as pb;
use sanshi_proto::qualification::v1 as qualification;
use sea_orm::DatabaseTransaction;

pub const QUALIFICATION_CONSUMER: &str = "matching.qualification";
pub const INCENTIVE_CONSUMER: &str = "matching.incentive";

pub struct QualificationEvents {
    pub default_capacity: i32,
}

impl EventHandler for QualificationEvents {
    fn apply<'a>(&'a self, txn: &'a DatabaseTransaction, event: &'a Event) -> BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(self.handle(txn, event))
    }
}

fn bad_payload(error: prost::DecodeError) -> ServiceError {
    ServiceError::internal(anyhow::anyhow!("undecodable qualification event: {error}"))
}

impl QualificationEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &Event) -> ServiceResult<()> {
        if let Some(e) = decode::<qualification::ProfessionalQualified>(event) {
            return self.qualified(txn, e.map_err(bad_payload)?).await;
        }
        if let Some(e) = decode::<qualification::ConsentChanged>(event) {
            let e = e.map_err(bad_payload)?;
            let federation = e.consent.is_some_and(|c| c.federation_directory);
            store::professionals::set_federation_consent(txn, &e.account_id, federation).await?;
            tracing::info!(account_id = %e.account_id, federation, "consent changed");
            return Ok(());
        }
        if let Some(e) = decode::<qualification::QualificationRenewed>(event) {
            let e = e.map_err(bad_payload)?;
            store::professionals::set_status(txn, &e.account_id, Status::Active, "", Some(&e.qualified_until)).await?;
            return Ok(());
        }
        let (account_id, status, reason) = if let Some(e) = decode::<qualification::QualificationSuspended>(event) {
            let e = e.map_err(bad_payload)?;
            (e.account_id, Status::Suspended, e.reason)
        } else if let Some(e) = decode::<qualification::QualificationRevoked>(event) {
            let e = e.map_err(bad_payload)?;
            (e.account_id, Status::Revoked, e.reason)
        } else if let Some(e) = decode::<qualification::QualificationExpired>(event) {
            (
                e.map_err(bad_payload)?.account_id,
                Status::Expired,
                "资格已到期".to_string(),
            )
        } else {
            return Ok(());
        };
        if !store::professionals::set_status(txn, &account_id, status, &reason, None).await? {
            tracing::warn!(account_id, "qualification event for an unknown professional");
            return Ok(());
        }
        self.suspend_matches(txn, &account_id, &reason).await
    }

    async fn qualified(&self, txn: &DatabaseTransaction, e: qualification::ProfessionalQualified) -> ServiceResult<()> {
        let was = store::professionals::find(txn, &e.account_id).await?;
        let profession = crate::api::profession_from_proto(e.profession);
        let p = Professional {
            account_id: e.account_id.clone(),
            application_id: e.application_id,
            real_name: e.real_name,
            profession,
            specialties: e.specialties,
            service_regions: e.service_region_codes,
            location: e.base_location.map(|l| (l.longitude, l.latitude)),
            employer_name: e.employer_name,
            status: Status::Active,
            status_reason: String::new(),
            qualified_until: e.qualified_until,
            capacity: self.default_capacity,
            available: true,
            star_rating: 0.0,
            federation_consent: e.consent.is_some_and(|c| c.federation_directory),
            updated_at: Utc::now(),
        };
        store::professionals::upsert_qualified(txn, &p).await?;
        tracing::info!(account_id = %p.account_id, regions = p.service_regions.len(), "professional qualified");
        if was.is_some_and(|w| w.status != Status::Active) {
            self.resume_matches(txn, &p).await?;
        }
        Ok(())
    }

    /// Active and pending matches of the professional are suspended.
    async fn suspend_matches(&self, txn: &DatabaseTransaction, account_id: &str, reason: &str) -> ServiceResult<()> {
        let open = store::matches::of_professional(txn, account_id, &[MatchState::Active, MatchState::Pending]).await?;
        for mut m in open {
            let before = m.state;
            m.state = MatchState::Suspended;
            store::matches::update(txn, &m, before).await?;
            let payload = pb::MatchSuspended {
                match_id: m.id.clone(),
                community_code: m.community_code.clone(),
                professional_account_id: m.professional_id.clone(),
                reason: reason.to_string(),
            };
            kit::events::publish(txn, PRODUCER, "match", &m.id, &payload).await?;
            tracing::info!(match_id = %m.id, "match suspended with the qualification");
        }
        Ok(())
    }

    /// Suspended matches come back: confirmed ones active (capacity
    /// permitting), unconfirmed ones pending until their expiry.
    async fn resume_matches(&self, txn: &DatabaseTransaction, p: &Professional) -> ServiceResult<()> {
        let suspended: Vec<Match> =
            store::matches::of_professional(txn, &p.account_id, &[MatchState::Suspended]).await?;
        let mut active = store::matches::of_professional(txn, &p.account_id, &[MatchState::Active])
            .await?
            .len() as i32;
        let now = Utc::now();
        for mut m in suspended {
            m.state = if m.confirmed_at.is_some() {
                if active >= p.capacity {
                    continue;
                }
                active += 1;
                MatchState::Active
            } else if m.expires_at > now {
                MatchState::Pending
            } else {
                MatchState::Expired
            };
            store::matches::update(txn, &m, MatchState::Suspended).await?;
            if m.state == MatchState::Active {
                let payload = pb::MatchResumed {
                    match_id: m.id.clone(),
                    community_code: m.community_code.clone(),
                    professional_account_id: m.professional_id.clone(),
                };
                kit::events::publish(txn, PRODUCER, "match", &m.id, &payload).await?;
            }
        }
        Ok(())
    }
}

/// Matching follows incentive: star ratings feed recommendations, and a
/// confirmed city expert team becomes one city expert team per specialty.
pub struct IncentiveEvents;

impl EventHandler for IncentiveEvents {
    fn apply<'a>(&'a self, txn: &'a DatabaseTransaction, event: &'a Event) -> BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(async move {
            let undecodable =
                |e: prost::DecodeError| ServiceError::internal(anyhow::anyhow!("undecodable incentive event: {e}"));
            if let Some(e) = decode::<incentive::StarRatingsChanged>(event) {
                let e = e.map_err(undecodable)?;
                let ratings: Vec<(&str, i32)> = e
                    .changes
                    .iter()
                    .map(|c| (c.professional_account_id.as_str(), c.stars))
                    .collect();
                let unknown = ratings.len() as u64 - store::professionals::set_star_ratings(txn, &ratings).await?;
                if unknown > 0 {
                    tracing::warn!(year = e.year, unknown, "star ratings of unknown professionals");
                }
            } else if let Some(e) = decode::<incentive::ExpertTeamProposed>(event) {
                expert_teams(txn, e.map_err(undecodable)?).await?;
            }
            Ok(())
        })
    }
}

/// 重庆市城市更新专家团 of the year, one team per specialty. The consumer
/// applies each event once, so a confirmation makes its teams once.
async fn expert_teams(txn: &DatabaseTransaction, e: incentive::ExpertTeamProposed) -> ServiceResult<()> {
    use crate::domain::team::{MemberRole, TeamKind};
    use store::teams::{Member, Team};
    let now = Utc::now();
    let mut specialties: Vec<&str> = e.members.iter().map(|m| m.specialty.as_str()).collect();
    specialties.dedup();
    for specialty in specialties {
        let team = Team {
            id: uuid::Uuid::now_v7().to_string(),
            kind: TeamKind::CityExpert,
            name: format!("重庆市城市更新专家团（{} 年度·{specialty}）", e.year),
            region_code: "50".into(),
            region_name: "重庆市".into(),
            parent_id: String::new(),
            created_by: "incentive".into(),
            created_at: now,
            members: Vec::new(),
        };
        store::teams::insert(txn, &team).await?;
        for m in e.members.iter().filter(|m| m.specialty == specialty) {
            let member = Member {
                account_id: m.account_id.clone(),
                display_name: m.real_name.clone(),
                role: MemberRole::Member,
                resident: false,
                joined_at: now,
            };
            store::teams::add_member(txn, &team.id, &member).await?;
        }
        tracing::info!(team_id = %team.id, specialty, "city expert team formed");
    }
    Ok(())
}
