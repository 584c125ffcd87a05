//! Personal data at rest: the whole suite as `sanshi dev` runs it, seeded
//! with its demo data, then walked through the flows that take personal data
//! (registration with a phone, an application with an idempotency key,
//! residents' ratings with their phones). Then every table of every service
//! database is dumped, and neither an ID number that passes its MOD 11-2
//! check nor the phone of a seeded or registered account or application is
//! found in the clear: not in the rows, not in remembered responses, not in
//! the event outbox.

mod common;

use common::{Http, id_number};
use kit::db::testing::TestDb;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;

/// Every 18-character run that is a valid national ID number.
fn id_numbers_in(bytes: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let is_digit = |b: u8| b.is_ascii_digit();
    for start in 0..bytes.len().saturating_sub(17) {
        let window = &bytes[start..start + 18];
        let bounded = (start == 0 || !is_digit(bytes[start - 1]))
            && bytes.get(start + 18).is_none_or(|&b| !b.is_ascii_alphanumeric());
        if bounded
            && window[..17].iter().all(|&b| is_digit(b))
            && (is_digit(window[17]) || window[17] == b'X' || window[17] == b'x')
        {
            let text = String::from_utf8_lossy(window);
            if let Ok(id) = kit::pii::IdCardNumber::parse(&text) {
                found.push(id.as_str().to_string());
            }
        }
    }
    found
}

/// Every value of every column of every table, as bytes, named `table.column`.
async fn dump(db: &TestDb) -> Vec<(String, Vec<u8>)> {
    let conn = &db.conn;
    let backend = conn.get_database_backend();
    let columns_sql = match backend {
        DbBackend::Postgres => {
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = 'public'"
        }
        _ => {
            "SELECT m.name, p.name, p.type FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table'"
        }
    };
    let columns = conn
        .query_all_raw(Statement::from_string(backend, columns_sql.to_string()))
        .await
        .unwrap();
    let mut values = Vec::new();
    for column in columns {
        let table: String = column.try_get_by_index(0).unwrap();
        let name: String = column.try_get_by_index(1).unwrap();
        let kind: String = column.try_get_by_index(2).unwrap();
        let select = match backend {
            DbBackend::Postgres if kind == "bytea" => format!("SELECT \"{name}\" FROM \"{table}\""),
            DbBackend::Postgres => format!("SELECT \"{name}\"::text FROM \"{table}\""),
            _ => format!("SELECT CAST(\"{name}\" AS BLOB) FROM \"{table}\""),
        };
        let rows = conn
            .query_all_raw(Statement::from_string(backend, select))
            .await
            .unwrap();
        for row in rows {
            let bytes: Option<Vec<u8>> = if backend == DbBackend::Postgres && kind != "bytea" {
                row.try_get_by_index::<Option<String>>(0)
                    .unwrap()
                    .map(String::into_bytes)
            } else {
                row.try_get_by_index(0).unwrap()
            };
            if let Some(bytes) = bytes {
                values.push((format!("{table}.{name}"), bytes));
            }
        }
    }
    values
}

async fn no_personal_data_in_the_clear(db: TestDb) {
    let common::TestSuite {
        suite,
        layout,
        databases,
        attachments: _attachments,
    } = common::suite_on(&db).await;
    let seeded = sanshi::dev::seed(&suite, &layout).await.unwrap();
    assert!(seeded > 0, "the demo data was seeded");

    // Flows that take personal data: registration, an application (with an
    // idempotency key, retried), residents' ratings by phone.
    let http = Http {
        base: format!("http://{}", suite.gateway.local_addr),
        client: reqwest::Client::new(),
    };
    let reviewer = http.login("reviewer", sanshi::dev::DEMO_PASSWORD).await;
    let (me, application_id) = common::qualify(&http, &suite.sms, &reviewer, "zhanggong", "张工", 7, true).await;
    let (_, again) = http
        .post(
            "/api/v1/applications",
            Some(&me),
            json!({ "application": { "real_name": "张工" }, "request_id": "apply-zhanggong" }),
        )
        .await;
    assert_eq!(
        again["id"],
        application_id.as_str(),
        "a retry answers the first application"
    );
    assert_eq!(
        again["id_number"],
        id_number("11010519800101007"),
        "in full, to its applicant"
    );

    // The phones and ID numbers that must not be found.
    let mut phones: Vec<String> = (0..seeded).map(|n| format!("139{:08}", 23_000_000 + n * 131)).collect();
    phones.extend(["13800000001", "13800000002", "13800000003", "13800001207"].map(String::from));
    let mut found = Vec::new();
    let mut cells = 0;
    let all: Vec<&TestDb> = std::iter::once(&db).chain(databases.iter()).collect();
    for (i, database) in all.iter().enumerate() {
        for (place, bytes) in dump(database).await {
            cells += 1;
            for id in id_numbers_in(&bytes) {
                found.push(format!("database {i}: ID number {id} in {place}"));
            }
            let text = String::from_utf8_lossy(&bytes);
            for phone in phones.iter().filter(|p| text.contains(p.as_str())) {
                found.push(format!("database {i}: phone {phone} in {place}"));
            }
        }
    }
    assert!(cells > 10_000, "every table was read ({cells} values)");
    assert!(found.is_empty(), "personal data in the clear:\n{}", found.join("\n"));
    suite.stop().await.unwrap();
    drop(databases);
}

kit::db_tests!(no_personal_data_in_the_clear);

#[test]
fn id_numbers_are_found_where_they_are() {
    let id = id_number("11010519800101001");
    assert_eq!(
        id_numbers_in(format!("{{\"id\":\"{id}\"}}").as_bytes()),
        vec![id.clone()]
    );
    assert_eq!(id_numbers_in(id.as_bytes()), vec![id.clone()]);
    // A longer run of digits, or a wrong check digit, is no ID number.
    assert!(id_numbers_in(format!("1{id}").as_bytes()).is_empty());
    assert!(id_numbers_in(b"110105198001010012").is_empty());
}
