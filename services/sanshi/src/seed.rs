//! Demo data for `sanshi dev`: professionals' applications across Chongqing's
//! districts in every workflow state, so that the reviewer queue is not empty.
//! Created through the services' public gRPC APIs, as real users would.
//! Names, numbers and employers are synthetic (valid check characters only).

use kit::grpc::with_token;
use kit::pii::{CreditCode, IdCardNumber};
use sanshi_proto::identity::v1 as id;
use sanshi_proto::qualification::v1 as pb;
use sanshi_proto::qualification::v1::qualification_service_client::QualificationServiceClient;
use tonic::transport::Channel;

const DISTRICTS: &[&str] = &[
    "500103", "500104", "500105", "500106", "500107", "500108", "500112", "500113",
];
const SURNAMES: &[&str] = &["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴", "徐", "孙"];
const GIVEN: &[&str] = &[
    "建国", "思远", "雨桐", "志强", "晓梅", "海峰", "静怡", "文博", "嘉欣", "立新", "明轩", "玉兰",
];
const EMPLOYERS: &[&str] = &[
    "山城规划设计有限公司",
    "渝州建筑设计研究院有限公司",
    "巴渝工程咨询有限公司",
    "两江城市更新研究中心",
    "嘉陵工程造价事务所",
];
const SPECIALTIES: &[&[&str]] = &[
    &["城市更新", "社区规划"],
    &["老旧小区改造", "加装电梯"],
    &["适老化改造", "无障碍设计"],
    &["公共空间设计"],
];
const PROFESSIONS: &[pb::Profession] = &[
    pb::Profession::Planner,
    pb::Profession::Architect,
    pb::Profession::Engineer,
    pb::Profession::Planner,
    pb::Profession::EngineeringEconomics,
    pb::Profession::SocialWork,
];

/// The state each seeded application ends in, and how many.
const PLAN: &[(&str, usize)] = &[
    ("draft", 4),
    ("submitted", 6),
    ("under_review", 5),
    ("approved", 8),
    ("rejected", 2),
    ("returned_for_changes", 3),
    ("suspended", 2),
    ("revoked", 2),
];

async fn login(identity: &Channel, username: &str, password: &str) -> anyhow::Result<String> {
    let response = id::auth_service_client::AuthServiceClient::new(identity.clone())
        .login(id::LoginRequest {
            username: username.into(),
            password: password.into(),
        })
        .await?;
    Ok(response.into_inner().tokens.map(|t| t.access_token).unwrap_or_default())
}

fn decide(id: &str, decision: pb::Decision, reason: &str) -> pb::DecideApplicationRequest {
    pb::DecideApplicationRequest {
        id: id.into(),
        decision: decision as i32,
        reason: reason.into(),
        request_id: String::new(),
    }
}

/// Seeds once: does nothing when the queue already has applications.
pub async fn applications(identity: Channel, qualification: Channel, password: &str) -> anyhow::Result<usize> {
    let reviewer = login(&identity, "reviewer", password).await?;
    let admin = login(&identity, "admin", password).await?;
    let mut q = QualificationServiceClient::new(qualification);
    let queue = q
        .list_applications(with_token(
            pb::ListApplicationsRequest {
                page_size: 1,
                ..Default::default()
            },
            &reviewer,
        ))
        .await?;
    if queue.into_inner().total_size > 0 {
        return Ok(0);
    }
    let mut accounts = id::account_service_client::AccountServiceClient::new(identity.clone());
    let mut seeded = 0;
    for (state, count) in PLAN {
        for _ in 0..*count {
            let n = seeded;
            seeded += 1;
            let district = DISTRICTS[n % DISTRICTS.len()];
            let username = format!("zhuanjia{:02}", n + 1);
            let name = format!("{}{}", SURNAMES[n % SURNAMES.len()], GIVEN[(n * 7) % GIVEN.len()]);
            let account = id::Account {
                username: username.clone(),
                display_name: name.clone(),
                region_code: district.into(),
                ..Default::default()
            };
            let request = id::CreateAccountRequest {
                account: Some(account),
                initial_password: password.into(),
                request_id: format!("seed-{username}"),
            };
            accounts.create_account(with_token(request, &admin)).await?;
            let applicant = login(&identity, &username, password).await?;

            // Born 1968–1981, in practice from 2000 on: always 18 or older when starting.
            let birth = format!("{}{:02}{:02}", 1968 + (n % 14), 1 + n % 12, 1 + n % 28);
            let id_number = IdCardNumber::with_check(&format!("{district}{birth}{:03}", 100 + n))?;
            let employer = EMPLOYERS[n % EMPLOYERS.len()];
            let credit_code = CreditCode::with_check(&format!("91{district}{:09}", 200_000_000 + n * 7919))?;
            let form = pb::Application {
                real_name: name,
                id_number: id_number.as_str().into(),
                phone: format!("139{:08}", 23_000_000 + n * 131),
                profession: PROFESSIONS[n % PROFESSIONS.len()] as i32,
                specialties: SPECIALTIES[n % SPECIALTIES.len()]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                employer: Some(pb::Employer {
                    name: employer.into(),
                    credit_code: credit_code.as_str().into(),
                    ..Default::default()
                }),
                practice_start_date: format!("{}-{:02}-01", 2000 + n % 15, 1 + n % 12),
                certificates: vec![pb::Certificate {
                    kind: "注册证书".into(),
                    number: format!("ZC{:06}", 10_000 + n),
                    issuer: "重庆市住房和城乡建设委员会".into(),
                    valid_until: "2029-12-31".into(),
                }],
                service_region_codes: vec![district.into()],
                base_location: Some(pb::Location {
                    longitude: 106.45 + (n % 10) as f64 * 0.03,
                    latitude: 29.45 + (n % 7) as f64 * 0.03,
                }),
                commitment_signed: true,
                consent: Some(pb::Consent {
                    contact_visible_to_matched: true,
                    federation_directory: n % 3 == 0,
                }),
                ..Default::default()
            };
            let create = pb::CreateApplicationRequest {
                application: Some(form),
                request_id: format!("seed-{username}"),
            };
            let app = q.create_application(with_token(create, &applicant)).await?.into_inner();
            if *state == "draft" {
                continue;
            }
            q.submit_application(with_token(
                pb::SubmitApplicationRequest { id: app.id.clone() },
                &applicant,
            ))
            .await?;
            let steps: &[(pb::Decision, &str)] = match *state {
                "under_review" => &[(pb::Decision::StartReview, "")],
                "approved" => &[
                    (pb::Decision::StartReview, ""),
                    (pb::Decision::Approve, "资料齐全，符合条件"),
                ],
                "rejected" => &[
                    (pb::Decision::StartReview, ""),
                    (pb::Decision::Reject, "执业证书与申报专业不符"),
                ],
                "returned_for_changes" => &[
                    (pb::Decision::StartReview, ""),
                    (pb::Decision::ReturnForChanges, "请补充服务意向街道"),
                ],
                "suspended" => &[
                    (pb::Decision::StartReview, ""),
                    (pb::Decision::Approve, "资料齐全"),
                    (pb::Decision::Suspend, "居民投诉待核查"),
                ],
                "revoked" => &[
                    (pb::Decision::StartReview, ""),
                    (pb::Decision::Approve, "资料齐全"),
                    (pb::Decision::Suspend, "证书被注销"),
                    (pb::Decision::Revoke, "证书已注销，取消资格"),
                ],
                _ => &[],
            };
            for (decision, reason) in steps {
                if *decision == pb::Decision::Approve {
                    let verify = pb::VerifyEmployerRequest {
                        id: app.id.clone(),
                        verified: true,
                        note: "已电话核实在职".into(),
                    };
                    q.verify_employer(with_token(verify, &reviewer)).await?;
                }
                q.decide_application(with_token(decide(&app.id, *decision, reason), &reviewer))
                    .await?;
            }
        }
    }
    Ok(seeded)
}

/// Community profiles the 民生路 worker and the 解放碑 street admin keep, so
/// that recommendations have tags to fit. Idempotent: each update carries a
/// fixed request id.
pub async fn community_profiles(identity: Channel, matching: Channel, password: &str) -> anyhow::Result<usize> {
    use sanshi_proto::matching::v1 as m;
    let street = login(&identity, "jiefangbei", password).await?;
    // (code, tags, renovation, households, year built, % over 60)
    type Seed = (
        &'static str,
        &'static [&'static str],
        m::RenovationStatus,
        i32,
        i32,
        i32,
    );
    let profiles: &[Seed] = &[
        (
            "500103003013",
            &["加装电梯", "适老化"],
            m::RenovationStatus::Renovating,
            1800,
            1992,
            34,
        ),
        (
            "500103003016",
            &["停车", "公共空间"],
            m::RenovationStatus::Assessment,
            1250,
            1988,
            29,
        ),
        (
            "500103003017",
            &["管网", "房屋安全"],
            m::RenovationStatus::Assessment,
            960,
            1985,
            41,
        ),
        (
            "500103003018",
            &["儿童友好", "居民参与"],
            m::RenovationStatus::Renovated,
            2100,
            2001,
            18,
        ),
    ];
    let mut client = m::community_service_client::CommunityServiceClient::new(matching);
    for (code, tags, renovation, households, year_built, over_60) in profiles {
        let request = m::UpdateCommunityProfileRequest {
            code: code.to_string(),
            profile: Some(m::CommunityProfile {
                households: *households,
                year_built: *year_built,
                over_60_percent: *over_60,
                renovation_status: *renovation as i32,
                tags: tags.iter().map(|t| t.to_string()).collect(),
                contact_name: "社区居委会".into(),
                contact_phone: String::new(),
                demand: 3,
            }),
            location: None,
            request_id: format!("seed-profile-{code}"),
        };
        client.update_community_profile(with_token(request, &street)).await?;
    }
    Ok(profiles.len())
}

/// A month of the programme in 民生路: an approved professional serving 渝中区
/// matched with the community, three visits (two confirmed and rated, one by
/// residents through a rating code), an opinion survey and the wellbeing
/// survey with answers. Everything goes through the services' APIs, except
/// one thing: the match is treated as confirmed 30 days ago in records' read
/// model (`records_db`), so that the demo has visits in the past.
pub async fn records_demo(
    identity: Channel,
    matching: Channel,
    records: Channel,
    records_db: &sea_orm::DatabaseConnection,
    password: &str,
) -> anyhow::Result<usize> {
    use sanshi_proto::matching::v1 as m;
    use sanshi_proto::records::v1 as r;
    let worker = login(&identity, "minshenglu", password).await?;
    let street = login(&identity, "jiefangbei", password).await?;
    let admin = login(&identity, "admin", password).await?;
    let mut rec = r::record_service_client::RecordServiceClient::new(records.clone());
    let existing = rec
        .list_records(with_token(r::ListRecordsRequest::default(), &worker))
        .await?
        .into_inner();
    if !existing.records.is_empty() {
        return Ok(0);
    }

    // The first approved demo professional serving 渝中区.
    let mut professionals = m::professional_service_client::ProfessionalServiceClient::new(matching.clone());
    let mut chosen = None;
    for n in 1..=32 {
        let Ok(token) = login(&identity, &format!("zhuanjia{n:02}"), password).await else {
            continue;
        };
        let me = professionals
            .get_professional(with_token(
                m::GetProfessionalRequest {
                    account_id: "me".into(),
                },
                &token,
            ))
            .await;
        if let Ok(me) = me
            && me.get_ref().status == m::ProfessionalStatus::Active as i32
            && me.get_ref().service_region_codes.iter().any(|r| r == "500103")
        {
            chosen = Some((token, me.into_inner().account_id));
            break;
        }
    }
    let Some((pro, pro_id)) = chosen else {
        anyhow::bail!("no approved demo professional serves 500103");
    };
    let community = "500103003013";
    let mut matches = m::match_service_client::MatchServiceClient::new(matching);
    let invited = matches
        .invite_professional(with_token(
            m::InviteProfessionalRequest {
                community_code: community.into(),
                professional_account_id: pro_id.clone(),
                message: "欢迎指导民生路社区加装电梯".into(),
                request_id: "seed-invite-minshenglu".into(),
            },
            &worker,
        ))
        .await?
        .into_inner();
    if invited.state == m::MatchState::Pending as i32 {
        matches
            .respond_to_match(with_token(
                m::RespondToMatchRequest {
                    id: invited.id.clone(),
                    accept: true,
                    message: "乐意服务".into(),
                },
                &pro,
            ))
            .await?;
    }
    // Wait for records to learn of the match, then date it back.
    let since = chrono::Utc::now() - chrono::Duration::days(30);
    let backdate = sea_orm::Statement::from_sql_and_values(
        records_db.get_database_backend(),
        "UPDATE match_intervals SET from_at = $1 WHERE match_id = $2",
        [since.into(), invited.id.clone().into()],
    );
    let mut known = false;
    for _ in 0..100 {
        use sea_orm::ConnectionTrait;
        if records_db.execute_raw(backdate.clone()).await?.rows_affected() > 0 {
            known = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::ensure!(known, "records did not receive the demo match");

    let visit = |days_ago: i64, service: &str, summary: &str, reached: i32| {
        let start = chrono::Utc::now() - chrono::Duration::days(days_ago);
        r::SubmitRecordRequest {
            match_id: invited.id.clone(),
            content: Some(r::RecordContent {
                service_type: service.into(),
                start_time: Some(kit::grpc::timestamp(start)),
                end_time: Some(kit::grpc::timestamp(start + chrono::Duration::hours(2))),
                check_in: Some(r::Location {
                    longitude: 106.5815,
                    latitude: 29.5527,
                }),
                summary: summary.into(),
                residents_reached: reached,
                ..Default::default()
            }),
            request_id: format!("seed-visit-{days_ago}"),
        }
    };
    let mut ids = Vec::new();
    for (days, service, summary, reached) in [
        (21, "survey", "走访 5 栋、7 栋，记录楼道、管线与加装电梯条件", 18),
        (
            12,
            "resident-communication",
            "组织 5 栋居民恳谈会，讲解加装电梯政策与费用分摊",
            32,
        ),
        (3, "plan-review", "审查加装电梯设计方案，提出结构与消防意见", 9),
    ] {
        ids.push(
            rec.submit_record(with_token(visit(days, service, summary, reached), &pro))
                .await?
                .into_inner()
                .id,
        );
    }
    for (id, stars) in ids.iter().take(2).zip([5, 4]) {
        rec.confirm_record(with_token(r::ConfirmRecordRequest { id: id.clone() }, &worker))
            .await?;
        rec.rate_record(with_token(
            r::RateRecordRequest {
                id: id.clone(),
                rating: stars,
                comment: "专业、耐心".into(),
            },
            &worker,
        ))
        .await?;
    }
    let code = rec
        .issue_rating_code(with_token(
            r::IssueRatingCodeRequest {
                record_id: ids[1].clone(),
            },
            &worker,
        ))
        .await?
        .into_inner()
        .code;
    for (phone, stars) in [("13800000001", 5), ("13800000002", 4), ("13800000003", 5)] {
        rec.submit_resident_rating(r::SubmitResidentRatingRequest {
            code: code.clone(),
            contact: phone.into(),
            rating: stars,
            comment: String::new(),
        })
        .await?;
    }

    // Surveys: residents of two communities answer the wellbeing survey.
    let mut surveys = r::survey_service_client::SurveyServiceClient::new(records);
    let wellbeing = surveys
        .create_survey(with_token(
            r::CreateSurveyRequest {
                kind: r::SurveyKind::Wellbeing as i32,
                title: "2026 年第四季度美好社区指数调查".into(),
                region_code: "500103003".into(),
                period: "2026Q4".into(),
                request_id: "seed-wellbeing-2026q4".into(),
                ..Default::default()
            },
            &street,
        ))
        .await?
        .into_inner();
    let mut accounts = id::account_service_client::AccountServiceClient::new(identity.clone());
    for n in 0..6 {
        let home = if n < 4 { community } else { "500103003016" };
        let username = format!("jumin{:02}", n + 1);
        let account = id::Account {
            username: username.clone(),
            display_name: format!("居民{}", n + 1),
            region_code: home.into(),
            roles: vec![id::RoleGrant {
                role: id::Role::Resident as i32,
                region_code: home.into(),
            }],
            ..Default::default()
        };
        accounts
            .create_account(with_token(
                id::CreateAccountRequest {
                    account: Some(account),
                    initial_password: password.into(),
                    request_id: format!("seed-{username}"),
                },
                &admin,
            ))
            .await?;
        let resident = login(&identity, &username, password).await?;
        let answers = wellbeing
            .questions
            .iter()
            .enumerate()
            .map(|(q, question)| r::Answer {
                question_id: question.id.clone(),
                scale: 2 + ((n + q) % 4) as i32,
                ..Default::default()
            })
            .collect();
        surveys
            .submit_answers(with_token(
                r::SubmitAnswersRequest {
                    survey_id: wellbeing.id.clone(),
                    answers,
                },
                &resident,
            ))
            .await?;
    }
    Ok(ids.len())
}
