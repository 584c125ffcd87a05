//! Identity's part: the division tree down to every community (identity
//! checks account and role regions against it), the professionals'
//! accounts, and each province's officials.

use super::Progress;
use super::world::{Community, Professional, Province, World, region_name};
use chrono::{DateTime, Utc};
use identity::domain::region::RegionRow;
use identity::store::accounts::{self, NewAccount};
use kit::auth::Role;
use kit::pii::PiiCipher;
use kit::region::{RegionCode, RegionLevel};
use sea_orm::DatabaseConnection;
use std::collections::BTreeMap;

/// Every region the communities need: themselves and their ancestors.
/// Districts carry their centroid, as identity's Chongqing rows do.
pub fn regions(communities: &[Community]) -> anyhow::Result<Vec<RegionRow>> {
    // code → (name, position)
    let mut named: BTreeMap<String, (String, Option<(f64, f64)>)> = BTreeMap::new();
    for c in communities {
        for len in [2, 4, 6, 9] {
            let code = &c.code[..len];
            let centroid = if len == 6 { c.district_centroid } else { None };
            named
                .entry(code.to_string())
                .or_insert_with(|| (region_name(code), centroid));
        }
        named.insert(c.code.clone(), (c.name.clone(), None));
    }
    named
        .into_iter()
        .map(|(code, (name, position))| region(&code, name, position))
        .collect()
}

fn region(code: &str, name: String, position: Option<(f64, f64)>) -> anyhow::Result<RegionRow> {
    let parsed = RegionCode::parse(code).map_err(|e| anyhow::anyhow!("region {code}: {e}"))?;
    Ok(RegionRow {
        code: code.to_string(),
        name,
        level: parsed.level(),
        parent_code: parsed.parent().map(|p| p.to_string()),
        lon: position.map(|p| p.0),
        lat: position.map(|p| p.1),
    })
}

/// Adds the regions identity does not have yet (it has Chongqing); returns how many.
pub async fn write_regions(db: &DatabaseConnection, communities: &[Community], batch: usize) -> anyhow::Result<u64> {
    let rows = regions(communities)?;
    let communities_added = rows.iter().filter(|r| r.level == RegionLevel::Community).count();
    let mut progress = Progress::new("identity regions", rows.len());
    let mut added = 0;
    for chunk in rows.chunks(batch) {
        let txn = kit::db::begin(db).await?;
        added += identity::store::regions::insert_many(&txn, chunk).await?;
        txn.commit().await?;
        progress.add(chunk.len());
    }
    tracing::info!(added, communities = communities_added, "regions in identity");
    Ok(added)
}

/// A professional's account: a resident of their community (as registering
/// made them) and a professional in each region they serve (as their
/// qualification made them), with their phone number sealed and hashed as
/// identity does.
fn professional_account(world: &World, p: &Professional, cipher: &PiiCipher, password_hash: &str) -> NewAccount {
    let home = world.communities[p.home].code.clone();
    let mut roles = vec![(Role::Resident, home.clone())];
    roles.extend(p.service_regions.iter().map(|r| (Role::Professional, r.clone())));
    NewAccount {
        id: p.account_id.clone(),
        username: p.username.clone(),
        display_name: p.real_name.clone(),
        phone_sealed: Some(cipher.seal(p.phone.as_bytes())),
        phone_hash: Some(cipher.lookup_hash("phone", &p.phone)),
        region_code: home,
        kind: "person",
        password_hash: password_hash.to_string(),
        roles,
    }
}

pub async fn write_professionals(
    db: &DatabaseConnection,
    world: &World,
    cipher: &PiiCipher,
    password_hash: &str,
    batch: usize,
) -> anyhow::Result<()> {
    let mut progress = Progress::new("identity accounts", world.professionals.len());
    for chunk in world.professionals.chunks(batch) {
        let rows: Vec<(NewAccount, DateTime<Utc>)> = chunk
            .iter()
            .map(|p| (professional_account(world, p, cipher, password_hash), p.registered_at))
            .collect();
        let txn = kit::db::begin(db).await?;
        accounts::insert_many(&txn, &rows).await?;
        txn.commit().await?;
        progress.add(chunk.len());
    }
    Ok(())
}

fn official(
    id: &str,
    username: String,
    display_name: String,
    province: &Province,
    role: Role,
    password_hash: &str,
) -> NewAccount {
    NewAccount {
        id: id.to_string(),
        username,
        display_name,
        phone_sealed: None,
        phone_hash: None,
        region_code: province.code.clone(),
        kind: "person",
        password_hash: password_hash.to_string(),
        roles: vec![(role, province.code.clone())],
    }
}

/// Each province's administrator and reviewer. Written last: their
/// accounts mark a finished run (see `super::generate`).
pub async fn write_officials(db: &DatabaseConnection, world: &World, password_hash: &str) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for p in &world.provinces {
        let admin = official(
            &p.admin_id,
            Province::admin_username(&p.code),
            format!("{}管理员", p.name),
            p,
            Role::CityAdmin,
            password_hash,
        );
        let reviewer = official(
            &p.reviewer_id,
            Province::reviewer_username(&p.code),
            format!("{}审核员", p.name),
            p,
            Role::Reviewer,
            password_hash,
        );
        rows.push((admin, p.created_at));
        rows.push((reviewer, p.created_at));
    }
    let txn = kit::db::begin(db).await?;
    accounts::insert_many(&txn, &rows).await?;
    txn.commit().await?;
    tracing::info!(provinces = world.provinces.len(), "officials in identity");
    Ok(())
}
