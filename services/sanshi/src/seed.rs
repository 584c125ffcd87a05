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
