//! Where the hashes a proof needs come from: the node table, or the chain hashes.
//!
//! Storing every node would add about one row per event for little gain, since a subtree of
//! fewer than 2^[`crate::STORED_LEVEL`] leaves is quick to recompute from its leaves. So a planned
//! node at or above that level is read from the node table, and one below it is recomputed from
//! the chain hashes of its leaves. For one proof or root, those leaves lie in at most two aligned
//! blocks of 2^level leaves (the one at the proved leaf or old size, and the tree's last), so at
//! most 2 × 256 chain hashes are read.

use std::ops::Range;

use crate::error::MerkleError;
use crate::hash::{Hash, leaf_hash, node_hash};
use crate::node::NodeId;

/// What to read for a set of needed nodes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchPlan {
    /// Nodes to read from the node table (level >= the stored level), sorted, without duplicates.
    pub stored: Vec<NodeId>,
    /// Leaf index ranges whose chain hashes to read, sorted, disjoint and not adjacent. Leaf
    /// index `i` is log position `i + 1`.
    pub leaves: Vec<Range<u64>>,
}

impl FetchPlan {
    /// Splits `needed` at `stored_level` (normally [`crate::STORED_LEVEL`]).
    pub fn new(needed: &[NodeId], stored_level: u32) -> Self {
        let (mut stored, computed): (Vec<NodeId>, Vec<NodeId>) =
            needed.iter().partition(|id| id.level >= stored_level);
        stored.sort_unstable();
        stored.dedup();
        let mut ranges: Vec<Range<u64>> = computed.into_iter().map(NodeId::leaves).collect();
        ranges.sort_unstable_by_key(|range| range.start);
        let mut leaves: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
        for range in ranges {
            match leaves.last_mut() {
                Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
                _ => leaves.push(range),
            }
        }
        Self { stored, leaves }
    }
}

/// The hash of every perfect aligned subtree below `below_level` that lies within the leaves
/// `[first_leaf, first_leaf + leaf_data.len())`, given those leaves' data (chain hashes), level
/// by level from 0. Called once per [`FetchPlan::leaves`] range, with the plan's level.
pub fn nodes_from_leaves(
    first_leaf: u64,
    leaf_data: &[Hash],
    below_level: u32,
) -> Result<Vec<(NodeId, Hash)>, MerkleError> {
    let out_of_range = MerkleError::LeafRange {
        first: first_leaf,
        len: leaf_data.len(),
    };
    let len = u64::try_from(leaf_data.len()).map_err(|_| out_of_range.clone())?;
    first_leaf.checked_add(len).ok_or(out_of_range)?;

    let mut nodes = Vec::new();
    let mut level = 0;
    let mut start = first_leaf;
    let mut hashes: Vec<Hash> = leaf_data.iter().map(|data| leaf_hash(data)).collect();
    while level < below_level && !hashes.is_empty() {
        // `first_leaf + len` fits, so `start..` never steps past `u64::MAX` (it runs second).
        nodes.extend(
            hashes
                .iter()
                .zip(start..)
                .map(|(hash, index)| (NodeId::new(level, index), *hash)),
        );
        // A node at an odd index has its left sibling outside the range.
        let skip = usize::from(start & 1 == 1);
        let pairs = hashes.get(skip..).unwrap_or_default().chunks_exact(2);
        hashes = pairs.map(|pair| node_hash(&pair[0], &pair[1])).collect();
        start = (start >> 1) + (start & 1);
        level += 1;
    }
    Ok(nodes)
}
