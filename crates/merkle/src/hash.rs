//! The three hashes of RFC 6962 §2.1, with SHA-256.
//!
//! The 0x00 / 0x01 prefixes separate leaves from interior nodes, so that no interior node can be
//! presented as a leaf (second-preimage resistance of the tree).

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf's data (a chain hash), a leaf hash, a node hash or a root.
pub type Hash = [u8; 32];

/// The leaf hash `SHA-256(0x00 || data)`. In this log `data` is an event's 32-byte chain hash.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The interior node hash `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}
