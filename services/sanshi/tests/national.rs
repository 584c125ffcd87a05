//! `sanshi seed-national` at a tiny scale on SQLite (50 communities, 20
//! professionals, 40 matches, 100 records, in batches of 16): what each
//! service's own store reads back is what the generator made, personal data
//! opens with the services' key, and a second run finds the data there and
//! adds nothing.

use chrono::Datelike;
use clap::Parser;
use sanshi::national::{Counts, world};
use std::collections::BTreeSet;

const COMMUNITIES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../matching-solver/data/communities-cn.csv.gz"
);

async fn open(prefix: &str, service: &str) -> sea_orm::DatabaseConnection {
    kit::db::connect(&kit::config::DatabaseConfig {
        url: sanshi::national::database_url(prefix, service),
        max_connections: 2,
        ..kit::config::DatabaseConfig::defaults()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generates_a_small_nation_once() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("sqlite://{}/natl_", dir.path().display());
    let cli = sanshi::Cli::parse_from([
        "sanshi",
        "seed-national",
        "--database-url-prefix",
        prefix.as_str(),
        "--communities-file",
        COMMUNITIES,
        "--communities",
        "50",
        "--professionals",
        "20",
        "--matches",
        "40",
        "--records",
        "100",
        "--batch",
        "16",
    ]);
    let sanshi::Command::SeedNational(options) = cli.command else {
        panic!("parsed as another command");
    };
    let made = sanshi::national::generate(&options).await.unwrap();
    let expected = Counts {
        communities: 50,
        professionals: 20,
        matches: 40,
        records: 100,
    };
    assert_eq!(made, Some(expected));

    // The same sample the generator took, and the provinces it spans.
    let text = world::read_text(std::path::Path::new(COMMUNITIES)).unwrap();
    let sample = world::sample(world::parse_communities(&text).unwrap(), 50);
    let provinces: BTreeSet<&str> = sample.iter().map(|c| c.province()).collect();
    let scopes: Vec<String> = provinces.iter().map(|p| p.to_string()).collect();
    let cipher = kit::config::PiiConfig {
        encryption_key: sanshi::dev::DEV_ENCRYPTION_KEY.into(),
        hash_key: sanshi::dev::DEV_HASH_KEY.into(),
    }
    .cipher()
    .unwrap();

    // identity: every community with its ancestors; the accounts.
    let db = open(&prefix, "identity").await;
    let tree = identity::domain::region::RegionTree::new(identity::store::regions::all(&db).await.unwrap());
    for c in &sample {
        let lineage = tree.lineage(&c.code).unwrap_or_default();
        assert_eq!(lineage.len(), 5, "{} and its ancestors", c.code);
    }
    let officials = 2 * provinces.len() as u64;
    assert_eq!(identity::store::accounts::count(&db).await.unwrap(), 20 + officials);
    let first = identity::store::accounts::find_by_username(&db, "natl-p000000")
        .await
        .unwrap()
        .expect("the first professional's account");
    let roles = identity::store::accounts::roles_of(&db, &first.id).await.unwrap();
    assert!(roles.iter().any(|(role, _)| *role == kit::auth::Role::Professional));
    assert!(roles.iter().any(|(role, _)| *role == kit::auth::Role::Resident));
    let phone = cipher.open_string(first.phone_sealed.as_deref().unwrap()).unwrap();
    assert!(kit::pii::PhoneNumber::parse(&phone).is_ok());
    assert_eq!(first.phone_hash, Some(cipher.lookup_hash("phone", &phone)));

    // qualification: approved applications with their decisions.
    let db = open(&prefix, "qualification").await;
    let approved = qualification::store::QueueFilter {
        prefixes: scopes.clone(),
        state: Some(qualification::domain::State::Approved),
        ..Default::default()
    };
    let (apps, total) = qualification::store::list(&db, &cipher, &approved, None, 100)
        .await
        .unwrap();
    assert_eq!(total, 20);
    assert!(kit::pii::IdCardNumber::parse(&apps[0].id_number).is_ok());
    assert_eq!(
        qualification::store::decisions(&db, &apps[0].id).await.unwrap().len(),
        4
    );

    // matching: the communities, the professionals, the matches.
    let db = open(&prefix, "matching").await;
    for c in &sample {
        assert!(
            matching::store::communities::find(&db, &c.code)
                .await
                .unwrap()
                .is_some(),
            "{}",
            c.code
        );
    }
    let everyone = matching::store::professionals::Filter {
        scopes: scopes.clone(),
        active_only: true,
        ..Default::default()
    };
    assert_eq!(matching::store::professionals::count(&db, &everyone).await.unwrap(), 20);
    let professionals = matching::store::professionals::list(&db, &everyone, 0, 100)
        .await
        .unwrap();
    let all_matches = matching::store::matches::Filter {
        community_prefixes: scopes.clone(),
        ..Default::default()
    };
    let matches = matching::store::matches::list(&db, &all_matches, 0, 1000)
        .await
        .unwrap();
    assert_eq!(matches.len(), 40);

    // records: scored records with their history, the matches they belong to.
    let db = open(&prefix, "records").await;
    let scored = records::store::records::Filter {
        community_prefixes: scopes.clone(),
        state: Some(records::domain::workflow::State::Scored),
        ..Default::default()
    };
    let records = records::store::records::list(&db, &scored, 0, 1000).await.unwrap();
    assert_eq!(records.len(), 100);
    assert_eq!(
        records::store::records::history(&db, &records[0].id)
            .await
            .unwrap()
            .len(),
        4
    );
    assert!(
        records::store::matches::find(&db, &records[0].match_id)
            .await
            .unwrap()
            .is_some()
    );
    let position = records::store::matches::position(&db, &records[0].community_code)
        .await
        .unwrap();
    assert!(position.is_some());

    // incentive: an award per record, balances that add up, the first year closed.
    let db = open(&prefix, "incentive").await;
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let awards = incentive::store::awards::find_many(&db, &ids).await.unwrap();
    assert_eq!(awards.len(), 100);
    let awarded: i64 = awards.values().map(|a| a.points).sum();
    assert!(awarded > 0);
    let mut balances = 0;
    for p in &professionals {
        assert!(
            incentive::store::professionals::find(&db, &p.account_id)
                .await
                .unwrap()
                .is_some()
        );
        balances += incentive::store::ledger::balance(&db, &p.account_id, None)
            .await
            .unwrap();
    }
    assert_eq!(balances, awarded);
    let first_year = options.until.year() - 1;
    let closing = incentive::store::years::closing(&db, first_year).await.unwrap();
    assert_eq!(closing.map(|c| c.state).as_deref(), Some("done"));
    assert_eq!(
        incentive::store::years::summary(&db, first_year)
            .await
            .unwrap()
            .professionals,
        20
    );

    // Once only.
    assert_eq!(sanshi::national::generate(&options).await.unwrap(), None);
}
