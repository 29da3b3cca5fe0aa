//! Inclusion and consistency proofs, planned from sizes alone and computed from perfect nodes.
//!
//! Each proof element of RFC 6962 §2.1.1 (PATH) and §2.1.2 (PROOF, SUBPROOF) is the MTH of a
//! subtree `[a, b)` of the RFC 6962 tree. The recursions below are the RFC's, over leaf ranges
//! instead of leaf lists, and produce those ranges in the RFC's order. A range's MTH is then
//! the fold of its perfect decomposition ([`crate::node`]), so a proof needs only [`NodeId`]
//! hashes: the `*_nodes` functions list them (for fetching), the `*_proof` functions compute the
//! proof from a lookup of them.

use std::ops::Range;

use crate::error::MerkleError;
use crate::hash::{Hash, empty_root};
use crate::node::{NodeId, decompose, fold_parts};

/// The nodes [`inclusion_proof`] looks up, in order.
pub fn inclusion_nodes(leaf_index: u64, tree_size: u64) -> Result<Vec<NodeId>, MerkleError> {
    let ranges = inclusion_ranges(leaf_index, tree_size)?;
    Ok(ranges.into_iter().flat_map(decompose).collect())
}

/// The audit path `PATH(leaf_index, D[0:tree_size])`, leaf to root.
pub fn inclusion_proof(
    leaf_index: u64,
    tree_size: u64,
    lookup: &dyn Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, MerkleError> {
    let ranges = inclusion_ranges(leaf_index, tree_size)?;
    ranges
        .into_iter()
        .map(|range| range_hash(range, lookup))
        .collect()
}

/// The nodes [`consistency_proof`] looks up, in order.
pub fn consistency_nodes(old_size: u64, new_size: u64) -> Result<Vec<NodeId>, MerkleError> {
    let ranges = consistency_ranges(old_size, new_size)?;
    Ok(ranges.into_iter().flat_map(decompose).collect())
}

/// The consistency proof `PROOF(old_size, D[0:new_size])`; empty when the sizes are equal.
pub fn consistency_proof(
    old_size: u64,
    new_size: u64,
    lookup: &dyn Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, MerkleError> {
    let ranges = consistency_ranges(old_size, new_size)?;
    ranges
        .into_iter()
        .map(|range| range_hash(range, lookup))
        .collect()
}

/// The root (MTH) of the first `size` leaves. It looks up [`crate::peak_ids`]`(size)`.
pub fn root_at(size: u64, lookup: &dyn Fn(NodeId) -> Option<Hash>) -> Result<Hash, MerkleError> {
    range_hash(0..size, lookup)
}

/// The MTH of a subtree range: its decomposition's hashes, folded. The empty range has the
/// empty root.
fn range_hash(
    range: Range<u64>,
    lookup: &dyn Fn(NodeId) -> Option<Hash>,
) -> Result<Hash, MerkleError> {
    let parts = decompose(range)
        .into_iter()
        .map(|id| lookup(id).ok_or(MerkleError::MissingNode(id)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(fold_parts(&parts).unwrap_or_else(empty_root))
}

fn inclusion_ranges(leaf_index: u64, tree_size: u64) -> Result<Vec<Range<u64>>, MerkleError> {
    if leaf_index >= tree_size {
        return Err(MerkleError::IndexOutOfRange {
            index: leaf_index,
            size: tree_size,
        });
    }
    let mut ranges = Vec::new();
    path(leaf_index, 0..tree_size, &mut ranges);
    Ok(ranges)
}

fn consistency_ranges(old_size: u64, new_size: u64) -> Result<Vec<Range<u64>>, MerkleError> {
    if old_size == 0 || old_size > new_size {
        return Err(MerkleError::InvalidSizes {
            old: old_size,
            new: new_size,
        });
    }
    let mut ranges = Vec::new();
    subproof(old_size, 0..new_size, true, &mut ranges);
    Ok(ranges)
}

/// `PATH(m, D[tree])`, `m` counted from `tree.start`, `0 <= m < |tree|`:
///
/// ```text
/// PATH(0, {d(0)}) = {}
/// PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])      for m < k
/// PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])  for m >= k
/// ```
fn path(m: u64, tree: Range<u64>, out: &mut Vec<Range<u64>>) {
    let n = tree.end - tree.start;
    if n <= 1 {
        return;
    }
    let mid = tree.start + split(n);
    if m < mid - tree.start {
        path(m, tree.start..mid, out);
        out.push(mid..tree.end);
    } else {
        path(m - (mid - tree.start), mid..tree.end, out);
        out.push(tree.start..mid);
    }
}

/// `SUBPROOF(m, D[tree], b)`, `m` counted from `tree.start`, `0 < m <= |tree|`:
///
/// ```text
/// SUBPROOF(m, D[m], true)  = {}
/// SUBPROOF(m, D[m], false) = {MTH(D[m])}
/// SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])          for m <= k
/// SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])  for m > k
/// ```
fn subproof(m: u64, tree: Range<u64>, complete: bool, out: &mut Vec<Range<u64>>) {
    let n = tree.end - tree.start;
    if m == n {
        if !complete {
            out.push(tree);
        }
        return;
    }
    // Here 0 < m < n, so n >= 2.
    let mid = tree.start + split(n);
    if m <= mid - tree.start {
        subproof(m, tree.start..mid, complete, out);
        out.push(mid..tree.end);
    } else {
        subproof(m - (mid - tree.start), mid..tree.end, false, out);
        out.push(tree.start..mid);
    }
}

/// The largest power of two strictly below `n`, for `n >= 2` (RFC 6962's `k`).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (u64::BITS - 1 - (n - 1).leading_zeros())
}
