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

/// Child regions computed at once for `GetByRegion`.
const FAN_OUT: usize = 8;

#[derive(Default)]
pub struct Cache(Mutex<HashMap<(String, String), (Instant, pb::StatsOverview)>>);

impl Cache {
    fn get(&self, key: &(String, String)) -> Option<pb::StatsOverview> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: (String, String), value: pb::StatsOverview) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, (at, _)| at.elapsed() < TTL);
        }
        map.insert(key, (Instant::now(), value));
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
    let mut regions = identity::region_service_client::RegionServiceClient::new(channel(up, "sanshi.identity.v1")?);
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
        regions.get_region(req(identity::GetRegionRequest { code: region.into() }, token)),
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
        region_name: name.map(|r| r.into_inner().name).unwrap_or_default(),
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
    let mut regions = identity::region_service_client::RegionServiceClient::new(channel(up, "sanshi.identity.v1")?);
    let mut children = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = regions
            .list_regions(req(
                identity::ListRegionsRequest {
                    parent_code: region.into(),
                    page_size: 500,
                    page_token,
                },
                token,
            ))
            .await?
            .into_inner();
        children.extend(page.regions.into_iter().map(|r| r.code));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    // A province-level city (50) lists its districts under two
    // administrative groupings (5001 市辖区, 5002 县): report the districts.
    if region.len() == 2 {
        let mut districts = Vec::new();
        for group in children {
            let page = regions
                .list_regions(req(
                    identity::ListRegionsRequest {
                        parent_code: group,
                        page_size: 500,
                        page_token: String::new(),
                    },
                    token,
                ))
                .await?
                .into_inner();
            districts.extend(page.regions.into_iter().map(|r| r.code));
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
