//! The customer timeline read model: every touchpoint and every change of a contact or a
//! company and of its deals, activities, tasks and cases, newest first, so that
//! `GET /v1/contacts/{id}/timeline` and `GET /v1/companies/{id}/timeline` ("pick up where we
//! left off") answer from one index scan instead of gathering streams.
//!
//! [`Timeline`] is the projection: it keeps each record's links (a contact's company, a deal's
//! company and contact, what an activity, task or case concerns) and writes each event once
//! onto the timeline of every customer it concerns, with the links as they were when it
//! happened, a one-line summary and the event's payload. [`TimelineQueries`] is what the API
//! reads through; every answer is [`Withheld`](accesslog::Withheld), naming the records it
//! discloses, so the read is logged before anything leaves the server.
//!
//! **Invariant:** this projection alone owns its tables; nothing else writes them.
//! **Invariant:** an event it cannot read stops it (the framework records where); none is
//! skipped, except the streams that are not customer data (users and username claims).
//! **Invariant:** no clock: every time on a timeline is an event's own.

mod collection;
mod decode;
mod error;
mod filter;
#[cfg(test)]
mod fixtures;
mod fold;
mod links;
mod model;
mod page;
mod projection;
mod queries;
mod store;
mod summary;
mod tables;

pub use error::TimelineError;
pub use filter::TimelineFilter;
pub use model::{Customer, EntryKind, TimelineEntry, TimelinePage};
pub use page::{DEFAULT_LIMIT, MAX_LIMIT, PageRequest};
pub use projection::{NAME, Timeline};
pub use queries::TimelineQueries;
