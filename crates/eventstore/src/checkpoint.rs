//! Signed tree heads: an Ed25519 signature over a tree size (a position), the chain hash there
//! and the RFC 6962 Merkle root of the first `position` events, so an outside party who keeps
//! them can later prove that nothing up to that position was changed or removed, and check
//! inclusion and consistency proofs against them (see `docs/verifying.md`).
//!
//! They are [`Checkpoint`]s with a `tree_root`. Checkpoints signed before the Merkle tree existed
//! have none; they keep verifying under their own signing form, and new ones always carry a root.
//!
//! The signing key lives in the data folder (`checkpoint-signing.key`, hex, mode 0600) and is
//! created on first start; its public half is beside it and in the `signing_keys` table. A key is
//! named by its `key_id`, the first 16 hex digits of the SHA-256 of the public key.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_postgres::Row;

use crate::error::StoreError;
use crate::read::{to_hash, to_i64, to_u64};

/// The file in the data folder holding the secret key (64 hex digits).
pub const SECRET_KEY_FILE: &str = "checkpoint-signing.key";
/// The file in the data folder holding the public key (64 hex digits).
pub const PUBLIC_KEY_FILE: &str = "checkpoint-signing.pub";
/// Domain separation: what a checkpoint without a tree root signs starts with this.
const SIGNING_CONTEXT: &[u8] = b"crm-checkpoint-v1";
/// Domain separation: what a signed tree head signs starts with this.
const TREE_HEAD_CONTEXT: &[u8] = b"crm-tree-head-v1";

/// A signed statement that the log held `position` events, its chain hash there was `hash` and,
/// for a tree head, the Merkle root of those events was `tree_root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The tree size: the number of events covered (positions 1 to `position`).
    pub position: u64,
    /// The chain hash of the event at `position`.
    #[serde(with = "hex_bytes")]
    #[schemars(with = "String")]
    pub hash: [u8; 32],
    /// The RFC 6962 root of the first `position` leaves; absent on checkpoints signed before tree
    /// heads existed.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_option")]
    #[schemars(with = "Option<String>")]
    pub tree_root: Option<[u8; 32]>,
    /// Microsecond precision, as PostgreSQL keeps it.
    pub signed_at: DateTime<Utc>,
    pub key_id: String,
    #[serde(with = "hex_bytes")]
    #[schemars(with = "String")]
    pub signature: [u8; 64],
}

/// A checkpoint that carries a tree root.
pub type TreeHead = Checkpoint;

impl Checkpoint {
    /// The canonical bytes the signature covers. A tree head (with `tree_root`):
    /// `"crm-tree-head-v1" || u64 BE position || hash || tree_root || i64 BE signed_at (µs since
    /// the epoch) || u32 BE len(key_id) || key_id`. A checkpoint without one:
    /// `"crm-checkpoint-v1" || u64 BE position || hash || i64 BE signed_at || u32 BE len(key_id)
    /// || key_id`.
    pub fn signing_bytes(&self) -> Vec<u8> {
        signing_bytes(
            self.position,
            &self.hash,
            self.tree_root.as_ref(),
            self.signed_at,
            &self.key_id,
        )
    }

    /// True for a signed tree head (a checkpoint with a Merkle root).
    pub fn is_tree_head(&self) -> bool {
        self.tree_root.is_some()
    }

    /// True when `public_key` is the key named by `key_id` and it signed exactly these fields.
    pub fn verify(&self, public_key: &[u8; 32]) -> bool {
        if key_id_of(public_key) != self.key_id {
            return false;
        }
        let Ok(key) = VerifyingKey::from_bytes(public_key) else {
            return false;
        };
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&self.signing_bytes(), &signature).is_ok()
    }
}

/// The checkpoint signing key of this installation.
pub struct Signer {
    key: SigningKey,
    key_id: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Loads the key from `data_dir`, or creates it there (and the folder) on first start.
    /// Refuses a key file that others than its owner may read, or a public key file that does
    /// not belong to the secret key.
    pub fn load_or_create(data_dir: &Path) -> Result<Signer, StoreError> {
        Signer::load_or_create_key(
            &data_dir.join(SECRET_KEY_FILE),
            &data_dir.join(PUBLIC_KEY_FILE),
        )
    }

    /// Loads the key of `secret_path` (`public_path` its public half), or creates both (and
    /// their folder) the first time: a key of its own for another purpose than tree heads.
    pub fn load_or_create_key(
        secret_path: &Path,
        public_path: &Path,
    ) -> Result<Signer, StoreError> {
        let data_dir = secret_path.parent().unwrap_or(Path::new("."));
        let signer = match std::fs::read_to_string(secret_path) {
            Ok(text) => {
                check_private(secret_path)?;
                Signer::from_secret(parse_hex32(secret_path, text.trim())?)
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                create_secret(data_dir, secret_path)?
            }
            Err(error) => return Err(key_error(secret_path, error)),
        };
        let public_hex = hex::encode(signer.public_key());
        match std::fs::read_to_string(public_path) {
            Ok(text) if text.trim() == public_hex => {}
            Ok(_) => {
                return Err(StoreError::SigningKey {
                    path: public_path.display().to_string(),
                    message: format!(
                        "does not hold the public key of {} (expected {public_hex})",
                        secret_path.display()
                    ),
                });
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                std::fs::write(public_path, format!("{public_hex}\n"))
                    .map_err(|error| key_error(public_path, error))?;
            }
            Err(error) => return Err(key_error(public_path, error)),
        }
        Ok(signer)
    }

    /// The installation's signer, registered in the store: the key in `data_dir`, or a new one
    /// when neither the folder nor the store has any. A store whose tree heads another key signs
    /// refuses a new one: its heads would no longer verify against one trusted key, so a lost or
    /// misplaced data folder is an error to fix, not a key to replace silently.
    pub async fn for_store(data_dir: &Path, pool: &Pool) -> Result<Signer, StoreError> {
        let secret_path = data_dir.join(SECRET_KEY_FILE);
        if !secret_path.exists() {
            let mut known: Vec<String> = public_keys(pool).await?.into_keys().collect();
            if !known.is_empty() {
                known.sort();
                return Err(StoreError::SigningKey {
                    path: secret_path.display().to_string(),
                    message: format!(
                        "is missing, but this store's tree heads are signed by key {}: restore the \
                         file from a backup, or set CRM_DATA_DIR to the folder that holds it (to \
                         start over instead, drop the database and the JetStream streams too)",
                        known.join(", ")
                    ),
                });
            }
        }
        let signer = Signer::load_or_create(data_dir)?;
        signer.register(pool).await?;
        Ok(signer)
    }

    /// A signer with the given secret key (tests, and keys kept elsewhere than the data folder).
    pub fn from_secret(secret: [u8; 32]) -> Signer {
        let key = SigningKey::from_bytes(&secret);
        let key_id = key_id_of(&key.verifying_key().to_bytes());
        Signer { key, key_id }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Records the public key in `signing_keys` (once; a repeat does nothing), so verifiers can
    /// find it and checkpoints can reference it.
    pub async fn register(&self, pool: &Pool) -> Result<(), StoreError> {
        let client = pool.get().await?;
        client
            .execute(
                "INSERT INTO signing_keys (key_id, public_key, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key_id) DO NOTHING",
                &[&self.key_id, &self.public_key().as_slice(), &now_micros()],
            )
            .await?;
        Ok(())
    }

    /// Signs `message`, something sent outside the log (a webhook delivery, with a key of its
    /// own). The log's signed forms begin with `crm-tree-head-v1` or `crm-checkpoint-v1`; a
    /// message must not, so that even a key used for both could not sign one as the other.
    pub fn sign_message(&self, message: &[u8]) -> Result<[u8; 64], StoreError> {
        if message.starts_with(b"crm-") {
            return Err(StoreError::Invalid(
                "a message to sign must not begin like the log's signed forms".to_owned(),
            ));
        }
        Ok(self.key.sign(message).to_bytes())
    }

    /// Signs `position` and `hash` as of `signed_at` (truncated to microseconds), without I/O: a
    /// checkpoint without a tree root, as signed before tree heads existed (tests and tools).
    pub fn sign(&self, position: u64, hash: [u8; 32], signed_at: DateTime<Utc>) -> Checkpoint {
        self.sign_fields(position, hash, None, signed_at)
    }

    /// Signs a tree head: `position` events, the chain hash `hash` at `position` and the Merkle
    /// root `tree_root` of those events, as of `signed_at` (truncated to microseconds).
    pub fn sign_tree_head(
        &self,
        position: u64,
        hash: [u8; 32],
        tree_root: [u8; 32],
        signed_at: DateTime<Utc>,
    ) -> TreeHead {
        self.sign_fields(position, hash, Some(tree_root), signed_at)
    }

    fn sign_fields(
        &self,
        position: u64,
        hash: [u8; 32],
        tree_root: Option<[u8; 32]>,
        signed_at: DateTime<Utc>,
    ) -> Checkpoint {
        let signed_at = truncate_to_micros(signed_at);
        let bytes = signing_bytes(position, &hash, tree_root.as_ref(), signed_at, &self.key_id);
        Checkpoint {
            position,
            hash,
            tree_root,
            signed_at,
            key_id: self.key_id.clone(),
            signature: self.key.sign(&bytes).to_bytes(),
        }
    }

    /// Signs and stores the tree head of `position` events whose Merkle root is `tree_root`; the
    /// chain hash is read from the event at `position`. The nodes behind the root must be stored
    /// first ([`crate::tree::TreeWriter::flush`]), so that every stored head is covered by the
    /// node table. A position already signed keeps its first head, which is returned; one whose
    /// root differs is corruption. The key must have been [registered](Signer::register).
    pub async fn store_tree_head(
        &self,
        pool: &Pool,
        position: u64,
        tree_root: [u8; 32],
    ) -> Result<TreeHead, StoreError> {
        let client = pool.get().await?;
        let row = client
            .query_opt(
                "SELECT hash FROM events WHERE position = $1",
                &[&to_i64(position)?],
            )
            .await?
            .ok_or_else(|| {
                StoreError::Invalid(format!("no event at position {position} to sign"))
            })?;
        let head = self.sign_tree_head(position, to_hash(row.get(0))?, tree_root, Utc::now());
        let inserted = client
            .execute(
                "INSERT INTO checkpoints (position, hash, tree_root, signed_at, key_id, signature) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (position) DO NOTHING",
                &[
                    &to_i64(position)?,
                    &head.hash.as_slice(),
                    &tree_root.as_slice(),
                    &head.signed_at,
                    &head.key_id,
                    &head.signature.as_slice(),
                ],
            )
            .await?;
        if inserted == 1 {
            tracing::debug!(position, key_id = %self.key_id, "tree head signed");
            return Ok(head);
        }
        let row = client
            .query_one(
                &format!("SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE position = $1"),
                &[&to_i64(position)?],
            )
            .await?;
        let existing = checkpoint_from_row(&row)?;
        match existing.tree_root {
            Some(root) if root != tree_root => Err(StoreError::Corrupt(format!(
                "the stored tree head at {position} has root {}, the tree here has {}",
                hex::encode(root),
                hex::encode(tree_root)
            ))),
            _ => Ok(existing),
        }
    }
}

/// The checkpoint with the highest position, if any (with or without a tree root).
pub async fn latest_checkpoint(pool: &Pool) -> Result<Option<Checkpoint>, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY position DESC LIMIT 1"),
            &[],
        )
        .await?;
    row.as_ref().map(checkpoint_from_row).transpose()
}

/// Every registered public key, by key id.
pub async fn public_keys(pool: &Pool) -> Result<HashMap<String, [u8; 32]>, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query("SELECT key_id, public_key FROM signing_keys", &[])
        .await?;
    rows.iter()
        .map(|row| Ok((row.get::<_, String>(0), to_hash(row.get(1))?)))
        .collect()
}

/// The first 16 hex digits of the SHA-256 of the public key.
pub fn key_id_of(public_key: &[u8; 32]) -> String {
    let digest = Sha256::digest(public_key);
    hex::encode(&digest[..8])
}

pub(crate) const CHECKPOINT_COLUMNS: &str =
    "position, hash, signed_at, key_id, signature, tree_root";

pub(crate) fn checkpoint_from_row(row: &Row) -> Result<Checkpoint, StoreError> {
    let signature: &[u8] = row.get(4);
    let tree_root: Option<&[u8]> = row.get(5);
    Ok(Checkpoint {
        position: to_u64(row.get(0))?,
        hash: to_hash(row.get(1))?,
        tree_root: tree_root.map(to_hash).transpose()?,
        signed_at: row.get(2),
        key_id: row.get(3),
        signature: signature.try_into().map_err(|_| {
            StoreError::Corrupt(format!(
                "a checkpoint signature of {} bytes",
                signature.len()
            ))
        })?,
    })
}

fn signing_bytes(
    position: u64,
    hash: &[u8; 32],
    tree_root: Option<&[u8; 32]>,
    signed_at: DateTime<Utc>,
    key_id: &str,
) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(TREE_HEAD_CONTEXT.len() + 8 + 64 + 8 + 4 + key_id.len());
    bytes.extend_from_slice(match tree_root {
        Some(_) => TREE_HEAD_CONTEXT,
        None => SIGNING_CONTEXT,
    });
    bytes.extend_from_slice(&position.to_be_bytes());
    bytes.extend_from_slice(hash);
    if let Some(root) = tree_root {
        bytes.extend_from_slice(root);
    }
    bytes.extend_from_slice(&signed_at.timestamp_micros().to_be_bytes());
    // A key id is 16 hex digits; the length prefix keeps the form unambiguous regardless.
    let length = u32::try_from(key_id.len()).unwrap_or(u32::MAX);
    bytes.extend_from_slice(&length.to_be_bytes());
    bytes.extend_from_slice(key_id.as_bytes());
    bytes
}

/// Creates the secret key file without ever overwriting one: the key is written to a private
/// temporary file, then hard-linked to its name, which fails if another process got there first
/// (whose key is then used).
fn create_secret(data_dir: &Path, secret_path: &Path) -> Result<Signer, StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|error| key_error(data_dir, error))?;
    let mut secret = [0_u8; 32];
    getrandom::fill(&mut secret).map_err(|error| StoreError::SigningKey {
        path: secret_path.display().to_string(),
        message: format!("no randomness for a new key: {error}"),
    })?;
    let temporary = data_dir.join(format!(".{SECRET_KEY_FILE}.{}", std::process::id()));
    let written = write_private(&temporary, &format!("{}\n", hex::encode(secret)));
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, secret_path));
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            let signer = Signer::from_secret(secret);
            tracing::info!(
                path = %secret_path.display(),
                key_id = %signer.key_id,
                public_key = %hex::encode(signer.public_key()),
                "created the checkpoint signing key"
            );
            Ok(signer)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(secret_path)
                .map_err(|error| key_error(secret_path, error))?;
            Ok(Signer::from_secret(parse_hex32(secret_path, text.trim())?))
        }
        Err(error) => Err(key_error(secret_path, error)),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|error| key_error(path, error))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(StoreError::SigningKey {
            path: path.display().to_string(),
            message: format!(
                "others may read it (mode {:o}); allow its owner only (chmod 600)",
                mode & 0o777
            ),
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

fn parse_hex32(path: &Path, text: &str) -> Result<[u8; 32], StoreError> {
    let mut bytes = [0_u8; 32];
    hex::decode_to_slice(text, &mut bytes).map_err(|error| StoreError::SigningKey {
        path: path.display().to_string(),
        message: format!("not a key of 64 hex digits: {error}"),
    })?;
    Ok(bytes)
}

fn key_error(path: &Path, error: std::io::Error) -> StoreError {
    StoreError::SigningKey {
        path: PathBuf::from(path).display().to_string(),
        message: error.to_string(),
    }
}

fn now_micros() -> DateTime<Utc> {
    truncate_to_micros(Utc::now())
}

fn truncate_to_micros(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(time.timestamp_micros()).unwrap_or(time)
}

/// An optional 32-byte array as a lowercase hex string (absent when `None`).
mod hex_option {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        bytes: &Option<[u8; 32]>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => serializer.serialize_str(&hex::encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<[u8; 32]>, D::Error> {
        let Some(text) = Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)? else {
            return Ok(None);
        };
        let mut bytes = [0_u8; 32];
        hex::decode_to_slice(text.as_ref(), &mut bytes).map_err(|error| {
            serde::de::Error::custom(format!("expected 64 hex digits: {error}"))
        })?;
        Ok(Some(bytes))
    }
}

/// Byte arrays as lowercase hex strings.
pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let mut bytes = [0_u8; N];
        hex::decode_to_slice(text.as_ref(), &mut bytes).map_err(|error| {
            serde::de::Error::custom(format!("expected {} hex digits: {error}", N * 2))
        })?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::from_secret([7; 32])
    }

    fn checkpoint() -> Checkpoint {
        let signed_at =
            DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("a valid time");
        signer().sign(42, [9; 32], signed_at)
    }

    #[test]
    fn a_signed_checkpoint_verifies_with_its_public_key() {
        let checkpoint = checkpoint();
        assert!(checkpoint.verify(&signer().public_key()));
        assert_eq!(checkpoint.key_id, signer().key_id());
        assert_eq!(checkpoint.key_id.len(), 16);
    }

    #[test]
    fn a_changed_field_fails_verification() {
        let public_key = signer().public_key();
        let original = checkpoint();
        let changes: [fn(&mut Checkpoint); 5] = [
            |c| c.position += 1,
            |c| c.hash[0] ^= 1,
            |c| c.signed_at += chrono::Duration::microseconds(1),
            |c| c.key_id = "0000000000000000".to_owned(),
            |c| c.signature[10] ^= 1,
        ];
        for change in changes {
            let mut changed = original.clone();
            change(&mut changed);
            assert!(!changed.verify(&public_key), "{changed:?} must not verify");
        }
    }

    #[test]
    fn another_key_does_not_verify() {
        let other = Signer::from_secret([8; 32]);
        assert!(!checkpoint().verify(&other.public_key()));
    }

    #[test]
    fn the_signing_bytes_have_the_documented_form() {
        let checkpoint = checkpoint();
        let bytes = checkpoint.signing_bytes();
        let mut expected = b"crm-checkpoint-v1".to_vec();
        expected.extend_from_slice(&42_u64.to_be_bytes());
        expected.extend_from_slice(&[9; 32]);
        expected.extend_from_slice(&1_700_000_000_123_456_i64.to_be_bytes());
        expected.extend_from_slice(&16_u32.to_be_bytes());
        expected.extend_from_slice(checkpoint.key_id.as_bytes());
        assert_eq!(bytes, expected);
    }

    #[test]
    fn a_checkpoint_round_trips_through_json_with_hex_bytes() {
        let checkpoint = checkpoint();
        let json = serde_json::to_value(&checkpoint).expect("serialises");
        assert_eq!(json["hash"], hex::encode([9; 32]));
        assert_eq!(json["signature"].as_str().map(str::len), Some(128));
        let back: Checkpoint = serde_json::from_value(json).expect("deserialises");
        assert_eq!(back, checkpoint);
        assert!(back.verify(&signer().public_key()));
    }

    fn tree_head() -> TreeHead {
        let signed_at =
            DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("a valid time");
        signer().sign_tree_head(42, [9; 32], [5; 32], signed_at)
    }

    #[test]
    fn a_tree_head_signs_its_root_under_its_own_documented_form() {
        let head = tree_head();
        assert!(head.is_tree_head());
        assert!(head.verify(&signer().public_key()));
        let mut expected = b"crm-tree-head-v1".to_vec();
        expected.extend_from_slice(&42_u64.to_be_bytes());
        expected.extend_from_slice(&[9; 32]);
        expected.extend_from_slice(&[5; 32]);
        expected.extend_from_slice(&1_700_000_000_123_456_i64.to_be_bytes());
        expected.extend_from_slice(&16_u32.to_be_bytes());
        expected.extend_from_slice(head.key_id.as_bytes());
        assert_eq!(head.signing_bytes(), expected);

        let changes: [fn(&mut Checkpoint); 4] = [
            |c| c.tree_root = Some([6; 32]),
            // Dropping the root must not turn a head into a valid plain checkpoint.
            |c| c.tree_root = None,
            |c| c.position += 1,
            |c| c.hash[31] ^= 1,
        ];
        for change in changes {
            let mut changed = head.clone();
            change(&mut changed);
            assert!(!changed.verify(&signer().public_key()), "{changed:?}");
        }
        // Nor may a plain checkpoint be given a root.
        let mut plain = checkpoint();
        plain.tree_root = Some([5; 32]);
        assert!(!plain.verify(&signer().public_key()));
    }

    #[test]
    fn a_tree_head_round_trips_through_json_and_an_old_checkpoint_still_parses() {
        let head = tree_head();
        let json = serde_json::to_value(&head).expect("serialises");
        assert_eq!(json["tree_root"], hex::encode([5; 32]));
        let back: TreeHead = serde_json::from_value(json).expect("deserialises");
        assert_eq!(back, head);

        let old = serde_json::to_value(checkpoint()).expect("serialises");
        assert!(old.get("tree_root").is_none(), "{old}");
        let back: Checkpoint = serde_json::from_value(old).expect("deserialises");
        assert!(back.verify(&signer().public_key()));
    }

    #[test]
    fn the_key_is_created_once_and_loaded_after() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let data_dir = folder.path().join("data");
        let created = Signer::load_or_create(&data_dir).expect("creates a key");
        let loaded = Signer::load_or_create(&data_dir).expect("loads the key");
        assert_eq!(created.public_key(), loaded.public_key());
        let public =
            std::fs::read_to_string(data_dir.join(PUBLIC_KEY_FILE)).expect("public key file");
        assert_eq!(public.trim(), hex::encode(created.public_key()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(data_dir.join(SECRET_KEY_FILE))
                .expect("secret key file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let folder = tempfile::tempdir().expect("a temporary folder");
        Signer::load_or_create(folder.path()).expect("creates a key");
        let path = folder.path().join(SECRET_KEY_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = Signer::load_or_create(folder.path()).expect_err("refused");
        assert!(error.to_string().contains("chmod 600"), "{error}");
    }

    #[test]
    fn a_public_key_file_of_another_key_is_refused() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        Signer::load_or_create(folder.path()).expect("creates a key");
        std::fs::write(folder.path().join(PUBLIC_KEY_FILE), hex::encode([1_u8; 32]))
            .expect("write");
        let error = Signer::load_or_create(folder.path()).expect_err("refused");
        assert!(error.to_string().contains(PUBLIC_KEY_FILE), "{error}");
    }
}
