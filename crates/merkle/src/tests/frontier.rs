use proptest::prelude::*;

use super::{Log, chain_hashes, leaves, reference};
use crate::{Frontier, MerkleError, NodeId, empty_root, peak_ids};

#[test]
fn root_is_the_rfc_mth_at_every_size() {
    let data = chain_hashes(2500);
    let mut frontier = Frontier::new();
    assert_eq!(frontier.root(), empty_root());
    for (n, d) in (1..).zip(&data) {
        frontier.push(d);
        assert_eq!(frontier.size(), n as u64);
        assert_eq!(frontier.root(), reference::mth(&data[..n]), "size {n}");
    }
}

#[test]
fn push_returns_exactly_the_completed_subtrees() {
    let data = chain_hashes(1100);
    let mut frontier = Frontier::new();
    for (index, d) in (0u64..).zip(&data) {
        let completed = frontier.push(d);
        let expected: Vec<NodeId> = (0..=index.trailing_ones())
            .map(|level| NodeId::new(level, index >> level))
            .collect();
        let ids: Vec<NodeId> = completed.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, expected, "push of leaf {index}");
        for (id, hash) in completed {
            assert_eq!(id.leaves().end, index + 1);
            assert_eq!(hash, reference::mth(&data[leaves(id.leaves())]), "{id:?}");
        }
    }
}

#[test]
fn peaks_follow_peak_ids() {
    let data = chain_hashes(300);
    let mut frontier = Frontier::new();
    for (n, d) in (1u64..).zip(&data) {
        frontier.push(d);
        let ids = peak_ids(n);
        assert_eq!(ids.len(), frontier.peaks().len());
        assert_eq!(ids.iter().map(|id| id.leaves().end).max(), Some(n));
        for (id, hash) in ids.iter().zip(frontier.peaks()) {
            assert_eq!(*hash, reference::mth(&data[leaves(id.leaves())]), "{id:?}");
        }
    }
    assert_eq!(peak_ids(0), vec![]);
    assert_eq!(
        peak_ids(13),
        vec![NodeId::new(3, 0), NodeId::new(2, 2), NodeId::new(0, 12)]
    );
}

#[test]
fn from_peaks_checks_the_count() {
    assert_eq!(Frontier::from_peaks(0, vec![]), Ok(Frontier::new()));
    assert_eq!(
        Frontier::from_peaks(6, vec![[0; 32]]),
        Err(MerkleError::PeakCount {
            size: 6,
            expected: 2,
            actual: 1
        })
    );
}

proptest! {
    /// A writer that restarts from the stored nodes (and the chain hashes below the stored level)
    /// continues exactly as one that never stopped.
    #[test]
    fn resume_from_storage_equals_uninterrupted(
        size in 0u64..3000,
        more in 0u64..600,
        stored_level in 0u32..=10,
    ) {
        let log = Log::new(size + more, stored_level);
        let mut uninterrupted = Frontier::new();
        for d in &log.data[..size as usize] {
            uninterrupted.push(d);
        }

        let ids = peak_ids(size);
        let known = log.fetch(&ids, size);
        let peaks = ids.iter().map(|id| known[id]).collect();
        let mut resumed = Frontier::from_peaks(size, peaks).unwrap();
        prop_assert_eq!(&resumed, &uninterrupted);

        for d in &log.data[size as usize..] {
            prop_assert_eq!(resumed.push(d), uninterrupted.push(d));
            prop_assert_eq!(resumed.root(), uninterrupted.root());
        }
        prop_assert_eq!(resumed.root(), reference::mth(&log.data));
    }
}
