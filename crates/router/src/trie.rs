//! The segment trie that finds the routes whose path pattern matches a request path.
//!
//! Every node is reached by a sequence of pattern segments. A node has literal children, at most
//! one wildcard child, and two lists of routes: those whose pattern ends exactly here and those
//! whose pattern ends here with a trailing `/*`. Routes are stored by *rank* (their position in
//! the order routes are tried), and the lists are filled in rank order so they stay sorted: the
//! caller can stop reading a list at its first acceptable entry.
//!
//! A lookup walks the request path once. Because a segment can match both a literal child and the
//! wildcard child, the walk may follow several branches, but it only ever visits nodes whose
//! pattern prefix matches the path, so its cost depends on the path and on how many patterns
//! overlap it, not on how many routes exist.

use crate::pattern::{next_segment, PathPattern, Rest, Segment};

/// Position in the routing order (0 is tried first).
pub(crate) type Rank = usize;

/// Index of a node in [`Trie::nodes`].
type NodeIdx = usize;

/// Up to this many literal children are searched linearly; comparing a few short strings is
/// cheaper than hashing one.
const LINEAR_CHILDREN: usize = 8;

/// Literal edges keyed by segment text. Segments are short strings from the config, so FxHash
/// (fast, unkeyed) fits: an attacker controls only lookups, never which keys the map holds.
type EdgeMap = rustc_hash::FxHashMap<Box<str>, NodeIdx>;

/// Literal children of a node.
#[derive(Debug, Clone)]
enum Children {
    Few(Vec<(Box<str>, NodeIdx)>),
    Many(EdgeMap),
}

impl Children {
    #[inline]
    fn get(&self, segment: &str) -> Option<NodeIdx> {
        match self {
            Children::Few(list) => list.iter().find(|(s, _)| &**s == segment).map(|&(_, n)| n),
            Children::Many(map) => map.get(segment).copied(),
        }
    }
}

#[derive(Debug, Clone)]
struct Node {
    children: Children,
    wildcard: Option<NodeIdx>,
    /// Routes whose pattern ends exactly at this node, in rank order.
    exact: Vec<Rank>,
    /// Routes whose pattern is this node followed by `/*`, in rank order.
    prefix: Vec<Rank>,
}

impl Node {
    fn new() -> Node {
        Node {
            children: Children::Few(Vec::new()),
            wildcard: None,
            exact: Vec::new(),
            prefix: Vec::new(),
        }
    }
}

/// An immutable segment trie over route patterns.
#[derive(Debug, Clone)]
pub(crate) struct Trie {
    nodes: Vec<Node>,
}

/// Builds a [`Trie`]; patterns must be inserted in rank order.
pub(crate) struct TrieBuilder {
    nodes: Vec<Node>,
    /// Literal edges of each node while building (parallel to `nodes`): a map makes insertion
    /// O(1) whatever the fan-out, and an empty map does not allocate. [`TrieBuilder::finish`]
    /// picks the lookup representation per node.
    edges: Vec<EdgeMap>,
}

impl TrieBuilder {
    /// An empty trie.
    pub(crate) fn new() -> TrieBuilder {
        TrieBuilder {
            nodes: vec![Node::new()],
            edges: vec![EdgeMap::default()],
        }
    }

    fn push_node(&mut self) -> NodeIdx {
        self.nodes.push(Node::new());
        self.edges.push(EdgeMap::default());
        self.nodes.len() - 1
    }

    /// Adds a pattern. Calls must come in ascending `rank` order.
    pub(crate) fn insert(&mut self, pattern: &PathPattern, rank: Rank) {
        let mut node: NodeIdx = 0;
        for segment in &pattern.segments {
            node = match segment {
                Segment::Literal(s) => match self.edges[node].get(&**s) {
                    Some(&child) => child,
                    None => {
                        let child = self.push_node();
                        self.edges[node].insert(s.clone(), child);
                        child
                    }
                },
                Segment::Wildcard => match self.nodes[node].wildcard {
                    Some(child) => child,
                    None => {
                        let child = self.push_node();
                        self.nodes[node].wildcard = Some(child);
                        child
                    }
                },
            };
        }
        let n = &mut self.nodes[node];
        if pattern.prefix {
            n.prefix.push(rank);
        } else {
            n.exact.push(rank);
        }
    }

    /// Freezes the trie.
    pub(crate) fn finish(mut self) -> Trie {
        for (node, edges) in self.nodes.iter_mut().zip(self.edges) {
            node.children = if edges.len() <= LINEAR_CHILDREN {
                let mut few: Vec<_> = edges.into_iter().collect();
                // Deterministic order keeps debugging output and benchmarks stable.
                few.sort_unstable();
                Children::Few(few)
            } else {
                Children::Many(edges)
            };
            node.exact.shrink_to_fit();
            node.prefix.shrink_to_fit();
        }
        Trie { nodes: self.nodes }
    }
}

impl Trie {
    /// Calls `visit` with every list of routes whose pattern matches the path `rest`
    /// (see [`crate::pattern::request_segments`]). Each list is in rank order; lists come in no
    /// particular order relative to each other.
    pub(crate) fn for_each_candidate_list<F: FnMut(&[Rank])>(&self, rest: Rest<'_>, visit: &mut F) {
        self.walk(0, rest, visit);
    }

    fn walk<F: FnMut(&[Rank])>(&self, node: NodeIdx, rest: Rest<'_>, visit: &mut F) {
        let Some(n) = self.nodes.get(node) else {
            return;
        };
        // A trailing `/*` takes whatever is left, including nothing.
        if !n.prefix.is_empty() {
            visit(&n.prefix);
        }
        let Some(rest) = rest else {
            if !n.exact.is_empty() {
                visit(&n.exact);
            }
            return;
        };
        let (segment, tail) = next_segment(rest);
        if let Some(child) = n.children.get(segment) {
            self.walk(child, tail, visit);
        }
        // A wildcard stands for a real segment; `//` or a trailing `/` does not provide one.
        if !segment.is_empty() {
            if let Some(child) = n.wildcard {
                self.walk(child, tail, visit);
            }
        }
    }

    /// Number of nodes, for tests.
    #[cfg(test)]
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::request_segments;

    fn trie(patterns: &[&str]) -> Trie {
        let mut b = TrieBuilder::new();
        for (rank, p) in patterns.iter().enumerate() {
            b.insert(&PathPattern::parse(p).expect("valid pattern"), rank);
        }
        b.finish()
    }

    fn candidates(t: &Trie, path: &str) -> Vec<Rank> {
        let mut out = vec![];
        let rest = request_segments(path).expect("origin form");
        t.for_each_candidate_list(rest, &mut |ranks: &[Rank]| out.extend_from_slice(ranks));
        out.sort_unstable();
        out
    }

    #[test]
    fn collects_exact_prefix_and_glob_candidates() {
        let t = trie(&[
            "/users",        // 0
            "/users/",       // 1
            "/api/*",        // 2
            "/v1/*/items",   // 3
            "/v1/*/items/*", // 4
            "/*",            // 5
            "/",             // 6
            "/api/users",    // 7
        ]);
        assert_eq!(candidates(&t, "/users"), vec![0, 5]);
        assert_eq!(candidates(&t, "/users/"), vec![1, 5]);
        assert_eq!(candidates(&t, "/api"), vec![2, 5]);
        assert_eq!(candidates(&t, "/api/"), vec![2, 5]);
        assert_eq!(candidates(&t, "/api/users"), vec![2, 5, 7]);
        assert_eq!(candidates(&t, "/apix"), vec![5]);
        assert_eq!(candidates(&t, "/v1/x/items"), vec![3, 4, 5]);
        assert_eq!(candidates(&t, "/v1/x/items/y/z"), vec![4, 5]);
        assert_eq!(candidates(&t, "/v1//items"), vec![5]);
        assert_eq!(candidates(&t, "/"), vec![5, 6]);
        assert_eq!(candidates(&t, ""), vec![5, 6]);
    }

    #[test]
    fn segment_hasher_separates_similar_keys() {
        use std::hash::BuildHasher;
        let build = rustc_hash::FxBuildHasher;
        let keys = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "a\0",
            "abcdefgh",
            "abcdefgh\0",
            "abcdefghi",
        ];
        let mut hashes: Vec<u64> = keys.iter().map(|k| build.hash_one(k)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), keys.len());
    }

    #[test]
    fn shares_nodes_and_switches_to_a_map_for_wide_nodes() {
        let patterns: Vec<String> = (0..100).map(|i| format!("/s{i}/x")).collect();
        let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
        let t = trie(&refs);
        // Root, 100 `s{i}` nodes and 100 `x` nodes.
        assert_eq!(t.node_count(), 201);
        assert!(matches!(t.nodes[0].children, Children::Many(_)));
        assert_eq!(candidates(&t, "/s42/x"), vec![42]);
        assert_eq!(candidates(&t, "/s42"), Vec::<Rank>::new());
    }
}
