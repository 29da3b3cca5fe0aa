//! The Certificate Transparency test vectors (RFC 6962 reference leaves), checked against both
//! the reference transcription and the crate's planner and verifiers.

use super::reference;
use crate::verify::root_from_inclusion;
use crate::{
    Frontier, Hash, MerkleError, NodeId, consistency_proof, empty_root, inclusion_proof, leaf_hash,
    root_at, verify_consistency,
};

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Roots of the trees of the first 1..=8 leaves.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

const INCLUSION: [(u64, u64, &[&str]); 2] = [
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

const CONSISTENCY: [(u64, u64, &[&str]); 3] = [
    (
        2,
        8,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

fn h(text: &str) -> Hash {
    hex::decode(text).unwrap().try_into().unwrap()
}

fn leaves() -> Vec<Vec<u8>> {
    LEAVES.iter().map(|l| hex::decode(l).unwrap()).collect()
}

/// Node hashes of the vector tree, by definition (the crate's leaves are chain hashes, these are
/// not, so the nodes come from the reference MTH).
fn lookup(id: NodeId) -> Option<Hash> {
    let range = id.leaves();
    let all = leaves();
    let part = all.get(range.start as usize..range.end as usize)?;
    Some(reference::mth(part))
}

#[test]
fn empty_tree_root_is_sha256_of_nothing() {
    let expected = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(empty_root(), expected);
    assert_eq!(Frontier::new().root(), expected);
    assert_eq!(root_at(0, &|_| None), Ok(expected));
    assert_eq!(reference::mth::<Vec<u8>>(&[]), expected);
}

#[test]
fn roots_match() {
    let leaves = leaves();
    for (n, root) in (1..).zip(ROOTS) {
        assert_eq!(reference::mth(&leaves[..n]), h(root), "reference, size {n}");
        assert_eq!(root_at(n as u64, &lookup), Ok(h(root)), "root_at, size {n}");
    }
    assert_eq!(leaf_hash(&leaves[0]), h(ROOTS[0]));
}

#[test]
fn inclusion_proofs_match_and_verify() {
    let leaves = leaves();
    for (index, size, proof) in INCLUSION {
        let proof: Vec<Hash> = proof.iter().map(|p| h(p)).collect();
        assert_eq!(
            reference::path(index as usize, &leaves[..size as usize]),
            proof
        );
        assert_eq!(inclusion_proof(index, size, &lookup), Ok(proof.clone()));
        let root = root_from_inclusion(&leaf_hash(&leaves[index as usize]), index, size, &proof);
        assert_eq!(root, Ok(h(ROOTS[size as usize - 1])));
    }
}

#[test]
fn consistency_proofs_match_and_verify() {
    let leaves = leaves();
    for (old, new, proof) in CONSISTENCY {
        let proof: Vec<Hash> = proof.iter().map(|p| h(p)).collect();
        assert_eq!(
            reference::proof(old as usize, &leaves[..new as usize]),
            proof
        );
        assert_eq!(consistency_proof(old, new, &lookup), Ok(proof.clone()));
        let (old_root, new_root) = (h(ROOTS[old as usize - 1]), h(ROOTS[new as usize - 1]));
        assert_eq!(
            verify_consistency(old, new, &old_root, &new_root, &proof),
            Ok(())
        );
        assert_eq!(
            verify_consistency(old, new, &new_root, &old_root, &proof),
            Err(MerkleError::RootMismatch)
        );
    }
}
