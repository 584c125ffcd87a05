//! Benchmark instances from real division data, timed with this crate's solver, exported for
//! OR-Tools (`scripts/bench-matching` runs both and compares).
//!
//! ```text
//! bench_matching chongqing services/identity/data/regions-500000.csv OUT_PREFIX
//! bench_matching national  communities-cn.csv (uncompressed)          OUT_PREFIX
//! ```
//!
//! Writes `OUT_PREFIX.arcs` (the exact min-cost-flow problem, little-endian: u64 nodes, u64 arcs,
//! i64 source supply, then i32 tails, i32 heads, i64 capacities, i64 costs, u8 kinds) and
//! `OUT_PREFIX.json` (sizes, objective, coverage before the batch, flow cost, time).
//! `BENCH_REPEAT` (default 3) sets how many times the solver runs; the best time is reported.
//! `BENCH_PROFESSIONALS`, `BENCH_MAX_DISTANCE_KM` and `BENCH_EXISTING_PERCENT` (the share of
//! communities that already have professionals, default 0) override the instance's shape for
//! exploration.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::time::Instant;

use matching_solver::geo::{disc_offset, offset_km, splitmix64, stable_hash};
use matching_solver::{CommunityInput, Instance, Network, ProfessionalInput, solve_network, synthetic_position};

/// Chongqing: how many of its 3,345 urban (社区) communities, and professionals.
const CHONGQING_COMMUNITIES: usize = 1_928;
const CHONGQING_PROFESSIONALS: usize = 2_539;
/// National: every urban community, and this many professionals.
const NATIONAL_PROFESSIONALS: usize = 140_000;
/// Maximum distance between a community and a professional serving it.
const MAX_DISTANCE_KM: f64 = 3.0;
/// Professionals live within this distance of the community they are drawn near.
const PROFESSIONAL_SPREAD_KM: f64 = 2.0;

type Error = Box<dyn std::error::Error>;

struct Community {
    code: String,
    lon: f64,
    lat: f64,
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let [_, kind, data, prefix] = args.as_slice() else {
        return Err("usage: bench_matching chongqing|national DATA_CSV OUT_PREFIX".into());
    };
    let text = std::fs::read_to_string(data).map_err(|e| format!("{data}: {e}"))?;
    let (communities, professionals) = match kind.as_str() {
        "chongqing" => (chongqing(&text)?, CHONGQING_PROFESSIONALS),
        "national" => (national(&text)?, NATIONAL_PROFESSIONALS),
        other => return Err(format!("unknown instance {other:?}").into()),
    };
    // Overrides for exploring other shapes (the benchmark script uses the defaults).
    let professionals = env_or("BENCH_PROFESSIONALS", professionals);
    let max_distance_km = env_or("BENCH_MAX_DISTANCE_KM", MAX_DISTANCE_KM);
    let existing_percent = env_or("BENCH_EXISTING_PERCENT", 0u64);
    let instance = make_instance(&communities, professionals, max_distance_km, existing_percent);
    let repeat: usize = std::env::var("BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);

    let mut best = f64::INFINITY;
    let mut build_best = f64::INFINITY;
    let mut result = None;
    for _ in 0..repeat {
        let start = Instant::now();
        let network = Network::build(&instance)?;
        let built = start.elapsed().as_secs_f64();
        let assignment = solve_network(&instance, &network);
        let total = start.elapsed().as_secs_f64();
        best = best.min(total);
        build_best = build_best.min(built);
        result = Some((network, assignment));
    }
    let Some((network, assignment)) = result else {
        return Err("no run".into());
    };
    let objective = assignment.objective;
    // What a min-cost-flow solver reports as the optimal cost of the arcs written below.
    let weighted = network.flow_cost(&objective);
    let problem = network.flow_problem()?;

    let mut out = BufWriter::new(std::fs::File::create(format!("{prefix}.arcs"))?);
    out.write_all(&(problem.num_nodes as u64).to_le_bytes())?;
    out.write_all(&(problem.tails.len() as u64).to_le_bytes())?;
    out.write_all(&problem.source_supply.to_le_bytes())?;
    for v in &problem.tails {
        out.write_all(&v.to_le_bytes())?;
    }
    for v in &problem.heads {
        out.write_all(&v.to_le_bytes())?;
    }
    for v in &problem.capacities {
        out.write_all(&v.to_le_bytes())?;
    }
    for v in &problem.costs {
        out.write_all(&v.to_le_bytes())?;
    }
    out.write_all(&problem.kinds)?;
    out.flush()?;

    let c = &network.components;
    let summary = format!(
        concat!(
            "{{\"instance\": \"{}\", \"communities\": {}, \"professionals\": {}, \"max_distance_km\": {}, ",
            "\"pairs\": {}, \"arcs\": {}, \"nodes\": {}, \"components\": {}, \"largest_component\": ",
            "{{\"communities\": {}, \"professionals\": {}, \"pairs\": {}}}, \"w1\": {}, \"w2\": {}, \"w3\": {}, ",
            "\"existing_covered\": {}, \"existing_covered_professions\": {}, ",
            "\"covered\": {}, \"covered_professions\": {}, \"assigned\": {}, \"total_distance_m\": {}, ",
            "\"weighted_cost\": {}, \"seconds\": {:.4}, \"build_seconds\": {:.4}, \"repeat\": {}}}"
        ),
        kind,
        instance.communities.len(),
        instance.professionals.len(),
        instance.max_distance_km,
        network.num_pairs(),
        problem.tails.len(),
        problem.num_nodes,
        c.count,
        c.largest_communities,
        c.largest_professionals,
        c.largest_pairs,
        network.weights.w1,
        network.weights.w2,
        network.weights.w3,
        network.existing.covered,
        network.existing.covered_professions,
        objective.covered,
        objective.covered_professions,
        objective.assigned,
        objective.total_distance_m,
        weighted,
        best,
        build_best,
        repeat,
    );
    std::fs::write(format!("{prefix}.json"), format!("{summary}\n"))?;
    println!("{summary}");
    Ok(())
}

/// Chongqing's urban communities (name contains 社区) from the regions file, positioned near
/// their district's centroid; the 1,928 whose codes have the smallest `stable_hash` (a
/// deterministic sample spread over every district).
fn chongqing(text: &str) -> Result<Vec<Community>, Error> {
    let mut centroids: HashMap<&str, (f64, f64)> = HashMap::new();
    let mut urban: Vec<&str> = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let [code, name, level, _parent, lon, lat] = f.as_slice() else {
            return Err(format!("bad line {line:?}").into());
        };
        match *level {
            "district" => {
                centroids.insert(code, (lon.parse()?, lat.parse()?));
            }
            "community" if name.contains("社区") => urban.push(code),
            _ => {}
        }
    }
    urban.sort_by_key(|code| (stable_hash(code.as_bytes()), *code));
    urban.truncate(CHONGQING_COMMUNITIES);
    urban.sort_unstable();
    urban
        .into_iter()
        .map(|code| {
            let district = code.get(..6).ok_or("short code")?;
            let &(lon, lat) = centroids
                .get(district)
                .ok_or_else(|| format!("no centroid for {district}"))?;
            let (lon, lat) = synthetic_position(code, lon, lat);
            Ok(Community {
                code: code.to_string(),
                lon,
                lat,
            })
        })
        .collect()
}

/// Every urban community of mainland China (`code,name,street_code,district_code,district_lon,
/// district_lat`), positioned near its district's centroid. The 250 communities of 13 newer
/// districts without a centroid in the data take the first centroid of their city (4-digit
/// prefix), else of their province.
fn national(text: &str) -> Result<Vec<Community>, Error> {
    let mut rows: Vec<(&str, Option<(f64, f64)>)> = Vec::new();
    let mut fallback: HashMap<&str, (f64, f64)> = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let [code, _name, _street, _district, lon, lat] = f.as_slice() else {
            return Err(format!("bad line {line:?}").into());
        };
        let centroid = match (lon.parse::<f64>(), lat.parse::<f64>()) {
            (Ok(lon), Ok(lat)) => Some((lon, lat)),
            _ => None,
        };
        if let (Some(centroid), Some(city), Some(province)) = (centroid, code.get(..4), code.get(..2)) {
            fallback.entry(city).or_insert(centroid);
            fallback.entry(province).or_insert(centroid);
        }
        rows.push((code, centroid));
    }
    rows.into_iter()
        .map(|(code, centroid)| {
            let (lon, lat) = centroid
                .or_else(|| code.get(..4).and_then(|city| fallback.get(city)).copied())
                .or_else(|| code.get(..2).and_then(|province| fallback.get(province)).copied())
                .ok_or_else(|| format!("no centroid for {code}"))?;
            let (lon, lat) = synthetic_position(code, lon, lat);
            Ok(Community {
                code: code.to_string(),
                lon,
                lat,
            })
        })
        .collect()
}

/// Communities with demand 1–3, `existing_percent` % of them with one to three existing
/// professions; professionals near pseudo-randomly drawn communities, with mixed professions,
/// capacity 1–3 and service regions (district 60 %, city 25 %, none 15 %).
fn make_instance(
    communities: &[Community],
    professionals: usize,
    max_distance_km: f64,
    existing_percent: u64,
) -> Instance {
    let communities_in: Vec<CommunityInput> = communities
        .iter()
        .map(|c| {
            let hash = stable_hash(c.code.as_bytes());
            let existing_professions = if splitmix64(hash ^ 0xe715) % 100 < existing_percent {
                // A non-empty subset of planner, architect, engineer.
                let mask = 1 + splitmix64(hash ^ 0xe716) % 7;
                ["planner", "architect", "engineer"]
                    .iter()
                    .enumerate()
                    .filter(|&(b, _)| mask & (1 << b) != 0)
                    .map(|(_, f)| f.to_string())
                    .collect()
            } else {
                Vec::new()
            };
            CommunityInput {
                id: c.code.clone(),
                lon: c.lon,
                lat: c.lat,
                demand: 1 + (splitmix64(hash ^ 0xd3a4) % 3) as i64,
                region: Some(c.code.clone()),
                existing_professions,
            }
        })
        .collect();
    let professionals_in = (0..professionals as u64)
        .map(|i| {
            let draw = |salt: u64| splitmix64(splitmix64(i ^ 0x5eed_0000_0000) ^ salt);
            let anchor = &communities[(draw(1) % communities.len() as u64) as usize];
            let (east, north) = disc_offset(draw(2), PROFESSIONAL_SPREAD_KM);
            let (lon, lat) = offset_km(anchor.lon, anchor.lat, east, north);
            let profession = match draw(3) % 100 {
                0..32 => "planner",
                32..64 => "architect",
                64..96 => "engineer",
                _ => "landscape_architect",
            };
            let service_regions = match draw(5) % 100 {
                0..60 => Some(vec![anchor.code.get(..6).unwrap_or(&anchor.code).to_string()]),
                60..85 => Some(vec![anchor.code.get(..4).unwrap_or(&anchor.code).to_string()]),
                _ => None,
            };
            ProfessionalInput {
                id: format!("pro-{i:06}"),
                lon,
                lat,
                capacity: 1 + (draw(4) % 3) as i64,
                profession: profession.to_string(),
                service_regions,
            }
        })
        .collect();
    Instance {
        communities: communities_in,
        professionals: professionals_in,
        max_distance_km,
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
