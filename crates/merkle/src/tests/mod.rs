//! The crate against a literal transcription of RFC 6962 §2.1 ([`reference`]) and against the
//! published Certificate Transparency test vectors, through the same storage path the API takes.

mod fetch;
mod frontier;
mod proofs;
mod reference;
mod vectors;
mod wire;

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::{
    FetchPlan, Frontier, Hash, NodeId, consistency_nodes, consistency_proof, inclusion_nodes,
    inclusion_proof, nodes_from_leaves, peak_ids, root_at,
};

/// Distinct stand-ins for chain hashes.
fn chain_hashes(n: u64) -> Vec<Hash> {
    (0..n)
        .map(|i| Sha256::digest(i.to_be_bytes()).into())
        .collect()
}

fn leaves(range: std::ops::Range<u64>) -> std::ops::Range<usize> {
    range.start as usize..range.end as usize
}

/// A log as the database holds it: the chain hashes, and the node table a writer filled from
/// [`Frontier::push`] (levels >= `stored_level` only).
struct Log {
    data: Vec<Hash>,
    table: HashMap<NodeId, Hash>,
    stored_level: u32,
}

impl Log {
    fn new(size: u64, stored_level: u32) -> Self {
        let data = chain_hashes(size);
        let mut frontier = Frontier::new();
        let mut table = HashMap::new();
        for d in &data {
            let completed = frontier.push(d);
            table.extend(
                completed
                    .into_iter()
                    .filter(|(id, _)| id.level >= stored_level),
            );
        }
        Self {
            data,
            table,
            stored_level,
        }
    }

    /// The hashes of `needed` the way the API gets them, as of tree size `size`: node rows at
    /// stored levels, chain hashes read by range below.
    fn fetch(&self, needed: &[NodeId], size: u64) -> HashMap<NodeId, Hash> {
        for id in needed {
            assert!(
                id.leaves().end <= size,
                "{id:?} is not in a tree of size {size}"
            );
        }
        let plan = FetchPlan::new(needed, self.stored_level);
        let read: u64 = plan.leaves.iter().map(|r| r.end - r.start).sum();
        assert!(read <= 2 << self.stored_level, "read {read} leaves");
        let mut known = HashMap::new();
        for id in plan.stored {
            known.insert(id, self.table[&id]);
        }
        for range in plan.leaves {
            let slice = &self.data[leaves(range.clone())];
            known.extend(nodes_from_leaves(range.start, slice, self.stored_level).unwrap());
        }
        known
    }

    fn inclusion(&self, index: u64, size: u64) -> Vec<Hash> {
        let known = self.fetch(&inclusion_nodes(index, size).unwrap(), size);
        inclusion_proof(index, size, &|id| known.get(&id).copied()).unwrap()
    }

    fn consistency(&self, old: u64, new: u64) -> Vec<Hash> {
        let known = self.fetch(&consistency_nodes(old, new).unwrap(), new);
        consistency_proof(old, new, &|id| known.get(&id).copied()).unwrap()
    }

    fn root(&self, size: u64) -> Hash {
        let known = self.fetch(&peak_ids(size), size);
        root_at(size, &|id| known.get(&id).copied()).unwrap()
    }
}
