//! `sanshi seed-national`: fills the services' databases with a national
//! programme for benchmarks: China's 111,430 urban communities, 100,000
//! qualified professionals, 300,000 matches and 2,000,000 scored visits over
//! two years (with `--scale`, a fraction of each).
//!
//! Communities, codes and names are real (`services/matching-solver/data`);
//! positions, people and everything they did are synthetic, drawn from
//! `--seed` alone, so a run can be made again. Rows go in through the
//! services' own store modules, many per statement and a few thousand per
//! transaction, and personal data is sealed and hashed as the services do
//! it, with the keys the services will run with (`--pii-*`). No events are
//! written: every service's read models are filled directly, so the
//! platform started on these databases finds nothing to catch up on (but
//! the first year's closing, whose star ratings matching and notification
//! then follow).
//!
//! Not the demo data of `sanshi dev` (`crate::seed`), which goes through the
//! APIs.

mod identity;
mod incentive;
mod matching;
mod qualification;
mod records;
mod rng;
pub mod world;

use anyhow::Context as _;
use chrono::{NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::path::PathBuf;
use std::time::Instant;
pub use world::Counts;

#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// Database URL of each service: this prefix and the service's name
    /// (`postgres://postgres@127.0.0.1:5432/natl_` gives natl_identity,
    /// natl_qualification, …; `sqlite://data/natl_` gives data/natl_identity.db, …).
    /// PostgreSQL databases are created when missing.
    #[arg(long, env = "SANSHI_NATIONAL_DATABASE_URL_PREFIX")]
    pub database_url_prefix: String,
    /// The communities (`code,name,street_code,district_code,district_lon,district_lat`; gzip or plain).
    #[arg(long, default_value = "services/matching-solver/data/communities-cn.csv.gz")]
    pub communities_file: PathBuf,
    /// The share of the national counts (111,430 communities, 100,000
    /// professionals, 300,000 matches, 2,000,000 records) to make.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Overrides the scaled number of communities.
    #[arg(long)]
    pub communities: Option<usize>,
    /// Overrides the scaled number of professionals.
    #[arg(long)]
    pub professionals: Option<usize>,
    /// Overrides the scaled number of matches.
    #[arg(long)]
    pub matches: Option<usize>,
    /// Overrides the scaled number of service records.
    #[arg(long)]
    pub records: Option<usize>,
    /// Seed of every synthetic value.
    #[arg(long, default_value_t = 20)]
    pub seed: u64,
    /// Visits fall from 1 January of the year before this day until this
    /// day; that first year is closed (annual results and star ratings).
    #[arg(long, default_value = "2026-11-15")]
    pub until: NaiveDate,
    /// Password of every generated account (one hash shared by all).
    #[arg(long, default_value_t = crate::dev::DEMO_PASSWORD.to_string())]
    pub password: String,
    /// The services' `pii.encryption_key` (default: `sanshi dev`'s public key).
    #[arg(long, env = "SANSHI_PII__ENCRYPTION_KEY", default_value_t = crate::dev::DEV_ENCRYPTION_KEY.to_string())]
    pub pii_encryption_key: String,
    /// The services' `pii.hash_key` (default: `sanshi dev`'s public key).
    #[arg(long, env = "SANSHI_PII__HASH_KEY", default_value_t = crate::dev::DEV_HASH_KEY.to_string())]
    pub pii_hash_key: String,
    /// Rows per transaction.
    #[arg(long, default_value_t = 5000)]
    pub batch: usize,
    /// Drops the databases (deletes the SQLite files) first.
    #[arg(long)]
    pub fresh: bool,
}

impl Options {
    /// The counts asked for, before sampling the communities.
    pub fn counts(&self) -> anyhow::Result<Counts> {
        anyhow::ensure!(self.scale > 0.0, "--scale must be positive");
        let scaled = world::NATIONAL.scaled(self.scale);
        let counts = Counts {
            communities: self.communities.unwrap_or(scaled.communities),
            professionals: self.professionals.unwrap_or(scaled.professionals),
            matches: self.matches.unwrap_or(scaled.matches),
            records: self.records.unwrap_or(scaled.records),
        };
        anyhow::ensure!(counts.communities > 0, "--communities must be positive");
        anyhow::ensure!(
            counts.matches == 0 || counts.professionals > 0,
            "matches need professionals"
        );
        anyhow::ensure!(counts.records == 0 || counts.matches > 0, "records need matches");
        anyhow::ensure!(self.batch > 0, "--batch must be positive");
        Ok(counts)
    }
}

/// The services with a database.
const SERVICES: [&str; 6] = [
    "identity",
    "qualification",
    "matching",
    "records",
    "incentive",
    "notification",
];

/// `sanshi seed-national`.
pub async fn run(options: Options) -> anyhow::Result<()> {
    let telemetry = kit::config::TelemetryConfig {
        log_format: kit::config::LogFormat::Pretty,
        log_level: "info".into(),
        otlp_endpoint: None,
    };
    let _telemetry = kit::telemetry::init("sanshi-national", &telemetry)?;
    match generate(&options).await? {
        Some(counts) => println!(
            "generated {} communities, {} professionals, {} matches, {} records",
            counts.communities, counts.professionals, counts.matches, counts.records
        ),
        None => println!("the national data is there already (--fresh starts over)"),
    }
    Ok(())
}

/// Generates everything, or nothing when an earlier run finished (None).
/// A run that failed half-way leaves rows that make the next one fail on
/// unique keys: start over with `--fresh`.
pub async fn generate(options: &Options) -> anyhow::Result<Option<Counts>> {
    let started = Instant::now();
    let asked = options.counts()?;
    let cipher = kit::config::PiiConfig {
        encryption_key: options.pii_encryption_key.clone(),
        hash_key: options.pii_hash_key.clone(),
    };
    cipher.validate()?;
    let cipher = cipher.cipher()?;
    let text = world::read_text(&options.communities_file)?;
    let communities = world::sample(world::parse_communities(&text)?, asked.communities);
    drop(text);
    anyhow::ensure!(
        !communities.is_empty(),
        "no communities in {}",
        options.communities_file.display()
    );

    let dbs = Databases::open(&options.database_url_prefix, options.fresh).await?;
    let marker = world::Province::admin_username(communities[0].province());
    if ::identity::store::accounts::find_by_username(&dbs.identity, &marker)
        .await?
        .is_some()
    {
        tracing::info!(marker, "national data already generated");
        return Ok(None);
    }
    let password_hash = ::identity::passwords::hash(options.password.clone())
        .await
        .map_err(|e| anyhow::anyhow!("hash the password: {e}"))?;

    // Communities first: matching places them, and everything after is placed where matching has them.
    identity::write_regions(&dbs.identity, &communities, options.batch).await?;
    let added = matching::write_communities(&dbs.matching, &communities, Utc::now(), options.batch).await?;
    tracing::info!(added, sampled = communities.len(), "communities in matching");
    let positions = matching::positions(&dbs.matching).await?;
    let communities = communities
        .into_iter()
        .map(|mut c| {
            if let Some(&(lon, lat)) = positions.get(&c.code) {
                (c.lon, c.lat) = (lon, lat);
            }
            c
        })
        .collect();
    let world = world::World::new(options.seed, asked, options.until, communities)?;
    tracing::info!(
        professionals = world.professionals.len(),
        matches = world.matches.len(),
        records = world.counts.records,
        provinces = world.provinces.len(),
        "world drawn"
    );

    identity::write_professionals(&dbs.identity, &world, &cipher, &password_hash, options.batch).await?;
    qualification::write_applications(&dbs.qualification, &world, &cipher, options.batch).await?;
    matching::write_professionals(&dbs.matching, &world, options.batch).await?;
    incentive::write_professionals(&dbs.incentive, &world, options.batch).await?;
    write_matches(&dbs, &world, options.batch).await?;
    write_visits(&dbs, &world, options.batch).await?;
    incentive::close_first_year(&dbs.incentive, &world).await?;
    identity::write_officials(&dbs.identity, &world, &password_hash).await?;

    tracing::info!(
        communities = world.counts.communities,
        professionals = world.counts.professionals,
        matches = world.counts.matches,
        records = world.counts.records,
        seconds = started.elapsed().as_secs(),
        "national data generated"
    );
    Ok(Some(world.counts))
}

/// The matches, in matching and in records' read model.
async fn write_matches(dbs: &Databases, world: &world::World, batch: usize) -> anyhow::Result<()> {
    let total = world.matches.len();
    let mut progress = Progress::new("matches", total);
    for start in (0..total).step_by(batch) {
        let end = (start + batch).min(total);
        tokio::try_join!(
            matching::write_matches(&dbs.matching, world, start, end),
            records::write_matches(&dbs.records, world, start, end),
        )?;
        progress.add(end - start);
    }
    let positions = records::write_positions(&dbs.records, world, batch).await?;
    tracing::info!(communities = positions, "matched communities' positions in records");
    Ok(())
}

/// The visits: records in records, awards in incentive, batch by batch.
async fn write_visits(dbs: &Databases, world: &world::World, batch: usize) -> anyhow::Result<()> {
    let scorer = incentive::Scorer::new(world)?;
    let total = world.counts.records;
    let mut progress = Progress::new("records", total);
    for start in (0..total).step_by(batch) {
        let end = (start + batch).min(total);
        let visits: Vec<world::Visit> = (start..end).map(|r| world.visit(r)).collect();
        tokio::try_join!(
            records::write_visits(&dbs.records, world, &visits),
            incentive::write_awards(&dbs.incentive, world, &scorer, &visits),
        )?;
        progress.add(visits.len());
    }
    Ok(())
}

/// Logs how far a part has come every [`Progress::EVERY`] rows, with its rate.
struct Progress {
    part: &'static str,
    total: usize,
    done: usize,
    logged: usize,
    started: Instant,
}

impl Progress {
    const EVERY: usize = 50_000;

    fn new(part: &'static str, total: usize) -> Progress {
        Progress {
            part,
            total,
            done: 0,
            logged: 0,
            started: Instant::now(),
        }
    }

    fn add(&mut self, rows: usize) {
        self.done += rows;
        if self.done - self.logged >= Self::EVERY || self.done >= self.total {
            self.logged = self.done;
            let seconds = self.started.elapsed().as_secs_f64();
            tracing::info!(
                part = self.part,
                done = self.done,
                total = self.total,
                per_second = (self.done as f64 / seconds.max(1e-3)) as u64,
                "progress"
            );
        }
    }
}

/// A connection to each service's database, migrated.
struct Databases {
    identity: DatabaseConnection,
    qualification: DatabaseConnection,
    matching: DatabaseConnection,
    records: DatabaseConnection,
    incentive: DatabaseConnection,
}

/// A service's database URL under `prefix`.
pub fn database_url(prefix: &str, service: &str) -> String {
    if prefix.starts_with("sqlite:") {
        format!("{prefix}{service}.db")
    } else {
        format!("{prefix}{service}")
    }
}

impl Databases {
    /// Creates (or with `fresh` recreates) every service's database,
    /// notification's too so that the platform can start on them, and
    /// applies each one's migrations as the service does at start.
    async fn open(prefix: &str, fresh: bool) -> anyhow::Result<Databases> {
        for service in SERVICES {
            let url = database_url(prefix, service);
            match kit::db::DbKind::of_url(&url).map_err(anyhow::Error::msg)? {
                kit::db::DbKind::Postgres => create_postgres_database(&url, fresh).await?,
                kit::db::DbKind::Sqlite if fresh => remove_sqlite_files(&url)?,
                kit::db::DbKind::Sqlite => {}
            }
        }
        let dbs = Databases {
            identity: connect(prefix, "identity").await?,
            qualification: connect(prefix, "qualification").await?,
            matching: connect(prefix, "matching").await?,
            records: connect(prefix, "records").await?,
            incentive: connect(prefix, "incentive").await?,
        };
        let notification = connect(prefix, "notification").await?;
        kit::db::migrate::<::identity::migrations::Migrator>(&dbs.identity).await?;
        kit::db::migrate::<::qualification::migrations::Migrator>(&dbs.qualification).await?;
        kit::db::migrate::<::matching::migrations::Migrator>(&dbs.matching).await?;
        kit::db::migrate::<::records::migrations::Migrator>(&dbs.records).await?;
        kit::db::migrate::<::incentive::migrations::Migrator>(&dbs.incentive).await?;
        kit::db::migrate::<::notification::migrations::Migrator>(&notification).await?;
        notification.close().await?;
        tracing::info!(databases = SERVICES.len(), "databases migrated");
        Ok(dbs)
    }
}

/// A pool on a service's database under `prefix`.
async fn connect(prefix: &str, service: &str) -> anyhow::Result<DatabaseConnection> {
    let config = kit::config::DatabaseConfig {
        url: database_url(prefix, service),
        max_connections: 4,
        ..kit::config::DatabaseConfig::defaults()
    };
    kit::db::connect(&config).await
}

/// Creates the PostgreSQL database of `url` unless it exists (dropping it
/// first when `fresh`), from the server's `postgres` database.
async fn create_postgres_database(url: &str, fresh: bool) -> anyhow::Result<()> {
    let (server, name) = url.rsplit_once('/').context("a PostgreSQL URL ends with /<database>")?;
    anyhow::ensure!(
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "database name {name:?}: use lower-case letters, digits and underscores"
    );
    let admin_url = format!("{server}/postgres");
    let admin = sea_orm::Database::connect(
        sea_orm::ConnectOptions::new(admin_url.clone())
            .sqlx_logging(false)
            .to_owned(),
    )
    .await
    .with_context(|| format!("connect to {admin_url}"))?;
    if fresh {
        kit::db::execute(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
        tracing::info!(database = name, "database dropped");
    }
    let exists = kit::db::statement(&admin, "SELECT 1 FROM pg_database WHERE datname = ?", vec![name.into()]);
    if admin.query_one_raw(exists).await?.is_none() {
        kit::db::execute(&admin, &format!("CREATE DATABASE {name}")).await?;
        tracing::info!(database = name, "database created");
    }
    admin.close().await?;
    Ok(())
}

/// Deletes a SQLite database's files, if any.
fn remove_sqlite_files(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap_or_default();
    for suffix in ["", "-wal", "-shm"] {
        match std::fs::remove_file(format!("{path}{suffix}")) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(error).with_context(|| format!("delete {path}{suffix}"));
            }
            _ => {}
        }
    }
    Ok(())
}
