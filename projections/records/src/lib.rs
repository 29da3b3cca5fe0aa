//! The records read model: the current state of every company, contact, lead, pipeline, deal,
//! activity, task and case, so that `GET /v1/<collection>/{id}` and the filtered lists answer
//! from one indexed row instead of replaying a stream.
//!
//! [`Records`] is the projection: it folds each event with the domain's own `evolve`, so a row's
//! `body` is exactly the record the domain would rebuild, and writes a batch's rows back with one
//! upsert per collection. [`RecordQueries`] is what the API reads through: one record, a filtered
//! page (keyset pagination by id, never OFFSET), and the open deals in a stage.
//!
//! **Invariant:** this projection alone owns its tables; nothing else writes them.
//! **Invariant:** an event it cannot read stops it (the framework records where); none is
//! skipped, except the streams it does not hold (users and username claims).

mod collection;
mod error;
mod filter;
mod fold;
mod index;
mod page;
mod projection;
mod queries;
mod replay;
mod tables;

pub use collection::Collection;
pub use error::RecordsError;
pub use filter::{ListFilter, MAX_SEARCH_CHARS, Visibility};
pub use page::{DEFAULT_LIMIT, MAX_LIMIT, Page, PageRequest};
pub use projection::{NAME, Records};
pub use queries::{Found, Record, RecordQueries, record_ref};
pub use replay::{PastEvent, replay};
