//! Through gRPC with a real identity: announcements drafted, published and
//! withdrawn inside the author's region and reaching only the roles and
//! regions they name; an organisation's webhook and shared inbox (a
//! community's office hears of applications to serve it); and preferences
//! checked field by field; on SQLite and PostgreSQL.

use axum::extract::State;
use kit::db::testing::TestDb;
use kit::events::{Event, EventHandler, EventPayload};
use notification::consumers::Events;
use sanshi_proto::identity::v1 as id;
use sanshi_proto::matching::v1 as matching;
use sanshi_proto::notification::v1 as pb;
use std::sync::{Arc, Mutex};
use tonic::transport::Channel;

type Client = pb::notification_service_client::NotificationServiceClient<Channel>;

fn t<T>(message: T, token: &str) -> tonic::Request<T> {
    kit::grpc::with_token(message, token)
}

async fn login(identity: &Channel, username: &str) -> String {
    id::auth_service_client::AuthServiceClient::new(identity.clone())
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

/// The titles in the caller's inbox, newest first, and their unread count.
async fn inbox(client: &mut Client, token: &str) -> (Vec<String>, i32) {
    let page = client
        .list_notifications(t(pb::ListNotificationsRequest::default(), token))
        .await
        .unwrap()
        .into_inner();
    (
        page.notifications.into_iter().map(|n| n.title).collect(),
        page.unread_count,
    )
}

fn fields(status: &tonic::Status) -> Vec<String> {
    let details = tonic_types::StatusExt::get_error_details(status);
    details
        .bad_request()
        .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
        .unwrap_or_default()
}

async fn announcements_and_organisations(db: TestDb) {
    let idb = TestDb::of_kind(db.kind).await.unwrap();
    let mut identity_config = identity::testing::config(&idb.config.url);
    for (username, region, role) in [
        ("zhuanjia", "500103003", "professional"),
        ("jiangbei", "500105001", "professional"),
        ("minshenglu", "500103003013", "community_worker"),
    ] {
        identity_config
            .bootstrap
            .accounts
            .push(identity::config::BootstrapAccount {
                username: username.into(),
                password: identity::testing::PASSWORD.into(),
                display_name: username.into(),
                region_code: region.into(),
                role: role.into(),
            });
    }
    let identity = identity::start(identity_config, std::future::pending()).await.unwrap();
    let config: notification::Config = kit::config::from_toml(
        notification::config::DEFAULTS,
        &format!(
            "[server]\nhost = \"127.0.0.1\"\nport = 0\n[database]\nurl = \"{}\"\n[telemetry]\nlog_format = \"pretty\"\nlog_level = \"warn\"\n[auth]\nidentity_url = \"http://{}\"\n[webhook]\npoll_ms = 50\nallowed_private_cidrs = [\"127.0.0.0/8\"]\n",
            db.config.url, identity.local_addr
        ),
    )
    .unwrap();
    let server = notification::start(config, std::future::pending()).await.unwrap();
    let connect = |addr: std::net::SocketAddr| async move {
        Channel::from_shared(format!("http://{addr}")).unwrap().connect().await
    };
    let identity_channel = connect(identity.local_addr).await.unwrap();
    let mut client = Client::new(connect(server.local_addr).await.unwrap());
    tokio::spawn(identity.wait());
    tokio::spawn(server.wait());
    let yuzhong = login(&identity_channel, "yuzhong").await;
    let dadukou = login(&identity_channel, "dadukou").await;
    let jiefangbei = login(&identity_channel, "jiefangbei").await;
    let zhuanjia = login(&identity_channel, "zhuanjia").await;
    let jiangbei = login(&identity_channel, "jiangbei").await;
    let minshenglu = login(&identity_channel, "minshenglu").await;

    // ---- announcements
    let draft = pb::CreateAnnouncementRequest {
        region_code: "500103".into(),
        roles: vec!["professional".into()],
        title: "渝中区城市更新专家座谈会".into(),
        body: "请渝中区服务的“三师”专家于 12 月 1 日参加座谈。".into(),
    };
    let denied = client
        .create_announcement(t(draft.clone(), &dadukou))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "another district's admin");
    let bad = client
        .create_announcement(t(
            pb::CreateAnnouncementRequest {
                region_code: "5001x".into(),
                roles: vec!["mayor".into()],
                title: String::new(),
                body: String::new(),
            },
            &yuzhong,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert_eq!(fields(&bad), ["region_code", "roles[0]", "title", "body"]);
    let a = client
        .create_announcement(t(draft, &yuzhong))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.state, pb::AnnouncementState::Draft as i32);
    assert_eq!(
        inbox(&mut client, &zhuanjia).await,
        (vec![], 0),
        "a draft reaches nobody"
    );

    let publish = pb::PublishAnnouncementRequest { id: a.id.clone() };
    let not_theirs = client
        .publish_announcement(t(publish.clone(), &jiefangbei))
        .await
        .unwrap_err();
    assert_eq!(
        not_theirs.code(),
        tonic::Code::NotFound,
        "a street admin below the district"
    );
    let published = client
        .publish_announcement(t(publish.clone(), &yuzhong))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(published.state, pb::AnnouncementState::Published as i32);
    // Published twice is published once.
    client.publish_announcement(t(publish, &yuzhong)).await.unwrap();
    assert_eq!(
        inbox(&mut client, &zhuanjia).await,
        (vec!["渝中区城市更新专家座谈会".to_string()], 1)
    );
    assert_eq!(inbox(&mut client, &zhuanjia).await.0.len(), 1, "taken in once");
    assert_eq!(
        inbox(&mut client, &jiangbei).await.0,
        Vec::<String>::new(),
        "another district"
    );
    assert_eq!(
        inbox(&mut client, &minshenglu).await.0,
        Vec::<String>::new(),
        "another role"
    );

    let listed = |token: String| {
        let mut client = client.clone();
        async move {
            client
                .list_announcements(t(pb::ListAnnouncementsRequest::default(), &token))
                .await
                .map(|r| r.into_inner().announcements.len())
        }
    };
    assert_eq!(listed(yuzhong.clone()).await.unwrap(), 1);
    assert_eq!(listed(dadukou.clone()).await.unwrap(), 0);
    assert_eq!(
        listed(zhuanjia.clone()).await.unwrap_err().code(),
        tonic::Code::PermissionDenied
    );

    let no_reason = client
        .withdraw_announcement(t(
            pb::WithdrawAnnouncementRequest {
                id: a.id.clone(),
                reason: " ".into(),
            },
            &yuzhong,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&no_reason), ["reason"]);
    let withdrawn = client
        .withdraw_announcement(t(
            pb::WithdrawAnnouncementRequest {
                id: a.id.clone(),
                reason: "时间调整".into(),
            },
            &yuzhong,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (withdrawn.state, withdrawn.withdraw_reason.as_str()),
        (pb::AnnouncementState::Withdrawn as i32, "时间调整")
    );
    assert_eq!(inbox(&mut client, &zhuanjia).await, (vec![], 0), "out of the inbox");
    let again = client
        .publish_announcement(t(pb::PublishAnnouncementRequest { id: a.id.clone() }, &yuzhong))
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition);

    // ---- an organisation's webhook and inbox
    let posts: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    async fn receive(State(posts): State<Arc<Mutex<Vec<serde_json::Value>>>>, body: String) -> &'static str {
        posts
            .lock()
            .unwrap()
            .push(serde_json::from_str(&body).unwrap_or_default());
        "ok"
    }
    let app = axum::Router::new()
        .route("/office", axum::routing::post(receive))
        .with_state(posts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hooks_at = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let office = pb::RegisterWebhookRequest {
        url: format!("http://{hooks_at}/office"),
        organisation_region_code: "500103003013".into(),
    };
    let outsider = client.register_webhook(t(office.clone(), &dadukou)).await.unwrap_err();
    assert_eq!(outsider.code(), tonic::Code::PermissionDenied);
    let hook = client
        .register_webhook(t(office, &minshenglu))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hook.organisation_region_code, "500103003013");

    let applied = matching::MatchProposed {
        match_id: "m1".into(),
        community_code: "500103003013".into(),
        professional_account_id: "someone".into(),
        initiated_by: "professional".into(),
        ..Default::default()
    };
    let event = Event {
        id: "application-1".into(),
        r#type: <matching::MatchProposed as EventPayload>::TYPE.into(),
        payload: prost::Message::encode_to_vec(&applied),
        ..Default::default()
    };
    let txn = kit::db::begin(&db.conn).await.unwrap();
    Events { email: false }.apply(&txn, &event).await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        inbox(&mut client, &minshenglu).await,
        (vec!["专业人员申请服务".to_string()], 1),
        "the office's shared inbox"
    );
    assert_eq!(
        inbox(&mut client, &jiefangbei).await.0,
        Vec::<String>::new(),
        "not the street's"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while posts.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(posts.lock().unwrap()[0]["recipient_account_id"], "region:500103003013");

    // ---- preferences
    let defaults = client
        .get_preferences(t(pb::GetPreferencesRequest::default(), &zhuanjia))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (defaults.daily_digest, defaults.digest_hour, defaults.email.as_str()),
        (false, 8, "")
    );
    let bad = client
        .update_preferences(t(
            pb::UpdatePreferencesRequest {
                preferences: Some(pb::Preferences {
                    email: "zhuanjia at example".into(),
                    categories: vec![pb::CategoryChannels {
                        category: "weather".into(),
                        ..Default::default()
                    }],
                    digest_hour: 25,
                    ..Default::default()
                }),
            },
            &zhuanjia,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        fields(&bad),
        [
            "preferences.email",
            "preferences.categories[0].category",
            "preferences.digest_hour"
        ]
    );
    let wanted = pb::Preferences {
        email: "zhuanjia@example.cn".into(),
        categories: vec![pb::CategoryChannels {
            category: "points".into(),
            webhook: true,
            email: false,
        }],
        daily_digest: true,
        digest_hour: 20,
        quiet_hours: Some(pb::QuietHours {
            start_minute: 22 * 60,
            end_minute: 7 * 60,
        }),
    };
    client
        .update_preferences(t(
            pb::UpdatePreferencesRequest {
                preferences: Some(wanted.clone()),
            },
            &zhuanjia,
        ))
        .await
        .unwrap();
    let stored = client
        .get_preferences(t(pb::GetPreferencesRequest::default(), &zhuanjia))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored, wanted);
    drop(idb);
}

kit::db_tests!(announcements_and_organisations);
