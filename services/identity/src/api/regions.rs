//! RegionService: the division tree is public reference data; no token needed.

use super::{decode_page_token, encode_page_token, page_size};
use crate::store;
use crate::store::entities::region;
use kit::region::{RegionCode, RegionLevel};
use kit::{ServiceError, ServiceResult};
use sanshi_proto::identity::v1 as pb;
use sanshi_proto::identity::v1::region_service_server::RegionService;
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

pub struct Regions {
    pub db: DatabaseConnection,
}

fn to_proto(r: region::Model) -> pb::Region {
    let level = match RegionLevel::parse(&r.level) {
        Some(RegionLevel::Province) => pb::RegionLevel::Province,
        Some(RegionLevel::City) => pb::RegionLevel::City,
        Some(RegionLevel::District) => pb::RegionLevel::District,
        Some(RegionLevel::Street) => pb::RegionLevel::Street,
        Some(RegionLevel::Community) => pb::RegionLevel::Community,
        None => pb::RegionLevel::Unspecified,
    };
    pb::Region {
        code: r.code,
        name: r.name,
        level: level as i32,
        parent_code: r.parent_code.unwrap_or_default(),
        longitude: r.lon,
        latitude: r.lat,
    }
}

fn parse_code(field: &str, code: &str) -> ServiceResult<RegionCode> {
    RegionCode::parse(code).map_err(|e| ServiceError::invalid(field, e.to_string()))
}

impl Regions {
    async fn get(&self, code: &str) -> ServiceResult<pb::Region> {
        let code = parse_code("code", code)?;
        store::regions::get(&self.db, code.as_str())
            .await?
            .map(to_proto)
            .ok_or_else(|| ServiceError::not_found("区划", code.as_str()))
    }

    async fn list(&self, req: pb::ListRegionsRequest) -> ServiceResult<pb::ListRegionsResponse> {
        let parent = if req.parent_code.is_empty() {
            None
        } else {
            Some(parse_code("parent_code", &req.parent_code)?)
        };
        let limit = page_size(req.page_size, 100, 1000)?;
        let after = decode_page_token(&req.page_token)?;
        if let Some(parent) = &parent
            && store::regions::get(&self.db, parent.as_str()).await?.is_none()
        {
            return Err(ServiceError::not_found("区划", parent.as_str()));
        }
        let mut rows = store::regions::children(
            &self.db,
            parent.as_ref().map(|p| p.as_str()),
            after.as_deref(),
            limit + 1,
        )
        .await?;
        let next_page_token = if rows.len() as u64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|r| encode_page_token(&r.code)).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListRegionsResponse {
            regions: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        })
    }

    async fn ancestors(&self, code: &str) -> ServiceResult<pb::ListRegionAncestorsResponse> {
        let code = parse_code("code", code)?;
        let mut codes: Vec<String> = code.ancestors().iter().map(|c| c.to_string()).collect();
        codes.push(code.to_string());
        let rows = store::regions::many(&self.db, codes).await?;
        if rows.last().map(|r| r.code.as_str()) != Some(code.as_str()) {
            return Err(ServiceError::not_found("区划", code.as_str()));
        }
        Ok(pb::ListRegionAncestorsResponse {
            regions: rows.into_iter().map(to_proto).collect(),
        })
    }
}

#[tonic::async_trait]
impl RegionService for Regions {
    async fn get_region(&self, request: Request<pb::GetRegionRequest>) -> Result<Response<pb::Region>, Status> {
        Ok(Response::new(self.get(&request.into_inner().code).await?))
    }

    async fn list_regions(
        &self,
        request: Request<pb::ListRegionsRequest>,
    ) -> Result<Response<pb::ListRegionsResponse>, Status> {
        Ok(Response::new(self.list(request.into_inner()).await?))
    }

    async fn list_region_ancestors(
        &self,
        request: Request<pb::ListRegionAncestorsRequest>,
    ) -> Result<Response<pb::ListRegionAncestorsResponse>, Status> {
        Ok(Response::new(self.ancestors(&request.into_inner().code).await?))
    }
}
