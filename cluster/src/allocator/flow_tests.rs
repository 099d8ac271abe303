use proptest::prelude::*;

use super::*;

/// Builds a network from `(from, to, capacity, cost)` arcs and solves it from node 0
/// to node 1.
fn solved(nodes: usize, arcs: &[(usize, usize, u32, u32)]) -> (FlowNetwork, Vec<ArcId>, FlowTotals) {
    let mut net = FlowNetwork::new(nodes);
    let ids: Vec<ArcId> = arcs.iter().map(|&(f, t, cap, cost)| net.add_arc(f, t, cap, cost)).collect();
    let totals = net.solve(0, 1);
    (net, ids, totals)
}

#[test]
fn small_networks_reach_their_maximum_flow_at_least_cost() {
    // (name, nodes, arcs, flow, cost)
    let cases: Vec<(&str, usize, Vec<(usize, usize, u32, u32)>, i64, i64)> = vec![
        ("no arcs carry nothing", 2, vec![], 0, 0),
        ("one arc carries its capacity", 2, vec![(0, 1, 5, 3)], 5, 15),
        ("parallel arcs fill the cheaper first", 2, vec![(0, 1, 2, 7), (0, 1, 3, 1)], 5, 17),
        ("a bottleneck limits a chain", 4, vec![(0, 2, 9, 0), (2, 3, 4, 0), (3, 1, 9, 0)], 4, 0),
        (
            "the cheap path is used before the dear one",
            4,
            vec![(0, 2, 1, 0), (0, 3, 1, 0), (2, 1, 1, 10), (3, 1, 1, 1), (2, 3, 1, 0)],
            2,
            11,
        ),
        (
            // Greedy s→a→b→t would block s→b; max flow needs the a→b flow re-routed.
            "flow is re-routed through a residual arc to reach the maximum",
            4,
            vec![(0, 2, 1, 0), (0, 3, 1, 0), (2, 3, 1, 0), (2, 1, 1, 5), (3, 1, 1, 0)],
            2,
            5,
        ),
        (
            "CLRS's network carries 23",
            6,
            vec![(0, 2, 16, 0), (0, 3, 13, 0), (2, 4, 12, 0), (3, 2, 4, 0), (4, 3, 9, 0), (3, 5, 14, 0), (5, 4, 7, 0), (4, 1, 20, 0), (5, 1, 4, 0)],
            23,
            0,
        ),
    ];
    for (name, nodes, arcs, flow, cost) in cases {
        let (_, _, totals) = solved(nodes, &arcs);
        assert_eq!(totals, FlowTotals { flow, cost }, "{name}");
    }
}

#[test]
fn arc_flows_are_reported_per_arc() {
    let (net, ids, _) = solved(3, &[(0, 2, 3, 0), (2, 1, 1, 0), (2, 1, 5, 2)]);
    assert_eq!(ids.iter().map(|&a| net.flow(a)).collect::<Vec<_>>(), vec![3, 1, 2]);
}

#[test]
fn equal_cost_ties_are_broken_by_insertion_order() {
    // Two identical routes into a one-unit bottleneck: the first added wins.
    let arcs = [(0, 2, 1, 0), (0, 3, 1, 0), (2, 4, 1, 0), (3, 4, 1, 0), (4, 1, 1, 0)];
    for _ in 0..3 {
        let (net, ids, totals) = solved(5, &arcs);
        assert_eq!(totals.flow, 1);
        assert_eq!((net.flow(ids[0]), net.flow(ids[1])), (1, 0));
    }
}

/// Checks capacity and conservation, that no augmenting path is left (maximum), and
/// that no residual cycle has negative cost (least cost, by Bellman-Ford).
fn assert_optimal(nodes: usize, arcs: &[(usize, usize, u32, u32)], net: &FlowNetwork, ids: &[ArcId]) {
    let mut balance = vec![0i64; nodes];
    let mut residual: Vec<(usize, usize, i64)> = Vec::new();
    for (&(f, t, cap, cost), &id) in arcs.iter().zip(ids) {
        let flow = net.flow(id);
        assert!(flow <= cap, "arc {f}->{t} carries {flow} > {cap}");
        balance[f] -= i64::from(flow);
        balance[t] += i64::from(flow);
        if flow < cap {
            residual.push((f, t, i64::from(cost)));
        }
        if flow > 0 {
            residual.push((t, f, -i64::from(cost)));
        }
    }
    for (v, b) in balance.iter().enumerate().skip(2) {
        assert_eq!(*b, 0, "node {v} conserves flow");
    }
    let mut reached = vec![false; nodes];
    reached[0] = true;
    for _ in 0..nodes {
        for &(f, t, _) in &residual {
            reached[t] |= reached[f];
        }
    }
    assert!(!reached[1], "an augmenting path remains");
    let mut dist = vec![0i64; nodes];
    for _ in 0..nodes {
        for &(f, t, c) in &residual {
            dist[t] = dist[t].min(dist[f] + c);
        }
    }
    for &(f, t, c) in &residual {
        assert!(dist[f] + c >= dist[t], "a negative-cost residual cycle remains through {f}->{t}");
    }
}

proptest! {
    #[test]
    fn random_networks_get_a_maximum_flow_of_least_cost(
        nodes in 2usize..9,
        arcs in prop::collection::vec((0usize..9, 0usize..9, 0u32..5, 0u32..9), 0..30),
    ) {
        let arcs: Vec<_> = arcs.into_iter().map(|(f, t, c, k)| (f % nodes, t % nodes, c, k)).filter(|(f, t, _, _)| f != t).collect();
        let (net, ids, totals) = solved(nodes, &arcs);
        assert_optimal(nodes, &arcs, &net, &ids);
        let cost: i64 = arcs.iter().zip(&ids).map(|(&(_, _, _, k), &id)| i64::from(k) * i64::from(net.flow(id))).sum();
        prop_assert_eq!(cost, totals.cost);
    }
}
