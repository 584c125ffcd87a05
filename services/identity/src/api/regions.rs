//! RegionService: the division tree is public reference data; no token needed.
//! Served from the in-memory [`RegionTree`] loaded at start.

use super::{decode_page_token, encode_page_token, page_size};
use crate::domain::region::{RegionRow, RegionTree};
use kit::region::{RegionCode, RegionLevel};
use kit::{ServiceError, ServiceResult};
use sanshi_proto::identity::v1 as pb;
use sanshi_proto::identity::v1::region_service_server::RegionService;
use std::sync::{Arc, OnceLock};
use tonic::{Request, Response, Status};

pub struct Regions {
    /// Set once migrations have run; the readiness gate keeps calls out before.
    pub tree: Arc<OnceLock<RegionTree>>,
}

pub fn to_proto(r: &RegionRow) -> pb::Region {
    let level = match r.level {
        RegionLevel::Province => pb::RegionLevel::Province,
        RegionLevel::City => pb::RegionLevel::City,
        RegionLevel::District => pb::RegionLevel::District,
        RegionLevel::Street => pb::RegionLevel::Street,
        RegionLevel::Community => pb::RegionLevel::Community,
    };
    pb::Region {
        code: r.code.clone(),
        name: r.name.clone(),
        level: level as i32,
        parent_code: r.parent_code.clone().unwrap_or_default(),
        longitude: r.lon,
        latitude: r.lat,
    }
}

fn parse_code(field: &str, code: &str) -> ServiceResult<RegionCode> {
    RegionCode::parse(code).map_err(|e| ServiceError::invalid(field, e.to_string()))
}

impl Regions {
    fn tree(&self) -> ServiceResult<&RegionTree> {
        self.tree
            .get()
            .ok_or_else(|| ServiceError::Unavailable("服务正在启动，请稍后重试".into()))
    }

    fn get(&self, code: &str) -> ServiceResult<pb::Region> {
        let code = parse_code("code", code)?;
        self.tree()?
            .get(code.as_str())
            .map(to_proto)
            .ok_or_else(|| ServiceError::not_found("区划", code.as_str()))
    }

    fn list(&self, req: pb::ListRegionsRequest) -> ServiceResult<pb::ListRegionsResponse> {
        let tree = self.tree()?;
        let parent = if req.parent_code.is_empty() {
            None
        } else {
            Some(parse_code("parent_code", &req.parent_code)?)
        };
        let limit = page_size(req.page_size, 100, 1000)? as usize;
        let after = decode_page_token(&req.page_token, |code| RegionCode::parse(code).is_ok())?;
        if let Some(parent) = &parent
            && !tree.contains(parent.as_str())
        {
            return Err(ServiceError::not_found("区划", parent.as_str()));
        }
        let parent = parent.as_ref().map(|p| p.as_str()).unwrap_or("");
        let mut rows = tree.children(parent, after.as_deref(), limit + 1);
        let next_page_token = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| encode_page_token(&r.code)).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListRegionsResponse {
            regions: rows.into_iter().map(to_proto).collect(),
            next_page_token,
            tree_version: tree.version().to_string(),
        })
    }

    fn ancestors(&self, code: &str) -> ServiceResult<pb::ListRegionAncestorsResponse> {
        let code = parse_code("code", code)?;
        let chain = self
            .tree()?
            .lineage(code.as_str())
            .ok_or_else(|| ServiceError::not_found("区划", code.as_str()))?;
        Ok(pb::ListRegionAncestorsResponse {
            regions: chain.into_iter().map(to_proto).collect(),
        })
    }
}

#[tonic::async_trait]
impl RegionService for Regions {
    async fn get_region(&self, request: Request<pb::GetRegionRequest>) -> Result<Response<pb::Region>, Status> {
        Ok(Response::new(self.get(&request.into_inner().code)?))
    }

    async fn list_regions(
        &self,
        request: Request<pb::ListRegionsRequest>,
    ) -> Result<Response<pb::ListRegionsResponse>, Status> {
        Ok(Response::new(self.list(request.into_inner())?))
    }

    async fn list_region_ancestors(
        &self,
        request: Request<pb::ListRegionAncestorsRequest>,
    ) -> Result<Response<pb::ListRegionAncestorsResponse>, Status> {
        Ok(Response::new(self.ancestors(&request.into_inner().code)?))
    }
}
