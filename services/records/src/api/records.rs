//! RecordService: visit records from submission to scoring.

use super::{REGION_VIEWERS, RecordsService, caller, community_side, prefixes, region, time, timestamp};
use crate::domain::record::{self, CheckIn, Content, STANDARD_SERVICE_TYPES};
use crate::domain::workflow::{self, Action, Actor, Facts, State, WorkflowError};
use crate::store::{self, records::Change, records::Record};
use chrono::{DateTime, Utc};
use kit::auth::{Principal, Role};
use kit::pii::PhoneNumber;
use kit::{ServiceError, ServiceResult};
use prost::Message;
use sanshi_proto::records::v1 as pb;
use sanshi_proto::records::v1::record_service_server::RecordService;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tonic::{Request, Response, Status};
use tracing::Instrument as _;

const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const CODE_LENGTH: usize = 8;

impl From<WorkflowError> for ServiceError {
    fn from(e: WorkflowError) -> Self {
        match e {
            WorkflowError::ReasonRequired => ServiceError::invalid("reason", e.to_string()),
            WorkflowError::NotAllowed => ServiceError::PermissionDenied(e.to_string()),
            _ => ServiceError::FailedPrecondition(e.to_string()),
        }
    }
}

pub fn state_to_proto(s: State) -> i32 {
    use pb::ServiceRecordState as P;
    (match s {
        State::Submitted => P::Submitted,
        State::Confirmed => P::Confirmed,
        State::Disputed => P::Disputed,
        State::Scored => P::Scored,
    }) as i32
}

fn state_from_proto(v: i32) -> Option<State> {
    [State::Submitted, State::Confirmed, State::Disputed, State::Scored]
        .into_iter()
        .find(|s| state_to_proto(*s) == v)
}

fn content_from_proto(c: Option<pb::RecordContent>) -> ServiceResult<Content> {
    let c = c.ok_or_else(|| ServiceError::invalid("content", "缺少服务记录内容"))?;
    Ok(Content {
        service_type: c.service_type,
        start: time("content.start_time", c.start_time.as_ref())?,
        end: time("content.end_time", c.end_time.as_ref())?,
        check_in: c.check_in.map(|l| (l.longitude, l.latitude)),
        summary: c.summary,
        participants: c.participant_account_ids,
        residents_reached: c.residents_reached,
        need_ids: c.need_ids,
        attachment_ids: c.attachment_ids,
    })
}

fn content_to_proto(c: &Content) -> pb::RecordContent {
    pb::RecordContent {
        service_type: c.service_type.clone(),
        start_time: Some(timestamp(c.start)),
        end_time: Some(timestamp(c.end)),
        check_in: c
            .check_in
            .map(|(longitude, latitude)| pb::Location { longitude, latitude }),
        summary: c.summary.clone(),
        participant_account_ids: c.participants.clone(),
        residents_reached: c.residents_reached,
        need_ids: c.need_ids.clone(),
        attachment_ids: c.attachment_ids.clone(),
    }
}

fn facts(r: &Record) -> Facts {
    Facts {
        state: r.state,
        amendment_pending: r.pending_amendment.is_some(),
        community_rated: r.community_rating > 0,
        rating_closes_at: r.rating_closes_at,
    }
}

/// A fingerprint of a submission's body, to tell a retry from a different request.
fn fingerprint(req: &pb::SubmitRecordRequest) -> String {
    let mut body = req.clone();
    body.request_id.clear();
    kit::pii::hex(&Sha256::digest(body.encode_to_vec()))
}

impl RecordsService {
    pub async fn record_to_proto(&self, r: &Record, with_history: bool) -> ServiceResult<pb::ServiceRecord> {
        let ratings = store::records::resident_ratings(&self.db, &r.id).await?;
        self.record_to_proto_with(r, with_history, ratings).await
    }

    /// [`Self::record_to_proto`] with the residents' `(count, average)` already read.
    async fn record_to_proto_with(
        &self,
        r: &Record,
        with_history: bool,
        (count, average): (i32, f64),
    ) -> ServiceResult<pb::ServiceRecord> {
        let history = if with_history {
            store::records::history(&self.db, &r.id)
                .await?
                .into_iter()
                .map(|c| pb::RecordChange {
                    version: c.version,
                    action: c.action.to_string(),
                    actor_account_id: c.actor_id,
                    reason: c.reason,
                    change_time: Some(timestamp(c.at)),
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(pb::ServiceRecord {
            id: r.id.clone(),
            match_id: r.match_id.clone(),
            professional_account_id: r.professional_id.clone(),
            community_code: r.community_code.clone(),
            state: state_to_proto(r.state),
            content: Some(content_to_proto(&r.content)),
            version: r.version,
            far_check_in: r.far_check_in,
            check_in_distance_km: r.check_in_distance_km,
            distance_km: r.distance_km,
            distance_method: r.distance_method.clone(),
            dispute_reason: r.dispute_reason.clone(),
            pending_amendment: r.pending_amendment.as_ref().map(content_to_proto),
            amendment_reason: r.amendment_reason.clone(),
            community_rating: r.community_rating,
            community_comment: r.community_comment.clone(),
            resident_rating_count: count,
            resident_rating_average: average,
            submit_time: Some(timestamp(r.submitted_at)),
            confirm_time: r.confirmed_at.map(timestamp),
            rating_closes_time: r.rating_closes_at.map(timestamp),
            history,
        })
    }

    async fn service_types(&self, district: &str) -> ServiceResult<Vec<(String, String, String)>> {
        let mut all: Vec<(String, String, String)> = STANDARD_SERVICE_TYPES
            .iter()
            .map(|(c, n)| (c.to_string(), n.to_string(), String::new()))
            .collect();
        for (code, name) in store::records::district_service_types(&self.db, district).await? {
            all.push((code, name, district.to_string()));
        }
        Ok(all)
    }

    async fn add_service_type(
        &self,
        caller: &Principal,
        req: pb::AddServiceTypeRequest,
    ) -> ServiceResult<pb::ServiceType> {
        let district = region("district_code", &req.district_code)?;
        if district.as_str().len() != 6 {
            return Err(ServiceError::invalid("district_code", "请填写 6 位区县代码"));
        }
        if !caller.covers(&[Role::DistrictAdmin, Role::CityAdmin], &district) {
            return Err(ServiceError::PermissionDenied(
                "仅限本区县或市级管理员维护服务清单".into(),
            ));
        }
        let code = req.code.trim().to_string();
        let valid_code = (2..=32).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let name = req.name.trim().to_string();
        let mut v = kit::error::Violations::new();
        if !valid_code {
            v.add("code", "编码应为 2 到 32 个小写字母、数字或连字符");
        }
        if !(2..=16).contains(&name.chars().count()) {
            v.add("name", "名称应为 2 到 16 个字");
        }
        v.into_result()?;
        if STANDARD_SERVICE_TYPES.iter().any(|(c, n)| *c == code || *n == name) {
            return Err(ServiceError::AlreadyExists("标准服务清单中已有该服务".into()));
        }
        if !store::records::add_service_type(&self.db, district.as_str(), &code, &name).await? {
            return Err(ServiceError::AlreadyExists("本区服务清单中已有该编码".into()));
        }
        Ok(pb::ServiceType {
            code,
            name,
            district_code: district.as_str().to_string(),
        })
    }

    async fn load(&self, id: &str) -> ServiceResult<Record> {
        store::records::find(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("服务记录", id))
    }

    /// Checks content for `professional`'s match and measures it: where the
    /// check-in was, and the base-to-community distance with its method.
    async fn check_content(
        &self,
        content: &mut Content,
        view: &store::matches::MatchView,
        except_record: &str,
    ) -> ServiceResult<(CheckIn, f64, String)> {
        let district = view.community_code.get(..6).unwrap_or_default();
        let types: Vec<String> = self.service_types(district).await?.into_iter().map(|t| t.0).collect();
        let active = store::matches::intervals(&self.db, &view.match_id).await?;
        let others = store::records::times_of(&self.db, &view.professional_id, except_record).await?;
        let (lon, lat, synthetic) = store::matches::position(&self.db, &view.community_code)
            .await?
            .ok_or_else(|| ServiceError::FailedPrecondition("尚未收到该社区的位置，请稍后再试".into()))?;
        let ctx = record::Context {
            now: Utc::now(),
            service_types: &types,
            active: &active,
            others: &others,
            community: (lon, lat),
        };
        let check_in = record::validate(content, &ctx, &self.rules.limits).map_err(into_error)?;
        let mut v = kit::error::Violations::new();
        self.check_attachments(content, &view.professional_id, &mut v).await?;
        v.into_result()?;
        let (distance, method) = match view.professional_location {
            Some((plon, plat)) => (
                matching_solver::haversine_km(plon, plat, lon, lat),
                if synthetic {
                    "haversine:base-to-community(synthetic-position)"
                } else {
                    "haversine:base-to-community"
                },
            ),
            None => (0.0, "unavailable:no-base-location"),
        };
        Ok((check_in, distance, method.to_string()))
    }

    async fn check_attachments(
        &self,
        c: &Content,
        uploader: &str,
        v: &mut kit::error::Violations,
    ) -> ServiceResult<()> {
        for (i, id) in c.attachment_ids.iter().enumerate() {
            let ok = store::attachments::find(&self.db, id)
                .await?
                .is_some_and(|a| a.uploader_id == uploader);
            if !ok {
                v.add(format!("content.attachment_ids[{i}]"), "附件不存在或不是您上传的");
            }
        }
        Ok(())
    }

    async fn submit(&self, caller: &Principal, req: pb::SubmitRecordRequest) -> ServiceResult<pb::ServiceRecord> {
        if req.request_id.is_empty() {
            return Err(ServiceError::invalid(
                "request_id",
                "提交服务记录须带 request_id，重试时沿用",
            ));
        }
        kit::idempotency::validate_key(&req.request_id).map_err(|e| ServiceError::invalid("request_id", e))?;
        let view = store::matches::find(&self.db, req.match_id.trim())
            .await?
            .ok_or_else(|| ServiceError::not_found("匹配", req.match_id.trim()))?;
        if view.professional_id != caller.account_id {
            return Err(ServiceError::PermissionDenied("只能为本人的匹配提交服务记录".into()));
        }
        let hash = fingerprint(&req);
        if let Some(first) = self.retried(&caller.account_id, &req.request_id, &hash).await? {
            return Ok(first);
        }
        let mut content = content_from_proto(req.content.clone())?;
        let (check_in, distance_km, distance_method) = match self.check_content(&mut content, &view, "").await {
            Ok(measured) => measured,
            // A concurrent duplicate may have landed meanwhile (and now overlaps this one).
            Err(error) => match self.retried(&caller.account_id, &req.request_id, &hash).await? {
                Some(first) => return Ok(first),
                None => return Err(error),
            },
        };
        let now = Utc::now();
        let r = Record {
            id: uuid::Uuid::now_v7().to_string(),
            match_id: view.match_id.clone(),
            professional_id: view.professional_id.clone(),
            community_code: view.community_code.clone(),
            state: State::Submitted,
            version: 1,
            content,
            far_check_in: check_in.far,
            check_in_distance_km: check_in.distance_km,
            distance_km,
            distance_method,
            dispute_reason: String::new(),
            pending_amendment: None,
            amendment_reason: String::new(),
            community_rating: 0,
            community_comment: String::new(),
            submitted_at: now,
            confirmed_at: None,
            rating_closes_at: None,
            scored_at: None,
            request_id: req.request_id.clone(),
            request_hash: hash.clone(),
        };
        let txn = kit::db::begin(&self.db).await?;
        // Checked again under the professional's lock: concurrent submissions
        // for one time slot all passed the check above.
        if self.overlaps_under_lock(&txn, &r).await? {
            drop(txn);
            if let Some(first) = self.retried(&caller.account_id, &req.request_id, &hash).await? {
                return Ok(first);
            }
            return Err(ServiceError::invalid(record::OVERLAP.0, record::OVERLAP.1));
        }
        if let Err(error) = store::records::insert(&txn, &r).await {
            drop(txn);
            // A concurrent duplicate got there first: answer as its retry.
            if store::is_unique_violation(&error)
                && let Some(first) = self.retried(&caller.account_id, &req.request_id, &hash).await?
            {
                return Ok(first);
            }
            return Err(error.into());
        }
        self.history(&txn, &r, "submitted", &caller.account_id, "", Some(&r.content))
            .await?;
        let payload = pb::ServiceRecordSubmitted {
            record_id: r.id.clone(),
            match_id: r.match_id.clone(),
            professional_account_id: r.professional_id.clone(),
            community_code: r.community_code.clone(),
            service_type: r.content.service_type.clone(),
            far_check_in: r.far_check_in,
        };
        kit::events::publish(&txn, super::PRODUCER, "record", &r.id, &payload).await?;
        txn.commit().await?;
        self.events.notify();
        tracing::info!(record_id = %r.id, far_check_in = r.far_check_in, "service record submitted");
        self.record_to_proto(&r, true).await
    }

    /// Takes the professional's lock for the rest of `txn` and tells whether
    /// `r`'s visit overlaps another of their records as committed now.
    async fn overlaps_under_lock(&self, txn: &sea_orm::DatabaseTransaction, r: &Record) -> ServiceResult<bool> {
        kit::db::lock(txn, &format!("records:professional:{}", r.professional_id)).await?;
        let others = store::records::times_of(txn, &r.professional_id, &r.id).await?;
        Ok(record::overlaps(&r.content, &others))
    }

    /// The record an earlier submission with this key made, if its body was
    /// the same; a different body under the same key is refused.
    async fn retried(
        &self,
        professional: &str,
        request_id: &str,
        hash: &str,
    ) -> ServiceResult<Option<pb::ServiceRecord>> {
        match store::records::find_by_request(&self.db, professional, request_id).await? {
            Some(first) if first.request_hash == hash => Ok(Some(self.record_to_proto(&first, true).await?)),
            Some(_) => Err(ServiceError::invalid(
                "request_id",
                "该 request_id 已用于内容不同的另一份记录；新记录请换一个 request_id",
            )),
            None => Ok(None),
        }
    }

    async fn history(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        r: &Record,
        action: &'static str,
        actor: &str,
        reason: &str,
        content: Option<&Content>,
    ) -> ServiceResult<()> {
        let change = Change {
            version: r.version,
            action,
            actor_id: actor.to_string(),
            reason: reason.to_string(),
            content: content.cloned(),
            at: Utc::now(),
        };
        Ok(store::records::add_history(txn, &r.id, &change).await?)
    }

    fn sees(caller: &Principal, r: &Record) -> bool {
        caller.account_id == r.professional_id
            || prefixes(caller, &REGION_VIEWERS)
                .iter()
                .any(|p| r.community_code.starts_with(p.as_str()))
    }

    fn actor(caller: &Principal, r: &Record) -> Option<Actor> {
        if community_side(caller, &r.community_code) {
            Some(Actor::Community)
        } else if caller.account_id == r.professional_id {
            Some(Actor::Professional)
        } else {
            None
        }
    }

    /// Applies a workflow action: loads, checks, lets `change` edit the
    /// record, saves it if unchanged meanwhile, records history and events.
    async fn act(
        &self,
        caller: &Principal,
        id: &str,
        action: Action,
        reason: &str,
        change: impl FnOnce(&mut Record) -> ServiceResult<(&'static str, Option<pb::ServiceRecordAmended>)>,
    ) -> ServiceResult<pb::ServiceRecord> {
        let mut r = self.load(id).await?;
        if !Self::sees(caller, &r) {
            return Err(ServiceError::permission_denied());
        }
        // A professional acting for their own community's side is still the professional.
        let actor = match action {
            Action::Resubmit | Action::ProposeAmendment if caller.account_id == r.professional_id => {
                Actor::Professional
            }
            _ => Self::actor(caller, &r).ok_or_else(ServiceError::permission_denied)?,
        };
        let now = Utc::now();
        let next = match workflow::apply(&facts(&r), action, actor, reason, now) {
            Ok(next) => next,
            // A retry whose first answer was lost: the record as it is now.
            Err(WorkflowError::WrongState(state)) if workflow::already_applied(state, action) => {
                return self.record_to_proto(&r, true).await;
            }
            Err(e) => return Err(e.into()),
        };
        let expected = (r.state, r.version);
        r.state = next;
        let (history_action, amended) = change(&mut r)?;
        let txn = kit::db::begin(&self.db).await?;
        if r.version != expected.1 && self.overlaps_under_lock(&txn, &r).await? {
            return Err(ServiceError::invalid(record::OVERLAP.0, record::OVERLAP.1));
        }
        if !store::records::update(&txn, &r, expected).await? {
            drop(txn);
            // Two identical calls at once: the loser answers what the winner did.
            let now = self.load(id).await?;
            if workflow::already_applied(now.state, action) {
                return self.record_to_proto(&now, true).await;
            }
            return Err(ServiceError::FailedPrecondition("该记录已被他人修改，请刷新".into()));
        }
        self.history(&txn, &r, history_action, &caller.account_id, reason.trim(), None)
            .await?;
        if action == Action::Confirm {
            let payload = pb::ServiceRecordConfirmed {
                record_id: r.id.clone(),
                professional_account_id: r.professional_id.clone(),
                community_code: r.community_code.clone(),
                service_type: r.content.service_type.clone(),
            };
            kit::events::publish(&txn, super::PRODUCER, "record", &r.id, &payload).await?;
        }
        if let Some(payload) = amended {
            kit::events::publish(&txn, super::PRODUCER, "record", &r.id, &payload).await?;
            // Points follow the record: a scored record amended is scored again.
            if r.state == State::Scored {
                publish_scored(&txn, &r).await?;
            }
        }
        txn.commit().await?;
        self.events.notify();
        tracing::info!(record_id = %r.id, action = history_action, "service record changed");
        self.record_to_proto(&r, true).await
    }

    async fn resubmit_or_amend(
        &self,
        caller: &Principal,
        id: &str,
        content: Option<pb::RecordContent>,
        action: Action,
        reason: &str,
    ) -> ServiceResult<pb::ServiceRecord> {
        let r = self.load(id).await?;
        if r.professional_id != caller.account_id {
            return Err(ServiceError::PermissionDenied("只能修改本人的服务记录".into()));
        }
        let view = store::matches::find(&self.db, &r.match_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("匹配", r.match_id.clone()))?;
        let mut content = content_from_proto(content)?;
        // Check the state first: a content error on a record that cannot change would mislead.
        workflow::apply(&facts(&r), action, Actor::Professional, reason, Utc::now())?;
        let (check_in, distance_km, method) = self.check_content(&mut content, &view, &r.id).await?;
        let reason = reason.trim().to_string();
        let stored_reason = reason.clone();
        self.act(caller, id, action, &reason, move |r| {
            if action == Action::Resubmit {
                r.content = content;
                r.version += 1;
                r.far_check_in = check_in.far;
                r.check_in_distance_km = check_in.distance_km;
                r.distance_km = distance_km;
                r.distance_method = method;
                Ok(("resubmitted", None))
            } else {
                r.pending_amendment = Some(content);
                r.amendment_reason = stored_reason;
                Ok(("amendment_proposed", None))
            }
        })
        .await
    }

    async fn decide_amendment(
        &self,
        caller: &Principal,
        req: pb::DecideAmendmentRequest,
    ) -> ServiceResult<pb::ServiceRecord> {
        let r = self.load(&req.id).await?;
        let view = store::matches::find(&self.db, &r.match_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("匹配", r.match_id.clone()))?;
        // An accepted amendment is measured again as the record it becomes.
        let measured = match (&r.pending_amendment, req.accept) {
            (Some(pending), true) => {
                let mut content = pending.clone();
                Some((self.check_content(&mut content, &view, &r.id).await?, content))
            }
            _ => None,
        };
        let reason = req.reason.trim().to_string();
        self.act(caller, &req.id, Action::DecideAmendment, &reason, move |r| {
            r.pending_amendment = None;
            let Some(((check_in, distance_km, method), content)) = measured else {
                return Ok(("amendment_rejected", None));
            };
            r.content = content;
            r.version += 1;
            r.far_check_in = check_in.far;
            r.check_in_distance_km = check_in.distance_km;
            r.distance_km = distance_km;
            r.distance_method = method;
            let payload = pb::ServiceRecordAmended {
                record_id: r.id.clone(),
                professional_account_id: r.professional_id.clone(),
                community_code: r.community_code.clone(),
                version: r.version,
                reason: r.amendment_reason.clone(),
            };
            Ok(("amendment_accepted", Some(payload)))
        })
        .await
    }

    async fn rate(&self, caller: &Principal, req: pb::RateRecordRequest) -> ServiceResult<pb::ServiceRecord> {
        if !(1..=5).contains(&req.rating) {
            return Err(ServiceError::invalid("rating", "请打 1 到 5 星"));
        }
        let comment = req.comment.trim().to_string();
        if comment.chars().count() > 500 {
            return Err(ServiceError::invalid("comment", "评价不超过 500 个字"));
        }
        self.act(caller, &req.id, Action::Rate, "", move |r| {
            r.community_rating = req.rating;
            r.community_comment = comment;
            Ok(("rated", None))
        })
        .await
    }

    async fn issue_code(&self, caller: &Principal, record_id: &str) -> ServiceResult<pb::RatingCode> {
        let r = self.load(record_id).await?;
        if Self::actor(caller, &r).is_none() {
            return Err(ServiceError::permission_denied());
        }
        let now = Utc::now();
        if !workflow::resident_may_rate(&facts(&r), now) {
            return Err(ServiceError::FailedPrecondition(
                "只有已确认且在评价期内的记录可以发放评价码".into(),
            ));
        }
        let expires = r.rating_closes_at.unwrap_or(now);
        if let Some((code, expires)) = store::records::rating_code_of(&self.db, &r.id).await? {
            return Ok(pb::RatingCode {
                record_id: r.id,
                code,
                expire_time: Some(timestamp(expires)),
            });
        }
        let code = new_code();
        let txn = kit::db::begin(&self.db).await?;
        store::records::insert_rating_code(&txn, &r.id, &code, expires).await?;
        txn.commit().await?;
        Ok(pb::RatingCode {
            record_id: r.id,
            code,
            expire_time: Some(timestamp(expires)),
        })
    }

    async fn resident_rating(
        &self,
        req: pb::SubmitResidentRatingRequest,
    ) -> ServiceResult<pb::SubmitResidentRatingResponse> {
        let mut v = kit::error::Violations::new();
        let phone = PhoneNumber::parse(&req.contact);
        if phone.is_err() {
            v.add("contact", "请填写 11 位手机号码");
        }
        if !(1..=5).contains(&req.rating) {
            v.add("rating", "请打 1 到 5 星");
        }
        let comment = req.comment.trim().to_string();
        if comment.chars().count() > 200 {
            v.add("comment", "评价不超过 200 个字");
        }
        v.into_result()?;
        let code = req.code.trim().to_ascii_uppercase();
        let (record_id, expires) = store::records::record_of_code(&self.db, &code)
            .await?
            .ok_or_else(|| ServiceError::invalid("code", "评价码无效"))?;
        let now = Utc::now();
        let r = self.load(&record_id).await?;
        if now >= expires || !workflow::resident_may_rate(&facts(&r), now) {
            return Err(ServiceError::FailedPrecondition("评价期已结束".into()));
        }
        let (count, _) = store::records::resident_ratings(&self.db, &r.id).await?;
        if i64::from(count) >= self.rules.max_ratings_per_code {
            return Err(ServiceError::ResourceExhausted("该评价码的评价次数已达上限".into()));
        }
        let contact = phone.map(|p| p.as_str().to_string()).unwrap_or_default();
        let hash = self.cipher.lookup_hash("resident-rating", &contact);
        let txn = kit::db::begin(&self.db).await?;
        if !store::records::add_resident_rating(&txn, &r.id, &hash, req.rating, &comment).await? {
            return Err(ServiceError::AlreadyExists("您已评价过这次服务".into()));
        }
        txn.commit().await?;
        let (count, _) = store::records::resident_ratings(&self.db, &r.id).await?;
        Ok(pb::SubmitResidentRatingResponse {
            record_id: r.id,
            rating_count: count,
        })
    }

    async fn list(&self, caller: &Principal, req: pb::ListRecordsRequest) -> ServiceResult<pb::ListRecordsResponse> {
        let size = kit::page::size(req.page_size)?;
        let offset = kit::page::offset(&req.page_token)?;
        let state = match req.state {
            0 => None,
            v => Some(state_from_proto(v).ok_or_else(|| ServiceError::invalid("state", "未知的记录状态"))?),
        };
        let filter = store::records::Filter {
            community_prefixes: prefixes(caller, &REGION_VIEWERS),
            own_professional: Some(caller.account_id.clone()),
            region: super::region_filter("region_code", &req.region_code)?,
            professional: req.professional_account_id.trim().to_string(),
            state,
            far_only: req.far_check_in_only,
        };
        let fetched = store::records::list(&self.db, &filter, offset, size).await?;
        let next = kit::page::next(offset, size, fetched.len());
        let page: Vec<&Record> = fetched.iter().take(size as usize).collect();
        // One query for the page's resident ratings, not one per record.
        let ids: Vec<String> = page.iter().map(|r| r.id.clone()).collect();
        let ratings = store::records::resident_ratings_of(&self.db, &ids).await?;
        let mut records = Vec::new();
        for r in page {
            let rated = ratings.get(&r.id).copied().unwrap_or((0, 0.0));
            records.push(self.record_to_proto_with(r, false, rated).await?);
        }
        Ok(pb::ListRecordsResponse {
            records,
            next_page_token: next,
        })
    }

    /// Scores confirmed records whose rating window closed; returns how many.
    pub async fn score_due(&self, now: DateTime<Utc>) -> ServiceResult<usize> {
        let due = store::records::due_for_scoring(&self.db, now, 200).await?;
        let mut scored = 0;
        for r in due {
            // The root of the trace that follows the record into incentive
            // (points) and notification (the professional's inbox).
            let span = tracing::info_span!(
                "score_record",
                otel.name = "score record",
                sanshi.service = "records",
                record_id = %r.id,
                trace_id = tracing::field::Empty,
                span_id = tracing::field::Empty,
            );
            kit::telemetry::record_ids(&span);
            if self.score(r, now).instrument(span).await? {
                scored += 1;
            }
        }
        if scored > 0 {
            self.events.notify();
        }
        Ok(scored)
    }
}

impl RecordsService {
    /// Scores one record whose rating window has closed; false when it was
    /// not scorable or another replica scored it first.
    async fn score(&self, mut r: Record, now: DateTime<Utc>) -> ServiceResult<bool> {
        if workflow::apply(&facts(&r), Action::Score, Actor::System, "", now).is_err() {
            return Ok(false);
        }
        let expected = (r.state, r.version);
        r.state = State::Scored;
        r.scored_at = Some(now);
        let txn = kit::db::begin(&self.db).await?;
        if !store::records::update(&txn, &r, expected).await? {
            return Ok(false);
        }
        self.history(&txn, &r, "scored", "system", "", None).await?;
        publish_scored(&txn, &r).await?;
        txn.commit().await?;
        Ok(true)
    }
}

/// Tells incentive the figures a scored record earns points by (again, with
/// a higher version, after an accepted amendment).
async fn publish_scored(txn: &sea_orm::DatabaseTransaction, r: &Record) -> ServiceResult<()> {
    let (count, average) = store::records::resident_ratings(txn, &r.id).await?;
    let payload = pb::ServiceRecordScored {
        record_id: r.id.clone(),
        professional_account_id: r.professional_id.clone(),
        community_code: r.community_code.clone(),
        service_type: r.content.service_type.clone(),
        distance_km: r.distance_km,
        distance_method: r.distance_method.clone(),
        community_rating: r.community_rating,
        resident_rating_average: average,
        resident_rating_count: count,
        duration_hours: (r.content.end - r.content.start).num_seconds() as f64 / 3600.0,
        residents_reached: r.content.residents_reached,
        visit_time: Some(timestamp(r.content.start)),
        version: r.version,
    };
    kit::events::publish(txn, super::PRODUCER, "record", &r.id, &payload).await?;
    Ok(())
}

/// Field violations as the error they are (never empty: validation returns them only on failure).
fn into_error(v: kit::error::Violations) -> ServiceError {
    v.into_result()
        .err()
        .unwrap_or_else(|| ServiceError::invalid("content", "服务记录内容无效"))
}

fn new_code() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..CODE_LENGTH)
        .map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

impl RecordsService {
    async fn stats(&self, caller: &Principal, req: pb::GetRecordStatsRequest) -> ServiceResult<pb::RecordStats> {
        let region = caller.region_or_own(&REGION_VIEWERS, "region_code", &req.region_code)?;
        // This month and year as people in Chongqing count them (UTC+8).
        let beijing = chrono::FixedOffset::east_opt(8 * 3600)
            .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("no UTC+8 offset")))?;
        let today = Utc::now().with_timezone(&beijing).date_naive();
        let start = |date: Option<chrono::NaiveDate>| -> ServiceResult<DateTime<Utc>> {
            date.and_then(|d| d.and_hms_opt(0, 0, 0))
                .and_then(|t| t.and_local_timezone(beijing).single())
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("no start of period")))
        };
        use chrono::Datelike;
        let year_start = start(chrono::NaiveDate::from_ymd_opt(today.year(), 1, 1))?;
        let month_start = start(chrono::NaiveDate::from_ymd_opt(today.year(), today.month(), 1))?;
        let s = store::stats::region(&self.db, region.as_str(), year_start, month_start).await?;
        let mean = |sum: i64, n: i64| if n == 0 { 0.0 } else { sum as f64 / n as f64 };
        Ok(pb::RecordStats {
            region_code: region.to_string(),
            records_this_month: s.this_month as i32,
            records_this_year: s.this_year as i32,
            confirmed_this_year: s.confirmed_this_year as i32,
            community_ratings: s.community_ratings as i32,
            average_community_rating: mean(s.community_rating_sum, s.community_ratings),
            resident_ratings: s.resident_ratings as i32,
            average_resident_rating: mean(s.resident_rating_sum, s.resident_ratings),
        })
    }
}

pub struct Records(pub Arc<RecordsService>);

#[tonic::async_trait]
impl RecordService for Records {
    async fn get_record_stats(
        &self,
        request: Request<pb::GetRecordStatsRequest>,
    ) -> Result<Response<pb::RecordStats>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.stats(&caller, request.into_inner()).await?))
    }

    async fn list_service_types(
        &self,
        request: Request<pb::ListServiceTypesRequest>,
    ) -> Result<Response<pb::ListServiceTypesResponse>, Status> {
        caller(&request)?;
        let district = super::region_filter("district_code", &request.into_inner().district_code)?;
        let types = self.0.service_types(&district).await?;
        Ok(Response::new(pb::ListServiceTypesResponse {
            service_types: types
                .into_iter()
                .map(|(code, name, district_code)| pb::ServiceType {
                    code,
                    name,
                    district_code,
                })
                .collect(),
        }))
    }

    async fn add_service_type(
        &self,
        request: Request<pb::AddServiceTypeRequest>,
    ) -> Result<Response<pb::ServiceType>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0.add_service_type(&caller, request.into_inner()).await?,
        ))
    }

    async fn submit_record(
        &self,
        request: Request<pb::SubmitRecordRequest>,
    ) -> Result<Response<pb::ServiceRecord>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.submit(&caller, request.into_inner()).await?))
    }

    async fn get_record(&self, request: Request<pb::GetRecordRequest>) -> Result<Response<pb::ServiceRecord>, Status> {
        let caller = caller(&request)?;
        let r = self.0.load(&request.into_inner().id).await?;
        if !RecordsService::sees(&caller, &r) {
            return Err(ServiceError::permission_denied().into());
        }
        Ok(Response::new(self.0.record_to_proto(&r, true).await?))
    }

    async fn list_records(
        &self,
        request: Request<pb::ListRecordsRequest>,
    ) -> Result<Response<pb::ListRecordsResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.list(&caller, request.into_inner()).await?))
    }

    async fn confirm_record(
        &self,
        request: Request<pb::ConfirmRecordRequest>,
    ) -> Result<Response<pb::ServiceRecord>, Status> {
        let caller = caller(&request)?;
        let window = self.0.rules.rating_window;
        let id = request.into_inner().id;
        Ok(Response::new(
            self.0
                .act(&caller, &id, Action::Confirm, "", move |r| {
                    // As stored (microseconds), so that a retry answers the same time.
                    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
                    r.confirmed_at = Some(now);
                    r.rating_closes_at = Some(now + window);
                    Ok(("confirmed", None))
                })
                .await?,
        ))
    }

    async fn dispute_record(
        &self,
        request: Request<pb::DisputeRecordRequest>,
    ) -> Result<Response<pb::ServiceRecord>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let reason = req.reason.trim().to_string();
        if reason.chars().count() > 500 {
            return Err(ServiceError::invalid("reason", "原因不超过 500 个字").into());
        }
        let stored = reason.clone();
        Ok(Response::new(
            self.0
                .act(&caller, &req.id, Action::Dispute, &reason, move |r| {
                    r.dispute_reason = stored;
                    Ok(("disputed", None))
                })
                .await?,
        ))
    }

    async fn resubmit_record(
        &self,
        request: Request<pb::ResubmitRecordRequest>,
    ) -> Result<Response<pb::ServiceRecord>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        Ok(Response::new(
            self.0
                .resubmit_or_amend(&caller, &req.id, req.content, Action::Resubmit, "")
                .await?,
        ))
    }

    async fn amend_record(
        &self,
        request: Request<pb::AmendRecordRequest>,
    ) -> Result<Response<pb::ServiceRecord>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        if req.reason.trim().chars().count() > 500 {
            return Err(ServiceError::invalid("reason", "原因不超过 500 个字").into());
        }
        Ok(Response::new(
            self.0
                .resubmit_or_amend(&caller, &req.id, req.content, Action::ProposeAmendment, &req.reason)
                .await?,
        ))
    }

    async fn decide_amendment(
        &self,
        request: Request<pb::DecideAmendmentRequest>,
    ) -> Result<Response<pb::ServiceRecord>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0.decide_amendment(&caller, request.into_inner()).await?,
        ))
    }

    async fn rate_record(
        &self,
        request: Request<pb::RateRecordRequest>,
    ) -> Result<Response<pb::ServiceRecord>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.rate(&caller, request.into_inner()).await?))
    }

    async fn issue_rating_code(
        &self,
        request: Request<pb::IssueRatingCodeRequest>,
    ) -> Result<Response<pb::RatingCode>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0.issue_code(&caller, &request.into_inner().record_id).await?,
        ))
    }

    async fn submit_resident_rating(
        &self,
        request: Request<pb::SubmitResidentRatingRequest>,
    ) -> Result<Response<pb::SubmitResidentRatingResponse>, Status> {
        // Public: residents rate without an account, by the code.
        Ok(Response::new(self.0.resident_rating(request.into_inner()).await?))
    }
}
