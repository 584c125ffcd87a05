//! The flow network of an instance: eligible pairs found with the grid index, community ×
//! profession nodes, connected components and the lexicographic weights derived from them.

use std::collections::HashMap;

use crate::Objective;
use crate::geo::GridIndex;
use crate::instance::{Instance, InvalidInstance};

/// The weights that turn the lexicographic objective into one min-cost-flow cost (see the crate
/// documentation for the proof that they are large enough).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights {
    /// Bonus per newly covered community (level 1).
    pub w1: i128,
    /// Bonus per newly covered (community, profession) pair (level 2).
    pub w2: i128,
    /// Bonus per assigned professional (level 3).
    pub w3: i128,
    /// Largest |Δ level 2| along a simple residual cycle, over all components.
    pub b2: i128,
    /// Largest |Δ total metres| along a simple residual cycle, over all components.
    pub b4: i128,
}

impl Weights {
    /// W3 = B4 + 1, W2 = 2·B4 + 2, W1 = W2·(B2 + 1).
    fn from_bounds(b2: i128, b4: i128) -> Weights {
        let w3 = b4 + 1;
        let w2 = 2 * b4 + 2;
        let w1 = w2 * (b2 + 1);
        Weights { w1, w2, w3, b2, b4 }
    }

    /// The largest arc cost magnitude of the network: the first unit S → c of a community not yet
    /// covered costs −(W1 + W3).
    pub fn max_cost(&self) -> i128 {
        self.w1 + self.w3
    }

    /// Whether OR-Tools' `SimpleMinCostFlow` accepts these costs on a graph of `num_nodes` nodes:
    /// it multiplies every cost by `num_nodes + 1` and rejects (`BAD_COST_RANGE`) any cost above
    /// `i64::MAX / (2 · (num_nodes + 1))`.
    pub fn fit_ortools(&self, num_nodes: usize) -> Result<(), String> {
        let bound = i128::from(i64::MAX) / (2 * (num_nodes as i128 + 1));
        if self.max_cost() <= bound {
            Ok(())
        } else {
            Err(format!(
                "largest arc cost {} exceeds OR-Tools' limit {} for {} nodes (i64::MAX / (2·(n+1))): \
                 the largest component is too big for a single int64 weighting (B2 = {}, B4 = {} m)",
                self.max_cost(),
                bound,
                num_nodes,
                self.b2,
                self.b4
            ))
        }
    }
}

/// Sizes of the connected components of the eligibility graph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentStats {
    /// Number of components (each with at least one eligible pair).
    pub count: usize,
    /// Communities in the largest component (by community count).
    pub largest_communities: usize,
    /// Professionals in that component.
    pub largest_professionals: usize,
    /// Eligible pairs in that component.
    pub largest_pairs: usize,
}

/// The flow network. Only communities with demand > 0 and at least one eligible pair, and
/// professionals with capacity > 0 and at least one eligible pair, take part; demands and
/// capacities are clamped to their pair counts (which never binds an assignment).
#[derive(Debug, Clone)]
pub struct Network {
    /// Index into `Instance::communities` of each network community.
    pub(crate) comm_orig: Vec<u32>,
    /// Effective demand (1..=pairs of the community).
    pub(crate) comm_demand: Vec<u32>,
    /// Whether the community is covered before the batch (it has an existing profession): its
    /// first unit earns no W1.
    pub(crate) comm_covered: Vec<bool>,
    /// `comm_cf[c]..comm_cf[c + 1]`: the community × profession nodes of community `c`.
    pub(crate) comm_cf: Vec<u32>,
    /// The community of each community × profession node.
    pub(crate) cf_comm: Vec<u32>,
    /// Capacity of the arc c → cf: min(demand, pairs of cf).
    pub(crate) cf_cap: Vec<u32>,
    /// Whether the profession already serves the community before the batch: its first unit
    /// earns no W2.
    pub(crate) cf_covered: Vec<bool>,
    /// `cf_pair[j]..cf_pair[j + 1]`: the pairs of node `j`.
    pub(crate) cf_pair: Vec<u32>,
    /// The community × profession node of each pair.
    pub(crate) pair_cf: Vec<u32>,
    /// The network professional of each pair.
    pub(crate) pair_prof: Vec<u32>,
    /// Haversine distance of each pair rounded to the nearest metre: the arc cost.
    pub(crate) pair_dist: Vec<u32>,
    /// Index into `Instance::professionals` of each network professional.
    pub(crate) prof_orig: Vec<u32>,
    /// Effective capacity (1..=pairs of the professional).
    pub(crate) prof_cap: Vec<u32>,
    /// The lexicographic weights.
    pub weights: Weights,
    /// Component sizes (for reports).
    pub components: ComponentStats,
    /// The coverage before the batch: the objective of the empty assignment
    /// (`Objective::of(instance, &[])`), levels 3 and 4 zero.
    pub existing: Objective,
}

/// The most eligible pairs a network may have (indices are `u32`; about 20 bytes each).
pub const MAX_PAIRS: usize = (u32::MAX / 2) as usize;

/// Distance in metres from kilometres, rounded to the nearest metre (ties away from zero).
pub fn metres(distance_km: f64) -> u32 {
    // Callers pass distances ≤ half the Earth's circumference (≈ 2.0e7 m), far below u32::MAX.
    (distance_km * 1000.0).round() as u32
}

impl Network {
    /// Builds the network of a valid instance (validates it first).
    pub fn build(instance: &Instance) -> Result<Network, InvalidInstance> {
        instance.validate()?;
        let pros = &instance.professionals;
        // Professionals that can take anyone, indexed by the grid.
        let active: Vec<u32> = (0..pros.len() as u32)
            .filter(|&k| pros[k as usize].capacity > 0)
            .collect();
        let positions: Vec<(f64, f64)> = active
            .iter()
            .map(|&k| (pros[k as usize].lon, pros[k as usize].lat))
            .collect();
        let grid = GridIndex::new(&positions, instance.max_distance_km).ok_or_else(|| {
            // validate() already rejected what GridIndex refuses; kept as an error, not a panic.
            InvalidInstance::Problems(vec![crate::instance::Problem {
                path: String::new(),
                message: "positions or max_distance_km out of range".into(),
            }])
        })?;
        // Professions as small integers, numbered in order of first appearance.
        let mut profession_ids: HashMap<&str, u32> = HashMap::new();
        let active_profession: Vec<u32> = active
            .iter()
            .map(|&k| {
                let next = profession_ids.len() as u32;
                *profession_ids
                    .entry(pros[k as usize].profession.as_str())
                    .or_insert(next)
            })
            .collect();

        // Eligible pairs per community, grouped by profession.
        let mut comm_orig = Vec::new();
        let mut comm_demand = Vec::new();
        let mut comm_covered = Vec::new();
        let mut comm_cf = vec![0u32];
        let mut cf_comm = Vec::new();
        let mut cf_cap = Vec::new();
        let mut cf_covered = Vec::new();
        let mut existing_ids: Vec<u32> = Vec::new();
        let mut cf_pair = vec![0u32];
        let mut pair_active: Vec<u32> = Vec::new();
        let mut pair_dist: Vec<u32> = Vec::new();
        let mut found: Vec<(u32, u32, u32)> = Vec::new();
        for i in spatial_order(instance) {
            let community = &instance.communities[i];
            if community.demand <= 0 {
                continue;
            }
            found.clear();
            grid.for_each_within(community.lon, community.lat, |a, d_km| {
                let pro = &pros[active[a] as usize];
                if eligible_region(community.region.as_deref(), pro.service_regions.as_deref()) {
                    found.push((active_profession[a], metres(d_km), a as u32));
                }
            });
            if found.is_empty() {
                continue;
            }
            if pair_active.len() + found.len() > MAX_PAIRS {
                return Err(InvalidInstance::Problems(vec![crate::instance::Problem {
                    path: "max_distance_km".into(),
                    message: format!("more than {MAX_PAIRS} eligible pairs: too many (use a smaller distance)"),
                }]));
            }
            found.sort_unstable();
            let c = comm_orig.len() as u32;
            comm_orig.push(i as u32);
            comm_demand.push(clamp_u32(community.demand, found.len()));
            comm_covered.push(!community.existing_professions.is_empty());
            // Existing professions that no professional of the batch has get no node.
            existing_ids.clear();
            existing_ids.extend(
                community
                    .existing_professions
                    .iter()
                    .filter_map(|f| profession_ids.get(f.as_str()).copied()),
            );
            let mut start = 0;
            while start < found.len() {
                let profession = found[start].0;
                let end = start + found[start..].iter().take_while(|f| f.0 == profession).count();
                cf_comm.push(c);
                cf_cap.push(clamp_u32(community.demand, end - start));
                cf_covered.push(existing_ids.contains(&profession));
                for &(_, dist, a) in &found[start..end] {
                    pair_active.push(a);
                    pair_dist.push(dist);
                }
                cf_pair.push(pair_active.len() as u32);
                start = end;
            }
            comm_cf.push(cf_comm.len() as u32);
        }
        // Professionals with at least one pair, renumbered.
        let mut pairs_of_active = vec![0u32; active.len()];
        for &a in &pair_active {
            pairs_of_active[a as usize] += 1;
        }
        // Numbered in order of first appearance, so that neighbours in space are neighbours in
        // memory (communities are visited in Z-order), which keeps searches cache-friendly.
        let mut renumber = vec![u32::MAX; active.len()];
        let mut prof_orig = Vec::new();
        let mut prof_cap = Vec::new();
        for &a in &pair_active {
            let a = a as usize;
            if renumber[a] == u32::MAX {
                renumber[a] = prof_orig.len() as u32;
                prof_orig.push(active[a]);
                prof_cap.push(clamp_u32(
                    pros[active[a] as usize].capacity,
                    pairs_of_active[a] as usize,
                ));
            }
        }
        let pair_prof: Vec<u32> = pair_active.iter().map(|&a| renumber[a as usize]).collect();
        let mut pair_cf = vec![0u32; pair_prof.len()];
        for j in 0..cf_comm.len() {
            for pair in cf_pair[j]..cf_pair[j + 1] {
                pair_cf[pair as usize] = j as u32;
            }
        }

        let mut network = Network {
            comm_orig,
            comm_demand,
            comm_covered,
            comm_cf,
            cf_comm,
            cf_cap,
            cf_covered,
            cf_pair,
            pair_cf,
            pair_prof,
            pair_dist,
            prof_orig,
            prof_cap,
            weights: Weights::from_bounds(0, 0),
            components: ComponentStats::default(),
            existing: Objective::of(instance, &[]),
        };
        let (weights, components) = network.derive_weights();
        network.weights = weights;
        network.components = components;
        Ok(network)
    }

    /// Number of communities in the network.
    pub fn num_communities(&self) -> usize {
        self.comm_orig.len()
    }

    /// Number of community × profession nodes.
    pub fn num_community_professions(&self) -> usize {
        self.cf_comm.len()
    }

    /// Number of professionals in the network.
    pub fn num_professionals(&self) -> usize {
        self.prof_orig.len()
    }

    /// Number of eligible (community, professional) pairs.
    pub fn num_pairs(&self) -> usize {
        self.pair_prof.len()
    }

    /// Components of the graph communities — pairs — professionals (union-find), their sizes,
    /// and the weights from the per-component cycle bounds B2 and B4 (maximum over components).
    fn derive_weights(&self) -> (Weights, ComponentStats) {
        let nc = self.num_communities();
        let np = self.num_professionals();
        let mut parent: Vec<u32> = (0..(nc + np) as u32).collect();
        fn find(parent: &mut [u32], mut x: u32) -> u32 {
            while parent[x as usize] != x {
                let up = parent[parent[x as usize] as usize];
                parent[x as usize] = up;
                x = up;
            }
            x
        }
        for pair in 0..self.num_pairs() {
            let c = self.cf_comm[self.pair_cf[pair] as usize];
            let p = nc as u32 + self.pair_prof[pair];
            let (a, b) = (find(&mut parent, c), find(&mut parent, p));
            if a != b {
                parent[a.max(b) as usize] = a.min(b);
            }
        }
        #[derive(Default, Clone, Copy)]
        struct Acc {
            communities: u64,
            professionals: u64,
            cfs: u64,
            pairs: u64,
            max_dist: u64,
            sum_dist: u64,
        }
        let mut acc = vec![Acc::default(); nc + np];
        for c in 0..nc {
            let root = find(&mut parent, c as u32) as usize;
            acc[root].communities += 1;
            acc[root].cfs += u64::from(self.comm_cf[c + 1] - self.comm_cf[c]);
        }
        for p in 0..np {
            let root = find(&mut parent, (nc + p) as u32) as usize;
            acc[root].professionals += 1;
        }
        for pair in 0..self.num_pairs() {
            let c = self.cf_comm[self.pair_cf[pair] as usize];
            let root = find(&mut parent, c) as usize;
            let d = u64::from(self.pair_dist[pair]);
            acc[root].pairs += 1;
            acc[root].max_dist = acc[root].max_dist.max(d);
            acc[root].sum_dist += d;
        }
        let (mut b2, mut b4) = (0i128, 0i128);
        let mut stats = ComponentStats::default();
        for a in acc.iter().filter(|a| a.communities > 0) {
            stats.count += 1;
            if a.communities as usize > stats.largest_communities {
                stats.largest_communities = a.communities as usize;
                stats.largest_professionals = a.professionals as usize;
                stats.largest_pairs = a.pairs as usize;
            }
            // A simple cycle changes level 2 by at most 1 per community × profession node on it,
            // and passes at most 2 of them per community.
            b2 = b2.max(i128::from(a.cfs.min(2 * a.communities)));
            // ... and uses each pair arc at most once, at most 2 per professional and per
            // community × profession node on it.
            let by_count = 2 * i128::from(a.professionals.min(a.cfs)) * i128::from(a.max_dist);
            b4 = b4.max(by_count.min(i128::from(a.sum_dist)));
        }
        (Weights::from_bounds(b2, b4), stats)
    }

    /// The cost of the network flow of an assignment with objective `objective`:
    /// −W1·(L1 − E1) − W2·(L2 − E2) − W3·L3 + L4, where E1 and E2 are the coverage before the
    /// batch ([`Network::existing`]), which no arc earns. This is what a min-cost-flow solver
    /// reports as the optimal cost of [`Network::flow_problem`].
    pub fn flow_cost(&self, objective: &Objective) -> i128 {
        objective.weighted_cost(&self.weights) - self.existing.weighted_cost(&self.weights)
    }

    /// The network as a plain min-cost-flow problem (for other solvers, e.g. OR-Tools'
    /// `SimpleMinCostFlow`): node 0 is the source S, node 1 the sink T, then communities,
    /// community × profession nodes and professionals. S supplies U = Σ effective demand, T
    /// takes U; a bypass arc S → T (cost 0) lets any amount of it through unassigned. Arc kinds
    /// are [`ArcKind`]; a community covered before the batch has no [`ArcKind::FirstUnit`] arc and
    /// a profession already serving its community no [`ArcKind::FirstOfProfession`] arc, so the
    /// levels of a flow are L1 = E1 + flow on `FirstUnit` arcs, L2 = E2 + flow on
    /// `FirstOfProfession` arcs (E1, E2 from [`Network::existing`]), L3 and L4 from the `Pair`
    /// arcs, and its cost is [`Network::flow_cost`]. Fails if a cost does not fit OR-Tools' range
    /// (see [`Weights::fit_ortools`]).
    pub fn flow_problem(&self) -> Result<FlowProblem, String> {
        let nc = self.num_communities();
        let ncf = self.num_community_professions();
        let num_nodes = 2 + nc + ncf + self.num_professionals();
        self.weights.fit_ortools(num_nodes)?;
        let w = self.weights;
        // fit_ortools bounds every cost far below i64::MAX.
        let (w1w3, w2, w3) = ((w.w1 + w.w3) as i64, w.w2 as i64, w.w3 as i64);
        let comm_node = |c: usize| (2 + c) as i32;
        let cf_node = |j: usize| (2 + nc + j) as i32;
        let prof_node = |k: usize| (2 + nc + ncf + k) as i32;
        let mut problem = FlowProblem {
            num_nodes,
            ..FlowProblem::default()
        };
        let mut arc = |kind: ArcKind, tail: i32, head: i32, capacity: i64, cost: i64| {
            problem.tails.push(tail);
            problem.heads.push(head);
            problem.capacities.push(capacity);
            problem.costs.push(cost);
            problem.kinds.push(kind as u8);
        };
        let mut supply = 0i64;
        for c in 0..nc {
            let demand = i64::from(self.comm_demand[c]);
            supply += demand;
            if self.comm_covered[c] {
                // Already covered: every unit earns W3 only (one arc, so that flows are unique).
                arc(ArcKind::FurtherUnits, 0, comm_node(c), demand, -w3);
                continue;
            }
            arc(ArcKind::FirstUnit, 0, comm_node(c), 1, -w1w3);
            if demand > 1 {
                arc(ArcKind::FurtherUnits, 0, comm_node(c), demand - 1, -w3);
            }
        }
        for j in 0..ncf {
            let c = self.cf_comm[j] as usize;
            if self.cf_covered[j] {
                // The profession already serves c: no W2 to earn.
                arc(
                    ArcKind::FurtherOfProfession,
                    comm_node(c),
                    cf_node(j),
                    i64::from(self.cf_cap[j]),
                    0,
                );
                continue;
            }
            arc(ArcKind::FirstOfProfession, comm_node(c), cf_node(j), 1, -w2);
            if self.cf_cap[j] > 1 {
                arc(
                    ArcKind::FurtherOfProfession,
                    comm_node(c),
                    cf_node(j),
                    i64::from(self.cf_cap[j]) - 1,
                    0,
                );
            }
        }
        for pair in 0..self.num_pairs() {
            let (j, k) = (self.pair_cf[pair] as usize, self.pair_prof[pair] as usize);
            arc(
                ArcKind::Pair,
                cf_node(j),
                prof_node(k),
                1,
                i64::from(self.pair_dist[pair]),
            );
        }
        for k in 0..self.num_professionals() {
            arc(ArcKind::Professional, prof_node(k), 1, i64::from(self.prof_cap[k]), 0);
        }
        arc(ArcKind::Bypass, 0, 1, supply, 0);
        problem.source_supply = supply;
        Ok(problem)
    }
}

/// What an arc of [`FlowProblem`] stands for; its flow gives the objective levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ArcKind {
    /// S → c, capacity 1, cost −(W1 + W3), only for a community not covered before the batch:
    /// flow = community newly covered (level 1).
    FirstUnit = 0,
    /// S → c, cost −W3: capacity demand − 1 after a `FirstUnit` arc, or demand for a community
    /// covered before the batch.
    FurtherUnits = 1,
    /// c → (c, f), capacity 1, cost −W2, only if f does not serve c before the batch: flow =
    /// profession newly covered there (level 2).
    FirstOfProfession = 2,
    /// c → (c, f), cost 0: the remaining capacity after a `FirstOfProfession` arc, or all of it
    /// if f serves c before the batch.
    FurtherOfProfession = 3,
    /// (c, f) → p, capacity 1, cost = metres: flow = pair assigned (levels 3 and 4).
    Pair = 4,
    /// p → T, capacity = capacity, cost 0.
    Professional = 5,
    /// S → T, capacity U, cost 0: the unassigned rest.
    Bypass = 6,
}

/// A min-cost-flow problem in arrays (see [`Network::flow_problem`]).
#[derive(Debug, Clone, Default)]
pub struct FlowProblem {
    pub num_nodes: usize,
    pub tails: Vec<i32>,
    pub heads: Vec<i32>,
    pub capacities: Vec<i64>,
    pub costs: Vec<i64>,
    pub kinds: Vec<u8>,
    /// Supply of node 0; node 1 has the opposite, every other node 0.
    pub source_supply: i64,
}

/// Community indices in Z-order (Morton order) of their position quantised to about the maximum
/// distance, so that communities near each other are handled and stored near each other.
fn spatial_order(instance: &Instance) -> Vec<usize> {
    let cell = (instance.max_distance_km / 111.0).clamp(0.001, 180.0);
    let spread = |v: f64| -> u64 {
        // Quantised coordinate (< 2^32 for cell ≥ 0.001°), bits spread to the even positions.
        let mut x = (v / cell).max(0.0).min(u32::MAX as f64) as u64;
        x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
        x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
        x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
        x = (x | (x << 2)) & 0x3333_3333_3333_3333;
        (x | (x << 1)) & 0x5555_5555_5555_5555
    };
    let mut order: Vec<(u64, usize)> = instance
        .communities
        .iter()
        .enumerate()
        .map(|(i, c)| (spread(c.lon + 180.0) | (spread(c.lat + 90.0) << 1), i))
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, i)| i).collect()
}

/// Whether a professional with `service_regions` may serve a community in `region`: always when
/// either is absent, else when a service region is a prefix of the community's code.
pub fn eligible_region(region: Option<&str>, service_regions: Option<&[String]>) -> bool {
    match (region, service_regions) {
        (Some(region), Some(served)) => served.iter().any(|s| region.starts_with(s.as_str())),
        _ => true,
    }
}

fn clamp_u32(value: i64, at_most: usize) -> u32 {
    // `at_most` counts pairs, which fit u32 (checked or bounded by the instance size).
    value.clamp(0, at_most.min(u32::MAX as usize) as i64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::{CommunityInput, ProfessionalInput};

    fn community(id: &str, lon: f64, demand: i64, region: Option<&str>) -> CommunityInput {
        CommunityInput {
            id: id.into(),
            lon,
            lat: 30.0,
            demand,
            region: region.map(Into::into),
            existing_professions: Vec::new(),
        }
    }

    fn professional(id: &str, lon: f64, capacity: i64, profession: &str, served: Option<&[&str]>) -> ProfessionalInput {
        ProfessionalInput {
            id: id.into(),
            lon,
            lat: 30.0,
            capacity,
            profession: profession.into(),
            service_regions: served.map(|s| s.iter().map(|r| r.to_string()).collect()),
        }
    }

    #[test]
    fn regions_restrict_by_code_prefix() {
        let served = vec!["5001".to_string(), "500233".to_string()];
        assert!(eligible_region(Some("500103003013"), Some(&served)));
        assert!(eligible_region(Some("500233100200"), Some(&served)));
        assert!(!eligible_region(Some("500235100200"), Some(&served)));
        assert!(eligible_region(None, Some(&served)));
        assert!(eligible_region(Some("500235100200"), None));
    }

    #[test]
    fn builds_pairs_nodes_and_weights() {
        // 0.01° of longitude at 30°N is about 963 m.
        let instance = Instance {
            communities: vec![
                community("a", 106.00, 2, Some("500103001001")),
                community("b", 106.01, 1, Some("500104001001")),
                community("none", 106.00, 0, None),
                community("far", 107.00, 1, None),
            ],
            professionals: vec![
                professional("p", 106.00, 3, "planner", None),
                professional("q", 106.005, 1, "engineer", Some(&["500103"])),
                professional("r", 106.01, 2, "planner", None),
                professional("zero", 106.00, 0, "planner", None),
            ],
            max_distance_km: 1.5,
        };
        let net = Network::build(&instance).unwrap();
        // a: p (0 m), r (963 m), q (482 m); b: p (963 m), r (0 m); q serves 500103 only.
        assert_eq!(net.comm_orig, vec![0, 1]);
        assert_eq!(net.comm_demand, vec![2, 1]);
        assert_eq!(net.num_community_professions(), 3);
        assert_eq!(net.cf_cap, vec![2, 1, 1]);
        assert_eq!(net.num_pairs(), 5);
        // Numbered in order of first appearance: a's planners p, r, then its engineer q.
        assert_eq!(net.prof_orig, vec![0, 2, 1]);
        assert_eq!(net.prof_cap, vec![2, 2, 1]);
        let d = metres(crate::geo::haversine_km(106.0, 30.0, 106.01, 30.0));
        assert_eq!(&net.pair_dist[..2], &[0, d]);
        assert_eq!(net.components.count, 1);
        assert_eq!(net.components.largest_communities, 2);
        // B2 = min(3 cf nodes, 2·2 communities) = 3; B4 = min(2·min(3, 3)·d, Σ d).
        let sum: i128 = net.pair_dist.iter().map(|&d| i128::from(d)).sum();
        assert_eq!(net.weights.b2, 3);
        assert_eq!(net.weights.b4, (6 * i128::from(d)).min(sum));
        let w = net.weights;
        assert_eq!((w.w3, w.w2, w.w1), (w.b4 + 1, 2 * w.b4 + 2, (2 * w.b4 + 2) * 4));

        let problem = net.flow_problem().unwrap();
        assert_eq!(problem.num_nodes, 2 + 2 + 3 + 3);
        assert_eq!(problem.source_supply, 3);
        // 2 first units, 1 further unit, 3 first-of-profession, 1 further, 5 pairs, 3 pros, bypass.
        assert_eq!(problem.tails.len(), 2 + 1 + 3 + 1 + 5 + 3 + 1);
    }

    #[test]
    fn existing_coverage_removes_bonus_arcs() {
        let mut a = community("a", 106.00, 2, None);
        a.existing_professions = vec!["engineer".into(), "surveyor".into()];
        let mut b = community("b", 106.01, 1, None);
        b.existing_professions = vec!["planner".into()];
        let instance = Instance {
            communities: vec![a, b, community("c", 106.02, 2, None)],
            professionals: vec![
                professional("p", 106.00, 3, "planner", None),
                professional("q", 106.005, 1, "engineer", None),
            ],
            max_distance_km: 1.5,
        };
        let net = Network::build(&instance).unwrap();
        // Z-order happens to keep the input order here.
        assert_eq!(net.comm_orig, vec![0, 1, 2]);
        assert_eq!(net.comm_covered, vec![true, true, false]);
        // a: planner, engineer; b: planner, engineer; c: engineer (p is 1.93 km away: only q, so
        // c's demand is clamped to 1).
        let professions: Vec<&str> = (0..net.num_community_professions())
            .map(|j| {
                let pair = net.cf_pair[j] as usize;
                instance.professionals[net.prof_orig[net.pair_prof[pair] as usize] as usize]
                    .profession
                    .as_str()
            })
            .collect();
        assert_eq!(
            professions,
            vec!["planner", "engineer", "planner", "engineer", "engineer"]
        );
        assert_eq!(net.cf_covered, vec![false, true, true, false, false]);
        // Surveyor has no node but counts before the batch.
        assert_eq!(
            net.existing,
            Objective {
                covered: 2,
                covered_professions: 3,
                assigned: 0,
                total_distance_m: 0
            }
        );

        let problem = net.flow_problem().unwrap();
        let w = net.weights;
        let arcs = |kind: ArcKind| -> Vec<(i32, i32, i64, i64)> {
            (0..problem.kinds.len())
                .filter(|&a| problem.kinds[a] == kind as u8)
                .map(|a| {
                    (
                        problem.tails[a],
                        problem.heads[a],
                        problem.capacities[a],
                        problem.costs[a],
                    )
                })
                .collect()
        };
        let (w1w3, w2, w3) = ((w.w1 + w.w3) as i64, w.w2 as i64, w.w3 as i64);
        // Covered communities a (node 2) and b (3) have one S → c arc of cost −W3 for every unit.
        assert_eq!(arcs(ArcKind::FirstUnit), vec![(0, 4, 1, -w1w3)]);
        assert_eq!(arcs(ArcKind::FurtherUnits), vec![(0, 2, 2, -w3), (0, 3, 1, -w3)]);
        // cf nodes 5..=9; (a, engineer) = 6 and (b, planner) = 7 earn no W2.
        assert_eq!(
            arcs(ArcKind::FirstOfProfession),
            vec![(2, 5, 1, -w2), (3, 8, 1, -w2), (4, 9, 1, -w2)]
        );
        assert_eq!(arcs(ArcKind::FurtherOfProfession), vec![(2, 6, 1, 0), (3, 7, 1, 0)]);
        // The flow cost leaves out what existed before the batch.
        let objective = Objective {
            covered: 3,
            covered_professions: 5,
            assigned: 3,
            total_distance_m: 1000,
        };
        assert_eq!(net.flow_cost(&objective), -w.w1 - 2 * w.w2 - 3 * w.w3 + 1000);
    }

    #[test]
    fn ortools_range_is_checked() {
        let w = Weights::from_bounds(100_000_000, 10_000_000_000);
        assert!(w.fit_ortools(10).is_err());
        let w = Weights::from_bounds(10, 1000);
        assert!(w.fit_ortools(1_000_000).is_ok());
    }
}
