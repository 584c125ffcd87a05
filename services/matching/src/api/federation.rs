//! FederationSupportService: what the gateway's federation port serves other
//! provinces' platforms from matching. Only platform services call it; the
//! gateway names the peer, which it knows from the peer's certificate.

use super::{Matching, caller, profession_from_proto, profession_to_proto};
use crate::domain::need::{self, NeedState};
use crate::domain::visibility::{self, Relation};
use crate::store::{self, needs::Need, needs::Origin, page, professionals::Professional};
use chrono::{DateTime, Utc};
use kit::{ServiceError, ServiceResult};
use sanshi_proto::matching::v1 as pb;
use sanshi_proto::matching::v1::federation_support_service_server::FederationSupportService;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// A professional's id as other provinces see it: stable, and not the
/// account id, so that nothing a peer holds names an account here.
pub fn public_id(account_id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("sanshi-federation-expert:{account_id}").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn wanted_profession(profession: i32, other: bool) -> ServiceResult<String> {
    if other {
        return Ok("other".into());
    }
    match (profession, profession_from_proto(profession)) {
        (0, _) => Ok(String::new()),
        (_, p) if p.is_empty() => Err(ServiceError::invalid("profession", "未知的专业类别")),
        (_, p) => Ok(p),
    }
}

fn peer_name(origin_peer: &str) -> ServiceResult<&str> {
    let peer = origin_peer.trim();
    if peer.is_empty() || peer.len() > 64 {
        return Err(ServiceError::invalid("origin_peer", "请指明发起请求的平台"));
    }
    Ok(peer)
}

impl Matching {
    /// Only the gateway's federation port speaks for peers: another
    /// service's token could name any peer.
    fn require_gateway<T>(&self, request: &Request<T>) -> ServiceResult<()> {
        let caller = caller(request)?;
        caller.require_service()?;
        if caller.username != self.federation_client {
            return Err(ServiceError::PermissionDenied("仅限网关的跨省对接端口调用".into()));
        }
        Ok(())
    }

    pub async fn public_expert(&self, p: &Professional) -> ServiceResult<pb::PublicExpert> {
        let district_code: String = p
            .service_regions
            .first()
            .map(|r| r.chars().take(6).collect())
            .unwrap_or_default();
        let district_name = if district_code.len() == 6 {
            store::communities::district_name(&self.db, &district_code)
                .await?
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::PublicExpert {
            id: public_id(&p.account_id),
            real_name: p.real_name.clone(),
            profession: profession_to_proto(&p.profession),
            specialties: p.specialties.clone(),
            stars: p.star_rating.round() as i32,
            district_code,
            district_name,
            team_names: store::teams::names_of_member(&self.db, &p.account_id).await?,
        })
    }

    async fn search_public(
        &self,
        req: pb::SearchPublicExpertsRequest,
    ) -> ServiceResult<pb::SearchPublicExpertsResponse> {
        let size = page::size(req.page_size)?;
        let offset = page::offset(&req.page_token)?;
        if !(0..=5).contains(&req.min_stars) {
            return Err(ServiceError::invalid("min_stars", "星级应为 0 到 5"));
        }
        let filter = store::professionals::DirectoryFilter {
            profession: wanted_profession(req.profession, false)?,
            other_professions: req.other_professions,
            specialty: req.specialty.trim().to_string(),
            min_stars: req.min_stars,
        };
        let fetched = store::professionals::directory(&self.db, &filter, offset, size).await?;
        let next_page_token = page::next(offset, size, fetched.len());
        let mut experts = Vec::new();
        for p in fetched.iter().take(size as usize) {
            experts.push(self.public_expert(p).await?);
        }
        Ok(pb::SearchPublicExpertsResponse {
            experts,
            next_page_token,
        })
    }

    async fn support_need_to_proto(&self, n: &Need) -> ServiceResult<pb::SupportNeed> {
        let assigned = matches!(
            need::support_state(n.state),
            need::SupportState::Assigned | need::SupportState::Resolved
        );
        let expert = match store::professionals::find(&self.db, &n.professional_id).await? {
            // Shown only while the professional still consents.
            Some(p) if assigned && p.federation_consent => Some(self.public_expert(&p).await?),
            _ => None,
        };
        Ok(pb::SupportNeed {
            need: Some(support_need_proto(n)),
            expert,
        })
    }

    async fn create_support_need(&self, req: pb::CreateSupportNeedRequest) -> ServiceResult<pb::SupportNeed> {
        let mut v = kit::error::Violations::new();
        let peer = match peer_name(&req.origin_peer) {
            Ok(p) => p.to_string(),
            Err(_) => {
                v.add("origin_peer", "请指明发起请求的平台");
                String::new()
            }
        };
        let request_id = req.request_id.trim();
        if request_id.is_empty() || request_id.len() > 128 {
            v.add("request_id", "请提供请求编号（不超过 128 个字符）");
        }
        let community_code = req.community_code.trim();
        if !(community_code.len() == 12 && community_code.bytes().all(|b| b.is_ascii_digit())) {
            v.add("community_code", "社区代码应为 12 位数字");
        }
        let community_name = req.community_name.trim();
        if community_name.is_empty() || community_name.chars().count() > 64 {
            v.add("community_name", "请填写社区名称（不超过 64 个字）");
        }
        let title = req.title.trim();
        if !(2..=64).contains(&title.chars().count()) {
            v.add("title", "标题应为 2 到 64 个字");
        }
        let description = req.description.trim();
        if description.chars().count() > 2000 {
            v.add("description", "说明不超过 2000 个字");
        }
        let specialty = req.specialty.trim();
        if specialty.chars().count() > 32 {
            v.add("specialty", "专业方向不超过 32 个字");
        }
        let profession = wanted_profession(req.profession, req.other_professions).ok();
        if profession.is_none() {
            v.add("profession", "未知的专业类别");
        }
        let region = v.check("region_code", kit::region::RegionCode::parse(req.region_code.trim()));
        v.into_result()?;
        let (Some(profession), Some(region)) = (profession, region) else {
            return Err(ServiceError::invalid("region_code", "区划代码无效"));
        };
        let scope = format!("CreateSupportNeed:{peer}");
        let response = self
            .idempotency
            .once(&self.db, scope, request_id, || async {
                let now = Utc::now();
                let n = Need {
                    id: uuid::Uuid::now_v7().to_string(),
                    community_code: region.to_string(),
                    category_code: need::FEDERATION.code.into(),
                    description: description.to_string(),
                    location: None,
                    address: String::new(),
                    media_urls: Vec::new(),
                    contact_consent: false,
                    submitter_id: format!("federation:{peer}"),
                    state: NeedState::Submitted,
                    status_note: "已收到跨省支援请求，将尽快安排专家".into(),
                    agency_responsible: String::new(),
                    professional_id: String::new(),
                    team_id: String::new(),
                    duplicate_of: String::new(),
                    requested_at: now,
                    updated_at: now,
                    expected_at: need::expected_at(&need::FEDERATION, now),
                    satisfaction: 0,
                    evaluation_comment: String::new(),
                    origin: Origin {
                        peer: peer.clone(),
                        request_id: request_id.to_string(),
                        community_code: community_code.to_string(),
                        community_name: community_name.to_string(),
                        title: title.to_string(),
                        profession: profession.clone(),
                        specialty: specialty.to_string(),
                    },
                };
                let txn = kit::db::begin(&self.db).await?;
                super::needs::insert_submitted(&txn, &n).await?;
                Ok((self.support_need_to_proto(&n).await?, txn))
            })
            .await?;
        self.events.notify();
        tracing::info!(
            need_id = %response.need.as_ref().map(|n| n.id.as_str()).unwrap_or_default(),
            peer,
            "federation support need created"
        );
        Ok(response)
    }

    async fn get_support_need(&self, req: pb::GetSupportNeedRequest) -> ServiceResult<pb::SupportNeed> {
        let peer = peer_name(&req.origin_peer)?;
        let n = store::needs::find_of_origin(&self.db, peer, req.id.trim())
            .await?
            .ok_or_else(|| ServiceError::not_found("支援请求", req.id.trim()))?;
        self.support_need_to_proto(&n).await
    }

    async fn list_support_needs(
        &self,
        req: pb::ListSupportNeedsRequest,
    ) -> ServiceResult<pb::ListSupportNeedsResponse> {
        let peer = peer_name(&req.origin_peer)?;
        let size = page::size(req.page_size)?;
        let after = match req.updated_after {
            None => None,
            Some(t) => Some(
                DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32)
                    .ok_or_else(|| ServiceError::invalid("updated_after", "时间无效"))?,
            ),
        };
        let mut needs = Vec::new();
        for (mut n, change) in store::needs::changes_of_origin(&self.db, peer, after, size).await? {
            // The need as that change left it.
            n.state = change.to;
            n.status_note = change.note;
            n.updated_at = change.at;
            needs.push(self.support_need_to_proto(&n).await?);
        }
        Ok(pb::ListSupportNeedsResponse { needs })
    }
}

/// A support need as its origin peer sees it (`domain::visibility`): its own
/// request with our answer, no account of ours, no history.
fn support_need_proto(n: &Need) -> pb::Need {
    super::needs::view(
        super::needs::need_proto(n, Vec::new()),
        visibility::of(Relation::OriginPeer),
    )
}

pub struct Federation(pub Arc<Matching>);

#[tonic::async_trait]
impl FederationSupportService for Federation {
    async fn search_public_experts(
        &self,
        request: Request<pb::SearchPublicExpertsRequest>,
    ) -> Result<Response<pb::SearchPublicExpertsResponse>, Status> {
        self.0.require_gateway(&request)?;
        Ok(Response::new(self.0.search_public(request.into_inner()).await?))
    }

    async fn create_support_need(
        &self,
        request: Request<pb::CreateSupportNeedRequest>,
    ) -> Result<Response<pb::SupportNeed>, Status> {
        self.0.require_gateway(&request)?;
        Ok(Response::new(self.0.create_support_need(request.into_inner()).await?))
    }

    async fn get_support_need(
        &self,
        request: Request<pb::GetSupportNeedRequest>,
    ) -> Result<Response<pb::SupportNeed>, Status> {
        self.0.require_gateway(&request)?;
        Ok(Response::new(self.0.get_support_need(request.into_inner()).await?))
    }

    async fn list_support_needs(
        &self,
        request: Request<pb::ListSupportNeedsRequest>,
    ) -> Result<Response<pb::ListSupportNeedsResponse>, Status> {
        self.0.require_gateway(&request)?;
        Ok(Response::new(self.0.list_support_needs(request.into_inner()).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_ids_are_stable_and_hide_the_account() {
        let id = public_id("0193-account");
        assert_eq!(id, public_id("0193-account"));
        assert_ne!(id, public_id("0193-other"));
        assert_eq!(id.len(), 32);
    }

    #[test]
    fn wanted_professions() {
        assert_eq!(wanted_profession(0, false).unwrap(), "");
        assert_eq!(wanted_profession(1, false).unwrap(), "planner");
        assert_eq!(wanted_profession(0, true).unwrap(), "other");
        assert!(wanted_profession(99, false).is_err());
    }
}
