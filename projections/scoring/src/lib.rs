//! The scoring read model: explainable scores per contact and company, recomputed from stored
//! facts whenever they are asked for, so they decay without new events and follow the
//! settings without a rebuild.
//!
//! [`Scoring`] is the projection: it stores facts, not scores (touchpoints, won deals, cases,
//! the manual value class, owner and team, the links deal → company and contact and contact →
//! company), and per customer the summaries the ranked list orders by. [`ScoreQueries`] answers
//! `GET /v1/scores/{contacts|companies}/{id}` and the ranked list: value (RFM and ABCD class),
//! engagement (weighted, decayed touchpoints), touch cost (minutes per month) and churn risk
//! (0 to 100 with its reasons), each with the log positions of the events that moved it.
//!
//! **Invariant:** this projection alone owns its tables; nothing else writes them.
//! **Invariant:** `apply` reads no clock: every time comes from the events; `now` is the
//! caller's, at query time.
//! **Invariant:** amounts are never summed across currencies.

mod config;
mod decode;
mod error;
mod facts;
mod fold;
mod model;
mod projection;
mod queries;
mod rank;
mod score;
mod store;
mod tables;

/// The ranked list's size when the request names none.
pub const DEFAULT_LIMIT: u32 = 50;
/// The longest ranked list.
pub const MAX_LIMIT: u32 = 500;

pub use config::{ChurnConfig, EngagementConfig, ScoringConfig, TouchConfig, ValueConfig};
pub use error::ScoringError;
pub use facts::{Component, CustomerKind, EventRef};
pub use model::{
    ChurnReason, ChurnRisk, CustomerScore, EngagementComponent, EngagementScore, MonetaryTotal,
    MonthMinutes, RankedScores, ScoreOrder, TouchCost, ValueScore,
};
pub use projection::{NAME, Scoring};
pub use queries::{ScoreQueries, customer_ref};
pub use score::EVENTS_PER_COMPONENT;
pub use tables::TABLES;
