//! The gateway in front of a real identity service, over HTTP.

use kit::db::testing::TestDb;
use serde_json::{Value, json};

struct Stack {
    base: String,
    client: reqwest::Client,
    /// The text messages (one-time codes) identity sent.
    sms: identity::testing::SmsOutbox,
    _db: TestDb,
    stop: Vec<tokio::sync::oneshot::Sender<()>>,
}

async fn stack(db: TestDb) -> Stack {
    stack_with(db, "").await
}

/// The stack with more gateway configuration (TOML appended to the test's).
async fn stack_with(db: TestDb, extra: &str) -> Stack {
    let (stop_identity, identity_stopped) = tokio::sync::oneshot::channel::<()>();
    let (sms, sender) = identity::testing::sms_outbox();
    let identity = identity::start_with(identity::testing::config(&db.config.url), sender, async {
        let _ = identity_stopped.await;
    })
    .await
    .unwrap();
    let overrides = format!(
        "[server]\nhost = \"127.0.0.1\"\nport = 0\n[telemetry]\nlog_format = \"pretty\"\nlog_level = \"warn\"\n[upstreams]\nidentity_url = \"http://{}\"\n{extra}",
        identity.local_addr
    );
    tokio::spawn(identity.wait());
    let config: gateway::Config = kit::config::from_toml(gateway::config::DEFAULTS, &overrides).unwrap();
    let (stop_gateway, gateway_stopped) = tokio::sync::oneshot::channel::<()>();
    let running = gateway::start(config, async {
        let _ = gateway_stopped.await;
    })
    .await
    .unwrap();
    let base = format!("http://{}", running.local_addr);
    tokio::spawn(running.wait());
    Stack {
        base,
        client: reqwest::Client::new(),
        sms,
        _db: db,
        stop: vec![stop_gateway, stop_identity],
    }
}

impl Stack {
    async fn post(&self, path: &str, body: Value) -> (u16, String, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, content_type, response.json().await.unwrap_or(Value::Null))
    }

    async fn login(&self, username: &str, password: &str) -> (u16, String, Value) {
        self.post(
            "/api/v1/auth/login",
            json!({ "username": username, "password": password }),
        )
        .await
    }

    /// The status of `GET path`, without credentials.
    async fn status(&self, path: &str) -> u16 {
        let response = self.client.get(format!("{}{path}", self.base)).send().await.unwrap();
        response.status().as_u16()
    }

    async fn stop(self) {
        for stop in self.stop {
            let _ = stop.send(());
        }
    }
}

async fn login_refresh_and_me(db: TestDb) {
    let s = stack(db).await;
    let health = s.client.get(format!("{}/healthz", s.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let (status, _, tokens) = s.login("yuzhong", identity::testing::PASSWORD).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_i64().unwrap() <= 900);
    let access = tokens["access_token"].as_str().unwrap();

    let me: Value = s
        .client
        .get(format!("{}/api/v1/me", s.base))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "yuzhong");
    assert_eq!(me["roles"][0]["role"], "ROLE_DISTRICT_ADMIN");
    assert_eq!(me["roles"][0]["region_code"], "500103");

    // Self-registration: a resident of a real community, the phone proven
    // by the code texted to it.
    let (status, _, sent) = s
        .post(
            "/api/v1/auth/phone-codes",
            json!({ "phone": "13900001111", "purpose": "PHONE_CODE_PURPOSE_REGISTRATION" }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["expires_in"], 300, "{sent}");
    assert_eq!(sent["resend_after"], 60, "{sent}");
    let code = s.sms.wait_code("13900001111", 1).await.expect("the code is texted");
    let body = json!({
        "username": "zhanggong", "display_name": "张工", "phone": "13900001111",
        "password": "Register2026", "community_code": "500103003013", "phone_code": code
    });
    let (status, _, account) = s.post("/api/v1/auth/register", body.clone()).await;
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["roles"][0]["role"], "ROLE_RESIDENT");
    assert_eq!(account["phone"], "13900001111", "the new holder sees it");
    // Again: the code is spent, and the registered phone is not named.
    let (status, _, problem) = s.post("/api/v1/auth/register", body).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "phone_code", "{problem}");
    let bad = json!({"username": "x", "display_name": "", "phone": "1", "password": "a", "community_code": "500103"});
    let (status, _, problem) = s.post("/api/v1/auth/register", bad).await;
    assert_eq!(status, 400);
    assert_eq!(problem["errors"].as_array().unwrap().len(), 6, "{problem}");
    let (status, _, _) = s.login("zhanggong", "Register2026").await;
    assert_eq!(status, 200);

    let (status, _, refreshed) = s
        .post(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": tokens["refresh_token"] }),
        )
        .await;
    assert_eq!(status, 200);
    assert_ne!(refreshed["refresh_token"], tokens["refresh_token"]);
    s.stop().await;
}

async fn errors_are_problem_details(db: TestDb) {
    // Qualification is down (nothing listens on port 1).
    let s = stack_with(db, "qualification_url = \"http://127.0.0.1:1\"\n").await;
    let (_, _, tokens) = s.login("yuzhong", identity::testing::PASSWORD).await;
    let (status, content_type, problem) = s.login("yuzhong", "WrongPassword1").await;
    assert_eq!(status, 401);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(problem["status"], 401);
    assert_eq!(problem["code"], "Unauthenticated");
    assert!(problem["title"].is_string());

    for _ in 0..4 {
        s.login("yuzhong", "WrongPassword1").await;
    }
    let (status, _, problem) = s.login("yuzhong", identity::testing::PASSWORD).await;
    assert_eq!(status, 429, "{problem}");

    let me = s.client.get(format!("{}/api/v1/me", s.base)).send().await.unwrap();
    assert_eq!(me.status(), 401);
    let me = s
        .client
        .get(format!("{}/api/v1/me", s.base))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);

    let bad = s
        .client
        .post(format!("{}/api/v1/auth/login", s.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let problem: Value = bad.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "body");

    let (status, _, problem) = s.login("", "").await;
    assert_eq!(status, 400);
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);

    let missing = s.client.get(format!("{}/api/v1/nope", s.base)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    // Over the body limit (1 MiB): a 413 problem, not a bare text answer.
    // The server answers before it has read the body and closes the
    // connection, so a client still sending may see the reset instead of the
    // answer (HTTP/1.1): such an attempt is repeated.
    let over_limit = |path: &'static str| {
        let (client, url) = (s.client.clone(), format!("{}{path}", s.base));
        async move {
            for _ in 0..5 {
                match client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(vec![b' '; 1024 * 1024 + 1024])
                    .send()
                    .await
                {
                    Ok(response) => return response,
                    Err(e) if e.is_request() => continue,
                    Err(e) => panic!("{e}"),
                }
            }
            panic!("no answer to an oversized body at {path}");
        }
    };
    let huge = over_limit("/api/v1/auth/login").await;
    assert_eq!(huge.status(), 413);
    assert_eq!(huge.headers()["content-type"], "application/problem+json");
    let problem: Value = huge.json().await.unwrap();
    assert_eq!(problem["errors"][0]["description"], "请求体过大");
    assert!(!problem.to_string().contains("length limit"), "{problem}");
    let huge_report = over_limit("/open311/v2/requests.json").await;
    assert_eq!(huge_report.status(), 413);
    let errors: Value = huge_report.json().await.unwrap();
    assert_eq!(errors[0]["description"], "请求体过大");

    // A service that is down: 503 with a wait, and no transport detail.
    let down = s
        .client
        .get(format!("{}/api/v1/applications", s.base))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 503);
    assert_eq!(down.headers()["retry-after"], "5");
    let problem: Value = down.json().await.unwrap();
    let text = problem.to_string();
    assert!(
        !text.contains("tcp") && !text.contains("error") && !text.contains("upstream"),
        "{text}"
    );
    assert_eq!(problem["title"], "服务暂不可用");
    s.stop().await;
}

async fn limits_cors_and_gzip(db: TestDb) {
    let s = stack_with(
        db,
        "[limits]\nlogin_per_ip_per_minute = 6\nlogin_per_ip_burst = 2\nper_principal_per_minute = 60\nper_principal_burst = 3\n\
         [cors]\nallowed_origins = [\"https://dashboard.example.cn\"]\n",
    )
    .await;
    // Login: two at once from one address, then 429 with the wait.
    let (status, _, tokens) = s.login("yuzhong", identity::testing::PASSWORD).await;
    assert_eq!(status, 200);
    s.login("yuzhong", identity::testing::PASSWORD).await;
    let limited = s
        .client
        .post(format!("{}/api/v1/auth/login", s.base))
        .json(&json!({ "username": "yuzhong", "password": identity::testing::PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&wait), "{wait}");
    let problem: Value = limited.json().await.unwrap();
    assert_eq!(problem["code"], "ResourceExhausted");

    // Per account: a burst of three, then 429; CORS for the configured origin; gzip when asked.
    let token = tokens["access_token"].as_str().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let me = s
            .client
            .get(format!("{}/api/v1/regions?parent_code=500103", s.base))
            .bearer_auth(token)
            .header("origin", "https://dashboard.example.cn")
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        if statuses.is_empty() {
            assert_eq!(
                me.headers()["access-control-allow-origin"],
                "https://dashboard.example.cn"
            );
            assert_eq!(me.headers()["content-encoding"], "gzip");
        }
        statuses.push(me.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    let other = s
        .client
        .get(format!("{}/api/v1/me", s.base))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    s.stop().await;
}

async fn health_is_never_rate_limited(db: TestDb) {
    // Two calls per address, then one a minute.
    let s = stack_with(db, "[limits]\nper_ip_per_minute = 1\nper_ip_burst = 2\n").await;
    let mut health = Vec::new();
    for _ in 0..5 {
        health.push(s.status("/healthz").await);
    }
    assert_eq!(health, [200; 5], "probes take nothing from the address's allowance");
    let mut api = Vec::new();
    for _ in 0..3 {
        api.push(s.status("/api/v1/openapi.json").await);
    }
    assert_eq!(api, [200, 200, 429]);
    // Over the limit: the API still refuses, health still answers.
    let mut health = Vec::new();
    for _ in 0..5 {
        health.push(s.status("/healthz").await);
    }
    assert_eq!(health, [200; 5]);
    assert_eq!(s.status("/api/v1/openapi.json").await, 429);
    s.stop().await;
}

kit::db_tests!(
    login_refresh_and_me,
    errors_are_problem_details,
    limits_cors_and_gzip,
    health_is_never_rate_limited,
);
