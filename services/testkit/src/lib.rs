//! Real stacks for end-to-end tests: identity, qualification, matching and
//! (optionally) records on random ports, each with its own database of the
//! same kind. Qualified professionals are made the way users make them: an
//! application, a reviewer's approval, and the event that matching consumes.

pub mod otlp;

use kit::db::testing::TestDb;
use sanshi_proto::identity::v1 as id;
use sanshi_proto::matching::v1 as pb;
use sanshi_proto::qualification::v1 as q;
use tonic::transport::Channel;

pub const MINSHENGLU: &str = "500103003013";
pub const LIANHUACHI: &str = "500103003016";
pub const PINGAN: &str = "500104001001";

pub struct Stack {
    pub identity: Channel,
    pub qualification: Channel,
    pub matching: Channel,
    pub mdb: TestDb,
    /// Records and its database, when started ([`stack_with_records`]).
    pub records: Option<Channel>,
    pub rdb: Option<TestDb>,
    reviewer: String,
    _databases: (TestDb, TestDb),
    _attachments: Option<tempfile::TempDir>,
}

/// A port free at the time of asking (another process may take it before it is bound).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn connect(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect()
        .await
        .expect("connect")
}

pub fn t<T>(message: T, token: &str) -> tonic::Request<T> {
    kit::grpc::with_token(message, token)
}

/// The status code of a call's result (`Ok` for success).
pub fn code<T>(result: Result<tonic::Response<T>, tonic::Status>) -> tonic::Code {
    result.map(|_| tonic::Code::Ok).unwrap_or_else(|s| s.code())
}

/// The fields an INVALID_ARGUMENT names in its `google.rpc.BadRequest` (panics on anything else).
pub fn bad_fields<T: std::fmt::Debug>(result: Result<tonic::Response<T>, tonic::Status>) -> Vec<String> {
    use tonic_types::StatusExt;
    let status = result.expect_err("INVALID_ARGUMENT expected");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("a BadRequest detail")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// Starts identity, qualification and matching; `rules` overrides matching's
/// `[rules]` (TOML lines).
pub async fn stack(mdb: TestDb, rules: &str) -> Stack {
    start(mdb, rules, None).await
}

/// [`stack`] plus records following matching; `records_rules` overrides
/// records' `[rules]`.
pub async fn stack_with_records(mdb: TestDb, rules: &str, records_rules: &str) -> Stack {
    start(mdb, rules, Some(records_rules)).await
}

async fn start(mdb: TestDb, rules: &str, records_rules: Option<&str>) -> Stack {
    let idb = TestDb::of_kind(mdb.kind).await.expect("identity database");
    let qdb = TestDb::of_kind(mdb.kind).await.expect("qualification database");
    let qualification_port = free_port();
    let mut identity_config = identity::testing::config(&idb.config.url);
    identity_config.consumers.qualification_url = format!("http://127.0.0.1:{qualification_port}");
    // The gateway's account: matching's federation service answers it only.
    identity_config
        .bootstrap
        .services
        .push(identity::config::BootstrapService {
            client_id: "gateway".into(),
            client_secret: identity::testing::SERVICE_SECRET.into(),
        });
    let identity = identity::start(identity_config, std::future::pending())
        .await
        .expect("identity");
    let identity_url = format!("http://{}", identity.local_addr);
    let qualification_config: qualification::Config = kit::config::from_toml(
        qualification::config::DEFAULTS,
        &format!(
            r#"
            [server]
            host = "127.0.0.1"
            port = {qualification_port}
            [database]
            url = "{url}"
            [telemetry]
            log_format = "pretty"
            log_level = "warn"
            [auth]
            identity_url = "{identity_url}"
            [pii]
            encryption_key = "BAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiM="
            hash_key = "MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY="
            "#,
            url = qdb.config.url
        ),
    )
    .expect("qualification config");
    let qualification = qualification::start(qualification_config, std::future::pending())
        .await
        .expect("qualification");
    let matching_config: matching::Config = kit::config::from_toml(
        matching::config::DEFAULTS,
        &format!(
            r#"
            [server]
            host = "127.0.0.1"
            port = 0
            [database]
            url = "{url}"
            [telemetry]
            log_format = "pretty"
            log_level = "warn"
            [auth]
            identity_url = "{identity_url}"
            client_secret = "{secret}"
            [pii]
            encryption_key = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8="
            hash_key = "YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8="
            [consumers]
            qualification_url = "http://127.0.0.1:{qualification_port}"
            [rules]
            {rules}
            "#,
            url = mdb.config.url,
            secret = identity::testing::SERVICE_SECRET,
        ),
    )
    .expect("matching config");
    let matching = matching::start(matching_config, std::future::pending())
        .await
        .expect("matching");
    let (mut records, mut rdb, mut attachments) = (None, None, None);
    if let Some(records_rules) = records_rules {
        let db = TestDb::of_kind(mdb.kind).await.expect("records database");
        let folder = tempfile::tempdir().expect("attachment folder");
        let config: records::Config = kit::config::from_toml(
            records::config::DEFAULTS,
            &format!(
                r#"
                [server]
                host = "127.0.0.1"
                port = 0
                [database]
                url = "{url}"
                [telemetry]
                log_format = "pretty"
                log_level = "warn"
                [auth]
                identity_url = "{identity_url}"
                client_secret = "{secret}"
                [pii]
                encryption_key = "CAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEiIyQlJic="
                hash_key = "UFFSU1RVVldYWVpbXF1eX2BhYmNkZWZnaGlqa2xtbm8="
                [consumers]
                matching_url = "http://{matching}"
                [attachments]
                local_path = "{folder}"
                max_bytes = 65536
                [rules]
                {records_rules}
                "#,
                url = db.config.url,
                secret = identity::testing::SERVICE_SECRET,
                matching = matching.local_addr,
                folder = folder.path().display(),
            ),
        )
        .expect("records config");
        let running = records::start(config, std::future::pending()).await.expect("records");
        records = Some(connect(running.local_addr).await);
        tokio::spawn(running.wait());
        rdb = Some(db);
        attachments = Some(folder);
    }
    let mut stack = Stack {
        identity: connect(identity.local_addr).await,
        qualification: connect(qualification.local_addr).await,
        matching: connect(matching.local_addr).await,
        mdb,
        records,
        rdb,
        reviewer: String::new(),
        _databases: (idb, qdb),
        _attachments: attachments,
    };
    tokio::spawn(identity.wait());
    tokio::spawn(qualification.wait());
    tokio::spawn(matching.wait());
    stack.reviewer = stack.person("reviewer", id::Role::Reviewer, "50").await;
    stack
}

/// A valid ID number (GB 11643 check character) from 17 digits.
pub fn id_number(body17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body17.bytes().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{body17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

/// What a test professional looks like.
pub struct Pro<'a> {
    pub username: &'a str,
    pub profession: q::Profession,
    pub specialties: &'a [&'a str],
    pub regions: &'a [&'a str],
    pub lon: f64,
    pub lat: f64,
    /// The community the professional lives in (as a resident).
    pub home: &'a str,
}

impl Stack {
    pub fn communities(&self) -> pb::community_service_client::CommunityServiceClient<Channel> {
        pb::community_service_client::CommunityServiceClient::new(self.matching.clone())
    }
    pub fn professionals(&self) -> pb::professional_service_client::ProfessionalServiceClient<Channel> {
        pb::professional_service_client::ProfessionalServiceClient::new(self.matching.clone())
    }
    pub fn matches(&self) -> pb::match_service_client::MatchServiceClient<Channel> {
        pb::match_service_client::MatchServiceClient::new(self.matching.clone())
    }
    pub fn teams(&self) -> pb::team_service_client::TeamServiceClient<Channel> {
        pb::team_service_client::TeamServiceClient::new(self.matching.clone())
    }
    pub fn needs(&self) -> pb::need_service_client::NeedServiceClient<Channel> {
        pb::need_service_client::NeedServiceClient::new(self.matching.clone())
    }
    pub fn assignments(&self) -> pb::assignment_service_client::AssignmentServiceClient<Channel> {
        pb::assignment_service_client::AssignmentServiceClient::new(self.matching.clone())
    }
    fn decide_client(&self) -> q::qualification_service_client::QualificationServiceClient<Channel> {
        q::qualification_service_client::QualificationServiceClient::new(self.qualification.clone())
    }

    pub async fn login(&self, username: &str) -> String {
        id::auth_service_client::AuthServiceClient::new(self.identity.clone())
            .login(id::LoginRequest {
                username: username.into(),
                password: identity::testing::PASSWORD.into(),
            })
            .await
            .expect("login")
            .into_inner()
            .tokens
            .expect("tokens")
            .access_token
    }

    /// Creates an account through the city admin and logs it in.
    pub async fn person(&self, username: &str, role: id::Role, region: &str) -> String {
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
            .create_account(t(request, &city))
            .await
            .expect("create account");
        self.login(username).await
    }

    /// A resident who applies and is approved; returns (token, account id,
    /// application id) once matching's read model has the professional.
    pub async fn professional(&self, pro: Pro<'_>, serial: u32) -> (String, String, String) {
        let token = self.person(pro.username, id::Role::Resident, pro.home).await;
        let application = q::Application {
            real_name: format!("专家{serial}"),
            id_number: id_number(&format!("11010519800101{serial:03}")),
            phone: "13812345678".into(),
            profession: pro.profession as i32,
            specialties: pro.specialties.iter().map(|s| s.to_string()).collect(),
            employer: Some(q::Employer {
                name: "重庆市规划设计研究院".into(),
                credit_code: "91440300708461136T".into(),
                ..Default::default()
            }),
            practice_start_date: "2010-03-01".into(),
            certificates: vec![q::Certificate {
                kind: "注册城乡规划师".into(),
                number: format!("GH2015{serial:06}"),
                issuer: "自然资源部".into(),
                valid_until: "2030-12-31".into(),
            }],
            service_region_codes: pro.regions.iter().map(|r| r.to_string()).collect(),
            base_location: Some(q::Location {
                longitude: pro.lon,
                latitude: pro.lat,
            }),
            commitment_signed: true,
            consent: Some(q::Consent {
                contact_visible_to_matched: true,
                federation_directory: false,
            }),
            ..Default::default()
        };
        let mut client = self.decide_client();
        let draft = client
            .create_application(t(
                q::CreateApplicationRequest {
                    application: Some(application),
                    request_id: String::new(),
                },
                &token,
            ))
            .await
            .expect("create application")
            .into_inner();
        client
            .submit_application(t(q::SubmitApplicationRequest { id: draft.id.clone() }, &token))
            .await
            .expect("submit");
        self.decide(&draft.id, q::Decision::StartReview).await;
        client
            .verify_employer(t(
                q::VerifyEmployerRequest {
                    id: draft.id.clone(),
                    verified: true,
                    note: "已核实".into(),
                },
                &self.reviewer,
            ))
            .await
            .expect("verify employer");
        self.decide(&draft.id, q::Decision::Approve).await;
        let me = self.login(pro.username).await;
        let account_id = self
            .wait_professional(&me, pb::ProfessionalStatus::Active)
            .await
            .account_id;
        (me, account_id, draft.id)
    }

    pub async fn decide(&self, application: &str, decision: q::Decision) {
        self.decide_client()
            .decide_application(t(
                q::DecideApplicationRequest {
                    id: application.into(),
                    decision: decision as i32,
                    reason: "测试决定".into(),
                    request_id: String::new(),
                },
                &self.reviewer,
            ))
            .await
            .expect("decide");
    }

    /// The caller's professional record once it reaches `status` (30 s at most).
    pub async fn wait_professional(&self, token: &str, status: pb::ProfessionalStatus) -> pb::Professional {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let got = self
                .professionals()
                .get_professional(t(
                    pb::GetProfessionalRequest {
                        account_id: "me".into(),
                    },
                    token,
                ))
                .await;
            match got {
                Ok(p) if p.get_ref().status == status as i32 => return p.into_inner(),
                _ if std::time::Instant::now() > deadline => panic!("professional never reached {status:?}: {got:?}"),
                _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
    }

    pub async fn execute(&self, sql: &str) {
        use sea_orm::ConnectionTrait;
        let db = &self.mdb.conn;
        db.execute_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql.to_string(),
        ))
        .await
        .expect("execute");
    }

    /// A count from matching's database.
    pub async fn count(&self, sql: &str) -> i64 {
        count_in(&self.mdb, sql).await
    }

    /// Runs a statement on records' database.
    pub async fn execute_records(&self, sql: &str) {
        use sea_orm::ConnectionTrait;
        let db = &self.rdb.as_ref().expect("records started").conn;
        db.execute_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql.to_string(),
        ))
        .await
        .expect("execute");
    }

    /// A count from records' database.
    pub async fn count_records(&self, sql: &str) -> i64 {
        count_in(self.rdb.as_ref().expect("records started"), sql).await
    }
}

async fn count_in(db: &TestDb, sql: &str) -> i64 {
    {
        use sea_orm::ConnectionTrait;
        let db = &db.conn;
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql.to_string(),
            ))
            .await
            .expect("query")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("a count")
    }
}
