//! gRPC mapping of matching's services: who may do what, validation, and
//! conversion to and from the contracts.

pub mod assignments;
pub mod communities;
pub mod federation;
pub mod matches;
pub mod needs;
pub mod professionals;
pub mod teams;

use crate::domain::lifecycle::{MatchState, Side};
use crate::store::{self, communities::Community, matches::ResponseStats, professionals::Professional};
use kit::auth::{Principal, Role};
use kit::events::EventLog;
use kit::region::RegionCode;
use kit::{ServiceError, ServiceResult};
use sanshi_proto::matching::v1 as pb;
use sanshi_proto::qualification::v1::Profession;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

pub use kit::grpc::timestamp;

pub const PRODUCER: &str = "matching";

/// The programme's rules, from configuration.
#[derive(Debug, Clone)]
pub struct Rules {
    pub offer_ttl: chrono::Duration,
    pub default_capacity: i32,
    pub max_capacity: i32,
    pub default_max_distance_km: f64,
    pub max_distance_limit_km: f64,
}

pub struct Matching {
    pub db: DatabaseConnection,
    pub events: Arc<EventLog>,
    pub idempotency: kit::idempotency::Idempotency,
    pub rules: Rules,
    /// The only client that may call FederationSupportService (it names the peer).
    pub federation_client: String,
}

/// Roles that act for a community: its workers and the admins above it.
pub const COMMUNITY_SIDE: [Role; 4] = Role::COMMUNITY_SIDE;

/// Roles that see a region's communities, matches and teams. Not needs:
/// they carry residents' own words and have their own role lists and
/// field matrix (`needs.rs`, `domain::visibility`).
pub const REGION_VIEWERS: [Role; 7] = [
    Role::CommunityWorker,
    Role::StreetAdmin,
    Role::DistrictAdmin,
    Role::CityAdmin,
    Role::Reviewer,
    Role::Auditor,
    Role::Resident,
];

pub use kit::region::{filter_field as region_filter, parse_field as region};

pub fn community_code(field: &str, code: &str) -> ServiceResult<RegionCode> {
    let code = region(field, code)?;
    if code.as_str().len() != 12 {
        return Err(ServiceError::invalid(field, "社区代码应为 12 位数字"));
    }
    Ok(code)
}

/// Whether the caller acts for community `code`.
pub fn community_side(caller: &Principal, code: &str) -> bool {
    caller.acts_for(&COMMUNITY_SIDE, code)
}

/// Code prefixes of the regions the caller sees in its non-professional roles.
pub fn viewer_prefixes(caller: &Principal) -> Vec<String> {
    caller.prefixes(&REGION_VIEWERS)
}

impl Matching {
    /// The caller's professional record, if they are a qualified (or formerly qualified) professional.
    pub async fn professional_of(&self, caller: &Principal) -> ServiceResult<Option<Professional>> {
        store::professionals::find(&self.db, &caller.account_id).await
    }

    /// The caller as an active professional, or FAILED_PRECONDITION.
    pub async fn active_professional(&self, caller: &Principal) -> ServiceResult<Professional> {
        match self.professional_of(caller).await? {
            Some(p) if p.status == store::professionals::Status::Active => Ok(p),
            Some(_) => Err(ServiceError::FailedPrecondition(
                "您的专业人员资格当前不在有效状态".into(),
            )),
            None => Err(ServiceError::PermissionDenied("仅限已通过资格审核的专业人员".into())),
        }
    }

    pub async fn community(&self, code: &str) -> ServiceResult<Community> {
        store::communities::find(&self.db, code)
            .await?
            .ok_or_else(|| ServiceError::not_found("社区", code))
    }

    /// Whether the caller sees community `code`: its region's viewers, and
    /// active professionals serving it.
    pub async fn sees_community(&self, caller: &Principal, code: &str) -> ServiceResult<bool> {
        let Ok(region) = RegionCode::parse(code) else {
            return Ok(false);
        };
        if caller.covers(&REGION_VIEWERS, &region) {
            return Ok(true);
        }
        Ok(self
            .professional_of(caller)
            .await?
            .is_some_and(|p| p.status == store::professionals::Status::Active && p.serves(code)))
    }
}

pub fn profession_to_proto(s: &str) -> i32 {
    Profession::from_str_name(&format!("PROFESSION_{}", s.to_ascii_uppercase())).unwrap_or(Profession::Unspecified)
        as i32
}

pub fn profession_from_proto(value: i32) -> String {
    match Profession::try_from(value) {
        Ok(Profession::Unspecified) | Err(_) => String::new(),
        Ok(p) => p.as_str_name().trim_start_matches("PROFESSION_").to_ascii_lowercase(),
    }
}

pub fn location(lon: f64, lat: f64) -> pb::Location {
    pb::Location {
        longitude: lon,
        latitude: lat,
    }
}

pub fn stats_to_proto(s: ResponseStats) -> pb::ResponseStats {
    pb::ResponseStats {
        answered: s.answered,
        expired_unanswered: s.expired_unanswered,
        mean_response_hours: s.mean_hours,
    }
}

pub fn match_state_to_proto(s: MatchState) -> i32 {
    use pb::MatchState as P;
    (match s {
        MatchState::Pending => P::Pending,
        MatchState::Active => P::Active,
        MatchState::Declined => P::Declined,
        MatchState::Expired => P::Expired,
        MatchState::Withdrawn => P::Withdrawn,
        MatchState::Ended => P::Ended,
        MatchState::Suspended => P::Suspended,
    }) as i32
}

pub fn match_state_from_proto(v: i32) -> Option<MatchState> {
    use pb::MatchState as P;
    Some(match P::try_from(v).ok()? {
        P::Unspecified => return None,
        P::Pending => MatchState::Pending,
        P::Active => MatchState::Active,
        P::Declined => MatchState::Declined,
        P::Expired => MatchState::Expired,
        P::Withdrawn => MatchState::Withdrawn,
        P::Ended => MatchState::Ended,
        P::Suspended => MatchState::Suspended,
    })
}

pub fn side_to_proto(s: Option<Side>) -> i32 {
    (match s {
        None => pb::MatchSide::Unspecified,
        Some(Side::Community) => pb::MatchSide::Community,
        Some(Side::Professional) => pb::MatchSide::Professional,
    }) as i32
}

pub use kit::auth::caller;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn professions_round_trip() {
        for p in [Profession::Planner, Profession::Architect, Profession::SocialWork] {
            let s = profession_from_proto(p as i32);
            assert_eq!(profession_to_proto(&s), p as i32);
        }
        assert_eq!(profession_from_proto(Profession::Planner as i32), "planner");
        assert_eq!(profession_from_proto(0), "");
        assert_eq!(profession_to_proto("nonsense"), 0);
    }
}
