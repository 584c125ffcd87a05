//! ProfessionalService: the read model of qualified professionals, seen by
//! the professionals themselves and by the people of the regions they serve.

use super::{Matching, caller, location, profession_from_proto, profession_to_proto, stats_to_proto, timestamp};
use crate::domain::lifecycle::Side;
use crate::store::{self, page, professionals::Professional, professionals::Status};
use kit::auth::{Principal, Role};
use kit::{ServiceError, ServiceResult};
use sanshi_proto::matching::v1 as pb;
use sanshi_proto::matching::v1::professional_service_server::ProfessionalService;
use std::collections::HashMap;
use std::sync::Arc;
use tonic::{Request, Response, Status as GrpcStatus};

/// Who looks professionals up: the people who invite and govern them.
const LOOKERS: [Role; 6] = [
    Role::CommunityWorker,
    Role::StreetAdmin,
    Role::DistrictAdmin,
    Role::CityAdmin,
    Role::Reviewer,
    Role::Auditor,
];

pub fn status_to_proto(s: Status) -> i32 {
    use pb::ProfessionalStatus as P;
    (match s {
        Status::Active => P::Active,
        Status::Suspended => P::Suspended,
        Status::Revoked => P::Revoked,
        Status::Expired => P::Expired,
    }) as i32
}

pub struct Figures {
    pub active: HashMap<String, i32>,
    pub responses: HashMap<String, store::matches::ResponseStats>,
}

impl Matching {
    pub async fn professional_figures(&self, ids: &[String]) -> ServiceResult<Figures> {
        Ok(Figures {
            active: store::matches::active_counts(&self.db, "professional_id", ids).await?,
            responses: store::matches::response_stats(&self.db, Side::Professional, ids).await?,
        })
    }

    pub fn professional_to_proto(&self, p: &Professional, figures: &Figures) -> pb::Professional {
        pb::Professional {
            account_id: p.account_id.clone(),
            real_name: p.real_name.clone(),
            profession: profession_to_proto(&p.profession),
            specialties: p.specialties.clone(),
            service_region_codes: p.service_regions.clone(),
            base_location: p.location.map(|(lon, lat)| location(lon, lat)),
            employer_name: p.employer_name.clone(),
            status: status_to_proto(p.status),
            qualified_until: p.qualified_until.clone(),
            capacity: p.capacity,
            available: p.available,
            active_matches: figures.active.get(&p.account_id).copied().unwrap_or(0),
            star_rating: p.star_rating,
            response_stats: Some(stats_to_proto(
                figures.responses.get(&p.account_id).copied().unwrap_or_default(),
            )),
            update_time: Some(timestamp(p.updated_at)),
        }
    }

    /// Scope prefixes in which the caller looks professionals up.
    fn looker_prefixes(caller: &Principal) -> Vec<String> {
        caller.prefixes(&LOOKERS)
    }

    /// Whether the caller sees `p`: themselves, or a looker whose region
    /// overlaps one of the regions the professional serves.
    fn sees_professional(caller: &Principal, p: &Professional) -> bool {
        caller.account_id == p.account_id
            || Self::looker_prefixes(caller).iter().any(|scope| {
                p.service_regions
                    .iter()
                    .any(|r| r.starts_with(scope.as_str()) || scope.starts_with(r.as_str()))
            })
    }

    pub async fn professional(&self, id: &str) -> ServiceResult<Professional> {
        store::professionals::find(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("专业人员", id))
    }

    async fn get_professional(&self, caller: &Principal, id: &str) -> ServiceResult<pb::Professional> {
        let id = if id.is_empty() || id == "me" {
            caller.account_id.as_str()
        } else {
            id
        };
        let p = self.professional(id).await?;
        if !Self::sees_professional(caller, &p) {
            return Err(ServiceError::permission_denied());
        }
        let figures = self.professional_figures(std::slice::from_ref(&p.account_id)).await?;
        Ok(self.professional_to_proto(&p, &figures))
    }

    async fn list_professionals(
        &self,
        caller: &Principal,
        req: pb::ListProfessionalsRequest,
    ) -> ServiceResult<pb::ListProfessionalsResponse> {
        let size = page::size(req.page_size)?;
        let offset = page::offset(&req.page_token)?;
        let filter = store::professionals::Filter {
            scopes: Self::looker_prefixes(caller),
            region: super::region_filter("region_code", &req.region_code)?,
            profession: profession_from_proto(req.profession),
            active_only: false,
            available_only: req.available_only,
        };
        let total = store::professionals::count(&self.db, &filter).await?;
        let fetched = if req.slowest_response_first {
            let all = store::professionals::all(&self.db, &filter).await?;
            let ids: Vec<String> = all.iter().map(|p| p.account_id.clone()).collect();
            let stats = store::matches::response_stats(&self.db, Side::Professional, &ids).await?;
            let mut ranked: Vec<(f64, Professional)> = all
                .into_iter()
                .map(|p| (stats.get(&p.account_id).map(|s| s.mean_hours).unwrap_or(0.0), p))
                .collect();
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.account_id.cmp(&b.1.account_id)));
            ranked
                .into_iter()
                .skip(offset as usize)
                .take(size as usize + 1)
                .map(|(_, p)| p)
                .collect()
        } else {
            store::professionals::list(&self.db, &filter, offset, size).await?
        };
        let next = page::next(offset, size, fetched.len());
        let professionals: Vec<Professional> = fetched.into_iter().take(size as usize).collect();
        let ids: Vec<String> = professionals.iter().map(|p| p.account_id.clone()).collect();
        let figures = self.professional_figures(&ids).await?;
        Ok(pb::ListProfessionalsResponse {
            professionals: professionals
                .iter()
                .map(|p| self.professional_to_proto(p, &figures))
                .collect(),
            next_page_token: next,
            total_size: total as i32,
        })
    }

    async fn update_availability(
        &self,
        caller: &Principal,
        req: pb::UpdateAvailabilityRequest,
    ) -> ServiceResult<pb::Professional> {
        let p = self
            .professional_of(caller)
            .await?
            .ok_or_else(|| ServiceError::PermissionDenied("仅限已通过资格审核的专业人员".into()))?;
        if !(0..=self.rules.max_capacity).contains(&req.capacity) {
            return Err(ServiceError::invalid(
                "capacity",
                format!("同时服务的社区数应在 0 到 {} 之间", self.rules.max_capacity),
            ));
        }
        store::professionals::set_availability(&self.db, &p.account_id, req.capacity, req.available).await?;
        tracing::info!(account_id = %p.account_id, capacity = req.capacity, available = req.available, "availability updated");
        self.get_professional(caller, &p.account_id).await
    }
}

pub struct Professionals(pub Arc<Matching>);

#[tonic::async_trait]
impl ProfessionalService for Professionals {
    async fn get_professional(
        &self,
        request: Request<pb::GetProfessionalRequest>,
    ) -> Result<Response<pb::Professional>, GrpcStatus> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0
                .get_professional(&caller, &request.into_inner().account_id)
                .await?,
        ))
    }

    async fn list_professionals(
        &self,
        request: Request<pb::ListProfessionalsRequest>,
    ) -> Result<Response<pb::ListProfessionalsResponse>, GrpcStatus> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0.list_professionals(&caller, request.into_inner()).await?,
        ))
    }

    async fn update_availability(
        &self,
        request: Request<pb::UpdateAvailabilityRequest>,
    ) -> Result<Response<pb::Professional>, GrpcStatus> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0.update_availability(&caller, request.into_inner()).await?,
        ))
    }
}
