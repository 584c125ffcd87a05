//! A model test of the points ledger on SQLite and PostgreSQL: random
//! sequences of awards (sources repeating), compensations and attempted
//! edits, checked after every step against a plain in-memory model — the
//! balance is the sum of the entries (and so is the running year total the
//! database keeps), a source is counted once, and no entry ever changes or
//! disappears — and each region's leaderboard, read from the running
//! per-region totals, is the entries' sum over the region's communities.

use incentive::store::ledger::{self, Entry, Kind};
use kit::db::testing::TestDb;
use proptest::prelude::*;
use sea_orm::ConnectionTrait;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Op {
    Award {
        professional: usize,
        source: usize,
        amount: i64,
        community: usize,
    },
    Compensate {
        entry: usize,
    },
    TryUpdate {
        entry: usize,
    },
    TryDelete {
        entry: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..8usize, 1..500i64, 0..COMMUNITIES.len()).prop_map(|(professional, source, amount, community)| Op::Award { professional, source, amount, community }),
        1 => any::<usize>().prop_map(|entry| Op::Compensate { entry }),
        1 => any::<usize>().prop_map(|entry| Op::TryUpdate { entry }),
        1 => any::<usize>().prop_map(|entry| Op::TryDelete { entry }),
    ]
}

/// Communities in two streets of one district and in another district.
const COMMUNITIES: [&str; 4] = ["500103003013", "500103003014", "500103002001", "500104001001"];

/// Regions whose leaderboards are checked: every level above the communities.
const BOARDS: [&str; 7] = [
    "50",
    "5001",
    "500103",
    "500103003",
    "500103003013",
    "500103002001",
    "500104",
];

fn entry(professional: &str, source: String, kind: Kind, amount: i64, compensates: &str, region: &str) -> Entry {
    Entry {
        id: uuid::Uuid::now_v7().to_string(),
        professional_id: professional.to_string(),
        source,
        kind,
        amount,
        year: 2026,
        rule_version: "2026-v1".into(),
        breakdown: "{}".into(),
        compensates: compensates.to_string(),
        reason: String::new(),
        actor_id: "test".into(),
        created_at: chrono::Utc::now(),
        region_code: region.into(),
    }
}

async fn run(db: &TestDb, case: usize, ops: Vec<Op>) {
    let conn = &db.conn;
    let professionals: Vec<String> = (0..3).map(|p| format!("c{case}-p{p}")).collect();
    // The model: entries in order of appending, and the sources taken.
    let mut model: Vec<Entry> = Vec::new();
    let mut sources: HashMap<String, usize> = HashMap::new();
    for op in ops {
        match op {
            Op::Award {
                professional,
                source,
                amount,
                community,
            } => {
                let source = format!("c{case}:record:{source}");
                let e = entry(
                    &professionals[professional],
                    source.clone(),
                    Kind::Award,
                    amount,
                    "",
                    COMMUNITIES[community],
                );
                let appended = ledger::append(conn, &e).await.unwrap();
                assert_eq!(appended, !sources.contains_key(&source), "{source}");
                if appended {
                    sources.insert(source, model.len());
                    model.push(e);
                }
            }
            Op::Compensate { entry: i } if !model.is_empty() => {
                let original = model[i % model.len()].clone();
                let source = format!("c{case}:compensates:{}", original.id);
                let e = entry(
                    &original.professional_id,
                    source.clone(),
                    Kind::Compensation,
                    -original.amount,
                    &original.id,
                    &original.region_code,
                );
                let appended = ledger::append(conn, &e).await.unwrap();
                assert_eq!(appended, !sources.contains_key(&source));
                if appended {
                    sources.insert(source, model.len());
                    model.push(e);
                }
            }
            Op::TryUpdate { entry: i } if !model.is_empty() => {
                let sql = format!(
                    "UPDATE ledger_entries SET amount = amount + 1 WHERE id = '{}'",
                    model[i % model.len()].id
                );
                let stmt = sea_orm::Statement::from_string(conn.get_database_backend(), sql);
                assert!(conn.execute_raw(stmt).await.is_err(), "an entry was updated");
            }
            Op::TryDelete { entry: i } if !model.is_empty() => {
                let sql = format!("DELETE FROM ledger_entries WHERE id = '{}'", model[i % model.len()].id);
                let stmt = sea_orm::Statement::from_string(conn.get_database_backend(), sql);
                assert!(conn.execute_raw(stmt).await.is_err(), "an entry was deleted");
            }
            _ => {}
        }
        for p in &professionals {
            let expected: Vec<&Entry> = model.iter().filter(|e| &e.professional_id == p).collect();
            let stored = ledger::entries(conn, p, Some(2026)).await.unwrap();
            let ids = |list: &[&Entry]| list.iter().map(|e| (e.id.clone(), e.amount)).collect::<Vec<_>>();
            let mut want = ids(&expected);
            let mut got = ids(&stored.iter().collect::<Vec<_>>());
            want.sort();
            got.sort();
            assert_eq!(got, want, "entries of {p}");
            let sum: i64 = expected.iter().map(|e| e.amount).sum();
            assert_eq!(
                ledger::balance(conn, p, Some(2026)).await.unwrap(),
                sum,
                "balance of {p}"
            );
        }
        for region in BOARDS {
            let mut want: Vec<(String, i64)> = professionals
                .iter()
                .filter_map(|p| {
                    let mine: Vec<&Entry> = model
                        .iter()
                        .filter(|e| &e.professional_id == p && e.region_code.starts_with(region))
                        .collect();
                    (!mine.is_empty()).then(|| (p.clone(), mine.iter().map(|e| e.amount).sum()))
                })
                .collect();
            want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            // Earlier cases' professionals share the database: keep this case's.
            let got: Vec<(String, i64)> = ledger::leaderboard(conn, region, None, 2026, 0, 0, 100_000)
                .await
                .unwrap()
                .into_iter()
                .filter(|r| professionals.contains(&r.professional_id))
                .map(|r| (r.professional_id, r.points))
                .collect();
            assert_eq!(got, want, "leaderboard of {region}");
        }
        let drift = incentive::store::years::totals_drift(conn, 2026).await.unwrap();
        assert!(
            drift.is_empty(),
            "running totals of {drift:?} differ from their entries"
        );
    }
}

fn model_test(kind: &str, cases: u32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(async {
        let db = match kind {
            "sqlite" => Some(TestDb::sqlite().await),
            _ => TestDb::postgres().await,
        };
        if let Some(db) = &db {
            kit::db::migrate::<incentive::migrations::Migrator>(&db.conn)
                .await
                .unwrap();
        }
        db
    });
    let Some(db) = db else { return };
    let case = std::sync::atomic::AtomicUsize::new(0);
    proptest!(ProptestConfig::with_cases(cases), |(ops in prop::collection::vec(op(), 1..40))| {
        let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        rt.block_on(run(&db, n, ops));
    });
    drop(db);
}

#[test]
fn ledger_model_sqlite() {
    model_test("sqlite", 64);
}

#[test]
fn ledger_model_postgres() {
    model_test("postgres", 32);
}
