//! The step graph: building it, finding cycles (named, for the diagnostic), a stable
//! topological order, and upstream sets.

use super::{EdgeKind, StepId};
use petgraph::algo::tarjan_scc;
use petgraph::graph::{Graph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

/// Builds the DAG of `count` steps: node `i` holds `StepId(i)`; each edge `(from, to, kind)`
/// points from a dependency to its dependent. Repeated pairs become one edge, `Data` if any of
/// them is a data reference.
pub fn build(count: usize, edges: &[(StepId, StepId, EdgeKind)]) -> Graph<StepId, EdgeKind> {
    let mut graph = Graph::with_capacity(count, edges.len());
    for i in 0..count {
        graph.add_node(StepId(i));
    }
    let mut seen: HashMap<(usize, usize), petgraph::graph::EdgeIndex> =
        HashMap::with_capacity(edges.len());
    for &(from, to, kind) in edges {
        if from.0 >= count || to.0 >= count {
            continue;
        }
        match seen.get(&(from.0, to.0)) {
            Some(&e) => {
                if kind == EdgeKind::Data {
                    graph[e] = EdgeKind::Data;
                }
            }
            None => {
                let e = graph.add_edge(NodeIndex::new(from.0), NodeIndex::new(to.0), kind);
                seen.insert((from.0, to.0), e);
            }
        }
    }
    graph
}

/// One cycle per strongly connected component that has one, as the list of steps along it in
/// the direction data flows, starting from the step that comes first in the source. The first
/// step is not repeated at the end.
pub fn cycles(graph: &Graph<StepId, EdgeKind>) -> Vec<Vec<StepId>> {
    cycle_nodes(graph)
        .into_iter()
        .map(|c| c.into_iter().map(|n| graph[n]).collect())
        .collect()
}

/// [`cycles`] for any graph, as node indices: one cycle per strongly connected component that
/// has one, starting at its lowest node index, sorted.
pub fn cycle_nodes<N, E>(graph: &Graph<N, E>) -> Vec<Vec<NodeIndex>> {
    let mut out = Vec::new();
    for component in tarjan_scc(graph) {
        let self_loop = component.len() == 1 && graph.contains_edge(component[0], component[0]);
        if component.len() < 2 && !self_loop {
            continue;
        }
        let Some(&start) = component.iter().min_by_key(|n| n.index()) else {
            continue;
        };
        if let Some(cycle) = shortest_cycle_through(graph, start, &component) {
            out.push(cycle);
        }
    }
    out.sort();
    out
}

/// The shortest cycle from `start` back to itself inside `component` (breadth first, trying
/// successors in index order so the answer is stable).
fn shortest_cycle_through<N, E>(
    graph: &Graph<N, E>,
    start: NodeIndex,
    component: &[NodeIndex],
) -> Option<Vec<NodeIndex>> {
    let inside: std::collections::HashSet<NodeIndex> = component.iter().copied().collect();
    let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        let mut next: Vec<NodeIndex> = graph
            .neighbors_directed(node, Direction::Outgoing)
            .collect();
        next.sort();
        for succ in next {
            if succ == start {
                let mut path = vec![node];
                let mut at = node;
                while at != start {
                    at = *parent.get(&at)?;
                    path.push(at);
                }
                path.reverse();
                return Some(path);
            }
            if inside.contains(&succ) && !parent.contains_key(&succ) {
                parent.insert(succ, node);
                queue.push_back(succ);
            }
        }
    }
    None
}

/// A topological order (Kahn's algorithm, taking the ready step that comes first in the source
/// each time, so the order reads like the file), or `None` if the graph has a cycle.
pub fn topo_order(graph: &Graph<StepId, EdgeKind>) -> Option<Vec<StepId>> {
    let mut indegree: Vec<usize> = graph
        .node_indices()
        .map(|n| graph.edges_directed(n, Direction::Incoming).count())
        .collect();
    let mut ready: BinaryHeap<Reverse<usize>> = indegree
        .iter()
        .enumerate()
        .filter(|(_, d)| **d == 0)
        .map(|(i, _)| Reverse(i))
        .collect();
    let mut order = Vec::with_capacity(indegree.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(graph[NodeIndex::new(i)]);
        for edge in graph.edges_directed(NodeIndex::new(i), Direction::Outgoing) {
            let t = edge.target().index();
            indegree[t] -= 1;
            if indegree[t] == 0 {
                ready.push(Reverse(t));
            }
        }
    }
    (order.len() == indegree.len()).then_some(order)
}

/// Every step `id` depends on, directly or not (not including `id` unless it is on a cycle).
pub fn upstream(graph: &Graph<StepId, EdgeKind>, id: StepId) -> Vec<bool> {
    let mut seen = vec![false; graph.node_count()];
    if id.0 >= seen.len() {
        return seen;
    }
    let mut stack = vec![NodeIndex::new(id.0)];
    while let Some(node) = stack.pop() {
        for dep in graph.neighbors_directed(node, Direction::Incoming) {
            if !seen[dep.index()] {
                seen[dep.index()] = true;
                stack.push(dep);
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(n: usize, edges: &[(usize, usize)]) -> Graph<StepId, EdgeKind> {
        let edges: Vec<_> = edges
            .iter()
            .map(|&(a, b)| (StepId(a), StepId(b), EdgeKind::Data))
            .collect();
        build(n, &edges)
    }

    fn ids(v: &[usize]) -> Vec<StepId> {
        v.iter().map(|&i| StepId(i)).collect()
    }

    #[test]
    fn merges_repeated_edges_preferring_data() {
        let graph = build(
            2,
            &[
                (StepId(0), StepId(1), EdgeKind::After),
                (StepId(0), StepId(1), EdgeKind::Data),
                (StepId(0), StepId(1), EdgeKind::After),
            ],
        );
        assert_eq!(graph.edge_count(), 1);
        assert_eq!(graph.edge_weights().next(), Some(&EdgeKind::Data));
    }

    #[test]
    fn orders_topologically_in_source_order() {
        // 2 → 0, 1 free, 0 → 3
        let graph = g(4, &[(2, 0), (0, 3)]);
        assert_eq!(topo_order(&graph), Some(ids(&[1, 2, 0, 3])));
        assert_eq!(topo_order(&g(3, &[])), Some(ids(&[0, 1, 2])));
    }

    #[test]
    fn names_each_cycle_once_in_data_flow_order() {
        // a(0) → b(1) → c(2) → a(0), and a separate d(3) ↔ e(4), and f(5) free.
        let graph = g(6, &[(0, 1), (1, 2), (2, 0), (3, 4), (4, 3)]);
        assert_eq!(cycles(&graph), vec![ids(&[0, 1, 2]), ids(&[3, 4])]);
        assert_eq!(topo_order(&graph), None);
        assert!(cycles(&g(3, &[(0, 1), (1, 2)])).is_empty());
    }

    #[test]
    fn one_cycle_per_component_even_with_chords() {
        // 0 → 1 → 2 → 0 and 1 → 0: one component, reported once (the shortest cycle from 0).
        let graph = g(3, &[(0, 1), (1, 2), (2, 0), (1, 0)]);
        assert_eq!(cycles(&graph), vec![ids(&[0, 1])]);
    }

    #[test]
    fn upstream_is_transitive() {
        let graph = g(4, &[(0, 1), (1, 2)]);
        assert_eq!(upstream(&graph, StepId(2)), vec![true, true, false, false]);
        assert_eq!(upstream(&graph, StepId(0)), vec![false; 4]);
        assert_eq!(upstream(&graph, StepId(9)), vec![false; 4]);
    }
}
