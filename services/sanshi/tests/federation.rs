//! Two whole platforms in one test, Chongqing (50) and Sichuan (51), each
//! with its own databases, federating over mTLS gRPC with certificates made
//! here: each searches the other's expert directory (consent respected),
//! Sichuan reads Chongqing's programme figures and asks it for support,
//! which Chongqing assigns and resolves and Sichuan sees resolved, as it
//! happens and on asking. Every way in without the right certificate is
//! refused, and nothing personal crosses.
//!
//! Only Chongqing's divisions are bundled, so the Sichuan platform here
//! runs on them too (its experts serve 渝中区); what is tested is the link.

mod common;

use common::{Http, id_number};
use kit::db::testing::TestDb;
use kit::dev_certs::{Ca, Issued};
use sanshi_proto::federation::v1 as pb;
use sanshi_proto::federation::v1::federation_service_client::FederationServiceClient;
use serde_json::json;
use std::path::Path;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const CQ_NAME: &str = "federation.chongqing.test";
const SC_NAME: &str = "federation.sichuan.test";
const GZ_NAME: &str = "federation.guizhou.test";
const ALL_OPERATIONS: &str =
    r#"["Ping", "SearchExperts", "GetProgrammeStats", "RequestSupport", "GetSupportRequest", "WatchSupportRequests"]"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A platform's `[federation]` lines.
fn federation_toml(platform: &str, province: &str, port: u16, cert: &str, key: &str, peers: &str) -> String {
    format!(
        "enabled = true\nport = {port}\nplatform = \"{platform}\"\nprovince_code = \"{province}\"\n\
         cert_path = \"{cert}\"\nkey_path = \"{key}\"\ncall_timeout_ms = 5000\nwatch_poll_ms = 200\n\
         peers = [{peers}]\n"
    )
}

fn peer_toml(name: &str, province: &str, ca: &str, dns: &str, allow: &str, url: &str) -> String {
    format!(
        r#"{{ name = "{name}", province_code = "{province}", ca_path = "{ca}", names = ["{dns}"], allow = {allow}, url = "{url}", server_name = "{dns}" }}"#
    )
}

async fn databases(db: &TestDb) -> Vec<TestDb> {
    let mut all = Vec::new();
    for _ in 0..6 {
        all.push(TestDb::of_kind(db.kind).await.unwrap());
    }
    all
}

fn layout(databases: &[TestDb], folder: &Path, federation: String) -> sanshi::dev::Layout {
    sanshi::dev::Layout {
        host: "127.0.0.1".into(),
        ports: std::array::from_fn(|_| testkit::free_port()),
        databases: std::array::from_fn(|i| databases[i].config.url.clone()),
        attachments: folder.to_path_buf(),
        rating_window_secs: 2,
        min_visit_minutes: 1,
        log_level: "warn".into(),
        metrics_port: Some(0),
        // Two suites and another test's on one PostgreSQL (100 connections).
        max_connections: 3,
        federation: Some(federation),
        overrides: kit::config::Overrides::default(),
    }
}

/// A gRPC client of a federation port, trusting `server_ca`, presenting `cert` if any.
async fn client(
    port: u16,
    server_ca: &str,
    server_name: &str,
    cert: Option<&Issued>,
) -> Result<FederationServiceClient<Channel>, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(server_ca))
        .domain_name(server_name);
    if let Some(cert) = cert {
        tls = tls.identity(Identity::from_pem(&cert.cert_pem, &cert.key_pem));
    }
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{port}"))?
        .tls_config(tls)?
        .connect()
        .await?;
    Ok(FederationServiceClient::new(channel))
}

/// Whether a client made by `connect` fails to get a Ping answered (at
/// the handshake, or at the first call when TLS 1.3 reports the refusal late).
async fn ping_refused(connect: Result<FederationServiceClient<Channel>, tonic::transport::Error>) -> bool {
    match connect {
        Err(_) => true,
        Ok(mut c) => c.ping(pb::PingRequest {}).await.is_err(),
    }
}

/// Everything federation answered in the test, for the PII scan.
#[derive(Default)]
struct Seen(String);

impl Seen {
    fn add(&mut self, what: &impl std::fmt::Debug) {
        self.0.push_str(&format!("{what:?}\n"));
    }
}

async fn federation_between_two_platforms(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (cq_ca, sc_ca, gz_ca, stranger_ca) = (
        Ca::new("重庆市三师平台 CA").unwrap(),
        Ca::new("四川省三师平台 CA").unwrap(),
        Ca::new("贵州省三师平台 CA").unwrap(),
        Ca::new("不明 CA").unwrap(),
    );
    let (cq_cert, sc_cert, gz_cert) = (
        cq_ca.issue(CQ_NAME).unwrap(),
        sc_ca.issue(SC_NAME).unwrap(),
        gz_ca.issue(GZ_NAME).unwrap(),
    );
    let path = |name: &str, text: &str| write(dir.path(), name, text);
    let (cq_ca_path, sc_ca_path, gz_ca_path) = (
        path("cq-ca.pem", &cq_ca.pem),
        path("sc-ca.pem", &sc_ca.pem),
        path("gz-ca.pem", &gz_ca.pem),
    );
    let (cq_fed, sc_fed) = (testkit::free_port(), testkit::free_port());
    // Chongqing knows Sichuan (everything) and Guizhou (Ping only, and never calls it).
    let cq_toml = federation_toml(
        "chongqing",
        "50",
        cq_fed,
        &path("cq.pem", &cq_cert.cert_pem),
        &path("cq.key", &cq_cert.key_pem),
        &[
            peer_toml(
                "sichuan",
                "51",
                &sc_ca_path,
                SC_NAME,
                ALL_OPERATIONS,
                &format!("https://127.0.0.1:{sc_fed}"),
            ),
            peer_toml("guizhou", "52", &gz_ca_path, GZ_NAME, r#"["Ping"]"#, ""),
        ]
        .join(", "),
    );
    let sc_toml = federation_toml(
        "sichuan",
        "51",
        sc_fed,
        &path("sc.pem", &sc_cert.cert_pem),
        &path("sc.key", &sc_cert.key_pem),
        &peer_toml(
            "chongqing",
            "50",
            &cq_ca_path,
            CQ_NAME,
            ALL_OPERATIONS,
            &format!("https://127.0.0.1:{cq_fed}"),
        ),
    );
    let (cq_dbs, sc_dbs) = (databases(&db).await, databases(&db).await);
    let (cq_files, sc_files) = (dir.path().join("cq"), dir.path().join("sc"));
    let repick = |layout: &mut sanshi::dev::Layout| layout.ports = std::array::from_fn(|_| testkit::free_port());
    let mut cq_layout = layout(&cq_dbs, &cq_files, cq_toml);
    let cq = common::start_suite(&mut cq_layout, repick).await;
    let mut sc_layout = layout(&sc_dbs, &sc_files, sc_toml);
    let sc = common::start_suite(&mut sc_layout, repick).await;
    assert_eq!(cq.gateway.federation_addr.unwrap().port(), cq_fed);
    let cq_http = Http {
        base: format!("http://{}", cq.gateway.local_addr),
        client: reqwest::Client::new(),
    };
    let sc_http = Http {
        base: format!("http://{}", sc.gateway.local_addr),
        client: reqwest::Client::new(),
    };
    let password = sanshi::dev::DEMO_PASSWORD;
    let (cq_admin, cq_reviewer) = (
        cq_http.login("admin", password).await,
        cq_http.login("reviewer", password).await,
    );
    let (sc_admin, sc_reviewer) = (
        sc_http.login("admin", password).await,
        sc_http.login("reviewer", password).await,
    );

    // Experts on both sides; one in Chongqing does not consent.
    let (alice, alice_application) =
        common::qualify(&cq_http, &cq.sms, &cq_reviewer, "lingong", "林建国", 11, true).await;
    let _bob = common::qualify(&cq_http, &cq.sms, &cq_reviewer, "wanggong", "王不公开", 12, false).await;
    let _carol = common::qualify(&sc_http, &sc.sms, &sc_reviewer, "chengong", "陈蜀华", 13, true).await;
    let (_, alice_profile) = cq_http.get("/api/v1/professionals/me", &alice).await;
    let alice_account = alice_profile["account_id"].as_str().unwrap().to_string();
    let mut seen = Seen::default();

    // Directory, both ways, through each gateway's HTTP API.
    let (status, peers) = cq_http.get("/api/v1/federation/peers", &cq_admin).await;
    assert_eq!(status, 200, "{peers}");
    seen.add(&peers);
    let by_name = |name: &str| {
        peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_name("sichuan")["status"], "up", "{peers}");
    assert_eq!(by_name("sichuan")["platform"], "sichuan");
    assert_eq!(by_name("guizhou")["status"], "not_called");
    assert_eq!(by_name("guizhou")["allowed_operations"], json!(["Ping"]));
    let (status, _) = cq_http
        .call(reqwest::Method::GET, "/api/v1/federation/peers", None, None)
        .await;
    assert_eq!(status, 401);

    let (status, page) = sc_http
        .get("/api/v1/federation/peers/chongqing/experts", &sc_admin)
        .await;
    assert_eq!(status, 200, "{page}");
    seen.add(&page);
    let names: Vec<&str> = page["experts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["林建国"], "only the consenting expert: {page}");
    let expert = &page["experts"][0];
    assert_eq!(expert["profession"], "PROFESSION_PLANNER");
    assert_eq!(expert["district_code"], "500103");
    assert_eq!(expert["district_name"], "渝中区");
    assert_eq!(expert["province_code"], "50");
    assert_eq!(expert["specialties"], json!(["社区规划", "加装电梯"]));
    assert_ne!(expert["id"], json!(alice_account), "the account id stays home");
    let (status, page) = cq_http.get("/api/v1/federation/peers/sichuan/experts", &cq_admin).await;
    assert_eq!(status, 200, "{page}");
    seen.add(&page);
    assert_eq!(page["experts"][0]["name"], "陈蜀华", "{page}");
    assert_eq!(page["experts"][0]["province_code"], "51");
    // Filters: by specialty, by profession, by stars (no one has stars yet).
    for (query, expected) in [
        ("specialty=加装电梯", 1),
        ("specialty=抗震加固", 0),
        ("profession=architect", 0),
        ("profession=PROFESSION_PLANNER", 1),
        ("min_stars=3", 0),
    ] {
        let (status, page) = sc_http
            .get(
                &format!("/api/v1/federation/peers/chongqing/experts?{query}"),
                &sc_admin,
            )
            .await;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(page["experts"].as_array().unwrap().len(), expected, "{query}: {page}");
    }
    let (status, problem) = sc_http
        .get("/api/v1/federation/peers/chongqing/experts?min_stars=9", &sc_admin)
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "min_stars", "{problem}");
    let (status, _) = sc_http.get("/api/v1/federation/peers/nowhere/experts", &sc_admin).await;
    assert_eq!(status, 404);

    // Sichuan, as a gRPC client with its certificate.
    let mut sichuan = client(cq_fed, &cq_ca.pem, CQ_NAME, Some(&sc_cert)).await.unwrap();
    let pong = sichuan.ping(pb::PingRequest {}).await.unwrap().into_inner();
    assert_eq!(
        (pong.platform.as_str(), pong.province_code.as_str(), pong.peer.as_str()),
        ("chongqing", "50", "sichuan")
    );

    // Programme figures by region, one level down.
    let stats = sichuan
        .get_programme_stats(pb::GetProgrammeStatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    seen.add(&stats);
    assert_eq!(stats.region_code, "50");
    assert_eq!(stats.region_name, "重庆市");
    assert_eq!(stats.planners, 2, "both qualified planners are counted: {stats:?}");
    assert!(stats.communities > 0, "{stats:?}");
    let yuzhong = stats
        .regions
        .iter()
        .find(|r| r.region_code == "500103")
        .expect("渝中区 among the districts");
    assert_eq!(yuzhong.region_name, "渝中区");
    let status = sichuan
        .get_programme_stats(pb::GetProgrammeStatsRequest {
            region_code: "510104".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "another province's region");

    // A support request: idempotent, watched, assigned and resolved in
    // Chongqing, seen resolved in Sichuan.
    let ask = pb::RequestSupportRequest {
        request_id: "sc-2026-0001".into(),
        community_code: "510104020001".into(),
        community_name: "锦江区书院街社区".into(),
        title: "老旧小区加装电梯方案咨询".into(),
        description: "6 栋 7 层住宅，居民意见不一，请专家评估加装电梯方案".into(),
        profession: pb::Profession::Planner as i32,
        specialty: "加装电梯".into(),
    };
    let mut watch = sichuan
        .watch_support_requests(pb::WatchSupportRequestsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let opened = sichuan.request_support(ask.clone()).await.unwrap().into_inner();
    seen.add(&opened);
    assert_eq!(opened.state, pb::SupportState::Open as i32);
    assert_eq!(opened.request_id, "sc-2026-0001");
    assert_eq!(opened.community_name, "锦江区书院街社区");
    let again = sichuan.request_support(ask.clone()).await.unwrap().into_inner();
    assert_eq!(again.id, opened.id, "a retried request is the same request");
    let status = sichuan
        .request_support(pb::RequestSupportRequest {
            request_id: "sc-2026-0002".into(),
            title: String::new(),
            community_code: "500103003013".into(),
            ..ask.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let fields = field_violations(&status);
    assert!(fields.contains(&"community_code".to_string()), "{fields:?}");

    // Chongqing's city administrator sees it among the needs, of the federation kind.
    let (status, needs) = cq_http.get("/api/v1/needs?category_code=federation", &cq_admin).await;
    assert_eq!(status, 200, "{needs}");
    let need = needs["needs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == json!(opened.id))
        .cloned()
        .expect("the support need");
    assert_eq!(need["origin_peer"], "sichuan");
    assert_eq!(need["origin_community_code"], "510104020001");
    assert_eq!(need["community_code"], "50");
    let update = |action: &str, note: &str, assignee: &str| json!({ "action": action, "note": note, "assignee_professional_account_id": assignee });
    let path = format!("/api/v1/needs/{}:update-status", opened.id);
    cq_http
        .ok(
            &path,
            &cq_admin,
            update("NEED_ACTION_TRIAGE", "已受理，正在物色专家", ""),
        )
        .await;
    let (_, bob_profile) = {
        let bob = cq_http.login("wanggong", "Register2026").await;
        cq_http.get("/api/v1/professionals/me", &bob).await
    };
    let (status, problem) = cq_http
        .post(
            &path,
            Some(&cq_admin),
            update(
                "NEED_ACTION_ASSIGN",
                "派给王工",
                bob_profile["account_id"].as_str().unwrap(),
            ),
        )
        .await;
    assert_eq!(status, 422, "only consenting experts go to other provinces: {problem}");
    cq_http
        .ok(
            &path,
            &cq_admin,
            update("NEED_ACTION_ASSIGN", "已安排林工对接", &alice_account),
        )
        .await;
    let assigned = support_request(&mut sichuan, &opened.id).await;
    seen.add(&assigned);
    assert_eq!(assigned.state, pb::SupportState::Assigned as i32);
    assert_eq!(assigned.expert.as_ref().unwrap().name, "林建国");
    cq_http
        .ok(
            &path,
            &alice,
            update("NEED_ACTION_START", "已联系社区，安排现场踏勘", ""),
        )
        .await;
    cq_http
        .ok(
            &path,
            &alice,
            update("NEED_ACTION_RESOLVE", "已提交加装电梯方案建议书", ""),
        )
        .await;
    let resolved = support_request(&mut sichuan, &opened.id).await;
    seen.add(&resolved);
    assert_eq!(resolved.state, pb::SupportState::Resolved as i32);
    assert_eq!(resolved.outcome, "已提交加装电梯方案建议书");
    assert_eq!(resolved.expert.as_ref().unwrap().name, "林建国");
    // The stream showed each change as it happened, ending resolved.
    let mut states = Vec::new();
    while states.last() != Some(&(pb::SupportState::Resolved as i32)) {
        let next = tokio::time::timeout(std::time::Duration::from_secs(15), watch.message())
            .await
            .expect("a change within 15 s")
            .unwrap()
            .expect("the stream stays open");
        seen.add(&next);
        assert_eq!(next.id, opened.id);
        states.push(next.state);
    }
    assert_eq!(states.first(), Some(&(pb::SupportState::Open as i32)), "{states:?}");
    assert!(states.contains(&(pb::SupportState::Assigned as i32)), "{states:?}");

    // Consent is withdrawn: she leaves the directory, and the request no
    // longer shows her.
    let (status, answer) = cq_http
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/applications/{alice_application}"),
            Some(&alice),
            Some(json!({
                "application": { "consent": { "contact_visible_to_matched": true, "federation_directory": false } },
                "update_mask": ["consent"]
            })),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    sc_http
        .wait("/api/v1/federation/peers/chongqing/experts", &sc_admin, |page| {
            page["experts"].as_array().is_some_and(|e| e.is_empty())
        })
        .await;
    let withdrawn = support_request(&mut sichuan, &opened.id).await;
    assert_eq!(withdrawn.state, pb::SupportState::Resolved as i32);
    assert!(withdrawn.expert.is_none(), "{withdrawn:?}");

    let status = sichuan
        .get_support_request(pb::GetSupportRequestRequest {
            id: "no-such-request".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);

    // Refusals, each at Chongqing's federation port.
    let plaintext = Endpoint::from_shared(format!("http://127.0.0.1:{cq_fed}"))
        .unwrap()
        .connect()
        .await
        .map(FederationServiceClient::new);
    assert!(ping_refused(plaintext).await, "plaintext");
    assert!(
        ping_refused(client(cq_fed, &cq_ca.pem, CQ_NAME, None).await).await,
        "no certificate"
    );
    let foreign = stranger_ca.issue(SC_NAME).unwrap();
    assert!(
        ping_refused(client(cq_fed, &cq_ca.pem, CQ_NAME, Some(&foreign)).await).await,
        "wrong CA"
    );
    let expired = sc_ca.issue_expired(SC_NAME).unwrap();
    assert!(
        ping_refused(client(cq_fed, &cq_ca.pem, CQ_NAME, Some(&expired)).await).await,
        "expired"
    );
    let rogue = sc_ca.issue("rogue.sichuan.test").unwrap();
    let mut unlisted = client(cq_fed, &cq_ca.pem, CQ_NAME, Some(&rogue)).await.unwrap();
    let status = unlisted.ping(pb::PingRequest {}).await.unwrap_err();
    assert_eq!(
        status.code(),
        tonic::Code::PermissionDenied,
        "unlisted peer: {status:?}"
    );
    let mut guizhou = client(cq_fed, &cq_ca.pem, CQ_NAME, Some(&gz_cert)).await.unwrap();
    assert_eq!(
        guizhou.ping(pb::PingRequest {}).await.unwrap().into_inner().peer,
        "guizhou"
    );
    let status = guizhou
        .search_experts(pb::SearchExpertsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "operation not allowed");
    let status = guizhou
        .get_support_request(pb::GetSupportRequestRequest { id: opened.id.clone() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);

    // Every call is counted by peer, operation and outcome (the audit log says the same).
    let metrics = reqwest::get(format!("http://{}/metrics", cq.identity.admin_addr.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        r#"sanshi_federation_calls_total{peer="guizhou",operation="SearchExperts",code="PermissionDenied"} 1"#,
        r#"sanshi_federation_calls_total{peer="sichuan",operation="RequestSupport",code="Ok"} 2"#,
        r#"sanshi_federation_calls_total{peer="-",operation="Ping",code="PermissionDenied"} 1"#,
        r#"sanshi_federation_outbound_total{peer="sichuan",operation="SearchExperts",outcome="ok"}"#,
    ] {
        assert!(metrics.contains(series), "{series} in\n{metrics}");
    }

    // Nothing personal crossed: no ID number, phone or employer credit code,
    // and nothing of the expert who did not consent.
    for n in [11, 12, 13] {
        let forbidden = [id_number(&format!("110105198001010{n:02}")), format!("138000012{n:02}")];
        for text in forbidden {
            assert!(!seen.0.contains(&text), "{text} crossed");
        }
    }
    for text in ["91440300708461136T", "王不公开", "重庆市规划设计研究院", &alice_account] {
        assert!(!seen.0.contains(text), "{text} crossed");
    }

    // Sichuan goes away: Chongqing's dashboards get an answer at once,
    // first after the retries, then from the open breaker without calling.
    sc.stop().await.unwrap();
    for _ in 0..3 {
        let (status, problem) = cq_http.get("/api/v1/federation/peers/sichuan/experts", &cq_admin).await;
        assert_eq!(status, 503, "{problem}");
        assert_eq!(problem["detail"], "对方平台暂时无法访问，请稍后再试", "{problem}");
    }
    let (_, peers) = cq_http.get("/api/v1/federation/peers", &cq_admin).await;
    let sichuan = peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "sichuan")
        .cloned()
        .unwrap();
    assert_eq!(sichuan["status"], "down", "{peers}");
    assert_eq!(sichuan["breaker_open"], true, "{peers}");
    let metrics = reqwest::get(format!("http://{}/metrics", cq.identity.admin_addr.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"sanshi_federation_outbound_total{peer="sichuan",operation="SearchExperts",outcome="breaker_open"}"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"sanshi_federation_breaker_open{peer="sichuan"} 1"#),
        "{metrics}"
    );
    cq.stop().await.unwrap();
}

/// A support request, as the asking platform sees it.
async fn support_request(client: &mut FederationServiceClient<Channel>, id: &str) -> pb::SupportRequest {
    client
        .get_support_request(pb::GetSupportRequestRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
}

fn field_violations(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

kit::db_tests!(federation_between_two_platforms);
