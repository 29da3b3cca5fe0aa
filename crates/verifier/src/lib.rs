//! What an auditor runs: checks an exported log segment, a signed tree head and Merkle proofs
//! with nothing but those files and the installation's public key.
//!
//! The point is independence. The database's own check (`crm verify`) trusts the database's
//! code and keys table; this one trusts only the public key the auditor was given and the
//! formats in `docs/verifying.md`. It never connects anywhere: it uses `eventstore` for the
//! canonical form and the file types only (`eventstore::chain`, `eventstore::export`,
//! `eventstore::checkpoint::Checkpoint`) and `merkle` for the RFC 9162 proof checks.
//!
//! It reads the segment line by line (constant memory, whatever its length) and reports the
//! first problem: a gap in the positions (an event skipped by a relay or deleted), a chain hash
//! that does not follow from the previous one and the event's fields (a changed, inserted or
//! reordered event), a Merkle root that differs from the signed one (when the segment starts at
//! position 1), a segment that ends before the tree head it is checked against (a removed tail),
//! a signature that does not verify with the given key (a replaced or forged tree head), and
//! proofs that do not lead to the signed roots.

use std::io::BufRead;

use eventstore::chain;
use eventstore::checkpoint::{Checkpoint, key_id_of};
use eventstore::export::ExportedEvent;
use eventstore::merkle::{ConsistencyProof, Frontier, Hash, InclusionProof};

/// The one error type: inputs that cannot be checked, or a check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A file that cannot be read or parsed, or arguments that do not fit together: nothing was
    /// concluded about the log.
    #[error("{0}")]
    Input(String),
    /// The log, a tree head or a proof is not what it claims: the first problem found.
    #[error("broken at position {position}: {reason}")]
    Broken { position: u64, reason: String },
}

impl VerifyError {
    /// The process exit status: 1 for a failed check, 2 for unusable input.
    pub fn exit_code(&self) -> u8 {
        match self {
            VerifyError::Broken { .. } => 1,
            VerifyError::Input(_) => 2,
        }
    }
}

fn broken(position: u64, reason: impl Into<String>) -> VerifyError {
    VerifyError::Broken {
        position,
        reason: reason.into(),
    }
}

/// What to check the log segment against.
#[derive(Debug, Clone)]
pub struct Expectations {
    /// The installation's Ed25519 public key.
    pub public_key: [u8; 32],
    /// The signed tree head the segment is checked against.
    pub tree_head: Checkpoint,
    /// An inclusion proof, against `tree_head`; its event must be in the segment.
    pub inclusion: Option<InclusionProof>,
    /// A consistency proof from `old_head` to `tree_head`.
    pub consistency: Option<(ConsistencyProof, Checkpoint)>,
}

/// What was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Events read, and the first and last position of the segment.
    pub events: u64,
    pub first: u64,
    pub last: u64,
    /// Events whose chain hash was recomputed (all but the first when the segment starts after
    /// position 1: its previous hash is not in the segment).
    pub chained: u64,
    pub tree_size: u64,
    pub key_id: String,
    /// The root of the tree head, when it has one.
    pub root: Option<Hash>,
    /// Whether the root was recomputed from the segment (it starts at position 1).
    pub root_recomputed: bool,
    /// The position whose inclusion proof verified.
    pub inclusion: Option<u64>,
    /// The sizes of the verified consistency proof.
    pub consistency: Option<(u64, u64)>,
    /// The last position a signature vouches for through the chain (a tree head's or the
    /// inclusion proof's event, its hash recomputed): the events after it are only consistent
    /// with one another, as a log past its latest tree head is.
    pub signed_through: Option<u64>,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ok: {} events (positions {} to {}), {} chain hashes recomputed; tree head of size {} \
             signed by key {}",
            self.events, self.first, self.last, self.chained, self.tree_size, self.key_id
        )?;
        match (self.root, self.root_recomputed) {
            (Some(root), true) => {
                write!(f, ", root {} recomputed from the log", hex::encode(root))?
            }
            (Some(root), false) => write!(
                f,
                ", root {} (not recomputed: the segment does not start at position 1)",
                hex::encode(root)
            )?,
            (None, _) => write!(f, " (a checkpoint without a Merkle root)")?,
        }
        if let Some(position) = self.inclusion {
            write!(f, "; inclusion of position {position} verified")?;
        }
        if let Some((old, new)) = self.consistency {
            write!(f, "; consistency from size {old} to {new} verified")?;
        }
        match self.signed_through {
            Some(signed) if signed >= self.last => {}
            Some(signed) => write!(
                f,
                "; positions {} to {} are chained but no signed tree head covers them yet",
                signed + 1,
                self.last
            )?,
            None => write!(
                f,
                "; no signed tree head covers any of the segment: its events are only chained"
            )?,
        }
        Ok(())
    }
}

/// Checks the tree head's signature, the proofs' fit, then the segment read from `log`, line by
/// line, and the proofs against the signed roots.
pub fn check(log: impl BufRead, expected: &Expectations) -> Result<Outcome, VerifyError> {
    let head = &expected.tree_head;
    check_signature(head, &expected.public_key, "the tree head")?;
    let root = head.tree_root;
    if let Some(proof) = &expected.inclusion {
        if root.is_none() {
            return Err(VerifyError::Input(
                "the tree head has no Merkle root: no proof can be checked against it".to_owned(),
            ));
        }
        if proof.tree_size != head.position {
            return Err(broken(
                head.position,
                format!(
                    "the inclusion proof is for a tree of size {}, the tree head is of size {}",
                    proof.tree_size, head.position
                ),
            ));
        }
    }
    if let Some((proof, old)) = &expected.consistency {
        check_signature(old, &expected.public_key, "the old tree head")?;
        let (Some(old_root), Some(new_root)) = (old.tree_root, root) else {
            return Err(VerifyError::Input(
                "both tree heads need a Merkle root for a consistency proof".to_owned(),
            ));
        };
        if (proof.old_size, proof.new_size) != (old.position, head.position) {
            return Err(broken(
                head.position,
                format!(
                    "the consistency proof is from size {} to {}, the tree heads are of sizes {} \
                     and {}",
                    proof.old_size, proof.new_size, old.position, head.position
                ),
            ));
        }
        proof.verify(&old_root, &new_root).map_err(|error| {
            broken(
                head.position,
                format!(
                    "the tree head of size {} does not extend the one of size {}: {error}",
                    head.position, old.position
                ),
            )
        })?;
    }

    let walk = walk(log, expected)?;

    if walk.first == 1 && walk.last < head.position {
        return Err(broken(
            walk.last + 1,
            format!(
                "the log ends at position {}, the signed tree head covers {} events: events \
                 were removed from the end",
                walk.last, head.position
            ),
        ));
    }
    let inclusion = match &expected.inclusion {
        Some(proof) => {
            let position = proof.leaf_index + 1;
            let leaf = walk.inclusion_leaf.ok_or_else(|| {
                VerifyError::Input(format!(
                    "the inclusion proof is for position {position}, which the log segment \
                     (positions {} to {}) does not hold",
                    walk.first, walk.last
                ))
            })?;
            let root = root.unwrap_or_default();
            proof.verify(&leaf, &root).map_err(|error| {
                broken(
                    position,
                    format!(
                        "the inclusion proof of this event does not lead to the signed root \
                         of size {}: {error}",
                        head.position
                    ),
                )
            })?;
            Some(position)
        }
        None => None,
    };
    Ok(Outcome {
        events: walk.events,
        first: walk.first,
        last: walk.last,
        chained: walk.chained,
        tree_size: head.position,
        key_id: head.key_id.clone(),
        root,
        root_recomputed: walk.root_recomputed,
        inclusion,
        consistency: expected
            .consistency
            .as_ref()
            .map(|(proof, _)| (proof.old_size, proof.new_size)),
        signed_through: walk.signed_through,
    })
}

fn check_signature(head: &Checkpoint, key: &[u8; 32], what: &str) -> Result<(), VerifyError> {
    let key_id = key_id_of(key);
    if head.key_id != key_id {
        return Err(broken(
            head.position,
            format!(
                "{what} is signed by key {}, not by the given public key ({key_id})",
                head.key_id
            ),
        ));
    }
    if !head.verify(key) {
        return Err(broken(
            head.position,
            format!("{what}'s signature does not verify with the given public key"),
        ));
    }
    Ok(())
}

struct Walked {
    events: u64,
    first: u64,
    last: u64,
    chained: u64,
    root_recomputed: bool,
    inclusion_leaf: Option<Hash>,
    signed_through: Option<u64>,
}

/// Reads the segment: contiguous positions, each chain hash from the previous one, the Merkle
/// frontier from position 1, and the tree heads' chain hashes and roots where the segment holds
/// their positions.
fn walk(log: impl BufRead, expected: &Expectations) -> Result<Walked, VerifyError> {
    let head = &expected.tree_head;
    let old_head = expected.consistency.as_ref().map(|(_, old)| old);
    let inclusion_position = expected
        .inclusion
        .as_ref()
        .map(|proof| proof.leaf_index + 1);
    let mut frontier: Option<Frontier> = None;
    let mut previous: Option<Hash> = None;
    let mut walked = Walked {
        events: 0,
        first: 0,
        last: 0,
        chained: 0,
        root_recomputed: false,
        inclusion_leaf: None,
        signed_through: None,
    };
    for (number, line) in (1_u64..).zip(log.lines()) {
        let line = line.map_err(|error| {
            VerifyError::Input(format!("reading line {number} of the log: {error}"))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let exported: ExportedEvent = serde_json::from_str(&line).map_err(|error| {
            VerifyError::Input(format!(
                "line {number} of the log is not an exported event: {error}"
            ))
        })?;
        let event = eventstore::StoredEvent::from(exported);
        let position = event.position;
        if walked.events == 0 {
            walked.first = position;
            if position == 1 {
                previous = Some(chain::GENESIS);
                frontier = Some(Frontier::new());
            }
        } else if position != walked.last + 1 {
            let missing = walked.last + 1;
            return Err(broken(
                missing,
                if position > missing {
                    format!(
                        "event {missing} is missing from the log (the next line holds {position}): \
                         skipped or deleted"
                    )
                } else {
                    format!(
                        "position {position} follows {}: events are out of order or repeated",
                        walked.last
                    )
                },
            ));
        }
        let recomputed = previous.is_some();
        if let Some(previous) = &previous {
            if chain::event_hash(previous, &event) != event.hash {
                return Err(broken(
                    position,
                    "the event's chain hash does not follow from the previous hash and its \
                     fields: it was changed, inserted or moved",
                ));
            }
            walked.chained += 1;
        }
        previous = Some(event.hash);
        if let Some(frontier) = &mut frontier {
            frontier.push(&event.hash);
        }
        let signed_here = [Some((head, true)), old_head.map(|old| (old, false))];
        for (signed, is_head) in signed_here.into_iter().flatten() {
            if signed.position != position {
                continue;
            }
            if signed.hash != event.hash {
                return Err(broken(
                    position,
                    "the signed tree head's chain hash differs from the log's here",
                ));
            }
            if recomputed {
                walked.signed_through = Some(position);
            }
            if let (Some(frontier), Some(root)) = (&frontier, signed.tree_root) {
                if frontier.root() != root {
                    return Err(broken(
                        position,
                        "the Merkle root recomputed from the log differs from the signed tree \
                         head's",
                    ));
                }
                walked.root_recomputed |= is_head;
            }
        }
        if inclusion_position == Some(position) {
            if !recomputed {
                return Err(VerifyError::Input(format!(
                    "the inclusion proof is for position {position}, the segment's first event, \
                     whose chain hash cannot be recomputed without the event before it: export \
                     from one position earlier"
                )));
            }
            walked.inclusion_leaf = Some(event.hash);
            walked.signed_through = walked.signed_through.max(Some(position));
        }
        walked.events += 1;
        walked.last = position;
    }
    if walked.events == 0 {
        return Err(VerifyError::Input("the log segment is empty".to_owned()));
    }
    Ok(walked)
}

/// Reads a JSON file of type `T` (a tree head or a proof), naming it in errors.
pub fn read_json<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    what: &str,
) -> Result<T, VerifyError> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        VerifyError::Input(format!("reading {what} {}: {error}", path.display()))
    })?;
    serde_json::from_str(&text)
        .map_err(|error| VerifyError::Input(format!("{what} {}: {error}", path.display())))
}

/// A public key given as 64 hex digits.
pub fn parse_public_key(text: &str) -> Result<[u8; 32], VerifyError> {
    let mut key = [0_u8; 32];
    hex::decode_to_slice(text.trim(), &mut key).map_err(|error| {
        VerifyError::Input(format!(
            "the public key must be 64 hex digits (checkpoint-signing.pub): {error}"
        ))
    })?;
    Ok(key)
}
