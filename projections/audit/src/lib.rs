//! The audit trail read model: every read and every change of every record, so that
//! `GET /v1/audit/records/{collection}/{id}`, `GET /v1/audit/actors/{user_id}` and the data
//! subject report answer "who saw or changed what, when, why, with what outcome" from indexed
//! rows instead of scanning the log.
//!
//! [`Audit`] is the projection: it reads domain events and record accesses through one
//! consumer, folds each record's state with the domain's own `evolve` (kept as JSON in `states`)
//! and records each change as the field-level difference between the states before and after;
//! each access becomes one entry per record it disclosed. [`AuditQueries`] is what the API reads
//! through; every answer is [`Withheld`](accesslog::Withheld), so the audit read is itself
//! logged before anything leaves the server.
//!
//! **Invariant:** this projection alone owns its tables; nothing else writes them.
//! **Invariant:** an event it cannot read stops it (the framework records where); none is
//! skipped.
//! **Invariant:** no credential is stored or shown: token fields are redacted before a state is
//! stored or diffed.

mod collection;
mod decode;
mod diff;
mod error;
mod filter;
mod fold;
mod model;
mod page;
mod projection;
mod queries;
mod state;
mod store;
mod tables;

pub use collection::collections;
pub use diff::{FieldChange, REDACTED, diff, redact};
pub use error::AuditError;
pub use filter::{ACTIONS, AuditFilter};
pub use model::{AuditEntry, AuditPage, SubjectReport};
pub use page::{DEFAULT_LIMIT, MAX_LIMIT, PageRequest};
pub use projection::{Audit, NAME};
pub use queries::AuditQueries;
