//! Optimality tests: brute force on small instances, a negative-cycle certificate on larger ones.

use std::collections::HashMap;

use proptest::prelude::*;

use crate::network::{ArcKind, Network, eligible_region, metres};
use crate::{AssignedPair, Assignment, CommunityInput, Instance, Objective, ProfessionalInput, haversine_km, solve};

const PROFESSIONS: [&str; 3] = ["planner", "architect", "engineer"];
/// Existing professions: those of [`PROFESSIONS`] and one no professional has.
const EXISTING: [&str; 4] = ["planner", "architect", "engineer", "surveyor"];
const REGIONS: [&str; 4] = ["500103001001", "500103002001", "500104001001", "500233001001"];
const SERVED: [&str; 4] = ["5001", "500103", "500103002", "500233"];

/// `PROPTEST_CASES` if set, else `cases`.
fn config(cases: u32) -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(cases)
    }
}

/// Small instances around one point: ≤ 5 communities and ≤ 5 professionals within a few km,
/// mixed professions, capacities and demands 0–3, some regions, and existing professions (often
/// none, else a random subset of the professions, sometimes with one no professional has).
fn small_instance(max_c: usize, max_p: usize, spread: f64) -> impl Strategy<Value = Instance> {
    let existing = prop_oneof![2 => Just(0u8), 2 => 0u8..8, 1 => 0u8..16];
    let community = (
        0.0..spread,
        0.0..spread,
        0i64..=3,
        prop::option::of(0usize..4),
        existing,
    );
    let professional = (
        0.0..spread,
        0.0..spread,
        0i64..=3,
        0usize..3,
        prop::option::of(prop::collection::vec(0usize..4, 1..3)),
    );
    (
        prop::collection::vec(community, 0..=max_c),
        prop::collection::vec(professional, 0..=max_p),
        prop_oneof![Just(1.0), Just(2.0), 0.2f64..4.0],
    )
        .prop_map(|(cs, ps, max_distance_km)| Instance {
            communities: cs
                .into_iter()
                .enumerate()
                .map(|(i, (x, y, demand, region, existing))| CommunityInput {
                    id: format!("c{i}"),
                    lon: 106.5 + x,
                    lat: 29.5 + y,
                    demand,
                    region: region.map(|r| REGIONS[r].to_string()),
                    existing_professions: (0..EXISTING.len())
                        .filter(|b| existing & (1 << b) != 0)
                        .map(|b| EXISTING[b].to_string())
                        .collect(),
                })
                .collect(),
            professionals: ps
                .into_iter()
                .enumerate()
                .map(|(i, (x, y, capacity, f, served))| ProfessionalInput {
                    id: format!("p{i}"),
                    lon: 106.5 + x,
                    lat: 29.5 + y,
                    capacity,
                    profession: PROFESSIONS[f].to_string(),
                    service_regions: served.map(|s| s.into_iter().map(|r| SERVED[r].to_string()).collect()),
                })
                .collect(),
            max_distance_km,
        })
}

fn eligible_pairs(instance: &Instance) -> Vec<Vec<(usize, u32)>> {
    instance
        .communities
        .iter()
        .map(|c| {
            instance
                .professionals
                .iter()
                .enumerate()
                .filter_map(|(k, p)| {
                    let d = haversine_km(c.lon, c.lat, p.lon, p.lat);
                    let ok = d <= instance.max_distance_km
                        && eligible_region(c.region.as_deref(), p.service_regions.as_deref());
                    ok.then(|| (k, metres(d)))
                })
                .collect()
        })
        .collect()
}

/// The best objective over every feasible assignment, by exhaustive search over each
/// community's subsets of eligible professionals (memoised on the remaining capacities).
fn brute_force(instance: &Instance) -> Objective {
    let pairs = eligible_pairs(instance);
    let capacity: Vec<i64> = instance.professionals.iter().map(|p| p.capacity).collect();
    let mut memo = HashMap::new();
    best_from(instance, &pairs, 0, capacity, &mut memo)
}

fn best_from(
    instance: &Instance,
    pairs: &[Vec<(usize, u32)>],
    c: usize,
    capacity: Vec<i64>,
    memo: &mut HashMap<(usize, Vec<i64>), Objective>,
) -> Objective {
    if c == pairs.len() {
        return Objective::default();
    }
    if let Some(best) = memo.get(&(c, capacity.clone())) {
        return *best;
    }
    let options = &pairs[c];
    let mut best: Option<Objective> = None;
    for mask in 0u32..(1 << options.len()) {
        let chosen: Vec<(usize, u32)> = options
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, &o)| o)
            .collect();
        if chosen.len() as i64 > instance.communities[c].demand || chosen.iter().any(|&(k, _)| capacity[k] < 1) {
            continue;
        }
        let mut rest = capacity.clone();
        for &(k, _) in &chosen {
            rest[k] -= 1;
        }
        let mut value = best_from(instance, pairs, c + 1, rest, memo);
        // Coverage after the batch: existing professions and the chosen ones.
        let mut professions: Vec<&str> = instance.communities[c]
            .existing_professions
            .iter()
            .map(String::as_str)
            .chain(
                chosen
                    .iter()
                    .map(|&(k, _)| instance.professionals[k].profession.as_str()),
            )
            .collect();
        professions.sort_unstable();
        professions.dedup();
        value.covered += u64::from(!professions.is_empty());
        value.covered_professions += professions.len() as u64;
        value.assigned += chosen.len() as u64;
        value.total_distance_m += chosen.iter().map(|&(_, d)| u64::from(d)).sum::<u64>();
        if best.is_none_or(|b| value.compare(&b).is_gt()) {
            best = Some(value);
        }
    }
    // The empty choice is always feasible, so `best` is set.
    let best = best.unwrap_or_default();
    memo.insert((c, capacity), best);
    best
}

/// Checks that `assignment` is feasible for `instance` and that its objective is its own.
fn check_feasible(instance: &Instance, assignment: &Assignment) {
    let pairs = eligible_pairs(instance);
    let mut per_community = vec![0i64; instance.communities.len()];
    let mut per_professional = vec![0i64; instance.professionals.len()];
    let mut seen = std::collections::HashSet::new();
    for p in &assignment.pairs {
        assert!(seen.insert((p.community, p.professional)), "pair used twice: {p:?}");
        let eligible = pairs[p.community].iter().find(|&&(k, _)| k == p.professional);
        assert_eq!(
            eligible.map(|&(_, d)| d),
            Some(p.distance_m),
            "not eligible or wrong distance: {p:?}"
        );
        per_community[p.community] += 1;
        per_professional[p.professional] += 1;
    }
    for (c, n) in per_community.iter().enumerate() {
        assert!(*n <= instance.communities[c].demand, "community {c} over demand");
    }
    for (k, n) in per_professional.iter().enumerate() {
        assert!(
            *n <= instance.professionals[k].capacity,
            "professional {k} over capacity"
        );
    }
    assert_eq!(assignment.objective, Objective::of(instance, &assignment.pairs));
    let mut sorted = assignment.pairs.clone();
    sorted.sort_by_key(|p: &AssignedPair| (p.community, p.distance_m, p.professional));
    assert_eq!(sorted, assignment.pairs);
}

/// Whether the residual graph of the flow that `assignment` induces on `network` has a negative
/// cycle under the network's weights (Bellman–Ford from a virtual source). Also checks that the
/// flow's levels (existing coverage plus bonus-arc flows) and cost agree with the assignment's
/// objective and [`Network::flow_cost`].
fn has_negative_cycle(network: &Network, assignment: &Assignment) -> bool {
    let problem = network.flow_problem().unwrap();
    // Arc flows from the assignment.
    let nc = network.num_communities();
    let ncf = network.num_community_professions();
    let comm_of: HashMap<u32, usize> = network.comm_orig.iter().enumerate().map(|(c, &o)| (o, c)).collect();
    let prof_of: HashMap<u32, usize> = network.prof_orig.iter().enumerate().map(|(k, &o)| (o, k)).collect();
    let mut used_pairs = std::collections::HashSet::new();
    for p in &assignment.pairs {
        let c = comm_of[&(p.community as u32)];
        let k = prof_of[&(p.professional as u32)];
        let pair = (network.comm_cf[c]..network.comm_cf[c + 1])
            .flat_map(|j| network.cf_pair[j as usize]..network.cf_pair[j as usize + 1])
            .find(|&pair| network.pair_prof[pair as usize] as usize == k)
            .unwrap();
        used_pairs.insert(pair as usize);
    }
    let mut cf_flow = vec![0i64; ncf];
    let mut comm_flow = vec![0i64; nc];
    let mut prof_flow = vec![0i64; network.num_professionals()];
    for &pair in &used_pairs {
        let j = network.pair_cf[pair] as usize;
        cf_flow[j] += 1;
        comm_flow[network.cf_comm[j] as usize] += 1;
        prof_flow[network.pair_prof[pair] as usize] += 1;
    }
    let total: i64 = comm_flow.iter().sum();
    let mut flows = Vec::with_capacity(problem.tails.len());
    let mut pair_index = 0usize;
    for (a, &kind) in problem.kinds.iter().enumerate() {
        let head = problem.heads[a] as usize;
        let tail = problem.tails[a] as usize;
        let flow = match kind {
            k if k == ArcKind::FirstUnit as u8 => comm_flow[head - 2].min(1),
            // A community covered before the batch has one arc for all its units.
            k if k == ArcKind::FurtherUnits as u8 && network.comm_covered[head - 2] => comm_flow[head - 2],
            k if k == ArcKind::FurtherUnits as u8 => (comm_flow[head - 2] - 1).max(0),
            k if k == ArcKind::FirstOfProfession as u8 => cf_flow[head - 2 - nc].min(1),
            // Likewise a profession that serves its community before the batch.
            k if k == ArcKind::FurtherOfProfession as u8 && network.cf_covered[head - 2 - nc] => cf_flow[head - 2 - nc],
            k if k == ArcKind::FurtherOfProfession as u8 => (cf_flow[head - 2 - nc] - 1).max(0),
            k if k == ArcKind::Pair as u8 => {
                pair_index += 1;
                i64::from(used_pairs.contains(&(pair_index - 1)))
            }
            k if k == ArcKind::Professional as u8 => prof_flow[tail - 2 - nc - ncf],
            _ => problem.source_supply - total,
        };
        assert!(flow >= 0 && flow <= problem.capacities[a], "arc {a} flow {flow}");
        flows.push(flow);
    }
    let on = |kind: ArcKind| -> u64 {
        (0..flows.len())
            .filter(|&a| problem.kinds[a] == kind as u8)
            .map(|a| flows[a] as u64)
            .sum()
    };
    let objective = &assignment.objective;
    assert_eq!(objective.covered, network.existing.covered + on(ArcKind::FirstUnit));
    assert_eq!(
        objective.covered_professions,
        network.existing.covered_professions + on(ArcKind::FirstOfProfession)
    );
    assert_eq!(objective.assigned, on(ArcKind::Pair));
    let cost: i128 = (0..flows.len())
        .map(|a| i128::from(flows[a]) * i128::from(problem.costs[a]))
        .sum();
    assert_eq!(cost, network.flow_cost(objective));
    let mut residual: Vec<(usize, usize, i128)> = Vec::new();
    for (a, &flow) in flows.iter().enumerate() {
        let (t, h) = (problem.tails[a] as usize, problem.heads[a] as usize);
        let cost = i128::from(problem.costs[a]);
        if flow < problem.capacities[a] {
            residual.push((t, h, cost));
        }
        if flow > 0 {
            residual.push((h, t, -cost));
        }
    }
    let mut dist = vec![0i128; problem.num_nodes];
    for _ in 0..problem.num_nodes {
        let mut changed = false;
        for &(t, h, cost) in &residual {
            if dist[t] + cost < dist[h] {
                dist[h] = dist[t] + cost;
                changed = true;
            }
        }
        if !changed {
            return false;
        }
    }
    true
}

proptest! {
    #![proptest_config(config(1500))]

    /// The solver's objective equals the best over all feasible assignments.
    #[test]
    fn optimal_against_brute_force(instance in small_instance(5, 5, 0.03)) {
        let assignment = solve(&instance).unwrap();
        check_feasible(&instance, &assignment);
        prop_assert_eq!(assignment.objective, brute_force(&instance));
    }
}

proptest! {
    #![proptest_config(config(150))]

    /// Larger instances: no negative cycle in the residual graph (optimal weighted flow).
    #[test]
    fn no_negative_cycle_on_larger_instances(instance in small_instance(40, 50, 0.08)) {
        let network = Network::build(&instance).unwrap();
        let assignment = crate::solve_network(&instance, &network);
        check_feasible(&instance, &assignment);
        prop_assert!(!has_negative_cycle(&network, &assignment));
    }
}

#[test]
fn coverage_beats_distance_and_professions_beat_count() {
    // Two communities, one professional with capacity 1 near community a: covered = 1.
    // A second professional far from b but within reach: b must be covered even though
    // giving both to a would be shorter.
    let c = |id: &str, lon: f64, demand: i64| CommunityInput {
        id: id.into(),
        lon,
        lat: 30.0,
        demand,
        region: None,
        existing_professions: Vec::new(),
    };
    let p = |id: &str, lon: f64, profession: &str| ProfessionalInput {
        id: id.into(),
        lon,
        lat: 30.0,
        capacity: 1,
        profession: profession.into(),
        service_regions: None,
    };
    let instance = Instance {
        communities: vec![c("a", 106.00, 2), c("b", 106.02, 2)],
        professionals: vec![
            p("near-a", 106.00, "planner"),
            p("between", 106.005, "planner"),
            p("eng", 106.001, "engineer"),
        ],
        max_distance_km: 3.0,
    };
    let assignment = solve(&instance).unwrap();
    check_feasible(&instance, &assignment);
    assert_eq!(assignment.objective, brute_force(&instance));
    assert_eq!(assignment.objective.covered, 2);
    // Level 2 before level 4: a gets a planner and the engineer, b the other planner.
    assert_eq!(assignment.objective.covered_professions, 3);
    let names: Vec<(&str, &str)> = assignment
        .pairs
        .iter()
        .map(|x| {
            (
                instance.communities[x.community].id.as_str(),
                instance.professionals[x.professional].id.as_str(),
            )
        })
        .collect();
    assert_eq!(names, vec![("a", "near-a"), ("a", "eng"), ("b", "between")]);
}

#[test]
fn empty_and_degenerate_instances() {
    let empty = Instance {
        communities: vec![],
        professionals: vec![],
        max_distance_km: 1.0,
    };
    assert_eq!(solve(&empty).unwrap().objective, Objective::default());
    let instance = Instance::from_json(
        r#"{"communities": [{"id": "a", "lon": 0, "lat": 0, "demand": 5}],
            "professionals": [{"id": "p", "lon": 0, "lat": 0, "capacity": 9, "profession": "planner"}],
            "max_distance_km": 1}"#,
    )
    .unwrap();
    let assignment = solve(&instance).unwrap();
    assert_eq!(
        assignment.objective,
        Objective {
            covered: 1,
            covered_professions: 1,
            assigned: 1,
            total_distance_m: 0
        }
    );
    let mut bad = instance.clone();
    bad.professionals[0].capacity = -1;
    assert!(solve(&bad).is_err());
}

proptest! {
    #![proptest_config(config(60))]

    /// The i128 cost path (used when the weights are too large for i64) finds an optimum of the
    /// same objective. (Not necessarily the same pairs: the two queues break ties between equal
    /// keys differently, e.g. two professionals at the same rounded distance.)
    #[test]
    fn wide_costs_agree(instance in small_instance(30, 30, 0.06)) {
        let network = Network::build(&instance).unwrap();
        let narrow = crate::solver::solve_with::<i64>(&network).pair_used;
        let wide = crate::solver::solve_with::<i128>(&network).pair_used;
        let narrow = crate::assignment_of(&instance, &network, &narrow);
        let wide = crate::assignment_of(&instance, &network, &wide);
        check_feasible(&instance, &wide);
        prop_assert_eq!(narrow.objective, wide.objective);
    }
}

#[test]
fn weights_beyond_ortools_range_are_refused() {
    let instance = Instance::from_json(
        r#"{"communities": [{"id": "a", "lon": 0, "lat": 0, "demand": 1}],
            "professionals": [{"id": "p", "lon": 0, "lat": 0, "capacity": 1, "profession": "planner"}],
            "max_distance_km": 1}"#,
    )
    .unwrap();
    let mut network = Network::build(&instance).unwrap();
    assert!(network.flow_problem().is_ok());
    network.weights.w1 = i128::from(i64::MAX) / 8;
    let err = network.flow_problem().unwrap_err();
    assert!(err.contains("exceeds OR-Tools' limit"), "{err}");
}

/// Found by the brute-force property with W2 < W3: more pairs (5) but fewer professions (3) must
/// lose to 4 pairs covering 4 professions.
#[test]
fn professions_beat_pair_count() {
    let c = |id: &str, lon: f64, lat: f64, demand: i64| CommunityInput {
        id: id.into(),
        lon,
        lat,
        demand,
        region: None,
        existing_professions: Vec::new(),
    };
    let p = |id: &str, lon: f64, lat: f64, capacity: i64, profession: &str| ProfessionalInput {
        id: id.into(),
        lon,
        lat,
        capacity,
        profession: profession.into(),
        service_regions: None,
    };
    let instance = Instance {
        communities: vec![
            c("c0", 106.5, 29.514141642947678, 1),
            c("c1", 106.51451343526836, 29.513575375964432, 2),
            c("c2", 106.50633646334808, 29.520661616028825, 2),
        ],
        professionals: vec![
            p("p0", 106.5, 29.51399304398052, 2, "architect"),
            p("p1", 106.52900683832165, 29.520269862410096, 1, "engineer"),
            p("p2", 106.5, 29.5253748619376, 1, "architect"),
            p("p3", 106.52776096750301, 29.5, 1, "engineer"),
        ],
        max_distance_km: 2.0,
    };
    let assignment = solve(&instance).unwrap();
    check_feasible(&instance, &assignment);
    let expected = Objective {
        covered: 3,
        covered_professions: 4,
        assigned: 4,
        total_distance_m: 3817,
    };
    assert_eq!(assignment.objective, expected);
    assert_eq!(brute_force(&instance), expected);
}

fn community_with(id: &str, lon: f64, demand: i64, existing: &[&str]) -> CommunityInput {
    CommunityInput {
        id: id.into(),
        lon,
        lat: 30.0,
        demand,
        region: None,
        existing_professions: existing.iter().map(|f| f.to_string()).collect(),
    }
}

fn professional_at(id: &str, lon: f64, profession: &str) -> ProfessionalInput {
    ProfessionalInput {
        id: id.into(),
        lon,
        lat: 30.0,
        capacity: 1,
        profession: profession.into(),
        service_regions: None,
    }
}

/// Solves, checks against brute force and returns the (community, professional) ids.
fn solve_names(instance: &Instance) -> (Objective, Vec<(String, String)>) {
    let assignment = solve(instance).unwrap();
    check_feasible(instance, &assignment);
    assert_eq!(assignment.objective, brute_force(instance));
    let names = assignment
        .pairs
        .iter()
        .map(|x| {
            (
                instance.communities[x.community].id.clone(),
                instance.professionals[x.professional].id.clone(),
            )
        })
        .collect();
    (assignment.objective, names)
}

fn pairs(names: &[(&str, &str)]) -> Vec<(String, String)> {
    names.iter().map(|&(c, p)| (c.to_string(), p.to_string())).collect()
}

/// A community that already has a planner is covered: the only planner goes to the uncovered
/// community although it is three times as far (0.01° of longitude at 30°N ≈ 963 m).
#[test]
fn existing_coverage_sends_the_professional_to_the_uncovered_community() {
    let instance = Instance {
        communities: vec![
            community_with("has-planner", 106.00, 1, &["planner"]),
            community_with("uncovered", 106.02, 1, &[]),
        ],
        professionals: vec![professional_at("planner", 106.005, "planner")],
        max_distance_km: 3.0,
    };
    let (objective, names) = solve_names(&instance);
    assert_eq!(names, pairs(&[("uncovered", "planner")]));
    assert_eq!(
        (objective.covered, objective.covered_professions, objective.assigned),
        (2, 2, 1)
    );
    // Without existing coverage the nearer community wins.
    let mut fresh = instance.clone();
    fresh.communities[0].existing_professions.clear();
    assert_eq!(solve_names(&fresh).1, pairs(&[("has-planner", "planner")]));
}

/// Both communities are covered before the batch; a planner adds a (community, profession) pair
/// only where there is no planner yet.
#[test]
fn existing_professions_count_at_level_two() {
    // The planner goes to the farther community, the one without a planner.
    let instance = Instance {
        communities: vec![
            community_with("has-planner", 106.00, 1, &["planner"]),
            community_with("has-engineer", 106.02, 1, &["engineer"]),
        ],
        professionals: vec![professional_at("planner", 106.005, "planner")],
        max_distance_km: 3.0,
    };
    let (objective, names) = solve_names(&instance);
    assert_eq!(names, pairs(&[("has-engineer", "planner")]));
    assert_eq!(
        (objective.covered, objective.covered_professions, objective.assigned),
        (2, 3, 1)
    );

    // The nearer community has an engineer but no planner, the farther one a planner; an engineer
    // who only reaches the nearer one also joins it. Counting only the batch, the engineer would
    // cover the nearer community and the planner would be sent to cover the farther one; with the
    // existing professions both communities are covered already and the planner gains a pair only
    // at the nearer one.
    let instance = Instance {
        communities: vec![
            community_with("has-engineer", 106.00, 2, &["engineer"]),
            community_with("has-planner", 106.02, 2, &["planner"]),
        ],
        professionals: vec![
            professional_at("planner", 106.005, "planner"),
            professional_at("engineer", 105.99, "engineer"),
        ],
        max_distance_km: 2.0,
    };
    let (objective, names) = solve_names(&instance);
    assert_eq!(
        names,
        pairs(&[("has-engineer", "planner"), ("has-engineer", "engineer")])
    );
    assert_eq!(
        (objective.covered, objective.covered_professions, objective.assigned),
        (2, 3, 2)
    );
    let mut fresh = instance.clone();
    for c in &mut fresh.communities {
        c.existing_professions.clear();
    }
    assert_eq!(
        solve_names(&fresh).1,
        pairs(&[("has-engineer", "engineer"), ("has-planner", "planner")])
    );
}

/// Existing coverage also counts for communities outside the network (no eligible pair, zero
/// demand) and for professions no professional of the batch has.
#[test]
fn existing_coverage_outside_the_network_is_counted() {
    let instance = Instance {
        communities: vec![
            community_with("a", 106.00, 1, &["surveyor", "planner"]),
            community_with("full", 106.00, 0, &["architect"]),
            community_with("far", 108.00, 1, &["engineer"]),
            community_with("b", 106.01, 1, &[]),
        ],
        professionals: vec![professional_at("planner", 106.00, "planner")],
        max_distance_km: 3.0,
    };
    let network = Network::build(&instance).unwrap();
    assert_eq!(
        network.existing,
        Objective {
            covered: 3,
            covered_professions: 4,
            assigned: 0,
            total_distance_m: 0
        }
    );
    let (objective, names) = solve_names(&instance);
    assert_eq!(names, pairs(&[("b", "planner")]));
    assert_eq!((objective.covered, objective.covered_professions), (4, 5));
    let assignment = crate::solve_network(&instance, &network);
    assert!(!has_negative_cycle(&network, &assignment));
}
