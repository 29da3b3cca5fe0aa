//! The writer's state: the right edge of the tree, enough to append and to compute the root.
//!
//! A tree of `size` leaves is, by the decomposition in [`crate::node`], its peaks: one perfect
//! subtree per set bit of `size`, largest first. Appending a leaf merges equal-sized peaks like a
//! binary counter carries, and every merge completes a perfect subtree, which is exactly what the
//! node table stores. Memory is at most 64 hashes, whatever the size.

use crate::error::MerkleError;
use crate::hash::{Hash, empty_root, leaf_hash, node_hash};
use crate::node::{NodeId, fold_parts};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    /// The hashes of `peak_ids(size)`, in that order. Invariant: `peaks.len() == size.count_ones()`.
    peaks: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resumes a tree of `size` leaves from the hashes of its peaks, in [`crate::peak_ids`]
    /// order (largest first).
    pub fn from_peaks(size: u64, peaks: Vec<Hash>) -> Result<Self, MerkleError> {
        let expected = size.count_ones() as usize;
        if peaks.len() != expected {
            return Err(MerkleError::PeakCount {
                size,
                expected,
                actual: peaks.len(),
            });
        }
        Ok(Self { size, peaks })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The peak hashes, in [`crate::peak_ids`]`(self.size())` order.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// The RFC 6962 Merkle Tree Hash of all leaves so far (the empty root for none).
    pub fn root(&self) -> Hash {
        fold_parts(&self.peaks).unwrap_or_else(empty_root)
    }

    /// Appends the leaf whose data is `leaf_data` (an event's chain hash; this applies
    /// [`leaf_hash`] itself) at index `self.size()`.
    ///
    /// Returns every perfect subtree this append completes, with its hash, from level 0 (the new
    /// leaf) upward. A writer stores those at level >= [`crate::STORED_LEVEL`].
    ///
    /// # Panics
    ///
    /// If the tree already holds `u64::MAX` leaves.
    pub fn push(&mut self, leaf_data: &Hash) -> Vec<(NodeId, Hash)> {
        let index = self.size;
        let Some(next) = index.checked_add(1) else {
            panic!("a Merkle tree holds at most u64::MAX leaves");
        };
        let mut id = NodeId::new(0, index);
        let mut hash = leaf_hash(leaf_data);
        let mut completed = vec![(id, hash)];
        // The new leaf completes one subtree per trailing one bit of `index`, each with the
        // rightmost remaining peak as its left half. `trailing_ones <= count_ones == peaks.len()`.
        let keep = self.peaks.len() - index.trailing_ones() as usize;
        for left in self.peaks.drain(keep..).rev() {
            hash = node_hash(&left, &hash);
            id = id.parent();
            completed.push((id, hash));
        }
        self.peaks.push(hash);
        self.size = next;
        completed
    }
}
