//! Exact optimal batch assignment of professionals (planners, architects, engineers, …) to
//! residential communities.
//!
//! # The problem
//!
//! An [`Instance`] has communities (position, `demand` ≥ 0, optional division code `region`,
//! optional `existing_professions`), professionals (position, `capacity` ≥ 0, `profession`,
//! optional `service_regions`) and `max_distance_km`. `existing_professions` are the professions
//! already serving the community before the batch (its active or pending matches); `demand` is
//! how many more professionals the batch may give it. A (community, professional) pair is
//! **eligible** iff
//!
//! - their haversine distance ([`geo::haversine_km`], mean Earth radius 6371.0088 km) is at most
//!   `max_distance_km`, and
//! - if the community has a `region` and the professional has `service_regions`, one of the
//!   service regions is a prefix of the community's code (division codes nest by prefix:
//!   50 → 5001 → 500103 → 500103003 → 500103003013).
//!
//! An **assignment** is a set of eligible pairs in which every community appears at most
//! `demand` times and every professional at most `capacity` times (so a pair is used at most
//! once).
//!
//! # The objective
//!
//! [`solve`] returns an assignment that is optimal for this lexicographic objective, level by
//! level ([`Objective`]). Levels 1 and 2 count the coverage **after** the batch, existing
//! professions and assigned pairs together; levels 3 and 4 count the batch only:
//!
//! 1. maximise the number of communities with an existing profession or at least one assigned
//!    professional (`covered`): a community that already has a professional is covered and does
//!    not compete with uncovered ones;
//! 2. maximise the number of distinct (community, profession) pairs among the existing
//!    professions and the assigned pairs (`covered_professions`): where possible each community
//!    gets one of each profession, and a profession it already has gains nothing here;
//! 3. maximise the number of assigned pairs (`assigned`);
//! 4. minimise the total distance in integer metres (`total_distance_m`): each pair's cost is
//!    its haversine distance rounded to the nearest metre ([`network::metres`]), and the total is
//!    the sum of those integers.
//!
//! With a single profession (among professionals and existing professions) level 2 equals
//! level 1; with demands of 1 as well the objective is
//! "maximal coverage, then minimal total distance". Ties beyond level 4 are broken
//! deterministically (the same input gives the same assignment), and pairs are returned sorted
//! by (community index, distance, professional index).
//!
//! # The network
//!
//! Source S, sink T, a node per community c, per (community, profession) f present among its
//! eligible pairs ("cf"), and per professional p:
//!
//! | arc | capacity | cost |
//! | --- | --- | --- |
//! | S → c, first unit | 1 | −(W1 + W3); −W3 if c has an existing profession |
//! | S → c, further units | demand − 1 | −W3 |
//! | c → (c, f), first unit | 1 | −W2; 0 if f is among c's existing professions |
//! | c → (c, f), further units | rest | 0 |
//! | (c, f) → p, per eligible pair | 1 | metres |
//! | p → T | capacity | 0 |
//!
//! plus a free amount of flow (a bypass S → T of cost 0 for solvers that need fixed supplies).
//! Parallel arcs have non-decreasing costs, so a min-cost flow fills the first unit first and
//! integral flows are exactly assignments with cost −W1·(L1 − E1) − W2·(L2 − E2) − W3·L3 + L4,
//! where E1 and E2 are levels 1 and 2 before the batch (communities with an existing profession,
//! existing (community, profession) pairs): a constant, as no arc earns the coverage that already
//! exists ([`Network::flow_cost`]). Demands and capacities are clamped to their pair counts and
//! communities or professionals with no pair or a zero demand or capacity are left out: neither
//! changes any assignment (existing coverage outside the network only adds to E1 and E2).
//!
//! # Why the weights make the weighted optimum the lexicographic optimum
//!
//! Merge S and T into one node R (the free flow amount; a bypass S → T of capacity at least the
//! largest flow value is equivalent). Let f be a flow of minimum weighted cost and g the flow of
//! any assignment (in the canonical form that fills first units first). g − f is
//! a circulation in f's residual graph and decomposes into simple cycles C₁, …, Cₖ, each inside
//! one connected component of the eligibility graph plus R (the part of g − f in one component
//! is a circulation by itself). The levels are linear in the arc flows, so
//! Δ(g − f) = Σ Δ(Cᵢ), and the lexicographic order is compatible with addition: if g were
//! lexicographically better, some Cᵢ would have a lexicographically positive Δ. It is then
//! enough that every simple cycle with a lexicographically positive Δ has negative weighted cost
//! (contradicting the optimality of f). On a simple cycle in component A:
//!
//! - R is visited at most once, so at most one arc leaves and one enters R: |ΔL1| ≤ 1 and
//!   |ΔL3| ≤ 1;
//! - each cf node contributes at most ±1 to L2 (through its two parallel arcs from c), and a
//!   community has only two cycle arcs: |ΔL2| ≤ B2(A) = min(#cf nodes, 2·#communities);
//! - every pair arc is used at most once and each professional and cf node has two cycle arcs:
//!   |ΔL4| ≤ B4(A) = min(2·min(#professionals, #cf nodes)·max pair metres, Σ pair metres).
//!
//! With B2 and B4 the maxima over components, W3 = B4 + 1, W2 = W3 + B4 + 1 = 2·B4 + 2 and
//! W1 = W2·B2 + W3 + B4 + 1 = W2·(B2 + 1), a lexicographically positive Δ has weighted gain
//! W1·ΔL1 + W2·ΔL2 + W3·ΔL3 − ΔL4 ≥ 1 in each case (ΔL1 ≥ 1: ≥ W1 − W2·B2 − W3 − B4;
//! ΔL1 = 0, ΔL2 ≥ 1: ≥ W2 − W3 − B4; ΔL1 = ΔL2 = 0, ΔL3 ≥ 1: ≥ W3 − B4; else ΔL4 < 0). Cycles
//! never leave a component, so the weights depend only on the largest component, not on the
//! instance's size; they are computed in `i128` ([`network::Weights`]).
//!
//! Existing coverage changes none of this. It only removes bonuses (a first unit S → c that
//! earns W3 only, a first unit c → (c, f) that earns nothing), so the levels earned on arcs are
//! L1 − E1 and L2 − E2: they differ from the true levels by constants, which neither the
//! lexicographic order nor any Δ sees, and an arc without a bonus adds nothing to ΔL1 or ΔL2, so
//! every bound above holds as stated with the same B2, B4 and weights.
//!
//! For OR-Tools' `SimpleMinCostFlow`, which multiplies costs by (nodes + 1) and refuses costs
//! above `i64::MAX / (2·(nodes + 1))`, [`network::Network::flow_problem`] checks the range and
//! fails loudly.
//!
//! # The algorithm
//!
//! Successive shortest paths with Dijkstra and node potentials, adding the S → c unit arcs one
//! at a time (first units of every community, then second units, …), Jonker–Volgenant style:
//! if f is optimal for the arcs offered so far, the optimum with one more unit arc S → x is f
//! or f plus the cheapest cycle S → x ⇝ R, i.e. a shortest path from x to R in f's residual
//! graph (the SSP theorem for one more unit of supply at x). R is never expanded, so every
//! search is a Dijkstra from x that only touches x's neighbourhood; it stops as soon as R is
//! settled or the distance reaches the bonus (no improving cycle), and settled potentials move
//! by d(v) − D so that reduced costs stay non-negative. Distances to R never decrease
//! (augmenting along a shortest path keeps them a feasible potential) and a community's bonuses
//! never increase from one unit to the next (W1 + W3 then W3, or W3 throughout if it is covered
//! before the batch), so a community whose unit was refused can be skipped for good. The initial
//! potentials are the exact distances to R at zero flow (through c → (c, f) at −W2, or 0 for an
//! existing profession), so each community's first search usually ends at its nearest
//! professional.
//!
//! Costs are `i64` when W1 + W3 ≤ i64::MAX / 64: potentials only decrease from at most W2 and stay
//! above −(W1 + W3 + W2·B2 + B4) ≥ −2·W1 because every node can reach R (zero-capacity
//! professionals and zero-demand communities are left out), so keys and reduced costs stay within
//! a few W1. Larger weights switch the same code to `i128`. With `i64` keys Dijkstra uses a radix
//! heap (keys are monotone); communities are visited in Z-order of their position and
//! professionals numbered in order of first appearance, so a search touches nearby memory.
//!
//! Community positions from division data are **synthetic** ([`geo::synthetic_position`]):
//! the sources have no coordinates below district level.

pub mod cli;
pub mod geo;
pub mod instance;
pub mod network;
mod solver;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

pub use geo::{GridIndex, haversine_km, haversine_m, synthetic_position};
pub use instance::{CommunityInput, Instance, InvalidInstance, Problem, ProfessionalInput};
pub use network::{Network, Weights};

/// The objective levels of an assignment (see the crate documentation). Levels 1 and 2 count
/// the coverage after the batch (existing professions and assigned pairs), levels 3 and 4 the
/// batch's pairs only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Objective {
    /// Communities with an existing profession or at least one assigned professional (maximised
    /// first).
    pub covered: u64,
    /// Distinct (community, profession) pairs among the existing professions and the assigned
    /// pairs (maximised second).
    pub covered_professions: u64,
    /// Assigned pairs (maximised third).
    pub assigned: u64,
    /// Sum of the pairs' distances, each rounded to the nearest metre (minimised last).
    pub total_distance_m: u64,
}

impl Objective {
    /// Lexicographic comparison: `Greater` means `self` is the better one.
    pub fn compare(&self, other: &Objective) -> Ordering {
        (self.covered, self.covered_professions, self.assigned)
            .cmp(&(other.covered, other.covered_professions, other.assigned))
            .then(other.total_distance_m.cmp(&self.total_distance_m))
    }

    /// The objective of `pairs` in `instance`, counting the communities' existing professions
    /// as covered. `Objective::of(instance, &[])` is the coverage before the batch.
    pub fn of(instance: &Instance, pairs: &[AssignedPair]) -> Objective {
        let existing = instance
            .communities
            .iter()
            .enumerate()
            .flat_map(|(c, community)| community.existing_professions.iter().map(move |f| (c, f.as_str())));
        let assigned = pairs
            .iter()
            .map(|p| (p.community, instance.professionals[p.professional].profession.as_str()));
        let mut professions: Vec<(usize, &str)> = existing.chain(assigned).collect();
        professions.sort_unstable();
        professions.dedup();
        // Every covered community has at least one entry, and they are sorted by community.
        let mut communities: Vec<usize> = professions.iter().map(|&(c, _)| c).collect();
        communities.dedup();
        Objective {
            covered: communities.len() as u64,
            covered_professions: professions.len() as u64,
            assigned: pairs.len() as u64,
            total_distance_m: pairs.iter().map(|p| u64::from(p.distance_m)).sum(),
        }
    }

    /// −W1·L1 − W2·L2 − W3·L3 + L4 under `weights`. With existing coverage this is the network
    /// flow's cost plus a constant: [`Network::flow_cost`] subtracts the coverage before the batch.
    pub fn weighted_cost(&self, weights: &Weights) -> i128 {
        -weights.w1 * i128::from(self.covered)
            - weights.w2 * i128::from(self.covered_professions)
            - weights.w3 * i128::from(self.assigned)
            + i128::from(self.total_distance_m)
    }
}

/// One assigned pair, by index into the instance's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssignedPair {
    pub community: usize,
    pub professional: usize,
    /// Haversine distance rounded to the nearest metre.
    pub distance_m: u32,
}

/// An optimal assignment and its objective.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Sorted by (community index, distance, professional index).
    pub pairs: Vec<AssignedPair>,
    pub objective: Objective,
}

/// Solves `instance` exactly (validating it first).
pub fn solve(instance: &Instance) -> Result<Assignment, InvalidInstance> {
    let network = Network::build(instance)?;
    Ok(solve_network(instance, &network))
}

/// Solves a network built from `instance` (for callers that time or reuse the build).
pub fn solve_network(instance: &Instance, network: &Network) -> Assignment {
    let flow = solver::solve_network(network);
    assignment_of(instance, network, &flow.pair_used)
}

/// The assignment of the network's pairs marked in `pair_used`, sorted, with its objective.
pub(crate) fn assignment_of(instance: &Instance, network: &Network, pair_used: &[bool]) -> Assignment {
    let mut pairs: Vec<AssignedPair> = pair_used
        .iter()
        .enumerate()
        .filter(|&(_, &used)| used)
        .map(|(pair, _)| {
            let cf = network.pair_cf[pair] as usize;
            AssignedPair {
                community: network.comm_orig[network.cf_comm[cf] as usize] as usize,
                professional: network.prof_orig[network.pair_prof[pair] as usize] as usize,
                distance_m: network.pair_dist[pair],
            }
        })
        .collect();
    pairs.sort_unstable_by_key(|p| (p.community, p.distance_m, p.professional));
    let objective = Objective::of(instance, &pairs);
    Assignment { pairs, objective }
}

/// The JSON form of a solution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Solution {
    pub pairs: Vec<SolutionPair>,
    /// [`Objective::covered`]: after the batch, existing professions included.
    pub covered: u64,
    /// [`Objective::covered_professions`]: after the batch, existing professions included.
    pub covered_professions: u64,
    /// The batch's pairs.
    pub assigned: u64,
    /// `total_distance_m / 1000`.
    pub total_distance_km: f64,
}

/// One pair of a [`Solution`], by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolutionPair {
    pub community: String,
    pub professional: String,
    /// The pair's rounded distance in metres / 1000.
    pub distance_km: f64,
}

impl Assignment {
    /// The JSON form, with ids from `instance` (the one it was solved from).
    pub fn to_solution(&self, instance: &Instance) -> Solution {
        Solution {
            pairs: self
                .pairs
                .iter()
                .map(|p| SolutionPair {
                    community: instance.communities[p.community].id.clone(),
                    professional: instance.professionals[p.professional].id.clone(),
                    distance_km: f64::from(p.distance_m) / 1000.0,
                })
                .collect(),
            covered: self.objective.covered,
            covered_professions: self.objective.covered_professions,
            assigned: self.objective.assigned,
            total_distance_km: self.objective.total_distance_m as f64 / 1000.0,
        }
    }
}
