//! An RFC 6962 (Certificate Transparency) Merkle tree over the event log.
//!
//! The hash chain already makes the log tamper-evident for whoever replays all of it. The Merkle
//! tree adds what the chain cannot: an outsider holding only signed tree heads can check that one
//! event is in the log (inclusion proof, RFC 6962 §2.1.1) and that a later tree head extends an
//! earlier one (consistency proof, §2.1.2), each with a logarithmic number of hashes, using any
//! RFC 6962 / RFC 9162 verifier.
//!
//! The leaf of log position `p` (1-based) is leaf index `p - 1`, and its leaf data is that
//! event's 32-byte chain hash; its leaf hash is `SHA-256(0x00 || chain_hash)`.
//!
//! The crate is pure: no I/O. The storage it is designed for keeps the hash of every perfect,
//! aligned subtree ([`NodeId`]) at level [`STORED_LEVEL`] or above, and reads chain hashes by
//! position for anything below. So:
//!
//! - a writer feeds chain hashes to a [`Frontier`], which hands back every subtree each append
//!   completes (to store those at level >= [`STORED_LEVEL`]);
//! - a reader plans a proof ([`inclusion_nodes`], [`consistency_nodes`], [`peak_ids`] for a root),
//!   splits the plan into node rows and leaf ranges ([`FetchPlan`]), hashes the leaf ranges
//!   ([`nodes_from_leaves`]), and computes the proof from those hashes ([`inclusion_proof`],
//!   [`consistency_proof`], [`root_at`]);
//! - a verifier runs [`verify_inclusion`] and [`verify_consistency`] (RFC 9162 §2.1.3.2, §2.1.4.2).

mod error;
mod fetch;
mod frontier;
mod hash;
mod node;
mod proof;
mod verify;
mod wire;

#[cfg(test)]
mod tests;

pub use error::MerkleError;
pub use fetch::{FetchPlan, nodes_from_leaves};
pub use frontier::Frontier;
pub use hash::{Hash, empty_root, leaf_hash, node_hash};
pub use node::{NodeId, STORED_LEVEL, peak_ids};
pub use proof::{consistency_nodes, consistency_proof, inclusion_nodes, inclusion_proof, root_at};
pub use verify::{verify_consistency, verify_inclusion};
pub use wire::{ConsistencyProof, InclusionProof};
