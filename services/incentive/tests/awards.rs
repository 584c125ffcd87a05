//! Awards from records' `ServiceRecordScored`, applied by the consumer's
//! handler on SQLite and PostgreSQL: exactly once whatever the repetition and
//! order, with the progressive bonus from the previous year.

use incentive::consumers::{RecordEvents, StandardRules};
use incentive::store::ledger;
use kit::db::testing::TestDb;
use kit::events::{Event, EventHandler, EventPayload};
use prost::Message;
use sanshi_proto::records::v1 as records;

fn scored(record: &str, professional: &str, year: i32, km: f64, community: i32) -> records::ServiceRecordScored {
    let visit = chrono::NaiveDate::from_ymd_opt(year, 6, 1)
        .and_then(|d| d.and_hms_opt(9, 0, 0))
        .map(|t| t.and_utc())
        .unwrap();
    records::ServiceRecordScored {
        record_id: record.into(),
        professional_account_id: professional.into(),
        community_code: "500103003013".into(),
        service_type: "deliberation".into(),
        distance_km: km,
        distance_method: "haversine:base-to-community".into(),
        community_rating: community,
        resident_rating_average: 0.0,
        resident_rating_count: 0,
        duration_hours: 2.0,
        residents_reached: 10,
        visit_time: Some(kit::grpc::timestamp(visit)),
        version: 0,
    }
}

/// A delivery of `payload` as the consumer would see it (a fresh event id:
/// redelivery through another path, which the ledger must absorb by itself).
fn event(payload: &records::ServiceRecordScored) -> Event {
    Event {
        id: uuid::Uuid::now_v7().to_string(),
        producer: "records".into(),
        aggregate_type: "record".into(),
        aggregate_id: payload.record_id.clone(),
        r#type: <records::ServiceRecordScored as EventPayload>::TYPE.into(),
        payload: payload.encode_to_vec(),
        ..Default::default()
    }
}

async fn apply(db: &TestDb, payloads: &[records::ServiceRecordScored]) {
    let handler = RecordEvents { rules: StandardRules };
    for p in payloads {
        let txn = kit::db::begin(&db.conn).await.unwrap();
        handler.apply(&txn, &event(p)).await.unwrap();
        txn.commit().await.unwrap();
    }
}

async fn ledger_state(db: &TestDb, professionals: &[&str]) -> Vec<(String, i64, String)> {
    let mut all = Vec::new();
    for p in professionals {
        for e in ledger::entries(&db.conn, p, None).await.unwrap() {
            all.push((e.source, e.amount, e.rule_version));
        }
    }
    all.sort();
    all
}

async fn migrated(db: &TestDb) {
    kit::db::migrate::<incentive::migrations::Migrator>(&db.conn)
        .await
        .unwrap();
}

async fn exactly_once_in_any_order(db: TestDb) {
    migrated(&db).await;
    // The same deliveries applied the other way, to compare with.
    let other = TestDb::of_kind(db.kind).await.unwrap();
    migrated(&other).await;
    let records: Vec<records::ServiceRecordScored> = (0..8)
        .map(|i| {
            scored(
                &format!("r{i}"),
                if i % 2 == 0 { "pa" } else { "pb" },
                2026,
                3.0 + 7.0 * i as f64,
                1 + i % 5,
            )
        })
        .collect();
    // Once each, in order …
    apply(&other, &records).await;
    // … versus 1–5 times each, shuffled (a fixed pseudo-random order).
    let mut deliveries = Vec::new();
    for (i, r) in records.iter().enumerate() {
        for _ in 0..(1 + (i * 7 + 3) % 5) {
            deliveries.push(r.clone());
        }
    }
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in (1..deliveries.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        deliveries.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    assert!(deliveries.len() > records.len());
    apply(&db, &deliveries).await;
    let expected = ledger_state(&other, &["pa", "pb"]).await;
    assert_eq!(expected.len(), 8);
    assert_eq!(ledger_state(&db, &["pa", "pb"]).await, expected);
    let events = "SELECT COUNT(*) FROM outbox_events WHERE event_type = 'sanshi.incentive.v1.PointsAwarded'";
    let count = |db: &TestDb| {
        let sql = events.to_string();
        let conn = db.conn.clone();
        async move {
            use sea_orm::ConnectionTrait;
            let row = conn
                .query_one_raw(sea_orm::Statement::from_string(conn.get_database_backend(), sql))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    assert_eq!(count(&db).await, 8, "one PointsAwarded per record");
}

async fn progressive_bonus_across_two_years(db: TestDb) {
    migrated(&db).await;
    // 2025: twelve 13.2-point visits for pa (158.4 points), nothing for pb.
    let last_year: Vec<_> = (0..12)
        .map(|i| scored(&format!("old{i}"), "pa", 2025, 12.0, 4))
        .collect();
    apply(&db, &last_year).await;
    assert_eq!(ledger::balance(&db.conn, "pa", Some(2025)).await.unwrap(), 12 * 132);
    // 2026: the same visit earns pa 0.1 more (one step of 100 points last year).
    apply(
        &db,
        &[
            scored("new-a", "pa", 2026, 12.0, 4),
            scored("new-b", "pb", 2026, 12.0, 4),
        ],
    )
    .await;
    assert_eq!(ledger::balance(&db.conn, "pa", Some(2026)).await.unwrap(), 133);
    assert_eq!(ledger::balance(&db.conn, "pb", Some(2026)).await.unwrap(), 132);
    let entry = ledger::entries(&db.conn, "pa", Some(2026)).await.unwrap().remove(0);
    assert_eq!(entry.rule_version, "2026-v1");
    assert!(entry.reason.ends_with("+ 累进 0.1 = 13.3"), "{}", entry.reason);
}

/// Batches (as the consumer applies a backlog) end exactly as the same
/// events one by one: the same entries and amounts, progressive bonus
/// included when a batch holds both years of a professional.
async fn batches_equal_one_by_one(db: TestDb) {
    migrated(&db).await;
    // The same deliveries applied the other way, to compare with.
    let other = TestDb::of_kind(db.kind).await.unwrap();
    migrated(&other).await;
    let mut events: Vec<records::ServiceRecordScored> = Vec::new();
    for i in 0..30 {
        let professional = ["pa", "pb", "pc"][i % 3];
        let year = if i < 20 { 2025 } else { 2026 };
        events.push(scored(&format!("b{i}"), professional, year, 60.0, 5));
    }
    // A redelivery inside a batch and one in a later batch.
    events.insert(5, events[2].clone());
    events.push(events[0].clone());
    apply(&other, &events).await;
    let handler = RecordEvents { rules: StandardRules };
    let deliveries: Vec<Event> = events.iter().map(event).collect();
    for chunk in deliveries.chunks(8) {
        let txn = kit::db::begin(&db.conn).await.unwrap();
        let batch = handler
            .apply_batch(&txn, chunk)
            .expect("records' handler applies batches");
        batch.await.unwrap();
        txn.commit().await.unwrap();
    }
    let expected = ledger_state(&other, &["pa", "pb", "pc"]).await;
    assert_eq!(expected.len(), 30);
    assert_eq!(ledger_state(&db, &["pa", "pb", "pc"]).await, expected);
    // 2026 awards carry the 2025 total: 24.0 + 累进 for 160+ points.
    let pa_2026 = ledger::entries(&db.conn, "pa", Some(2026)).await.unwrap();
    assert!(pa_2026.iter().all(|e| e.reason.contains("+ 累进 0.1")), "{pa_2026:?}");
}

/// A configured rule set scores the records scored from its moment on; the
/// ones before keep the set they were scored by.
async fn rule_sets_apply_from_their_moment(db: TestDb) {
    use incentive::domain::points::{RuleBook, RuleSet, ScheduledRuleSet};
    migrated(&db).await;
    let at = |month: u32| {
        chrono::NaiveDate::from_ymd_opt(2026, month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap()
            .and_utc()
    };
    let mut cheaper = RuleSet::standard(2026);
    cheaper.version = "2026-v2".into();
    for t in &mut cheaper.service_types {
        if t.code == "deliberation" {
            t.base = 50;
        }
    }
    let book = RuleBook {
        rule_sets: vec![ScheduledRuleSet {
            effective_from: at(7),
            rules: cheaper,
        }],
    };
    let handler = RecordEvents { rules: book };
    for (record, scored_in) in [("before", 6), ("after", 8)] {
        let mut e = event(&scored(record, "pa", 2026, 12.0, 4));
        e.occur_time = Some(kit::grpc::timestamp(at(scored_in)));
        let txn = kit::db::begin(&db.conn).await.unwrap();
        handler.apply(&txn, &e).await.unwrap();
        txn.commit().await.unwrap();
    }
    // 10 × 1.2 × 1.1 = 13.2 under 2026-v1; 5 × 1.2 × 1.1 = 6.6 under 2026-v2.
    assert_eq!(
        ledger_state(&db, &["pa"]).await,
        [
            ("record:after".to_string(), 66, "2026-v2".to_string()),
            ("record:before".to_string(), 132, "2026-v1".to_string()),
        ]
    );
}

/// `(professional, points, services)` on `region`'s 2026 board.
async fn board(db: &TestDb, region: &str) -> Vec<(String, i64, i32)> {
    ledger::leaderboard(&db.conn, region, None, 2026, 0, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.professional_id, r.points, r.services))
        .collect()
}

/// The per-region totals behind leaderboards follow records into their
/// communities' streets, districts and city, and follow an amendment that
/// moves a record to another community.
async fn boards_follow_records_and_amendments(db: TestDb) {
    migrated(&db).await;
    let at = |record: &str, professional: &str, community: &str| {
        let mut r = scored(record, professional, 2026, 5.0, 4);
        r.community_code = community.into();
        r
    };
    apply(
        &db,
        &[
            at("r1", "pa", "500103003013"),
            at("r2", "pa", "500103003014"),
            at("r3", "pb", "500104001001"),
        ],
    )
    .await;
    let balance = |p: &'static str| {
        let conn = db.conn.clone();
        async move { ledger::balance(&conn, p, Some(2026)).await.unwrap() }
    };
    let (pa, pb) = (balance("pa").await, balance("pb").await);
    assert!(pa > 0 && pb > 0);
    let city = board(&db, "50").await;
    let mut expected = vec![("pa".to_string(), pa, 2), ("pb".to_string(), pb, 1)];
    expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    assert_eq!(city, expected);
    assert_eq!(board(&db, "500103").await, vec![("pa".to_string(), pa, 2)]);
    assert_eq!(board(&db, "500103003013").await.len(), 1);
    assert!(board(&db, "500105").await.is_empty());

    // r2 was in fact in 500104001001.
    let mut moved = at("r2", "pa", "500104001001");
    moved.version = 1;
    apply(&db, &[moved]).await;
    let yuzhong = board(&db, "500103").await;
    assert_eq!(yuzhong.len(), 1);
    assert_eq!(yuzhong[0].2, 1, "one service left in 500103: {yuzhong:?}");
    let services: Vec<(String, i32)> = board(&db, "500104").await.into_iter().map(|r| (r.0, r.2)).collect();
    assert!(
        services.contains(&("pa".to_string(), 1)) && services.contains(&("pb".to_string(), 1)),
        "{services:?}"
    );
    let city: i64 = board(&db, "50").await.iter().filter(|r| r.0 == "pa").map(|r| r.1).sum();
    assert_eq!(city, balance("pa").await, "the city's total is the balance");
}

kit::db_tests!(
    boards_follow_records_and_amendments,
    exactly_once_in_any_order,
    progressive_bonus_across_two_years,
    batches_equal_one_by_one,
    rule_sets_apply_from_their_moment
);
