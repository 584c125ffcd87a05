//! gRPC mapping of QualificationService: validation, permissions, the
//! workflow, and masking of personal data.

use crate::domain::{self, Action, ApplicationInput, Rules, State, transition, workflow};
use crate::store::{self, Application, DecisionRow, QueueFilter, StoredFinding};
use chrono::{NaiveDate, Utc};
use kit::auth::{Principal, Role, principal};
use kit::error::Violations;
use kit::events::EventLog;
use kit::pii::{IdCardNumber, PhoneNumber, PiiCipher};
use kit::region::{RegionCode, Scope};
use kit::{ServiceError, ServiceResult};
use prost::Message;
use sanshi_proto::qualification::v1 as pb;
use sanshi_proto::qualification::v1::qualification_service_server::QualificationService;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub const PRODUCER: &str = "qualification";

pub struct Qualification {
    pub db: DatabaseConnection,
    pub cipher: PiiCipher,
    pub idempotency: kit::idempotency::Idempotency,
    pub rules: Rules,
    pub validity_months: u32,
    pub events: Arc<EventLog>,
}

/// Who reads the queue; only reviewers decide.
const READERS: [Role; 4] = [Role::Reviewer, Role::CityAdmin, Role::DistrictAdmin, Role::StreetAdmin];

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn scope_prefixes(scopes: &[Scope]) -> Vec<String> {
    scopes.iter().map(|s| s.prefix().to_string()).collect()
}

/// Whether one of `roles` held by the caller covers one of the application's
/// service regions (a street reviewer also covers applications naming its district).
fn covers_application(caller: &Principal, roles: &[Role], app: &Application) -> bool {
    app.form
        .service_regions
        .iter()
        .filter_map(|c| RegionCode::parse(c).ok())
        .any(|region| {
            caller.covers(roles, &region)
                || caller
                    .scopes(roles)
                    .iter()
                    .any(|scope| matches!(scope, Scope::Region(s) if region.contains(s)))
        })
}

fn profession_to_proto(id: &str) -> i32 {
    use pb::Profession as P;
    (match domain::Profession::parse(id) {
        Some(domain::Profession::Planner) => P::Planner,
        Some(domain::Profession::Architect) => P::Architect,
        Some(domain::Profession::Engineer) => P::Engineer,
        Some(domain::Profession::ConsultingManagement) => P::ConsultingManagement,
        Some(domain::Profession::EngineeringEconomics) => P::EngineeringEconomics,
        Some(domain::Profession::BusinessOperations) => P::BusinessOperations,
        Some(domain::Profession::HistoryCulture) => P::HistoryCulture,
        Some(domain::Profession::ArtTherapy) => P::ArtTherapy,
        Some(domain::Profession::SocialWork) => P::SocialWork,
        Some(domain::Profession::RealEstateAppraisal) => P::RealEstateAppraisal,
        _ => P::Unspecified,
    }) as i32
}

fn profession_from_proto(value: i32) -> String {
    use pb::Profession as P;
    let profession = match P::try_from(value) {
        Ok(P::Planner) => domain::Profession::Planner,
        Ok(P::Architect) => domain::Profession::Architect,
        Ok(P::Engineer) => domain::Profession::Engineer,
        Ok(P::ConsultingManagement) => domain::Profession::ConsultingManagement,
        Ok(P::EngineeringEconomics) => domain::Profession::EngineeringEconomics,
        Ok(P::BusinessOperations) => domain::Profession::BusinessOperations,
        Ok(P::HistoryCulture) => domain::Profession::HistoryCulture,
        Ok(P::ArtTherapy) => domain::Profession::ArtTherapy,
        Ok(P::SocialWork) => domain::Profession::SocialWork,
        Ok(P::RealEstateAppraisal) => domain::Profession::RealEstateAppraisal,
        _ => return String::new(),
    };
    profession.as_str().to_string()
}

fn state_to_proto(state: State) -> i32 {
    use pb::ApplicationState as P;
    (match state {
        State::Draft => P::Draft,
        State::Submitted => P::Submitted,
        State::UnderReview => P::UnderReview,
        State::Approved => P::Approved,
        State::Rejected => P::Rejected,
        State::ReturnedForChanges => P::ReturnedForChanges,
        State::Suspended => P::Suspended,
        State::Revoked => P::Revoked,
        State::Expired => P::Expired,
    }) as i32
}

fn state_from_proto(value: i32) -> Option<State> {
    use pb::ApplicationState as P;
    Some(match P::try_from(value).ok()? {
        P::Unspecified => return None,
        P::Draft => State::Draft,
        P::Submitted => State::Submitted,
        P::UnderReview => State::UnderReview,
        P::Approved => State::Approved,
        P::Rejected => State::Rejected,
        P::ReturnedForChanges => State::ReturnedForChanges,
        P::Suspended => State::Suspended,
        P::Revoked => State::Revoked,
        P::Expired => State::Expired,
    })
}

fn action_from_decision(value: i32) -> Option<Action> {
    use pb::Decision as D;
    Some(match D::try_from(value).ok()? {
        D::Unspecified => return None,
        D::StartReview => Action::StartReview,
        D::Approve => Action::Approve,
        D::Reject => Action::Reject,
        D::ReturnForChanges => Action::ReturnForChanges,
        D::Suspend => Action::Suspend,
        D::Reinstate => Action::Reinstate,
        D::Revoke => Action::Revoke,
        D::Renew => Action::Renew,
    })
}

fn decision_to_proto(action: &str) -> i32 {
    use pb::Decision as D;
    (match Action::parse(action) {
        Some(Action::StartReview) => D::StartReview,
        Some(Action::Approve) => D::Approve,
        Some(Action::Reject) => D::Reject,
        Some(Action::ReturnForChanges) => D::ReturnForChanges,
        Some(Action::Suspend) => D::Suspend,
        Some(Action::Reinstate) => D::Reinstate,
        Some(Action::Revoke) => D::Revoke,
        Some(Action::Renew) => D::Renew,
        _ => D::Unspecified,
    }) as i32
}

fn parse_date(field: &str, value: &str, v: &mut Violations) -> Option<NaiveDate> {
    if value.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Ok(date) => Some(date),
        Err(_) => {
            v.add(field, "日期格式应为 YYYY-MM-DD");
            None
        }
    }
}

/// The applicant's fields of a request, as domain input.
fn input_from_proto(a: &pb::Application) -> ServiceResult<ApplicationInput> {
    let mut v = Violations::new();
    let practice_start = parse_date("application.practice_start_date", &a.practice_start_date, &mut v);
    let certificates = a
        .certificates
        .iter()
        .enumerate()
        .map(|(i, c)| domain::Certificate {
            kind: c.kind.clone(),
            number: c.number.clone(),
            issuer: c.issuer.clone(),
            valid_until: parse_date(
                &format!("application.certificates[{i}].valid_until"),
                &c.valid_until,
                &mut v,
            ),
        })
        .collect();
    v.into_result()?;
    let employer = a.employer.clone().unwrap_or_default();
    let consent = a.consent.unwrap_or_default();
    Ok(ApplicationInput {
        real_name: a.real_name.trim().to_string(),
        id_number: a.id_number.trim().to_string(),
        phone: a.phone.trim().to_string(),
        profession: profession_from_proto(a.profession),
        specialties: a.specialties.clone(),
        employer_name: employer.name.trim().to_string(),
        employer_credit_code: employer.credit_code.trim().to_string(),
        practice_start,
        certificates,
        service_regions: a.service_region_codes.clone(),
        base_location: a.base_location.map(|l| domain::Location {
            lon: l.longitude,
            lat: l.latitude,
        }),
        commitment_signed: a.commitment_signed,
        consent: domain::Consent {
            contact_visible_to_matched: consent.contact_visible_to_matched,
            federation_directory: consent.federation_directory,
        },
    })
}

/// Merges the masked paths of `update` into `current`.
fn apply_mask(current: &mut ApplicationInput, update: ApplicationInput, mask: &[String]) -> ServiceResult<()> {
    if mask.is_empty() {
        *current = update;
        return Ok(());
    }
    let mut v = Violations::new();
    for path in mask {
        match path.as_str() {
            "real_name" => current.real_name = update.real_name.clone(),
            "id_number" => current.id_number = update.id_number.clone(),
            "phone" => current.phone = update.phone.clone(),
            "profession" => current.profession = update.profession.clone(),
            "specialties" => current.specialties = update.specialties.clone(),
            "employer" => {
                current.employer_name = update.employer_name.clone();
                current.employer_credit_code = update.employer_credit_code.clone();
            }
            "practice_start_date" => current.practice_start = update.practice_start,
            "certificates" => current.certificates = update.certificates.clone(),
            "service_region_codes" => current.service_regions = update.service_regions.clone(),
            "base_location" => current.base_location = update.base_location,
            "commitment_signed" => current.commitment_signed = update.commitment_signed,
            "consent" => current.consent = update.consent,
            other => v.add("update_mask", format!("字段 {other} 不可修改")),
        }
    }
    v.into_result()
}

impl Qualification {
    async fn load(&self, id: &str) -> ServiceResult<Application> {
        store::find(&self.db, &self.cipher, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("申请", id))
    }

    /// The application as `caller` may see it. Personal data in full for the
    /// applicant and, once submitted, for reviewers in scope (`reveal`), which
    /// is logged.
    async fn to_proto(&self, app: &Application, caller: &Principal, reveal: bool) -> ServiceResult<pb::Application> {
        let decisions = store::decisions(&self.db, &app.id).await?;
        self.to_proto_with(app, caller, reveal, decisions).await
    }

    /// [`Self::to_proto`] with the application's decisions already read.
    async fn to_proto_with(
        &self,
        app: &Application,
        caller: &Principal,
        reveal: bool,
        decisions: Vec<store::DecisionRow>,
    ) -> ServiceResult<pb::Application> {
        let own = caller.account_id == app.account_id;
        // A draft is still the applicant's own: reviewers see submitted applications only.
        let submitted = app.state != State::Draft;
        let full = own || (reveal && submitted && covers_application(caller, &[Role::Reviewer], app));
        if full && !own && (!app.id_number.is_empty() || !app.phone.is_empty()) {
            store::log_pii_read(&self.db, &app.id, &caller.account_id).await?;
            tracing::info!(
                application_id = app.id,
                reader = caller.account_id,
                "personal data read"
            );
        }
        let id_number = match IdCardNumber::parse(&app.id_number) {
            Ok(id) if !full => id.masked(),
            _ if !full => String::new(),
            _ => app.id_number.clone(),
        };
        let phone = match PhoneNumber::parse(&app.phone) {
            Ok(p) if !full => p.masked(),
            _ if !full => String::new(),
            _ => app.phone.clone(),
        };
        let f = &app.form;
        Ok(pb::Application {
            id: app.id.clone(),
            account_id: app.account_id.clone(),
            version: app.version,
            state: state_to_proto(app.state),
            real_name: app.real_name.clone(),
            id_number,
            phone,
            profession: profession_to_proto(&f.profession),
            specialties: f.specialties.clone(),
            employer: Some(pb::Employer {
                name: f.employer_name.clone(),
                credit_code: f.employer_credit_code.clone(),
                verified: f.employer_verified,
                verification_note: f.employer_note.clone(),
            }),
            practice_start_date: f.practice_start.map(|d| d.to_string()).unwrap_or_default(),
            years_of_practice: app.years_of_practice.unwrap_or_default(),
            certificates: f
                .certificates
                .iter()
                .map(|c| pb::Certificate {
                    kind: c.kind.clone(),
                    number: c.number.clone(),
                    issuer: c.issuer.clone(),
                    valid_until: c.valid_until.map(|d| d.to_string()).unwrap_or_default(),
                })
                .collect(),
            service_region_codes: f.service_regions.clone(),
            base_location: f
                .base_location
                .map(|(longitude, latitude)| pb::Location { longitude, latitude }),
            commitment_signed: f.commitment_signed,
            consent: Some(pb::Consent {
                contact_visible_to_matched: f.contact_visible_to_matched,
                federation_directory: f.federation_directory,
            }),
            findings: app
                .findings
                .iter()
                .map(|x| pb::Finding {
                    code: x.code.clone(),
                    field: String::new(),
                    message: x.message.clone(),
                    hard: false,
                })
                .collect(),
            decisions: decisions
                .into_iter()
                .map(|d| pb::DecisionRecord {
                    decision: decision_to_proto(&d.decision),
                    from_state: State::parse(&d.from_state).map(state_to_proto).unwrap_or_default(),
                    to_state: State::parse(&d.to_state).map(state_to_proto).unwrap_or_default(),
                    reason: d.reason,
                    reviewer_account_id: d.reviewer_account_id,
                    time: Some(timestamp(d.created_at)),
                })
                .collect(),
            qualified_until: app.qualified_until.map(|d| d.to_string()).unwrap_or_default(),
            duplicate_of: app.duplicate_of.clone().unwrap_or_default(),
            create_time: Some(timestamp(app.created_at)),
            update_time: Some(timestamp(app.updated_at)),
            submit_time: app.submitted_at.map(timestamp),
        })
    }

    async fn create(&self, caller: &Principal, req: pb::CreateApplicationRequest) -> ServiceResult<pb::Application> {
        if caller.is_service() {
            return Err(ServiceError::PermissionDenied("申请须由本人提交".into()));
        }
        let proto = req
            .application
            .ok_or_else(|| ServiceError::invalid("application", "缺少申请内容"))?;
        kit::idempotency::validate_key(&req.request_id).map_err(|e| ServiceError::invalid("request_id", e))?;
        let input = input_from_proto(&proto)?;
        let violations = domain::validate_draft(&input);
        if !violations.is_empty() {
            return Err(ServiceError::InvalidArgument(violations));
        }
        let scope = format!("CreateApplication:{}", caller.account_id);
        if !req.request_id.is_empty()
            && let Some(stored) = self.idempotency.lookup(&self.db, &scope, &req.request_id).await?
        {
            return pb::Application::decode(stored.as_slice()).map_err(ServiceError::internal);
        }
        if let Some(existing) = store::find_by_account(&self.db, &caller.account_id).await? {
            return Err(ServiceError::AlreadyExists(format!(
                "您已有一份申请（编号 {existing}），请在原申请上修改"
            )));
        }
        let now = Utc::now();
        let mut app = Application {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: caller.account_id.clone(),
            state: State::Draft,
            version: 0,
            real_name: String::new(),
            id_number: String::new(),
            phone: String::new(),
            form: Default::default(),
            findings: Vec::new(),
            years_of_practice: None,
            qualified_until: None,
            duplicate_of: None,
            submitted_at: None,
            created_at: now,
            updated_at: now,
        };
        app.set_input(input);
        let txn = kit::db::begin(&self.db).await?;
        store::save(&txn, &self.cipher, &app).await?;
        let response = self.to_proto(&app, caller, false).await?;
        if !req.request_id.is_empty() {
            self.idempotency
                .remember(&txn, &scope, &req.request_id, &response.encode_to_vec())
                .await?;
        }
        txn.commit().await?;
        Ok(response)
    }

    async fn update(&self, caller: &Principal, req: pb::UpdateApplicationRequest) -> ServiceResult<pb::Application> {
        let proto = req
            .application
            .ok_or_else(|| ServiceError::invalid("application", "缺少申请内容"))?;
        let mut app = self.load(&proto.id).await?;
        if app.account_id != caller.account_id {
            return Err(ServiceError::PermissionDenied("只能修改本人的申请".into()));
        }
        if req.update_mask == ["consent"] {
            return self.change_consent(caller, app, &proto).await;
        }
        transition(app.state, Action::Edit).map_err(|e| ServiceError::FailedPrecondition(e.to_string()))?;
        let mut input = app.input();
        apply_mask(&mut input, input_from_proto(&proto)?, &req.update_mask)?;
        let violations = domain::validate_draft(&input);
        if !violations.is_empty() {
            return Err(ServiceError::InvalidArgument(violations));
        }
        app.set_input(input);
        app.updated_at = Utc::now();
        let txn = kit::db::begin(&self.db).await?;
        store::save(&txn, &self.cipher, &app).await?;
        txn.commit().await?;
        self.to_proto(&app, caller, false).await
    }

    /// Consent is the applicant's to give and to withdraw at any time: in
    /// any state, and once qualified the services that hold the profile
    /// learn of it (`ConsentChanged`; matching drops a withdrawn professional
    /// from the federation directory).
    async fn change_consent(
        &self,
        caller: &Principal,
        mut app: Application,
        proto: &pb::Application,
    ) -> ServiceResult<pb::Application> {
        let consent = proto.consent.unwrap_or_default();
        app.form.contact_visible_to_matched = consent.contact_visible_to_matched;
        app.form.federation_directory = consent.federation_directory;
        app.updated_at = Utc::now();
        let txn = kit::db::begin(&self.db).await?;
        store::save(&txn, &self.cipher, &app).await?;
        let qualified_once = matches!(
            app.state,
            State::Approved | State::Suspended | State::Revoked | State::Expired
        );
        if qualified_once {
            let event = pb::ConsentChanged {
                application_id: app.id.clone(),
                account_id: app.account_id.clone(),
                consent: Some(consent),
            };
            kit::events::publish(&txn, PRODUCER, "application", &app.id, &event).await?;
        }
        txn.commit().await?;
        if qualified_once {
            self.events.notify();
        }
        tracing::info!(application_id = app.id, "consent changed");
        self.to_proto(&app, caller, false).await
    }

    /// Whether the request repeats the newest decision (see `workflow::repeats`).
    async fn repeats(
        &self,
        app: &Application,
        action: Action,
        caller: &Principal,
        reason: &str,
    ) -> ServiceResult<bool> {
        let decisions = store::decisions(&self.db, &app.id).await?;
        let newest = decisions.last().map(|d| workflow::PastDecision {
            action: &d.decision,
            actor: &d.reviewer_account_id,
            reason: &d.reason,
            to_state: &d.to_state,
            at: d.created_at,
        });
        Ok(workflow::repeats(
            newest,
            action,
            &caller.account_id,
            reason,
            app.state,
            Utc::now(),
        ))
    }

    async fn submit(&self, caller: &Principal, id: &str) -> ServiceResult<pb::Application> {
        let mut app = self.load(id).await?;
        if app.account_id != caller.account_id {
            return Err(ServiceError::PermissionDenied("只能提交本人的申请".into()));
        }
        // A submission retried: the version it froze is the current one.
        let submitted_as = format!("第 {} 版", app.version);
        if self.repeats(&app, Action::Submit, caller, &submitted_as).await? {
            return self.to_proto(&app, caller, false).await;
        }
        let next =
            transition(app.state, Action::Submit).map_err(|e| ServiceError::FailedPrecondition(e.to_string()))?;
        let check = domain::precheck(&app.input(), today(), &self.rules);
        if !check.passed() {
            return Err(ServiceError::InvalidArgument(check.hard));
        }
        let normalized = check
            .normalized
            .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("passed precheck without values")))?;
        let hash = store::id_hash(&self.cipher, normalized.id_number.as_str()).unwrap_or_default();
        if let Some(existing) = store::find_by_id_hash(&self.db, &hash, &app.id).await? {
            // One person, one application: point at the existing one.
            app.duplicate_of = Some(existing.clone());
            store::save(&self.db, &self.cipher, &app).await?;
            return Err(ServiceError::AlreadyExists(format!(
                "该身份证号已有申请（编号 {existing}），请勿重复申请"
            )));
        }
        let now = Utc::now();
        let from = app.state;
        app.id_number = normalized.id_number.as_str().to_string();
        app.phone = normalized.phone.as_str().to_string();
        app.form.employer_credit_code = normalized.employer_credit_code.as_str().to_string();
        app.state = next;
        app.version += 1;
        app.years_of_practice = Some(normalized.years_of_practice as i32);
        app.findings = check
            .soft
            .iter()
            .filter(|f| !(app.form.employer_verified && f.code == domain::precheck::finding::EMPLOYER_UNVERIFIED))
            .map(StoredFinding::from)
            .collect();
        app.submitted_at = Some(now);
        app.updated_at = now;
        let txn = kit::db::begin(&self.db).await?;
        store::save(&txn, &self.cipher, &app).await?;
        store::freeze_version(&txn, &self.cipher, &app).await?;
        let row = DecisionRow {
            decision: Action::Submit.as_str().into(),
            from_state: from.as_str().into(),
            to_state: next.as_str().into(),
            reason: format!("第 {} 版", app.version),
            reviewer_account_id: caller.account_id.clone(),
            created_at: now,
        };
        store::record_decision(&txn, &app.id, &row).await?;
        txn.commit().await?;
        tracing::info!(application_id = app.id, version = app.version, "application submitted");
        self.to_proto(&app, caller, false).await
    }

    async fn get(&self, caller: &Principal, id: &str) -> ServiceResult<pb::Application> {
        let app = self.load(id).await?;
        if app.account_id != caller.account_id && !covers_application(caller, &READERS, &app) {
            return Err(ServiceError::PermissionDenied("无权查看此申请".into()));
        }
        self.to_proto(&app, caller, true).await
    }

    fn reader_prefixes(&self, caller: &Principal) -> ServiceResult<Vec<String>> {
        let scopes = caller.scopes(&READERS);
        if scopes.is_empty() {
            return Err(ServiceError::permission_denied());
        }
        Ok(scope_prefixes(&scopes))
    }

    async fn list(
        &self,
        caller: &Principal,
        req: pb::ListApplicationsRequest,
    ) -> ServiceResult<pb::ListApplicationsResponse> {
        let prefixes = self.reader_prefixes(caller)?;
        let mut v = Violations::new();
        let region_prefix = match req.region_code.as_str() {
            "" => None,
            code => v.check("region_code", RegionCode::parse(code)).map(|c| c.to_string()),
        };
        let from = parse_date("submitted_from", &req.submitted_from, &mut v);
        let to = parse_date("submitted_to", &req.submitted_to, &mut v);
        if req.page_size < 0 {
            v.add("page_size", "page_size 不能为负数");
        }
        v.into_result()?;
        let limit = match req.page_size {
            0 => 50,
            n => (n as u64).min(500),
        };
        let filter = QueueFilter {
            prefixes,
            region_prefix,
            state: state_from_proto(req.state),
            profession: Some(profession_from_proto(req.profession)).filter(|p| !p.is_empty()),
            submitted_from: from.and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc()),
            submitted_to: to
                .and_then(|d| d.succ_opt())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc()),
        };
        let before = kit::page::keyset_after(&req.page_token, |id| uuid::Uuid::parse_str(id).is_ok())?;
        let before = before.as_deref();
        let (mut apps, total) = store::list(&self.db, &self.cipher, &filter, before, limit + 1).await?;
        let next_page_token = if apps.len() as u64 > limit {
            apps.truncate(limit as usize);
            apps.last().map(|a| kit::page::keyset_token(&a.id)).unwrap_or_default()
        } else {
            String::new()
        };
        // One query for the page's decisions, not one per application.
        let ids: Vec<String> = apps.iter().map(|a| a.id.clone()).collect();
        let mut decisions = store::decisions_of(&self.db, &ids).await?;
        let mut applications = Vec::with_capacity(apps.len());
        for app in &apps {
            let taken = decisions.remove(&app.id).unwrap_or_default();
            applications.push(self.to_proto_with(app, caller, false, taken).await?);
        }
        Ok(pb::ListApplicationsResponse {
            applications,
            next_page_token,
            total_size: total as i32,
        })
    }

    async fn count(
        &self,
        caller: &Principal,
        req: pb::CountApplicationsRequest,
    ) -> ServiceResult<pb::CountApplicationsResponse> {
        let prefixes = if req.region_code.is_empty() {
            self.reader_prefixes(caller)?
        } else {
            let region =
                RegionCode::parse(&req.region_code).map_err(|e| ServiceError::invalid("region_code", e.to_string()))?;
            caller.require(&READERS, &region)?;
            vec![region.to_string()]
        };
        let rows = store::states_by_region(&self.db, &prefixes).await?;
        // One application counts once per district it asks to serve.
        let mut seen = std::collections::BTreeSet::new();
        let mut counts: std::collections::BTreeMap<(String, String, String), i32> = Default::default();
        for (id, state, region, profession) in rows {
            let district = region.get(..6).unwrap_or(&region).to_string();
            if seen.insert((id, district.clone())) {
                *counts.entry((district, state, profession)).or_default() += 1;
            }
        }
        Ok(pb::CountApplicationsResponse {
            counts: counts
                .into_iter()
                .map(|((district_code, state, profession), count)| pb::StateCount {
                    district_code,
                    state: State::parse(&state).map(state_to_proto).unwrap_or_default(),
                    count,
                    profession: profession_to_proto(&profession),
                })
                .collect(),
        })
    }

    /// The reviewer may act on `app`: in scope, and not their own.
    fn require_reviewer(&self, caller: &Principal, app: &Application) -> ServiceResult<()> {
        if !caller.has_role(Role::Reviewer) || !covers_application(caller, &[Role::Reviewer], app) {
            return Err(ServiceError::PermissionDenied("无权审核此申请".into()));
        }
        if caller.account_id == app.account_id {
            return Err(ServiceError::PermissionDenied("不能审核本人的申请".into()));
        }
        Ok(())
    }

    async fn verify_employer(
        &self,
        caller: &Principal,
        req: pb::VerifyEmployerRequest,
    ) -> ServiceResult<pb::Application> {
        let mut app = self.load(&req.id).await?;
        self.require_reviewer(caller, &app)?;
        if !matches!(app.state, State::Submitted | State::UnderReview) {
            return Err(ServiceError::FailedPrecondition(format!(
                "当前状态（{}）不能核实工作单位",
                app.state.label()
            )));
        }
        if req.note.trim().is_empty() {
            return Err(ServiceError::invalid("note", "请填写核实说明"));
        }
        app.form.employer_verified = req.verified;
        app.form.employer_note = req.note.trim().to_string();
        if req.verified {
            app.findings
                .retain(|f| f.code != domain::precheck::finding::EMPLOYER_UNVERIFIED);
        }
        app.updated_at = Utc::now();
        let txn = kit::db::begin(&self.db).await?;
        store::save(&txn, &self.cipher, &app).await?;
        let row = DecisionRow {
            decision: "verify_employer".into(),
            from_state: app.state.as_str().into(),
            to_state: app.state.as_str().into(),
            reason: format!(
                "{}：{}",
                if req.verified { "已核实" } else { "未通过核实" },
                app.form.employer_note
            ),
            reviewer_account_id: caller.account_id.clone(),
            created_at: app.updated_at,
        };
        store::record_decision(&txn, &app.id, &row).await?;
        txn.commit().await?;
        self.to_proto(&app, caller, false).await
    }

    async fn decide(&self, caller: &Principal, req: pb::DecideApplicationRequest) -> ServiceResult<pb::Application> {
        let action =
            action_from_decision(req.decision).ok_or_else(|| ServiceError::invalid("decision", "请选择审核操作"))?;
        let reason = req.reason.trim().to_string();
        if action.needs_reason() && reason.is_empty() {
            return Err(ServiceError::invalid("reason", "请填写理由"));
        }
        kit::idempotency::validate_key(&req.request_id).map_err(|e| ServiceError::invalid("request_id", e))?;
        let scope = format!("DecideApplication:{}", caller.account_id);
        if !req.request_id.is_empty()
            && let Some(stored) = self.idempotency.lookup(&self.db, &scope, &req.request_id).await?
        {
            return pb::Application::decode(stored.as_slice()).map_err(ServiceError::internal);
        }
        let mut app = self.load(&req.id).await?;
        self.require_reviewer(caller, &app)?;
        if self.repeats(&app, action, caller, &reason).await? {
            return self.to_proto(&app, caller, false).await;
        }
        let from = app.state;
        let next = transition(from, action).map_err(|e| ServiceError::FailedPrecondition(e.to_string()))?;
        if action == Action::Approve && !app.form.employer_verified {
            return Err(ServiceError::FailedPrecondition(
                "请先核实工作单位，再作出通过决定".into(),
            ));
        }
        let now = Utc::now();
        if action.starts_validity() {
            app.qualified_until = Some(domain::expiry(now.date_naive(), self.validity_months));
        }
        app.state = next;
        app.updated_at = now;
        let txn = kit::db::begin(&self.db).await?;
        store::save(&txn, &self.cipher, &app).await?;
        let row = DecisionRow {
            decision: action.as_str().into(),
            from_state: from.as_str().into(),
            to_state: next.as_str().into(),
            reason: reason.clone(),
            reviewer_account_id: caller.account_id.clone(),
            created_at: now,
        };
        store::record_decision(&txn, &app.id, &row).await?;
        self.publish(&txn, &app, action, &reason).await?;
        let response = self.to_proto(&app, caller, false).await?;
        if !req.request_id.is_empty() {
            self.idempotency
                .remember(&txn, &scope, &req.request_id, &response.encode_to_vec())
                .await?;
        }
        txn.commit().await?;
        self.events.notify();
        tracing::info!(
            application_id = app.id,
            reviewer = caller.account_id,
            action = action.as_str(),
            "decision recorded"
        );
        Ok(response)
    }

    /// Marks approved qualifications past their validity as expired, each in
    /// its own transaction with its event. Returns how many expired.
    pub async fn expire_due(&self, today: NaiveDate) -> ServiceResult<usize> {
        let mut expired = 0;
        for id in store::due_for_expiry(&self.db, today).await? {
            let mut app = self.load(&id).await?;
            let Ok(next) = transition(app.state, Action::Expire) else {
                continue;
            };
            let now = Utc::now();
            let from = app.state;
            app.state = next;
            app.updated_at = now;
            let txn = kit::db::begin(&self.db).await?;
            store::save(&txn, &self.cipher, &app).await?;
            let row = DecisionRow {
                decision: Action::Expire.as_str().into(),
                from_state: from.as_str().into(),
                to_state: next.as_str().into(),
                reason: format!(
                    "资格有效期至 {}",
                    app.qualified_until.map(|d| d.to_string()).unwrap_or_default()
                ),
                reviewer_account_id: "system".into(),
                created_at: now,
            };
            store::record_decision(&txn, &app.id, &row).await?;
            let event = pb::QualificationExpired {
                application_id: app.id.clone(),
                account_id: app.account_id.clone(),
            };
            kit::events::publish(&txn, PRODUCER, "application", &app.id, &event).await?;
            txn.commit().await?;
            expired += 1;
        }
        if expired > 0 {
            self.events.notify();
            tracing::info!(expired, "qualifications expired");
        }
        Ok(expired)
    }

    /// The event a decision publishes, in its transaction.
    async fn publish(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        app: &Application,
        action: Action,
        reason: &str,
    ) -> Result<(), sea_orm::DbErr> {
        let until = app.qualified_until.map(|d| d.to_string()).unwrap_or_default();
        let (id, account) = (app.id.clone(), app.account_id.clone());
        match action {
            Action::Approve | Action::Reinstate => {
                let f = &app.form;
                let profile = pb::ProfessionalQualified {
                    application_id: id,
                    account_id: account,
                    real_name: app.real_name.clone(),
                    profession: profession_to_proto(&f.profession),
                    specialties: f.specialties.clone(),
                    service_region_codes: f.service_regions.clone(),
                    base_location: f
                        .base_location
                        .map(|(longitude, latitude)| pb::Location { longitude, latitude }),
                    employer_name: f.employer_name.clone(),
                    consent: Some(pb::Consent {
                        contact_visible_to_matched: f.contact_visible_to_matched,
                        federation_directory: f.federation_directory,
                    }),
                    qualified_until: until,
                };
                kit::events::publish(txn, PRODUCER, "application", &app.id, &profile).await?;
            }
            Action::Suspend => {
                let event = pb::QualificationSuspended {
                    application_id: id,
                    account_id: account,
                    reason: reason.into(),
                };
                kit::events::publish(txn, PRODUCER, "application", &app.id, &event).await?;
            }
            Action::Revoke => {
                let event = pb::QualificationRevoked {
                    application_id: id,
                    account_id: account,
                    reason: reason.into(),
                };
                kit::events::publish(txn, PRODUCER, "application", &app.id, &event).await?;
            }
            Action::Renew => {
                let event = pb::QualificationRenewed {
                    application_id: id,
                    account_id: account,
                    qualified_until: until,
                };
                kit::events::publish(txn, PRODUCER, "application", &app.id, &event).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

pub use kit::grpc::timestamp;

pub struct Service(pub Arc<Qualification>);

#[tonic::async_trait]
impl QualificationService for Service {
    async fn create_application(
        &self,
        request: Request<pb::CreateApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = principal(&request)?.clone();
        Ok(Response::new(self.0.create(&caller, request.into_inner()).await?))
    }

    async fn update_application(
        &self,
        request: Request<pb::UpdateApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = principal(&request)?.clone();
        Ok(Response::new(self.0.update(&caller, request.into_inner()).await?))
    }

    async fn submit_application(
        &self,
        request: Request<pb::SubmitApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = principal(&request)?.clone();
        Ok(Response::new(self.0.submit(&caller, &request.into_inner().id).await?))
    }

    async fn get_application(
        &self,
        request: Request<pb::GetApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = principal(&request)?.clone();
        Ok(Response::new(self.0.get(&caller, &request.into_inner().id).await?))
    }

    async fn list_applications(
        &self,
        request: Request<pb::ListApplicationsRequest>,
    ) -> Result<Response<pb::ListApplicationsResponse>, Status> {
        let caller = principal(&request)?.clone();
        Ok(Response::new(self.0.list(&caller, request.into_inner()).await?))
    }

    async fn count_applications(
        &self,
        request: Request<pb::CountApplicationsRequest>,
    ) -> Result<Response<pb::CountApplicationsResponse>, Status> {
        let caller = principal(&request)?.clone();
        Ok(Response::new(self.0.count(&caller, request.into_inner()).await?))
    }

    async fn verify_employer(
        &self,
        request: Request<pb::VerifyEmployerRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = principal(&request)?.clone();
        Ok(Response::new(
            self.0.verify_employer(&caller, request.into_inner()).await?,
        ))
    }

    async fn decide_application(
        &self,
        request: Request<pb::DecideApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        let caller = principal(&request)?.clone();
        Ok(Response::new(self.0.decide(&caller, request.into_inner()).await?))
    }
}
