//! The programme's loop through the gateway's HTTP API only, against the
//! whole suite started as `sanshi dev` starts it (random ports, a database
//! per service of the kind under test): a resident registers, applies (a
//! pre-check refuses a bad ID number first), is approved, is invited by a
//! community and accepts, records a visit that the community confirms and
//! rates and residents rate; the visit is scored into points with an
//! explanation, every step reaches the professional's inbox, and the
//! programme statistics reflect it. Scope denials across districts too, and
//! an Open311 round trip by a channel with its key, read back in full by the
//! channel and de-identified by anyone without a key.

mod common;

use common::{Http, id_number};
use kit::db::testing::TestDb;
use reqwest::StatusCode;
use serde_json::{Value, json};

const MINSHENGLU: &str = "500103003013";

/// RFC 3339, `seconds` from now.
fn at(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn the_programme_loop_over_http(db: TestDb) {
    // Traces go to a collector in the test (OTLP/gRPC). Spans are global to
    // the process: under nextest every test has a process of its own.
    let collector = testkit::otlp::Collector::start().await;
    let telemetry = kit::telemetry::init(
        "sanshi-dev",
        &kit::config::TelemetryConfig {
            log_format: kit::config::LogFormat::Json,
            log_level: "info,sqlx=warn,sea_orm_migration=warn,h2=warn,hyper=warn,tower=warn".into(),
            otlp_endpoint: Some(collector.endpoint.clone()),
        },
    )
    .unwrap();
    let traced = telemetry.installed();
    assert!(
        traced || std::env::var("NEXTEST").is_err(),
        "nextest runs a test per process"
    );

    // The suite, as `sanshi dev` starts it.
    let mut databases = Vec::new();
    for _ in 0..5 {
        databases.push(TestDb::of_kind(db.kind).await.unwrap());
    }
    let folder = tempfile::tempdir().unwrap();
    let urls: Vec<String> = std::iter::once(&db)
        .chain(databases.iter())
        .map(|d| d.config.url.clone())
        .collect();
    let mut layout = sanshi::dev::Layout {
        host: "127.0.0.1".into(),
        ports: std::array::from_fn(|_| testkit::free_port()),
        databases: std::array::from_fn(|i| urls[i].clone()),
        attachments: folder.path().to_path_buf(),
        rating_window_secs: 2,
        // A visit that starts now and ends within the allowed clock skew.
        min_visit_minutes: 1,
        log_level: "warn".into(),
        metrics_port: Some(0),
        max_connections: 4,
        federation: None,
        overrides: kit::config::Overrides::default(),
    };
    let suite = common::start_suite(&mut layout, |layout| {
        layout.ports = std::array::from_fn(|_| testkit::free_port());
    })
    .await;
    let http = Http {
        base: format!("http://{}", suite.gateway.local_addr),
        client: reqwest::Client::new(),
    };
    let password = sanshi::dev::DEMO_PASSWORD;
    let reviewer = http.login("reviewer", password).await;
    let worker = http.login("minshenglu", password).await;
    let yuzhong = http.login("yuzhong", password).await;
    let jiefangbei = http.login("jiefangbei", password).await;

    // A resident proves their phone with the code texted to it (logged by
    // `sanshi dev`), registers and applies.
    let (status, account) = common::register(&http, &suite.sms, "lingong", "林工", "13800001234", "Register2026").await;
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["region_code"], MINSHENGLU);
    let me = http.login("lingong", "Register2026").await;
    let mut application = json!({
        "real_name": "林建国",
        "id_number": "110105198001010011",
        "phone": "13800001234",
        "profession": "PROFESSION_PLANNER",
        "specialties": ["社区规划"],
        "employer": { "name": "重庆市规划设计研究院", "credit_code": "91440300708461136T" },
        "practice_start_date": "2010-03-01",
        "certificates": [{
            "kind": "注册城乡规划师", "number": "GH2015000777", "issuer": "自然资源部", "valid_until": "2030-12-31"
        }],
        "service_region_codes": ["500103"],
        "base_location": { "longitude": 106.58, "latitude": 29.55 },
        "commitment_signed": true,
        "consent": { "contact_visible_to_matched": true }
    });
    // The pre-check: a wrong ID number's check digit is named.
    let (status, problem) = http
        .post(
            "/api/v1/applications",
            Some(&me),
            json!({ "application": application, "request_id": "apply-1" }),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"].as_str().unwrap().contains("id_number")),
        "{problem}"
    );
    application["id_number"] = json!(id_number("11010519800101001"));
    let draft = http
        .ok(
            "/api/v1/applications",
            &me,
            json!({ "application": application, "request_id": "apply-2" }),
        )
        .await;
    let app_id = draft["id"].as_str().unwrap().to_string();
    http.ok(&format!("/api/v1/applications/{app_id}:submit"), &me, json!({}))
        .await;
    http.ok(
        &format!("/api/v1/applications/{app_id}:start-review"),
        &reviewer,
        json!({ "reason": "开始审核" }),
    )
    .await;
    http.ok(
        &format!("/api/v1/applications/{app_id}:verify-employer"),
        &reviewer,
        json!({ "verified": true, "note": "已核实" }),
    )
    .await;
    let approved = http
        .ok(
            &format!("/api/v1/applications/{app_id}:approve"),
            &reviewer,
            json!({ "reason": "材料齐全" }),
        )
        .await;
    assert_eq!(approved["state"], "APPLICATION_STATE_APPROVED");

    // Matching learns of the professional; the community invites, the professional accepts.
    let professional = http
        .wait("/api/v1/professionals/me", &me, |p| {
            p["status"] == "PROFESSIONAL_STATUS_ACTIVE"
        })
        .await;
    let pro_id = professional["account_id"].as_str().unwrap().to_string();
    let me = http.login("lingong", "Register2026").await; // now with the professional role
    let invitation = http
        .ok(
            "/api/v1/invitations",
            &worker,
            json!({
                "community_code": MINSHENGLU, "professional_account_id": pro_id,
                "message": "请协助加装电梯议事", "request_id": "invite-1"
            }),
        )
        .await;
    let match_id = invitation["id"].as_str().unwrap().to_string();
    let accepted = http
        .ok(
            &format!("/api/v1/matches/{match_id}:respond"),
            &me,
            json!({ "accept": true }),
        )
        .await;
    assert_eq!(accepted["state"], "MATCH_STATE_ACTIVE");

    // A visit: recorded, confirmed and rated by the community, rated by residents.
    // Records learns of the match from matching's stream: retried until it has.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let record = loop {
        let (status, answer) = http
            .post(
                "/api/v1/records",
                Some(&me),
                json!({
                    "match_id": match_id,
                    "request_id": "visit-1",
                    "content": {
                        "service_type": "survey",
                        "start_time": at(1),
                        "end_time": at(120),
                        "check_in": { "longitude": 106.5815, "latitude": 29.5527 },
                        "summary": "走访 5 栋居民，了解加装电梯意愿",
                        "residents_reached": 12
                    }
                }),
            )
            .await;
        if status.is_success() {
            break answer;
        }
        assert!(std::time::Instant::now() < deadline, "{status} {answer}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let record_id = record["id"].as_str().unwrap().to_string();
    http.ok(&format!("/api/v1/records/{record_id}:confirm"), &worker, json!({}))
        .await;
    http.ok(
        &format!("/api/v1/records/{record_id}:rate"),
        &worker,
        json!({ "rating": 5, "comment": "认真负责" }),
    )
    .await;
    let code = http
        .ok(
            &format!("/api/v1/records/{record_id}:issue-rating-code"),
            &me,
            json!({}),
        )
        .await;
    let code = code["code"].as_str().unwrap().to_string();
    for (phone, stars) in [("13911112222", 4), ("13911113333", 5)] {
        let (status, answer) = http
            .post(
                "/api/v1/resident-ratings",
                None,
                json!({ "code": code, "contact": phone, "rating": stars }),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }

    // Scored when the rating window closes: points with their explanation.
    let entries = http
        .wait("/api/v1/points/entries", &me, |e| {
            e["entries"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    let entry_id = entries["entries"][0]["id"].as_str().unwrap().to_string();
    let (status, explanation) = http
        .get(&format!("/api/v1/points/entries/{entry_id}/explanation"), &me)
        .await;
    assert_eq!(status, 200, "{explanation}");
    let text = explanation["text"].as_str().unwrap();
    assert!(text.contains("基础分") && text.contains("满意度系数"), "{text}");

    // Every step in the professional's inbox.
    let inbox = http
        .wait("/api/v1/inbox?page_size=50", &me, |i| {
            i["notifications"]
                .as_array()
                .is_some_and(|n| n.iter().any(|x| x["title"] == "获得积分"))
        })
        .await;
    let titles: Vec<&str> = inbox["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect();
    for step in [
        "入库申请已通过",
        "社区服务邀请",
        "社区对接已确认",
        "服务记录已确认",
        "获得积分",
    ] {
        assert!(titles.contains(&step), "{step} missing from {titles:?}");
    }

    // The programme's figures reflect it; another district's are refused.
    let (status, overview) = http.get("/api/v1/stats/overview?region=500103003", &jiefangbei).await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(overview["qualified"], 1);
    assert_eq!(overview["communities_with_active_match"], 1);
    assert_eq!(overview["records_this_year"], 1);
    assert_eq!(overview["average_resident_rating"], 4.5);
    let (status, by_region) = http.get("/api/v1/stats/by-region?region=500103", &yuzhong).await;
    assert_eq!(status, 200, "{by_region}");
    let streets = by_region["regions"].as_array().unwrap();
    assert!(
        streets
            .iter()
            .any(|s| s["region_code"] == "500103003" && s["records_this_year"] == 1)
    );
    let (status, problem) = http.get("/api/v1/stats/overview?region=500104", &jiefangbei).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (StatusCode::FORBIDDEN, Some("/problems/permission-denied"))
    );
    let (status, listed) = http.get("/api/v1/applications?region_code=500104", &yuzhong).await;
    assert_eq!(status, 200);
    assert_eq!(
        listed["applications"],
        json!([]),
        "渝中区's admin reads no applications of 大渡口区"
    );
    let (_, ours) = http.get("/api/v1/applications?region_code=500103", &yuzhong).await;
    assert_eq!(ours["applications"][0]["id"], app_id.as_str());
    let (status, _) = http
        .get(
            &format!("/api/v1/records/{record_id}"),
            &http.login("yuzhong", password).await,
        )
        .await;
    assert_eq!(status, 200, "the district admin reads its community's record");

    // Open311: an admin issues a channel its key; the channel reports a need and reads it back.
    let channel = http
        .ok(
            "/api/v1/channel-keys",
            &yuzhong,
            json!({ "name": "渝中区微信小程序", "region_code": "500103" }),
        )
        .await;
    let api_key = channel["key"].as_str().unwrap().to_string();
    let (status, discovery) = http.get("/open311/v2/discovery.json", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        discovery["endpoints"][0]["specification"],
        "http://wiki.open311.org/GeoReport_v2"
    );
    let (_, services) = http.get("/open311/v2/services.json", "").await;
    assert!(
        services
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["service_code"] == "elevator")
    );
    let form = [
        ("api_key", api_key.as_str()),
        ("jurisdiction_id", MINSHENGLU),
        ("service_code", "elevator"),
        ("lat", "29.5527"),
        ("long", "106.5815"),
        ("address_string", "民生路 5 栋"),
        ("description", "5栋老人多，希望加装电梯，请专业人员评估"),
        ("media_url", "https://img.example.cn/5.jpg"),
    ];
    let post = |form: Vec<(&str, &str)>| {
        let request = http
            .client
            .post(format!("{}/open311/v2/requests.json", http.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&form).unwrap());
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, created) = post(form.to_vec()).await;
    assert_eq!(status, 200, "{created}");
    let request_id = created[0]["service_request_id"].as_str().unwrap().to_string();
    let (_, again) = post(form.to_vec()).await;
    assert_eq!(
        again[0]["service_request_id"],
        request_id.as_str(),
        "a retried POST creates one need"
    );
    let with_key = |path: String| format!("{path}{}api_key={api_key}", if path.contains('?') { "&" } else { "?" });
    let (status, one) = http
        .call(
            reqwest::Method::GET,
            &with_key(format!("/open311/v2/requests/{request_id}.json")),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one[0]["status"], "open");
    assert_eq!(one[0]["service_code"], "elevator");
    assert!(one[0]["agency_responsible"].as_str().unwrap().contains("解放碑街道"));
    assert!(one[0]["requested_datetime"].as_str().unwrap().ends_with('Z'));
    assert_eq!(one[0]["lat"], 29.5527);
    assert_eq!(one[0]["description"], "5栋老人多，希望加装电梯，请专业人员评估");
    assert_eq!(one[0]["address"], "民生路 5 栋");
    assert_eq!(one[0]["media_url"], "https://img.example.cn/5.jpg");
    let (_, listed) = http
        .call(
            reqwest::Method::GET,
            &with_key("/open311/v2/requests.json?jurisdiction_id=500103&status=open".into()),
            None,
            None,
        )
        .await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["service_request_id"] == request_id.as_str())
    );
    // Without a key, as the specification has it: the de-identified summary
    // of a named jurisdiction, nothing of the resident.
    let anonymous = |path: String| {
        let request = http.client.get(format!("{}{path}", http.base));
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let (status, text) = anonymous(format!("/open311/v2/requests/{request_id}.json?jurisdiction_id=500103")).await;
    assert_eq!(status, 200, "{text}");
    for private in ["5栋老人多", "民生路 5 栋", "img.example.cn", "29.5527", "106.5815"] {
        assert!(!text.contains(private), "{private} in {text}");
    }
    let public: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(public[0]["service_request_id"], request_id.as_str());
    assert_eq!(public[0]["service_code"], "elevator");
    assert_eq!(public[0]["status"], "open");
    assert_eq!(public[0]["description"], "");
    assert!(
        public[0]["address"].as_str().unwrap().contains("解放碑街道"),
        "{public}"
    );
    assert_eq!(
        (public[0]["lat"].as_f64(), public[0]["long"].as_f64()),
        (Some(29.55), Some(106.58))
    );
    let (status, text) = anonymous("/open311/v2/requests.json?jurisdiction_id=500103&status=open".into()).await;
    assert_eq!(status, 200, "{text}");
    let public: Value = serde_json::from_str(&text).unwrap();
    assert!(
        public
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["service_request_id"] == request_id.as_str() && r["description"] == ""),
        "{public}"
    );
    assert!(!text.contains("5栋老人多") && !text.contains("民生路 5 栋"), "{text}");
    let (status, _) = anonymous("/open311/v2/requests.json".into()).await;
    assert_eq!(status, 400, "an anonymous read names its jurisdiction");
    let (status, _) = anonymous(format!("/open311/v2/requests/{request_id}.json?jurisdiction_id=500104")).await;
    assert_eq!(status, 404, "nor another's");
    // Errors are GeoReport error lists.
    let (status, errors) = post(form.iter().filter(|(k, _)| *k != "api_key").copied().collect()).await;
    assert_eq!((status.as_u16(), errors[0]["code"].as_u64()), (401, Some(401)));
    let mut bad = form.to_vec();
    bad[2] = ("service_code", "spaceport");
    let (status, errors) = post(bad).await;
    assert_eq!(status, 400, "{errors}");
    assert!(
        errors[0]["description"].as_str().unwrap().starts_with("service_code"),
        "{errors}"
    );
    let mut elsewhere = form.to_vec();
    elsewhere[1] = ("jurisdiction_id", "500104001001");
    let (status, _) = post(elsewhere).await;
    assert_eq!(status, 403, "a key reports only inside its region");
    let key_id = channel["id"].as_str().unwrap();
    let revoked = http
        .ok(&format!("/api/v1/channel-keys/{key_id}:revoke"), &yuzhong, json!({}))
        .await;
    assert!(revoked["revoke_time"].is_string(), "{revoked}");
    assert_eq!(revoked["key"], "", "the key is shown only once");
    let (status, _) = post(form.to_vec()).await;
    assert_eq!(status, 401, "a revoked key is refused");

    // Metrics: the admin port shows every service's series. Wrong passwords
    // first (on identity itself: the gateway would rate-limit them), until
    // the account locks.
    let mut auth = sanshi_proto::identity::v1::auth_service_client::AuthServiceClient::connect(format!(
        "http://{}",
        suite.identity.local_addr
    ))
    .await
    .unwrap();
    for attempt in 0..6 {
        let refused = auth
            .login(sanshi_proto::identity::v1::LoginRequest {
                username: "reviewer".into(),
                password: "not-the-password".into(),
            })
            .await
            .unwrap_err();
        let expected = if attempt < 5 {
            tonic::Code::Unauthenticated
        } else {
            tonic::Code::ResourceExhausted
        };
        assert_eq!(refused.code(), expected, "attempt {attempt}");
    }
    // The lock holds for that address only: through the gateway (which
    // passes the client's address to identity) the reviewer signs in from
    // another address at once, and not from the locked one.
    let from = |ip: [u8; 4]| Http {
        base: http.base.clone(),
        client: reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .build()
            .unwrap(),
    };
    let credentials = json!({ "username": "reviewer", "password": password });
    let (status, _) = from([127, 0, 0, 2])
        .post("/api/v1/auth/login", None, credentials.clone())
        .await;
    assert_eq!(status, 200, "another address signs in");
    let (status, body) = from([127, 0, 0, 1]).post("/api/v1/auth/login", None, credentials).await;
    assert_eq!(status, 429, "{body}");
    let admin = suite.identity.admin_addr.expect("the metrics port");
    let metrics = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "sanshi_rpc_requests_total{service=\"records\",method=\"/sanshi.records.v1.RecordService/ConfirmRecord\",code=\"Ok\"}",
        "sanshi_http_requests_total{service=\"gateway\",route=\"GET /api/v1/stats/overview\",status=\"200\"}",
        "sanshi_http_requests_total{service=\"gateway\",route=\"POST /api/v1/records/{id}:confirm\",status=\"200\"}",
        "sanshi_db_pool_connections{service=\"incentive\",state=\"idle\"}",
        "sanshi_db_pool_max_connections{service=\"notification\"}",
        "sanshi_outbox_backlog_events{service=\"records\"}",
        "sanshi_outbox_oldest_unpublished_age_seconds{service=\"incentive\"}",
        "sanshi_consumer_lag_events{consumer=\"incentive.records\",producer=\"records\"}",
        "sanshi_consumer_cursor{consumer=\"notification.incentive\",producer=\"incentive\"}",
        "sanshi_login_failures_total{kind=\"person\"} 5",
        "sanshi_login_lockouts_total{kind=\"person\"} 2",
    ] {
        assert!(metrics.contains(series), "{series} missing from:\n{metrics}");
    }

    if traced {
        let telemetry = std::sync::Arc::new(telemetry);
        let flushing = telemetry.clone();
        tokio::task::spawn_blocking(move || flushing.flush())
            .await
            .unwrap()
            .unwrap();
        traces_follow_the_work(&collector.spans(), &record_id);
    }
    suite.stop().await.unwrap();
    drop(databases);
}

/// What SREs follow in the traces of the loop above.
fn traces_follow_the_work(spans: &[testkit::otlp::Span], record_id: &str) {
    use std::collections::BTreeSet;
    let service = |s: &testkit::otlp::Span| s.attribute("sanshi.service").unwrap_or_default().to_string();
    // The dashboard request: one trace from the gateway through the services
    // it asks (RPC spans name their service and method).
    let dashboard = spans
        .iter()
        .find(|s| s.attribute("http.route") == Some("/api/v1/stats/overview"))
        .expect("the gateway's span of the dashboard request");
    assert_eq!(service(dashboard), "gateway");
    let rpcs: Vec<_> = spans
        .iter()
        .filter(|s| s.trace_id == dashboard.trace_id && s.attribute("rpc.system") == Some("grpc"))
        .collect();
    let services: BTreeSet<String> = rpcs.iter().map(|s| service(s)).collect();
    assert!(services.len() >= 2, "services in the dashboard's trace: {services:?}");
    assert!(
        rpcs.iter()
            .all(|s| s.attribute("rpc.service").is_some_and(|v| v.starts_with("sanshi."))
                && s.attribute("rpc.method").is_some_and(|v| !v.is_empty())),
        "{rpcs:#?}"
    );
    // Database calls inside the request are spans of its trace (semantic
    // conventions' attributes, the statement without values); calls outside
    // any traced work (pollers) are not exported.
    let queries: Vec<_> = spans.iter().filter(|s| s.attribute("db.system").is_some()).collect();
    assert!(
        queries
            .iter()
            .any(|s| s.trace_id == dashboard.trace_id && s.attribute("db.operation") == Some("SELECT")),
        "no query in the dashboard's trace"
    );
    assert!(
        queries.iter().all(|s| !s.parent_span_id.is_empty()),
        "a lone query was exported"
    );
    // The visit: records scores it, incentive awards its points, notification
    // tells the professional. Each consumer's span is a child of the span
    // that published the event, or (a batch) links to it.
    let follows = |s: &testkit::otlp::Span, cause: &testkit::otlp::Span| {
        s.trace_id == cause.trace_id || s.links.iter().any(|(trace, _)| *trace == cause.trace_id)
    };
    let scored = spans
        .iter()
        .find(|s| s.name == "score record" && s.attribute("record_id") == Some(record_id))
        .expect("records' span of the scoring");
    assert_eq!(service(scored), "records");
    let awarded = spans
        .iter()
        .find(|s| s.attribute("consumer") == Some("incentive.records") && follows(s, scored))
        .unwrap_or_else(|| panic!("incentive's span applying the scored record: {spans:#?}"));
    let told = spans
        .iter()
        .find(|s| {
            s.name == "apply sanshi.incentive.v1.PointsAwarded"
                && s.attribute("consumer") == Some("notification.incentive")
                && follows(s, awarded)
        })
        .unwrap_or_else(|| panic!("notification's span applying the points: {spans:#?}"));
    assert_eq!(told.attribute("event_type"), Some("sanshi.incentive.v1.PointsAwarded"));
    // No personal data in any span, attribute or log line in a span: the
    // applicant's ID number, phone, name and employer's credit code, the
    // residents' phones.
    let personal = [
        "110105198001010011",
        "13800001234",
        "林建国",
        "91440300708461136T",
        "13911112222",
        "13911113333",
    ];
    assert!(
        spans.iter().any(|s| !s.events.is_empty()),
        "log lines travel in spans too"
    );
    for s in spans {
        let texts = std::iter::once(&s.name).chain(s.attributes.values()).chain(
            s.events
                .iter()
                .flat_map(|(name, a)| std::iter::once(name).chain(a.values())),
        );
        for text in texts {
            for p in personal {
                assert!(!text.contains(p), "{p} in span {:?}: {text}", s.name);
            }
        }
    }
}

kit::db_tests!(the_programme_loop_over_http);
