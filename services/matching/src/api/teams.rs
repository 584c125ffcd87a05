//! TeamService: responsible-planner teams, Chengdu's three tiers and city
//! expert teams, created and staffed by the admins of their region.

use super::{Matching, caller, region, timestamp, viewer_prefixes};
use crate::domain::team::{self, MemberRole, TeamError, TeamKind};
use crate::store::{self, page, professionals::Status, teams::Member, teams::Team};
use chrono::Utc;
use kit::auth::{Principal, Role};
use kit::region::{RegionCode, RegionLevel};
use kit::{ServiceError, ServiceResult};
use sanshi_proto::matching::v1 as pb;
use sanshi_proto::matching::v1::team_service_server::TeamService;
use std::sync::Arc;
use tonic::{Request, Response, Status as GrpcStatus};

fn kind_to_proto(k: TeamKind) -> i32 {
    use pb::TeamKind as P;
    (match k {
        TeamKind::ResponsiblePlanner => P::ResponsiblePlanner,
        TeamKind::Mentor => P::Mentor,
        TeamKind::Planner => P::Planner,
        TeamKind::Crowd => P::Crowd,
        TeamKind::CityExpert => P::CityExpert,
    }) as i32
}

fn kind_from_proto(v: i32) -> Option<TeamKind> {
    TeamKind::ALL.into_iter().find(|k| kind_to_proto(*k) == v)
}

fn role_to_proto(r: MemberRole) -> i32 {
    use pb::MemberRole as P;
    (match r {
        MemberRole::Lead => P::Lead,
        MemberRole::Member => P::Member,
        MemberRole::Mentor => P::Mentor,
    }) as i32
}

fn role_from_proto(v: i32) -> Option<MemberRole> {
    [MemberRole::Lead, MemberRole::Member, MemberRole::Mentor]
        .into_iter()
        .find(|r| role_to_proto(*r) == v)
}

impl From<TeamError> for ServiceError {
    fn from(e: TeamError) -> Self {
        ServiceError::FailedPrecondition(e.to_string())
    }
}

fn team_to_proto(t: &Team) -> pb::Team {
    pb::Team {
        id: t.id.clone(),
        kind: kind_to_proto(t.kind),
        name: t.name.clone(),
        region_code: t.region_code.clone(),
        region_name: t.region_name.clone(),
        parent_team_id: t.parent_id.clone(),
        members: t
            .members
            .iter()
            .map(|m| pb::TeamMember {
                account_id: m.account_id.clone(),
                display_name: m.display_name.clone(),
                role: role_to_proto(m.role),
                resident: m.resident,
                join_time: Some(timestamp(m.joined_at)),
            })
            .collect(),
        create_time: Some(timestamp(t.created_at)),
    }
}

/// Who manages a team in `region`: its admins, and for community-level teams its workers.
fn may_manage(caller: &Principal, region: &RegionCode) -> bool {
    let mut roles = vec![Role::CityAdmin, Role::DistrictAdmin, Role::StreetAdmin];
    if region.level() == RegionLevel::Community {
        roles.push(Role::CommunityWorker);
    }
    caller.covers(&roles, region)
}

impl Matching {
    /// A region's name from the community data (empty above district level).
    async fn region_name(&self, code: &RegionCode) -> ServiceResult<String> {
        let filter = store::communities::Filter {
            prefixes: vec![code.as_str().to_string()],
            ..Default::default()
        };
        let Some(c) = store::communities::list(&self.db, &filter, 0, 1)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(String::new());
        };
        Ok(match code.level() {
            RegionLevel::Community => c.name,
            RegionLevel::Street => c.street_name,
            RegionLevel::District => c.district_name,
            _ => String::new(),
        })
    }

    async fn load_team(&self, id: &str) -> ServiceResult<Team> {
        store::teams::find(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("团队", id))
    }

    async fn create_team(&self, caller: &Principal, req: pb::CreateTeamRequest) -> ServiceResult<pb::Team> {
        let kind = kind_from_proto(req.kind).ok_or_else(|| ServiceError::invalid("kind", "请选择团队类型"))?;
        let code = region("region_code", &req.region_code)?;
        let name = req.name.trim().to_string();
        if !(2..=64).contains(&name.chars().count()) {
            return Err(ServiceError::invalid("name", "团队名称应为 2 到 64 个字"));
        }
        if !may_manage(caller, &code) {
            return Err(ServiceError::PermissionDenied("只能在本人管辖区域内组建团队".into()));
        }
        let parent = if req.parent_team_id.trim().is_empty() {
            None
        } else {
            Some(self.load_team(req.parent_team_id.trim()).await?)
        };
        let parent_region = parent
            .as_ref()
            .map(|p| region("parent_team_id", &p.region_code))
            .transpose()?;
        team::check_new_team(kind, &code, parent.as_ref().map(|p| p.kind).zip(parent_region.as_ref()))?;
        let region_name = self.region_name(&code).await?;
        if region_name.is_empty() && matches!(code.level(), RegionLevel::Street | RegionLevel::Community) {
            return Err(ServiceError::invalid("region_code", "该区划不存在"));
        }
        let scope = format!("CreateTeam:{}", caller.account_id);
        self.idempotency
            .once(&self.db, scope, &req.request_id, || async {
                let t = Team {
                    id: uuid::Uuid::now_v7().to_string(),
                    kind,
                    name,
                    region_code: code.as_str().to_string(),
                    region_name,
                    parent_id: parent.map(|p| p.id).unwrap_or_default(),
                    created_by: caller.account_id.clone(),
                    created_at: Utc::now(),
                    members: Vec::new(),
                };
                let txn = kit::db::begin(&self.db).await?;
                if !store::teams::insert(&txn, &t).await? {
                    return Err(ServiceError::AlreadyExists("每个街道只能有一个责任规划师团队".into()));
                }
                tracing::info!(team_id = %t.id, kind = kind.as_str(), region = %t.region_code, "team created");
                Ok((team_to_proto(&t), txn))
            })
            .await
    }

    async fn sees_team(&self, caller: &Principal, t: &Team) -> ServiceResult<bool> {
        if viewer_prefixes(caller)
            .iter()
            .any(|p| t.region_code.starts_with(p.as_str()))
            || t.members.iter().any(|m| m.account_id == caller.account_id)
        {
            return Ok(true);
        }
        Ok(self.professional_of(caller).await?.is_some_and(|p| {
            p.service_regions
                .iter()
                .any(|r| t.region_code.starts_with(r.as_str()) || r.starts_with(t.region_code.as_str()))
        }))
    }

    async fn add_member(&self, caller: &Principal, req: pb::AddTeamMemberRequest) -> ServiceResult<pb::Team> {
        let t = self.load_team(&req.team_id).await?;
        let code = region("team_id", &t.region_code)?;
        if !may_manage(caller, &code) {
            return Err(ServiceError::PermissionDenied("只能管理本人管辖区域内的团队".into()));
        }
        let role = role_from_proto(req.role).ok_or_else(|| ServiceError::invalid("role", "请选择成员角色"))?;
        let account_id = req.account_id.trim().to_string();
        if account_id.is_empty() {
            return Err(ServiceError::invalid("account_id", "请指定成员账号"));
        }
        let leads = t.members.iter().filter(|m| m.role == MemberRole::Lead).count();
        team::check_member(t.kind, role, leads)?;
        let display_name = if t.kind.members_are_residents() {
            let name = req.display_name.trim().to_string();
            if !(1..=32).contains(&name.chars().count()) {
                return Err(ServiceError::invalid(
                    "display_name",
                    "请填写居民成员的称呼（不超过 32 个字）",
                ));
            }
            name
        } else {
            let p = self
                .professional(&account_id)
                .await
                .map_err(|_| ServiceError::invalid("account_id", "该账号不是已通过资格审核的专业人员"))?;
            if p.status != Status::Active {
                return Err(ServiceError::FailedPrecondition(
                    "该专业人员资格当前不在有效状态".into(),
                ));
            }
            let serves_here = t.kind == TeamKind::CityExpert
                || p.service_regions
                    .iter()
                    .any(|r| t.region_code.starts_with(r.as_str()) || r.starts_with(t.region_code.as_str()));
            if !serves_here {
                return Err(ServiceError::FailedPrecondition(
                    "该专业人员的服务区域不含本团队所在区域".into(),
                ));
            }
            p.real_name
        };
        let member = Member {
            account_id,
            display_name,
            role,
            resident: t.kind.members_are_residents(),
            joined_at: Utc::now(),
        };
        let txn = kit::db::begin(&self.db).await?;
        if !store::teams::add_member(&txn, &t.id, &member).await? {
            return Err(ServiceError::AlreadyExists("该成员已在团队中".into()));
        }
        // The lead check again inside the transaction: two leads added at once.
        let current = store::teams::find(&txn, &t.id)
            .await?
            .map(|t| t.members)
            .unwrap_or_default();
        if current.iter().filter(|m| m.role == MemberRole::Lead).count() > 1 {
            return Err(TeamError::LeadTaken.into());
        }
        txn.commit().await?;
        Ok(team_to_proto(&self.load_team(&t.id).await?))
    }

    async fn remove_member(&self, caller: &Principal, req: pb::RemoveTeamMemberRequest) -> ServiceResult<pb::Team> {
        let t = self.load_team(&req.team_id).await?;
        if !may_manage(caller, &region("team_id", &t.region_code)?) {
            return Err(ServiceError::PermissionDenied("只能管理本人管辖区域内的团队".into()));
        }
        if !store::teams::remove_member(&self.db, &t.id, req.account_id.trim()).await? {
            return Err(ServiceError::not_found("团队成员", req.account_id.trim()));
        }
        Ok(team_to_proto(&self.load_team(&t.id).await?))
    }

    async fn list_teams(&self, caller: &Principal, req: pb::ListTeamsRequest) -> ServiceResult<pb::ListTeamsResponse> {
        let size = page::size(req.page_size)?;
        let offset = page::offset(&req.page_token)?;
        let kind = match req.kind {
            0 => None,
            v => Some(kind_from_proto(v).ok_or_else(|| ServiceError::invalid("kind", "未知的团队类型"))?),
        };
        let prefixes = self.visible_prefixes(caller).await?;
        let fetched = store::teams::list(
            &self.db,
            &prefixes,
            &super::region_filter("region_code", &req.region_code)?,
            kind,
            offset,
            size,
        )
        .await?;
        let next = page::next(offset, size, fetched.len());
        Ok(pb::ListTeamsResponse {
            teams: fetched.iter().take(size as usize).map(team_to_proto).collect(),
            next_page_token: next,
        })
    }
}

pub struct Teams(pub Arc<Matching>);

#[tonic::async_trait]
impl TeamService for Teams {
    async fn create_team(&self, request: Request<pb::CreateTeamRequest>) -> Result<Response<pb::Team>, GrpcStatus> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.create_team(&caller, request.into_inner()).await?))
    }

    async fn get_team(&self, request: Request<pb::GetTeamRequest>) -> Result<Response<pb::Team>, GrpcStatus> {
        let caller = caller(&request)?;
        let t = self.0.load_team(&request.into_inner().id).await?;
        if !self.0.sees_team(&caller, &t).await? {
            return Err(ServiceError::permission_denied().into());
        }
        Ok(Response::new(team_to_proto(&t)))
    }

    async fn list_teams(
        &self,
        request: Request<pb::ListTeamsRequest>,
    ) -> Result<Response<pb::ListTeamsResponse>, GrpcStatus> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.list_teams(&caller, request.into_inner()).await?))
    }

    async fn add_team_member(
        &self,
        request: Request<pb::AddTeamMemberRequest>,
    ) -> Result<Response<pb::Team>, GrpcStatus> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.add_member(&caller, request.into_inner()).await?))
    }

    async fn remove_team_member(
        &self,
        request: Request<pb::RemoveTeamMemberRequest>,
    ) -> Result<Response<pb::Team>, GrpcStatus> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0.remove_member(&caller, request.into_inner()).await?,
        ))
    }
}
