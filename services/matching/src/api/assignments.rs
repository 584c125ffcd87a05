//! AssignmentService: an exactly optimal batch assignment over an admin's
//! region (the `matching-solver` crate), stored as a proposal for review and
//! then turned into invitations.

use super::{Matching, caller, profession_to_proto, region, timestamp};
use crate::domain::lifecycle::{MatchState, Side};
use crate::store::{self, assignments::Assignment, assignments::Pair, professionals::Status};
use chrono::Utc;
use kit::auth::{Principal, Role};
use kit::{ServiceError, ServiceResult};
use matching_solver::{CommunityInput, Instance, ProfessionalInput};
use sanshi_proto::matching::v1 as pb;
use sanshi_proto::matching::v1::assignment_service_server::AssignmentService;
use std::collections::HashMap;
use std::sync::Arc;
use tonic::{Request, Response, Status as GrpcStatus};

fn to_proto(a: &Assignment) -> pb::Assignment {
    pb::Assignment {
        id: a.id.clone(),
        region_code: a.region_code.clone(),
        max_distance_km: a.max_distance_km,
        state: if a.applied {
            pb::AssignmentState::Applied
        } else {
            pb::AssignmentState::Proposed
        } as i32,
        pairs: a
            .result
            .pairs
            .iter()
            .map(|p| pb::AssignmentPair {
                community_code: p.community.clone(),
                professional_account_id: p.professional.clone(),
                profession: profession_to_proto(&p.profession),
                distance_km: p.distance_km,
            })
            .collect(),
        communities: a.result.communities,
        covered: a.result.covered,
        covered_professions: a.result.covered_professions,
        total_distance_km: a.result.total_distance_km,
        invitations_sent: a.invitations_sent,
        create_time: Some(timestamp(a.created_at)),
        solve_millis: a.solve_millis,
    }
}

/// The solver's name of a profession (it needs a non-empty one).
fn solver_profession(profession: &str) -> String {
    if profession.is_empty() {
        "other".into()
    } else {
        profession.to_string()
    }
}

impl Matching {
    async fn propose_assignment(
        &self,
        caller: &Principal,
        req: pb::ProposeAssignmentRequest,
    ) -> ServiceResult<pb::Assignment> {
        let code = region("region_code", &req.region_code)?;
        if !caller.covers(&Role::ADMINS, &code) {
            return Err(ServiceError::PermissionDenied("只能对本人管辖区域进行批量匹配".into()));
        }
        let max_km = match req.max_distance_km {
            0.0 => self.rules.default_max_distance_km,
            km if km.is_finite() && km > 0.0 && km <= self.rules.max_distance_limit_km => km,
            _ => {
                return Err(ServiceError::invalid(
                    "max_distance_km",
                    format!("最大距离应在 0 到 {} 公里之间", self.rules.max_distance_limit_km),
                ));
            }
        };
        let scope = format!("ProposeAssignment:{}", caller.account_id);
        self.idempotency
            .once(&self.db, scope, &req.request_id, || async {
                let instance = self.assignment_instance(code.as_str(), max_km).await?;
                let started = std::time::Instant::now();
                let solve_input = instance.clone();
                let solved = tokio::task::spawn_blocking(move || matching_solver::solve(&solve_input))
                    .await
                    .map_err(ServiceError::internal)?
                    .map_err(|e| ServiceError::internal(anyhow::anyhow!("assignment instance rejected: {e}")))?;
                let solve_millis = started.elapsed().as_secs_f64() * 1000.0;
                let pairs: Vec<Pair> = solved
                    .pairs
                    .iter()
                    .map(|p| Pair {
                        community: instance.communities[p.community].id.clone(),
                        professional: instance.professionals[p.professional].id.clone(),
                        profession: instance.professionals[p.professional].profession.clone(),
                        distance_km: f64::from(p.distance_m) / 1000.0,
                    })
                    .collect();
                let a = Assignment {
                    id: uuid::Uuid::now_v7().to_string(),
                    region_code: code.as_str().to_string(),
                    max_distance_km: max_km,
                    applied: false,
                    result: store::assignments::Result {
                        pairs,
                        communities: instance.communities.len() as i32,
                        covered: solved.objective.covered as i32,
                        covered_professions: solved.objective.covered_professions as i32,
                        total_distance_km: solved.objective.total_distance_m as f64 / 1000.0,
                    },
                    invitations_sent: 0,
                    solve_millis,
                    created_by: caller.account_id.clone(),
                    created_at: Utc::now(),
                };
                let txn = kit::db::begin(&self.db).await?;
                store::assignments::insert(&txn, &a).await?;
                tracing::info!(
                    assignment_id = %a.id,
                    region = %a.region_code,
                    communities = a.result.communities,
                    professionals = instance.professionals.len(),
                    covered = a.result.covered,
                    solve_millis,
                    "assignment proposed"
                );
                Ok((to_proto(&a), txn))
            })
            .await
    }

    /// The region's communities with the demand still open and the
    /// professions they already have, and the professionals serving it with
    /// the capacity still free: pending invitations and applications count as
    /// taken on both sides, and as coverage the solver need not provide again.
    async fn assignment_instance(&self, code: &str, max_km: f64) -> ServiceResult<Instance> {
        let communities = store::communities::all(
            &self.db,
            &store::communities::Filter {
                prefixes: vec![code.to_string()],
                ..Default::default()
            },
        )
        .await?;
        let professionals = store::professionals::all(
            &self.db,
            &store::professionals::Filter {
                scopes: vec![code.to_string()],
                active_only: true,
                available_only: true,
                ..Default::default()
            },
        )
        .await?;
        // The communities' side: every pending or active match in the region,
        // whoever holds it (also professionals now at capacity or unavailable).
        let mut taken_by_community: HashMap<String, i64> = HashMap::new();
        let mut existing: HashMap<String, Vec<String>> = HashMap::new();
        let mut professions: HashMap<String, String> = HashMap::new();
        for (community, professional) in
            store::matches::pairs_in(&self.db, code, &[MatchState::Pending, MatchState::Active]).await?
        {
            *taken_by_community.entry(community.clone()).or_default() += 1;
            if !professions.contains_key(&professional) {
                let profession = store::professionals::find(&self.db, &professional)
                    .await?
                    .map(|p| solver_profession(&p.profession))
                    .unwrap_or_else(|| "other".into());
                professions.insert(professional.clone(), profession);
            }
            let list = existing.entry(community).or_default();
            if let Some(profession) = professions.get(&professional)
                && !list.contains(profession)
            {
                list.push(profession.clone());
            }
        }
        // The professionals' side: their pending and active matches anywhere.
        let mut taken_by_professional: HashMap<String, i64> = HashMap::new();
        for p in &professionals {
            let open =
                store::matches::of_professional(&self.db, &p.account_id, &[MatchState::Pending, MatchState::Active])
                    .await?;
            taken_by_professional.insert(p.account_id.clone(), open.len() as i64);
        }
        Ok(Instance {
            communities: communities
                .iter()
                .map(|c| CommunityInput {
                    id: c.code.clone(),
                    lon: c.lon,
                    lat: c.lat,
                    demand: (i64::from(c.profile.demand) - taken_by_community.get(&c.code).copied().unwrap_or(0))
                        .max(0),
                    region: Some(c.code.clone()),
                    existing_professions: existing.remove(&c.code).unwrap_or_default(),
                })
                .collect(),
            professionals: professionals
                .iter()
                .filter(|p| p.status == Status::Active && !p.service_regions.is_empty())
                .filter_map(|p| {
                    let (lon, lat) = p.location?;
                    Some(ProfessionalInput {
                        id: p.account_id.clone(),
                        lon,
                        lat,
                        capacity: (i64::from(p.capacity)
                            - taken_by_professional.get(&p.account_id).copied().unwrap_or(0))
                        .max(0),
                        profession: solver_profession(&p.profession),
                        service_regions: Some(p.service_regions.clone()),
                    })
                })
                .collect(),
            max_distance_km: max_km,
        })
    }

    async fn load_assignment(&self, caller: &Principal, id: &str) -> ServiceResult<Assignment> {
        let a = store::assignments::find(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("批量匹配方案", id))?;
        if !caller.covers(&Role::ADMINS, &region("id", &a.region_code)?) {
            return Err(ServiceError::permission_denied());
        }
        Ok(a)
    }

    async fn apply_assignment(
        &self,
        caller: &Principal,
        req: pb::ApplyAssignmentRequest,
    ) -> ServiceResult<pb::Assignment> {
        let a = self.load_assignment(caller, &req.id).await?;
        if a.applied {
            // A retried apply: the invitations went out the first time.
            return Ok(to_proto(&a));
        }
        let text = req.message.trim().to_string();
        if text.chars().count() > 500 {
            return Err(ServiceError::invalid("message", "留言不超过 500 个字"));
        }
        let txn = kit::db::begin(&self.db).await?;
        let mut sent = 0;
        for pair in &a.result.pairs {
            if req
                .excluded_pairs
                .contains(&format!("{}/{}", pair.community, pair.professional))
            {
                continue;
            }
            let (Some(community), Some(professional)) = (
                store::communities::find(&txn, &pair.community).await?,
                store::professionals::find(&txn, &pair.professional).await?,
            ) else {
                continue;
            };
            // Pairs that changed since the proposal (a match already open, the
            // professional no longer available) are skipped, not failed.
            match self
                .propose(
                    &txn,
                    &community,
                    &professional,
                    super::matches::Proposal {
                        side: Side::Community,
                        by: &caller.account_id,
                        message: text.clone(),
                        assignment_id: &a.id,
                    },
                )
                .await
            {
                Ok(_) => sent += 1,
                Err(ServiceError::AlreadyExists(_) | ServiceError::FailedPrecondition(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if !store::assignments::mark_applied(&txn, &a.id, sent).await? {
            // Applied concurrently: roll back ours and show theirs.
            drop(txn);
            return Ok(to_proto(&self.load_assignment(caller, &req.id).await?));
        }
        txn.commit().await?;
        tracing::info!(assignment_id = %a.id, invitations = sent, "assignment applied");
        Ok(to_proto(&self.load_assignment(caller, &req.id).await?))
    }
}

pub struct Assignments(pub Arc<Matching>);

#[tonic::async_trait]
impl AssignmentService for Assignments {
    async fn propose_assignment(
        &self,
        request: Request<pb::ProposeAssignmentRequest>,
    ) -> Result<Response<pb::Assignment>, GrpcStatus> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0.propose_assignment(&caller, request.into_inner()).await?,
        ))
    }

    async fn get_assignment(
        &self,
        request: Request<pb::GetAssignmentRequest>,
    ) -> Result<Response<pb::Assignment>, GrpcStatus> {
        let caller = caller(&request)?;
        let a = self.0.load_assignment(&caller, &request.into_inner().id).await?;
        Ok(Response::new(to_proto(&a)))
    }

    async fn apply_assignment(
        &self,
        request: Request<pb::ApplyAssignmentRequest>,
    ) -> Result<Response<pb::Assignment>, GrpcStatus> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0.apply_assignment(&caller, request.into_inner()).await?,
        ))
    }
}
