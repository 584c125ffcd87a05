//! Qualification end to end: real identity and qualification services on
//! random ports, on SQLite and on PostgreSQL.

use kit::db::testing::TestDb;
use sanshi_proto::events::v1::{SubscribeRequest, event_stream_service_client::EventStreamServiceClient};
use sanshi_proto::identity::v1 as id;
use sanshi_proto::qualification::v1 as pb;
use sanshi_proto::qualification::v1::qualification_service_client::QualificationServiceClient;
use sea_orm::ConnectionTrait;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

struct Stack {
    identity: Channel,
    qualification: Channel,
    qdb: TestDb,
    idb: TestDb,
    identity_config: identity::Config,
    stop_identity: Option<tokio::sync::oneshot::Sender<()>>,
    identity_task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

const ID_A: &str = "11010519491231002X";

/// A valid ID number for a 1980s birth date: the check character computed as GB 11643 says.
fn id_number(body17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body17.bytes().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{body17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

async fn stack(qdb: TestDb) -> Stack {
    let idb = TestDb::of_kind(qdb.kind)
        .await
        .expect("second database of the same kind");
    // Identity follows qualification's events, so it must know the port first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut identity_config = identity::testing::config(&idb.config.url);
    identity_config.consumers.qualification_url = format!("http://127.0.0.1:{port}");
    let (stop_identity, identity_stopped) = tokio::sync::oneshot::channel::<()>();
    let identity = identity::start(identity_config.clone(), async {
        let _ = identity_stopped.await;
    })
    .await
    .unwrap();
    let identity_url = format!("http://{}", identity.local_addr);
    // A restart comes back on the same port.
    identity_config.server.port = identity.local_addr.port();
    let overrides = format!(
        r#"
        [server]
        host = "127.0.0.1"
        port = {port}
        [database]
        url = "{url}"
        [telemetry]
        log_format = "pretty"
        log_level = "warn"
        [auth]
        identity_url = "{identity_url}"
        [rules]
        expiry_sweep_secs = 1
        [pii]
        encryption_key = "BAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiM="
        hash_key = "MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY="
        "#,
        url = qdb.config.url
    );
    let config: qualification::Config = kit::config::from_toml(qualification::config::DEFAULTS, &overrides).unwrap();
    let running = qualification::start(config, std::future::pending()).await.unwrap();
    let connect = |addr: std::net::SocketAddr| async move {
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap()
    };
    let stack = Stack {
        identity: connect(identity.local_addr).await,
        qualification: connect(running.local_addr).await,
        qdb,
        idb,
        identity_config,
        stop_identity: Some(stop_identity),
        identity_task: None,
    };
    let mut stack = stack;
    stack.identity_task = Some(tokio::spawn(identity.wait()));
    tokio::spawn(running.wait());
    stack
}

impl Stack {
    async fn stop_identity(&mut self) {
        if let Some(stop) = self.stop_identity.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.identity_task.take() {
            task.await.unwrap().unwrap();
        }
    }

    async fn start_identity(&mut self) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = identity::start(self.identity_config.clone(), async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
        self.stop_identity = Some(stop);
        self.identity_task = Some(tokio::spawn(running.wait()));
    }

    async fn count(db: &TestDb, sql: &str) -> i64 {
        let row = db
            .conn
            .query_one_raw(sea_orm::Statement::from_string(
                db.conn.get_database_backend(),
                sql.to_string(),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }

    fn q(&self) -> QualificationServiceClient<Channel> {
        QualificationServiceClient::new(self.qualification.clone())
    }

    async fn login(&self, username: &str) -> String {
        id::auth_service_client::AuthServiceClient::new(self.identity.clone())
            .login(id::LoginRequest {
                username: username.into(),
                password: identity::testing::PASSWORD.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .tokens
            .unwrap()
            .access_token
    }

    /// The account's professional grants, once identity has applied what
    /// qualification published (waits until `expected` or 30 s).
    async fn professional_regions(&self, token: &str, expected: &[&str]) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let me = id::account_service_client::AccountServiceClient::new(self.identity.clone())
                .get_account(kit::grpc::with_token(id::GetAccountRequest { id: "me".into() }, token))
                .await
                .unwrap()
                .into_inner();
            let regions: Vec<String> = me
                .roles
                .iter()
                .filter(|g| g.role == id::Role::Professional as i32)
                .map(|g| g.region_code.clone())
                .collect();
            if regions == expected || std::time::Instant::now() > deadline {
                return regions;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Creates an account through the city admin and logs it in.
    async fn person(&self, username: &str, role: id::Role, region: &str) -> String {
        let city = self.login("city").await;
        let request = id::CreateAccountRequest {
            account: Some(id::Account {
                username: username.into(),
                display_name: "测试".into(),
                region_code: region.into(),
                roles: vec![id::RoleGrant {
                    role: role as i32,
                    region_code: region.into(),
                }],
                ..Default::default()
            }),
            initial_password: identity::testing::PASSWORD.into(),
            request_id: String::new(),
        };
        id::account_service_client::AccountServiceClient::new(self.identity.clone())
            .create_account(kit::grpc::with_token(request, &city))
            .await
            .unwrap();
        self.login(username).await
    }
}

fn form(id_number: &str, regions: &[&str], practice_start: &str) -> pb::Application {
    pb::Application {
        real_name: "王建国".into(),
        id_number: id_number.into(),
        phone: "13812345678".into(),
        profession: pb::Profession::Planner as i32,
        specialties: vec!["城市更新".into()],
        employer: Some(pb::Employer {
            name: "深圳市腾讯计算机系统有限公司".into(),
            credit_code: "91440300708461136T".into(),
            ..Default::default()
        }),
        practice_start_date: practice_start.into(),
        certificates: vec![pb::Certificate {
            kind: "注册城乡规划师".into(),
            number: "GH2015001234".into(),
            issuer: "自然资源部".into(),
            valid_until: "2030-12-31".into(),
        }],
        service_region_codes: regions.iter().map(|r| r.to_string()).collect(),
        base_location: Some(pb::Location {
            longitude: 106.57,
            latitude: 29.55,
        }),
        commitment_signed: true,
        consent: Some(pb::Consent {
            contact_visible_to_matched: true,
            federation_directory: false,
        }),
        ..Default::default()
    }
}

fn t<T>(message: T, token: &str) -> tonic::Request<T> {
    kit::grpc::with_token(message, token)
}

fn code<T>(result: Result<tonic::Response<T>, tonic::Status>) -> Code {
    result.map(|_| Code::Ok).unwrap_or_else(|s| s.code())
}

async fn create_and_submit(s: &Stack, token: &str, application: pb::Application) -> pb::Application {
    let draft = s
        .q()
        .create_application(t(
            pb::CreateApplicationRequest {
                application: Some(application),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner();
    s.q()
        .submit_application(t(pb::SubmitApplicationRequest { id: draft.id }, token))
        .await
        .unwrap()
        .into_inner()
}

fn decide(id: &str, decision: pb::Decision, reason: &str) -> pb::DecideApplicationRequest {
    pb::DecideApplicationRequest {
        id: id.into(),
        decision: decision as i32,
        reason: reason.into(),
        request_id: String::new(),
    }
}

async fn review_workflow_scope_and_events(db: TestDb) {
    let s = stack(db).await;
    let applicant = s.person("wangjg", id::Role::Resident, "500103003013").await;
    let reviewer = s.person("rev_yuzhong", id::Role::Reviewer, "500103").await;
    let other = s.person("rev_dadukou", id::Role::Reviewer, "500104").await;

    // A draft may be incomplete; a typed value must be well-formed.
    let draft = s
        .q()
        .create_application(t(
            pb::CreateApplicationRequest {
                application: Some(pb::Application {
                    real_name: "王建国".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &applicant,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(draft.state, pb::ApplicationState::Draft as i32);
    let update = |application: pb::Application| pb::UpdateApplicationRequest {
        application: Some(application),
        update_mask: vec![],
    };
    let mut full = form(ID_A, &["500103"], "2015-03-01");
    full.id = draft.id.clone();
    s.q().update_application(t(update(full), &applicant)).await.unwrap();
    // Until it is submitted, a reviewer in scope sees it masked only.
    let peeked = s
        .q()
        .get_application(t(pb::GetApplicationRequest { id: draft.id.clone() }, &reviewer))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (peeked.id_number.as_str(), peeked.phone.as_str()),
        ("110105********002X", "138****5678"),
        "a draft's personal data is not the reviewer's"
    );
    let submitted = s
        .q()
        .submit_application(t(pb::SubmitApplicationRequest { id: draft.id.clone() }, &applicant))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(submitted.state, pb::ApplicationState::Submitted as i32);
    assert_eq!(submitted.version, 1);
    let resubmitted = s
        .q()
        .submit_application(t(pb::SubmitApplicationRequest { id: draft.id.clone() }, &applicant))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (resubmitted.state, resubmitted.version),
        (submitted.state, 1),
        "a retried submission is the same submission"
    );
    assert_eq!(submitted.years_of_practice, 11);
    assert_eq!(submitted.id_number, ID_A, "the applicant sees their own data");
    assert!(submitted.findings.iter().any(|f| f.code == "employer_unverified"));

    // A reviewer of 500104 neither sees nor decides it.
    assert_eq!(
        code(
            s.q()
                .get_application(t(pb::GetApplicationRequest { id: draft.id.clone() }, &other))
                .await
        ),
        Code::PermissionDenied
    );
    let queue = s
        .q()
        .list_applications(t(pb::ListApplicationsRequest::default(), &other))
        .await
        .unwrap()
        .into_inner();
    assert!(queue.applications.is_empty());
    assert_eq!(
        code(
            s.q()
                .decide_application(t(decide(&draft.id, pb::Decision::StartReview, ""), &other))
                .await
        ),
        Code::PermissionDenied
    );

    // The reviewer of 500103 does; its queue masks, its Get reveals (and logs the read).
    for junk in ["abc", "-1", "Z2FyYmFnZQ"] {
        let junk = pb::ListApplicationsRequest {
            page_token: junk.into(),
            ..Default::default()
        };
        assert_eq!(
            code(s.q().list_applications(t(junk, &reviewer)).await),
            Code::InvalidArgument
        );
    }
    let queue = s
        .q()
        .list_applications(t(pb::ListApplicationsRequest::default(), &reviewer))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(queue.total_size, 1);
    assert_eq!(queue.applications[0].id_number, "110105********002X");
    assert_eq!(queue.applications[0].phone, "138****5678");
    let seen = s
        .q()
        .get_application(t(pb::GetApplicationRequest { id: draft.id.clone() }, &reviewer))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.id_number, ID_A);
    let reads = s
        .qdb
        .conn
        .query_all_raw(sea_orm::Statement::from_string(
            s.qdb.conn.get_database_backend(),
            "SELECT * FROM pii_reads".to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(reads.len(), 1);

    // The workflow: approval needs the employer checked and a reason.
    let q = &mut s.q();
    assert_eq!(
        code(
            q.decide_application(t(decide(&draft.id, pb::Decision::Approve, "资料齐全"), &reviewer))
                .await
        ),
        Code::FailedPrecondition
    );
    q.decide_application(t(decide(&draft.id, pb::Decision::StartReview, ""), &reviewer))
        .await
        .unwrap();
    let verify = pb::VerifyEmployerRequest {
        id: draft.id.clone(),
        verified: true,
        note: "国家企业信用信息公示系统查询一致".into(),
    };
    q.verify_employer(t(verify, &reviewer)).await.unwrap();
    let missing_reason = q
        .decide_application(t(decide(&draft.id, pb::Decision::Approve, " "), &reviewer))
        .await
        .unwrap_err();
    assert_eq!(missing_reason.code(), Code::InvalidArgument);
    assert_eq!(
        missing_reason.get_details_bad_request().unwrap().field_violations[0].field,
        "reason"
    );
    let approved = q
        .decide_application(t(
            decide(&draft.id, pb::Decision::Approve, "资料齐全，从业11年"),
            &reviewer,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(approved.state, pb::ApplicationState::Approved as i32);
    assert!(!approved.qualified_until.is_empty());
    // The same decision retried (its answer lost) answers the application;
    // a different one is still refused.
    let retried = q
        .decide_application(t(
            decide(&draft.id, pb::Decision::Approve, "资料齐全，从业11年"),
            &reviewer,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (retried.state, retried.qualified_until.as_str()),
        (approved.state, approved.qualified_until.as_str())
    );
    assert_eq!(
        code(
            q.decide_application(t(decide(&draft.id, pb::Decision::Approve, "再次"), &reviewer))
                .await
        ),
        Code::FailedPrecondition
    );
    let mut edit = form(ID_A, &["500103"], "2015-03-01");
    edit.id = draft.id.clone();
    assert_eq!(
        code(q.update_application(t(update(edit), &applicant)).await),
        Code::FailedPrecondition,
        "approved is frozen"
    );
    // … but consent stays the applicant's to withdraw.
    let withdraw = pb::UpdateApplicationRequest {
        application: Some(pb::Application {
            id: draft.id.clone(),
            consent: Some(pb::Consent {
                contact_visible_to_matched: false,
                federation_directory: false,
            }),
            ..Default::default()
        }),
        update_mask: vec!["consent".into()],
    };
    let withdrawn = q
        .update_application(t(withdraw.clone(), &applicant))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(withdrawn.state, pb::ApplicationState::Approved as i32);
    assert!(!withdrawn.consent.unwrap().federation_directory);
    assert_eq!(
        code(q.update_application(t(withdraw, &reviewer)).await),
        Code::PermissionDenied,
        "only the applicant's"
    );
    // Identity applies the decision: the applicant is now a professional where they serve.
    assert_eq!(s.professional_regions(&applicant, &["500103"]).await, ["500103"]);
    for (decision, state) in [
        (pb::Decision::Suspend, pb::ApplicationState::Suspended),
        (pb::Decision::Reinstate, pb::ApplicationState::Approved),
        (pb::Decision::Suspend, pb::ApplicationState::Suspended),
        (pb::Decision::Revoke, pb::ApplicationState::Revoked),
    ] {
        let after = q
            .decide_application(t(decide(&draft.id, decision, "抽查"), &reviewer))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(after.state, state as i32, "{decision:?}");
    }
    assert_eq!(
        s.professional_regions(&applicant, &[]).await,
        Vec::<String>::new(),
        "revoked: role removed"
    );
    let history = s
        .q()
        .get_application(t(pb::GetApplicationRequest { id: draft.id.clone() }, &applicant))
        .await
        .unwrap()
        .into_inner();
    assert!(history.decisions.iter().all(|d| !d.reviewer_account_id.is_empty()));
    assert_eq!(
        history.decisions.len(),
        8,
        "submit, start, verify, approve, suspend, reinstate, suspend, revoke"
    );

    // Each decision published its event exactly once, in order.
    let service = id::auth_service_client::AuthServiceClient::new(s.identity.clone())
        .issue_service_token(id::IssueServiceTokenRequest {
            client_id: "matching".into(),
            client_secret: identity::testing::SERVICE_SECRET.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .access_token;
    let mut stream = EventStreamServiceClient::new(s.qualification.clone())
        .subscribe(t(SubscribeRequest { after_sequence: 0 }, &service))
        .await
        .unwrap()
        .into_inner();
    let mut types = Vec::new();
    while types.len() < 6 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(30), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        types.push(event.r#type.rsplit('.').next().unwrap_or_default().to_string());
    }
    assert_eq!(
        types,
        [
            "ProfessionalQualified",
            "ConsentChanged",
            "QualificationSuspended",
            "ProfessionalQualified",
            "QualificationSuspended",
            "QualificationRevoked"
        ]
    );
}

async fn prechecks_duplicates_and_encryption(db: TestDb) {
    let s = stack(db).await;
    let first = s.person("applicant_a", id::Role::Resident, "500103003013").await;
    let second = s.person("applicant_b", id::Role::Resident, "500103003013").await;
    let reviewer = s.person("rev_self", id::Role::Reviewer, "500103").await;

    // Hard checks: too few years, an expired certificate, all at once.
    let mut young = form(&id_number("50010319850101123"), &["500103"], "2023-01-01");
    young.certificates[0].valid_until = "2020-01-01".into();
    let draft = s
        .q()
        .create_application(t(
            pb::CreateApplicationRequest {
                application: Some(young),
                request_id: String::new(),
            },
            &second,
        ))
        .await
        .unwrap()
        .into_inner();
    let refused = s
        .q()
        .submit_application(t(pb::SubmitApplicationRequest { id: draft.id.clone() }, &second))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let violations = refused.get_details_bad_request().unwrap().field_violations;
    assert!(
        violations.iter().any(|v| v.description.contains("从业年限不足5年")),
        "{violations:?}"
    );
    assert!(
        violations
            .iter()
            .any(|v| v.field == "application.certificates[0].valid_until"),
        "{violations:?}"
    );

    // The same person applying twice is pointed at the first application.
    let original = create_and_submit(&s, &first, form(ID_A, &["500103"], "2015-03-01")).await;
    let mut again = form(ID_A, &["500103"], "2015-03-01");
    again.id = draft.id.clone();
    s.q()
        .update_application(t(
            pb::UpdateApplicationRequest {
                application: Some(again),
                update_mask: vec![],
            },
            &second,
        ))
        .await
        .unwrap();
    let duplicate = s
        .q()
        .submit_application(t(pb::SubmitApplicationRequest { id: draft.id.clone() }, &second))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    assert!(duplicate.message().contains(&original.id));
    let marked = s
        .q()
        .get_application(t(pb::GetApplicationRequest { id: draft.id.clone() }, &second))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(marked.duplicate_of, original.id);

    // Nothing in the raw tables holds the ID or phone number.
    for table in ["applications", "application_versions"] {
        let rows = s
            .qdb
            .conn
            .query_all_raw(sea_orm::Statement::from_string(
                s.qdb.conn.get_database_backend(),
                format!("SELECT * FROM {table}"),
            ))
            .await
            .unwrap();
        assert!(!rows.is_empty(), "{table}");
        for row in rows {
            for column in row.column_names() {
                let text: Option<String> = row.try_get("", &column).ok().flatten();
                let bytes: Option<Vec<u8>> = row.try_get("", &column).ok().flatten();
                let text = text.unwrap_or_default();
                let bytes = bytes.unwrap_or_default();
                for secret in ["19491231002", "12345678"] {
                    assert!(!text.contains(secret), "{table}.{column} holds personal data");
                    assert!(
                        !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                        "{table}.{column} holds personal data"
                    );
                }
            }
        }
    }

    // A reviewer cannot decide their own application.
    let own = create_and_submit(
        &s,
        &reviewer,
        form(&id_number("50010319800202456"), &["500103"], "2010-01-01"),
    )
    .await;
    let status = s
        .q()
        .decide_application(t(decide(&own.id, pb::Decision::StartReview, ""), &reviewer))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // Returned for changes: the applicant edits and resubmits as version 2; version 1 is kept.
    let returned_reviewer = s.person("rev_return", id::Role::Reviewer, "500103").await;
    let mut q = s.q();
    q.decide_application(t(decide(&own.id, pb::Decision::StartReview, ""), &returned_reviewer))
        .await
        .unwrap();
    let back = q
        .decide_application(t(
            decide(&own.id, pb::Decision::ReturnForChanges, "请补充证书"),
            &returned_reviewer,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back.state, pb::ApplicationState::ReturnedForChanges as i32);
    let mut changed = pb::Application {
        id: own.id.clone(),
        ..Default::default()
    };
    changed.service_region_codes = vec!["500103".into(), "500103003".into()];
    let mask = vec!["service_region_codes".to_string()];
    q.update_application(t(
        pb::UpdateApplicationRequest {
            application: Some(changed),
            update_mask: mask,
        },
        &reviewer,
    ))
    .await
    .unwrap();
    let v2 = q
        .submit_application(t(pb::SubmitApplicationRequest { id: own.id.clone() }, &reviewer))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((v2.version, v2.state), (2, pb::ApplicationState::Submitted as i32));
    assert_eq!(v2.service_region_codes, ["500103", "500103003"]);
    let versions = Stack::count(
        &s.qdb,
        &format!(
            "SELECT COUNT(*) FROM application_versions WHERE application_id = '{}'",
            own.id
        ),
    )
    .await;
    assert_eq!(versions, 2);

    // A lapsed qualification expires by itself, and identity takes the role away.
    let other_reviewer = s.person("rev_other", id::Role::Reviewer, "500103").await;
    {
        let mut q = s.q();
        q.decide_application(t(decide(&original.id, pb::Decision::StartReview, ""), &other_reviewer))
            .await
            .unwrap();
        let verify = pb::VerifyEmployerRequest {
            id: original.id.clone(),
            verified: true,
            note: "已核实".into(),
        };
        q.verify_employer(t(verify, &other_reviewer)).await.unwrap();
        q.decide_application(t(
            decide(&original.id, pb::Decision::Approve, "符合条件"),
            &other_reviewer,
        ))
        .await
        .unwrap();
    }
    assert_eq!(s.professional_regions(&first, &["500103"]).await, ["500103"]);
    let lapse = format!(
        "UPDATE applications SET qualified_until = '2020-01-01' WHERE id = '{}'",
        original.id
    );
    s.qdb.conn.execute_unprepared(&lapse).await.unwrap();
    assert_eq!(
        s.professional_regions(&first, &[]).await,
        Vec::<String>::new(),
        "expired: role removed"
    );
    let expired = s
        .q()
        .get_application(t(
            pb::GetApplicationRequest {
                id: original.id.clone(),
            },
            &first,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(expired.state, pb::ApplicationState::Expired as i32);
    let renewed = s
        .q()
        .decide_application(t(
            decide(&original.id, pb::Decision::Renew, "复审通过"),
            &other_reviewer,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renewed.state, pb::ApplicationState::Approved as i32);
    assert!(renewed.qualified_until.as_str() > "2026-01-01");
    // A renewal retried is not a second renewal: one event, the same date.
    let again = s
        .q()
        .decide_application(t(
            decide(&original.id, pb::Decision::Renew, "复审通过"),
            &other_reviewer,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.qualified_until, renewed.qualified_until);
    let renewals =
        "SELECT COUNT(*) FROM outbox_events WHERE event_type = 'sanshi.qualification.v1.QualificationRenewed'";
    assert_eq!(Stack::count(&s.qdb, renewals).await, 1);

    // The queue's filters: profession and submission date.
    let list = |filter: pb::ListApplicationsRequest| {
        let (mut q, reviewer) = (s.q(), returned_reviewer.clone());
        async move {
            q.list_applications(t(filter, &reviewer))
                .await
                .unwrap()
                .into_inner()
                .total_size
        }
    };
    let planners = pb::ListApplicationsRequest {
        profession: pb::Profession::Planner as i32,
        ..Default::default()
    };
    assert_eq!(list(planners).await, 3);
    let engineers = pb::ListApplicationsRequest {
        profession: pb::Profession::Engineer as i32,
        ..Default::default()
    };
    assert_eq!(list(engineers).await, 0);
    let today = chrono::Utc::now().date_naive();
    let since_today = pb::ListApplicationsRequest {
        submitted_from: today.to_string(),
        ..Default::default()
    };
    assert_eq!(list(since_today).await, 2, "submitted ones; the draft has no date");
    let tomorrow = pb::ListApplicationsRequest {
        submitted_from: today.succ_opt().unwrap().to_string(),
        ..Default::default()
    };
    assert_eq!(list(tomorrow).await, 0);
    let bad = pb::ListApplicationsRequest {
        submitted_from: "2026-13-01".into(),
        ..Default::default()
    };
    let status = s.q().list_applications(t(bad, &returned_reviewer)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    // Counts per state per district.
    let counts = s
        .q()
        .count_applications(t(pb::CountApplicationsRequest::default(), &reviewer))
        .await
        .unwrap()
        .into_inner();
    let count = |state: pb::ApplicationState| -> i32 {
        counts
            .counts
            .iter()
            .filter(|c| c.district_code == "500103" && c.state == state as i32)
            .map(|c| c.count)
            .sum()
    };
    assert_eq!(count(pb::ApplicationState::Submitted), 1, "the reviewer's own");
    assert_eq!(count(pb::ApplicationState::Approved), 1, "renewed");
    assert_eq!(count(pb::ApplicationState::Draft), 1, "the duplicate");
}

async fn decisions_apply_once_across_a_consumer_restart(db: TestDb) {
    let mut s = stack(db).await;
    let applicant = s.person("restart_applicant", id::Role::Resident, "500103003013").await;
    let reviewer = s.person("restart_reviewer", id::Role::Reviewer, "500103").await;
    let app = create_and_submit(&s, &applicant, form(ID_A, &["500103", "500104"], "2015-03-01")).await;
    let mut q = s.q();
    q.decide_application(t(decide(&app.id, pb::Decision::StartReview, ""), &reviewer))
        .await
        .unwrap();
    let verify = pb::VerifyEmployerRequest {
        id: app.id.clone(),
        verified: true,
        note: "已核实".into(),
    };
    q.verify_employer(t(verify, &reviewer)).await.unwrap();
    q.decide_application(t(decide(&app.id, pb::Decision::Approve, "符合条件"), &reviewer))
        .await
        .unwrap();
    assert_eq!(
        s.professional_regions(&applicant, &["500103", "500104"]).await,
        ["500103", "500104"]
    );

    // Identity, the consumer, goes down; decisions go on without it.
    s.stop_identity().await;
    q.decide_application(t(decide(&app.id, pb::Decision::Suspend, "核查"), &reviewer))
        .await
        .unwrap();
    q.decide_application(t(decide(&app.id, pb::Decision::Reinstate, "核查完毕"), &reviewer))
        .await
        .unwrap();
    q.decide_application(t(decide(&app.id, pb::Decision::Suspend, "再次核查"), &reviewer))
        .await
        .unwrap();
    s.start_identity().await;

    // It catches up from its cursor, applying each of qualification's four events once …
    let applied_sql = "SELECT COUNT(*) FROM applied_events WHERE consumer = 'identity.qualification'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while Stack::count(&s.idb, applied_sql).await < 4 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(Stack::count(&s.idb, applied_sql).await, 4);
    // … ending suspended, so without the professional role.
    let applicant = s.login("restart_applicant").await;
    assert_eq!(s.professional_regions(&applicant, &[]).await, Vec::<String>::new());
    // Role changes: +2 (approve), -2 (suspend), +2 (reinstate), -2 (suspend).
    let role_events = Stack::count(
        &s.idb,
        "SELECT COUNT(*) FROM outbox_events WHERE event_type IN ('sanshi.identity.v1.RoleGranted', 'sanshi.identity.v1.RoleRevoked')",
    )
    .await;
    assert_eq!(role_events, 8);
    s.stop_identity().await;
}

kit::db_tests!(
    review_workflow_scope_and_events,
    prechecks_duplicates_and_encryption,
    decisions_apply_once_across_a_consumer_restart
);
