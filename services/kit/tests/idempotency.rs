//! Remembered responses on SQLite and PostgreSQL: sealed at rest, answered
//! while fresh, ignored and swept once expired, and replaced by a new write
//! under the same key after that.

use kit::db::testing::TestDb;
use kit::idempotency::Idempotency;
use kit::pii::PiiCipher;
use sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use std::time::Duration;

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        kit::idempotency::migrations()
    }
}

fn cipher() -> PiiCipher {
    PiiCipher::from_base64(
        "BAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiM=",
        "MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY=",
    )
    .unwrap()
}

async fn stored(db: &TestDb) -> Vec<Vec<u8>> {
    let rows = db
        .conn
        .query_all_raw(Statement::from_string(
            db.conn.get_database_backend(),
            "SELECT response FROM idempotency_keys".to_string(),
        ))
        .await
        .unwrap();
    rows.iter().map(|r| r.try_get_by_index(0).unwrap()).collect()
}

async fn age_every_key(db: &TestDb, days: i64) {
    let past = chrono::Utc::now() - chrono::Duration::days(days);
    let update = kit::db::statement(
        &db.conn,
        "UPDATE idempotency_keys SET created_at = ?",
        vec![past.into()],
    );
    db.conn.execute_raw(update).await.unwrap();
}

async fn responses_are_sealed_and_expire(db: TestDb) {
    kit::db::migrate::<Migrator>(&db.conn).await.unwrap();
    let keys = Idempotency::new(cipher(), Duration::from_secs(7 * 24 * 3600));
    let response = b"{\"id_number\":\"110105198001010011\",\"phone\":\"13800001234\"}";
    keys.remember(&db.conn, "CreateApplication:a1", "apply-1", response)
        .await
        .unwrap();
    assert_eq!(
        keys.lookup(&db.conn, "CreateApplication:a1", "apply-1")
            .await
            .unwrap()
            .as_deref(),
        Some(&response[..])
    );
    // At rest it is sealed: neither the ID number nor the phone is there.
    let at_rest = stored(&db).await;
    assert_eq!(at_rest.len(), 1);
    let text = String::from_utf8_lossy(&at_rest[0]);
    assert!(
        !text.contains("110105198001010011") && !text.contains("13800001234"),
        "{text}"
    );
    // Another scope, or another service's key, does not read it.
    assert_eq!(
        keys.lookup(&db.conn, "CreateApplication:a2", "apply-1").await.unwrap(),
        None
    );

    // Six days on it still answers; eight days on it does not, a sweep
    // deletes it, and the key can be used again.
    age_every_key(&db, 6).await;
    assert!(
        keys.lookup(&db.conn, "CreateApplication:a1", "apply-1")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(keys.sweep(&db.conn).await.unwrap(), 0);
    age_every_key(&db, 8).await;
    assert_eq!(
        keys.lookup(&db.conn, "CreateApplication:a1", "apply-1").await.unwrap(),
        None
    );
    keys.remember(&db.conn, "CreateApplication:a1", "apply-1", b"second")
        .await
        .unwrap();
    assert_eq!(
        keys.lookup(&db.conn, "CreateApplication:a1", "apply-1")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"second"[..])
    );
    keys.remember(&db.conn, "CreateApplication:a1", "apply-2", b"third")
        .await
        .unwrap();
    age_every_key(&db, 8).await;
    assert_eq!(keys.sweep(&db.conn).await.unwrap(), 2);
    assert!(stored(&db).await.is_empty());

    // The retention is configurable: one hour.
    let short = Idempotency::new(cipher(), Duration::from_secs(3600));
    short.remember(&db.conn, "s", "k", b"x").await.unwrap();
    age_every_key(&db, 1).await;
    assert_eq!(short.lookup(&db.conn, "s", "k").await.unwrap(), None);
    assert_eq!(
        keys.lookup(&db.conn, "s", "k").await.unwrap().as_deref(),
        Some(&b"x"[..])
    );
}

kit::db_tests!(responses_are_sealed_and_expire);
