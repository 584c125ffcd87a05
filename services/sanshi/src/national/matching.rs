//! Matching's part: the communities (matching seeds Chongqing's itself and
//! is the source of every community's position), its read model of the
//! qualified professionals, and the matches.

use super::Progress;
use super::world::{Community, World, offer_expiry, region_name};
use chrono::{DateTime, Utc};
use matching::domain::division::SeedCommunity;
use matching::domain::lifecycle::{MatchState, Side};
use matching::store::{communities, matches, professionals};
use sea_orm::DatabaseConnection;
use std::collections::HashMap;

/// Matching's default capacity (`rules.default_capacity`).
const DEFAULT_CAPACITY: usize = 3;

fn seed_community(c: &Community) -> SeedCommunity {
    SeedCommunity {
        code: c.code.clone(),
        name: c.name.clone(),
        street_code: c.street().to_string(),
        street_name: region_name(c.street()),
        district_code: c.district().to_string(),
        district_name: region_name(c.district()),
        lon: c.lon,
        lat: c.lat,
    }
}

/// Adds the communities matching does not have yet; returns how many.
pub async fn write_communities(
    db: &DatabaseConnection,
    all: &[Community],
    now: DateTime<Utc>,
    batch: usize,
) -> anyhow::Result<u64> {
    let mut progress = Progress::new("matching communities", all.len());
    let mut added = 0;
    for chunk in all.chunks(batch) {
        let rows: Vec<SeedCommunity> = chunk.iter().map(seed_community).collect();
        let txn = kit::db::begin(db).await?;
        added += communities::insert_many(&txn, &rows, now).await?;
        txn.commit().await?;
        progress.add(chunk.len());
    }
    Ok(added)
}

/// Every community's position as matching has it.
pub async fn positions(db: &DatabaseConnection) -> anyhow::Result<HashMap<String, (f64, f64)>> {
    let everything = communities::Filter {
        prefixes: vec![String::new()],
        ..Default::default()
    };
    Ok(communities::all(db, &everything)
        .await?
        .into_iter()
        .map(|c| (c.code, (c.lon, c.lat)))
        .collect())
}

fn professional(world: &World, p: usize) -> professionals::Professional {
    let pro = &world.professionals[p];
    professionals::Professional {
        account_id: pro.account_id.clone(),
        application_id: pro.application_id.clone(),
        real_name: pro.real_name.clone(),
        profession: pro.profession.as_str().to_string(),
        specialties: pro.specialties.clone(),
        service_regions: pro.service_regions.clone(),
        location: Some((pro.lon, pro.lat)),
        employer_name: pro.employer_name.clone(),
        status: professionals::Status::Active,
        status_reason: String::new(),
        qualified_until: super::qualification::qualified_until(pro).to_string(),
        // Room for every match they have.
        capacity: world.matches_of(p).max(DEFAULT_CAPACITY) as i32,
        available: true,
        star_rating: 0.0,
        federation_consent: pro.federation_directory,
        updated_at: pro.approved_at,
    }
}

pub async fn write_professionals(db: &DatabaseConnection, world: &World, batch: usize) -> anyhow::Result<()> {
    let total = world.professionals.len();
    let mut progress = Progress::new("matching professionals", total);
    for start in (0..total).step_by(batch) {
        let end = (start + batch).min(total);
        let rows: Vec<professionals::Professional> = (start..end).map(|p| professional(world, p)).collect();
        let txn = kit::db::begin(db).await?;
        professionals::insert_many(&txn, &rows).await?;
        txn.commit().await?;
        progress.add(rows.len());
    }
    Ok(())
}

/// A match as matching keeps it: proposed by one side, accepted by the
/// other, active or ended.
pub fn match_row(world: &World, j: usize) -> matches::Match {
    let m = &world.matches[j];
    let professional = &world.professionals[m.professional];
    let (initiated_by, created_by, message) = if m.invited {
        (
            Side::Community,
            world.province_of(m.community).admin_id.clone(),
            "诚邀您指导本社区更新改造工作",
        )
    } else {
        (
            Side::Professional,
            professional.account_id.clone(),
            "愿为贵社区提供专业志愿服务",
        )
    };
    matches::Match {
        id: m.id.clone(),
        community_code: world.communities[m.community].code.clone(),
        professional_id: professional.account_id.clone(),
        initiated_by,
        state: if m.ended_at.is_some() {
            MatchState::Ended
        } else {
            MatchState::Active
        },
        message: message.into(),
        created_by,
        distance_km: m.distance_km,
        created_at: m.created_at,
        expires_at: offer_expiry(m.created_at),
        responded_at: Some(m.confirmed_at),
        response_secs: Some((m.confirmed_at - m.created_at).num_seconds()),
        confirmed_at: Some(m.confirmed_at),
        ended_at: m.ended_at,
        end_reason: if m.ended_at.is_some() {
            "服务周期结束".into()
        } else {
            String::new()
        },
        ended_by: m.ended_at.map(|_| Side::Community),
        assignment_id: String::new(),
    }
}

pub async fn write_matches(db: &DatabaseConnection, world: &World, start: usize, end: usize) -> anyhow::Result<()> {
    let rows: Vec<matches::Match> = (start..end).map(|j| match_row(world, j)).collect();
    let txn = kit::db::begin(db).await?;
    matches::insert_many(&txn, &rows).await?;
    txn.commit().await?;
    Ok(())
}
