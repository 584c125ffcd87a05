//! Matching follows incentive: star ratings reach the professionals' read
//! model (and so recommendations), a confirmed expert team becomes city
//! expert teams; on SQLite and PostgreSQL.

use kit::db::testing::TestDb;
use kit::events::{Event, EventHandler, EventPayload};
use matching::consumers::{IncentiveEvents, QualificationEvents};
use matching::domain::team::TeamKind;
use matching::store;
use sanshi_proto::incentive::v1 as incentive;
use sanshi_proto::qualification::v1 as qualification;

async fn apply<P: EventPayload>(db: &TestDb, handler: &dyn EventHandler, payload: &P) {
    let event = Event {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: P::TYPE.into(),
        payload: prost::Message::encode_to_vec(payload),
        ..Default::default()
    };
    let txn = kit::db::begin(&db.conn).await.unwrap();
    handler.apply(&txn, &event).await.unwrap();
    txn.commit().await.unwrap();
}

async fn stars_and_expert_teams(db: TestDb) {
    kit::db::migrate::<matching::migrations::Migrator>(&db.conn)
        .await
        .unwrap();
    let qualified = qualification::ProfessionalQualified {
        account_id: "p1".into(),
        real_name: "张规划".into(),
        profession: qualification::Profession::Planner as i32,
        specialties: vec!["社区规划".into()],
        service_region_codes: vec!["500103".into()],
        ..Default::default()
    };
    apply(&db, &QualificationEvents { default_capacity: 3 }, &qualified).await;
    let change = |who: &str, stars| incentive::StarRatingChanged {
        professional_account_id: who.into(),
        year: 2025,
        previous_stars: 0,
        stars,
        reason: format!("由 0 星升为 {stars} 星"),
    };
    // One page of a year's closing; "p9" is unknown to matching.
    let changed = incentive::StarRatingsChanged {
        year: 2025,
        changes: vec![change("p1", 4), change("p9", 2)],
    };
    apply(&db, &IncentiveEvents, &changed).await;
    let p = store::professionals::find(&db.conn, "p1").await.unwrap().unwrap();
    assert_eq!(p.star_rating, 4.0);
    // Re-qualification (a renewal's new data) keeps the rating.
    apply(&db, &QualificationEvents { default_capacity: 3 }, &qualified).await;
    let p = store::professionals::find(&db.conn, "p1").await.unwrap().unwrap();
    assert_eq!(p.star_rating, 4.0);

    let team = incentive::ExpertTeamProposed {
        proposal_id: "prop-1".into(),
        year: 2025,
        members: vec![
            incentive::ExpertTeamMember {
                specialty: "社区规划".into(),
                account_id: "p1".into(),
                real_name: "张规划".into(),
                stars: 4,
            },
            incentive::ExpertTeamMember {
                specialty: "结构安全".into(),
                account_id: "p2".into(),
                real_name: "李结构".into(),
                stars: 3,
            },
        ],
    };
    apply(&db, &IncentiveEvents, &team).await;
    let teams = store::teams::list(&db.conn, &[String::new()], "50", Some(TeamKind::CityExpert), 0, 10)
        .await
        .unwrap();
    let formed: Vec<(String, Vec<String>)> = teams
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.members.iter().map(|m| m.display_name.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(
        formed,
        [
            (
                "重庆市城市更新专家团（2025 年度·社区规划）".to_string(),
                vec!["张规划".to_string()]
            ),
            (
                "重庆市城市更新专家团（2025 年度·结构安全）".to_string(),
                vec!["李结构".to_string()]
            ),
        ]
    );
}

kit::db_tests!(stars_and_expert_teams);
