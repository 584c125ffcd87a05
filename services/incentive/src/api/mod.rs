//! gRPC mapping of IncentiveService. A professional reads their own points,
//! stars and policies; admins and auditors those of professionals serving in
//! their region; leaderboards and star distributions are for admins and
//! auditors of the region; the year's roll-over and the city expert team are
//! the city admin's.

mod points;
mod standing;

use crate::domain::stars::StarRules;
use crate::store::ledger::{Entry, Kind};
use crate::store::professionals;
use chrono::Datelike;
use kit::auth::{Principal, Role};
use kit::events::EventLog;
use kit::{ServiceError, ServiceResult};
use sanshi_proto::incentive::v1 as pb;
use sanshi_proto::incentive::v1::incentive_service_server::IncentiveService;
use sea_orm::DatabaseConnection;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tonic::{Request, Response, Status};

/// The city the platform serves: the scope of the roll-over and the expert team.
pub const CITY: &str = "50";

/// Who may read a region's figures.
const REGION_READERS: [Role; 4] = [Role::CityAdmin, Role::DistrictAdmin, Role::StreetAdmin, Role::Auditor];

pub struct Incentive {
    pub db: DatabaseConnection,
    pub events: Arc<EventLog>,
    pub idempotency: kit::idempotency::Idempotency,
    pub star_rules: StarRules,
    /// Years being closed by this process (a second CloseYear only reports progress).
    pub closing: Mutex<HashSet<i32>>,
}

impl Incentive {
    pub fn new(db: DatabaseConnection, events: Arc<EventLog>, idempotency: kit::idempotency::Idempotency) -> Self {
        Incentive {
            db,
            events,
            idempotency,
            star_rules: StarRules::standard(),
            closing: Mutex::new(HashSet::new()),
        }
    }

    /// The account whose points and stars the caller may read ("me"/"" is the
    /// caller): their own, or a professional serving in the caller's region.
    async fn readable(&self, caller: &Principal, account_id: &str) -> ServiceResult<String> {
        let account = match account_id.trim() {
            "" | "me" => return Ok(caller.account_id.clone()),
            other => other.to_string(),
        };
        if account == caller.account_id || caller.acts_for(&REGION_READERS, CITY) {
            return Ok(account);
        }
        let serves_in_scope = professionals::find(&self.db, &account)
            .await?
            .is_some_and(|p| p.service_regions.iter().any(|r| caller.acts_for(&REGION_READERS, r)));
        if serves_in_scope {
            Ok(account)
        } else {
            Err(ServiceError::PermissionDenied(
                "只能查看本人或本辖区专业人员的积分".into(),
            ))
        }
    }
}

fn require_city_admin(caller: &Principal) -> ServiceResult<()> {
    if caller.acts_for(&[Role::CityAdmin], CITY) {
        Ok(())
    } else {
        Err(ServiceError::PermissionDenied("仅市级管理员可以操作".into()))
    }
}

fn year_or_current(field: &str, year: i32) -> ServiceResult<i32> {
    match year {
        0 => Ok(chrono::Utc::now().year()),
        y if (2000..=2100).contains(&y) => Ok(y),
        _ => Err(ServiceError::invalid(field, "年度无效")),
    }
}

fn kind_to_proto(k: Kind) -> i32 {
    (match k {
        Kind::Award => pb::EntryKind::Award,
        Kind::Adjustment => pb::EntryKind::Adjustment,
        Kind::Compensation => pb::EntryKind::Compensation,
    }) as i32
}

fn entry_to_proto(e: &Entry) -> pb::PointsEntry {
    pb::PointsEntry {
        id: e.id.clone(),
        professional_account_id: e.professional_id.clone(),
        source: e.source.clone(),
        kind: kind_to_proto(e.kind),
        tenths: e.amount,
        year: e.year,
        rule_version: e.rule_version.clone(),
        compensates_entry_id: e.compensates.clone(),
        reason: e.reason.clone(),
        create_time: Some(kit::grpc::timestamp(e.created_at)),
        region_code: e.region_code.clone(),
        actor_account_id: e.actor_id.clone(),
    }
}

/// "planner" ↔ `PROFESSION_PLANNER`.
fn profession_to_proto(s: &str) -> i32 {
    use sanshi_proto::qualification::v1::Profession;
    Profession::from_str_name(&format!("PROFESSION_{}", s.to_ascii_uppercase())).unwrap_or(Profession::Unspecified)
        as i32
}

fn profession_from_proto(value: i32) -> ServiceResult<Option<String>> {
    use sanshi_proto::qualification::v1::Profession;
    match Profession::try_from(value) {
        Ok(Profession::Unspecified) => Ok(None),
        Ok(p) => Ok(Some(
            p.as_str_name().trim_start_matches("PROFESSION_").to_ascii_lowercase(),
        )),
        Err(_) => Err(ServiceError::invalid("profession", "职业类别无效")),
    }
}

pub struct Service(pub Arc<Incentive>);

#[tonic::async_trait]
impl IncentiveService for Service {
    async fn get_balance(&self, request: Request<pb::GetBalanceRequest>) -> Result<Response<pb::Balance>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.balance(&caller, request.into_inner()).await?))
    }
    async fn list_entries(
        &self,
        request: Request<pb::ListEntriesRequest>,
    ) -> Result<Response<pb::ListEntriesResponse>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.entries(&caller, request.into_inner()).await?))
    }
    async fn explain_points(
        &self,
        request: Request<pb::ExplainPointsRequest>,
    ) -> Result<Response<pb::Explanation>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.explain(&caller, request.into_inner()).await?))
    }
    async fn adjust_points(
        &self,
        request: Request<pb::AdjustPointsRequest>,
    ) -> Result<Response<pb::PointsEntry>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.adjust(&caller, request.into_inner()).await?))
    }
    async fn reverse_entry(
        &self,
        request: Request<pb::ReverseEntryRequest>,
    ) -> Result<Response<pb::PointsEntry>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.reverse(&caller, request.into_inner()).await?))
    }
    async fn get_leaderboard(
        &self,
        request: Request<pb::GetLeaderboardRequest>,
    ) -> Result<Response<pb::Leaderboard>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.leaderboard(&caller, request.into_inner()).await?))
    }

    async fn close_year(&self, request: Request<pb::CloseYearRequest>) -> Result<Response<pb::YearClosing>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(
            Arc::clone(&self.0).close_year(&caller, request.into_inner()).await?,
        ))
    }

    async fn get_year_closing(
        &self,
        request: Request<pb::GetYearClosingRequest>,
    ) -> Result<Response<pb::YearClosing>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.year_closing(&caller, request.into_inner()).await?))
    }
    async fn get_star_rating(
        &self,
        request: Request<pb::GetStarRatingRequest>,
    ) -> Result<Response<pb::StarRating>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.star_rating(&caller, request.into_inner()).await?))
    }
    async fn get_star_distribution(
        &self,
        request: Request<pb::GetStarDistributionRequest>,
    ) -> Result<Response<pb::StarDistribution>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(
            self.0.star_distribution(&caller, request.into_inner()).await?,
        ))
    }
    async fn list_policies(
        &self,
        request: Request<pb::ListPoliciesRequest>,
    ) -> Result<Response<pb::ListPoliciesResponse>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.policies(&caller, request.into_inner()).await?))
    }
    async fn propose_expert_team(
        &self,
        request: Request<pb::ProposeExpertTeamRequest>,
    ) -> Result<Response<pb::ExpertTeamProposal>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.propose_team(&caller, request.into_inner()).await?))
    }
    async fn get_expert_team_proposal(
        &self,
        request: Request<pb::GetExpertTeamProposalRequest>,
    ) -> Result<Response<pb::ExpertTeamProposal>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(
            self.0.team_proposal(&caller, request.into_inner()).await?,
        ))
    }
    async fn confirm_expert_team(
        &self,
        request: Request<pb::ConfirmExpertTeamRequest>,
    ) -> Result<Response<pb::ExpertTeamProposal>, Status> {
        let caller = kit::auth::caller(&request)?;
        Ok(Response::new(self.0.confirm_team(&caller, request.into_inner()).await?))
    }
}
