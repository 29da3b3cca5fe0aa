//! Proofs as served to outsiders: sizes as numbers, hashes as lowercase hex strings, in the
//! RFC's order, so any RFC 9162 verifier can check them without this crate.

use serde::{Deserialize, Serialize};

use crate::error::MerkleError;
use crate::hash::Hash;
use crate::verify::{verify_consistency, verify_inclusion};

/// An inclusion proof: `audit_path` is `PATH(leaf_index, D[0:tree_size])`, leaf to root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    #[serde(with = "hex_hashes")]
    #[schemars(with = "Vec<String>")]
    pub audit_path: Vec<Hash>,
}

impl InclusionProof {
    /// [`verify_inclusion`] of this proof, for the leaf whose data (chain hash) is `leaf_data`.
    pub fn verify(&self, leaf_data: &Hash, root: &Hash) -> Result<(), MerkleError> {
        verify_inclusion(
            leaf_data,
            self.leaf_index,
            self.tree_size,
            &self.audit_path,
            root,
        )
    }
}

/// A consistency proof: `proof` is `PROOF(old_size, D[0:new_size])`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    #[serde(with = "hex_hashes")]
    #[schemars(with = "Vec<String>")]
    pub proof: Vec<Hash>,
}

impl ConsistencyProof {
    /// [`verify_consistency`] of this proof between the two roots.
    pub fn verify(&self, old_root: &Hash, new_root: &Hash) -> Result<(), MerkleError> {
        verify_consistency(
            self.old_size,
            self.new_size,
            old_root,
            new_root,
            &self.proof,
        )
    }
}

/// `Vec<Hash>` as a list of 64-character hex strings (lowercase out; either case in).
mod hex_hashes {
    use hex::FromHex;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::hash::Hash;

    pub(super) fn serialize<S: Serializer>(
        hashes: &[Hash],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(hashes.iter().map(hex::encode))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Hash>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|text| Hash::from_hex(text).map_err(D::Error::custom))
            .collect()
    }
}
