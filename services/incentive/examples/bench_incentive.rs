//! `scripts/bench-incentive`: the incentive service's two heavy paths on
//! PostgreSQL, each against its baseline measured in the same run.
//!
//! 1. Award throughput: `ServiceRecordScored` events applied one by one
//!    through the real consumer path (dedupe check, award, record row,
//!    outbox event, applied mark, cursor; one transaction each) versus
//!    pgbench running a single-row INSERT per transaction into a table of the
//!    ledger's shape, with the same durability (synchronous_commit on, one client).
//! 2. Roll-over: closing a year of `BENCH_PROFESSIONALS` professionals ×
//!    `BENCH_RECORDS` scored records each (annual results, star ratings,
//!    StarRatingsChanged events) versus the raw SQL aggregate of the same
//!    ledger rows (`SUM`/`COUNT` grouped by professional).
//!
//! 3. Leaderboards: a page of the top 20 of the city, a district and a
//!    street from the per-region totals (`ledger::leaderboard`) versus the
//!    same page summed from the year's ledger rows (the query leaderboards
//!    ran before `region_totals`), over BENCH_LEDGER_ROWS (1,000,000) entries
//!    of BENCH_PROFESSIONALS professionals in Chongqing's communities.
//!
//! Environment: BENCH_POSTGRES_URL (admin URL, default the local server),
//! BENCH_EVENTS (default 20000), BENCH_PROFESSIONALS (100000),
//! BENCH_RECORDS (50), BENCH_REPEAT (3; the best run counts).

use incentive::consumers::{RecordEvents, StandardRules};
use incentive::domain::stars::StarRules;
use kit::events::{Consumer, Event, EventPayload};
use prost::Message;
use sanshi_proto::records::v1 as records;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn sql(db: &DatabaseConnection, text: &str) -> anyhow::Result<()> {
    db.execute_unprepared(text).await?;
    Ok(())
}

fn with_database(url: &str, name: &str) -> String {
    match url.rfind('/') {
        Some(i) if url[..i].ends_with(|c: char| c != '/') => format!("{}/{name}", &url[..i]),
        _ => format!("{url}/{name}"),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // BENCH_LOG=info shows the roll-over's steps.
    if let Ok(level) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(level)
            .with_writer(std::io::stderr)
            .init();
    }
    let admin_url =
        std::env::var("BENCH_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let events = env_or("BENCH_EVENTS", 20_000);
    let professionals = env_or("BENCH_PROFESSIONALS", 100_000);
    let per_professional = env_or("BENCH_RECORDS", 50);
    let repeat = env_or("BENCH_REPEAT", 3).max(1);

    let name = "sanshi_bench_incentive";
    let admin = Database::connect(&admin_url).await?;
    sql(&admin, &format!("DROP DATABASE IF EXISTS {name}")).await?;
    sql(&admin, &format!("CREATE DATABASE {name}")).await?;
    let url = with_database(&admin_url, name);
    // The services' own pool settings (statement logging off).
    let db = kit::db::connect(&kit::config::DatabaseConfig {
        url: url.clone(),
        max_connections: 8,
        ..kit::config::DatabaseConfig::defaults()
    })
    .await?;
    kit::db::migrate::<incentive::migrations::Migrator>(&db).await?;

    let parts = std::env::var("BENCH_PARTS").unwrap_or_else(|_| "awards rollover leaderboard".into());
    if parts.contains("awards") {
        awards(&db, &url, events).await?;
    }
    if parts.contains("rollover") {
        rollover(&db, professionals, per_professional, repeat).await?;
    }
    if parts.contains("leaderboard") {
        leaderboards(&db, professionals, env_or("BENCH_LEDGER_ROWS", 1_000_000)).await?;
    }
    drop(db);
    // BENCH_KEEP=1 keeps the database for EXPLAIN and friends.
    if std::env::var("BENCH_KEEP").is_err() {
        sql(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    }
    Ok(())
}

async fn awards(db: &DatabaseConnection, url: &str, events: u64) -> anyhow::Result<()> {
    let db = db.clone();
    // ---- 1. award throughput
    let consumer = Consumer::new(
        "incentive.records",
        "records",
        db.clone(),
        "http://127.0.0.1:9",
        kit::grpc::service_tokens("http://127.0.0.1:9", "bench".into(), String::new())?,
        Arc::new(RecordEvents { rules: StandardRules }),
    )?;
    let visit = kit::grpc::timestamp(
        chrono::NaiveDate::from_ymd_opt(2026, 6, 1)
            .and_then(|d| d.and_hms_opt(9, 0, 0))
            .map(|t| t.and_utc())
            .ok_or_else(|| anyhow::anyhow!("date"))?,
    );
    let batch: Vec<Event> = (0..2 * events)
        .map(|i| {
            let payload = records::ServiceRecordScored {
                record_id: format!("bench-{i}"),
                professional_account_id: format!("p{:06}", i % 2000),
                community_code: "500103003013".into(),
                service_type: "deliberation".into(),
                distance_km: (i % 60) as f64,
                community_rating: (i % 5 + 1) as i32,
                resident_rating_average: 4.2,
                resident_rating_count: (i % 6) as i32,
                visit_time: Some(visit),
                ..Default::default()
            };
            Event {
                id: uuid::Uuid::now_v7().to_string(),
                producer: "records".into(),
                sequence: i as i64 + 1,
                r#type: <records::ServiceRecordScored as EventPayload>::TYPE.into(),
                payload: payload.encode_to_vec(),
                ..Default::default()
            }
        })
        .collect();
    let (one_by_one, backlog) = batch.split_at(events as usize);
    // As a consumer keeping up with a quiet stream: one event per transaction.
    let started = Instant::now();
    for e in one_by_one {
        consumer.apply(e).await?;
    }
    let single_secs = started.elapsed().as_secs_f64();
    // As a consumer working through what the stream has delivered: up to 100 per transaction.
    let started = Instant::now();
    for chunk in backlog.chunks(100) {
        consumer.apply_batch(chunk).await?;
    }
    let batched_secs = started.elapsed().as_secs_f64();
    let awarded = count(&db, "SELECT COUNT(*) FROM ledger_entries").await?;
    anyhow::ensure!(
        awarded == 2 * events as i64,
        "{awarded} entries for {} events",
        2 * events
    );

    sql(
        &db,
        "CREATE TABLE pgbench_ledger (LIKE ledger_entries INCLUDING DEFAULTS INCLUDING INDEXES)",
    )
    .await?;
    let script = std::env::temp_dir().join("sanshi-bench-insert.sql");
    std::fs::write(
        &script,
        "INSERT INTO pgbench_ledger (id, professional_id, source, kind, amount, year, rule_version, breakdown, \
         compensates, reason, actor_id, created_at, region_code) VALUES (gen_random_uuid()::text, 'p000001', \
         'record:' || gen_random_uuid()::text, 'award', 132, 2026, '2026-v1', '{}', '', '', 'system', now(), \
         '500103003013');\n",
    )?;
    let output = std::process::Command::new("pgbench")
        .args(["-n", "-c", "1", "-j", "1", "-t", &events.to_string(), "-f"])
        .arg(&script)
        .arg(url)
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = String::from_utf8_lossy(&output.stdout);
    let pgbench_tps: f64 = report
        .lines()
        .find(|l| l.starts_with("tps"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no tps in pgbench output:\n{report}"))?;
    let single_rate = events as f64 / single_secs;
    let batched_rate = events as f64 / batched_secs;
    println!("== award throughput on PostgreSQL ({events} events each way, synchronous_commit on)");
    println!("   pgbench single-row INSERT, one per transaction: {pgbench_tps:.0} tps");
    println!(
        "   consumer, one event per transaction:   {single_rate:.0} events/s   ratio {:.2}",
        single_rate / pgbench_tps
    );
    println!(
        "   consumer, backlog of 100 per transaction: {batched_rate:.0} events/s   ratio {:.2} (goal ≥ 0.5)",
        batched_rate / pgbench_tps
    );

    Ok(())
}

async fn rollover(
    db: &DatabaseConnection,
    professionals: u64,
    per_professional: u64,
    repeat: u64,
) -> anyhow::Result<()> {
    let db = db.clone();
    // ---- 2. roll-over
    let records = professionals * per_professional;
    let generated = Instant::now();
    sql(
        &db,
        "TRUNCATE ledger_entries, record_awards, year_totals, outbox_events, applied_events",
    )
    .await?;
    sql(
        &db,
        &format!(
            "INSERT INTO professionals (account_id, real_name, profession, specialties, service_regions, status, updated_at) \
             SELECT 'p' || lpad(i::text, 7, '0'), '专家' || i, 'planner', '[\"社区规划\"]', \
             '[\"500103003\"]', 'active', now() FROM generate_series(1, {professionals}) i \
             ON CONFLICT DO NOTHING"
        ),
    )
    .await?;
    sql(
        &db,
        &format!(
            "INSERT INTO ledger_entries (id, professional_id, source, kind, amount, year, rule_version, breakdown, \
             compensates, reason, actor_id, created_at, region_code) \
             SELECT 'e' || g, 'p' || lpad((g / {per_professional} + 1)::text, 7, '0'), 'record:r' || g, 'award', \
             60 + (g * 7919) % 200, 2025, '2025-v1', '{{}}', '', '', 'system', now(), '500103003013' \
             FROM generate_series(0::bigint, {records} - 1) g"
        ),
    )
    .await?;
    sql(
        &db,
        &format!(
            "INSERT INTO record_awards (record_id, professional_id, year, region_code, version, satisfaction_milli, points, first_entry_id) \
             SELECT 'r' || g, 'p' || lpad((g / {per_professional} + 1)::text, 7, '0'), 2025, '500103003013', 0, \
             CASE WHEN g % 4 = 0 THEN NULL ELSE 3000 + (g * 104729) % 2001 END, 60 + (g * 7919) % 200, 'e' || g \
             FROM generate_series(0::bigint, {records} - 1) g"
        ),
    )
    .await?;
    sql(&db, "VACUUM ANALYZE").await?;
    println!(
        "== roll-over of 2025: {professionals} professionals × {per_professional} records ({records} ledger rows, generated in {:.0} s)",
        generated.elapsed().as_secs_f64()
    );

    let mut raw_best = Duration::MAX;
    for _ in 0..repeat {
        let started = Instant::now();
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT professional_id, SUM(amount), COUNT(*) FROM ledger_entries WHERE year = 2025 \
                 GROUP BY professional_id"
                    .to_string(),
            ))
            .await?;
        raw_best = raw_best.min(started.elapsed());
        anyhow::ensure!(rows.len() as u64 == professionals, "{} groups", rows.len());
    }
    let rules = StarRules::standard();
    let mut close_best = Duration::MAX;
    for _ in 0..repeat {
        sql(&db, "TRUNCATE annual_results, year_closings, outbox_events").await?;
        let started = Instant::now();
        incentive::rollover::close(&db, None, &rules, 2025, "bench").await?;
        close_best = close_best.min(started.elapsed());
    }
    let rated = count(&db, "SELECT COUNT(*) FROM annual_results WHERE year = 2025").await?;
    let events = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT payload FROM outbox_events WHERE event_type = 'sanshi.incentive.v1.StarRatingsChanged'".to_string(),
        ))
        .await?;
    let mut announced = 0;
    for e in &events {
        let payload: Vec<u8> = e.try_get_by_index(0)?;
        let page = sanshi_proto::incentive::v1::StarRatingsChanged::decode(payload.as_slice())
            .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
        announced += page.changes.len();
    }
    let events = events.len();
    let distribution = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT stars, COUNT(*) FROM annual_results WHERE year = 2025 GROUP BY stars ORDER BY stars".to_string(),
        ))
        .await?
        .iter()
        .map(|r| {
            Ok(format!(
                "{}★ {}",
                r.try_get_by_index::<i32>(0)?,
                r.try_get_by_index::<i64>(1)?
            ))
        })
        .collect::<Result<Vec<_>, sea_orm::DbErr>>()?;
    println!(
        "   {rated} annual results, {announced} star changes announced in {events} StarRatingsChanged events; {}",
        distribution.join(", ")
    );
    println!(
        "   roll-over {:.3} s   raw SQL aggregate {:.3} s   ratio {:.2} (goal ≤ 1.5; best of {repeat})",
        close_best.as_secs_f64(),
        raw_best.as_secs_f64(),
        close_best.as_secs_f64() / raw_best.as_secs_f64()
    );
    Ok(())
}

async fn count(db: &DatabaseConnection, text: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), text.to_string()))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// The leaderboard page as it was computed before `region_totals`: the
/// year's ledger rows of the region summed per professional (the baseline).
const LEDGER_SUM_PAGE: &str = "SELECT l.professional_id, CAST(SUM(l.amount) AS BIGINT) AS points, \
     COALESCE(MAX(p.real_name), '') AS real_name, \
     CAST(COALESCE(MAX(r.services), 0) AS INTEGER) AS services \
     FROM ledger_entries l \
     LEFT JOIN professionals p ON p.account_id = l.professional_id \
     LEFT JOIN (SELECT professional_id, COUNT(*) AS services FROM record_awards \
                WHERE year = $1 AND region_code LIKE $2 GROUP BY professional_id) r \
            ON r.professional_id = l.professional_id \
     WHERE l.year = $1 AND l.region_code LIKE $2 \
     GROUP BY l.professional_id ORDER BY points DESC, l.professional_id LIMIT 21";

async fn leaderboards(db: &DatabaseConnection, professionals: u64, rows: u64) -> anyhow::Result<()> {
    // ---- 3. leaderboards
    let generated = Instant::now();
    sql(
        db,
        "TRUNCATE ledger_entries, record_awards, year_totals, region_totals, outbox_events, applied_events",
    )
    .await?;
    // Chongqing's communities, each professional serving around one of them.
    let csv = include_str!("../../identity/data/regions-500000.csv");
    let communities: Vec<&str> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .filter(|code| code.len() == 12)
        .collect();
    let codes = communities
        .iter()
        .map(|c| format!("'{c}'"))
        .collect::<Vec<_>>()
        .join(",");
    let n = communities.len();
    sql(
        db,
        &format!(
            "INSERT INTO professionals (account_id, real_name, profession, specialties, service_regions, status, updated_at) \
             SELECT 'p' || lpad(i::text, 7, '0'), '专家' || i, 'planner', '[]', '[]', 'active', now() \
             FROM generate_series(1, {professionals}) i ON CONFLICT DO NOTHING"
        ),
    )
    .await?;
    // Entry g: professional g mod P, in a community next to the
    // professional's own (the array index moves by at most 3).
    let entries = format!(
        "SELECT g, 'p' || lpad((g % {professionals} + 1)::text, 7, '0') AS professional_id, \
         (ARRAY[{codes}])[1 + ((g % {professionals}) * 7 + (g / {professionals}) % 4) % {n}] AS region_code \
         FROM generate_series(0::bigint, {rows} - 1) g"
    );
    sql(
        db,
        &format!(
            "INSERT INTO ledger_entries (id, professional_id, source, kind, amount, year, rule_version, breakdown, \
             compensates, reason, actor_id, created_at, region_code) \
             SELECT 'e' || g, professional_id, 'record:r' || g, 'award', 60 + (g * 7919) % 200, 2026, '2026-v1', \
             '{{}}', '', '', 'system', now(), region_code FROM ({entries}) e"
        ),
    )
    .await?;
    sql(
        db,
        &format!(
            "INSERT INTO record_awards (record_id, professional_id, year, region_code, version, satisfaction_milli, points, first_entry_id) \
             SELECT 'r' || g, professional_id, 2026, region_code, 0, NULL, 60 + (g * 7919) % 200, 'e' || g FROM ({entries}) e"
        ),
    )
    .await?;
    sql(db, "VACUUM ANALYZE").await?;
    let totals = count(db, "SELECT COUNT(*) FROM region_totals").await?;
    println!(
        "== leaderboards of 2026: {rows} ledger rows of {professionals} professionals in {n} communities \
         ({totals} per-region totals, generated in {:.0} s)",
        generated.elapsed().as_secs_f64()
    );
    for (name, region) in [("city", "50"), ("district", "500103"), ("street", "500103003")] {
        let mut baseline = Vec::new();
        let mut totals = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let summed = db
                .query_all_raw(Statement::from_sql_and_values(
                    db.get_database_backend(),
                    LEDGER_SUM_PAGE,
                    [2026.into(), format!("{region}%").into()],
                ))
                .await?;
            baseline.push(started.elapsed());
            let started = Instant::now();
            let page = incentive::store::ledger::leaderboard(db, region, None, 2026, 0, 0, 21).await?;
            totals.push(started.elapsed());
            let summed: Vec<(String, i64)> = summed
                .iter()
                .map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?)))
                .collect::<Result<_, sea_orm::DbErr>>()?;
            let read: Vec<(String, i64)> = page.iter().map(|r| (r.professional_id.clone(), r.points)).collect();
            anyhow::ensure!(summed == read, "{name}: the totals' page differs from the ledger's sum");
        }
        baseline.sort();
        totals.sort();
        println!(
            "{name:<8} ({region}): ledger sum (baseline) median {:.1} ms, region_totals median {:.2} ms, ratio {:.4}",
            baseline[2].as_secs_f64() * 1e3,
            totals[2].as_secs_f64() * 1e3,
            totals[2].as_secs_f64() / baseline[2].as_secs_f64()
        );
    }
    Ok(())
}
