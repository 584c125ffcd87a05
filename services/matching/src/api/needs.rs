//! NeedService: residents' needs from submission to evaluation, with a public
//! note on every change and a deadline per category. Every need leaves here
//! through [`view`], as the caller may see it (`domain::visibility`,
//! docs/needs-privacy.md).

use super::{Matching, caller, community_side, location, timestamp};
use crate::domain::geo::valid_position;
use crate::domain::lifecycle::MatchState;
use crate::domain::need::{self, Actor, NeedAction, NeedState};
use crate::domain::visibility::{self, Position, Relation, Visibility};
use crate::store::{self, needs::Need, needs::StatusChange, page};
use chrono::Utc;
use kit::auth::{Principal, Role};
use kit::{ServiceError, ServiceResult};
use sanshi_proto::matching::v1 as pb;
use sanshi_proto::matching::v1::need_service_server::NeedService;
use std::sync::Arc;
use tonic::{Request, Response, Status};

const MAX_MEDIA: usize = 9;

/// Admins who issue channel keys for their regions.
const CHANNEL_ADMINS: [Role; 3] = [Role::CityAdmin, Role::DistrictAdmin, Role::StreetAdmin];

/// Roles that see a region's needs in some form (docs/needs-privacy.md):
/// community workers and admins whole, auditors the handling, residents a
/// summary. Not reviewers: qualification review does not need residents'
/// needs (matching's `REGION_VIEWERS` is for communities, matches and teams).
const NEED_REGION_ROLES: [Role; 6] = [
    Role::CommunityWorker,
    Role::StreetAdmin,
    Role::DistrictAdmin,
    Role::CityAdmin,
    Role::Auditor,
    Role::Resident,
];

/// Roles that may list needs at all: the region's, professionals (the needs
/// assigned to them) and platform services.
const NEED_LISTERS: [Role; 8] = [
    Role::CommunityWorker,
    Role::StreetAdmin,
    Role::DistrictAdmin,
    Role::CityAdmin,
    Role::Auditor,
    Role::Resident,
    Role::Professional,
    Role::Service,
];

fn key_hash(key: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn key_to_proto(k: &store::channels::ChannelKey, key: String) -> pb::ChannelKey {
    pb::ChannelKey {
        id: k.id.clone(),
        name: k.name.clone(),
        region_code: k.region_code.clone(),
        key,
        created_by_account_id: k.created_by.clone(),
        create_time: Some(timestamp(k.created_at)),
        revoke_time: k.revoked_at.map(timestamp),
    }
}

impl Matching {
    async fn issue_key(&self, caller: &Principal, req: pb::IssueChannelKeyRequest) -> ServiceResult<pb::ChannelKey> {
        let name = req.name.trim();
        let mut v = kit::error::Violations::default();
        if name.is_empty() || name.chars().count() > 64 {
            v.add("name", "请填写接入渠道名称（不超过 64 个字）");
        }
        let region = v.check("region_code", kit::region::RegionCode::parse(req.region_code.trim()));
        v.into_result()?;
        let region = region.ok_or_else(|| ServiceError::invalid("region_code", "区划代码无效"))?;
        caller.require(&CHANNEL_ADMINS, &region)?;
        let key: String = format!(
            "sk_{}",
            (0..24)
                .map(|_| format!("{:02x}", rand::random::<u8>()))
                .collect::<String>()
        );
        let record = store::channels::ChannelKey {
            id: uuid::Uuid::now_v7().to_string(),
            name: name.to_string(),
            region_code: region.to_string(),
            created_by: caller.account_id.clone(),
            created_at: Utc::now(),
            revoked_at: None,
        };
        store::channels::insert(&self.db, &record, &key_hash(&key)).await?;
        tracing::info!(channel_key_id = %record.id, region = %record.region_code, "channel key issued");
        Ok(key_to_proto(&record, key))
    }

    /// The request's caller: a channel, when it gives its key, acts as a
    /// resident of its region; otherwise the bearer token's principal.
    pub async fn caller_or_channel<T>(&self, request: &Request<T>, channel_key: &str) -> ServiceResult<Principal> {
        if channel_key.is_empty() {
            return caller(request);
        }
        let key = store::channels::by_hash(&self.db, &key_hash(channel_key.trim()))
            .await?
            .ok_or_else(|| ServiceError::Unauthenticated("接入密钥无效或已撤销".into()))?;
        let region = kit::region::RegionCode::parse(&key.region_code)
            .map_err(|_| ServiceError::internal(anyhow::anyhow!("stored channel region is malformed")))?;
        Ok(Principal {
            account_id: key.id.clone(),
            username: key.name.clone(),
            kind: kit::auth::PrincipalKind::Service,
            roles: vec![(Role::Resident, kit::region::Scope::Region(region))],
            token: String::new(),
        })
    }
}

pub fn state_to_proto(s: NeedState) -> i32 {
    use pb::NeedState as P;
    (match s {
        NeedState::Submitted => P::Submitted,
        NeedState::Triaged => P::Triaged,
        NeedState::Assigned => P::Assigned,
        NeedState::InProgress => P::InProgress,
        NeedState::Resolved => P::Resolved,
        NeedState::ClosedNotResolved => P::ClosedNotResolved,
        NeedState::Duplicate => P::Duplicate,
        NeedState::NotApplicable => P::NotApplicable,
        NeedState::Reopened => P::Reopened,
    }) as i32
}

fn state_from_proto(v: i32) -> Option<NeedState> {
    NeedState::ALL.into_iter().find(|s| state_to_proto(*s) == v)
}

fn action_to_proto(a: Option<NeedAction>) -> i32 {
    use pb::NeedAction as P;
    (match a {
        None => P::Unspecified,
        Some(NeedAction::Triage) => P::Triage,
        Some(NeedAction::Assign) => P::Assign,
        Some(NeedAction::Start) => P::Start,
        Some(NeedAction::Resolve) => P::Resolve,
        Some(NeedAction::CloseNotResolved) => P::CloseNotResolved,
        Some(NeedAction::MarkDuplicate) => P::MarkDuplicate,
        Some(NeedAction::MarkNotApplicable) => P::MarkNotApplicable,
        Some(NeedAction::Reopen) => P::Reopen,
    }) as i32
}

fn action_from_proto(v: i32) -> Option<NeedAction> {
    use pb::NeedAction as P;
    Some(match P::try_from(v).ok()? {
        P::Unspecified => return None,
        P::Triage => NeedAction::Triage,
        P::Assign => NeedAction::Assign,
        P::Start => NeedAction::Start,
        P::Resolve => NeedAction::Resolve,
        P::CloseNotResolved => NeedAction::CloseNotResolved,
        P::MarkDuplicate => NeedAction::MarkDuplicate,
        P::MarkNotApplicable => NeedAction::MarkNotApplicable,
        P::Reopen => NeedAction::Reopen,
    })
}

fn valid_media_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 512
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn change_to_proto(h: StatusChange) -> pb::NeedStatusChange {
    pb::NeedStatusChange {
        from_state: state_to_proto(h.from),
        to_state: state_to_proto(h.to),
        action: action_to_proto(h.action),
        note: h.note,
        actor_account_id: h.actor_id,
        change_time: Some(timestamp(h.at)),
    }
}

/// Need `n` whole, with `history`: what leaves the service only through [`view`].
pub fn need_proto(n: &Need, history: Vec<pb::NeedStatusChange>) -> pb::Need {
    pb::Need {
        id: n.id.clone(),
        community_code: n.community_code.clone(),
        category_code: n.category_code.clone(),
        description: n.description.clone(),
        location: n.location.map(|(lon, lat)| location(lon, lat)),
        address: n.address.clone(),
        media_urls: n.media_urls.clone(),
        contact_consent: n.contact_consent,
        submitter_account_id: n.submitter_id.clone(),
        state: state_to_proto(n.state),
        status_note: n.status_note.clone(),
        agency_responsible: n.agency_responsible.clone(),
        assigned_professional_account_id: n.professional_id.clone(),
        assigned_team_id: n.team_id.clone(),
        duplicate_of: n.duplicate_of.clone(),
        request_time: Some(timestamp(n.requested_at)),
        update_time: Some(timestamp(n.updated_at)),
        expected_time: Some(timestamp(n.expected_at)),
        overdue: need::is_overdue(n.state, n.expected_at, Utc::now()),
        satisfaction: n.satisfaction,
        evaluation_comment: n.evaluation_comment.clone(),
        history,
        origin_peer: n.origin.peer.clone(),
        origin_request_id: n.origin.request_id.clone(),
        origin_community_code: n.origin.community_code.clone(),
        origin_community_name: n.origin.community_name.clone(),
        title: n.origin.title.clone(),
        wanted_profession: n.origin.profession.clone(),
        wanted_specialty: n.origin.specialty.clone(),
    }
}

/// A whole need as a caller with visibility `v` sees it: the contract side
/// of `domain::visibility`, field by field. Destructured without `..`, so
/// that a new field of `Need` does not compile until it is placed here (and
/// in the matrix).
pub fn view(n: pb::Need, v: Visibility) -> pb::Need {
    fn keep<T: Default>(shown: bool, value: T) -> T {
        if shown { value } else { T::default() }
    }
    let pb::Need {
        id,
        community_code,
        category_code,
        description,
        location,
        address,
        media_urls,
        contact_consent,
        submitter_account_id,
        state,
        status_note,
        agency_responsible,
        assigned_professional_account_id,
        assigned_team_id,
        duplicate_of,
        request_time,
        update_time,
        expected_time,
        overdue,
        satisfaction,
        evaluation_comment,
        history,
        origin_peer,
        origin_community_code,
        origin_community_name,
        title,
        wanted_profession,
        wanted_specialty,
        origin_request_id,
    } = n;
    let history = if v.history {
        history
            .into_iter()
            .map(|mut h| {
                // The submitter's own changes (submission, reopening) would name them.
                let by_submitter = !h.actor_account_id.is_empty() && h.actor_account_id == submitter_account_id;
                if !v.history_actors || (by_submitter && !v.submitter) {
                    h.actor_account_id.clear();
                }
                if !v.status_notes {
                    h.note.clear();
                }
                h
            })
            .collect()
    } else {
        Vec::new()
    };
    let location = match v.position {
        Position::Exact => location,
        Position::StreetLevel => location.map(|l| {
            let (longitude, latitude) = visibility::street_level(l.longitude, l.latitude);
            pb::Location { longitude, latitude }
        }),
        Position::Hidden => None,
    };
    pb::Need {
        id,
        community_code: keep(v.place, community_code),
        category_code,
        description: keep(v.description, description),
        location,
        address: keep(v.address, address),
        media_urls: keep(v.media, media_urls),
        contact_consent: keep(v.submitter, contact_consent),
        submitter_account_id: keep(v.submitter, submitter_account_id),
        state,
        status_note: keep(v.status_notes, status_note),
        agency_responsible: keep(v.place, agency_responsible),
        assigned_professional_account_id: keep(v.assignee, assigned_professional_account_id),
        assigned_team_id: keep(v.assignee, assigned_team_id),
        duplicate_of: keep(v.duplicate_of, duplicate_of),
        request_time,
        update_time,
        expected_time: keep(v.deadline, expected_time),
        overdue: keep(v.overdue, overdue),
        satisfaction: keep(v.satisfaction, satisfaction),
        evaluation_comment: keep(v.evaluation_comment, evaluation_comment),
        history,
        origin_peer: keep(v.origin, origin_peer),
        origin_community_code: keep(v.origin, origin_community_code),
        origin_community_name: keep(v.origin, origin_community_name),
        title: keep(v.origin, title),
        wanted_profession: keep(v.origin, wanted_profession),
        wanted_specialty: keep(v.origin, wanted_specialty),
        origin_request_id: keep(v.origin, origin_request_id),
    }
}

/// How a caller in the capacities `actors` (of [`Matching::actors`]) stands
/// to need `n`.
fn relations_of(caller: &Principal, n: &Need, actors: &[Actor]) -> Vec<Relation> {
    let mut relations: Vec<Relation> = actors
        .iter()
        .map(|a| match a {
            Actor::Community => Relation::Handler,
            Actor::Assignee => Relation::Assignee {
                contact_consent: n.contact_consent,
            },
            Actor::Submitter => Relation::Submitter,
        })
        .collect();
    if caller.is_service() {
        relations.push(Relation::Service);
    }
    if caller.acts_for(&[Role::Auditor], &n.community_code) {
        relations.push(Relation::Auditor);
    }
    if caller.acts_for(&[Role::Resident], &n.community_code) {
        relations.push(Relation::Neighbour);
    }
    relations
}

/// The ListNeeds filters shared by the caller's and the public lists.
fn list_criteria(req: &pb::ListNeedsRequest) -> ServiceResult<(Option<NeedState>, String)> {
    let state = match req.state {
        0 => None,
        v => Some(state_from_proto(v).ok_or_else(|| ServiceError::invalid("state", "未知的需求状态"))?),
    };
    if !req.category_code.is_empty() && need::category(&req.category_code).is_none() {
        return Err(ServiceError::invalid("category_code", "未知的需求类别"));
    }
    Ok((state, req.category_code.clone()))
}

impl Matching {
    async fn need_to_proto(&self, n: &Need, with_history: bool) -> ServiceResult<pb::Need> {
        let history = if with_history {
            store::needs::history(&self.db, &n.id)
                .await?
                .into_iter()
                .map(change_to_proto)
                .collect()
        } else {
            Vec::new()
        };
        Ok(need_proto(n, history))
    }

    async fn load_need(&self, id: &str) -> ServiceResult<Need> {
        store::needs::find(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("需求", id))
    }

    /// Every capacity in which the caller acts on need `n`.
    async fn actors(&self, caller: &Principal, n: &Need) -> ServiceResult<Vec<Actor>> {
        let mut actors = Vec::new();
        if community_side(caller, &n.community_code) {
            actors.push(Actor::Community);
        }
        let team_member =
            !n.team_id.is_empty() && store::teams::is_member(&self.db, &n.team_id, &caller.account_id).await?;
        if (!n.professional_id.is_empty() && n.professional_id == caller.account_id) || team_member {
            actors.push(Actor::Assignee);
        }
        if n.submitter_id == caller.account_id {
            actors.push(Actor::Submitter);
        }
        Ok(actors)
    }

    /// Every way the caller stands to need `n` (`domain::visibility`).
    async fn relations(&self, caller: &Principal, n: &Need) -> ServiceResult<Vec<Relation>> {
        Ok(relations_of(caller, n, &self.actors(caller, n).await?))
    }

    /// What the caller sees of need `n`; PERMISSION_DENIED when nothing.
    async fn visibility_for(&self, caller: &Principal, n: &Need) -> ServiceResult<Visibility> {
        visibility::visibility(&self.relations(caller, n).await?).ok_or_else(ServiceError::permission_denied)
    }

    async fn submit_need(&self, caller: &Principal, req: pb::SubmitNeedRequest) -> ServiceResult<pb::Need> {
        let mut v = kit::error::Violations::new();
        let code = super::community_code("community_code", &req.community_code);
        let category = need::category(req.category_code.trim()).filter(|c| c.code != need::FEDERATION.code);
        if category.is_none() {
            v.add("category_code", "未知的需求类别");
        }
        let description = req.description.trim().to_string();
        if !(5..=2000).contains(&description.chars().count()) {
            v.add("description", "需求描述应为 5 到 2000 个字");
        }
        let position = match req.location {
            Some(l) if valid_position(l.longitude, l.latitude) => Some((l.longitude, l.latitude)),
            Some(_) => {
                v.add("location", "经纬度无效");
                None
            }
            None => None,
        };
        let address = req.address.trim().to_string();
        if address.chars().count() > 256 {
            v.add("address", "地址不超过 256 个字");
        }
        if req.media_urls.len() > MAX_MEDIA {
            v.add("media_urls", format!("照片最多 {MAX_MEDIA} 张"));
        }
        for (i, url) in req.media_urls.iter().enumerate() {
            if !valid_media_url(url) {
                v.add(format!("media_urls[{i}]"), "照片地址应为 http(s) 链接");
            }
        }
        let code = match code {
            Ok(code) => Some(code),
            Err(ServiceError::InvalidArgument(list)) => {
                for f in list {
                    v.add(f.field, f.description);
                }
                None
            }
            Err(e) => return Err(e),
        };
        v.into_result()?;
        let (Some(code), Some(category)) = (code, category) else {
            return Err(ServiceError::invalid("community_code", "社区代码无效"));
        };
        // Residents submit for their own community; its workers and admins for residents.
        if !caller.covers(
            &[
                Role::Resident,
                Role::CommunityWorker,
                Role::StreetAdmin,
                Role::DistrictAdmin,
                Role::CityAdmin,
            ],
            &code,
        ) {
            return Err(ServiceError::PermissionDenied("只能为本人所在社区提交需求".into()));
        }
        let community = self.community(code.as_str()).await?;
        let scope = format!("SubmitNeed:{}", caller.account_id);
        let response = self
            .idempotency
            .once(&self.db, scope, &req.request_id, || async {
                let now = Utc::now();
                let n = Need {
                    id: uuid::Uuid::now_v7().to_string(),
                    community_code: community.code.clone(),
                    category_code: category.code.to_string(),
                    description,
                    location: position,
                    address,
                    media_urls: req.media_urls.clone(),
                    contact_consent: req.contact_consent,
                    submitter_id: caller.account_id.clone(),
                    state: NeedState::Submitted,
                    status_note: "已收到您的需求，社区将尽快分拣处理".into(),
                    agency_responsible: format!("{}{}", community.district_name, community.street_name),
                    professional_id: String::new(),
                    team_id: String::new(),
                    duplicate_of: String::new(),
                    requested_at: now,
                    updated_at: now,
                    expected_at: need::expected_at(category, now),
                    satisfaction: 0,
                    evaluation_comment: String::new(),
                    origin: Default::default(),
                };
                let txn = kit::db::begin(&self.db).await?;
                let change = insert_submitted(&txn, &n).await?;
                let response = need_proto(&n, vec![change_to_proto(change)]);
                Ok((response, txn))
            })
            .await?;
        self.events.notify();
        tracing::info!(need_id = %response.id, community = %community.code, "need submitted");
        // A retry answers the stored response: shown, like any need, as the
        // caller may see it now.
        let n = self.load_need(&response.id).await?;
        Ok(view(response, self.visibility_for(caller, &n).await?))
    }

    async fn get_need(&self, caller: &Principal, id: &str) -> ServiceResult<pb::Need> {
        let n = self.load_need(id).await?;
        let v = self.visibility_for(caller, &n).await?;
        Ok(view(self.need_to_proto(&n, true).await?, v))
    }

    /// A need's public summary, for anyone: only inside the division the
    /// request names (NOT_FOUND elsewhere, as for federation needs).
    async fn get_public_need(&self, req: &pb::GetNeedRequest) -> ServiceResult<pb::Need> {
        let region = super::region("region_code", req.region_code.trim())?;
        let id = req.id.trim();
        let n = self.load_need(id).await?;
        if !n.community_code.starts_with(region.as_str()) || !n.origin.peer.is_empty() {
            return Err(ServiceError::not_found("需求", id));
        }
        Ok(view(
            self.need_to_proto(&n, true).await?,
            visibility::of(Relation::Public),
        ))
    }

    async fn list_needs(&self, caller: &Principal, req: pb::ListNeedsRequest) -> ServiceResult<pb::ListNeedsResponse> {
        caller.require_any(&NEED_LISTERS)?;
        let size = page::size(req.page_size)?;
        let offset = page::offset(&req.page_token)?;
        let (state, category) = list_criteria(&req)?;
        let filter = store::needs::Filter {
            community_prefixes: caller.prefixes(&NEED_REGION_ROLES),
            submitter: Some(caller.account_id.clone()),
            assignee: Some(caller.account_id.clone()),
            region: super::region_filter("region_code", &req.region_code)?,
            state,
            category,
            overdue_at: req.overdue_only.then(Utc::now),
            only_assignee: req.assigned_to_me.then(|| caller.account_id.clone()),
            ..Default::default()
        };
        let fetched = store::needs::list(&self.db, &filter, offset, size).await?;
        let next = page::next(offset, size, fetched.len());
        let mut needs = Vec::new();
        for n in fetched.iter().take(size as usize) {
            // The filter lists only needs the caller stands to; each is shown as they may see it.
            let Some(v) = visibility::visibility(&self.relations(caller, n).await?) else {
                continue;
            };
            needs.push(view(self.need_to_proto(n, false).await?, v));
        }
        Ok(pb::ListNeedsResponse {
            needs,
            next_page_token: next,
        })
    }

    /// Public summaries of a division's residents' needs, for anyone
    /// (Open311's unauthenticated reads): the division must be named, and
    /// only the last 90 days' needs are listed, a bounded page at a time and
    /// a bounded number in all.
    async fn list_public_needs(&self, req: pb::ListNeedsRequest) -> ServiceResult<pb::ListNeedsResponse> {
        let region = super::region("region_code", req.region_code.trim())?;
        let offset = page::offset(&req.page_token)?;
        let size = visibility::public_page(offset, page::size(req.page_size)?);
        let (state, category) = list_criteria(&req)?;
        if size == 0 {
            return Ok(pb::ListNeedsResponse::default());
        }
        let now = Utc::now();
        let filter = store::needs::Filter {
            community_prefixes: vec![region.to_string()],
            region: region.to_string(),
            state,
            category,
            overdue_at: req.overdue_only.then_some(now),
            requested_after: Some(visibility::public_since(now)),
            without_federation: true,
            ..Default::default()
        };
        let fetched = store::needs::list(&self.db, &filter, offset, size).await?;
        let next = if offset + size < visibility::PUBLIC_MAX_RESULTS {
            page::next(offset, size, fetched.len())
        } else {
            String::new()
        };
        let public = visibility::of(Relation::Public);
        let mut needs = Vec::new();
        for n in fetched.iter().take(size as usize) {
            needs.push(view(self.need_to_proto(n, false).await?, public));
        }
        Ok(pb::ListNeedsResponse {
            needs,
            next_page_token: next,
        })
    }

    /// Checks an ASSIGN target: a professional actively matched with the
    /// community, or a team of the community or a region containing it.
    async fn check_assignee(&self, n: &Need, professional: &str, team: &str) -> ServiceResult<()> {
        match (professional.is_empty(), team.is_empty()) {
            // Another province's request: any active professional who consented to federation.
            (false, true) if !n.origin.peer.is_empty() => {
                let eligible = store::professionals::find(&self.db, professional)
                    .await?
                    .is_some_and(|p| p.status == store::professionals::Status::Active && p.federation_consent);
                if !eligible {
                    return Err(ServiceError::FailedPrecondition(
                        "跨省支援只能派给资格有效且同意跨省展示的专业人员".into(),
                    ));
                }
            }
            (false, true) => {
                let matched = store::matches::open_for_pair(&self.db, &n.community_code, professional)
                    .await?
                    .is_some_and(|m| m.state == MatchState::Active);
                if !matched {
                    return Err(ServiceError::FailedPrecondition(
                        "只能派给与本社区已建立匹配的专业人员".into(),
                    ));
                }
            }
            (true, false) => {
                let team = store::teams::find(&self.db, team)
                    .await?
                    .ok_or_else(|| ServiceError::not_found("团队", team))?;
                if !n.community_code.starts_with(team.region_code.as_str()) {
                    return Err(ServiceError::FailedPrecondition("该团队不负责本社区".into()));
                }
            }
            _ => {
                return Err(ServiceError::invalid(
                    "assignee_professional_account_id",
                    "请指定一名专业人员或一个团队（二选一）",
                ));
            }
        }
        Ok(())
    }

    async fn update_status(&self, caller: &Principal, req: pb::UpdateNeedStatusRequest) -> ServiceResult<pb::Need> {
        let action = action_from_proto(req.action).ok_or_else(|| ServiceError::invalid("action", "请选择操作"))?;
        // Without a key, a retry is recognised by the need's history.
        if req.request_id.is_empty()
            && let Some(answer) = self.repeated_change(caller, &req, action).await?
        {
            return Ok(answer);
        }
        // A retry finds the stored response before the state check, which it
        // would now fail. The caller is part of the scope: another caller's
        // request with the same key is another request, never a replay.
        let scope = format!("UpdateNeedStatus:{}:{}", req.id, caller.account_id);
        let mut response = self
            .idempotency
            .once(&self.db, scope, &req.request_id, || {
                self.change_status(caller, &req, action)
            })
            .await?;
        self.events.notify();
        // The history includes this change once committed; the answer shows
        // what the caller may see now.
        let n = self.load_need(&req.id).await?;
        let v = self.visibility_for(caller, &n).await?;
        response.history = self.need_to_proto(&n, true).await?.history;
        Ok(view(response, v))
    }

    /// The need as the caller sees it when `req` repeats its newest change
    /// (`need::repeats`): a retry whose answer was lost, applied nothing again.
    /// None otherwise, and for whoever could not make the change: the change
    /// itself answers them.
    async fn repeated_change(
        &self,
        caller: &Principal,
        req: &pb::UpdateNeedStatusRequest,
        action: NeedAction,
    ) -> ServiceResult<Option<pb::Need>> {
        let n = self.load_need(&req.id).await?;
        let actors = self.actors(caller, &n).await?;
        let Some(v) = visibility::visibility(&relations_of(caller, &n, &actors)) else {
            return Ok(None);
        };
        if !actors.iter().any(|a| need::allowed(action, *a)) {
            return Ok(None);
        }
        let same_target = match action {
            NeedAction::Assign => {
                req.assignee_professional_account_id.trim() == n.professional_id
                    && req.assignee_team_id.trim() == n.team_id
            }
            NeedAction::MarkDuplicate => req.duplicate_of.trim() == n.duplicate_of,
            _ => true,
        };
        let history = store::needs::history(&self.db, &n.id).await?;
        let repeated = {
            let past: Vec<need::PastChange> = history
                .iter()
                .map(|h| need::PastChange {
                    action: h.action,
                    actor: &h.actor_id,
                    note: &h.note,
                    to: h.to,
                    at: h.at,
                })
                .collect();
            let asked = need::Asked {
                action,
                actor: &caller.account_id,
                note: &req.note,
                same_target,
            };
            need::repeats(&past, n.state, &asked, Utc::now())
        };
        if !repeated {
            return Ok(None);
        }
        let history = history.into_iter().map(change_to_proto).collect();
        Ok(Some(view(need_proto(&n, history), v)))
    }

    async fn change_status(
        &self,
        caller: &Principal,
        req: &pb::UpdateNeedStatusRequest,
        action: NeedAction,
    ) -> ServiceResult<(pb::Need, sea_orm::DatabaseTransaction)> {
        let mut n = self.load_need(&req.id).await?;
        let actors = self.actors(caller, &n).await?;
        // Who does not see the need learns nothing of it; who sees it but may
        // not act is told so by the transition check.
        if visibility::visibility(&relations_of(caller, &n, &actors)).is_none() {
            return Err(ServiceError::permission_denied());
        }
        let before = n.state;
        let to = need::transition(before, action, &actors, &req.note).map_err(|e| match e {
            need::NeedError::NoteRequired | need::NeedError::NoteTooLong => {
                ServiceError::invalid("note", e.to_string())
            }
            need::NeedError::NotAllowed(_) => ServiceError::PermissionDenied(e.to_string()),
            need::NeedError::IllegalTransition(..) => ServiceError::FailedPrecondition(e.to_string()),
        })?;
        match action {
            NeedAction::Assign => {
                let (p, t) = (req.assignee_professional_account_id.trim(), req.assignee_team_id.trim());
                self.check_assignee(&n, p, t).await?;
                n.professional_id = p.to_string();
                n.team_id = t.to_string();
            }
            NeedAction::MarkDuplicate => {
                let original = self
                    .load_need(req.duplicate_of.trim())
                    .await
                    .map_err(|_| ServiceError::invalid("duplicate_of", "请填写本社区内被重复的需求编号"))?;
                if original.id == n.id || original.community_code != n.community_code {
                    return Err(ServiceError::invalid("duplicate_of", "请填写本社区内被重复的需求编号"));
                }
                n.duplicate_of = original.id;
            }
            NeedAction::Reopen => {
                n.satisfaction = 0;
                n.evaluation_comment.clear();
            }
            _ => {}
        }
        let now = Utc::now();
        n.state = to;
        n.status_note = req.note.trim().to_string();
        n.updated_at = now;
        let txn = kit::db::begin(&self.db).await?;
        {
            if !store::needs::update(&txn, &n, before).await? {
                return Err(ServiceError::FailedPrecondition("该需求已被他人处理，请刷新".into()));
            }
            let change = StatusChange {
                from: before,
                to,
                action: Some(action),
                note: n.status_note.clone(),
                actor_id: caller.account_id.clone(),
                at: now,
            };
            store::needs::add_history(&txn, &n.id, &change).await?;
            if action == NeedAction::Assign {
                let payload = pb::NeedAssigned {
                    need_id: n.id.clone(),
                    community_code: n.community_code.clone(),
                    category_code: n.category_code.clone(),
                    professional_account_id: n.professional_id.clone(),
                    team_id: n.team_id.clone(),
                    expected_time: Some(timestamp(n.expected_at)),
                };
                kit::events::publish(&txn, super::PRODUCER, "need", &n.id, &payload).await?;
            }
            if matches!(to, NeedState::Resolved | NeedState::ClosedNotResolved) {
                let payload = pb::NeedResolved {
                    need_id: n.id.clone(),
                    community_code: n.community_code.clone(),
                    professional_account_id: n.professional_id.clone(),
                    team_id: n.team_id.clone(),
                    state: state_to_proto(to),
                    resolve_time: Some(timestamp(now)),
                };
                kit::events::publish(&txn, super::PRODUCER, "need", &n.id, &payload).await?;
            }
        }
        tracing::info!(need_id = %n.id, action = action.as_str(), state = to.as_str(), "need status changed");
        Ok((self.need_to_proto(&n, false).await?, txn))
    }

    async fn evaluate(&self, caller: &Principal, req: pb::EvaluateNeedRequest) -> ServiceResult<pb::Need> {
        let mut n = self.load_need(&req.id).await?;
        if n.submitter_id != caller.account_id {
            return Err(ServiceError::PermissionDenied("只有需求提交人可以评价".into()));
        }
        if !(1..=5).contains(&req.satisfaction) {
            return Err(ServiceError::invalid("satisfaction", "满意度应为 1 到 5 星"));
        }
        let comment = req.comment.trim().to_string();
        if comment.chars().count() > 500 {
            return Err(ServiceError::invalid("comment", "评价不超过 500 个字"));
        }
        // A retried evaluation: the need as it is, announced once.
        if need::evaluation_repeats(n.satisfaction, &n.evaluation_comment, req.satisfaction, &comment) {
            let v = self.visibility_for(caller, &n).await?;
            return Ok(view(self.need_to_proto(&n, true).await?, v));
        }
        if !need::can_evaluate(n.state) {
            return Err(ServiceError::FailedPrecondition("需求办结后才能评价".into()));
        }
        if n.satisfaction != 0 {
            return Err(ServiceError::FailedPrecondition("您已评价过该需求".into()));
        }
        n.satisfaction = req.satisfaction;
        n.evaluation_comment = comment;
        n.updated_at = Utc::now();
        let txn = kit::db::begin(&self.db).await?;
        if !store::needs::update(&txn, &n, n.state).await? {
            return Err(ServiceError::FailedPrecondition("该需求状态已变化，请刷新".into()));
        }
        let payload = pb::NeedEvaluated {
            need_id: n.id.clone(),
            community_code: n.community_code.clone(),
            professional_account_id: n.professional_id.clone(),
            satisfaction: n.satisfaction,
        };
        kit::events::publish(&txn, super::PRODUCER, "need", &n.id, &payload).await?;
        txn.commit().await?;
        self.events.notify();
        let v = self.visibility_for(caller, &n).await?;
        Ok(view(self.need_to_proto(&n, true).await?, v))
    }
}

/// Stores a new need with its first history entry (by its submitter) and
/// announces it (`NeedSubmitted`), in `txn`; the entry.
pub async fn insert_submitted(txn: &sea_orm::DatabaseTransaction, n: &Need) -> ServiceResult<StatusChange> {
    store::needs::insert(txn, n).await?;
    let change = StatusChange {
        from: NeedState::Submitted,
        to: NeedState::Submitted,
        action: None,
        note: n.status_note.clone(),
        actor_id: n.submitter_id.clone(),
        at: n.requested_at,
    };
    store::needs::add_history(txn, &n.id, &change).await?;
    let payload = pb::NeedSubmitted {
        need_id: n.id.clone(),
        community_code: n.community_code.clone(),
        category_code: n.category_code.clone(),
        submitter_account_id: n.submitter_id.clone(),
    };
    kit::events::publish(txn, super::PRODUCER, "need", &n.id, &payload).await?;
    Ok(change)
}

pub fn categories() -> pb::ListNeedCategoriesResponse {
    pb::ListNeedCategoriesResponse {
        categories: need::CATEGORIES
            .iter()
            .map(|c| pb::NeedCategory {
                code: c.code.into(),
                name: c.name.into(),
                description: c.description.into(),
                sla_days: c.sla_days as i32,
                specialties: c.specialties.iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
    }
}

pub struct Needs(pub Arc<Matching>);

#[tonic::async_trait]
impl NeedService for Needs {
    /// Public: the categories are Open311's service list.
    async fn list_need_categories(
        &self,
        _: Request<pb::ListNeedCategoriesRequest>,
    ) -> Result<Response<pb::ListNeedCategoriesResponse>, Status> {
        Ok(Response::new(categories()))
    }

    async fn issue_channel_key(
        &self,
        request: Request<pb::IssueChannelKeyRequest>,
    ) -> Result<Response<pb::ChannelKey>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.issue_key(&caller, request.into_inner()).await?))
    }

    async fn list_channel_keys(
        &self,
        request: Request<pb::ListChannelKeysRequest>,
    ) -> Result<Response<pb::ListChannelKeysResponse>, Status> {
        let caller = caller(&request)?;
        caller.require_any(&CHANNEL_ADMINS)?;
        let keys = store::channels::list(&self.0.db, &caller.prefixes(&CHANNEL_ADMINS)).await?;
        Ok(Response::new(pb::ListChannelKeysResponse {
            keys: keys.iter().map(|k| key_to_proto(k, String::new())).collect(),
        }))
    }

    async fn revoke_channel_key(
        &self,
        request: Request<pb::RevokeChannelKeyRequest>,
    ) -> Result<Response<pb::ChannelKey>, Status> {
        let caller = caller(&request)?;
        let id = request.into_inner().id;
        let key = store::channels::find(&self.0.db, id.trim())
            .await?
            .filter(|k| caller.acts_for(&CHANNEL_ADMINS, &k.region_code))
            .ok_or_else(|| ServiceError::not_found("接入密钥", id.trim()))?;
        store::channels::revoke(&self.0.db, &key.id, Utc::now()).await?;
        tracing::info!(channel_key_id = %key.id, actor = %caller.account_id, "channel key revoked");
        let key = store::channels::find(&self.0.db, &key.id)
            .await?
            .ok_or_else(|| ServiceError::not_found("接入密钥", &key.id))?;
        Ok(Response::new(key_to_proto(&key, String::new())))
    }

    async fn submit_need(&self, request: Request<pb::SubmitNeedRequest>) -> Result<Response<pb::Need>, Status> {
        let caller = self
            .0
            .caller_or_channel(&request, &request.get_ref().channel_key)
            .await?;
        Ok(Response::new(self.0.submit_need(&caller, request.into_inner()).await?))
    }

    async fn get_need(&self, request: Request<pb::GetNeedRequest>) -> Result<Response<pb::Need>, Status> {
        // The public summary needs no credentials and is all that is shown.
        if request.get_ref().public_view {
            return Ok(Response::new(self.0.get_public_need(request.get_ref()).await?));
        }
        let caller = self
            .0
            .caller_or_channel(&request, &request.get_ref().channel_key)
            .await?;
        Ok(Response::new(self.0.get_need(&caller, &request.into_inner().id).await?))
    }

    async fn list_needs(
        &self,
        request: Request<pb::ListNeedsRequest>,
    ) -> Result<Response<pb::ListNeedsResponse>, Status> {
        // The public summaries need no credentials and are all that is shown.
        if request.get_ref().public_view {
            return Ok(Response::new(self.0.list_public_needs(request.into_inner()).await?));
        }
        let caller = self
            .0
            .caller_or_channel(&request, &request.get_ref().channel_key)
            .await?;
        Ok(Response::new(self.0.list_needs(&caller, request.into_inner()).await?))
    }

    async fn update_need_status(
        &self,
        request: Request<pb::UpdateNeedStatusRequest>,
    ) -> Result<Response<pb::Need>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0.update_status(&caller, request.into_inner()).await?,
        ))
    }

    async fn evaluate_need(&self, request: Request<pb::EvaluateNeedRequest>) -> Result<Response<pb::Need>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.evaluate(&caller, request.into_inner()).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(actor: &str, note: &str) -> pb::NeedStatusChange {
        pb::NeedStatusChange {
            note: note.into(),
            actor_account_id: actor.into(),
            ..Default::default()
        }
    }

    /// A need with every field set.
    fn whole() -> pb::Need {
        pb::Need {
            id: "n1".into(),
            community_code: "500103003013".into(),
            category_code: "house-safety".into(),
            description: "墙体开裂，电话 13812345678".into(),
            location: Some(location(106.5815, 29.5527)),
            address: "民生路 12 号 302".into(),
            media_urls: vec!["https://img.example.cn/1.jpg".into()],
            contact_consent: true,
            submitter_account_id: "resident-1".into(),
            state: pb::NeedState::InProgress as i32,
            status_note: "专家已到现场".into(),
            agency_responsible: "渝中区解放碑街道".into(),
            assigned_professional_account_id: "pro-1".into(),
            assigned_team_id: "team-1".into(),
            duplicate_of: "n0".into(),
            request_time: Some(prost_types::Timestamp { seconds: 1, nanos: 0 }),
            update_time: Some(prost_types::Timestamp { seconds: 2, nanos: 0 }),
            expected_time: Some(prost_types::Timestamp { seconds: 3, nanos: 0 }),
            overdue: true,
            satisfaction: 4,
            evaluation_comment: "王工很耐心".into(),
            history: vec![change("resident-1", "已收到"), change("worker-1", "已受理")],
            origin_peer: "sichuan".into(),
            origin_community_code: "510104020001".into(),
            origin_community_name: "书院街社区".into(),
            title: "加装电梯咨询".into(),
            wanted_profession: "planner".into(),
            wanted_specialty: "加装电梯".into(),
            origin_request_id: "sc-1".into(),
        }
    }

    #[test]
    fn the_full_view_changes_nothing() {
        assert_eq!(view(whole(), Visibility::FULL), whole());
    }

    #[test]
    fn the_summary_keeps_nothing_of_the_resident() {
        let s = view(whole(), visibility::of(Relation::Neighbour));
        assert!(s.description.is_empty() && s.address.is_empty() && s.media_urls.is_empty());
        assert!(s.submitter_account_id.is_empty() && !s.contact_consent);
        assert!(s.assigned_professional_account_id.is_empty() && s.assigned_team_id.is_empty());
        assert!(s.evaluation_comment.is_empty() && s.satisfaction == 0);
        assert!(s.origin_peer.is_empty() && s.title.is_empty() && s.origin_request_id.is_empty());
        let at = s.location.as_ref().unwrap();
        assert!((at.longitude - 106.58).abs() < 1e-9 && (at.latitude - 29.55).abs() < 1e-9);
        // What it keeps: category, state, street, public notes, history without names.
        assert_eq!(
            (s.category_code.as_str(), s.state),
            ("house-safety", pb::NeedState::InProgress as i32)
        );
        assert_eq!(s.agency_responsible, "渝中区解放碑街道");
        assert_eq!(s.status_note, "专家已到现场");
        assert_eq!(s.history, [change("", "已收到"), change("", "已受理")]);
        assert_eq!(s, view(whole(), visibility::of(Relation::Public)));
    }

    #[test]
    fn staff_are_named_to_auditors_but_the_submitter_is_not() {
        let a = view(whole(), visibility::of(Relation::Auditor));
        assert_eq!(a.history, [change("", "已收到"), change("worker-1", "已受理")]);
        assert!(a.description.is_empty() && a.submitter_account_id.is_empty());
        assert_eq!(a.assigned_professional_account_id, "pro-1");
        // An assignee without the submitter's consent: the same for names.
        let mut need = whole();
        need.contact_consent = false;
        let p = view(need, visibility::of(Relation::Assignee { contact_consent: false }));
        assert_eq!(p.history, a.history);
        assert_eq!(p.address, "民生路 12 号 302");
        assert!(p.submitter_account_id.is_empty());
    }

    #[test]
    fn the_origin_peer_sees_what_federation_always_answered() {
        let p = view(whole(), visibility::of(Relation::OriginPeer));
        let expected = pb::Need {
            id: "n1".into(),
            community_code: "500103003013".into(),
            category_code: "house-safety".into(),
            description: "墙体开裂，电话 13812345678".into(),
            state: pb::NeedState::InProgress as i32,
            status_note: "专家已到现场".into(),
            // Empty on federation needs: the street office is not theirs.
            agency_responsible: "渝中区解放碑街道".into(),
            request_time: Some(prost_types::Timestamp { seconds: 1, nanos: 0 }),
            update_time: Some(prost_types::Timestamp { seconds: 2, nanos: 0 }),
            expected_time: Some(prost_types::Timestamp { seconds: 3, nanos: 0 }),
            origin_peer: "sichuan".into(),
            origin_community_code: "510104020001".into(),
            origin_community_name: "书院街社区".into(),
            title: "加装电梯咨询".into(),
            wanted_profession: "planner".into(),
            wanted_specialty: "加装电梯".into(),
            origin_request_id: "sc-1".into(),
            ..Default::default()
        };
        assert_eq!(p, expected);
    }
}
