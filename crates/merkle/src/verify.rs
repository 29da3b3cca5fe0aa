//! What an outside verifier runs: RFC 9162 §2.1.3.2 and §2.1.4.2, step by step.
//!
//! These are the RFC's algorithms and not a recomputation through this crate's planner, so that
//! a proof we serve is accepted by any conforming verifier, and so that a planner bug cannot hide
//! behind a matching verifier bug (the tests check the planner against RFC 6962's definitions).
//!
//! A proof binds the tree size only through the root: an inclusion proof for size `n` may also
//! verify for another size with the same shape of path. Roots must therefore come from tree heads
//! signed together with their sizes.

use crate::error::MerkleError;
use crate::hash::{Hash, leaf_hash, node_hash};

/// Checks that the leaf whose data is `leaf_data` (the event's chain hash; this applies
/// [`leaf_hash`] itself) is at `leaf_index` in the tree of `tree_size` leaves whose root is
/// `root`, given its audit path `proof`.
pub fn verify_inclusion(
    leaf_data: &Hash,
    leaf_index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    let computed = root_from_inclusion(&leaf_hash(leaf_data), leaf_index, tree_size, proof)?;
    if computed == *root {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch)
    }
}

/// RFC 9162 §2.1.3.2 up to the final comparison: the root the path leads to from `hash` (a leaf
/// hash).
pub(crate) fn root_from_inclusion(
    hash: &Hash,
    leaf_index: u64,
    tree_size: u64,
    proof: &[Hash],
) -> Result<Hash, MerkleError> {
    // 1. leaf_index >= tree_size fails.
    if leaf_index >= tree_size {
        return Err(MerkleError::IndexOutOfRange {
            index: leaf_index,
            size: tree_size,
        });
    }
    // 2., 3.
    let mut f = leaf_index;
    let mut s = tree_size - 1;
    let mut r = *hash;
    // 4.
    for p in proof {
        // a.
        if s == 0 {
            return Err(MerkleError::ProofLength);
        }
        // b.
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        // c.
        f >>= 1;
        s >>= 1;
    }
    // 5. (the root comparison is the caller's)
    if s != 0 {
        return Err(MerkleError::ProofLength);
    }
    Ok(r)
}

/// Checks that the tree of `new_size` leaves with root `new_root` extends the tree of `old_size`
/// leaves with root `old_root`, given the consistency proof `proof`.
///
/// Equal sizes need an empty proof and equal roots. `old_size == 0` is rejected
/// ([`MerkleError::InvalidSizes`]): RFC 6962 defines no proof from the empty tree, which every
/// tree trivially extends.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old_size == 0 || old_size > new_size {
        return Err(MerkleError::InvalidSizes {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(MerkleError::ProofLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        };
    }
    // Now 0 < old_size < new_size, as §2.1.4.2 requires.
    // 1. An empty proof fails.
    let Some((head, tail)) = proof.split_first() else {
        return Err(MerkleError::ProofLength);
    };
    // 2. If old_size is a power of two, old_root is prepended to the proof.
    let (seed, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (head, tail)
    };
    // 3.
    let mut f = old_size - 1;
    let mut s = new_size - 1;
    // 4.
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    // 5.
    let mut fr = *seed;
    let mut sr = *seed;
    // 6.
    for c in rest {
        // a.
        if s == 0 {
            return Err(MerkleError::ProofLength);
        }
        // b.
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        // c.
        f >>= 1;
        s >>= 1;
    }
    // 7.
    if s != 0 {
        return Err(MerkleError::ProofLength);
    }
    if fr == *old_root && sr == *new_root {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch)
    }
}
