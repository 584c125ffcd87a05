//! CommunityService: profiles, seen by the region's people and by the
//! professionals who serve it; maintained by its workers and admins.

use super::{Matching, caller, community_side, location, stats_to_proto, timestamp, viewer_prefixes};
use crate::domain::community::{Profile, Renovation};
use crate::domain::geo::valid_position;
use crate::domain::lifecycle::{MatchState, Side};
use crate::store::{self, communities::Community, page};
use chrono::Datelike;
use kit::auth::Principal;
use kit::pii::PhoneNumber;
use kit::{ServiceError, ServiceResult};
use sanshi_proto::matching::v1 as pb;
use sanshi_proto::matching::v1::community_service_server::CommunityService;
use std::collections::HashMap;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub fn renovation_to_proto(r: Renovation) -> i32 {
    use pb::RenovationStatus as P;
    (match r {
        Renovation::Unknown => P::Unspecified,
        Renovation::Assessment => P::Assessment,
        Renovation::Renovating => P::Renovating,
        Renovation::Renovated => P::Renovated,
    }) as i32
}

pub fn renovation_from_proto(v: i32) -> ServiceResult<Renovation> {
    use pb::RenovationStatus as P;
    Ok(match P::try_from(v) {
        Ok(P::Unspecified) => Renovation::Unknown,
        Ok(P::Assessment) => Renovation::Assessment,
        Ok(P::Renovating) => Renovation::Renovating,
        Ok(P::Renovated) => Renovation::Renovated,
        Err(_) => return Err(ServiceError::invalid("profile.renovation_status", "未知的改造状态")),
    })
}

/// Live figures shown with communities.
#[derive(Default)]
pub struct Figures {
    pub active: HashMap<String, i32>,
    pub open_needs: HashMap<String, i32>,
    pub responses: HashMap<String, store::matches::ResponseStats>,
}

impl Matching {
    pub async fn community_figures(&self, codes: &[String]) -> ServiceResult<Figures> {
        Ok(Figures {
            active: store::matches::active_counts(&self.db, "community_code", codes).await?,
            open_needs: store::needs::open_counts(&self.db, codes).await?,
            responses: store::matches::response_stats(&self.db, Side::Community, codes).await?,
        })
    }

    /// Community `code` as `caller` may see it: the contact phone in full
    /// only for its own side and professionals matched with it.
    pub fn community_to_proto(
        &self,
        c: &Community,
        figures: &Figures,
        caller: &Principal,
        full_contact: bool,
    ) -> pb::Community {
        let phone = if full_contact || community_side(caller, &c.code) {
            c.profile.contact_phone.clone()
        } else {
            PhoneNumber::parse(&c.profile.contact_phone)
                .map(|p| p.masked())
                .unwrap_or_default()
        };
        pb::Community {
            code: c.code.clone(),
            name: c.name.clone(),
            street_code: c.street_code.clone(),
            street_name: c.street_name.clone(),
            district_code: c.district_code.clone(),
            district_name: c.district_name.clone(),
            profile: Some(pb::CommunityProfile {
                households: c.profile.households,
                year_built: c.profile.year_built,
                over_60_percent: c.profile.over_60_percent,
                renovation_status: renovation_to_proto(c.profile.renovation),
                tags: c.profile.tags.clone(),
                contact_name: c.profile.contact_name.clone(),
                contact_phone: phone,
                demand: c.profile.demand,
            }),
            location: Some(location(c.lon, c.lat)),
            location_synthetic: c.location_synthetic,
            active_matches: figures.active.get(&c.code).copied().unwrap_or(0),
            open_needs: figures.open_needs.get(&c.code).copied().unwrap_or(0),
            response_stats: Some(stats_to_proto(
                figures.responses.get(&c.code).copied().unwrap_or_default(),
            )),
            update_time: Some(timestamp(c.updated_at)),
        }
    }

    /// Whether the caller has an active match with the community (and so sees its contact).
    async fn matched_with(&self, caller: &Principal, code: &str) -> ServiceResult<bool> {
        Ok(store::matches::open_for_pair(&self.db, code, &caller.account_id)
            .await?
            .is_some_and(|m| m.state == MatchState::Active))
    }

    async fn get_community(&self, caller: &Principal, code: &str) -> ServiceResult<pb::Community> {
        let code = super::community_code("code", code)?;
        let community = self.community(code.as_str()).await?;
        if !self.sees_community(caller, code.as_str()).await? {
            return Err(ServiceError::permission_denied());
        }
        let figures = self.community_figures(std::slice::from_ref(&community.code)).await?;
        let matched = self.matched_with(caller, &community.code).await?;
        Ok(self.community_to_proto(&community, &figures, caller, matched))
    }

    /// Prefixes of what the caller sees: its region roles plus, for an active
    /// professional, their service regions.
    pub async fn visible_prefixes(&self, caller: &Principal) -> ServiceResult<Vec<String>> {
        let mut prefixes = viewer_prefixes(caller);
        if let Some(p) = self.professional_of(caller).await?
            && p.status == store::professionals::Status::Active
        {
            prefixes.extend(p.service_regions);
        }
        Ok(prefixes)
    }

    async fn list_communities(
        &self,
        caller: &Principal,
        req: pb::ListCommunitiesRequest,
    ) -> ServiceResult<pb::ListCommunitiesResponse> {
        let size = page::size(req.page_size)?;
        let offset = page::offset(&req.page_token)?;
        let renovation = match req.renovation_status {
            0 => None,
            v => Some(renovation_from_proto(v)?),
        };
        let filter = store::communities::Filter {
            prefixes: self.visible_prefixes(caller).await?,
            region: super::region_filter("region_code", &req.region_code)?,
            tag: req.tag.trim().to_string(),
            renovation,
            query: req.query.trim().to_string(),
        };
        let total = store::communities::count(&self.db, &filter).await?;
        let (communities, next) = if req.slowest_response_first {
            // Ordered by a computed figure: rank all, then page.
            let all = store::communities::all(&self.db, &filter).await?;
            let codes: Vec<String> = all.iter().map(|c| c.code.clone()).collect();
            let stats = store::matches::response_stats(&self.db, Side::Community, &codes).await?;
            let mut ranked: Vec<(f64, Community)> = all
                .into_iter()
                .map(|c| (stats.get(&c.code).map(|s| s.mean_hours).unwrap_or(0.0), c))
                .collect();
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.code.cmp(&b.1.code)));
            let fetched: Vec<Community> = ranked
                .into_iter()
                .skip(offset as usize)
                .take(size as usize + 1)
                .map(|(_, c)| c)
                .collect();
            let next = page::next(offset, size, fetched.len());
            (fetched, next)
        } else {
            let fetched = store::communities::list(&self.db, &filter, offset, size).await?;
            let next = page::next(offset, size, fetched.len());
            (fetched, next)
        };
        let communities: Vec<Community> = communities.into_iter().take(size as usize).collect();
        let codes: Vec<String> = communities.iter().map(|c| c.code.clone()).collect();
        let figures = self.community_figures(&codes).await?;
        let mut out = Vec::with_capacity(communities.len());
        for c in &communities {
            out.push(self.community_to_proto(c, &figures, caller, false));
        }
        Ok(pb::ListCommunitiesResponse {
            communities: out,
            next_page_token: next,
            total_size: total as i32,
        })
    }

    async fn update_profile(
        &self,
        caller: &Principal,
        req: pb::UpdateCommunityProfileRequest,
    ) -> ServiceResult<pb::Community> {
        let code = super::community_code("code", &req.code)?;
        let community = self.community(code.as_str()).await?;
        if !community_side(caller, code.as_str()) {
            return Err(ServiceError::PermissionDenied(
                "仅限本社区工作人员或上级管理员维护".into(),
            ));
        }
        let p = req
            .profile
            .ok_or_else(|| ServiceError::invalid("profile", "缺少社区画像"))?;
        let profile = Profile {
            households: p.households,
            year_built: p.year_built,
            over_60_percent: p.over_60_percent,
            renovation: renovation_from_proto(p.renovation_status)?,
            tags: p.tags,
            contact_name: p.contact_name,
            contact_phone: p.contact_phone,
            demand: p.demand,
        }
        .validated(chrono::Utc::now().year())?;
        let position = match req.location {
            Some(l) if valid_position(l.longitude, l.latitude) => Some((l.longitude, l.latitude)),
            Some(_) => return Err(ServiceError::invalid("location", "经纬度无效")),
            None => None,
        };
        let scope = format!("UpdateCommunityProfile:{}", community.code);
        let response = self
            .idempotency
            .once(&self.db, scope, &req.request_id, || async {
                let txn = kit::db::begin(&self.db).await?;
                store::communities::save_profile(&txn, &community.code, &profile, position, &caller.account_id).await?;
                let updated = store::communities::find(&txn, &community.code)
                    .await?
                    .ok_or_else(|| ServiceError::not_found("社区", community.code.clone()))?;
                kit::events::publish(
                    &txn,
                    super::PRODUCER,
                    "community",
                    &updated.code,
                    &pb::CommunityUpdated {
                        code: updated.code.clone(),
                        name: updated.name.clone(),
                        location: Some(location(updated.lon, updated.lat)),
                        location_synthetic: updated.location_synthetic,
                        tags: updated.profile.tags.clone(),
                    },
                )
                .await?;
                let figures = self.community_figures(std::slice::from_ref(&updated.code)).await?;
                let response = self.community_to_proto(&updated, &figures, caller, true);
                Ok((response, txn))
            })
            .await?;
        self.events.notify();
        tracing::info!(community = %community.code, "community profile updated");
        Ok(response)
    }
}

pub struct Communities(pub Arc<Matching>);

#[tonic::async_trait]
impl CommunityService for Communities {
    async fn get_community(
        &self,
        request: Request<pb::GetCommunityRequest>,
    ) -> Result<Response<pb::Community>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0.get_community(&caller, &request.into_inner().code).await?,
        ))
    }

    async fn list_communities(
        &self,
        request: Request<pb::ListCommunitiesRequest>,
    ) -> Result<Response<pb::ListCommunitiesResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0.list_communities(&caller, request.into_inner()).await?,
        ))
    }

    async fn update_community_profile(
        &self,
        request: Request<pb::UpdateCommunityProfileRequest>,
    ) -> Result<Response<pb::Community>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0.update_profile(&caller, request.into_inner()).await?,
        ))
    }
}
