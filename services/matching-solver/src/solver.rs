//! Successive shortest paths, one offered unit at a time (see the crate documentation).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Debug;
use std::ops::{Add, Neg, Sub};

use crate::network::Network;

/// An ordered additive cost type: `i64` when the weights are small enough, else `i128`.
pub(crate) trait Cost:
    Copy + Ord + Debug + Add<Output = Self> + Sub<Output = Self> + Neg<Output = Self>
{
    const ZERO: Self;
    /// Converts a value known to fit (the caller checks the weights' range first).
    fn from_i128(v: i128) -> Self;
    fn from_u32(v: u32) -> Self;
}

impl Cost for i64 {
    const ZERO: Self = 0;
    fn from_i128(v: i128) -> Self {
        v as i64
    }
    fn from_u32(v: u32) -> Self {
        i64::from(v)
    }
}

impl Cost for i128 {
    const ZERO: Self = 0;
    fn from_i128(v: i128) -> Self {
        v
    }
    fn from_u32(v: u32) -> Self {
        i128::from(v)
    }
}

/// The flow found: which pairs are used.
pub(crate) struct Flow {
    pub pair_used: Vec<bool>,
}

/// Solves the network exactly; uses `i64` costs when every potential and distance provably fits
/// (W1 + W3 ≤ i64::MAX / 64, see the crate docs), `i128` otherwise.
pub(crate) fn solve_network(net: &Network) -> Flow {
    if net.weights.max_cost() <= i128::from(i64::MAX / 64) {
        solve_with::<i64>(net)
    } else {
        solve_with::<i128>(net)
    }
}

/// Solves with the given cost type; `C` must hold a few times W1 (see [`solve_network`]).
pub(crate) fn solve_with<C: Cost>(net: &Network) -> Flow {
    Solver::<C>::new(net).run()
}

const NONE: u32 = u32::MAX;

struct Solver<'a, C: Cost> {
    net: &'a Network,
    first_bonus: C,
    further_bonus: C,
    w2: C,
    nc: u32,
    ncf: u32,
    root: u32,
    comm_flow: Vec<u32>,
    cf_flow: Vec<u32>,
    pair_used: Vec<bool>,
    /// `prof_slot[k]..prof_slot[k] + prof_load[k]` in `slots`: the pairs professional `k` serves.
    prof_slot: Vec<u32>,
    prof_load: Vec<u32>,
    slots: Vec<u32>,
    potential: Vec<C>,
    dist: Vec<C>,
    parent: Vec<u32>,
    seen: Vec<u32>,
    done: Vec<u32>,
    epoch: u32,
    heap: BinaryHeap<Reverse<(C, u32)>>,
    settled: Vec<u32>,
}

impl<'a, C: Cost> Solver<'a, C> {
    fn new(net: &'a Network) -> Self {
        let nc = net.num_communities() as u32;
        let ncf = net.num_community_professions() as u32;
        let np = net.num_professionals() as u32;
        let nodes = (nc + ncf + np + 1) as usize;
        let w = net.weights;
        let w2 = C::from_i128(w.w2);
        // Initial potentials: the shortest distances to the root at zero flow, negated, so that
        // every residual arc has a non-negative reduced cost c(u,v) + π(u) − π(v) and the
        // nearest free professional of each community is at reduced distance 0.
        let mut potential = vec![C::ZERO; nodes];
        for j in 0..ncf as usize {
            let range = net.cf_pair[j] as usize..net.cf_pair[j + 1] as usize;
            let nearest = net.pair_dist[range].iter().copied().min().unwrap_or(0);
            potential[nc as usize + j] = -C::from_u32(nearest);
        }
        for c in 0..nc as usize {
            let cfs = net.comm_cf[c] as usize..net.comm_cf[c + 1] as usize;
            let best = cfs.map(|j| potential[nc as usize + j]).max().unwrap_or(C::ZERO);
            potential[c] = w2 + best;
        }
        let mut prof_slot = Vec::with_capacity(np as usize + 1);
        let mut total = 0u32;
        for &cap in &net.prof_cap {
            prof_slot.push(total);
            total += cap;
        }
        Solver {
            net,
            first_bonus: C::from_i128(w.w1 + w.w3),
            further_bonus: C::from_i128(w.w3),
            w2,
            nc,
            ncf,
            root: nc + ncf + np,
            comm_flow: vec![0; nc as usize],
            cf_flow: vec![0; ncf as usize],
            pair_used: vec![false; net.num_pairs()],
            prof_slot,
            prof_load: vec![0; np as usize],
            slots: vec![NONE; total as usize],
            potential,
            dist: vec![C::ZERO; nodes],
            parent: vec![NONE; nodes],
            seen: vec![0; nodes],
            done: vec![0; nodes],
            epoch: 0,
            heap: BinaryHeap::new(),
            settled: Vec::new(),
        }
    }

    /// Offers units round by round: every community's first unit, then every second unit, …;
    /// a community whose offer was refused gets no further offers (see the crate docs).
    fn run(mut self) -> Flow {
        let mut active: Vec<u32> = (0..self.nc).collect();
        let mut round = 1u32;
        while !active.is_empty() {
            let mut next = Vec::with_capacity(active.len());
            for &c in &active {
                let ci = c as usize;
                // Pieces 1..round-1 were offered; if one of them is unused now it admits no
                // negative cycle, and this piece's bonus is no larger: skip.
                if self.comm_flow[ci] + 1 < round {
                    continue;
                }
                if self.offer(c) && self.net.comm_demand[ci] > round {
                    next.push(c);
                }
            }
            active = next;
            round += 1;
        }
        Flow {
            pair_used: self.pair_used,
        }
    }

    fn is_comm(&self, v: u32) -> bool {
        v < self.nc
    }

    fn is_cf(&self, v: u32) -> bool {
        v >= self.nc && v < self.nc + self.ncf
    }

    /// Adds one more S → x unit to the network and, if the cheapest cycle through it is
    /// negative, augments along it. Returns whether it augmented.
    fn offer(&mut self, x: u32) -> bool {
        let xi = x as usize;
        let bonus = if self.comm_flow[xi] == 0 {
            self.first_bonus
        } else {
            self.further_bonus
        };
        let root = self.root;
        // The cycle S → x ⇝ root costs −bonus + D − π(x) + π(root), D the reduced distance:
        // it is negative iff D < limit.
        let limit = bonus + self.potential[xi] - self.potential[root as usize];
        if limit <= C::ZERO {
            return false;
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.seen.fill(0);
            self.done.fill(0);
            self.epoch = 1;
        }
        let epoch = self.epoch;
        self.heap.clear();
        self.settled.clear();
        self.dist[xi] = C::ZERO;
        self.seen[xi] = epoch;
        self.parent[xi] = NONE;
        self.heap.push(Reverse((C::ZERO, x)));
        let net = self.net;
        let (nc, ncf) = (self.nc, self.ncf);
        let mut reached = false;
        while let Some(Reverse((d, v))) = self.heap.pop() {
            let vi = v as usize;
            if self.done[vi] == epoch || d > self.dist[vi] {
                continue;
            }
            if d >= limit {
                break;
            }
            self.done[vi] = epoch;
            self.settled.push(v);
            if v == root {
                reached = true;
                break;
            }
            let base = d + self.potential[vi];
            if v < nc {
                // Community: give back one of its own units (reverse S → c), or send a unit to
                // one of its professions.
                let flow = self.comm_flow[vi];
                if flow > 0 {
                    let cost = if flow == 1 {
                        self.first_bonus
                    } else {
                        self.further_bonus
                    };
                    self.relax(root, base + cost, v, limit);
                }
                for j in net.comm_cf[vi]..net.comm_cf[vi + 1] {
                    let ji = j as usize;
                    if self.cf_flow[ji] < net.cf_cap[ji] {
                        let cost = if self.cf_flow[ji] == 0 { -self.w2 } else { C::ZERO };
                        self.relax(nc + j, base + cost, NONE, limit);
                    }
                }
            } else if v < nc + ncf {
                // Community × profession: back to its community, or on to an unused pair.
                let j = v - nc;
                let ji = j as usize;
                let flow = self.cf_flow[ji];
                if flow > 0 {
                    let cost = if flow == 1 { self.w2 } else { C::ZERO };
                    self.relax(net.cf_comm[ji], base + cost, j, limit);
                }
                for pair in net.cf_pair[ji]..net.cf_pair[ji + 1] {
                    let pi = pair as usize;
                    if !self.pair_used[pi] {
                        let head = nc + ncf + net.pair_prof[pi];
                        self.relax(head, base + C::from_u32(net.pair_dist[pi]), pair, limit);
                    }
                }
            } else {
                // Professional: take the unit (spare capacity), or hand one of its pairs back.
                let k = (v - nc - ncf) as usize;
                if self.prof_load[k] < net.prof_cap[k] {
                    self.relax(root, base, v, limit);
                }
                let start = self.prof_slot[k] as usize;
                for s in start..start + self.prof_load[k] as usize {
                    let pair = self.slots[s];
                    let pi = pair as usize;
                    self.relax(nc + net.pair_cf[pi], base - C::from_u32(net.pair_dist[pi]), pair, limit);
                }
            }
        }
        // Potentials: π(v) += d(v) − L for settled v, L = D when the root was reached, else the
        // limit; every unsettled node is at least L away, so reduced costs stay non-negative and
        // the path found has reduced cost 0.
        let cut = if reached { self.dist[root as usize] } else { limit };
        for &v in &self.settled {
            let vi = v as usize;
            self.potential[vi] = self.potential[vi] + self.dist[vi] - cut;
        }
        if reached {
            self.augment(x);
        }
        reached
    }

    #[inline]
    fn relax(&mut self, head: u32, through: C, parent: u32, limit: C) {
        let hi = head as usize;
        if self.done[hi] == self.epoch {
            return;
        }
        let nd = through - self.potential[hi];
        if nd >= limit {
            return;
        }
        if self.seen[hi] != self.epoch || nd < self.dist[hi] {
            self.seen[hi] = self.epoch;
            self.dist[hi] = nd;
            self.parent[hi] = parent;
            self.heap.push(Reverse((nd, head)));
        }
    }

    /// Pushes one unit along the path to the root found by the last search, then along S → x.
    fn augment(&mut self, x: u32) {
        let net = self.net;
        let mut v = self.parent[self.root as usize];
        if self.is_comm(v) {
            // The path ends by giving back one of v's units.
            self.comm_flow[v as usize] -= 1;
        }
        // The pair by which the path left the professional visited next (None: to the root).
        let mut leaving_pair: Option<u32> = None;
        loop {
            if self.is_comm(v) {
                if v == x {
                    break;
                }
                // Reached over cf → c (undoing a unit of c → cf).
                let j = self.parent[v as usize];
                self.cf_flow[j as usize] -= 1;
                v = self.nc + j;
            } else if self.is_cf(v) {
                let j = (v - self.nc) as usize;
                let pair = self.parent[v as usize];
                if pair == NONE {
                    self.cf_flow[j] += 1;
                    v = net.cf_comm[j];
                } else {
                    // Reached over p → cf: the pair is released.
                    self.pair_used[pair as usize] = false;
                    leaving_pair = Some(pair);
                    v = self.nc + self.ncf + net.pair_prof[pair as usize];
                }
            } else {
                let k = (v - self.nc - self.ncf) as usize;
                let pair = self.parent[v as usize];
                self.pair_used[pair as usize] = true;
                let start = self.prof_slot[k] as usize;
                let load = self.prof_load[k] as usize;
                match leaving_pair.take() {
                    None => {
                        self.slots[start + load] = pair;
                        self.prof_load[k] += 1;
                    }
                    Some(released) => {
                        if let Some(slot) = self.slots[start..start + load].iter_mut().find(|s| **s == released) {
                            *slot = pair;
                        }
                    }
                }
                v = self.nc + net.pair_cf[pair as usize];
            }
        }
        self.comm_flow[x as usize] += 1;
    }
}
