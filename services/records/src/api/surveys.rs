//! SurveyService: opinion collections, surveys and the wellbeing index.

use super::{COMMUNITY_SIDE, REGION_VIEWERS, RecordsService, caller, prefixes, region, timestamp};
use crate::domain::survey::{self, Answer, Question, QuestionKind};
use crate::domain::wellbeing;
use crate::store::{self, surveys::Survey};
use chrono::Utc;
use kit::auth::{Principal, Role};
use kit::region::Scope;
use kit::{ServiceError, ServiceResult};
use sanshi_proto::records::v1 as pb;
use sanshi_proto::records::v1::survey_service_server::SurveyService;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tonic::{Request, Response, Status};

fn kind_to_proto(kind: QuestionKind) -> i32 {
    use pb::QuestionKind as P;
    (match kind {
        QuestionKind::SingleChoice => P::SingleChoice,
        QuestionKind::MultipleChoice => P::MultipleChoice,
        QuestionKind::Scale => P::Scale,
        QuestionKind::Text => P::Text,
    }) as i32
}

fn kind_from_proto(v: i32) -> Option<QuestionKind> {
    [
        QuestionKind::SingleChoice,
        QuestionKind::MultipleChoice,
        QuestionKind::Scale,
        QuestionKind::Text,
    ]
    .into_iter()
    .find(|k| kind_to_proto(*k) == v)
}

fn valid_period(p: &str) -> bool {
    let b = p.as_bytes();
    let year = b.len() >= 4 && b[..4].iter().all(u8::is_ascii_digit);
    year && match &b[4..] {
        [b'Q', q] => (b'1'..=b'4').contains(q),
        [b'-', m1, m2] => matches!((m1, m2), (b'0', b'1'..=b'9') | (b'1', b'0'..=b'2')),
        _ => false,
    }
}

/// The community a resident lives in (their resident role's region).
fn home_community(caller: &Principal) -> Option<String> {
    caller.scopes(&[Role::Resident]).iter().find_map(|s| match s {
        Scope::Region(r) if r.as_str().len() == 12 && caller.has_role(Role::Resident) => Some(r.as_str().to_string()),
        _ => None,
    })
}

impl RecordsService {
    async fn survey_to_proto(&self, s: &Survey) -> ServiceResult<pb::Survey> {
        Ok(pb::Survey {
            id: s.id.clone(),
            kind: if s.kind == "wellbeing" {
                pb::SurveyKind::Wellbeing
            } else {
                pb::SurveyKind::Opinion
            } as i32,
            title: s.title.clone(),
            region_code: s.region_code.clone(),
            period: s.period.clone(),
            questions: s
                .questions
                .iter()
                .map(|q| pb::Question {
                    id: q.id.clone(),
                    kind: kind_to_proto(q.kind),
                    text: q.text.clone(),
                    options: q.options.clone(),
                    dimension: q.dimension.clone(),
                })
                .collect(),
            open_time: Some(timestamp(s.opens_at)),
            close_time: s.closes_at.map(timestamp),
            respondents: store::surveys::respondents(&self.db, &s.id).await?,
        })
    }

    async fn create_survey(&self, caller: &Principal, req: pb::CreateSurveyRequest) -> ServiceResult<pb::Survey> {
        let code = region("region_code", &req.region_code)?;
        if !caller.covers(&COMMUNITY_SIDE, &code) {
            return Err(ServiceError::PermissionDenied("只能在本人管辖区域内发起调查".into()));
        }
        let mut v = kit::error::Violations::new();
        let title = req.title.trim().to_string();
        if !(2..=64).contains(&title.chars().count()) {
            v.add("title", "标题应为 2 到 64 个字");
        }
        let closes_at = match req.close_time.as_ref() {
            Some(t) => match super::time("close_time", Some(t)) {
                Ok(t) if t > Utc::now() => Some(t),
                _ => {
                    v.add("close_time", "截止时间应晚于现在");
                    None
                }
            },
            None => None,
        };
        let (kind, period, questions) = match pb::SurveyKind::try_from(req.kind) {
            Ok(pb::SurveyKind::Opinion) => {
                let mut questions = Vec::new();
                for (i, q) in req.questions.iter().enumerate() {
                    let Some(kind) = kind_from_proto(q.kind) else {
                        v.add(format!("questions[{i}].kind"), "请选择题型");
                        continue;
                    };
                    questions.push(Question {
                        id: q.id.trim().to_string(),
                        kind,
                        text: q.text.trim().to_string(),
                        options: q.options.iter().map(|o| o.trim().to_string()).collect(),
                        dimension: String::new(),
                    });
                }
                if questions.len() == req.questions.len() {
                    let problems = survey::check_questions(&questions);
                    if let Err(ServiceError::InvalidArgument(list)) = problems.into_result() {
                        for f in list {
                            v.add(f.field, f.description);
                        }
                    }
                }
                ("opinion", String::new(), questions)
            }
            Ok(pb::SurveyKind::Wellbeing) => {
                if !req.questions.is_empty() {
                    v.add("questions", "美好社区指数调查使用标准问卷，不能自定义问题");
                }
                if !valid_period(req.period.trim()) {
                    v.add("period", "统计期应为 2026Q4 或 2026-11 的形式");
                }
                let questions = wellbeing::STANDARD_QUESTIONS
                    .iter()
                    .map(|(id, dimension, text)| Question {
                        id: id.to_string(),
                        kind: QuestionKind::Scale,
                        text: text.to_string(),
                        options: Vec::new(),
                        dimension: dimension.to_string(),
                    })
                    .collect();
                ("wellbeing", req.period.trim().to_string(), questions)
            }
            _ => {
                v.add("kind", "请选择调查类型");
                ("", String::new(), Vec::new())
            }
        };
        v.into_result()?;
        let scope = format!("CreateSurvey:{}", caller.account_id);
        self.idempotency
            .once(&self.db, scope, &req.request_id, || async {
                let s = Survey {
                    id: uuid::Uuid::now_v7().to_string(),
                    kind: kind.to_string(),
                    title,
                    region_code: code.as_str().to_string(),
                    period,
                    questions,
                    opens_at: Utc::now(),
                    closes_at,
                    created_by: caller.account_id.clone(),
                };
                let txn = kit::db::begin(&self.db).await?;
                store::surveys::insert(&txn, &s).await?;
                tracing::info!(survey_id = %s.id, kind, region = %s.region_code, "survey created");
                Ok((self.survey_to_proto(&s).await?, txn))
            })
            .await
    }

    async fn load_survey(&self, id: &str) -> ServiceResult<Survey> {
        store::surveys::find(&self.db, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("调查", id))
    }

    fn sees_survey(caller: &Principal, s: &Survey) -> bool {
        let viewer = prefixes(caller, &REGION_VIEWERS)
            .iter()
            .any(|p| s.region_code.starts_with(p.as_str()) || p.starts_with(s.region_code.as_str()));
        viewer || home_community(caller).is_some_and(|c| c.starts_with(s.region_code.as_str()))
    }

    async fn submit_answers(
        &self,
        caller: &Principal,
        req: pb::SubmitAnswersRequest,
    ) -> ServiceResult<pb::SubmitAnswersResponse> {
        let s = self.load_survey(&req.survey_id).await?;
        let community = home_community(caller)
            .filter(|c| c.starts_with(s.region_code.as_str()))
            .ok_or_else(|| ServiceError::PermissionDenied("只有该区域的居民可以作答".into()))?;
        if s.closes_at.is_some_and(|t| Utc::now() >= t) {
            return Err(ServiceError::FailedPrecondition("调查已截止".into()));
        }
        let answers: Vec<Answer> = req
            .answers
            .iter()
            .map(|a| Answer {
                question_id: a.question_id.clone(),
                choices: a.choices.clone(),
                scale: a.scale,
                text: a.text.clone(),
            })
            .collect();
        survey::check_answers(&s.questions, &answers).into_result()?;
        let txn = kit::db::begin(&self.db).await?;
        if !store::surveys::add_response(&txn, &s.id, &caller.account_id, &community, &answers).await? {
            return Err(ServiceError::AlreadyExists("您已参加过这次调查".into()));
        }
        txn.commit().await?;
        Ok(pb::SubmitAnswersResponse {
            survey_id: s.id.clone(),
            respondents: store::surveys::respondents(&self.db, &s.id).await?,
        })
    }

    /// Checks that the caller may read results of `region` (within their scope).
    fn require_viewer(caller: &Principal, region: &str) -> ServiceResult<()> {
        if prefixes(caller, &REGION_VIEWERS)
            .iter()
            .any(|p| region.starts_with(p.as_str()))
        {
            Ok(())
        } else {
            Err(ServiceError::PermissionDenied("只能查看本人管辖区域的结果".into()))
        }
    }

    async fn results(&self, caller: &Principal, req: pb::GetSurveyResultsRequest) -> ServiceResult<pb::SurveyResults> {
        let s = self.load_survey(&req.survey_id).await?;
        let region = match req.region_code.trim() {
            "" => s.region_code.clone(),
            r => super::region("region_code", r)?.as_str().to_string(),
        };
        if !region.starts_with(s.region_code.as_str()) {
            return Err(ServiceError::invalid("region_code", "应在调查范围之内"));
        }
        Self::require_viewer(caller, &region)?;
        let responses: Vec<Vec<Answer>> = store::surveys::responses(&self.db, std::slice::from_ref(&s.id), &region)
            .await?
            .into_iter()
            .map(|(_, _, answers)| answers)
            .collect();
        let questions = survey::results(&s.questions, &responses)
            .into_iter()
            .map(|r| pb::QuestionResult {
                question_id: r.question_id,
                choice_counts: r.choice_counts.into_iter().collect(),
                scale_mean: r.scale_mean,
                answered: r.answered,
                texts: r.texts,
            })
            .collect();
        Ok(pb::SurveyResults {
            survey_id: s.id.clone(),
            region_code: region,
            respondents: responses.len() as i32,
            questions,
        })
    }

    async fn wellbeing_index(&self, caller: &Principal, region_code: &str) -> ServiceResult<pb::WellbeingIndex> {
        let region = super::region("region_code", region_code)?.as_str().to_string();
        Self::require_viewer(caller, &region)?;
        let surveys = store::surveys::wellbeing_surveys(&self.db, &region).await?;
        let periods: HashMap<String, String> = surveys.iter().map(|s| (s.id.clone(), s.period.clone())).collect();
        let ids: Vec<String> = surveys.iter().map(|s| s.id.clone()).collect();
        // period → community → (scale answers, respondents)
        type Answers = (Vec<(String, i32)>, u32);
        let mut grouped: BTreeMap<String, BTreeMap<String, Answers>> = BTreeMap::new();
        for (survey_id, community, answers) in store::surveys::responses(&self.db, &ids, &region).await? {
            let Some(period) = periods.get(&survey_id) else {
                continue;
            };
            let entry = grouped.entry(period.clone()).or_default().entry(community).or_default();
            entry.0.extend(answers.into_iter().map(|a| (a.question_id, a.scale)));
            entry.1 += 1;
        }
        let periods = grouped
            .into_iter()
            .map(|(period, communities)| {
                let parts: Vec<([Option<f64>; 6], u32)> = communities
                    .values()
                    .map(|(answers, n)| (wellbeing::community_sub_indices(answers), *n))
                    .collect();
                let respondents: u32 = parts.iter().map(|p| p.1).sum();
                let sub = wellbeing::aggregate(&parts);
                pb::WellbeingPeriod {
                    period,
                    index: wellbeing::index(&sub).unwrap_or(0.0),
                    sub_indices: wellbeing::DIMENSIONS
                        .iter()
                        .zip(sub)
                        .map(|((dimension, name), value)| pb::SubIndex {
                            dimension: dimension.to_string(),
                            name: name.to_string(),
                            value: value.unwrap_or(0.0),
                        })
                        .collect(),
                    respondents: respondents as i32,
                }
            })
            .collect();
        Ok(pb::WellbeingIndex {
            region_code: region,
            periods,
            method: wellbeing::METHOD.to_string(),
        })
    }

    async fn list_surveys(
        &self,
        caller: &Principal,
        req: pb::ListSurveysRequest,
    ) -> ServiceResult<pb::ListSurveysResponse> {
        let size = kit::page::size(req.page_size)?;
        let offset = kit::page::offset(&req.page_token)?;
        let region = super::region_filter("region_code", &req.region_code)?;
        let containing: Vec<String> = home_community(caller).into_iter().collect();
        let fetched =
            store::surveys::list(&self.db, &prefixes(caller, &REGION_VIEWERS), &containing, offset, size).await?;
        let next = kit::page::next(offset, size, fetched.len());
        let mut surveys = Vec::new();
        for s in fetched
            .iter()
            .take(size as usize)
            .filter(|s| s.region_code.starts_with(region.as_str()) || region.starts_with(s.region_code.as_str()))
        {
            surveys.push(self.survey_to_proto(s).await?);
        }
        Ok(pb::ListSurveysResponse {
            surveys,
            next_page_token: next,
        })
    }
}

pub struct Surveys(pub Arc<RecordsService>);

#[tonic::async_trait]
impl SurveyService for Surveys {
    async fn create_survey(&self, request: Request<pb::CreateSurveyRequest>) -> Result<Response<pb::Survey>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0.create_survey(&caller, request.into_inner()).await?,
        ))
    }

    async fn get_survey(&self, request: Request<pb::GetSurveyRequest>) -> Result<Response<pb::Survey>, Status> {
        let caller = caller(&request)?;
        let s = self.0.load_survey(&request.into_inner().id).await?;
        if !RecordsService::sees_survey(&caller, &s) {
            return Err(ServiceError::permission_denied().into());
        }
        Ok(Response::new(self.0.survey_to_proto(&s).await?))
    }

    async fn list_surveys(
        &self,
        request: Request<pb::ListSurveysRequest>,
    ) -> Result<Response<pb::ListSurveysResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.list_surveys(&caller, request.into_inner()).await?))
    }

    async fn submit_answers(
        &self,
        request: Request<pb::SubmitAnswersRequest>,
    ) -> Result<Response<pb::SubmitAnswersResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0.submit_answers(&caller, request.into_inner()).await?,
        ))
    }

    async fn get_survey_results(
        &self,
        request: Request<pb::GetSurveyResultsRequest>,
    ) -> Result<Response<pb::SurveyResults>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.0.results(&caller, request.into_inner()).await?))
    }

    async fn get_wellbeing_index(
        &self,
        request: Request<pb::GetWellbeingIndexRequest>,
    ) -> Result<Response<pb::WellbeingIndex>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.0
                .wellbeing_index(&caller, &request.into_inner().region_code)
                .await?,
        ))
    }
}
