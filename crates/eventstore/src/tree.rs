//! The RFC 6962 Merkle tree over the log, kept in PostgreSQL beside the hash chain.
//!
//! The chain proves the log intact to whoever replays all of it; the tree lets an outsider who
//! holds only signed tree heads check that one event is in the log (an inclusion proof) and that
//! a later head extends an earlier one (a consistency proof), with a logarithmic number of
//! hashes. The leaf of position `p` is leaf index `p - 1`, its leaf data the event's chain hash.
//!
//! `merkle_nodes` holds every complete perfect subtree at level [`merkle::STORED_LEVEL`] (256
//! leaves) and above, about one row per 128 events; anything smaller is recomputed from the chain
//! hashes in `events`, read by position range (a range scan on the primary key). So any proof or
//! root needs one query for its planned nodes and one for at most two blocks of 256 chain hashes,
//! whatever the log's size.
//!
//! The relay's leader writes the tree ([`TreeWriter`]): it feeds the chain hashes of the events
//! it publishes to a [`merkle::Frontier`], stores the completed nodes, and only then signs a tree
//! head. So the node table always covers every size up to the latest signed tree head, and
//! proofs are served for those sizes only ([`StoreError::NotCovered`] beyond).

use std::collections::HashMap;
use std::ops::Range;

use deadpool_postgres::Pool;
use merkle::{FetchPlan, Frontier, Hash, NodeId, STORED_LEVEL};
use tokio_postgres::GenericClient;

use crate::checkpoint::{CHECKPOINT_COLUMNS, Signer, TreeHead, checkpoint_from_row};
use crate::error::StoreError;
use crate::read::{to_hash, to_i64, to_u64};

pub use merkle::{ConsistencyProof, InclusionProof};

/// Chain hashes read per query while catching up.
const CATCH_UP_BATCH: u64 = 50_000;
/// Completed nodes a writer keeps before it writes them anyway.
const FLUSH_AT: usize = 4096;

/// The writer's side of the tree: the frontier of the first `size()` events, and the completed
/// nodes not yet written. Memory is bounded (at most 64 peak hashes and [`FLUSH_AT`] nodes).
#[derive(Debug, Clone, Default)]
pub struct TreeWriter {
    frontier: Frontier,
    pending: Vec<(NodeId, Hash)>,
}

impl TreeWriter {
    /// The tree of no events.
    pub fn new() -> TreeWriter {
        TreeWriter::default()
    }

    /// Resumes at the latest signed tree head, rebuilt from the node table and the chain hashes
    /// and checked against the head's signed root (a mismatch is corruption); the empty tree when
    /// there is no tree head yet.
    pub async fn resume(pool: &Pool) -> Result<TreeWriter, StoreError> {
        let client = pool.get().await?;
        let Some(head) = latest_tree_head_on(&**client).await? else {
            return Ok(TreeWriter::new());
        };
        let frontier = resume_frontier(&**client, head.position).await?;
        if Some(frontier.root()) != head.tree_root {
            return Err(StoreError::Corrupt(format!(
                "the Merkle tree rebuilt at the tree head of size {} does not have the root that \
                 head signed",
                head.position
            )));
        }
        Ok(TreeWriter {
            frontier,
            pending: Vec::new(),
        })
    }

    /// A writer over a frontier resumed elsewhere (e.g. [`resume_frontier`]).
    pub fn from_frontier(frontier: Frontier) -> TreeWriter {
        TreeWriter {
            frontier,
            pending: Vec::new(),
        }
    }

    /// The number of events in the tree.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The Merkle root of the first [`size`](TreeWriter::size) events.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Completed nodes waiting to be written.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// True when enough nodes wait that they should be written now.
    pub fn should_flush(&self) -> bool {
        self.pending.len() >= FLUSH_AT
    }

    /// Adds the event at `position` with chain hash `chain_hash` if it is the next leaf. A
    /// position already in the tree is ignored (the store never changes it); a later one is not
    /// added either, and [`catch_up`](TreeWriter::catch_up) fills the gap from the store. Returns
    /// whether it was added.
    pub fn push(&mut self, position: u64, chain_hash: &Hash) -> bool {
        if position != self.size() + 1 {
            return false;
        }
        let completed = self.frontier.push(chain_hash);
        self.pending.extend(
            completed
                .into_iter()
                .filter(|(id, _)| id.level >= STORED_LEVEL),
        );
        true
    }

    /// Reads the chain hashes of the events after [`size`](TreeWriter::size) up to `to` from the
    /// store and adds them, writing the nodes as it goes.
    pub async fn catch_up(&mut self, pool: &Pool, to: u64) -> Result<(), StoreError> {
        let client = pool.get().await?;
        while self.size() < to {
            let from = self.size();
            let until = to.min(from + CATCH_UP_BATCH);
            let rows = client
                .query(
                    "SELECT position, hash FROM events WHERE position > $1 AND position <= $2 \
                     ORDER BY position",
                    &[&to_i64(from)?, &to_i64(until)?],
                )
                .await?;
            for row in &rows {
                let position = to_u64(row.get(0))?;
                if !self.push(position, &to_hash(row.get(1))?) {
                    return Err(StoreError::Corrupt(format!(
                        "event {} is missing (next is {position})",
                        self.size() + 1
                    )));
                }
            }
            if self.size() < until {
                return Err(StoreError::Corrupt(format!(
                    "event {} is missing: the log ends before {to}",
                    self.size() + 1
                )));
            }
            write_nodes(&**client, &self.pending).await?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Writes the completed nodes (idempotent: a node already stored with the same hash is
    /// left as it is; one stored with another hash is corruption).
    pub async fn flush(&mut self, pool: &Pool) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let client = pool.get().await?;
        write_nodes(&**client, &self.pending).await?;
        self.pending.clear();
        Ok(())
    }

    /// Writes the nodes, then signs and stores the tree head of the current size (a size already
    /// signed keeps its first head, which is returned).
    pub async fn sign(&mut self, pool: &Pool, signer: &Signer) -> Result<TreeHead, StoreError> {
        if self.size() == 0 {
            return Err(StoreError::NotCovered(
                "the empty log has no tree head to sign".to_owned(),
            ));
        }
        self.flush(pool).await?;
        signer.store_tree_head(pool, self.size(), self.root()).await
    }
}

/// Inserts completed nodes in one statement. A node already stored is left alone, unless its
/// stored hash differs, which is corruption (the tree of an append-only log never changes).
pub async fn write_nodes<C: GenericClient + Sync>(
    client: &C,
    nodes: &[(NodeId, Hash)],
) -> Result<(), StoreError> {
    if nodes.is_empty() {
        return Ok(());
    }
    let mut levels = Vec::with_capacity(nodes.len());
    let mut indices = Vec::with_capacity(nodes.len());
    let mut hashes = Vec::with_capacity(nodes.len());
    for (id, hash) in nodes {
        levels.push(to_level(id.level)?);
        indices.push(to_i64(id.index)?);
        hashes.push(hash.as_slice());
    }
    // The data-modifying CTE and the join see the same snapshot, so the join finds exactly the
    // nodes that were there before, and compares them.
    let differing = client
        .query(
            "WITH new AS (SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[]) \
                          AS n(level, index, hash)), \
                  inserted AS (INSERT INTO merkle_nodes (level, index, hash) \
                               SELECT level, index, hash FROM new \
                               ON CONFLICT (level, index) DO NOTHING) \
             SELECT new.level, new.index FROM new \
             JOIN merkle_nodes m ON m.level = new.level AND m.index = new.index \
             WHERE m.hash <> new.hash",
            &[&levels, &indices, &hashes],
        )
        .await?;
    if let Some(row) = differing.first() {
        let (level, index): (i16, i64) = (row.get(0), row.get(1));
        return Err(StoreError::Corrupt(format!(
            "Merkle node (level {level}, index {index}) is stored with another hash than the \
             log's events give"
        )));
    }
    Ok(())
}

/// The frontier of the first `size` events: its peaks at stored levels from the node table, the
/// smaller ones recomputed from the chain hashes of the last (partial) block of 256 events.
pub async fn resume_frontier<C: GenericClient + Sync>(
    client: &C,
    size: u64,
) -> Result<Frontier, StoreError> {
    let peaks = merkle::peak_ids(size);
    let known = fetch(client, &FetchPlan::new(&peaks, STORED_LEVEL)).await?;
    let hashes = peaks
        .iter()
        .map(|id| known.get(id).copied().ok_or_else(|| missing_node(*id)))
        .collect::<Result<Vec<_>, _>>()?;
    Frontier::from_peaks(size, hashes).map_err(|error| StoreError::Corrupt(error.to_string()))
}

/// The inclusion proof of the event at `position` (from 1) in the tree of `tree_size` events,
/// which must be covered by a signed tree head ([`StoreError::NotCovered`] otherwise). Verify it
/// with [`InclusionProof::verify`] against the root of the tree head of that size, with the
/// event's chain hash as the leaf data.
pub async fn inclusion_proof(
    pool: &Pool,
    position: u64,
    tree_size: u64,
) -> Result<InclusionProof, StoreError> {
    if position == 0 || position > tree_size {
        return Err(StoreError::NotCovered(format!(
            "position {position} is not in a tree of size {tree_size} (positions 1 to \
             {tree_size})"
        )));
    }
    let leaf_index = position - 1;
    let needed = merkle::inclusion_nodes(leaf_index, tree_size)
        .map_err(|error| StoreError::NotCovered(error.to_string()))?;
    let client = pool.get().await?;
    let known = fetch_covered(&client, &needed, tree_size).await?;
    let audit_path = merkle::inclusion_proof(leaf_index, tree_size, &|id| known.get(&id).copied())
        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
    Ok(InclusionProof {
        leaf_index,
        tree_size,
        audit_path,
    })
}

/// The consistency proof from the tree of `from` events to the tree of `to` events
/// (`0 < from <= to`, `to` covered by a signed tree head). Verify it with
/// [`ConsistencyProof::verify`] against the roots of the tree heads of those sizes.
pub async fn consistency_proof(
    pool: &Pool,
    from: u64,
    to: u64,
) -> Result<ConsistencyProof, StoreError> {
    let needed = merkle::consistency_nodes(from, to).map_err(|_| {
        StoreError::NotCovered(format!(
            "no consistency proof from tree size {from} to {to}: need 0 < from <= to"
        ))
    })?;
    let client = pool.get().await?;
    let known = fetch_covered(&client, &needed, to).await?;
    let proof = merkle::consistency_proof(from, to, &|id| known.get(&id).copied())
        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
    Ok(ConsistencyProof {
        old_size: from,
        new_size: to,
        proof,
    })
}

/// The Merkle root of the first `size` events (`size` covered by a signed tree head).
pub async fn root_at(pool: &Pool, size: u64) -> Result<Hash, StoreError> {
    let peaks = merkle::peak_ids(size);
    let client = pool.get().await?;
    let known = fetch_covered(&client, &peaks, size).await?;
    merkle::root_at(size, &|id| known.get(&id).copied())
        .map_err(|error| StoreError::Corrupt(error.to_string()))
}

/// The signed tree head with the highest size, if any.
pub async fn latest_tree_head(pool: &Pool) -> Result<Option<TreeHead>, StoreError> {
    let client = pool.get().await?;
    latest_tree_head_on(&**client).await
}

/// The signed tree head of exactly `size` events, if one was signed.
pub async fn tree_head_at(pool: &Pool, size: u64) -> Result<Option<TreeHead>, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints \
                 WHERE position = $1 AND tree_root IS NOT NULL"
            ),
            &[&to_i64(size)?],
        )
        .await?;
    row.as_ref().map(checkpoint_from_row).transpose()
}

/// Up to `limit` signed tree heads of sizes above `after`, smallest first.
pub async fn tree_heads(pool: &Pool, after: u64, limit: u32) -> Result<Vec<TreeHead>, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints \
                 WHERE position > $1 AND tree_root IS NOT NULL ORDER BY position LIMIT $2"
            ),
            &[&to_i64(after)?, &i64::from(limit)],
        )
        .await?;
    rows.iter().map(checkpoint_from_row).collect()
}

async fn latest_tree_head_on<C: GenericClient + Sync>(
    client: &C,
) -> Result<Option<TreeHead>, StoreError> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE tree_root IS NOT NULL \
                 ORDER BY position DESC LIMIT 1"
            ),
            &[],
        )
        .await?;
    row.as_ref().map(checkpoint_from_row).transpose()
}

const COVERED_SQL: &str = "SELECT max(position) FROM checkpoints WHERE tree_root IS NOT NULL";
// Each planned node and each leaf range is looked up on its own through the primary key (the
// LIMITs keep the planner from hashing or scanning the whole table, whatever its statistics say).
const NODES_SQL: &str = "SELECT w.level, w.index, n.hash \
     FROM unnest($1::smallint[], $2::bigint[]) AS w(level, index) \
     CROSS JOIN LATERAL (SELECT m.hash FROM merkle_nodes m \
                         WHERE m.level = w.level AND m.index = w.index LIMIT 1) n";
const LEAVES_SQL: &str = "SELECT e.position, e.hash \
     FROM unnest($1::bigint[], $2::bigint[]) AS r(after, up_to) \
     CROSS JOIN LATERAL (SELECT position, hash FROM events \
                         WHERE position > r.after AND position <= r.up_to \
                         ORDER BY position LIMIT r.up_to - r.after) e";

/// The statements a proof runs: as text, or prepared once per pooled connection.
struct Queries<T> {
    covered: T,
    nodes: T,
    leaves: T,
}

const TEXT_QUERIES: Queries<&str> = Queries {
    covered: COVERED_SQL,
    nodes: NODES_SQL,
    leaves: LEAVES_SQL,
};

/// The hashes of `needed` in the tree of `size` events, once `size` is known to be covered by a
/// signed tree head, over a pooled connection whose statements are prepared once. The coverage
/// check, the node query and the chain-hash query go out together: one round trip.
async fn fetch_covered(
    client: &deadpool_postgres::Client,
    needed: &[NodeId],
    size: u64,
) -> Result<HashMap<NodeId, Hash>, StoreError> {
    let (covered, nodes, leaves) = tokio::try_join!(
        client.prepare_cached(COVERED_SQL),
        client.prepare_cached(NODES_SQL),
        client.prepare_cached(LEAVES_SQL),
    )?;
    let queries = Queries {
        covered: &covered,
        nodes: &nodes,
        leaves: &leaves,
    };
    let client: &tokio_postgres::Client = client;
    let coverage = client.query_one(queries.covered, &[]);
    let plan = FetchPlan::new(needed, STORED_LEVEL);
    let (coverage, known) = tokio::try_join!(
        async { coverage.await.map_err(StoreError::from) },
        fetch_with(client, &queries, &plan)
    )?;
    let covered = coverage
        .get::<_, Option<i64>>(0)
        .map(to_u64)
        .transpose()?
        .unwrap_or(0);
    if size > covered {
        return Err(StoreError::NotCovered(format!(
            "tree size {size} is beyond the latest signed tree head ({covered} events): proofs \
             are served up to it"
        )));
    }
    Ok(known)
}

/// Reads what `plan` names: its stored nodes in one query, the chain hashes of its leaf ranges in
/// another (sent together), and recomputes the small subtrees from those.
pub(crate) async fn fetch<C: GenericClient + Sync>(
    client: &C,
    plan: &FetchPlan,
) -> Result<HashMap<NodeId, Hash>, StoreError> {
    fetch_with(client, &TEXT_QUERIES, plan).await
}

async fn fetch_with<C, T>(
    client: &C,
    queries: &Queries<&T>,
    plan: &FetchPlan,
) -> Result<HashMap<NodeId, Hash>, StoreError>
where
    C: GenericClient + Sync,
    T: ?Sized + tokio_postgres::ToStatement + Sync + Send,
{
    let mut levels = Vec::with_capacity(plan.stored.len());
    let mut indices = Vec::with_capacity(plan.stored.len());
    for id in &plan.stored {
        levels.push(to_level(id.level)?);
        indices.push(to_i64(id.index)?);
    }
    let mut afters = Vec::with_capacity(plan.leaves.len());
    let mut up_tos = Vec::with_capacity(plan.leaves.len());
    for range in &plan.leaves {
        // Leaf index i is position i + 1: leaves [a, b) are positions a + 1 ..= b.
        afters.push(to_i64(range.start)?);
        up_tos.push(to_i64(range.end)?);
    }
    let nodes = async {
        if levels.is_empty() {
            return Ok(Vec::new());
        }
        client
            .query(queries.nodes, &[&levels, &indices])
            .await
            .map_err(StoreError::from)
    };
    let leaves = async {
        if afters.is_empty() {
            return Ok(Vec::new());
        }
        client
            .query(queries.leaves, &[&afters, &up_tos])
            .await
            .map_err(StoreError::from)
    };
    let (node_rows, leaf_rows) = tokio::try_join!(nodes, leaves)?;

    let mut known = HashMap::with_capacity(node_rows.len() + 2 * leaf_rows.len());
    for row in &node_rows {
        let level: i16 = row.get(0);
        let id = NodeId::new(
            u32::try_from(level)
                .map_err(|_| StoreError::Corrupt(format!("Merkle node level {level}")))?,
            to_u64(row.get(1))?,
        );
        known.insert(id, to_hash(row.get(2))?);
    }
    for id in &plan.stored {
        if !known.contains_key(id) {
            return Err(missing_node(*id));
        }
    }
    let mut chain_hashes = Vec::with_capacity(leaf_rows.len());
    for row in &leaf_rows {
        chain_hashes.push((to_u64(row.get(0))?, to_hash(row.get(1))?));
    }
    chain_hashes.sort_unstable_by_key(|(position, _)| *position);
    let mut rows = chain_hashes.as_slice();
    for range in &plan.leaves {
        let (data, rest) = leaf_block(rows, range)?;
        rows = rest;
        let nodes = merkle::nodes_from_leaves(range.start, &data, STORED_LEVEL)
            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        known.extend(nodes);
    }
    Ok(known)
}

/// Chain hashes by position.
type ChainHashes<'a> = &'a [(u64, Hash)];

/// The chain hashes of the leaves `range` from the start of `rows` (sorted by position), and the
/// rows after them; an absent event is corruption.
fn leaf_block<'a>(
    rows: ChainHashes<'a>,
    range: &Range<u64>,
) -> Result<(Vec<Hash>, ChainHashes<'a>), StoreError> {
    let len = usize::try_from(range.end - range.start)
        .map_err(|_| StoreError::Corrupt(format!("a leaf range {range:?}")))?;
    let (block, rest) = rows.split_at(len.min(rows.len()));
    for (offset, (position, _)) in (1..).zip(block) {
        if *position != range.start + offset {
            return Err(StoreError::Corrupt(format!(
                "event {} is missing (next is {position})",
                range.start + offset
            )));
        }
    }
    if block.len() < len {
        return Err(StoreError::Corrupt(format!(
            "event {} is missing: the log ends before {}",
            range.start + block.len() as u64 + 1,
            range.end
        )));
    }
    Ok((block.iter().map(|(_, hash)| *hash).collect(), rest))
}

fn missing_node(id: NodeId) -> StoreError {
    let leaves = id.leaves();
    StoreError::Corrupt(format!(
        "Merkle node (level {}, index {}) over positions {} to {} is missing",
        id.level,
        id.index,
        leaves.start + 1,
        leaves.end
    ))
}

fn to_level(level: u32) -> Result<i16, StoreError> {
    i16::try_from(level).map_err(|_| StoreError::Invalid(format!("Merkle node level {level}")))
}
