//! Recomputing the hash chain: the check a compliance officer runs to show the log is intact.
//!
//! Walks the log in position order, recomputing every hash from the previous one; reports the
//! first position where a row is missing, out of place or altered, and checks that the head and
//! every recorded checkpoint agree with the recomputed chain (a removed tail shows there).

use std::collections::BTreeMap;

use futures::{TryStreamExt, pin_mut};

use crate::chain;
use crate::checkpoint::Checkpoint;
use crate::error::StoreError;
use crate::read::{EVENT_COLUMNS, event_from_row, to_hash, to_i64, to_u64};

/// Where verification starts: the beginning, or a position whose hash is trusted (e.g. from a
/// signed checkpoint that was checked beforehand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyFrom {
    Genesis,
    Trusted { position: u64, hash: [u8; 32] },
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Events whose hash was recomputed.
    pub checked: u64,
    /// The last position reached and its recomputed hash.
    pub position: u64,
    pub hash: [u8; 32],
    /// The first problem found; `None` when the log is intact.
    pub broken: Option<Broken>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub position: u64,
    pub reason: String,
}

impl Verification {
    pub fn is_ok(&self) -> bool {
        self.broken.is_none()
    }
}

/// Verifies the chain from `from` to the head, over one connection (a repeatable-read snapshot,
/// so appends running meanwhile neither disturb nor join the check).
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
    let head = transaction
        .query_one("SELECT position, hash FROM log_head", &[])
        .await?;
    let head_position = to_u64(head.get(0))?;
    let head_hash = to_hash(head.get(1))?;
    let mut checkpoints = BTreeMap::new();
    for row in transaction
        .query(
            "SELECT position, hash FROM checkpoints ORDER BY position",
            &[],
        )
        .await?
    {
        checkpoints.insert(to_u64(row.get(0))?, to_hash(row.get(1))?);
    }

    let (mut position, mut hash) = match from {
        VerifyFrom::Genesis => (0, chain::GENESIS),
        VerifyFrom::Trusted { position, hash } => (position, hash),
    };
    let mut checked = 0;
    let broken = |position: u64, reason: String| Some(Broken { position, reason });
    let mut problem = None;

    let rows = transaction
        .query_raw(
            &format!("SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position"),
            [to_i64(position)?],
        )
        .await?;
    pin_mut!(rows);
    while let Some(row) = rows.try_next().await? {
        let event = event_from_row(&row)?;
        let expected_position = position + 1;
        if event.position != expected_position {
            problem = broken(
                expected_position,
                format!(
                    "event {expected_position} is missing (next is {})",
                    event.position
                ),
            );
            break;
        }
        let recomputed = chain::event_hash(&hash, &event);
        if recomputed != event.hash {
            problem = broken(
                event.position,
                "the stored hash does not match the event".to_owned(),
            );
            break;
        }
        if checkpoints
            .get(&event.position)
            .is_some_and(|signed| *signed != recomputed)
        {
            problem = broken(
                event.position,
                "a checkpoint disagrees with the chain".to_owned(),
            );
            break;
        }
        position = event.position;
        hash = recomputed;
        checked += 1;
    }

    if problem.is_none() {
        problem = if head_position != position {
            broken(
                position + 1,
                format!("the log head says {head_position} events, the log ends at {position}"),
            )
        } else if head_hash != hash {
            broken(
                position,
                "the log head's hash does not match the chain".to_owned(),
            )
        } else {
            checkpoints
                .range(position + 1..)
                .next()
                .and_then(|(&signed, _)| {
                    broken(
                        position + 1,
                        format!(
                            "a checkpoint covers position {signed}, the log ends at {position}"
                        ),
                    )
                })
        };
    }
    transaction.commit().await?;
    Ok(Verification {
        checked,
        position,
        hash,
        broken: problem,
    })
}

/// A whole check of the log as `crm verify` reports it: every checkpoint's signature, then the
/// chain (from the start, or from the latest checkpoint whose signature verifies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReport {
    pub checkpoints_checked: usize,
    /// The checkpoint verification started from, if any.
    pub started_at: Option<u64>,
    /// The first checkpoint whose signature does not verify, if any.
    pub bad_signature: Option<u64>,
    pub chain: Verification,
}

impl LogReport {
    pub fn is_ok(&self) -> bool {
        self.bad_signature.is_none() && self.chain.is_ok()
    }
}

impl std::fmt::Display for LogReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(position) = self.bad_signature {
            return write!(
                f,
                "broken: the checkpoint at position {position} has an invalid signature"
            );
        }
        if let Some(broken) = &self.chain.broken {
            return write!(
                f,
                "broken at position {}: {}",
                broken.position, broken.reason
            );
        }
        let start = match self.started_at {
            Some(position) => format!(" after the signed checkpoint at {position}"),
            None => String::new(),
        };
        write!(
            f,
            "ok: {} events verified{start}, {} checkpoint signatures valid, head {} {}",
            self.chain.checked,
            self.checkpoints_checked,
            self.chain.position,
            hex::encode(self.chain.hash)
        )
    }
}

/// Checks every checkpoint's signature against the public key it names, then the chain.
pub async fn verify_log(
    client: &mut tokio_postgres::Client,
    from_checkpoint: bool,
) -> Result<LogReport, StoreError> {
    let rows = client
        .query(
            "SELECT c.position, c.hash, c.signed_at, c.key_id, c.signature, k.public_key \
             FROM checkpoints c LEFT JOIN signing_keys k USING (key_id) ORDER BY c.position",
            &[],
        )
        .await?;
    let mut latest_valid = None;
    let mut bad_signature = None;
    for row in &rows {
        let signature: &[u8] = row.get(4);
        let checkpoint = Checkpoint {
            position: to_u64(row.get(0))?,
            hash: to_hash(row.get(1))?,
            signed_at: row.get(2),
            key_id: row.get(3),
            signature: signature
                .try_into()
                .map_err(|_| StoreError::Corrupt("a signature of the wrong length".to_owned()))?,
        };
        let public_key: Option<&[u8]> = row.get(5);
        let valid = public_key
            .and_then(|key| <[u8; 32]>::try_from(key).ok())
            .is_some_and(|key| checkpoint.verify(&key));
        if !valid {
            bad_signature = Some(checkpoint.position);
            break;
        }
        latest_valid = Some(checkpoint);
    }
    let start = match (&latest_valid, from_checkpoint, bad_signature) {
        (Some(checkpoint), true, None) => VerifyFrom::Trusted {
            position: checkpoint.position,
            hash: checkpoint.hash,
        },
        _ => VerifyFrom::Genesis,
    };
    let chain = verify(client, start).await?;
    Ok(LogReport {
        checkpoints_checked: if bad_signature.is_some() {
            0
        } else {
            rows.len()
        },
        started_at: match start {
            VerifyFrom::Trusted { position, .. } => Some(position),
            VerifyFrom::Genesis => None,
        },
        bad_signature,
        chain,
    })
}
