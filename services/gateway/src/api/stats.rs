//! Programme statistics (`sanshi.gateway.v1.StatsService`, served by the
//! gateway itself): each figure comes from the service that owns it, called
//! with the caller's token so that it is scoped as that service scopes it;
//! never from another service's database. Results are cached per caller and
//! region for [`TTL`].

use super::rpc::Upstreams;
use futures::StreamExt;
use sanshi_proto::gateway::v1 as pb;
use sanshi_proto::identity::v1 as identity;
use sanshi_proto::incentive::v1 as incentive;
use sanshi_proto::matching::v1 as matching;
use sanshi_proto::qualification::v1 as qualification;
use sanshi_proto::records::v1 as records;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tonic::{Code, Status};

/// How long a region's figures are reused for the same caller.
pub const TTL: Duration = Duration::from_secs(30);

/// Province-level cities, whose second-level codes are groupings, not cities.
const MUNICIPALITIES: [&str; 4] = ["11", "12", "31", "50"];

/// Child regions computed at once for `GetByRegion`.
const FAN_OUT: usize = 8;

/// How long region names and children are reused before identity is asked
/// again; a changed `tree_version` drops them at once.
pub const REGION_TTL: Duration = Duration::from_secs(600);

/// Figures per caller and region, and the region tree's names and children
/// (public reference data, shared by every caller).
#[derive(Default)]
pub struct Cache {
    figures: Mutex<HashMap<(String, String), (Instant, pb::StatsOverview)>>,
    regions: Mutex<RegionCache>,
}

#[derive(Default)]
struct RegionCache {
    /// identity's `tree_version` of what is held here.
    version: String,
    /// Child codes of a parent, as listed when they were fetched.
    children: HashMap<String, (Instant, Vec<String>)>,
    names: HashMap<String, String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Cache {
    fn get(&self, key: &(String, String)) -> Option<pb::StatsOverview> {
        lock(&self.figures)
            .get(key)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: (String, String), value: pb::StatsOverview) {
        let mut map = lock(&self.figures);
        if map.len() > 10_000 {
            map.retain(|_, (at, _)| at.elapsed() < TTL);
        }
        map.insert(key, (Instant::now(), value));
    }

    /// The codes of `parent`'s children, from identity when not held (or
    /// held for longer than [`REGION_TTL`]).
    async fn children(&self, up: &Upstreams, token: &str, parent: &str) -> Result<Vec<String>, Status> {
        if let Some((at, codes)) = lock(&self.regions).children.get(parent)
            && at.elapsed() < REGION_TTL
        {
            return Ok(codes.clone());
        }
        let mut client = identity::region_service_client::RegionServiceClient::new(channel(up, "sanshi.identity.v1")?);
        let mut rows = Vec::new();
        let mut page_token = String::new();
        let version = loop {
            let page = client
                .list_regions(req(
                    identity::ListRegionsRequest {
                        parent_code: parent.into(),
                        page_size: 1000,
                        page_token,
                    },
                    token,
                ))
                .await?
                .into_inner();
            rows.extend(page.regions);
            if page.next_page_token.is_empty() {
                break page.tree_version;
            }
            page_token = page.next_page_token;
        };
        let codes: Vec<String> = rows.iter().map(|r| r.code.clone()).collect();
        let mut held = lock(&self.regions);
        if held.version != version {
            *held = RegionCache {
                version,
                ..Default::default()
            };
        }
        held.names.extend(rows.into_iter().map(|r| (r.code, r.name)));
        held.children
            .insert(parent.to_string(), (Instant::now(), codes.clone()));
        Ok(codes)
    }

    /// A region's name: held from an earlier listing, or asked of identity
    /// ("" when identity does not know it).
    async fn region_name(&self, up: &Upstreams, token: &str, code: &str) -> Result<String, Status> {
        if let Some(name) = lock(&self.regions).names.get(code) {
            return Ok(name.clone());
        }
        let mut client = identity::region_service_client::RegionServiceClient::new(channel(up, "sanshi.identity.v1")?);
        match client
            .get_region(req(identity::GetRegionRequest { code: code.into() }, token))
            .await
        {
            Ok(region) => {
                let name = region.into_inner().name;
                lock(&self.regions).names.insert(code.to_string(), name.clone());
                Ok(name)
            }
            Err(e) if e.code() == Code::NotFound => Ok(String::new()),
            Err(e) => Err(e),
        }
    }
}

fn channel(up: &Upstreams, package: &str) -> Result<kit::grpc::TracedChannel, Status> {
    up.channels
        .get(package)
        .cloned()
        .ok_or_else(|| Status::unimplemented(format!("no upstream for {package}")))
}

fn req<T>(message: T, token: &str) -> tonic::Request<T> {
    kit::grpc::with_token(message, token)
}

/// An answer that only says the figure does not exist at this level (a
/// community has no star distribution or leaderboard of its own).
fn absent(status: &Status) -> bool {
    matches!(status.code(), Code::InvalidArgument | Code::NotFound)
}

/// The figures of `region` for the caller with `token`.
pub async fn overview(up: &Upstreams, cache: &Cache, token: &str, region: &str) -> Result<pb::StatsOverview, Status> {
    let region = region.trim();
    kit::region::RegionCode::parse(region)
        .map_err(|_| Status::from(kit::ServiceError::invalid("region", "请填写有效的行政区划代码")))?;
    let key = (token.to_string(), region.to_string());
    if let Some(hit) = cache.get(&key) {
        return Ok(hit);
    }
    let mut apps = qualification::qualification_service_client::QualificationServiceClient::new(channel(
        up,
        "sanshi.qualification.v1",
    )?);
    let mut matches = matching::match_service_client::MatchServiceClient::new(channel(up, "sanshi.matching.v1")?);
    let mut recs = records::record_service_client::RecordServiceClient::new(channel(up, "sanshi.records.v1")?);
    let mut points =
        incentive::incentive_service_client::IncentiveServiceClient::new(channel(up, "sanshi.incentive.v1")?);
    let mut board = points.clone();
    // The star distribution's rows (per district, per street) add up to the
    // region's; a community has none (the service refuses it, and the figure
    // is left empty).
    let star_scope = region.to_string();
    let (name, counts, matching_stats, record_stats, stars, top) = tokio::join!(
        cache.region_name(up, token, region),
        apps.count_applications(req(
            qualification::CountApplicationsRequest {
                region_code: region.into()
            },
            token
        )),
        matches.get_matching_stats(req(
            matching::GetMatchingStatsRequest {
                region_code: region.into()
            },
            token
        )),
        recs.get_record_stats(req(
            records::GetRecordStatsRequest {
                region_code: region.into()
            },
            token
        )),
        points.get_star_distribution(req(
            incentive::GetStarDistributionRequest {
                region_code: star_scope,
                year: 0
            },
            token
        )),
        board.get_leaderboard(req(
            incentive::GetLeaderboardRequest {
                region_code: region.into(),
                page_size: 10,
                ..Default::default()
            },
            token
        )),
    );
    let counts = counts?.into_inner();
    let matching_stats = matching_stats?.into_inner();
    let record_stats = record_stats?.into_inner();
    let mut by_profession: HashMap<(i32, i32), i32> = HashMap::new();
    for c in &counts.counts {
        *by_profession.entry((c.profession, c.state)).or_default() += c.count;
    }
    let mut professionals: Vec<pb::ProfessionStateCount> = by_profession
        .into_iter()
        .map(|((profession, state), count)| pb::ProfessionStateCount {
            profession,
            state,
            count,
        })
        .collect();
    professionals.sort_by_key(|p| (p.profession, p.state));
    let qualified = professionals
        .iter()
        .filter(|p| p.state == qualification::ApplicationState::Approved as i32)
        .map(|p| p.count)
        .sum();
    let (star_distribution, star_year) = match stars {
        Ok(d) => {
            let d = d.into_inner();
            let mut sum = vec![0; 6];
            for row in &d.rows {
                for (i, n) in row.counts.iter().enumerate().take(6) {
                    sum[i] += n;
                }
            }
            (sum, d.year)
        }
        Err(e) if absent(&e) => (Vec::new(), 0),
        Err(e) => return Err(e),
    };
    let top_by_points = match top {
        Ok(board) => board.into_inner().rows,
        Err(e) if absent(&e) => Vec::new(),
        Err(e) => return Err(e),
    };
    let coverage_ratio = if matching_stats.communities > 0 {
        matching_stats.communities_with_active_match as f64 / matching_stats.communities as f64
    } else {
        0.0
    };
    let result = pb::StatsOverview {
        region_code: region.to_string(),
        region_name: name.unwrap_or_default(),
        professionals,
        qualified,
        communities: matching_stats.communities,
        communities_with_active_match: matching_stats.communities_with_active_match,
        coverage_ratio,
        matches: matching_stats.matches_by_state,
        records_this_month: record_stats.records_this_month,
        records_this_year: record_stats.records_this_year,
        needs: matching_stats.needs_by_state,
        overdue_needs: matching_stats.overdue_needs,
        average_community_rating: record_stats.average_community_rating,
        average_resident_rating: record_stats.average_resident_rating,
        star_distribution,
        star_year,
        top_by_points,
    };
    cache.put(key, result.clone());
    Ok(result)
}

/// The figures of each child region of `region`.
pub async fn by_region(up: &Upstreams, cache: &Cache, token: &str, region: &str) -> Result<pb::StatsByRegion, Status> {
    let region = region.trim();
    kit::region::RegionCode::parse(region)
        .map_err(|_| Status::from(kit::ServiceError::invalid("region", "请填写有效的行政区划代码")))?;
    let mut children = cache.children(up, token, region).await?;
    // A municipality (Beijing 11, Tianjin 12, Shanghai 31, Chongqing 50)
    // lists its districts under administrative groupings (5001 市辖区, 5002
    // 县): report the districts. A province reports its cities.
    if MUNICIPALITIES.contains(&region) {
        let mut districts = Vec::new();
        for group in children {
            districts.extend(cache.children(up, token, &group).await?);
        }
        children = districts;
    }
    let results: Vec<Result<pb::StatsOverview, Status>> = futures::stream::iter(children)
        .map(|child| async move { overview(up, cache, token, &child).await })
        .buffered(FAN_OUT)
        .collect()
        .await;
    Ok(pb::StatsByRegion {
        region_code: region.to_string(),
        regions: results.into_iter().collect::<Result<_, _>>()?,
    })
}
