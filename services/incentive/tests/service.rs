//! The incentive server end to end (identity for tokens, awards applied by
//! the records handler), on SQLite and PostgreSQL.

use incentive::consumers::{RecordEvents, StandardRules};
use kit::db::testing::TestDb;
use kit::events::{Event, EventHandler, EventPayload};
use prost::Message;
use sanshi_proto::identity::v1 as id;
use sanshi_proto::incentive::v1 as pb;
use sanshi_proto::records::v1 as records;
use tonic::transport::Channel;

fn t<T>(message: T, token: &str) -> tonic::Request<T> {
    kit::grpc::with_token(message, token)
}

async fn login(identity: &Channel, username: &str) -> (String, String) {
    let token = id::auth_service_client::AuthServiceClient::new(identity.clone())
        .login(id::LoginRequest {
            username: username.into(),
            password: identity::testing::PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap()
        .access_token;
    let me = id::account_service_client::AccountServiceClient::new(identity.clone())
        .get_account(kit::grpc::with_token(id::GetAccountRequest { id: "me".into() }, &token))
        .await
        .unwrap()
        .into_inner();
    (token, me.id)
}

async fn balances_entries_and_explanations(db: TestDb) {
    let idb = TestDb::of_kind(db.kind).await.unwrap();
    let identity = identity::start(identity::testing::config(&idb.config.url), std::future::pending())
        .await
        .unwrap();
    let config: incentive::Config = kit::config::from_toml(
        incentive::config::DEFAULTS,
        &format!(
            "[server]\nhost = \"127.0.0.1\"\nport = 0\n[database]\nurl = \"{}\"\n[telemetry]\nlog_format = \"pretty\"\nlog_level = \"warn\"\n[auth]\nidentity_url = \"http://{}\"\n",
            db.config.url, identity.local_addr
        ),
    )
    .unwrap();
    let server = incentive::start(config, std::future::pending()).await.unwrap();
    let connect = |addr: std::net::SocketAddr| async move {
        Channel::from_shared(format!("http://{addr}")).unwrap().connect().await
    };
    let identity_channel = connect(identity.local_addr).await.unwrap();
    let mut client =
        pb::incentive_service_client::IncentiveServiceClient::new(connect(server.local_addr).await.unwrap());
    tokio::spawn(identity.wait());
    tokio::spawn(server.wait());

    let (pro, pro_id) = login(&identity_channel, "yuzhong").await;
    let (other, _) = login(&identity_channel, "dadukou").await;
    let (auditor, _) = login(&identity_channel, "auditor").await;
    // Two scored records of this year, through the consumer's handler.
    let handler = RecordEvents { rules: StandardRules };
    for (record, km) in [("r1", 12.0), ("r2", 2.0)] {
        let payload = records::ServiceRecordScored {
            record_id: record.into(),
            professional_account_id: pro_id.clone(),
            community_code: "500103003013".into(),
            service_type: "deliberation".into(),
            distance_km: km,
            community_rating: 4,
            visit_time: Some(kit::grpc::timestamp(chrono::Utc::now())),
            ..Default::default()
        };
        let event = Event {
            id: uuid::Uuid::now_v7().to_string(),
            r#type: <records::ServiceRecordScored as EventPayload>::TYPE.into(),
            payload: payload.encode_to_vec(),
            ..Default::default()
        };
        let txn = kit::db::begin(&db.conn).await.unwrap();
        handler.apply(&txn, &event).await.unwrap();
        txn.commit().await.unwrap();
    }
    let balance = client
        .get_balance(t(
            pb::GetBalanceRequest {
                account_id: "me".into(),
                year: 0,
            },
            &pro,
        ))
        .await
        .unwrap()
        .into_inner();
    // 10 × 1.2 × 1.1 = 13.2 and 10 × 1.0 × 1.1 = 11.0.
    assert_eq!((balance.tenths, balance.entries), (132 + 110, 2));
    let entries = client
        .list_entries(t(
            pb::ListEntriesRequest {
                account_id: pro_id.clone(),
                page_size: 1,
                ..Default::default()
            },
            &pro,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(entries.entries.len(), 1);
    assert!(!entries.next_page_token.is_empty());
    let explained = client
        .explain_points(t(
            pb::ExplainPointsRequest {
                entry_id: entries.entries[0].id.clone(),
            },
            &pro,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        explained.text.starts_with("议事协商 基础分 10 × 距离系数"),
        "{}",
        explained.text
    );
    assert!(explained.text.ends_with(&format!(
        "= {}",
        incentive::domain::format_points(explained.entry.unwrap().tenths)
    )));
    // Someone else's points: the city-wide auditor yes, another district's admin no.
    let theirs = pb::GetBalanceRequest {
        account_id: pro_id.clone(),
        year: 0,
    };
    assert_eq!(
        client
            .get_balance(t(theirs.clone(), &auditor))
            .await
            .unwrap()
            .into_inner()
            .tenths,
        242
    );
    let denied = client.get_balance(t(theirs, &other)).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let bad_year = client
        .get_balance(t(
            pb::GetBalanceRequest {
                account_id: String::new(),
                year: 3000,
            },
            &pro,
        ))
        .await;
    assert_eq!(bad_year.unwrap_err().code(), tonic::Code::InvalidArgument);
}

kit::db_tests!(balances_entries_and_explanations);
