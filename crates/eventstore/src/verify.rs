//! Recomputing the hash chain and the Merkle tree: the check a compliance officer runs to show
//! the log is intact.
//!
//! Walks the log in position order, recomputing every chain hash from the previous one and
//! feeding it to a Merkle frontier; reports the first position where a row is missing, out of
//! place or altered, where a stored Merkle node differs from the events (or is missing below the
//! latest tree head), or where a signed tree head disagrees with the recomputed chain hash or
//! root. The head, tree heads beyond the end and nodes beyond the end show a removed tail.
//! [`verify_log`] also checks every tree head's signature, against a trusted key when given one.
//!
//! It has to be fast (a full check of ten million events is run by hand, and by the API): the
//! rows come as one binary `COPY` in a repeatable-read snapshot and are hashed straight from its
//! bytes ([`crate::chain::EventFields`], [`TextCanonicaliser`]) without building a
//! [`crate::StoredEvent`] per row.

use std::collections::{BTreeMap, HashMap};

use futures::{TryStreamExt, pin_mut};
use merkle::{Frontier, Hash, NodeId, STORED_LEVEL};
use serde::{Deserialize, Serialize};

use crate::canonical_text::TextCanonicaliser;
use crate::chain::{self, EventFields};
use crate::checkpoint::Checkpoint;
use crate::error::StoreError;
use crate::read::{to_hash, to_u64};
use crate::tree;

/// Where verification starts: the beginning, a position whose chain hash is trusted, or a signed
/// tree head that was checked beforehand (its chain hash and Merkle root are trusted; the tree
/// is rebuilt there from the node table and must give that root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyFrom {
    Genesis,
    Trusted { position: u64, hash: [u8; 32] },
    TreeHead(Checkpoint),
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Events whose hash was recomputed.
    pub checked: u64,
    /// The last position reached and its recomputed hash.
    pub position: u64,
    pub hash: [u8; 32],
    /// The Merkle root of the first `position` events, as recomputed.
    pub root: [u8; 32],
    /// Tree heads and checkpoints whose chain hash (and root) were compared with the recomputation.
    pub tree_heads_checked: usize,
    /// Stored Merkle nodes compared with the recomputation.
    pub nodes_checked: u64,
    /// The first problem found; `None` when the log is intact.
    pub broken: Option<Broken>,
}

/// The first problem: where, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Broken {
    pub position: u64,
    pub reason: String,
}

impl Verification {
    pub fn is_ok(&self) -> bool {
        self.broken.is_none()
    }
}

/// Verifies the chain and the tree from `from` to the head, over one connection (a
/// repeatable-read snapshot, so appends running meanwhile neither disturb nor join the check).
pub async fn verify(
    client: &mut tokio_postgres::Client,
    from: VerifyFrom,
) -> Result<Verification, StoreError> {
    let transaction = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    // The log is read in position order by its primary key, never sorted in memory.
    transaction
        .batch_execute("SET LOCAL enable_sort = off")
        .await?;
    let head = transaction
        .query_one("SELECT position, hash FROM log_head", &[])
        .await?;
    let head_position = to_u64(head.get(0))?;
    let head_hash = to_hash(head.get(1))?;
    let mut heads = BTreeMap::new();
    for row in transaction
        .query(
            "SELECT position, hash, tree_root FROM checkpoints ORDER BY position",
            &[],
        )
        .await?
    {
        let root: Option<&[u8]> = row.get(2);
        heads.insert(
            to_u64(row.get(0))?,
            (to_hash(row.get(1))?, root.map(to_hash).transpose()?),
        );
    }
    let covered = heads
        .iter()
        .rev()
        .find(|(_, (_, root))| root.is_some())
        .map_or(0, |(position, _)| *position);
    let mut nodes = HashMap::new();
    for row in transaction
        .query("SELECT level, index, hash FROM merkle_nodes", &[])
        .await?
    {
        let level: i16 = row.get(0);
        let level = u32::try_from(level)
            .map_err(|_| StoreError::Corrupt(format!("Merkle node level {level}")))?;
        nodes.insert(
            NodeId::new(level, to_u64(row.get(1))?),
            (to_hash(row.get(2))?, false),
        );
    }

    let (start, start_hash, start_root) = match &from {
        VerifyFrom::Genesis => (0, chain::GENESIS, None),
        VerifyFrom::Trusted { position, hash } => (*position, *hash, None),
        VerifyFrom::TreeHead(head) => (head.position, head.hash, head.tree_root),
    };
    let mut walk = Walk {
        position: start,
        hash: start_hash,
        frontier: Frontier::new(),
        checked: 0,
        heads_checked: 0,
        nodes_checked: 0,
        problem: None,
        covered,
        payload: Vec::with_capacity(1024),
        scratch: Vec::with_capacity(2048),
        canonicaliser: TextCanonicaliser::new(),
    };
    if start > 0 {
        match tree::resume_frontier(&transaction, start).await {
            Ok(frontier) if start_root.is_some_and(|root| root != frontier.root()) => {
                walk.fail(
                    start,
                    "the Merkle tree rebuilt from the stored nodes at the tree head does not \
                     have the root it signed"
                        .to_owned(),
                );
            }
            Ok(frontier) => walk.frontier = frontier,
            Err(StoreError::Corrupt(reason)) => {
                walk.fail(
                    start,
                    format!("cannot rebuild the Merkle tree here: {reason}"),
                );
            }
            Err(error) => return Err(error),
        }
    }

    if walk.problem.is_none() {
        walk.run(&transaction, &heads, &mut nodes).await?;
    }

    let position = walk.position;
    if walk.problem.is_none() {
        walk.problem = if head_position != position {
            broken(
                position + 1,
                format!("the log head says {head_position} events, the log ends at {position}"),
            )
        } else if head_hash != walk.hash {
            broken(
                position,
                "the log head's hash does not match the chain".to_owned(),
            )
        } else if let Some((&signed, _)) = heads.range(position + 1..).next() {
            broken(
                position + 1,
                format!("a signed tree head covers position {signed}, the log ends at {position}"),
            )
        } else {
            stray_node(&nodes, start, position)
        };
    }
    transaction.commit().await?;
    Ok(Verification {
        checked: walk.checked,
        position,
        hash: walk.hash,
        root: walk.frontier.root(),
        tree_heads_checked: walk.heads_checked,
        nodes_checked: walk.nodes_checked,
        broken: walk.problem,
    })
}

fn broken(position: u64, reason: String) -> Option<Broken> {
    Some(Broken { position, reason })
}

/// A stored node the walk did not meet although it should have: past the end of the log (a
/// removed tail) or not part of any tree of this log.
fn stray_node(nodes: &HashMap<NodeId, (Hash, bool)>, start: u64, end: u64) -> Option<Broken> {
    let stray = nodes
        .iter()
        .filter(|(id, (_, seen))| !seen && id.leaves().end > start)
        .map(|(id, _)| *id)
        .min_by_key(|id| (id.leaves().end, id.level))?;
    let leaves = stray.leaves();
    let what = format!(
        "a stored Merkle node (level {}, index {}) covers positions {} to {}",
        stray.level,
        stray.index,
        leaves.start.saturating_add(1),
        leaves.end
    );
    if leaves.end > end {
        broken(end + 1, format!("{what}, the log ends at {end}"))
    } else {
        broken(leaves.end, format!("{what} but was not recomputed there"))
    }
}

/// The state of one pass over the rows.
struct Walk {
    position: u64,
    hash: Hash,
    frontier: Frontier,
    checked: u64,
    heads_checked: usize,
    nodes_checked: u64,
    problem: Option<Broken>,
    /// The size up to which every node must be stored: the latest tree head's.
    covered: u64,
    payload: Vec<u8>,
    scratch: Vec<u8>,
    canonicaliser: TextCanonicaliser,
}

/// The columns the binary `COPY` sends, in the order [`decode_row`] reads them.
const COPY_COLUMNS: &str = "position, event_id, category, stream_type, stream_id, stream_version, \
     event_type, schema_version, occurred_at, recorded_at, actor, correlation_id, causation_id, \
     payload, hash";

/// The binary `COPY` file signature.
const COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// Microseconds from 1970-01-01 (Unix) to 2000-01-01 (PostgreSQL's epoch).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl Walk {
    fn fail(&mut self, position: u64, reason: String) {
        if self.problem.is_none() {
            self.problem = Some(Broken { position, reason });
        }
    }

    /// Streams the rows after `self.position` and checks each; stops at the first problem.
    async fn run(
        &mut self,
        transaction: &tokio_postgres::Transaction<'_>,
        heads: &BTreeMap<u64, (Hash, Option<Hash>)>,
        nodes: &mut HashMap<NodeId, (Hash, bool)>,
    ) -> Result<(), StoreError> {
        let copy = format!(
            "COPY (SELECT {COPY_COLUMNS} FROM events WHERE position > {} ORDER BY position) \
             TO STDOUT (FORMAT binary)",
            self.position
        );
        let stream = transaction.copy_out(copy.as_str()).await?;
        pin_mut!(stream);
        let mut heads = heads.range(self.position + 1..).peekable();
        let mut buffer: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut header_read = false;
        let mut ended = false;
        while let Some(chunk) = stream.try_next().await? {
            let direct = buffer.is_empty();
            if !direct {
                buffer.extend_from_slice(&chunk);
            }
            let data: &[u8] = if direct { &chunk } else { &buffer };
            let mut offset = 0;
            if !header_read {
                match copy_header(data)? {
                    Some(length) => {
                        offset = length;
                        header_read = true;
                    }
                    None => {
                        if direct {
                            buffer.extend_from_slice(&chunk);
                        }
                        continue;
                    }
                }
            }
            if ended {
                continue;
            }
            while let Some(row) = decode_row(&data[offset..])? {
                match row {
                    Row::Event(fields, payload, stored, length) => {
                        offset += length;
                        self.check(&fields, payload, &stored, &mut heads, nodes)?;
                        if self.problem.is_some() {
                            // The rest of the COPY is discarded as it arrives.
                            return Ok(());
                        }
                    }
                    Row::Trailer => {
                        ended = true;
                        offset = data.len();
                        break;
                    }
                }
            }
            if direct {
                buffer.extend_from_slice(&chunk[offset..]);
            } else {
                buffer.drain(..offset);
            }
        }
        Ok(())
    }

    fn check<'h>(
        &mut self,
        fields: &EventFields<'_>,
        payload: &[u8],
        stored: &Hash,
        heads: &mut std::iter::Peekable<
            std::collections::btree_map::Range<'h, u64, (Hash, Option<Hash>)>,
        >,
        nodes: &mut HashMap<NodeId, (Hash, bool)>,
    ) -> Result<(), StoreError> {
        let expected = self.position + 1;
        if fields.position != expected {
            self.fail(
                expected,
                format!("event {expected} is missing (next is {})", fields.position),
            );
            return Ok(());
        }
        self.payload.clear();
        if self
            .canonicaliser
            .canonicalise(payload, &mut self.payload)
            .is_err()
        {
            match serde_json::from_slice::<serde_json::Value>(payload) {
                Ok(value) => chain::canonical_json(&value, &mut self.payload),
                Err(error) => {
                    self.fail(expected, format!("the payload is not JSON: {error}"));
                    return Ok(());
                }
            }
        }
        let recomputed = chain::fields_hash(&self.hash, fields, &self.payload, &mut self.scratch);
        if recomputed != *stored {
            self.fail(
                expected,
                "the stored hash does not match the event".to_owned(),
            );
            return Ok(());
        }
        let completed = self.frontier.push(&recomputed);
        for (id, hash) in completed.iter().skip(STORED_LEVEL as usize) {
            match nodes.get_mut(id) {
                Some((stored, seen)) => {
                    *seen = true;
                    self.nodes_checked += 1;
                    if stored != hash {
                        self.fail(
                            expected,
                            format!(
                                "the stored Merkle node (level {}, index {}) ending here does \
                                 not match the events",
                                id.level, id.index
                            ),
                        );
                        return Ok(());
                    }
                }
                None if id.leaves().end <= self.covered => {
                    self.fail(
                        expected,
                        format!(
                            "the Merkle node (level {}, index {}) ending here is missing, below \
                             the latest tree head ({})",
                            id.level, id.index, self.covered
                        ),
                    );
                    return Ok(());
                }
                None => {}
            }
        }
        if let Some((_, (signed_hash, signed_root))) = heads.next_if(|(at, _)| **at == expected) {
            self.heads_checked += 1;
            if *signed_hash != recomputed {
                self.fail(
                    expected,
                    "a signed tree head disagrees with the chain".to_owned(),
                );
                return Ok(());
            }
            if signed_root.is_some_and(|root| root != self.frontier.root()) {
                self.fail(
                    expected,
                    "a signed tree head's Merkle root disagrees with the events".to_owned(),
                );
                return Ok(());
            }
        }
        self.position = expected;
        self.hash = recomputed;
        self.checked += 1;
        Ok(())
    }
}

/// The length of the binary `COPY` header at the start of `data`, once it is all there.
fn copy_header(data: &[u8]) -> Result<Option<usize>, StoreError> {
    let fixed = COPY_SIGNATURE.len() + 8;
    if data.len() < fixed {
        return Ok(None);
    }
    if !data.starts_with(COPY_SIGNATURE) {
        return Err(StoreError::Corrupt(
            "the server's binary COPY has no signature".to_owned(),
        ));
    }
    let extension = read_u32(&data[COPY_SIGNATURE.len() + 4..]) as usize;
    Ok((data.len() >= fixed + extension).then_some(fixed + extension))
}

enum Row<'a> {
    /// The fields, the payload's JSON text, the stored hash, and the bytes the row took.
    Event(EventFields<'a>, &'a [u8], Hash, usize),
    Trailer,
}

/// One row of the binary `COPY` at the start of `data`; `None` when it is not all there yet.
fn decode_row(data: &[u8]) -> Result<Option<Row<'_>>, StoreError> {
    let Some(count) = data.get(..2) else {
        return Ok(None);
    };
    let count = i16::from_be_bytes([count[0], count[1]]);
    if count == -1 {
        return Ok(Some(Row::Trailer));
    }
    if count != 15 {
        return Err(corrupt_copy(format!("a row of {count} columns")));
    }
    let mut fields: [Option<&[u8]>; 15] = [None; 15];
    let mut offset = 2;
    for field in &mut fields {
        let Some(length) = data.get(offset..offset + 4) else {
            return Ok(None);
        };
        let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
        offset += 4;
        if length < 0 {
            continue;
        }
        let end = offset + length as usize;
        let Some(value) = data.get(offset..end) else {
            return Ok(None);
        };
        *field = Some(value);
        offset = end;
    }
    let [
        position,
        event_id,
        category,
        stream_type,
        stream_id,
        stream_version,
        event_type,
        schema_version,
        occurred_at,
        recorded_at,
        actor,
        correlation_id,
        causation_id,
        payload,
        hash,
    ] = fields;
    let position = to_u64(int8(required(position)?)?)?;
    let schema_version = int4(required(schema_version)?)?;
    let payload = required(payload)?;
    let payload = match payload.split_first() {
        Some((1, text)) => text,
        _ => {
            return Err(corrupt_copy(
                "a jsonb value of an unknown version".to_owned(),
            ));
        }
    };
    let fields = EventFields {
        position,
        event_id: uuid(required(event_id)?)?,
        category: text(required(category)?)?,
        stream_type: text(required(stream_type)?)?,
        stream_id: uuid(required(stream_id)?)?,
        stream_version: stream_version
            .map(int8)
            .transpose()?
            .map(to_u64)
            .transpose()?,
        event_type: text(required(event_type)?)?,
        schema_version: u32::try_from(schema_version)
            .map_err(|_| StoreError::Corrupt(format!("schema version {schema_version}")))?,
        occurred_at_micros: timestamp(required(occurred_at)?)?,
        recorded_at_micros: timestamp(required(recorded_at)?)?,
        actor: text(required(actor)?)?,
        correlation_id: correlation_id.map(uuid).transpose()?,
        causation_id: causation_id.map(uuid).transpose()?,
    };
    Ok(Some(Row::Event(
        fields,
        payload,
        to_hash(required(hash)?)?,
        offset,
    )))
}

fn required(field: Option<&[u8]>) -> Result<&[u8], StoreError> {
    field.ok_or_else(|| corrupt_copy("NULL in a NOT NULL column".to_owned()))
}

fn int8(bytes: &[u8]) -> Result<i64, StoreError> {
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| corrupt_copy(format!("a bigint of {} bytes", bytes.len())))?;
    Ok(i64::from_be_bytes(bytes))
}

fn int4(bytes: &[u8]) -> Result<i32, StoreError> {
    let bytes: [u8; 4] = bytes
        .try_into()
        .map_err(|_| corrupt_copy(format!("an integer of {} bytes", bytes.len())))?;
    Ok(i32::from_be_bytes(bytes))
}

fn read_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn uuid(bytes: &[u8]) -> Result<&[u8; 16], StoreError> {
    bytes
        .try_into()
        .map_err(|_| corrupt_copy(format!("a uuid of {} bytes", bytes.len())))
}

fn text(bytes: &[u8]) -> Result<&str, StoreError> {
    std::str::from_utf8(bytes).map_err(|_| corrupt_copy("text that is not UTF-8".to_owned()))
}

/// A `timestamptz` (µs since 2000-01-01) as µs since the Unix epoch.
fn timestamp(bytes: &[u8]) -> Result<i64, StoreError> {
    int8(bytes)?
        .checked_add(POSTGRES_EPOCH_MICROS)
        .ok_or_else(|| corrupt_copy("an infinite timestamp".to_owned()))
}

fn corrupt_copy(what: String) -> StoreError {
    StoreError::Corrupt(format!("reading the log: {what}"))
}

/// What `crm verify` checks beyond [`verify`], and where it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Start from the latest tree head (or old checkpoint) whose signature verifies, instead of
    /// position 1; only when every signature verifies.
    pub from_tree_head: bool,
    /// The public key every tree head must be signed with (the installation's, as an auditor
    /// holds it). Without it, each head is checked against the key it names in `signing_keys`,
    /// which whoever can write the database can add to.
    pub trusted_key: Option<[u8; 32]>,
}

/// A whole check of the log as `crm verify` reports it: every tree head's signature, then the
/// chain and the tree (from the start, or from the latest tree head whose signature verifies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReport {
    /// Tree heads and checkpoints whose signatures were checked and valid.
    pub signatures_checked: usize,
    /// The signed tree head (or checkpoint) verification started from, if any.
    pub started_at: Option<u64>,
    /// Whether the start was a tree head with a root (else an old checkpoint).
    pub started_at_tree_head: bool,
    /// The first tree head whose signature does not verify, and why.
    pub bad_signature: Option<Broken>,
    /// The latest signed tree head, if any: its size and root.
    pub latest_tree_head: Option<(u64, [u8; 32])>,
    pub chain: Verification,
}

impl LogReport {
    pub fn is_ok(&self) -> bool {
        self.bad_signature.is_none() && self.chain.is_ok()
    }

    /// The first problem by position: a broken chain or tree, or a bad signature.
    pub fn first_problem(&self) -> Option<&Broken> {
        match (&self.bad_signature, &self.chain.broken) {
            (Some(signature), Some(chain)) if chain.position < signature.position => Some(chain),
            (Some(signature), _) => Some(signature),
            (None, chain) => chain.as_ref(),
        }
    }

    /// The serialisable summary the API answers `GET /v1/audit/verify` with.
    pub fn summary(&self) -> AuditReport {
        AuditReport {
            ok: self.is_ok(),
            count: self.chain.checked,
            position: self.chain.position,
            hash: hex::encode(self.chain.hash),
            root: hex::encode(self.chain.root),
            tree_heads_checked: self.chain.tree_heads_checked,
            signatures_checked: self.signatures_checked,
            nodes_checked: self.chain.nodes_checked,
            latest_tree_head: self.latest_tree_head.map(|(size, _)| size),
            started_at: self.started_at,
            broken: self.first_problem().cloned(),
        }
    }
}

impl std::fmt::Display for LogReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(broken) = self.first_problem() {
            return write!(
                f,
                "broken at position {}: {}",
                broken.position, broken.reason
            );
        }
        let start = match (self.started_at, self.started_at_tree_head) {
            (Some(position), true) => {
                format!(" after the signed checkpoint at {position} (a tree head, root verified)")
            }
            (Some(position), false) => format!(" after the signed checkpoint at {position}"),
            (None, _) => String::new(),
        };
        let tree = match self.latest_tree_head {
            Some((size, root)) => format!(
                "latest tree head {size} root {}, {} stored Merkle nodes match",
                hex::encode(root),
                self.chain.nodes_checked
            ),
            None => "no tree head yet".to_owned(),
        };
        write!(
            f,
            "ok: {} events verified{start}, {} tree heads agree, {} signatures valid, {tree}, \
             head {} {}",
            self.chain.checked,
            self.chain.tree_heads_checked,
            self.signatures_checked,
            self.chain.position,
            hex::encode(self.chain.hash)
        )
    }
}

/// The outcome of a whole check, as the API serves it (`GET /v1/audit/verify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditReport {
    /// True when nothing is wrong.
    pub ok: bool,
    /// Events whose chain hash was recomputed.
    pub count: u64,
    /// The last position reached, its chain hash and the Merkle root there (hex).
    pub position: u64,
    pub hash: String,
    pub root: String,
    /// Tree heads compared with the recomputed chain and tree.
    pub tree_heads_checked: usize,
    /// Tree head signatures that verified.
    pub signatures_checked: usize,
    /// Stored Merkle nodes compared with the recomputed tree.
    pub nodes_checked: u64,
    /// The size of the latest signed tree head, if any.
    pub latest_tree_head: Option<u64>,
    /// The tree head the check started after, if not position 1.
    pub started_at: Option<u64>,
    /// The first problem: its position and why.
    pub broken: Option<Broken>,
}

/// Checks every tree head's signature (against `options.trusted_key` when given, else the key
/// each names), then the chain and the tree.
pub async fn verify_log(
    client: &mut tokio_postgres::Client,
    options: &VerifyOptions,
) -> Result<LogReport, StoreError> {
    let rows = client
        .query(
            "SELECT c.position, c.hash, c.signed_at, c.key_id, c.signature, c.tree_root, \
             k.public_key FROM checkpoints c LEFT JOIN signing_keys k USING (key_id) \
             ORDER BY c.position",
            &[],
        )
        .await?;
    let trusted_id = options
        .trusted_key
        .as_ref()
        .map(crate::checkpoint::key_id_of);
    let mut latest_valid = None;
    let mut latest_tree_head = None;
    let mut bad_signature = None;
    let mut signatures_checked = 0;
    for row in &rows {
        let checkpoint = crate::checkpoint::checkpoint_from_row(row)?;
        if let Some(root) = checkpoint.tree_root {
            latest_tree_head = Some((checkpoint.position, root));
        }
        if bad_signature.is_some() {
            continue;
        }
        let registered: Option<&[u8]> = row.get(6);
        let problem = match (&options.trusted_key, &trusted_id) {
            (Some(_), Some(trusted_id)) if checkpoint.key_id != *trusted_id => Some(format!(
                "the signed tree head here is signed by key {}, not the trusted key {trusted_id}",
                checkpoint.key_id
            )),
            (Some(key), _) => (!checkpoint.verify(key))
                .then(|| "the signed tree head here has an invalid signature".to_owned()),
            (None, _) => match registered.and_then(|key| <[u8; 32]>::try_from(key).ok()) {
                Some(key) => (!checkpoint.verify(&key))
                    .then(|| "the signed tree head here has an invalid signature".to_owned()),
                None => Some(format!(
                    "the signed tree head here names key {}, which is not registered",
                    checkpoint.key_id
                )),
            },
        };
        match problem {
            Some(reason) => {
                bad_signature = Some(Broken {
                    position: checkpoint.position,
                    reason,
                });
            }
            None => {
                signatures_checked += 1;
                latest_valid = Some(checkpoint);
            }
        }
    }
    let start = match latest_valid {
        Some(checkpoint) if options.from_tree_head && bad_signature.is_none() => {
            if checkpoint.tree_root.is_some() {
                VerifyFrom::TreeHead(checkpoint)
            } else {
                VerifyFrom::Trusted {
                    position: checkpoint.position,
                    hash: checkpoint.hash,
                }
            }
        }
        _ => VerifyFrom::Genesis,
    };
    let (started_at, started_at_tree_head) = match &start {
        VerifyFrom::Genesis => (None, false),
        VerifyFrom::Trusted { position, .. } => (Some(*position), false),
        VerifyFrom::TreeHead(head) => (Some(head.position), true),
    };
    let chain = verify(client, start).await?;
    Ok(LogReport {
        signatures_checked,
        started_at,
        started_at_tree_head,
        bad_signature,
        latest_tree_head,
        chain,
    })
}

/// [`verify_log`] over a connection of its own (as the application's role), driven by the same
/// task as the check: the rows then never hop between threads, which at hundreds of thousands of
/// rows a second is a good part of the cost. What `crm verify` runs.
pub async fn verify_database(
    settings: &crate::StoreSettings,
    options: &VerifyOptions,
) -> Result<LogReport, StoreError> {
    let config = settings.app_config()?;
    let (mut client, connection) =
        config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|error| StoreError::Settings {
                setting: "database_url",
                message: format!(
                    "cannot connect to {}: {}",
                    crate::redact(&settings.url),
                    crate::error::describe_pg_error(&error)
                ),
            })?;
    let connection = async {
        // Ends when the client is dropped (or the server goes away, which the check reports).
        let _ = connection.await;
    };
    let check = async {
        let report = verify_log(&mut client, options).await;
        drop(client);
        report
    };
    let (report, ()) = tokio::join!(check, connection);
    report
}

/// The whole check the API runs for `GET /v1/audit/verify`: every signature (against
/// `trusted_key` when given), the chain and the tree from position 1, over one pooled connection.
pub async fn audit(
    pool: &deadpool_postgres::Pool,
    trusted_key: Option<[u8; 32]>,
) -> Result<AuditReport, StoreError> {
    let mut client = pool.get().await?;
    let options = VerifyOptions {
        from_tree_head: false,
        trusted_key,
    };
    Ok(verify_log(&mut client, &options).await?.summary())
}
