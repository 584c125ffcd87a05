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

type Client = pb::incentive_service_client::IncentiveServiceClient<Channel>;

/// Identity (for tokens) and an incentive server on `db`, on random ports.
/// The identity database is returned so that it outlives the servers.
async fn serve(db: &TestDb) -> (Client, Channel, TestDb) {
    let idb = TestDb::of_kind(db.kind).await.unwrap();
    let identity = identity::start(identity::testing::config(&idb.config.url), std::future::pending())
        .await
        .unwrap();
    let config: incentive::Config = kit::config::from_toml(
        incentive::config::DEFAULTS,
        &format!(
            "[server]\nhost = \"127.0.0.1\"\nport = 0\n[database]\nurl = \"{}\"\n[telemetry]\nlog_format = \"pretty\"\nlog_level = \"warn\"\n[auth]\nidentity_url = \"http://{}\"\n\
             [pii]\nencryption_key = \"QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=\"\n\
             hash_key = \"YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8=\"\n",
            db.config.url, identity.local_addr
        ),
    )
    .unwrap();
    let server = incentive::start(config, std::future::pending()).await.unwrap();
    let connect = |addr: std::net::SocketAddr| async move {
        Channel::from_shared(format!("http://{addr}")).unwrap().connect().await
    };
    let identity_channel = connect(identity.local_addr).await.unwrap();
    let client = Client::new(connect(server.local_addr).await.unwrap());
    tokio::spawn(identity.wait());
    tokio::spawn(server.wait());
    (client, identity_channel, idb)
}

async fn balances_entries_and_explanations(db: TestDb) {
    let (mut client, identity_channel, _idb) = serve(&db).await;
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

fn bad_fields<T: std::fmt::Debug>(result: Result<tonic::Response<T>, tonic::Status>) -> Vec<String> {
    use tonic_types::StatusExt;
    let status = result.expect_err("INVALID_ARGUMENT expected");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let mut fields: Vec<String> = status
        .get_details_bad_request()
        .expect("a BadRequest detail")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    fields.sort();
    fields
}

fn code<T: std::fmt::Debug>(result: Result<tonic::Response<T>, tonic::Status>) -> tonic::Code {
    result.expect_err("an error expected").code()
}

async fn apply<P: EventPayload>(db: &TestDb, handler: &dyn EventHandler, payload: &P) {
    let event = Event {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: P::TYPE.into(),
        payload: payload.encode_to_vec(),
        ..Default::default()
    };
    let txn = kit::db::begin(&db.conn).await.unwrap();
    handler.apply(&txn, &event).await.unwrap();
    txn.commit().await.unwrap();
}

/// `n` visits of 13.2 points (12 km, community 4 ★) in 2025 at `community`.
async fn visits(db: &TestDb, professional: &str, community: &str, n: usize) {
    let handler = RecordEvents { rules: StandardRules };
    let june = chrono::NaiveDate::from_ymd_opt(2025, 6, 1)
        .and_then(|d| d.and_hms_opt(9, 0, 0))
        .unwrap()
        .and_utc();
    for i in 0..n {
        let payload = records::ServiceRecordScored {
            record_id: format!("{professional}-{i}"),
            professional_account_id: professional.into(),
            community_code: community.into(),
            service_type: "deliberation".into(),
            distance_km: 12.0,
            community_rating: 4,
            visit_time: Some(kit::grpc::timestamp(june)),
            ..Default::default()
        };
        apply(db, &handler, &payload).await;
    }
}

async fn outbox(db: &TestDb, event_type: &str) -> Vec<Vec<u8>> {
    use sea_orm::ConnectionTrait;
    db.conn
        .query_all_raw(sea_orm::Statement::from_string(
            db.conn.get_database_backend(),
            format!("SELECT payload FROM outbox_events WHERE event_type = '{event_type}'"),
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index::<Vec<u8>>(0).unwrap())
        .collect()
}

async fn admin_operations_stay_in_scope(db: TestDb) {
    let (mut client, identity_channel, _idb) = serve(&db).await;
    let (city, _) = login(&identity_channel, "city").await;
    let (yuzhong, yuzhong_id) = login(&identity_channel, "yuzhong").await;
    let (dadukou, _) = login(&identity_channel, "dadukou").await;
    let (street, _) = login(&identity_channel, "jiefangbei").await;
    use incentive::consumers::QualificationEvents;
    use sanshi_proto::qualification::v1 as q;
    for (account, profession, specialties, region) in [
        (
            "p-yz1",
            q::Profession::Planner,
            vec!["社区规划", "建筑设计"],
            "500103003",
        ),
        ("p-yz2", q::Profession::Planner, vec!["社区规划"], "500103"),
        ("p-ddk", q::Profession::Architect, vec!["结构安全"], "500104"),
    ] {
        let qualified = q::ProfessionalQualified {
            account_id: account.into(),
            real_name: format!("专家{account}"),
            profession: profession as i32,
            specialties: specialties.iter().map(|s| s.to_string()).collect(),
            service_region_codes: vec![region.into()],
            ..Default::default()
        };
        apply(&db, &QualificationEvents, &qualified).await;
    }
    visits(&db, "p-yz1", "500103003013", 12).await;
    visits(&db, "p-yz2", "500103003013", 3).await;
    visits(&db, "p-ddk", "500104001001", 8).await;

    // Adjustments: a reason, the admin's own region, once per request_id.
    let bonus = pb::AdjustPointsRequest {
        account_id: "p-yz1".into(),
        tenths: 50,
        reason: "协助社区完成体检报告".into(),
        region_code: "500103".into(),
        year: 2025,
        request_id: "adj-1".into(),
    };
    let first = client
        .adjust_points(t(bonus.clone(), &yuzhong))
        .await
        .unwrap()
        .into_inner();
    let again = client
        .adjust_points(t(bonus.clone(), &yuzhong))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.id, again.id, "a retried adjustment applies once");
    assert_eq!(first.kind, pb::EntryKind::Adjustment as i32);
    assert_eq!(first.actor_account_id, yuzhong_id, "who adjusted is on the entry");
    let elsewhere = pb::AdjustPointsRequest {
        account_id: "p-ddk".into(),
        region_code: "500104".into(),
        request_id: "adj-2".into(),
        ..bonus.clone()
    };
    assert_eq!(
        code(client.adjust_points(t(elsewhere.clone(), &yuzhong)).await),
        tonic::Code::PermissionDenied
    );
    let not_serving = pb::AdjustPointsRequest {
        region_code: "500103".into(),
        ..elsewhere
    };
    assert_eq!(
        code(client.adjust_points(t(not_serving, &yuzhong)).await),
        tonic::Code::FailedPrecondition
    );
    let bad = pb::AdjustPointsRequest {
        tenths: 0,
        reason: " ".into(),
        region_code: "abc".into(),
        ..bonus.clone()
    };
    assert_eq!(
        bad_fields(client.adjust_points(t(bad, &yuzhong)).await),
        ["reason", "region_code", "tenths"]
    );
    // Amounts whose absolute value does not exist or is out of bounds are
    // refused, never wrapped into a huge entry.
    for tenths in [i64::MIN, i64::MIN + 1, i64::MAX, 10_001] {
        let huge = pb::AdjustPointsRequest {
            tenths,
            request_id: format!("huge-{tenths}"),
            ..bonus.clone()
        };
        assert_eq!(
            bad_fields(client.adjust_points(t(huge, &yuzhong)).await),
            ["tenths"],
            "{tenths}"
        );
    }
    // A reversal is a compensating entry naming the original, once.
    let reverse = pb::ReverseEntryRequest {
        entry_id: first.id.clone(),
        reason: "重复奖励".into(),
        request_id: String::new(),
    };
    assert_eq!(
        code(client.reverse_entry(t(reverse.clone(), &dadukou)).await),
        tonic::Code::PermissionDenied
    );
    let reversed = client
        .reverse_entry(t(reverse.clone(), &yuzhong))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reversed.tenths, reversed.compensates_entry_id.as_str()),
        (-50, first.id.as_str())
    );
    let twice = client.reverse_entry(t(reverse, &yuzhong)).await.unwrap().into_inner();
    assert_eq!(twice.id, reversed.id);
    let explained = client
        .explain_points(t(
            pb::ExplainPointsRequest {
                entry_id: reversed.id.clone(),
            },
            &yuzhong,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(explained.text, "冲正：重复奖励（-5.0）");

    // Leaderboards: points earned in the region, for its admins only.
    let board = |region: &str, profession: q::Profession| pb::GetLeaderboardRequest {
        region_code: region.into(),
        profession: profession as i32,
        year: 2025,
        ..Default::default()
    };
    let yz = client
        .get_leaderboard(t(board("500103", q::Profession::Unspecified), &yuzhong))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(yz.region_name, "渝中区");
    let rows: Vec<(i32, &str, i64, i32)> = yz
        .rows
        .iter()
        .map(|r| (r.rank, r.account_id.as_str(), r.tenths, r.services))
        .collect();
    assert_eq!(rows, [(1, "p-yz1", 12 * 132, 12), (2, "p-yz2", 3 * 132, 3)]);
    assert_eq!(yz.rows[0].real_name, "专家p-yz1");
    let street_board = client
        .get_leaderboard(t(board("500103003", q::Profession::Unspecified), &street))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(street_board.rows.len(), 2);
    let architects = client
        .get_leaderboard(t(board("50", q::Profession::Architect), &city))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        architects
            .rows
            .iter()
            .map(|r| r.account_id.as_str())
            .collect::<Vec<_>>(),
        ["p-ddk"]
    );
    assert_eq!(
        code(
            client
                .get_leaderboard(t(board("500103", q::Profession::Unspecified), &dadukou))
                .await
        ),
        tonic::Code::PermissionDenied
    );

    // The roll-over: the city admin's, for a year that is over.
    let close = |year| pb::CloseYearRequest { year };
    assert_eq!(
        code(client.close_year(t(close(2025), &yuzhong)).await),
        tonic::Code::PermissionDenied
    );
    let this_year = chrono::Datelike::year(&chrono::Utc::now());
    assert_eq!(
        bad_fields(client.close_year(t(close(this_year), &city)).await),
        ["year"]
    );
    client.close_year(t(close(2025), &city)).await.unwrap();
    let mut closing = pb::YearClosing::default();
    for _ in 0..100 {
        closing = client
            .get_year_closing(t(pb::GetYearClosingRequest { year: 2025 }, &city))
            .await
            .unwrap()
            .into_inner();
        if closing.state == pb::ClosingState::Done as i32 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(closing.state, pb::ClosingState::Done as i32);
    assert_eq!((closing.professionals, closing.upgraded, closing.downgraded), (3, 3, 0));
    // Closing it again changes nothing.
    let again = client.close_year(t(close(2025), &city)).await.unwrap().into_inner();
    assert_eq!((again.state, again.professionals), (pb::ClosingState::Done as i32, 3));
    let announced = outbox(&db, "sanshi.incentive.v1.StarRatingsChanged").await;
    assert_eq!(announced.len(), 1, "one page");
    let page = pb::StarRatingsChanged::decode(announced[0].as_slice()).unwrap();
    assert_eq!((page.year, page.changes.len()), (2025, 3));
    for action in ["adjust_points", "reverse_entry", "close_year"] {
        use sea_orm::ConnectionTrait;
        let logged = db
            .conn
            .query_one_raw(sea_orm::Statement::from_string(
                db.conn.get_database_backend(),
                format!("SELECT COUNT(*) FROM audit_log WHERE action = '{action}'"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        assert_eq!(logged, 1, "{action} audit-logged once");
    }

    let rating = client
        .get_star_rating(t(
            pb::GetStarRatingRequest {
                account_id: "p-yz1".into(),
            },
            &yuzhong,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((rating.stars, rating.year, rating.history.len()), (3, 2025, 1));
    assert!(
        rating.history[0].reason.starts_with("由 0 星升为 3 星"),
        "{}",
        rating.history[0].reason
    );
    let theirs = pb::GetStarRatingRequest {
        account_id: "p-yz1".into(),
    };
    assert_eq!(
        code(client.get_star_rating(t(theirs, &dadukou)).await),
        tonic::Code::PermissionDenied
    );

    let distribution = client
        .get_star_distribution(t(
            pb::GetStarDistributionRequest {
                region_code: "50".into(),
                year: 0,
            },
            &city,
        ))
        .await
        .unwrap()
        .into_inner();
    let rows: Vec<(&str, &str, Vec<i32>)> = distribution
        .rows
        .iter()
        .map(|r| (r.region_code.as_str(), r.region_name.as_str(), r.counts.clone()))
        .collect();
    assert_eq!(
        rows,
        [
            ("500103", "渝中区", vec![0, 1, 0, 1, 0, 0]),
            ("500104", "大渡口区", vec![0, 0, 1, 0, 0, 0]),
        ]
    );
    let distribution_denied = pb::GetStarDistributionRequest {
        region_code: "50".into(),
        year: 0,
    };
    assert_eq!(
        code(client.get_star_distribution(t(distribution_denied, &yuzhong)).await),
        tonic::Code::PermissionDenied
    );

    // Policies: which of the nine p-yz1 qualifies for, and why.
    let policies = client
        .list_policies(t(
            pb::ListPoliciesRequest {
                account_id: "p-yz1".into(),
            },
            &yuzhong,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((policies.policies.len(), policies.year), (9, 2025));
    let eligible: Vec<&str> = policies
        .policies
        .iter()
        .filter(|p| p.eligible)
        .filter_map(|p| p.policy.as_ref().map(|p| p.id.as_str()))
        .collect();
    assert_eq!(
        eligible,
        [
            "honor-certificate",
            "star-title",
            "continuing-education",
            "credit-bonus",
            "bid-preference",
            "title-review",
            "training"
        ]
    );
    let expert_pool = policies
        .policies
        .iter()
        .find(|p| p.policy.as_ref().is_some_and(|p| p.id == "expert-pool"))
        .unwrap();
    assert_eq!(expert_pool.reasons, ["✗ 星级 3 星（要求 ≥ 4 星）"]);

    // The city expert team: proposed per specialty, confirmed without the struck.
    let propose = pb::ProposeExpertTeamRequest {
        year: 0,
        per_specialty: 1,
        request_id: "team-2025".into(),
    };
    assert_eq!(
        code(client.propose_expert_team(t(propose.clone(), &yuzhong)).await),
        tonic::Code::PermissionDenied
    );
    let proposal = client
        .propose_expert_team(t(propose.clone(), &city))
        .await
        .unwrap()
        .into_inner();
    let retried = client
        .propose_expert_team(t(propose, &city))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(proposal.id, retried.id);
    let candidates: Vec<(&str, &str, i32)> = proposal
        .candidates
        .iter()
        .map(|c| (c.specialty.as_str(), c.account_id.as_str(), c.stars))
        .collect();
    assert_eq!(
        candidates,
        [
            ("建筑设计", "p-yz1", 3),
            ("社区规划", "p-yz1", 3),
            ("结构安全", "p-ddk", 2)
        ]
    );
    let confirm = pb::ConfirmExpertTeamRequest {
        id: proposal.id.clone(),
        struck_account_ids: vec!["p-ddk".into()],
    };
    let confirmed = client
        .confirm_expert_team(t(confirm.clone(), &city))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(confirmed.state, pb::ProposalState::Confirmed as i32);
    assert!(confirmed.candidates.iter().any(|c| c.account_id == "p-ddk" && c.struck));
    client.confirm_expert_team(t(confirm, &city)).await.unwrap();
    let published = outbox(&db, "sanshi.incentive.v1.ExpertTeamProposed").await;
    assert_eq!(published.len(), 1, "confirmed once");
    let team = pb::ExpertTeamProposed::decode(published[0].as_slice()).unwrap();
    assert_eq!(
        team.members
            .iter()
            .map(|m| (m.specialty.as_str(), m.account_id.as_str()))
            .collect::<Vec<_>>(),
        [("建筑设计", "p-yz1"), ("社区规划", "p-yz1")]
    );
}

kit::db_tests!(balances_entries_and_explanations, admin_operations_stay_in_scope);
