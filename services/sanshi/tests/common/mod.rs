//! What the suite-level tests share: an HTTP client of the gateway's API
//! and valid test data. Each test binary uses a part of it.
#![allow(dead_code)]

use reqwest::StatusCode;
use serde_json::{Value, json};

pub struct Http {
    pub base: String,
    pub client: reqwest::Client,
}

impl Http {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body)).await
    }

    /// POST that must succeed; its answer.
    pub async fn ok(&self, path: &str, token: &str, body: Value) -> Value {
        let (status, answer) = self.post(path, Some(token), body).await;
        assert!(status.is_success(), "POST {path}: {status} {answer}");
        answer
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, tokens) = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "username": username, "password": password }),
            )
            .await;
        assert_eq!(status, 200, "{tokens}");
        tokens["access_token"].as_str().unwrap().to_string()
    }

    /// GET `path` until `done` holds for its answer (30 s at most).
    pub async fn wait(&self, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (status, answer) = self.get(path, token).await;
            if status.is_success() && done(&answer) {
                return answer;
            }
            assert!(std::time::Instant::now() < deadline, "GET {path}: {status} {answer}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

pub fn id_number(body17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body17.bytes().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{body17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

/// Starts the whole suite as `layout` says. The services must know each
/// other's ports before they bind, so they are picked free and then bound;
/// a test running beside this one can take one in between: then pick again
/// (`repick` picks the ports of `layout` anew).
pub async fn start_suite(
    layout: &mut sanshi::dev::Layout,
    repick: impl Fn(&mut sanshi::dev::Layout),
) -> sanshi::dev::Suite {
    let mut attempts = 0;
    loop {
        match sanshi::dev::start(layout).await {
            Ok(suite) => return suite,
            Err(error) if attempts < 5 && format!("{error:#}").contains("Address already in use") => {
                attempts += 1;
                repick(layout);
            }
            Err(error) => panic!("start the suite: {error:#}"),
        }
    }
}

/// Registers as a person does through the gateway: asks for a code for
/// `phone`, reads it from the suite's `sms` outbox (where `sanshi dev` keeps
/// what it logs) and registers in 民生路社区 with it; the answer.
pub async fn register(
    http: &Http,
    sms: &identity::sms::Outbox,
    username: &str,
    display_name: &str,
    phone: &str,
    password: &str,
) -> (StatusCode, Value) {
    let before = sms.sent_to(phone).len();
    let (status, sent) = http
        .post(
            "/api/v1/auth/phone-codes",
            None,
            json!({ "phone": phone, "purpose": "PHONE_CODE_PURPOSE_REGISTRATION" }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let code = sms.wait_code(phone, before + 1).await.expect("the code is texted");
    http.post(
        "/api/v1/auth/register",
        None,
        json!({
            "username": username, "display_name": display_name, "phone": phone,
            "password": password, "community_code": "500103003013", "phone_code": code
        }),
    )
    .await
}

/// Registers `username`, applies as a planner serving 渝中区 and has the
/// reviewer approve; the account's token (and the application's id) once
/// matching knows it active. `n` (0–99) makes the ID number, phone and
/// certificate unique; `sms` is the suite's outbox (`Suite::sms`).
pub async fn qualify(
    http: &Http,
    sms: &identity::sms::Outbox,
    reviewer: &str,
    username: &str,
    real_name: &str,
    n: u32,
    federation_directory: bool,
) -> (String, String) {
    let password = "Register2026";
    let phone = format!("138000012{n:02}");
    let (status, account) = register(http, sms, username, real_name, &phone, password).await;
    assert_eq!(status, 201, "{account}");
    let me = http.login(username, password).await;
    let application = json!({
        "real_name": real_name,
        "id_number": id_number(&format!("110105198001010{n:02}")),
        "phone": phone,
        "profession": "PROFESSION_PLANNER",
        "specialties": ["社区规划", "加装电梯"],
        "employer": { "name": "重庆市规划设计研究院", "credit_code": "91440300708461136T" },
        "practice_start_date": "2010-03-01",
        "certificates": [{
            "kind": "注册城乡规划师", "number": format!("GH20150007{n:02}"), "issuer": "自然资源部",
            "valid_until": "2030-12-31"
        }],
        "service_region_codes": ["500103"],
        "base_location": { "longitude": 106.58, "latitude": 29.55 },
        "commitment_signed": true,
        "consent": { "contact_visible_to_matched": true, "federation_directory": federation_directory }
    });
    let draft = http
        .ok(
            "/api/v1/applications",
            &me,
            json!({ "application": application, "request_id": format!("apply-{username}") }),
        )
        .await;
    let id = draft["id"].as_str().unwrap().to_string();
    http.ok(&format!("/api/v1/applications/{id}:submit"), &me, json!({}))
        .await;
    http.ok(
        &format!("/api/v1/applications/{id}:start-review"),
        reviewer,
        json!({ "reason": "开始审核" }),
    )
    .await;
    http.ok(
        &format!("/api/v1/applications/{id}:verify-employer"),
        reviewer,
        json!({ "verified": true, "note": "已核实" }),
    )
    .await;
    http.ok(
        &format!("/api/v1/applications/{id}:approve"),
        reviewer,
        json!({ "reason": "材料齐全" }),
    )
    .await;
    http.wait("/api/v1/professionals/me", &me, |p| {
        p["status"] == "PROFESSIONAL_STATUS_ACTIVE"
    })
    .await;
    (me, id)
}

/// The whole suite as `sanshi dev` starts it, for a test: `db` is identity's
/// database and `databases` the other services' (of the same kind), random
/// ports, attachments in a temporary folder, no metrics port.
pub struct TestSuite {
    pub suite: sanshi::dev::Suite,
    pub layout: sanshi::dev::Layout,
    pub databases: Vec<kit::db::testing::TestDb>,
    /// Keep it bound: the folder is deleted when it drops.
    pub attachments: tempfile::TempDir,
}

pub async fn suite_on(db: &kit::db::testing::TestDb) -> TestSuite {
    let mut databases = Vec::new();
    for _ in 0..5 {
        databases.push(kit::db::testing::TestDb::of_kind(db.kind).await.unwrap());
    }
    let attachments = tempfile::tempdir().unwrap();
    let urls: Vec<String> = std::iter::once(db)
        .chain(databases.iter())
        .map(|d| d.config.url.clone())
        .collect();
    let mut layout = sanshi::dev::Layout {
        host: "127.0.0.1".into(),
        ports: std::array::from_fn(|_| testkit::free_port()),
        databases: std::array::from_fn(|i| urls[i].clone()),
        attachments: attachments.path().to_path_buf(),
        rating_window_secs: 2,
        min_visit_minutes: 1,
        log_level: "warn".into(),
        metrics_port: None,
        max_connections: 4,
        federation: None,
        overrides: kit::config::Overrides::default(),
    };
    let suite = start_suite(&mut layout, |layout| {
        layout.ports = std::array::from_fn(|_| testkit::free_port());
    })
    .await;
    TestSuite {
        suite,
        layout,
        databases,
        attachments,
    }
}
