//! The one error type: a request that names no proof, a node the caller could not supply, or a
//! proof that does not verify.

use crate::node::NodeId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency proof needs `0 < old <= new`.
    #[error("no consistency proof from tree size {old} to tree size {new}: need 0 < old <= new")]
    InvalidSizes { old: u64, new: u64 },
    /// [`crate::Frontier::from_peaks`] got a number of peaks that does not fit the size.
    #[error("a tree of size {size} has {expected} peaks, got {actual}")]
    PeakCount {
        size: u64,
        expected: usize,
        actual: usize,
    },
    /// The lookup had no hash for a node the proof needs.
    #[error("the hash of node {0:?} is not available")]
    MissingNode(NodeId),
    /// Leaf data whose indices would not fit in a `u64`.
    #[error("{len} leaves from index {first} run past the largest possible tree")]
    LeafRange { first: u64, len: usize },
    /// The proof is too short or too long for the claimed sizes.
    #[error("the proof has the wrong number of hashes")]
    ProofLength,
    /// The proof does not lead to the given root(s).
    #[error("the proof does not lead to the given root")]
    RootMismatch,
}
