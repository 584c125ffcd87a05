//! Registration proves the phone with a one-time code, and discloses no
//! registered number: the real service on a random port, on SQLite and on
//! PostgreSQL, with an in-memory SMS outbox in place of a provider.

mod common;

use common::{Harness, SERVICE_SECRET, new_account, with_token};
use identity::store::entities::{phone_code, phone_code_request};
use kit::db::testing::TestDb;
use sanshi_proto::identity::v1 as pb;
use sanshi_proto::identity::v1::auth_service_client::AuthServiceClient;
use sea_orm::sea_query::Expr;
use sea_orm::{ConnectionTrait, EntityTrait};
use tonic::Code;
use tonic_types::StatusExt;

const COMMUNITY: &str = "500103003013";
const PASSWORD: &str = "Register2026";

fn registration(username: &str, phone: &str, code: &str) -> pb::RegisterAccountRequest {
    pb::RegisterAccountRequest {
        username: username.into(),
        display_name: "新居民".into(),
        phone: phone.into(),
        password: PASSWORD.into(),
        community_code: COMMUNITY.into(),
        phone_code: code.into(),
    }
}

fn code_request(phone: &str) -> pb::RequestPhoneCodeRequest {
    pb::RequestPhoneCodeRequest {
        phone: phone.into(),
        purpose: pb::PhoneCodePurpose::Registration as i32,
    }
}

/// The one field violation of an INVALID_ARGUMENT.
fn violation(status: &tonic::Status) -> (String, String) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad = status.get_details_bad_request().expect("field violations");
    assert_eq!(bad.field_violations.len(), 1, "{bad:?}");
    (
        bad.field_violations[0].field.clone(),
        bad.field_violations[0].description.clone(),
    )
}

fn wrong_code() -> (String, String) {
    ("phone_code".into(), "验证码错误或已过期".into())
}

/// A 6-digit code other than `code`.
fn other_than(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

/// Moves every counted code request `by` into the past (as if the test had waited).
async fn age_requests(h: &Harness, by: chrono::Duration) {
    phone_code_request::Entity::update_many()
        .col_expr(
            phone_code_request::Column::RequestedAt,
            Expr::value(chrono::Utc::now() - by),
        )
        .exec(&h.db.conn)
        .await
        .unwrap();
}

/// Lets every live code expire.
async fn expire_codes(h: &Harness) {
    phone_code::Entity::update_many()
        .col_expr(
            phone_code::Column::ExpiresAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .exec(&h.db.conn)
        .await
        .unwrap();
}

async fn rows(h: &Harness, table: &str) -> Vec<sea_orm::QueryResult> {
    h.db.conn
        .query_all_raw(sea_orm::Statement::from_string(
            h.db.conn.get_database_backend(),
            format!("SELECT * FROM {table}"),
        ))
        .await
        .unwrap()
}

async fn registration_needs_the_code_texted_to_the_phone(db: TestDb) {
    let h = Harness::start(db).await;
    let phone = "13900003333";
    let refused = h
        .accounts()
        .register_account(registration("lingong", phone, ""))
        .await
        .unwrap_err();
    assert_eq!(
        violation(&refused),
        ("phone_code".to_string(), "请输入短信验证码".to_string()),
        "no code, no account"
    );
    let refused = h
        .accounts()
        .register_account(registration("lingong", phone, "123456"))
        .await
        .unwrap_err();
    assert_eq!(violation(&refused), wrong_code(), "none was asked for");

    let answer = h
        .auth()
        .request_phone_code(code_request(phone))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((answer.expires_in, answer.resend_after), (300, 60));
    let code = h.sms.wait_code(phone, 1).await.expect("the code is texted");
    assert_eq!(
        h.sms.sent_to(phone),
        [format!(
            "【三师进社区】您的验证码是 {code}，5 分钟内有效。请勿告诉他人。"
        )]
    );

    let refused = h
        .accounts()
        .register_account(registration("lingong", phone, &other_than(&code)))
        .await
        .unwrap_err();
    assert_eq!(violation(&refused), wrong_code(), "a wrong code");
    let refused = h
        .accounts()
        .register_account(registration("lingong", "13900003334", &code))
        .await
        .unwrap_err();
    assert_eq!(violation(&refused), wrong_code(), "the code of another number");
    // A taken username (no personal data) is named, and the code survives it.
    let taken = h
        .accounts()
        .register_account(registration("yuzhong", phone, &code))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists, "{taken:?}");

    let account = h
        .accounts()
        .register_account(registration("lingong", phone, &format!(" {code} ")))
        .await
        .expect("the right code registers")
        .into_inner();
    assert_eq!(account.phone, phone, "the holder sees it");
    assert_eq!(account.roles[0].role, pb::Role::Resident as i32);
    h.try_login("lingong", PASSWORD).await.expect("and signs in");

    let again = h
        .accounts()
        .register_account(registration("lingong2", phone, &code))
        .await
        .unwrap_err();
    assert_eq!(violation(&again), wrong_code(), "a code is used once");
    assert!(rows(&h, "phone_codes").await.is_empty(), "spent codes are gone");
    h.stop().await;
}

async fn registered_numbers_are_not_disclosed(db: TestDb) {
    let h = Harness::start(db).await;
    let city = h.token("city").await;
    let registered = "13812345678";
    let mut request = new_account("wanggong", "500103", &[]);
    request.account.as_mut().unwrap().phone = registered.into();
    h.accounts().create_account(with_token(request, &city)).await.unwrap();

    let fresh = "13900004444";
    let for_registered = h.auth().request_phone_code(code_request(registered)).await;
    let for_fresh = h.auth().request_phone_code(code_request(fresh)).await;
    assert_eq!(
        for_registered.unwrap().into_inner(),
        for_fresh.unwrap().into_inner(),
        "the same answer"
    );
    let fresh_code = h.sms.wait_code(fresh, 1).await.expect("the new number gets a code");
    assert!(
        h.sms.sent_to(registered).is_empty(),
        "the registered number is sent nothing"
    );
    assert_eq!(h.sms.all().len(), 1);

    // Registering the registered number fails exactly as a wrong code.
    let wrong = h
        .accounts()
        .register_account(registration("zhaogong", fresh, &other_than(&fresh_code)))
        .await
        .unwrap_err();
    for guess in ["000000", "123456", "999999"] {
        let taken = h
            .accounts()
            .register_account(registration("zhaogong", registered, guess))
            .await
            .unwrap_err();
        assert_eq!(taken.code(), wrong.code());
        assert_eq!(taken.message(), wrong.message());
        assert_eq!(violation(&taken), violation(&wrong));
        assert_eq!(violation(&taken), wrong_code());
    }

    // Asking again is limited alike.
    let again_registered = h.auth().request_phone_code(code_request(registered)).await.unwrap_err();
    let again_fresh = h.auth().request_phone_code(code_request(fresh)).await.unwrap_err();
    for refused in [&again_registered, &again_fresh] {
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(refused.message().ends_with("后再试"), "{}", refused.message());
    }
    h.stop().await;
}

async fn codes_expire_and_wrong_guesses_void_them(db: TestDb) {
    let h = Harness::start(db).await;
    let phone = "13900005555";
    let code = h.registration_code(phone).await;
    let wrong = other_than(&code);
    for _ in 0..5 {
        let refused = h
            .accounts()
            .register_account(registration("lingong", phone, &wrong))
            .await
            .unwrap_err();
        assert_eq!(violation(&refused), wrong_code());
    }
    let refused = h
        .accounts()
        .register_account(registration("lingong", phone, &code))
        .await
        .unwrap_err();
    assert_eq!(
        violation(&refused),
        wrong_code(),
        "void after five wrong guesses, the right code too"
    );

    // A new code (a minute later) replaces it, with five guesses of its own; but it expires.
    age_requests(&h, chrono::Duration::seconds(61)).await;
    let code = h.registration_code(phone).await;
    expire_codes(&h).await;
    let refused = h
        .accounts()
        .register_account(registration("lingong", phone, &code))
        .await
        .unwrap_err();
    assert_eq!(violation(&refused), wrong_code(), "expired");

    age_requests(&h, chrono::Duration::seconds(61)).await;
    let first = h.registration_code(phone).await;
    age_requests(&h, chrono::Duration::seconds(61)).await;
    let latest = h.registration_code(phone).await;
    if first != latest {
        let refused = h
            .accounts()
            .register_account(registration("lingong", phone, &first))
            .await
            .unwrap_err();
        assert_eq!(violation(&refused), wrong_code(), "a replaced code proves nothing");
    }
    h.accounts()
        .register_account(registration("lingong", phone, &latest))
        .await
        .expect("the latest code registers");
    h.stop().await;
}

async fn code_requests_are_limited_per_number_and_address(db: TestDb) {
    let h = Harness::start(db).await;
    let phone = "13900006666";
    h.auth().request_phone_code(code_request(phone)).await.unwrap();
    let refused = h.auth().request_phone_code(code_request(phone)).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    let message = refused.message();
    assert!(
        message.starts_with("验证码发送过于频繁，请 ")
            && (message.ends_with(" 秒后再试") || message == "验证码发送过于频繁，请 1 分钟后再试"),
        "{message}"
    );
    // Five an hour per number, a minute apart.
    for n in 2..=5 {
        age_requests(&h, chrono::Duration::seconds(61)).await;
        h.auth()
            .request_phone_code(code_request(phone))
            .await
            .unwrap_or_else(|e| panic!("code {n}: {e:?}"));
    }
    age_requests(&h, chrono::Duration::seconds(61)).await;
    let refused = h.auth().request_phone_code(code_request(phone)).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(refused.message().ends_with(" 分钟后再试"), "{}", refused.message());
    h.sms.wait_code(phone, 5).await.expect("five codes");
    assert_eq!(h.sms.sent_to(phone).len(), 5, "refused requests send nothing");

    // Ten an hour per client address: five more numbers from here, then no more.
    for n in 0..5 {
        h.auth()
            .request_phone_code(code_request(&format!("1370000000{n}")))
            .await
            .unwrap_or_else(|e| panic!("number {n}: {e:?}"));
    }
    let refused = h
        .auth()
        .request_phone_code(code_request("13700000005"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(refused.message().ends_with(" 分钟后再试"), "{}", refused.message());
    // Naming another client in the gateway's header is ignored without a service token…
    let mut forged = tonic::Request::new(code_request("13700000005"));
    forged
        .metadata_mut()
        .insert("x-sanshi-client-ip", "198.51.100.7".parse().unwrap());
    let refused = h.auth().request_phone_code(forged).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "the header is not trusted");
    // … and trusted with one (the gateway calling for its clients).
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
    let mut relayed = with_token(code_request("13700000005"), &service);
    relayed
        .metadata_mut()
        .insert("x-sanshi-client-ip", "198.51.100.7".parse().unwrap());
    h.auth()
        .request_phone_code(relayed)
        .await
        .expect("another client of the gateway");
    // Another machine is not held back.
    let mut elsewhere = AuthServiceClient::new(h.channel_from([127, 0, 0, 2]).await);
    elsewhere
        .request_phone_code(code_request("13700000006"))
        .await
        .expect("another address");
    h.stop().await;
}

async fn codes_and_numbers_are_stored_as_keyed_hashes_only(db: TestDb) {
    let h = Harness::start(db).await;
    let phone = "13912345678";
    let code = h.registration_code(phone).await;
    for table in ["phone_codes", "phone_code_requests"] {
        let rows = rows(&h, table).await;
        assert!(!rows.is_empty(), "{table} has rows");
        for row in rows {
            for column in row.column_names() {
                if column.ends_with("_at") {
                    // Timestamps (whose fractions of a second may hold any digits).
                    continue;
                }
                let text: Option<String> = row.try_get("", &column).ok().flatten();
                let text = text.unwrap_or_default();
                assert!(
                    !text.contains("12345678") && !text.contains("*5678"),
                    "{table}.{column} holds the number"
                );
                assert!(!text.contains(&code), "{table}.{column} holds the code");
                assert!(!text.contains("127.0.0.1"), "{table}.{column} holds the address");
            }
        }
    }
    h.stop().await;
}

async fn without_an_sms_provider_no_code_is_sent(db: TestDb) {
    let config = common::config(&db);
    let h = Harness::start_with_sms(db, config, identity::testing::SmsOutbox::new(), None).await;
    let refused = h
        .auth()
        .request_phone_code(code_request("13900007777"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable);
    assert_eq!(refused.message(), "短信服务未配置，暂时无法发送验证码");
    let bad = h
        .auth()
        .request_phone_code(pb::RequestPhoneCodeRequest {
            phone: "1390000".into(),
            purpose: pb::PhoneCodePurpose::Unspecified as i32,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let mut fields: Vec<_> = bad
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    fields.sort();
    assert_eq!(fields, ["phone", "purpose"]);
    h.stop().await;
}

kit::db_tests!(
    registration_needs_the_code_texted_to_the_phone,
    registered_numbers_are_not_disclosed,
    codes_expire_and_wrong_guesses_void_them,
    code_requests_are_limited_per_number_and_address,
    codes_and_numbers_are_stored_as_keyed_hashes_only,
    without_an_sms_provider_no_code_is_sent,
);
