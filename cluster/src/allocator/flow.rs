//! A minimum-cost maximum-flow solver: primal-dual, with Dinic's blocking flows on the
//! arcs of shortest paths.
//!
//! Stands where Gazette's `allocator/sparse_push_relabel/push_relabel.go` does, with a
//! different way of expressing preferences. Gazette runs a greedy push/relabel over a
//! virtual graph and steers it by the *order* in which arcs are presented (current
//! assignments first, pushed to the front of residual lists) and by capacities that
//! relax as node heights ("pressure") rise; that finds a maximum flow quickly but
//! only tends towards the preferred one. Here each preference is a *cost* on an arc
//! and the solver finds, among all maximum flows, one of least total cost — so "keep
//! current assignments unless a maximum flow needs otherwise" is exact rather than
//! heuristic.
//!
//! The algorithm works in stages, each pushing flow only along the currently
//! cheapest source→sink paths:
//!
//! 1. Dijkstra over residual arcs with reduced costs `cost + p(u) - p(v)` (never
//!    negative, by the potentials `p`) gives every node's distance; the potentials
//!    grow by it, so that exactly the arcs on shortest paths have reduced cost zero.
//! 2. Dinic's algorithm (BFS levels, then augmenting paths with a per-node arc
//!    cursor) saturates those zero-cost arcs: a maximum flow of the cheapest paths.
//!
//! Stages repeat until the sink is unreachable. Costs are small integers, so there
//! are few distinct path costs and therefore few stages. Arcs are tried in insertion
//! order and ties broken by node id, so the same network gives the same flow.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A node, numbered from 0 in the order the network was sized.
pub(crate) type NodeId = usize;
/// An arc, as returned by [`FlowNetwork::add_arc`].
pub(crate) type ArcId = usize;

const UNREACHED: i64 = i64::MAX;

/// A flow network under construction or solved. Arc `2k` is the k-th added arc and
/// `2k + 1` its residual twin, so `a ^ 1` is always the other half.
#[derive(Debug, Clone)]
pub(crate) struct FlowNetwork {
    /// Head of each arc half.
    to: Vec<NodeId>,
    /// Remaining (residual) capacity of each arc half.
    residual: Vec<i64>,
    /// Cost per unit of each half (the twin's is negated).
    cost: Vec<i64>,
    /// Arc halves leaving each node, in insertion order.
    out: Vec<Vec<ArcId>>,
}

/// What [`FlowNetwork::solve`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlowTotals {
    /// Units of flow from source to sink: the maximum.
    pub flow: i64,
    /// Summed cost of that flow: the least among maximum flows.
    pub cost: i64,
}

impl FlowNetwork {
    /// A network of `nodes` nodes and no arcs.
    pub(crate) fn new(nodes: usize) -> Self {
        FlowNetwork { to: Vec::new(), residual: Vec::new(), cost: Vec::new(), out: vec![Vec::new(); nodes] }
    }

    /// Adds an arc `from → to` carrying up to `capacity` units at `cost` each.
    pub(crate) fn add_arc(&mut self, from: NodeId, to: NodeId, capacity: u32, cost: u32) -> ArcId {
        let id = self.to.len();
        for (head, cap, c) in [(to, i64::from(capacity), i64::from(cost)), (from, 0, -i64::from(cost))] {
            self.to.push(head);
            self.residual.push(cap);
            self.cost.push(c);
        }
        self.out[from].push(id);
        self.out[to].push(id + 1);
        id
    }

    /// Units flowing through an arc returned by [`add_arc`](Self::add_arc).
    pub(crate) fn flow(&self, arc: ArcId) -> u32 {
        u32::try_from(self.residual[arc ^ 1]).expect("flow is bounded by a u32 capacity")
    }

    /// Pushes a maximum flow of least cost from `source` to `sink`.
    pub(crate) fn solve(&mut self, source: NodeId, sink: NodeId) -> FlowTotals {
        let mut potential = vec![0i64; self.out.len()];
        let mut flow = 0;
        loop {
            let dist = self.distances(source, &potential);
            if dist[sink] == UNREACHED {
                break;
            }
            for (p, d) in potential.iter_mut().zip(&dist) {
                if *d != UNREACHED {
                    *p += d;
                }
            }
            flow += self.saturate_tight_arcs(source, sink, &potential);
        }
        FlowTotals { flow, cost: self.total_cost() }
    }

    /// Summed cost of the current flow.
    fn total_cost(&self) -> i64 {
        (0..self.to.len()).step_by(2).map(|a| self.residual[a ^ 1] * self.cost[a]).sum()
    }

    /// Reduced cost of arc half `a` leaving `from`.
    fn reduced(&self, a: ArcId, from: NodeId, potential: &[i64]) -> i64 {
        self.cost[a] + potential[from] - potential[self.to[a]]
    }

    /// Dijkstra's distances from `source` over residual arcs, by reduced cost.
    fn distances(&self, source: NodeId, potential: &[i64]) -> Vec<i64> {
        let mut dist = vec![UNREACHED; self.out.len()];
        let mut heap = BinaryHeap::new();
        dist[source] = 0;
        heap.push(Reverse((0, source)));
        while let Some(Reverse((d, u))) = heap.pop() {
            if d > dist[u] {
                continue;
            }
            for &a in &self.out[u] {
                if self.residual[a] == 0 {
                    continue;
                }
                let reduced = self.reduced(a, u, potential);
                debug_assert!(reduced >= 0, "potentials keep reduced costs non-negative");
                let (v, next) = (self.to[a], d + reduced);
                if next < dist[v] {
                    dist[v] = next;
                    heap.push(Reverse((next, v)));
                }
            }
        }
        dist
    }

    /// Dinic's maximum flow restricted to residual arcs of zero reduced cost.
    fn saturate_tight_arcs(&mut self, source: NodeId, sink: NodeId, potential: &[i64]) -> i64 {
        let mut pushed = 0;
        while let Some(level) = self.levels(source, sink, potential) {
            let mut cursor = vec![0usize; self.out.len()];
            loop {
                let units = self.augment(source, sink, &level, &mut cursor, potential);
                if units == 0 {
                    break;
                }
                pushed += units;
            }
        }
        pushed
    }

    /// Whether arc half `a` leaving `u` is usable in the current stage.
    fn tight(&self, a: ArcId, u: NodeId, potential: &[i64]) -> bool {
        self.residual[a] > 0 && self.reduced(a, u, potential) == 0
    }

    /// BFS levels from `source` over tight arcs, or `None` if `sink` is not reached.
    fn levels(&self, source: NodeId, sink: NodeId, potential: &[i64]) -> Option<Vec<usize>> {
        let mut level = vec![usize::MAX; self.out.len()];
        let mut queue = std::collections::VecDeque::from([source]);
        level[source] = 0;
        while let Some(u) = queue.pop_front() {
            for &a in &self.out[u] {
                let v = self.to[a];
                if level[v] == usize::MAX && self.tight(a, u, potential) {
                    level[v] = level[u] + 1;
                    queue.push_back(v);
                }
            }
        }
        (level[sink] != usize::MAX).then_some(level)
    }

    /// Finds one path of tight arcs climbing `level` from `source` to `sink` (moving
    /// each node's `cursor` past dead ends), pushes its bottleneck and returns it; 0
    /// when no path is left.
    fn augment(&mut self, source: NodeId, sink: NodeId, level: &[usize], cursor: &mut [usize], potential: &[i64]) -> i64 {
        let mut path: Vec<ArcId> = Vec::new();
        let mut u = source;
        while u != sink {
            let next = self.out[u][cursor[u]..]
                .iter()
                .position(|&a| level[self.to[a]] == level[u] + 1 && self.tight(a, u, potential));
            match next {
                Some(skip) => {
                    cursor[u] += skip;
                    let a = self.out[u][cursor[u]];
                    path.push(a);
                    u = self.to[a];
                }
                None => {
                    cursor[u] = self.out[u].len();
                    let Some(back) = path.pop() else { return 0 };
                    u = self.to[back ^ 1];
                    cursor[u] += 1;
                }
            }
        }
        let units = path.iter().map(|&a| self.residual[a]).min().unwrap_or(0);
        for &a in &path {
            self.residual[a] -= units;
            self.residual[a ^ 1] += units;
        }
        units
    }
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
