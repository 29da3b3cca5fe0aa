//! The record: an append-only, hash-chained event log in PostgreSQL.
//!
//! An event exists once its transaction has committed. The [`Appender`] batches concurrent
//! appends into one transaction (group commit) in which it checks each stream's expected version,
//! records idempotency keys, hands out gapless positions and chains every event's hash to the
//! previous one. Domain events and record accesses share one log, one position sequence and one
//! chain. The database itself refuses UPDATE, DELETE and TRUNCATE on the log's tables.
//!
//! Beside the chain, an RFC 6962 Merkle tree over the log ([`tree`]) and signed tree heads
//! ([`checkpoint`]) let an outsider check inclusion and consistency proofs; [`export`] writes the
//! log and those for an auditor, whose verifier needs no database.
//!
//! This crate knows nothing of NATS or HTTP.

mod appender;
mod canonical_text;
pub mod chain;
pub mod checkpoint;
mod db;
mod error;
pub mod export;
mod model;
mod read;
pub mod tree;
mod verify;

/// The Merkle tree crate, for callers that verify proofs ([`tree::InclusionProof`], ...).
pub use merkle;

pub use appender::{Appender, MAX_EVENTS_PER_REQUEST, MAX_PAYLOAD_BYTES};
pub use chain::MAX_PAYLOAD_DEPTH;
pub use db::{APP_ROLE, StoreSettings, connect, connect_owner, detect_dead_peers, migrate, redact};
pub use error::StoreError;
pub use model::{
    AppendRequest, Appended, Category, EventMatch, ExpectedVersion, Idempotency, Metadata,
    NewEvent, NoneSince, StoredEvent, StreamAppend, StreamRef, StreamVersion,
};
pub use read::{LogHead, Reader};
pub use verify::{
    AuditReport, Broken, LogReport, Verification, VerifyFrom, VerifyOptions, audit, verify,
    verify_database, verify_log,
};

/// The PostgreSQL channel the appender notifies (with the last position) after each commit.
pub const NOTIFY_CHANNEL: &str = "crm_events";
