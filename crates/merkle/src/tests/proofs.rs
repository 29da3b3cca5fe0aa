//! Planned and computed proofs equal RFC 6962's, verify with RFC 9162's algorithms, and any
//! change to what is verified makes verification fail.

use proptest::prelude::*;

use super::{Log, reference};
use crate::{
    Hash, MerkleError, consistency_nodes, consistency_proof, inclusion_nodes, inclusion_proof,
    verify_consistency, verify_inclusion,
};

const MAX_SIZE: u64 = 2000;

/// Every way to flip one bit in one of `hashes`: `(which hash, byte, mask)`, one bit per byte.
fn flips(count: usize, bit: u8) -> impl Iterator<Item = (usize, usize, u8)> {
    (0..count)
        .flat_map(move |i| (0..32).map(move |byte| (i, byte, 1 << ((bit as usize + byte) % 8))))
}

fn flipped(hash: &Hash, byte: usize, mask: u8) -> Hash {
    let mut hash = *hash;
    hash[byte] ^= mask;
    hash
}

fn size_and_index() -> impl Strategy<Value = (u64, u64)> {
    (1..=MAX_SIZE).prop_flat_map(|size| (Just(size), 0..size))
}

proptest! {
    #[test]
    fn inclusion(
        (size, index) in size_and_index(),
        (other_size, other_index) in size_and_index(),
        stored_level in 0u32..=11,
        bit in 0u8..8,
    ) {
        let log = Log::new(MAX_SIZE, stored_level);
        let data = &log.data;
        let (m, n) = (index as usize, size as usize);
        let leaf = data[m];
        let root = reference::mth(&data[..n]);
        prop_assert_eq!(log.root(size), root);

        let proof = log.inclusion(index, size);
        prop_assert_eq!(&proof, &reference::path(m, &data[..n]));
        prop_assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));

        // Any changed bit in the proof, the root or the leaf.
        for (i, byte, mask) in flips(proof.len(), bit) {
            let mut bad = proof.clone();
            bad[i] = flipped(&bad[i], byte, mask);
            prop_assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
        }
        for (_, byte, mask) in flips(1, bit) {
            let bad_root = flipped(&root, byte, mask);
            prop_assert!(verify_inclusion(&leaf, index, size, &proof, &bad_root).is_err());
            let bad_leaf = flipped(&leaf, byte, mask);
            prop_assert!(verify_inclusion(&bad_leaf, index, size, &proof, &root).is_err());
        }
        // A hash too few or too many.
        if let Some((_, shorter)) = proof.split_last() {
            prop_assert_eq!(
                verify_inclusion(&leaf, index, size, shorter, &root),
                Err(MerkleError::ProofLength)
            );
        }
        let mut longer = proof.clone();
        longer.push(root);
        prop_assert!(verify_inclusion(&leaf, index, size, &longer, &root).is_err());

        // Another index in the same tree, for this leaf or for that index's own leaf.
        let other = (index + 1 + other_index % (size - 1).max(1)) % size;
        if other != index {
            prop_assert!(verify_inclusion(&leaf, other, size, &proof, &root).is_err());
            prop_assert!(verify_inclusion(&data[other as usize], other, size, &proof, &root).is_err());
        }
        // An index outside the tree.
        prop_assert_eq!(
            verify_inclusion(&leaf, size + other_index, size, &proof, &root),
            Err(MerkleError::IndexOutOfRange { index: size + other_index, size })
        );

        // Another size. With that size's own root it fails unless the honest proof is the same.
        if other_size != size && index < other_size {
            let other_root = reference::mth(&data[..other_size as usize]);
            let honest = reference::path(m, &data[..other_size as usize]);
            prop_assert_eq!(
                verify_inclusion(&leaf, index, other_size, &proof, &other_root).is_ok(),
                honest == proof
            );
            // With this root, it fails unless the path has the same shape: the size is bound
            // only through the root (see the `verify` module).
            prop_assert_eq!(
                verify_inclusion(&leaf, index, other_size, &proof, &root).is_ok(),
                reference::path_sides(m, other_size as usize) == reference::path_sides(m, n)
            );
        }
    }

    #[test]
    fn consistency(
        (new, old_seed) in size_and_index(),
        (other_new, other_seed) in size_and_index(),
        stored_level in 0u32..=11,
        bit in 0u8..8,
    ) {
        let log = Log::new(MAX_SIZE, stored_level);
        let data = &log.data;
        let old = old_seed + 1;
        let (m, n) = (old as usize, new as usize);
        let old_root = reference::mth(&data[..m]);
        let new_root = reference::mth(&data[..n]);

        let proof = log.consistency(old, new);
        prop_assert_eq!(&proof, &reference::proof(m, &data[..n]));
        prop_assert_eq!(verify_consistency(old, new, &old_root, &new_root, &proof), Ok(()));

        for (i, byte, mask) in flips(proof.len(), bit) {
            let mut bad = proof.clone();
            bad[i] = flipped(&bad[i], byte, mask);
            prop_assert!(verify_consistency(old, new, &old_root, &new_root, &bad).is_err());
        }
        for (_, byte, mask) in flips(1, bit) {
            let bad_old = flipped(&old_root, byte, mask);
            prop_assert!(verify_consistency(old, new, &bad_old, &new_root, &proof).is_err());
            let bad_new = flipped(&new_root, byte, mask);
            prop_assert!(verify_consistency(old, new, &old_root, &bad_new, &proof).is_err());
        }
        if let Some((_, shorter)) = proof.split_last() {
            prop_assert!(verify_consistency(old, new, &old_root, &new_root, shorter).is_err());
        }
        let mut longer = proof.clone();
        longer.push(new_root);
        prop_assert!(verify_consistency(old, new, &old_root, &new_root, &longer).is_err());

        // Other sizes with their own roots: fails unless the honest proof is the same.
        let other_old = other_seed + 1;
        if (other_old, other_new) != (old, new) {
            let (om, on) = (other_old as usize, other_new as usize);
            let honest = reference::proof(om, &data[..on]);
            let ok = verify_consistency(
                other_old,
                other_new,
                &reference::mth(&data[..om]),
                &reference::mth(&data[..on]),
                &proof,
            );
            prop_assert_eq!(ok.is_ok(), honest == proof);
        }
    }
}

#[test]
fn equal_sizes() {
    let log = Log::new(20, 2);
    for size in 1..=20 {
        let root = log.root(size);
        assert_eq!(log.consistency(size, size), Vec::<Hash>::new());
        assert_eq!(verify_consistency(size, size, &root, &root, &[]), Ok(()));
        assert_eq!(
            verify_consistency(size, size, &root, &root, &[root]),
            Err(MerkleError::ProofLength)
        );
        assert_eq!(
            verify_consistency(size, size, &root, &[0; 32], &[]),
            Err(MerkleError::RootMismatch)
        );
    }
}

#[test]
fn requests_that_name_no_proof_are_rejected() {
    let none = |_| None;
    let out = |index, size| Some(MerkleError::IndexOutOfRange { index, size });
    let sizes = |old, new| Some(MerkleError::InvalidSizes { old, new });
    let zero = [0; 32];
    assert_eq!(inclusion_nodes(0, 0).err(), out(0, 0));
    assert_eq!(inclusion_nodes(5, 5).err(), out(5, 5));
    assert_eq!(inclusion_proof(7, 3, &none).err(), out(7, 3));
    assert_eq!(verify_inclusion(&zero, 3, 3, &[], &zero).err(), out(3, 3));
    assert_eq!(verify_inclusion(&zero, 0, 0, &[], &zero).err(), out(0, 0));
    assert_eq!(consistency_nodes(0, 5).err(), sizes(0, 5));
    assert_eq!(consistency_nodes(6, 5).err(), sizes(6, 5));
    assert_eq!(consistency_proof(0, 0, &none).err(), sizes(0, 0));
    assert_eq!(
        verify_consistency(0, 5, &zero, &zero, &[]).err(),
        sizes(0, 5)
    );
    assert_eq!(
        verify_consistency(6, 5, &zero, &zero, &[]).err(),
        sizes(6, 5)
    );
    // 0 < old < new needs at least one hash, even when old is a power of two.
    assert_eq!(
        verify_consistency(4, 5, &zero, &zero, &[]),
        Err(MerkleError::ProofLength)
    );
}

#[test]
fn a_missing_node_is_reported() {
    let log = Log::new(1000, 8);
    let needed = inclusion_nodes(3, 1000).unwrap();
    let known = log.fetch(&needed, 1000);
    let gone = needed[needed.len() - 1];
    let lookup = |id| {
        if id == gone {
            None
        } else {
            known.get(&id).copied()
        }
    };
    assert_eq!(
        inclusion_proof(3, 1000, &lookup),
        Err(MerkleError::MissingNode(gone))
    );
}

#[test]
fn proofs_near_the_largest_sizes_are_planned_without_overflow() {
    let max = u64::MAX;
    let nodes = inclusion_nodes(max - 1, max).unwrap();
    assert!(nodes.iter().all(|id| id.leaves().end <= max));
    assert_eq!(nodes.len(), 63);
    assert!(consistency_nodes(max - 1, max).is_ok());
    assert!(consistency_nodes(1, max).is_ok());
    assert_eq!(crate::peak_ids(max).len(), 64);
}
