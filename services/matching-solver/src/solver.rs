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
    /// The priority queue for Dijkstra with these keys.
    type Queue: Queue<Self>;
    /// Converts a value known to fit (the caller checks the weights' range first).
    fn from_i128(v: i128) -> Self;
    fn from_u32(v: u32) -> Self;
}

impl Cost for i64 {
    const ZERO: Self = 0;
    type Queue = RadixQueue;
    fn from_i128(v: i128) -> Self {
        v as i64
    }
    fn from_u32(v: u32) -> Self {
        i64::from(v)
    }
}

impl Cost for i128 {
    const ZERO: Self = 0;
    type Queue = HeapQueue<i128>;
    fn from_i128(v: i128) -> Self {
        v
    }
    fn from_u32(v: u32) -> Self {
        i128::from(v)
    }
}

/// A monotone priority queue of (key, node): keys pushed are never below the last key popped
/// since the last `clear` (Dijkstra with non-negative reduced costs), and all keys are ≥ 0.
pub(crate) trait Queue<C>: Default {
    fn clear(&mut self);
    fn push(&mut self, key: C, node: u32);
    fn pop(&mut self) -> Option<(C, u32)>;
}

/// A binary heap (for `i128` keys).
pub(crate) struct HeapQueue<C>(BinaryHeap<Reverse<(C, u32)>>);

impl<C: Ord> Default for HeapQueue<C> {
    fn default() -> Self {
        HeapQueue(BinaryHeap::new())
    }
}

impl<C: Ord + Copy> Queue<C> for HeapQueue<C> {
    fn clear(&mut self) {
        self.0.clear();
    }
    fn push(&mut self, key: C, node: u32) {
        self.0.push(Reverse((key, node)));
    }
    fn pop(&mut self) -> Option<(C, u32)> {
        self.0.pop().map(|Reverse(entry)| entry)
    }
}

/// A radix heap (Ahuja, Mehlhorn, Orlin and Tarjan) for non-negative `i64` keys: bucket `i` holds
/// keys whose highest bit differing from the last popped key is bit `i - 1`, so each entry moves
/// down at most 64 times and a pop is amortised O(1) with no comparisons of whole heaps.
pub(crate) struct RadixQueue {
    last: u64,
    len: usize,
    buckets: Vec<Vec<(u64, u32)>>,
}

impl Default for RadixQueue {
    fn default() -> Self {
        RadixQueue {
            last: 0,
            len: 0,
            buckets: vec![Vec::new(); 65],
        }
    }
}

impl RadixQueue {
    #[inline]
    fn bucket(&self, key: u64) -> usize {
        (64 - (key ^ self.last).leading_zeros()) as usize
    }
}

impl Queue<i64> for RadixQueue {
    fn clear(&mut self) {
        if self.len > 0 {
            for bucket in &mut self.buckets {
                bucket.clear();
            }
        }
        self.len = 0;
        self.last = 0;
    }

    fn push(&mut self, key: i64, node: u32) {
        // Keys are reduced distances, ≥ 0 (see the trait).
        let key = key as u64;
        let b = self.bucket(key);
        self.buckets[b].push((key, node));
        self.len += 1;
    }

    fn pop(&mut self) -> Option<(i64, u32)> {
        if self.len == 0 {
            return None;
        }
        if self.buckets[0].is_empty() {
            // The first non-empty bucket holds the minimum; redistribute it below.
            let i = self.buckets.iter().position(|b| !b.is_empty())?;
            let moved = std::mem::take(&mut self.buckets[i]);
            self.last = moved.iter().map(|&(key, _)| key).min()?;
            for &(key, node) in &moved {
                let b = self.bucket(key);
                self.buckets[b].push((key, node));
            }
            // Keep the allocation for later.
            let mut moved = moved;
            moved.clear();
            self.buckets[i] = moved;
        }
        self.len -= 1;
        self.buckets[0].pop().map(|(key, node)| (key as i64, node))
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

#[derive(Clone, Copy)]
struct NodeState<C> {
    potential: C,
    /// Tentative distance, valid when `seen == epoch`.
    dist: C,
    parent: u32,
    seen: u32,
    done: u32,
}

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
    /// Per-node search state, packed so that one relaxation touches one cache line.
    node: Vec<NodeState<C>>,
    epoch: u32,
    heap: C::Queue,
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
        // nearest free professional of each community is at reduced distance 0. The first unit
        // c → cf costs −W2, or 0 if the profession already serves c.
        let mut potential = vec![C::ZERO; nodes];
        for j in 0..ncf as usize {
            let range = net.cf_pair[j] as usize..net.cf_pair[j + 1] as usize;
            let nearest = net.pair_dist[range].iter().copied().min().unwrap_or(0);
            potential[nc as usize + j] = -C::from_u32(nearest);
        }
        for c in 0..nc as usize {
            let cfs = net.comm_cf[c] as usize..net.comm_cf[c + 1] as usize;
            let best = cfs
                .map(|j| potential[nc as usize + j] + if net.cf_covered[j] { C::ZERO } else { w2 })
                .max()
                .unwrap_or(C::ZERO);
            potential[c] = best;
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
            node: potential
                .into_iter()
                .map(|potential| NodeState {
                    potential,
                    dist: C::ZERO,
                    parent: NONE,
                    seen: 0,
                    done: 0,
                })
                .collect(),
            epoch: 0,
            heap: C::Queue::default(),
            settled: Vec::new(),
        }
    }

    /// Offers units round by round: every community's first unit, then every second unit, …;
    /// a community whose offer was refused gets no further offers (see the crate docs: a
    /// community's bonuses never increase from one unit to the next, W1 + W3 then W3, or W3
    /// throughout if it is covered before the batch).
    fn run(mut self) -> Flow {
        let mut active: Vec<u32> = (0..self.nc).collect();
        let mut round = 1u32;
        while !active.is_empty() {
            let mut next = Vec::with_capacity(active.len());
            for &c in &active {
                let ci = c as usize;
                // Pieces 1..round-1 were offered; if one of them is unused now it admits no
                // negative cycle, and this piece's bonus is no larger (bonuses never increase
                // along a community's units): skip.
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

    /// The bonus of unit `unit` (1-based) of S → c: W1 + W3 for the first unit of a community
    /// not covered before the batch, else W3.
    #[inline]
    fn unit_bonus(&self, c: usize, unit: u32) -> C {
        if unit == 1 && !self.net.comm_covered[c] {
            self.first_bonus
        } else {
            self.further_bonus
        }
    }

    /// The bonus of unit `unit` (1-based) of c → cf `j`: W2 for the first unit of a profession
    /// not serving the community before the batch, else 0.
    #[inline]
    fn profession_bonus(&self, j: usize, unit: u32) -> C {
        if unit == 1 && !self.net.cf_covered[j] {
            self.w2
        } else {
            C::ZERO
        }
    }

    /// Adds one more S → x unit to the network and, if the cheapest cycle through it is
    /// negative, augments along it. Returns whether it augmented.
    fn offer(&mut self, x: u32) -> bool {
        let xi = x as usize;
        let bonus = self.unit_bonus(xi, self.comm_flow[xi] + 1);
        let root = self.root;
        // The cycle S → x ⇝ root costs −bonus + D − π(x) + π(root), D the reduced distance:
        // it is negative iff D < limit.
        let limit = bonus + self.node[xi].potential - self.node[root as usize].potential;
        if limit <= C::ZERO {
            return false;
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            for state in &mut self.node {
                state.seen = 0;
                state.done = 0;
            }
            self.epoch = 1;
        }
        let epoch = self.epoch;
        self.heap.clear();
        self.settled.clear();
        self.node[xi].dist = C::ZERO;
        self.node[xi].seen = epoch;
        self.node[xi].parent = NONE;
        self.heap.push(C::ZERO, x);
        let net = self.net;
        let (nc, ncf) = (self.nc, self.ncf);
        let mut reached = false;
        while let Some((d, v)) = self.heap.pop() {
            let vi = v as usize;
            if self.node[vi].done == epoch || d > self.node[vi].dist {
                continue;
            }
            if d >= limit {
                break;
            }
            self.node[vi].done = epoch;
            self.settled.push(v);
            if v == root {
                reached = true;
                break;
            }
            let base = d + self.node[vi].potential;
            if v < nc {
                // Community: give back one of its own units (reverse S → c), or send a unit to
                // one of its professions.
                let flow = self.comm_flow[vi];
                if flow > 0 {
                    let cost = self.unit_bonus(vi, flow);
                    self.relax(root, base + cost, v, limit);
                }
                for j in net.comm_cf[vi]..net.comm_cf[vi + 1] {
                    let ji = j as usize;
                    let flow = self.cf_flow[ji];
                    if flow < net.cf_cap[ji] {
                        let cost = -self.profession_bonus(ji, flow + 1);
                        self.relax(nc + j, base + cost, NONE, limit);
                    }
                }
            } else if v < nc + ncf {
                // Community × profession: back to its community, or on to an unused pair.
                let j = v - nc;
                let ji = j as usize;
                let flow = self.cf_flow[ji];
                if flow > 0 {
                    let cost = self.profession_bonus(ji, flow);
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
        let cut = if reached { self.node[root as usize].dist } else { limit };
        for &v in &self.settled {
            let state = &mut self.node[v as usize];
            state.potential = state.potential + state.dist - cut;
        }
        if reached {
            self.augment(x);
        }
        reached
    }

    #[inline]
    fn relax(&mut self, head: u32, through: C, parent: u32, limit: C) {
        let epoch = self.epoch;
        let state = &mut self.node[head as usize];
        if state.done == epoch {
            return;
        }
        let nd = through - state.potential;
        if nd >= limit {
            return;
        }
        if state.seen != epoch || nd < state.dist {
            state.seen = epoch;
            state.dist = nd;
            state.parent = parent;
            self.heap.push(nd, head);
        }
    }

    /// Pushes one unit along the path to the root found by the last search, then along S → x.
    fn augment(&mut self, x: u32) {
        let net = self.net;
        let mut v = self.node[self.root as usize].parent;
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
                let j = self.node[v as usize].parent;
                self.cf_flow[j as usize] -= 1;
                v = self.nc + j;
            } else if self.is_cf(v) {
                let j = (v - self.nc) as usize;
                let pair = self.node[v as usize].parent;
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
                let pair = self.node[v as usize].parent;
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
