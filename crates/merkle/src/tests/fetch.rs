use proptest::prelude::*;

use super::{chain_hashes, leaves, reference};
use crate::{FetchPlan, MerkleError, NodeId, nodes_from_leaves};

#[test]
fn plan_splits_at_the_stored_level_and_merges_ranges() {
    let needed = [
        NodeId::new(9, 1),
        NodeId::new(1, 6),
        NodeId::new(8, 0),
        NodeId::new(0, 10),
        NodeId::new(2, 2),
        NodeId::new(9, 1),
        NodeId::new(0, 40),
    ];
    let plan = FetchPlan::new(&needed, 8);
    assert_eq!(plan.stored, vec![NodeId::new(8, 0), NodeId::new(9, 1)]);
    assert_eq!(plan.leaves, vec![8..14, 40..41]);
    assert_eq!(FetchPlan::new(&[], 8), FetchPlan::default());
}

#[test]
fn leaf_data_past_the_largest_tree_is_refused() {
    let data = chain_hashes(2);
    assert_eq!(
        nodes_from_leaves(u64::MAX - 1, &data, 8),
        Err(MerkleError::LeafRange {
            first: u64::MAX - 1,
            len: 2
        })
    );
    let last = nodes_from_leaves(u64::MAX - 2, &data, 8).unwrap();
    assert_eq!(last.len(), 2);
}

proptest! {
    /// Exactly the aligned perfect subtrees inside the range and below the level, each with its
    /// RFC 6962 hash.
    #[test]
    fn nodes_from_leaves_are_the_subtrees_inside(
        first in 0u64..3000,
        len in 0u64..600,
        below_level in 0u32..12,
    ) {
        let data = chain_hashes(first + len);
        let nodes = nodes_from_leaves(first, &data[leaves(first..first + len)], below_level).unwrap();
        let mut expected = Vec::new();
        for level in 0..below_level {
            let from = first.div_ceil(1 << level);
            let to = (first + len) >> level;
            expected.extend((from..to).map(|index| NodeId::new(level, index)));
        }
        let ids: Vec<NodeId> = nodes.iter().map(|(id, _)| *id).collect();
        prop_assert_eq!(ids, expected);
        for (id, hash) in nodes {
            prop_assert_eq!(hash, reference::mth(&data[leaves(id.leaves())]));
        }
    }
}
