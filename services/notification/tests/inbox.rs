//! The inbox: events become notifications once per (event, recipient), and
//! each person reads and marks only their own; on SQLite and PostgreSQL.

use kit::db::testing::TestDb;
use kit::events::{Event, EventHandler, EventPayload};
use notification::consumers::Events;
use sanshi_proto::identity::v1 as id;
use sanshi_proto::incentive::v1 as incentive;
use sanshi_proto::notification::v1 as pb;
use sanshi_proto::records::v1 as records;
use tonic::transport::Channel;

fn t<T>(message: T, token: &str) -> tonic::Request<T> {
    kit::grpc::with_token(message, token)
}

fn event<P: EventPayload>(id: &str, payload: &P) -> Event {
    Event {
        id: id.into(),
        r#type: P::TYPE.into(),
        payload: payload.encode_to_vec(),
        ..Default::default()
    }
}

async fn apply(db: &TestDb, e: &Event) {
    let txn = kit::db::begin(&db.conn).await.unwrap();
    Events { email: false }.apply(&txn, e).await.unwrap();
    txn.commit().await.unwrap();
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
        .get_account(t(id::GetAccountRequest { id: "me".into() }, &token))
        .await
        .unwrap()
        .into_inner();
    (token, me.id)
}

async fn inboxes_from_events(db: TestDb) {
    let idb = TestDb::of_kind(db.kind).await.unwrap();
    let identity = identity::start(identity::testing::config(&idb.config.url), std::future::pending())
        .await
        .unwrap();
    let config: notification::Config = kit::config::from_toml(
        notification::config::DEFAULTS,
        &format!(
            "[server]\nhost = \"127.0.0.1\"\nport = 0\n[database]\nurl = \"{}\"\n[telemetry]\nlog_format = \"pretty\"\nlog_level = \"warn\"\n[auth]\nidentity_url = \"http://{}\"\n",
            db.config.url, identity.local_addr
        ),
    )
    .unwrap();
    let server = notification::start(config, std::future::pending()).await.unwrap();
    let connect = |addr: std::net::SocketAddr| async move {
        Channel::from_shared(format!("http://{addr}")).unwrap().connect().await
    };
    let identity_channel = connect(identity.local_addr).await.unwrap();
    let mut client =
        pb::notification_service_client::NotificationServiceClient::new(connect(server.local_addr).await.unwrap());
    tokio::spawn(identity.wait());
    tokio::spawn(server.wait());
    let (mine, me) = login(&identity_channel, "yuzhong").await;
    let (theirs, them) = login(&identity_channel, "dadukou").await;

    // Four events; three name me, two them (the closing's page names us
    // both); the first is delivered three times.
    let confirmed = records::ServiceRecordConfirmed {
        record_id: "r1".into(),
        professional_account_id: me.clone(),
        community_code: "500103003013".into(),
        service_type: "deliberation".into(),
    };
    let awarded = |who: &str, tenths| incentive::PointsAwarded {
        professional_account_id: who.into(),
        source: "record:r1".into(),
        tenths,
        ..Default::default()
    };
    for _ in 0..3 {
        apply(&db, &event("e1", &confirmed)).await;
    }
    apply(&db, &event("e2", &awarded(&me, 137))).await;
    apply(&db, &event("e3", &awarded(&them, 50))).await;
    let changed = incentive::StarRatingsChanged {
        year: 2025,
        changes: vec![
            incentive::StarRatingChanged {
                professional_account_id: me.clone(),
                year: 2025,
                stars: 3,
                reason: "由 0 星升为 3 星：年度积分 132.0、服务 10 次".into(),
                ..Default::default()
            },
            incentive::StarRatingChanged {
                professional_account_id: them.clone(),
                year: 2025,
                stars: 1,
                reason: "由 0 星升为 1 星".into(),
                ..Default::default()
            },
        ],
    };
    apply(&db, &event("e4", &changed)).await;

    let list = |unread_only| pb::ListNotificationsRequest {
        unread_only,
        page_size: 2,
        page_token: String::new(),
    };
    let page = client
        .list_notifications(t(list(false), &mine))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.unread_count, 3, "one per event, however often delivered");
    let titles: Vec<&str> = page.notifications.iter().map(|n| n.title.as_str()).collect();
    assert_eq!(titles, ["星级评定结果", "获得积分"], "newest first");
    assert_eq!(page.notifications[1].body, "服务记录已计分，获得积分 13.7。");
    assert!(!page.next_page_token.is_empty());
    let rest = client
        .list_notifications(t(
            pb::ListNotificationsRequest {
                page_token: page.next_page_token.clone(),
                ..list(false)
            },
            &mine,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.notifications.len(), 1);
    assert!(
        rest.notifications[0].body.contains("渝中区解放碑街道民生路社区"),
        "{}",
        rest.notifications[0].body
    );

    // Marking read: my own only; someone else's ids change nothing of mine.
    let first = page.notifications[0].id.clone();
    let other = client
        .mark_read(t(
            pb::MarkReadRequest {
                ids: vec![first.clone()],
                all: false,
            },
            &theirs,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(other.unread_count, 2);
    let after = client
        .mark_read(t(
            pb::MarkReadRequest {
                ids: vec![first],
                all: false,
            },
            &mine,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.unread_count, 2);
    let unread = client
        .list_notifications(t(list(true), &mine))
        .await
        .unwrap()
        .into_inner();
    assert!(unread.notifications.iter().all(|n| n.read_time.is_none()));
    assert_eq!(unread.notifications.len(), 2);
    let all = client
        .mark_read(t(pb::MarkReadRequest { ids: vec![], all: true }, &mine))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.unread_count, 0);
    let count = client
        .get_unread_count(t(pb::GetUnreadCountRequest {}, &theirs))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(count.unread_count, 2);
    let bad = client
        .mark_read(t(
            pb::MarkReadRequest {
                ids: vec![],
                all: false,
            },
            &mine,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    {
        use tonic_types::StatusExt;
        let fields: Vec<String> = bad
            .get_details_bad_request()
            .unwrap()
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["ids"]);
    }
    let anonymous = client
        .get_unread_count(tonic::Request::new(pb::GetUnreadCountRequest {}))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);
    drop(idb);
}

kit::db_tests!(inboxes_from_events);
