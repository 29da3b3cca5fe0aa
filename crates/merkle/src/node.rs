//! Perfect aligned subtrees: the unit of storage, and the pieces every tree hash is made of.
//!
//! RFC 6962 splits a list of `n > 1` leaves at the largest power of two `k < n`. Every subtree
//! that split produces, `[s, s + n)`, has `s` a multiple of the smallest power of two `>= n`.
//! Hence the MTH of such a range is the MTH of its binary decomposition: perfect subtrees of
//! decreasing size, each aligned to its own size, combined right to left. These aligned perfect
//! subtrees are the [`NodeId`]s. They never change once complete, so they can be stored.

use std::ops::Range;

use crate::hash::{Hash, node_hash};

/// Perfect subtrees at this level and above (256 leaves and more) are stored; below it they are
/// computed from the leaves.
pub const STORED_LEVEL: u32 = 8;

/// The perfect subtree over leaves `[index << level, (index + 1) << level)`.
///
/// Level 0 is a single leaf, whose hash is the leaf hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u32,
    pub index: u64,
}

impl NodeId {
    pub fn new(level: u32, index: u64) -> Self {
        Self { level, index }
    }

    /// The leaf indices this subtree covers. Bounds past `u64::MAX` (no tree has them) saturate.
    pub fn leaves(self) -> Range<u64> {
        shl_saturating(self.index, self.level)
            ..shl_saturating(self.index.saturating_add(1), self.level)
    }

    pub(crate) fn parent(self) -> Self {
        Self::new(self.level + 1, self.index >> 1)
    }
}

fn shl_saturating(value: u64, shift: u32) -> u64 {
    if value == 0 {
        0
    } else if shift > value.leading_zeros() {
        u64::MAX
    } else {
        value << shift
    }
}

/// The peaks of a tree of `size` leaves: the perfect subtrees of the binary decomposition of
/// `size`, largest (leftmost) first. They are the nodes [`crate::root_at`] needs, and the state
/// [`crate::Frontier::from_peaks`] resumes from.
pub fn peak_ids(size: u64) -> Vec<NodeId> {
    decompose(0..size)
}

/// The binary decomposition of `range`, largest part first. Each part is aligned when `range` is
/// a subtree of an RFC 6962 tree (module docs); the proof planner only asks for those.
pub(crate) fn decompose(range: Range<u64>) -> Vec<NodeId> {
    let mut parts = Vec::new();
    let mut start = range.start;
    let len = range.end.saturating_sub(range.start);
    for level in (0..u64::BITS).rev() {
        if (len >> level) & 1 == 1 {
            debug_assert_eq!(start % (1 << level), 0, "unaligned range {range:?}");
            parts.push(NodeId::new(level, start >> level));
            start += 1 << level;
        }
    }
    parts
}

/// The MTH of a range from the hashes of its decomposition (largest first): the right-to-left
/// fold `node_hash(h1, node_hash(h2, ... node_hash(h(n-1), hn)))`. `None` for no parts.
pub(crate) fn fold_parts(parts: &[Hash]) -> Option<Hash> {
    let (last, rest) = parts.split_last()?;
    Some(
        rest.iter()
            .rev()
            .fold(*last, |right, left| node_hash(left, &right)),
    )
}
