//! The year's roll-over, star ratings and their distribution, policies and
//! the city expert team.

use super::{CITY, Incentive, REGION_READERS, profession_to_proto, require_city_admin};
use crate::consumers::PRODUCER;
use crate::domain::policies::{self, Standing};
use crate::domain::stars;
use crate::rollover;
use crate::store::experts::{self, Candidate, Proposal};
use crate::store::{audit, professionals, years};
use chrono::{Datelike, Utc};
use kit::auth::Principal;
use kit::error::Violations;
use kit::region as regions;
use kit::{ServiceError, ServiceResult};
use sanshi_proto::incentive::v1 as pb;
use sea_orm::TransactionTrait;
use std::sync::Arc;

fn closed_year(field: &str, year: i32) -> ServiceResult<i32> {
    let current = Utc::now().year();
    if (2000..current).contains(&year) {
        Ok(year)
    } else {
        Err(ServiceError::invalid(field, "只能结算已经结束的年度"))
    }
}

impl Incentive {
    async fn closing_to_proto(&self, year: i32) -> ServiceResult<pb::YearClosing> {
        let c = years::closing(&self.db, year)
            .await?
            .ok_or_else(|| ServiceError::not_found("年度结算", year.to_string()))?;
        let s = years::summary(&self.db, year).await?;
        Ok(pb::YearClosing {
            year,
            state: (if c.state == "done" {
                pb::ClosingState::Done
            } else {
                pb::ClosingState::Running
            }) as i32,
            professionals: s.professionals as i32,
            upgraded: s.upgraded as i32,
            downgraded: s.downgraded as i32,
            total_tenths: s.total_points,
            started_by: c.started_by,
            start_time: Some(kit::grpc::timestamp(c.started_at)),
            finish_time: c.finished_at.map(kit::grpc::timestamp),
        })
    }

    /// Closes the year in the background (one transaction, about a second per
    /// 100,000 professionals on PostgreSQL); the answer says it is running,
    /// GetYearClosing when it is done and with what result.
    pub(super) async fn close_year(
        self: Arc<Self>,
        caller: &Principal,
        req: pb::CloseYearRequest,
    ) -> ServiceResult<pb::YearClosing> {
        require_city_admin(caller)?;
        let year = closed_year("year", req.year)?;
        rollover::begin(&self.db, year, &caller.account_id).await?;
        self.spawn_closing(year, caller.account_id.clone());
        self.closing_to_proto(year).await
    }

    /// Runs the closing of `year` (again, after a crash) unless this process already is.
    pub fn spawn_closing(self: &Arc<Self>, year: i32, actor: String) {
        let started = self
            .closing
            .lock()
            .map(|mut running| running.insert(year))
            .unwrap_or(false);
        if !started {
            return;
        }
        let this = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(error) = rollover::close(&this.db, Some(&this.events), &this.star_rules, year, &actor).await {
                tracing::error!(year, error = %error, "year closing failed; it resumes when started again");
            }
            if let Ok(mut running) = this.closing.lock() {
                running.remove(&year);
            }
        });
    }

    pub(super) async fn year_closing(
        &self,
        caller: &Principal,
        req: pb::GetYearClosingRequest,
    ) -> ServiceResult<pb::YearClosing> {
        if !caller.acts_for(&REGION_READERS, CITY) {
            return Err(ServiceError::PermissionDenied(
                "仅市级管理员和审计人员可以查看年度结算".into(),
            ));
        }
        self.closing_to_proto(req.year).await
    }

    pub(super) async fn star_rating(
        &self,
        caller: &Principal,
        req: pb::GetStarRatingRequest,
    ) -> ServiceResult<pb::StarRating> {
        let account = self.readable(caller, &req.account_id).await?;
        let history = years::history(&self.db, &account).await?;
        let (stars, year) = history.first().map_or((0, 0), |h| (h.stars, h.year));
        Ok(pb::StarRating {
            account_id: account,
            stars,
            year,
            history: history
                .iter()
                .map(|h| {
                    let rating = stars::rate(&self.star_rules, &h.results);
                    pb::StarYear {
                        year: h.year,
                        stars: h.stars,
                        previous_stars: h.previous_stars,
                        tenths: h.results.points,
                        services: h.results.services,
                        mean_satisfaction: h.results.mean_satisfaction().unwrap_or(0.0),
                        in_good_standing: h.results.in_good_standing,
                        reason: stars::change(h.previous_stars, &rating).unwrap_or(rating.reason),
                    }
                })
                .collect(),
        })
    }

    pub(super) async fn star_distribution(
        &self,
        caller: &Principal,
        req: pb::GetStarDistributionRequest,
    ) -> ServiceResult<pb::StarDistribution> {
        let region = kit::region::parse_field("region_code", &req.region_code)?;
        // A street's distribution is its one row.
        if region.as_str().len() > 9 {
            return Err(ServiceError::invalid("region_code", "请指定市、区县或街道"));
        }
        if !caller.covers(&REGION_READERS, &region) {
            return Err(ServiceError::PermissionDenied("只能查看本辖区的星级分布".into()));
        }
        let year = match req.year {
            0 => years::last_closed(&self.db).await?.unwrap_or(0),
            y => y,
        };
        let rows = years::star_distribution(&self.db, year, region.as_str()).await?;
        Ok(pb::StarDistribution {
            region_code: region.as_str().to_string(),
            year,
            rows: rows
                .into_iter()
                .map(|(code, counts)| pb::StarCount {
                    region_name: regions::name(&code).to_string(),
                    region_code: code,
                    counts: counts.to_vec(),
                })
                .collect(),
        })
    }

    pub(super) async fn policies(
        &self,
        caller: &Principal,
        req: pb::ListPoliciesRequest,
    ) -> ServiceResult<pb::ListPoliciesResponse> {
        let all = crate::store::policies::all(&self.db).await?;
        let to_proto = |p: &policies::Policy| pb::Policy {
            id: p.id.clone(),
            title: p.title.clone(),
            description: p.description.clone(),
            min_stars: p.min_stars,
            min_tenths: p.min_points,
            min_services: p.min_services,
            region_code: p.region.clone(),
        };
        if req.account_id.trim().is_empty() {
            return Ok(pb::ListPoliciesResponse {
                policies: all
                    .iter()
                    .map(|p| pb::PolicyEligibility {
                        policy: Some(to_proto(p)),
                        ..Default::default()
                    })
                    .collect(),
                year: 0,
            });
        }
        let account = self.readable(caller, &req.account_id).await?;
        let year = years::last_closed(&self.db).await?.unwrap_or(0);
        let result = years::result(&self.db, &account, year).await?;
        let regions = professionals::find(&self.db, &account)
            .await?
            .map(|p| p.service_regions)
            .unwrap_or_default();
        let standing = Standing {
            stars: result.as_ref().map_or(0, |r| r.stars),
            points: result.as_ref().map_or(0, |r| r.results.points),
            services: result.as_ref().map_or(0, |r| r.results.services),
            regions: &regions,
        };
        Ok(pb::ListPoliciesResponse {
            policies: all
                .iter()
                .map(|p| {
                    let e = policies::check(p, &standing);
                    pb::PolicyEligibility {
                        policy: Some(to_proto(p)),
                        eligible: e.eligible,
                        reasons: e.reasons,
                    }
                })
                .collect(),
            year,
        })
    }

    async fn proposal_to_proto(&self, p: &Proposal) -> ServiceResult<pb::ExpertTeamProposal> {
        let mut candidates = Vec::new();
        for c in &p.candidates {
            let who = professionals::find(&self.db, &c.professional_id).await?;
            candidates.push(pb::ExpertCandidate {
                specialty: c.specialty.clone(),
                account_id: c.professional_id.clone(),
                real_name: who.as_ref().map(|w| w.real_name.clone()).unwrap_or_default(),
                profession: who.as_ref().map_or(0, |w| profession_to_proto(&w.profession)),
                stars: c.stars,
                tenths: c.points,
                rank: c.rank,
                struck: c.struck,
            });
        }
        Ok(pb::ExpertTeamProposal {
            id: p.id.clone(),
            year: p.year,
            state: (if p.state == "confirmed" {
                pb::ProposalState::Confirmed
            } else {
                pb::ProposalState::Proposed
            }) as i32,
            candidates,
            proposed_by: p.proposed_by.clone(),
            confirmed_by: p.confirmed_by.clone(),
            create_time: Some(kit::grpc::timestamp(p.created_at)),
            confirm_time: p.confirmed_at.map(kit::grpc::timestamp),
        })
    }

    pub(super) async fn propose_team(
        &self,
        caller: &Principal,
        req: pb::ProposeExpertTeamRequest,
    ) -> ServiceResult<pb::ExpertTeamProposal> {
        require_city_admin(caller)?;
        let mut v = Violations::new();
        if !(1..=20).contains(&req.per_specialty) {
            v.add("per_specialty", "每个专长推荐 1 到 20 人");
        }
        if req.year != 0 {
            v.take(closed_year("year", req.year));
        }
        v.into_result()?;
        let year = match req.year {
            0 => years::last_closed(&self.db)
                .await?
                .ok_or_else(|| ServiceError::FailedPrecondition("尚无已结算的年度，无法按星级推荐".into()))?,
            y => y,
        };
        if years::closing(&self.db, year).await?.is_none_or(|c| c.state != "done") {
            return Err(ServiceError::FailedPrecondition(format!("{year} 年度尚未结算")));
        }
        self.idempotency
            .once(
                &self.db,
                format!("incentive.propose_team:{}", caller.account_id),
                &req.request_id,
                || async {
                    let mut ranked = Vec::new();
                    let rated = years::rated(&self.db, year).await?;
                    for p in professionals::active(&self.db).await? {
                        if let Some(&(stars, points)) = rated.get(&p.account_id) {
                            ranked.push((p, stars, points));
                        }
                    }
                    // Most stars first, then most points; the account id breaks ties.
                    ranked.sort_by(|a, b| {
                        b.1.cmp(&a.1)
                            .then(b.2.cmp(&a.2))
                            .then(a.0.account_id.cmp(&b.0.account_id))
                    });
                    let mut by_specialty: std::collections::BTreeMap<String, Vec<Candidate>> = Default::default();
                    for (p, stars, points) in &ranked {
                        for specialty in &p.specialties {
                            let list = by_specialty.entry(specialty.clone()).or_default();
                            if list.len() < req.per_specialty as usize {
                                list.push(Candidate {
                                    specialty: specialty.clone(),
                                    professional_id: p.account_id.clone(),
                                    rank: list.len() as i32 + 1,
                                    stars: *stars,
                                    points: *points,
                                    struck: false,
                                });
                            }
                        }
                    }
                    let proposal = Proposal {
                        id: uuid::Uuid::now_v7().to_string(),
                        year,
                        state: "proposed".into(),
                        proposed_by: caller.account_id.clone(),
                        confirmed_by: String::new(),
                        created_at: Utc::now(),
                        confirmed_at: None,
                        candidates: by_specialty.into_values().flatten().collect(),
                    };
                    let txn = self.db.begin().await?;
                    experts::insert(&txn, &proposal).await?;
                    audit::log(
                        &txn,
                        &caller.account_id,
                        "propose_expert_team",
                        &format!("proposal:{}", proposal.id),
                        &format!("{year} 年度，每个专长 {} 人", req.per_specialty),
                    )
                    .await?;
                    Ok((self.proposal_to_proto(&proposal).await?, txn))
                },
            )
            .await
    }

    pub(super) async fn team_proposal(
        &self,
        caller: &Principal,
        req: pb::GetExpertTeamProposalRequest,
    ) -> ServiceResult<pb::ExpertTeamProposal> {
        require_city_admin(caller)?;
        let p = experts::find(&self.db, req.id.trim())
            .await?
            .ok_or_else(|| ServiceError::not_found("专家团推荐", req.id.trim()))?;
        self.proposal_to_proto(&p).await
    }

    pub(super) async fn confirm_team(
        &self,
        caller: &Principal,
        req: pb::ConfirmExpertTeamRequest,
    ) -> ServiceResult<pb::ExpertTeamProposal> {
        require_city_admin(caller)?;
        let id = req.id.trim();
        let p = experts::find(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("专家团推荐", id))?;
        if p.state == "confirmed" {
            // A retried confirmation: as it was confirmed.
            return self.proposal_to_proto(&p).await;
        }
        if let Some(unknown) = req
            .struck_account_ids
            .iter()
            .find(|s| !p.candidates.iter().any(|c| &c.professional_id == *s))
        {
            return Err(ServiceError::invalid(
                "struck_account_ids",
                format!("{unknown} 不在推荐名单中"),
            ));
        }
        let txn = self.db.begin().await?;
        if !experts::confirm(&txn, id, &req.struck_account_ids, &caller.account_id, Utc::now()).await? {
            txn.rollback().await?;
            let p = experts::find(&self.db, id)
                .await?
                .ok_or_else(|| ServiceError::not_found("专家团推荐", id))?;
            return self.proposal_to_proto(&p).await;
        }
        let mut members = Vec::new();
        for c in p
            .candidates
            .iter()
            .filter(|c| !req.struck_account_ids.contains(&c.professional_id))
        {
            members.push(pb::ExpertTeamMember {
                specialty: c.specialty.clone(),
                account_id: c.professional_id.clone(),
                real_name: professionals::find(&txn, &c.professional_id)
                    .await?
                    .map(|w| w.real_name)
                    .unwrap_or_default(),
                stars: c.stars,
            });
        }
        let event = pb::ExpertTeamProposed {
            proposal_id: p.id.clone(),
            year: p.year,
            members,
        };
        kit::events::publish(&txn, PRODUCER, "expert_team", &p.id, &event).await?;
        audit::log(
            &txn,
            &caller.account_id,
            "confirm_expert_team",
            &format!("proposal:{}", p.id),
            &format!(
                "确认 {} 人，划去 {} 人",
                event.members.len(),
                req.struck_account_ids.len()
            ),
        )
        .await?;
        txn.commit().await?;
        self.events.notify();
        let confirmed = experts::find(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("专家团推荐", id))?;
        self.proposal_to_proto(&confirmed).await
    }
}
