//! Login lockout per account and source, and the password policy: the real
//! service on a random port, on SQLite and on PostgreSQL.

mod common;

use common::{Harness, PASSWORD, SERVICE_SECRET, new_account, with_token};
use kit::db::testing::TestDb;
use sanshi_proto::identity::v1 as pb;
use sanshi_proto::identity::v1::auth_service_client::AuthServiceClient;
use sea_orm::ConnectionTrait;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

const WRONG: &str = "WrongPassword1";
/// Two more client machines (see `Harness::channel_from`); the harness's own
/// channel comes from 127.0.0.1.
const GUESSER: [u8; 4] = [127, 0, 0, 2];
const HOLDER: [u8; 4] = [127, 0, 0, 3];
/// The metadata with which the gateway names the client it calls for.
const CLIENT_IP: &str = "x-sanshi-client-ip";

/// A login request, with `metadata` added.
fn login_request(
    username: &str,
    password: &str,
    metadata: &[(&'static str, &str)],
) -> tonic::Request<pb::LoginRequest> {
    let mut request = tonic::Request::new(pb::LoginRequest {
        username: username.into(),
        password: password.into(),
    });
    for (key, value) in metadata {
        request.metadata_mut().insert(*key, value.parse().unwrap());
    }
    request
}

async fn login(channel: &Channel, request: tonic::Request<pb::LoginRequest>) -> Result<pb::TokenPair, tonic::Status> {
    let response = AuthServiceClient::new(channel.clone()).login(request).await?;
    Ok(response.into_inner().tokens.expect("tokens"))
}

async fn audit_entries(h: &Harness) -> Vec<pb::AuditEntry> {
    let auditor = h.token("auditor").await;
    h.audit()
        .list_audit_entries(with_token(
            pb::ListAuditEntriesRequest {
                page_size: 1000,
                page_token: String::new(),
            },
            &auditor,
        ))
        .await
        .unwrap()
        .into_inner()
        .entries
}

/// Wrong passwords from one machine slow that machine down, never the
/// account's holder elsewhere; and every failure and refusal is audited.
async fn failures_elsewhere_never_refuse_the_right_password(db: TestDb) {
    let h = Harness::start(db).await;
    let guesser = h.channel_from(GUESSER).await;
    for attempt in 0..5 {
        let wrong = login(&guesser, login_request("city", WRONG, &[])).await.unwrap_err();
        assert_eq!(wrong.code(), Code::Unauthenticated, "attempt {attempt}: {wrong:?}");
    }
    // The guesser now waits, even with the right password, and is told how long.
    let locked = login(&guesser, login_request("city", PASSWORD, &[])).await.unwrap_err();
    assert_eq!(locked.code(), Code::ResourceExhausted, "{locked:?}");
    assert!(
        locked.message().starts_with("登录失败次数过多，请 "),
        "{}",
        locked.message()
    );
    assert!(locked.message().ends_with("分钟后再试"), "{}", locked.message());
    // Naming another client address is for platform services only.
    let spoofed = login(
        &guesser,
        login_request("city", PASSWORD, &[(CLIENT_IP, "198.51.100.9")]),
    )
    .await
    .unwrap_err();
    assert_eq!(spoofed.code(), Code::ResourceExhausted, "{spoofed:?}");

    // The city admin, from their own machine, logs in at once; from a third one too.
    let holder = h.channel_from(HOLDER).await;
    login(&holder, login_request("city", PASSWORD, &[]))
        .await
        .expect("the holder is not locked out by someone else's guesses");
    h.try_login("city", PASSWORD).await.expect("nor from a third machine");
    // Their success does not let the guesser go on.
    let still = login(&guesser, login_request("city", PASSWORD, &[])).await.unwrap_err();
    assert_eq!(still.code(), Code::ResourceExhausted, "{still:?}");

    // Through the gateway (a service token) each client's own address counts.
    let service = h
        .auth()
        .issue_service_token(pb::IssueServiceTokenRequest {
            client_id: "matching".into(),
            client_secret: SERVICE_SECRET.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .access_token;
    let bearer = format!("Bearer {service}");
    let via_gateway = |password: &str, client: &str| {
        login_request(
            "yuzhong",
            password,
            &[("authorization", bearer.as_str()), (CLIENT_IP, client)],
        )
    };
    for attempt in 0..5 {
        let wrong = login(&h.channel, via_gateway(WRONG, "198.51.100.7")).await.unwrap_err();
        assert_eq!(wrong.code(), Code::Unauthenticated, "attempt {attempt}: {wrong:?}");
    }
    let locked = login(&h.channel, via_gateway(PASSWORD, "198.51.100.7"))
        .await
        .unwrap_err();
    assert_eq!(locked.code(), Code::ResourceExhausted, "{locked:?}");
    login(&h.channel, via_gateway(PASSWORD, "198.51.100.8"))
        .await
        .expect("another client of the gateway");
    h.try_login("yuzhong", PASSWORD)
        .await
        .expect("the gateway's own address is not the guesser's");

    // The audit trail keeps every failure and every refusal, with its source.
    let entries = audit_entries(&h).await;
    let count = |target: &str, outcome: pb::AuditOutcome, source: &str| {
        entries
            .iter()
            .filter(|e| {
                e.action == "login" && e.target == target && e.outcome == outcome as i32 && e.detail.contains(source)
            })
            .count()
    };
    assert_eq!(count("city", pb::AuditOutcome::Failure, "127.0.0.2"), 5, "{entries:#?}");
    assert_eq!(count("city", pb::AuditOutcome::Denied, "127.0.0.2"), 3, "{entries:#?}");
    assert_eq!(count("city", pb::AuditOutcome::Denied, "127.0.0.3"), 0);
    assert_eq!(count("yuzhong", pb::AuditOutcome::Failure, "198.51.100.7"), 5);
    assert_eq!(count("yuzhong", pb::AuditOutcome::Denied, "198.51.100.7"), 1);
    h.stop().await;
}

/// Logging in with the right password from many tabs at once counts no
/// failure: none is recorded before the password is checked.
async fn parallel_correct_logins_all_succeed(db: TestDb) {
    let h = Harness::start(db).await;
    let logins = (0..8).map(|_| h.try_login("yuzhong", PASSWORD));
    for result in futures::future::join_all(logins).await {
        result.expect("every correct login succeeds");
    }
    let failures: i64 =
        h.db.conn
            .query_one_raw(sea_orm::Statement::from_string(
                h.db.conn.get_database_backend(),
                "SELECT COUNT(*) AS n FROM login_failures".to_string(),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get("", "n")
            .unwrap();
    assert_eq!(failures, 0, "no failure recorded for a success");
    // Nothing was counted: a wrong-password streak still gets its five tries.
    for attempt in 0..5 {
        let wrong = h.try_login("yuzhong", WRONG).await.unwrap_err();
        assert_eq!(wrong.code(), Code::Unauthenticated, "attempt {attempt}: {wrong:?}");
    }
    let locked = h.try_login("yuzhong", PASSWORD).await.unwrap_err();
    assert_eq!(locked.code(), Code::ResourceExhausted, "{locked:?}");
    h.stop().await;
}

/// The one field violation of an INVALID_ARGUMENT status.
fn violation(status: &tonic::Status) -> (String, String) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let violations = status
        .get_details_bad_request()
        .expect("field violations")
        .field_violations;
    assert_eq!(violations.len(), 1, "{violations:?}");
    (violations[0].field.clone(), violations[0].description.clone())
}

/// Common passwords (also in disguise) and passwords made of the holder's
/// username or phone number are refused wherever a password is chosen.
async fn weak_passwords_are_refused_with_the_reason(db: TestDb) {
    let h = Harness::start(db).await;
    let city = h.token("city").await;
    const COMMON: &str = "密码过于常见，请换一个更难猜的密码";
    for (username, password, phone, reason) in [
        ("weak1", "password1", "", COMMON),
        ("weak2", "Passw0rd", "", COMMON),
        ("weak3", "aaaaaaa1", "", "更难猜的密码"),
        ("weak4", "Welcome2026", "", COMMON),
        ("weakling", "weakling2026", "", "密码不能包含用户名"),
        ("phoney", "Li13812345678", "13812345678", "密码不能包含手机号"),
    ] {
        let mut request = new_account(username, "500103", &[]);
        request.initial_password = password.into();
        request.account.as_mut().unwrap().phone = phone.into();
        let refused = h
            .accounts()
            .create_account(with_token(request, &city))
            .await
            .unwrap_err();
        let (field, description) = violation(&refused);
        assert_eq!(field, "initial_password", "{password}");
        assert!(description.contains(reason), "{password}: {description}");
    }
    // The platform's test password passes, phone and all.
    let mut strong = new_account("strong1", "500103", &[]);
    strong.account.as_mut().unwrap().phone = "13812345678".into();
    h.accounts()
        .create_account(with_token(strong, &city))
        .await
        .expect("a strong password is accepted");

    // Self-registration.
    let code = h.registration_code("13900002222").await;
    let register = |password: &str| pb::RegisterAccountRequest {
        username: "zhaogong".into(),
        display_name: "赵工".into(),
        phone: "13900002222".into(),
        password: password.into(),
        community_code: "500103003013".into(),
        phone_code: code.clone(),
    };
    let refused = h
        .accounts()
        .register_account(register("Zxcv13900002222"))
        .await
        .unwrap_err();
    assert_eq!(
        violation(&refused),
        ("password".to_string(), "密码不能包含手机号".to_string())
    );
    h.accounts()
        .register_account(register("Register2026"))
        .await
        .expect("the suite's registration password is accepted");

    // Password changes: the stored phone number counts too.
    let session = h.try_login("zhaogong", "Register2026").await.unwrap();
    let change = |new_password: &str| {
        with_token(
            pb::ChangePasswordRequest {
                current_password: "Register2026".into(),
                new_password: new_password.into(),
            },
            &session.access_token,
        )
    };
    for (new_password, reason) in [
        ("Passw0rd1", COMMON),
        ("Zhaogong-2027", "密码不能包含用户名"),
        ("Home-13900002222x", "密码不能包含手机号"),
    ] {
        let refused = h.auth().change_password(change(new_password)).await.unwrap_err();
        assert_eq!(
            violation(&refused),
            ("new_password".to_string(), reason.to_string()),
            "{new_password}"
        );
    }
    h.auth()
        .change_password(change("Hz7!kq2Lm-2026"))
        .await
        .expect("a strong new password is accepted");
    h.try_login("zhaogong", "Hz7!kq2Lm-2026").await.expect("and works");
    h.stop().await;
}

kit::db_tests!(
    failures_elsewhere_never_refuse_the_right_password,
    parallel_correct_logins_all_succeed,
    weak_passwords_are_refused_with_the_reason,
);
