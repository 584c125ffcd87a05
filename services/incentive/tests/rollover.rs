//! Amendments re-scored by compensating entries, and the year's roll-over:
//! star rules, downgrades, carry-over, resuming, and closing twice = once;
//! on SQLite and PostgreSQL.

use incentive::consumers::{QualificationEvents, RecordEvents, StandardRules};
use incentive::domain::stars::{self, StarRules};
use incentive::rollover;
use incentive::store::{awards, ledger, years};
use kit::db::testing::TestDb;
use kit::events::{Event, EventHandler, EventPayload};
use prost::Message;
use sanshi_proto::incentive::v1 as pb;
use sanshi_proto::qualification::v1 as qualification;
use sanshi_proto::records::v1 as records;
use sea_orm::ConnectionTrait;

fn at(year: i32, month: u32) -> chrono::DateTime<chrono::Utc> {
    chrono::NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(9, 0, 0))
        .map(|t| t.and_utc())
        .unwrap()
}

struct Visit<'a> {
    record: String,
    professional: &'a str,
    year: i32,
    km: f64,
    community: i32,
    version: i32,
}

fn scored(v: &Visit) -> records::ServiceRecordScored {
    records::ServiceRecordScored {
        record_id: v.record.clone(),
        professional_account_id: v.professional.into(),
        community_code: "500103003013".into(),
        service_type: "deliberation".into(),
        distance_km: v.km,
        community_rating: v.community,
        visit_time: Some(kit::grpc::timestamp(at(v.year, 6))),
        version: v.version,
        ..Default::default()
    }
}

fn event<P: EventPayload>(payload: &P, occur: chrono::DateTime<chrono::Utc>) -> Event {
    Event {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: P::TYPE.into(),
        payload: payload.encode_to_vec(),
        occur_time: Some(kit::grpc::timestamp(occur)),
        ..Default::default()
    }
}

async fn apply(db: &TestDb, handler: &dyn EventHandler, e: Event) {
    let txn = kit::db::begin(&db.conn).await.unwrap();
    handler.apply(&txn, &e).await.unwrap();
    txn.commit().await.unwrap();
}

async fn visit(db: &TestDb, v: Visit<'_>) {
    let handler = RecordEvents { rules: StandardRules };
    apply(db, &handler, event(&scored(&v), at(v.year, 7))).await;
}

async fn qualify(db: &TestDb, account: &str, specialties: &[&str], region: &str) {
    let e = qualification::ProfessionalQualified {
        account_id: account.into(),
        real_name: format!("专家{account}"),
        profession: qualification::Profession::Planner as i32,
        specialties: specialties.iter().map(|s| s.to_string()).collect(),
        service_region_codes: vec![region.into()],
        ..Default::default()
    };
    apply(db, &QualificationEvents, event(&e, at(2024, 1))).await;
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.conn
        .query_one_raw(sea_orm::Statement::from_string(
            db.conn.get_database_backend(),
            sql.to_string(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

async fn migrated(db: &TestDb) {
    kit::db::migrate::<incentive::migrations::Migrator>(&db.conn)
        .await
        .unwrap();
}

async fn amendments_are_scored_again(db: TestDb) {
    migrated(&db).await;
    let v = |record: &str, km: f64, community: i32, version: i32| Visit {
        record: record.into(),
        professional: "pa",
        year: 2026,
        km,
        community,
        version,
    };
    // Version 0: 10 × 1.2 × 1.1 = 13.2; amended (version 2) to 60 km and 5 ★: 10 × 2.0 × 1.2 = 24.0.
    visit(&db, v("r1", 12.0, 4, 0)).await;
    visit(&db, v("r1", 60.0, 5, 2)).await;
    // The amendment arrives again, and an older version late: nothing changes.
    visit(&db, v("r1", 60.0, 5, 2)).await;
    visit(&db, v("r1", 30.0, 3, 1)).await;
    let entries = ledger::entries(&db.conn, "pa", Some(2026)).await.unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let (award, correction) = (&entries[0], &entries[1]);
    assert_eq!((award.amount, correction.amount), (132, 240 - 132));
    assert_eq!(correction.kind, ledger::Kind::Compensation);
    assert_eq!(correction.compensates, award.id, "the correction names the award");
    assert!(correction.reason.contains("第 2 版"), "{}", correction.reason);
    assert_eq!(ledger::balance(&db.conn, "pa", Some(2026)).await.unwrap(), 240);
    assert_eq!(ledger::net_of(&db.conn, award).await.unwrap(), 240);
    let current = awards::find(&db.conn, "r1").await.unwrap().unwrap();
    assert_eq!((current.version, current.points), (2, 240));
    // The same versions in another order end at the same balance: the
    // highest version counts, whichever came first.
    visit(&db, v("r2", 60.0, 5, 2)).await;
    visit(&db, v("r2", 12.0, 4, 0)).await;
    assert_eq!(ledger::balance(&db.conn, "pa", Some(2026)).await.unwrap(), 480);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM outbox_events WHERE event_type = 'sanshi.incentive.v1.PointsAwarded'"
        )
        .await,
        3,
        "award, correction, award"
    );
    assert_eq!(years::totals_drift(&db.conn, 2026).await.unwrap(), Vec::<String>::new());
}

/// Every annual result of `year`: (professional, points, services, stars, previous).
async fn results(db: &TestDb, year: i32) -> Vec<(String, i64, i32, i32, i32)> {
    let mut all = Vec::new();
    for p in ["gold", "steady", "lapsed", "quiet", "ghost"] {
        if let Some(r) = years::result(&db.conn, p, year).await.unwrap() {
            all.push((
                p.to_string(),
                r.results.points,
                r.results.services,
                r.stars,
                r.previous_stars,
            ));
        }
    }
    all
}

/// Every announced star change, in order (the events' pages flattened).
async fn star_changes(db: &TestDb) -> Vec<pb::StarRatingChanged> {
    let rows = db
        .conn
        .query_all_raw(sea_orm::Statement::from_string(
            db.conn.get_database_backend(),
            "SELECT payload FROM outbox_events WHERE event_type = 'sanshi.incentive.v1.StarRatingsChanged' \
             ORDER BY event_id"
                .to_string(),
        ))
        .await
        .unwrap();
    rows.iter()
        .flat_map(|r| {
            pb::StarRatingsChanged::decode(r.try_get_by_index::<Vec<u8>>(0).unwrap().as_slice())
                .unwrap()
                .changes
        })
        .collect()
}

async fn closing_a_year_twice_is_closing_it_once(db: TestDb) {
    migrated(&db).await;
    let rules = StarRules::standard();
    for p in ["gold", "steady", "lapsed", "quiet"] {
        qualify(&db, p, &["社区规划"], "500103003").await;
    }
    let visits = |professional: &'static str, year: i32, n: usize, km: f64, community: i32| {
        (0..n).map(move |i| Visit {
            record: format!("{professional}-{year}-{i}"),
            professional,
            year,
            km,
            community,
            version: 0,
        })
    };
    // 2024: gold 26 visits of 24.0 (624 points, 5 ★ satisfaction), quiet 7 of 13.2 at 4 ★ (2 ★).
    for v in visits("gold", 2024, 26, 60.0, 5).chain(visits("quiet", 2024, 7, 12.0, 4)) {
        visit(&db, v).await;
    }
    rollover::close(&db.conn, None, &rules, 2024, "city").await.unwrap();
    assert_eq!(
        results(&db, 2024).await,
        vec![
            ("gold".into(), 26 * 240, 26, 5, 0),
            ("steady".into(), 0, 0, 0, 0),
            ("lapsed".into(), 0, 0, 0, 0),
            ("quiet".into(), 7 * 132, 7, 2, 0),
        ]
    );
    // 2025: gold keeps going (and the 2024 total lifts every visit by 0.6),
    // steady earns 3 ★ (132 points, 10 services, satisfaction 4.0), lapsed earns as much but is
    // suspended during the year, quiet stops (down from 2 ★ to 0), and
    // "ghost" has points but was never in qualification's stream.
    for v in visits("gold", 2025, 26, 60.0, 5)
        .chain(visits("steady", 2025, 10, 12.0, 4))
        .chain(visits("lapsed", 2025, 10, 12.0, 4))
        .chain(visits("ghost", 2025, 2, 12.0, 4))
    {
        visit(&db, v).await;
    }
    let suspended = qualification::QualificationSuspended {
        account_id: "lapsed".into(),
        reason: "违规".into(),
        ..Default::default()
    };
    apply(&db, &QualificationEvents, event(&suspended, at(2025, 8))).await;
    assert_eq!(
        ledger::balance(&db.conn, "gold", Some(2025)).await.unwrap(),
        26 * (240 + 6)
    );
    // Resume: a run that crashed after writing the results (its transaction
    // never committed) leaves the year running and nothing else …
    assert!(years::start(&db.conn, 2025, "city", chrono::Utc::now()).await.unwrap());
    {
        use sea_orm::TransactionTrait;
        let crashed = db.conn.begin().await.unwrap();
        assert_eq!(years::aggregate(&crashed, 2025, &rules).await.unwrap().len(), 5);
        crashed.rollback().await.unwrap();
    }
    assert_eq!(years::closing(&db.conn, 2025).await.unwrap().unwrap().state, "running");
    assert!(results(&db, 2025).await.is_empty());
    let announced_2024 = star_changes(&db).await.len();
    // … and is closed by the next runs, two at once: one writes, the other
    // waits for it and finds the year done; then a third run changes nothing.
    let (a, b) = tokio::join!(
        rollover::close(&db.conn, None, &rules, 2025, "city"),
        rollover::close(&db.conn, None, &rules, 2025, "city")
    );
    a.unwrap();
    b.unwrap();
    let once = (results(&db, 2025).await, star_changes(&db).await.len());
    assert_eq!(once.1 - announced_2024, 3, "each 2025 change announced once");
    rollover::close(&db.conn, None, &rules, 2025, "city").await.unwrap();
    assert_eq!((results(&db, 2025).await, star_changes(&db).await.len()), once);
    assert_eq!(
        once.0,
        vec![
            ("gold".into(), 26 * 246, 26, 5, 5),
            ("steady".into(), 1320, 10, 3, 0),
            ("lapsed".into(), 1320, 10, 0, 0),
            ("quiet".into(), 0, 0, 0, 2),
            ("ghost".into(), 264, 2, 1, 0),
        ]
    );
    let closing = years::closing(&db.conn, 2025).await.unwrap().unwrap();
    assert_eq!(closing.state, "done");
    for year in [2024, 2025] {
        assert_eq!(years::totals_drift(&db.conn, year).await.unwrap(), Vec::<String>::new());
    }
    let summary = years::summary(&db.conn, 2025).await.unwrap();
    assert_eq!((summary.professionals, summary.upgraded, summary.downgraded), (5, 2, 1));
    // The SQL's stars are the domain rule's, reason and all.
    for p in ["gold", "steady", "lapsed", "quiet", "ghost"] {
        let r = years::result(&db.conn, p, 2025).await.unwrap().unwrap();
        assert_eq!(stars::rate(&rules, &r.results).stars, r.stars, "{p}");
    }
    // Events: 2024 gold and quiet up; 2025 steady and ghost up, quiet down.
    let changes = star_changes(&db).await;
    assert_eq!(changes.len(), 5);
    let down = changes
        .iter()
        .find(|c| c.professional_account_id == "quiet" && c.year == 2025)
        .unwrap();
    assert_eq!((down.previous_stars, down.stars), (2, 0));
    assert!(down.reason.starts_with("由 2 星降为 0 星"), "{}", down.reason);
    let steady = changes.iter().find(|c| c.professional_account_id == "steady").unwrap();
    assert!(steady.reason.contains("距 4 星"), "{}", steady.reason);
    // Carry-over: 2026 visits use the closed 2025 total, even when a late 2025
    // entry arrives after the closing.
    assert_eq!(years::carry_over(&db.conn, "steady", 2025).await.unwrap(), 1320);
    for i in 0..3 {
        visit(
            &db,
            Visit {
                record: format!("late-2025-{i}"),
                professional: "steady",
                year: 2025,
                km: 60.0,
                community: 5,
                version: 0,
            },
        )
        .await;
    }
    assert_eq!(ledger::balance(&db.conn, "steady", Some(2025)).await.unwrap(), 2040);
    visit(
        &db,
        Visit {
            record: "new-2026".into(),
            professional: "steady",
            year: 2026,
            km: 12.0,
            community: 4,
            version: 0,
        },
    )
    .await;
    // 13.2 + 累进 0.1: one step of 100 points in the closed 132.0 (the live
    // 204.0 would have given two).
    assert_eq!(ledger::balance(&db.conn, "steady", Some(2026)).await.unwrap(), 133);
}

kit::db_tests!(amendments_are_scored_again, closing_a_year_twice_is_closing_it_once);
