//! MatchService: invitations, applications, both-sides confirmation, ending,
//! and recommendations with their factors.

use super::{
    Matching, caller, community_side, location, match_state_from_proto, match_state_to_proto, profession_to_proto,
    side_to_proto, timestamp, viewer_prefixes,
};
use crate::domain::geo::haversine_km;
use crate::domain::lifecycle::{
    self, Change, LifecycleError, MatchFacts, MatchState, Settled, Side, has_room, response_hours,
};
use crate::domain::{need, score};
use crate::store::{self, communities::Community, matches::Match, page, professionals::Professional};
use chrono::Utc;
use kit::auth::Principal;
use kit::{ServiceError, ServiceResult};
use sanshi_proto::matching::v1 as pb;
use sanshi_proto::matching::v1::match_service_server::MatchService;
use std::collections::HashMap;
use std::sync::Arc;
use tonic::{Request, Response, Status};

const MAX_MESSAGE_CHARS: usize = 500;
const DEFAULT_RECOMMENDATIONS: usize = 10;
const MAX_RECOMMENDATIONS: usize = 100;

impl From<LifecycleError> for ServiceError {
    fn from(e: LifecycleError) -> Self {
        ServiceError::FailedPrecondition(e.to_string())
    }
}

fn message(field: &str, text: &str) -> ServiceResult<String> {
    let text = text.trim();
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ServiceError::invalid(
            field,
            format!("留言不超过 {MAX_MESSAGE_CHARS} 个字"),
        ));
    }
    Ok(text.to_string())
}

/// A match with its community's and professional's names (when known).
fn match_proto(m: &Match, community: Option<&Community>, professional: Option<&Professional>) -> pb::Match {
    pb::Match {
        id: m.id.clone(),
        community_code: m.community_code.clone(),
        community_name: community.map(|c| c.name.clone()).unwrap_or_default(),
        professional_account_id: m.professional_id.clone(),
        professional_name: professional.map(|p| p.real_name.clone()).unwrap_or_default(),
        profession: professional.map(|p| profession_to_proto(&p.profession)).unwrap_or(0),
        state: match_state_to_proto(m.state),
        initiated_by: side_to_proto(Some(m.initiated_by)),
        message: m.message.clone(),
        distance_km: m.distance_km,
        create_time: Some(timestamp(m.created_at)),
        expire_time: Some(timestamp(m.expires_at)),
        respond_time: m.responded_at.map(timestamp),
        confirm_time: m.confirmed_at.map(timestamp),
        end_time: m.ended_at.map(timestamp),
        end_reason: m.end_reason.clone(),
        ended_by: side_to_proto(m.ended_by),
        assignment_id: m.assignment_id.clone(),
    }
}

/// What match `m` records of how it got to its state (`lifecycle::repeats`).
fn settled(m: &Match) -> Settled<'_> {
    Settled {
        state: m.state,
        initiated_by: m.initiated_by,
        responded_at: m.responded_at,
        confirmed_at: m.confirmed_at,
        ended_at: m.ended_at,
        ended_by: m.ended_by,
        end_reason: &m.end_reason,
    }
}

/// Who proposes a match, and how.
pub struct Proposal<'a> {
    pub side: Side,
    pub by: &'a str,
    pub message: String,
    /// The batch assignment it comes from, or "".
    pub assignment_id: &'a str,
}

/// Distance from a professional's base to a community; none without a base.
pub fn distance(p: &Professional, c: &Community) -> Option<f64> {
    p.location.map(|(lon, lat)| haversine_km(lon, lat, c.lon, c.lat))
}

impl Matching {
    pub async fn match_to_proto(&self, m: &Match) -> ServiceResult<pb::Match> {
        let community = store::communities::find(&self.db, &m.community_code).await?;
        let professional = store::professionals::find(&self.db, &m.professional_id).await?;
        Ok(match_proto(m, community.as_ref(), professional.as_ref()))
    }

    /// The sides the caller acts for in match `m`.
    fn sides(caller: &Principal, m: &Match) -> Vec<Side> {
        let mut sides = Vec::new();
        if caller.account_id == m.professional_id {
            sides.push(Side::Professional);
        }
        if community_side(caller, &m.community_code) {
            sides.push(Side::Community);
        }
        sides
    }

    async fn load_match(&self, id: &str) -> ServiceResult<Match> {
        store::matches::find(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("匹配", id))
    }

    /// Creates a pending match proposed by `side`. The caller has checked
    /// who may propose; this checks the pair.
    pub async fn propose(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        community: &Community,
        professional: &Professional,
        proposal: Proposal<'_>,
    ) -> ServiceResult<Match> {
        let Proposal {
            side,
            by,
            message,
            assignment_id,
        } = proposal;
        if professional.status != store::professionals::Status::Active {
            return Err(ServiceError::FailedPrecondition(
                "该专业人员资格当前不在有效状态".into(),
            ));
        }
        if !professional.serves(&community.code) {
            return Err(ServiceError::FailedPrecondition(
                "该社区不在该专业人员的服务区域内".into(),
            ));
        }
        if !professional.available {
            return Err(ServiceError::FailedPrecondition("该专业人员当前暂停接受匹配".into()));
        }
        if let Some(open) = store::matches::open_for_pair(txn, &community.code, &professional.account_id).await? {
            return Err(ServiceError::AlreadyExists(format!(
                "双方已有进行中的匹配（编号 {}）",
                open.id
            )));
        }
        let now = Utc::now();
        let m = Match {
            id: uuid::Uuid::now_v7().to_string(),
            community_code: community.code.clone(),
            professional_id: professional.account_id.clone(),
            initiated_by: side,
            state: MatchState::Pending,
            message,
            created_by: by.to_string(),
            distance_km: distance(professional, community).unwrap_or(0.0),
            created_at: now,
            expires_at: now + self.rules.offer_ttl,
            responded_at: None,
            response_secs: None,
            confirmed_at: None,
            ended_at: None,
            end_reason: String::new(),
            ended_by: None,
            assignment_id: assignment_id.to_string(),
        };
        store::matches::insert(txn, &m).await?;
        let payload = pb::MatchProposed {
            match_id: m.id.clone(),
            community_code: community.code.clone(),
            community_name: community.name.clone(),
            professional_account_id: professional.account_id.clone(),
            initiated_by: side.as_str().to_string(),
            message: m.message.clone(),
            expire_time: Some(kit::grpc::timestamp(m.expires_at)),
        };
        kit::events::publish(txn, super::PRODUCER, "match", &m.id, &payload).await?;
        Ok(m)
    }

    async fn invite(&self, caller: &Principal, req: pb::InviteProfessionalRequest) -> ServiceResult<pb::Match> {
        let code = super::community_code("community_code", &req.community_code)?;
        let text = message("message", &req.message)?;
        if !community_side(caller, code.as_str()) {
            return Err(ServiceError::PermissionDenied(
                "仅限本社区工作人员或上级管理员发出邀请".into(),
            ));
        }
        let community = self.community(code.as_str()).await?;
        let professional = self.professional(&req.professional_account_id).await?;
        let scope = format!("InviteProfessional:{}", caller.account_id);
        let response = self
            .idempotency
            .once(&self.db, scope, &req.request_id, || async {
                let txn = kit::db::begin(&self.db).await?;
                let m = self
                    .propose(
                        &txn,
                        &community,
                        &professional,
                        Proposal {
                            side: Side::Community,
                            by: &caller.account_id,
                            message: text,
                            assignment_id: "",
                        },
                    )
                    .await?;
                Ok((self.match_to_proto(&m).await?, txn))
            })
            .await?;
        tracing::info!(match_id = %response.id, community = %community.code, "invitation sent");
        Ok(response)
    }

    async fn apply(&self, caller: &Principal, req: pb::ApplyToCommunityRequest) -> ServiceResult<pb::Match> {
        let code = super::community_code("community_code", &req.community_code)?;
        let text = message("message", &req.message)?;
        let professional = self.active_professional(caller).await?;
        let community = self.community(code.as_str()).await?;
        let active = store::matches::active_counts(
            &self.db,
            "professional_id",
            std::slice::from_ref(&professional.account_id),
        )
        .await?
        .get(&professional.account_id)
        .copied()
        .unwrap_or(0);
        if !has_room(active, professional.capacity) {
            return Err(LifecycleError::AtCapacity(professional.capacity).into());
        }
        let scope = format!("ApplyToCommunity:{}", caller.account_id);
        let response = self
            .idempotency
            .once(&self.db, scope, &req.request_id, || async {
                let txn = kit::db::begin(&self.db).await?;
                let m = self
                    .propose(
                        &txn,
                        &community,
                        &professional,
                        Proposal {
                            side: Side::Professional,
                            by: &caller.account_id,
                            message: text,
                            assignment_id: "",
                        },
                    )
                    .await?;
                Ok((self.match_to_proto(&m).await?, txn))
            })
            .await?;
        tracing::info!(match_id = %response.id, community = %community.code, "application sent");
        Ok(response)
    }

    async fn respond(&self, caller: &Principal, req: pb::RespondToMatchRequest) -> ServiceResult<pb::Match> {
        let mut m = self.load_match(&req.id).await?;
        let sides = Self::sides(caller, &m);
        if sides.is_empty() {
            return Err(ServiceError::permission_denied());
        }
        let by = m.initiated_by.other();
        if !sides.contains(&by) {
            return Err(LifecycleError::NotTheOtherSide.into());
        }
        // A retried answer: the match as it is, before any check it would now fail.
        let change = Change::Respond { by, accept: req.accept };
        if lifecycle::repeats(&settled(&m), change, Utc::now()) {
            return self.match_to_proto(&m).await;
        }
        let txn = kit::db::begin(&self.db).await?;
        // Serialises acceptances for this professional, so two cannot both take the last place.
        store::touch(&txn, "professionals", "account_id", &m.professional_id).await?;
        let professional = store::professionals::find(&txn, &m.professional_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("专业人员", m.professional_id.clone()))?;
        if req.accept && professional.status != store::professionals::Status::Active {
            return Err(ServiceError::FailedPrecondition(
                "该专业人员资格当前不在有效状态".into(),
            ));
        }
        let active = store::matches::active_counts(&txn, "professional_id", std::slice::from_ref(&m.professional_id))
            .await?
            .get(&m.professional_id)
            .copied()
            .unwrap_or(0);
        let now = Utc::now();
        let facts = MatchFacts {
            state: m.state,
            initiated_by: m.initiated_by,
            expires_at: m.expires_at,
        };
        let next = facts.respond(by, req.accept, now, active, professional.capacity)?;
        m.state = next;
        m.responded_at = Some(now);
        m.response_secs = Some((response_hours(m.created_at, now) * 3600.0).round() as i64);
        if next == MatchState::Active {
            m.confirmed_at = Some(now);
        }
        if !store::matches::update(&txn, &m, MatchState::Pending).await? {
            return Err(ServiceError::FailedPrecondition("该匹配已被处理，请刷新".into()));
        }
        if next == MatchState::Active {
            let community = self.community(&m.community_code).await?;
            let payload = pb::MatchConfirmed {
                match_id: m.id.clone(),
                community_code: m.community_code.clone(),
                professional_account_id: m.professional_id.clone(),
                profession: profession_to_proto(&professional.profession),
                community_location: Some(location(community.lon, community.lat)),
                professional_location: professional.location.map(|(lon, lat)| location(lon, lat)),
                distance_km: m.distance_km,
                confirm_time: Some(timestamp(now)),
                community_location_synthetic: community.location_synthetic,
            };
            kit::events::publish(&txn, super::PRODUCER, "match", &m.id, &payload).await?;
        }
        txn.commit().await?;
        self.events.notify();
        tracing::info!(match_id = %m.id, state = m.state.as_str(), "match answered");
        self.match_to_proto(&m).await
    }

    async fn withdraw(&self, caller: &Principal, id: &str) -> ServiceResult<pb::Match> {
        let mut m = self.load_match(id).await?;
        let sides = Self::sides(caller, &m);
        if sides.is_empty() {
            return Err(ServiceError::permission_denied());
        }
        let facts = MatchFacts {
            state: m.state,
            initiated_by: m.initiated_by,
            expires_at: m.expires_at,
        };
        let by = if sides.contains(&m.initiated_by) {
            m.initiated_by
        } else {
            sides[0]
        };
        if lifecycle::repeats(&settled(&m), Change::Withdraw { by }, Utc::now()) {
            return self.match_to_proto(&m).await;
        }
        m.state = facts.withdraw(by, Utc::now())?;
        let txn = kit::db::begin(&self.db).await?;
        if !store::matches::update(&txn, &m, MatchState::Pending).await? {
            return Err(ServiceError::FailedPrecondition("该匹配已被处理，请刷新".into()));
        }
        txn.commit().await?;
        self.match_to_proto(&m).await
    }

    async fn end(&self, caller: &Principal, req: pb::EndMatchRequest) -> ServiceResult<pb::Match> {
        let mut m = self.load_match(&req.id).await?;
        let sides = Self::sides(caller, &m);
        let Some(by) = sides.first().copied() else {
            return Err(ServiceError::permission_denied());
        };
        let facts = MatchFacts {
            state: m.state,
            initiated_by: m.initiated_by,
            expires_at: m.expires_at,
        };
        let change = Change::End {
            by,
            reason: &req.reason,
        };
        if lifecycle::repeats(&settled(&m), change, Utc::now()) {
            return self.match_to_proto(&m).await;
        }
        let before = m.state;
        m.state = facts.end(&req.reason).map_err(|e| match e {
            LifecycleError::ReasonRequired | LifecycleError::ReasonTooLong => {
                ServiceError::invalid("reason", e.to_string())
            }
            other => other.into(),
        })?;
        let now = Utc::now();
        m.ended_at = Some(now);
        m.ended_by = Some(by);
        m.end_reason = req.reason.trim().to_string();
        let txn = kit::db::begin(&self.db).await?;
        if !store::matches::update(&txn, &m, before).await? {
            return Err(ServiceError::FailedPrecondition("该匹配已被处理，请刷新".into()));
        }
        let payload = pb::MatchEnded {
            match_id: m.id.clone(),
            community_code: m.community_code.clone(),
            professional_account_id: m.professional_id.clone(),
            reason: m.end_reason.clone(),
            ended_by: side_to_proto(Some(by)),
            end_time: Some(timestamp(now)),
        };
        kit::events::publish(&txn, super::PRODUCER, "match", &m.id, &payload).await?;
        txn.commit().await?;
        self.events.notify();
        tracing::info!(match_id = %m.id, ended_by = by.as_str(), "match ended");
        self.match_to_proto(&m).await
    }

    async fn get(&self, caller: &Principal, id: &str) -> ServiceResult<pb::Match> {
        let m = self.load_match(id).await?;
        let sees = caller.account_id == m.professional_id
            || viewer_prefixes(caller)
                .iter()
                .any(|p| m.community_code.starts_with(p.as_str()));
        if !sees {
            return Err(ServiceError::permission_denied());
        }
        self.match_to_proto(&m).await
    }

    async fn list(&self, caller: &Principal, req: pb::ListMatchesRequest) -> ServiceResult<pb::ListMatchesResponse> {
        let size = page::size(req.page_size)?;
        let offset = page::offset(&req.page_token)?;
        let state = match req.state {
            0 => None,
            v => Some(match_state_from_proto(v).ok_or_else(|| ServiceError::invalid("state", "未知的匹配状态"))?),
        };
        let filter = store::matches::Filter {
            community_prefixes: viewer_prefixes(caller),
            own_professional: Some(caller.account_id.clone()),
            region: super::region_filter("region_code", &req.region_code)?,
            professional: req.professional_account_id.trim().to_string(),
            state,
        };
        let fetched = store::matches::list(&self.db, &filter, offset, size).await?;
        let next = page::next(offset, size, fetched.len());
        // Each community and professional of the page is read once.
        let page: Vec<&Match> = fetched.iter().take(size as usize).collect();
        let mut communities: HashMap<String, Option<Community>> = HashMap::new();
        let mut professionals: HashMap<String, Option<Professional>> = HashMap::new();
        for m in &page {
            if !communities.contains_key(&m.community_code) {
                let c = store::communities::find(&self.db, &m.community_code).await?;
                communities.insert(m.community_code.clone(), c);
            }
            if !professionals.contains_key(&m.professional_id) {
                let p = store::professionals::find(&self.db, &m.professional_id).await?;
                professionals.insert(m.professional_id.clone(), p);
            }
        }
        let matches = page
            .iter()
            .map(|m| {
                match_proto(
                    m,
                    communities.get(&m.community_code).and_then(Option::as_ref),
                    professionals.get(&m.professional_id).and_then(Option::as_ref),
                )
            })
            .collect();
        Ok(pb::ListMatchesResponse {
            matches,
            next_page_token: next,
        })
    }

    /// The specialties a community calls for: its tags' and its open needs'.
    async fn wanted(&self, c: &Community) -> ServiceResult<Vec<&'static str>> {
        let mut wanted = c.profile.wanted_specialties();
        for code in store::needs::open_categories(&self.db, &c.code).await? {
            if let Some(category) = need::category(&code) {
                for s in category.specialties {
                    if !wanted.contains(s) {
                        wanted.push(s);
                    }
                }
            }
        }
        Ok(wanted)
    }

    async fn recommend_professionals(
        &self,
        caller: &Principal,
        req: pb::RecommendProfessionalsRequest,
    ) -> ServiceResult<pb::RecommendationsResponse> {
        let code = super::community_code("community_code", &req.community_code)?;
        let limit = limit(req.limit)?;
        let community = self.community(code.as_str()).await?;
        if !community_side(caller, code.as_str()) {
            return Err(ServiceError::permission_denied());
        }
        let wanted = self.wanted(&community).await?;
        let candidates = store::professionals::all(
            &self.db,
            &store::professionals::Filter {
                scopes: vec![community.code.clone()],
                region: String::new(),
                profession: String::new(),
                active_only: true,
                available_only: true,
            },
        )
        .await?;
        let ids: Vec<String> = candidates.iter().map(|p| p.account_id.clone()).collect();
        let figures = self.professional_figures(&ids).await?;
        let open: Vec<String> = store::matches::open_pairs_in(&self.db, &community.code)
            .await?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        let mut ranked = Vec::new();
        for p in candidates
            .iter()
            .filter(|p| p.serves(&community.code) && !open.contains(&p.account_id))
        {
            let active = figures.active.get(&p.account_id).copied().unwrap_or(0);
            if !has_room(active, p.capacity) {
                continue;
            }
            let stats = figures.responses.get(&p.account_id).copied().unwrap_or_default();
            let km = distance(p, &community).unwrap_or(score::DISTANCE_HORIZON_KM);
            let s = score::professional_score(
                &wanted,
                &score::ProfessionalCandidate {
                    distance_km: km,
                    specialties: &p.specialties,
                    star_rating: p.star_rating,
                    active_matches: active,
                    capacity: p.capacity,
                    answered: stats.answered,
                    mean_response_hours: stats.mean_hours,
                },
            );
            ranked.push(recommendation(p.account_id.clone(), p.real_name.clone(), km, s));
        }
        Ok(rank(ranked, limit))
    }

    async fn recommend_communities(
        &self,
        caller: &Principal,
        req: pb::RecommendCommunitiesRequest,
    ) -> ServiceResult<pb::RecommendationsResponse> {
        let limit = limit(req.limit)?;
        let id = match req.professional_account_id.trim() {
            "" | "me" => caller.account_id.clone(),
            other => other.to_string(),
        };
        let p = if id == caller.account_id {
            self.active_professional(caller).await?
        } else {
            let p = self.professional(&id).await?;
            let sides = caller.scopes(&super::COMMUNITY_SIDE);
            let overlaps = |r: &String| {
                sides.iter().any(|s| {
                    let s = s.prefix();
                    r.starts_with(s) || s.starts_with(r.as_str())
                })
            };
            if !p.service_regions.iter().any(overlaps) {
                return Err(ServiceError::permission_denied());
            }
            p
        };
        let communities = store::communities::all(
            &self.db,
            &store::communities::Filter {
                prefixes: p.service_regions.clone(),
                ..Default::default()
            },
        )
        .await?;
        let codes: Vec<String> = communities.iter().map(|c| c.code.clone()).collect();
        let figures = self.community_figures(&codes).await?;
        let open: Vec<String> = store::matches::of_professional(
            &self.db,
            &p.account_id,
            &[MatchState::Pending, MatchState::Active, MatchState::Suspended],
        )
        .await?
        .into_iter()
        .map(|m| m.community_code)
        .collect();
        let mut ranked = Vec::new();
        for c in communities.iter().filter(|c| !open.contains(&c.code)) {
            let wanted = c.profile.wanted_specialties();
            let stats = figures.responses.get(&c.code).copied().unwrap_or_default();
            let km = distance(&p, c).unwrap_or(score::DISTANCE_HORIZON_KM);
            let s = score::community_score(
                &p.specialties,
                &score::CommunityCandidate {
                    distance_km: km,
                    wanted: &wanted,
                    renovation: c.profile.renovation,
                    open_needs: figures.open_needs.get(&c.code).copied().unwrap_or(0),
                    active_matches: figures.active.get(&c.code).copied().unwrap_or(0),
                    demand: c.profile.demand,
                    answered: stats.answered,
                    mean_response_hours: stats.mean_hours,
                },
            );
            ranked.push(recommendation(c.code.clone(), c.name.clone(), km, s));
        }
        Ok(rank(ranked, limit))
    }
}

fn limit(requested: i32) -> ServiceResult<usize> {
    match requested {
        0 => Ok(DEFAULT_RECOMMENDATIONS),
        n if n < 0 => Err(ServiceError::invalid("limit", "条数不能为负数")),
        n => Ok((n as usize).min(MAX_RECOMMENDATIONS)),
    }
}

fn recommendation(id: String, name: String, km: f64, s: score::Score) -> pb::Recommendation {
    pb::Recommendation {
        id,
        name,
        score: s.total,
        distance_km: km,
        factors: s
            .factors
            .iter()
            .map(|f| pb::ScoreFactor {
                name: f.name.to_string(),
                value: f.value,
                weight: f.weight,
                contribution: f.contribution(),
                detail: f.detail.clone(),
            })
            .collect(),
    }
}

/// Best first; ties by distance, then id, so that the order is stable.
fn rank(mut all: Vec<pb::Recommendation>, limit: usize) -> pb::RecommendationsResponse {
    all.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.distance_km.total_cmp(&b.distance_km))
            .then_with(|| a.id.cmp(&b.id))
    });
    all.truncate(limit);
    pb::RecommendationsResponse { recommendations: all }
}

/// Who may read a region's programme figures.
const STATS_READERS: [kit::auth::Role; 6] = [
    kit::auth::Role::CommunityWorker,
    kit::auth::Role::StreetAdmin,
    kit::auth::Role::DistrictAdmin,
    kit::auth::Role::CityAdmin,
    kit::auth::Role::Reviewer,
    kit::auth::Role::Auditor,
];

impl Matching {
    async fn stats(&self, caller: &Principal, req: pb::GetMatchingStatsRequest) -> ServiceResult<pb::MatchingStats> {
        let region = caller.region_or_own(&STATS_READERS, "region_code", &req.region_code)?;
        let s = store::stats::region(&self.db, region.as_str(), Utc::now()).await?;
        Ok(pb::MatchingStats {
            region_code: region.to_string(),
            communities: s.communities as i32,
            communities_with_active_match: s.covered as i32,
            matches_by_state: s
                .matches
                .iter()
                .filter_map(|(state, n)| {
                    MatchState::parse(state).map(|st| pb::MatchStateCount {
                        state: super::match_state_to_proto(st),
                        count: *n as i32,
                    })
                })
                .collect(),
            needs_by_state: s
                .needs
                .iter()
                .filter_map(|(state, n)| {
                    need::NeedState::parse(state).map(|st| pb::NeedStateCount {
                        state: super::needs::state_to_proto(st),
                        count: *n as i32,
                    })
                })
                .collect(),
            overdue_needs: s.overdue_needs as i32,
        })
    }
}

pub struct Matches(pub Arc<Matching>);

#[tonic::async_trait]
impl MatchService for Matches {
    async fn invite_professional(
        &self,
        request: Request<pb::InviteProfessionalRequest>,
    ) -> Result<Response<pb::Match>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.invite(&caller, request.into_inner()).await?))
    }

    async fn get_matching_stats(
        &self,
        request: Request<pb::GetMatchingStatsRequest>,
    ) -> Result<Response<pb::MatchingStats>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.stats(&caller, request.into_inner()).await?))
    }

    async fn apply_to_community(
        &self,
        request: Request<pb::ApplyToCommunityRequest>,
    ) -> Result<Response<pb::Match>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.apply(&caller, request.into_inner()).await?))
    }

    async fn respond_to_match(
        &self,
        request: Request<pb::RespondToMatchRequest>,
    ) -> Result<Response<pb::Match>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.respond(&caller, request.into_inner()).await?))
    }

    async fn withdraw_match(&self, request: Request<pb::WithdrawMatchRequest>) -> Result<Response<pb::Match>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.withdraw(&caller, &request.into_inner().id).await?))
    }

    async fn end_match(&self, request: Request<pb::EndMatchRequest>) -> Result<Response<pb::Match>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.end(&caller, request.into_inner()).await?))
    }

    async fn get_match(&self, request: Request<pb::GetMatchRequest>) -> Result<Response<pb::Match>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.get(&caller, &request.into_inner().id).await?))
    }

    async fn list_matches(
        &self,
        request: Request<pb::ListMatchesRequest>,
    ) -> Result<Response<pb::ListMatchesResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.list(&caller, request.into_inner()).await?))
    }

    async fn recommend_professionals(
        &self,
        request: Request<pb::RecommendProfessionalsRequest>,
    ) -> Result<Response<pb::RecommendationsResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0.recommend_professionals(&caller, request.into_inner()).await?,
        ))
    }

    async fn recommend_communities(
        &self,
        request: Request<pb::RecommendCommunitiesRequest>,
    ) -> Result<Response<pb::RecommendationsResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0.recommend_communities(&caller, request.into_inner()).await?,
        ))
    }
}
