//! `sanshi.federation.v1.FederationService` for other provinces' platforms:
//! every call is admitted by the caller's certificate (peer and allowed
//! operation), audit-logged with the peer's name, and answered from the
//! services' own data through the gateway's service account. What crosses
//! is public profiles and aggregates only.

use super::peers::{Operation, Peer, Peers, Refusal};
use crate::api::rpc::Upstreams;
use crate::api::stats;
use kit::ServiceError;
use sanshi_proto::federation::v1 as pb;
use sanshi_proto::federation::v1::federation_service_server::FederationService;
use sanshi_proto::matching::v1 as matching;
use sanshi_proto::qualification::v1 as qualification;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};

/// What a federation call may use.
pub struct Federation {
    pub peers: Arc<Peers>,
    pub platform: String,
    pub province_code: String,
    pub upstreams: Upstreams,
    pub stats: Arc<stats::Cache>,
    pub tokens: kit::grpc::TokenSource,
    pub watch_poll: Duration,
    /// Open watch streams per peer, and the gateway's shutdown, which ends them.
    pub watches: super::watch::Watches,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// Writes the audit line of a call (and counts it): who, what, and the outcome.
fn audit(peer: &str, operation: Operation, code: tonic::Code) {
    tracing::info!(
        target: "sanshi::audit",
        peer,
        operation = operation.as_str(),
        code = ?code,
        "federation call"
    );
    kit::metrics::add(
        "sanshi_federation_calls_total",
        &[
            ("peer", peer),
            ("operation", operation.as_str()),
            ("code", &format!("{code:?}")),
        ],
        1.0,
    );
}

/// `result`, audit-logged for `peer`.
fn audited<T>(peer: &Peer, operation: Operation, result: Result<T, Status>) -> Result<Response<T>, Status> {
    let code = result.as_ref().map_or_else(|s| s.code(), |_| tonic::Code::Ok);
    audit(&peer.name, operation, code);
    result.map(Response::new)
}

fn invalid(field: &str, message: &str) -> Status {
    Status::from(ServiceError::invalid(field, message))
}

/// Federation's profession as qualification's filter: (profession, other professions).
fn profession_filter(value: i32) -> Result<(i32, bool), Status> {
    match pb::Profession::try_from(value) {
        Ok(pb::Profession::Unspecified) => Ok((0, false)),
        Ok(pb::Profession::Planner) => Ok((qualification::Profession::Planner as i32, false)),
        Ok(pb::Profession::Architect) => Ok((qualification::Profession::Architect as i32, false)),
        Ok(pb::Profession::Engineer) => Ok((qualification::Profession::Engineer as i32, false)),
        Ok(pb::Profession::Other) => Ok((0, true)),
        Err(_) => Err(invalid("profession", "未知的专业类别")),
    }
}

fn profession_of(value: i32) -> i32 {
    (match qualification::Profession::try_from(value) {
        Ok(qualification::Profession::Unspecified) | Err(_) => pb::Profession::Unspecified,
        Ok(qualification::Profession::Planner) => pb::Profession::Planner,
        Ok(qualification::Profession::Architect) => pb::Profession::Architect,
        Ok(qualification::Profession::Engineer) => pb::Profession::Engineer,
        Ok(_) => pb::Profession::Other,
    }) as i32
}

pub fn expert(e: matching::PublicExpert, province_code: &str) -> pb::Expert {
    pb::Expert {
        id: e.id,
        name: e.real_name,
        profession: profession_of(e.profession),
        specialties: e.specialties,
        stars: e.stars,
        district_code: e.district_code,
        district_name: e.district_name,
        teams: e.team_names,
        province_code: province_code.to_string(),
    }
}

fn support_state(need_state: i32) -> pb::SupportState {
    use matching::NeedState as N;
    match N::try_from(need_state) {
        Ok(N::Assigned | N::InProgress) => pb::SupportState::Assigned,
        Ok(N::Resolved) => pb::SupportState::Resolved,
        Ok(N::ClosedNotResolved | N::Duplicate | N::NotApplicable) => pb::SupportState::Declined,
        _ => pb::SupportState::Open,
    }
}

pub fn support_request(n: matching::SupportNeed, province_code: &str) -> pb::SupportRequest {
    let need = n.need.unwrap_or_default();
    let state = support_state(need.state);
    let outcome = match state {
        pb::SupportState::Resolved | pb::SupportState::Declined => need.status_note.clone(),
        _ => String::new(),
    };
    pb::SupportRequest {
        id: need.id,
        request_id: need.origin_request_id,
        state: state as i32,
        community_code: need.origin_community_code,
        community_name: need.origin_community_name,
        title: need.title,
        expert: n.expert.map(|e| expert(e, province_code)),
        outcome,
        create_time: need.request_time,
        update_time: need.update_time,
    }
}

impl Federation {
    /// The calling peer, if its certificate is a configured peer's and it may call `operation`.
    fn admit<T>(&self, request: &Request<T>, operation: Operation) -> Result<Arc<Peer>, Status> {
        let chain = request.peer_certs();
        self.peers
            .admit(chain.as_deref().map(Vec::as_slice), operation)
            .map_err(|refusal| {
                let (peer, status) = match refusal {
                    Refusal::NoCertificate => ("-".to_string(), Status::unauthenticated("需要客户端证书")),
                    Refusal::UnknownPeer => (
                        "-".to_string(),
                        Status::permission_denied("证书不属于任何已登记的对接平台"),
                    ),
                    Refusal::NotAllowed { peer } => (peer, Status::permission_denied("贵平台无权调用此操作")),
                };
                audit(&peer, operation, status.code());
                // Who it was, as far as the connection tells: for following up a refusal.
                let fingerprint = chain
                    .as_ref()
                    .and_then(|c| c.first())
                    .map(|leaf| {
                        use sha2::Digest;
                        sha2::Sha256::digest(leaf.as_ref())
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<String>()
                    })
                    .unwrap_or_default();
                let remote = request.remote_addr().map(|a| a.to_string()).unwrap_or_default();
                tracing::warn!(
                    target: "sanshi::audit",
                    peer,
                    operation = operation.as_str(),
                    certificate_sha256 = fingerprint,
                    remote,
                    "federation call refused"
                );
                status
            })
    }

    pub async fn token(&self) -> Result<String, Status> {
        (self.tokens)().await
    }

    pub fn matching(
        &self,
    ) -> Result<
        matching::federation_support_service_client::FederationSupportServiceClient<kit::grpc::TracedChannel>,
        Status,
    > {
        let channel = self
            .upstreams
            .channels
            .get("sanshi.matching.v1")
            .cloned()
            .ok_or_else(|| Status::unavailable("matching is not configured"))?;
        Ok(matching::federation_support_service_client::FederationSupportServiceClient::new(channel))
    }

    async fn search(&self, req: pb::SearchExpertsRequest) -> Result<pb::SearchExpertsResponse, Status> {
        let (profession, other_professions) = profession_filter(req.profession)?;
        if !(0..=100).contains(&req.page_size) {
            return Err(invalid("page_size", "每页条数应为 0 到 100"));
        }
        if !(0..=5).contains(&req.min_stars) {
            return Err(invalid("min_stars", "星级应为 0 到 5"));
        }
        let token = self.token().await?;
        let page = self
            .matching()?
            .search_public_experts(kit::grpc::with_token(
                matching::SearchPublicExpertsRequest {
                    profession,
                    other_professions,
                    specialty: req.specialty,
                    min_stars: req.min_stars,
                    // The contract's default page.
                    page_size: if req.page_size == 0 { 20 } else { req.page_size },
                    page_token: req.page_token,
                },
                &token,
            ))
            .await?
            .into_inner();
        Ok(pb::SearchExpertsResponse {
            experts: page
                .experts
                .into_iter()
                .map(|e| expert(e, &self.province_code))
                .collect(),
            next_page_token: page.next_page_token,
        })
    }

    async fn programme_stats(&self, req: pb::GetProgrammeStatsRequest) -> Result<pb::ProgrammeStats, Status> {
        let region = match req.region_code.trim() {
            "" => self.province_code.clone(),
            code => code.to_string(),
        };
        if kit::region::RegionCode::parse(&region).is_err() || !region.starts_with(&self.province_code) {
            return Err(invalid("region_code", "请填写本省的行政区划代码"));
        }
        let token = self.token().await?;
        let overview = stats::overview(&self.upstreams, &self.stats, &token, &region).await?;
        let children = stats::by_region(&self.upstreams, &self.stats, &token, &region).await?;
        let mut figures = programme(&overview);
        figures.regions = children.regions.iter().map(programme).collect();
        Ok(figures)
    }

    async fn ask_support(&self, peer: &Peer, req: pb::RequestSupportRequest) -> Result<pb::SupportRequest, Status> {
        let (profession, other_professions) = profession_filter(req.profession)?;
        if !req.community_code.trim().starts_with(&peer.province_code) {
            return Err(invalid("community_code", "社区代码应属于贵省"));
        }
        let token = self.token().await?;
        let need = self
            .matching()?
            .create_support_need(kit::grpc::with_token(
                matching::CreateSupportNeedRequest {
                    origin_peer: peer.name.clone(),
                    request_id: req.request_id,
                    community_code: req.community_code,
                    community_name: req.community_name,
                    title: req.title,
                    description: req.description,
                    profession,
                    other_professions,
                    specialty: req.specialty,
                    region_code: self.province_code.clone(),
                },
                &token,
            ))
            .await?
            .into_inner();
        Ok(support_request(need, &self.province_code))
    }

    async fn get_support(&self, peer: &Peer, id: String) -> Result<pb::SupportRequest, Status> {
        let token = self.token().await?;
        let need = self
            .matching()?
            .get_support_need(kit::grpc::with_token(
                matching::GetSupportNeedRequest {
                    origin_peer: peer.name.clone(),
                    id,
                },
                &token,
            ))
            .await?
            .into_inner();
        Ok(support_request(need, &self.province_code))
    }
}

/// The federation figures of one region's overview (no personal data).
fn programme(o: &sanshi_proto::gateway::v1::StatsOverview) -> pb::ProgrammeStats {
    let approved = |wanted: &dyn Fn(i32) -> bool| -> i64 {
        o.professionals
            .iter()
            .filter(|p| p.state == qualification::ApplicationState::Approved as i32 && wanted(p.profession))
            .map(|p| i64::from(p.count))
            .sum()
    };
    let is = |p: qualification::Profession| move |v: i32| v == p as i32;
    pb::ProgrammeStats {
        region_code: o.region_code.clone(),
        region_name: o.region_name.clone(),
        planners: approved(&is(qualification::Profession::Planner)),
        architects: approved(&is(qualification::Profession::Architect)),
        engineers: approved(&is(qualification::Profession::Engineer)),
        others: approved(&|v| v > qualification::Profession::Engineer as i32),
        communities: i64::from(o.communities),
        communities_served: i64::from(o.communities_with_active_match),
        visits_this_year: i64::from(o.records_this_year),
        regions: Vec::new(),
    }
}

type Watch = super::watch::Stream;

/// The gRPC service over the shared [`Federation`].
pub struct Service(pub Arc<Federation>);

#[tonic::async_trait]
impl FederationService for Service {
    async fn ping(&self, request: Request<pb::PingRequest>) -> Result<Response<pb::PingResponse>, Status> {
        let peer = self.0.admit(&request, Operation::Ping)?;
        let answer = pb::PingResponse {
            platform: self.0.platform.clone(),
            province_code: self.0.province_code.clone(),
            peer: peer.name.clone(),
            time: Some(kit::grpc::timestamp(chrono::Utc::now())),
        };
        audited(&peer, Operation::Ping, Ok(answer))
    }

    async fn search_experts(
        &self,
        request: Request<pb::SearchExpertsRequest>,
    ) -> Result<Response<pb::SearchExpertsResponse>, Status> {
        let peer = self.0.admit(&request, Operation::SearchExperts)?;
        let result = self.0.search(request.into_inner()).await;
        audited(&peer, Operation::SearchExperts, result)
    }

    async fn get_programme_stats(
        &self,
        request: Request<pb::GetProgrammeStatsRequest>,
    ) -> Result<Response<pb::ProgrammeStats>, Status> {
        let peer = self.0.admit(&request, Operation::GetProgrammeStats)?;
        let result = self.0.programme_stats(request.into_inner()).await;
        audited(&peer, Operation::GetProgrammeStats, result)
    }

    async fn request_support(
        &self,
        request: Request<pb::RequestSupportRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let peer = self.0.admit(&request, Operation::RequestSupport)?;
        let result = self.0.ask_support(&peer, request.into_inner()).await;
        audited(&peer, Operation::RequestSupport, result)
    }

    async fn get_support_request(
        &self,
        request: Request<pb::GetSupportRequestRequest>,
    ) -> Result<Response<pb::SupportRequest>, Status> {
        let peer = self.0.admit(&request, Operation::GetSupportRequest)?;
        let result = self.0.get_support(&peer, request.into_inner().id).await;
        audited(&peer, Operation::GetSupportRequest, result)
    }

    type WatchSupportRequestsStream = Watch;

    async fn watch_support_requests(
        &self,
        request: Request<pb::WatchSupportRequestsRequest>,
    ) -> Result<Response<Watch>, Status> {
        let peer = self.0.admit(&request, Operation::WatchSupportRequests)?;
        let stream = super::watch::start(&self.0, &peer.name, request.into_inner().since);
        audited(&peer, Operation::WatchSupportRequests, stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn professions_map_both_ways() {
        assert_eq!(profession_filter(pb::Profession::Other as i32).unwrap(), (0, true));
        assert_eq!(
            profession_filter(pb::Profession::Architect as i32).unwrap(),
            (qualification::Profession::Architect as i32, false)
        );
        assert!(profession_filter(42).is_err());
        assert_eq!(
            profession_of(qualification::Profession::SocialWork as i32),
            pb::Profession::Other as i32
        );
        assert_eq!(
            profession_of(qualification::Profession::Planner as i32),
            pb::Profession::Planner as i32
        );
    }

    #[test]
    fn support_states() {
        use matching::NeedState as N;
        assert_eq!(support_state(N::Triaged as i32), pb::SupportState::Open);
        assert_eq!(support_state(N::InProgress as i32), pb::SupportState::Assigned);
        assert_eq!(support_state(N::Resolved as i32), pb::SupportState::Resolved);
        assert_eq!(support_state(N::NotApplicable as i32), pb::SupportState::Declined);
        let declined = support_request(
            matching::SupportNeed {
                need: Some(matching::Need {
                    state: N::NotApplicable as i32,
                    status_note: "本省暂无合适专家".into(),
                    ..Default::default()
                }),
                expert: None,
            },
            "50",
        );
        assert_eq!(declined.outcome, "本省暂无合适专家");
        assert_eq!(declined.state, pb::SupportState::Declined as i32);
    }
}
