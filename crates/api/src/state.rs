//! What every `/v1` handler reaches: the appender and reader of the store, the read models, and
//! the short-lived cache of authenticated callers. Built once at start and cloned per request
//! (everything inside is a handle).

use std::sync::Arc;
use std::time::Duration;

use crate::ApiSettings;
use crate::auth::{CallerCache, FailedAuthentications, caller_cache};
use crate::command::{AggregateCache, Turns, aggregate_cache};

#[derive(Clone)]
pub struct ApiState {
    pub appender: eventstore::Appender,
    /// Every disclosure and every refusal is logged through it before the answer goes out.
    pub access_log: accesslog::AccessLog,
    /// Who may see and change what.
    pub policy: Arc<policy::Policy>,
    pub reader: eventstore::Reader,
    /// The read models, queried through the owner pool (their schemas belong to the
    /// projectors, not to `crm_app`).
    pub records: records::RecordQueries,
    pub audit: audit::AuditQueries,
    pub reports: pipeline::ReportQueries,
    /// Scored with the default weights and thresholds unless the settings name others.
    pub scores: scoring::ScoreQueries,
    pub timelines: timeline::TimelineQueries,
    pub projections: projector::ProjectionReader,
    /// Follows the event stream for subscribers over HTTP; `None` in a process that serves no
    /// HTTP (the command line's own commands), where `/v1/events/stream` is a 503.
    pub follower: Option<Arc<eventlog::Follower>>,
    /// The event streams open in this process, counted against their limits.
    pub streams: crate::v1::OpenStreams,
    pub callers: CallerCache,
    pub failed_authentications: FailedAuthentications,
    pub aggregates: AggregateCache,
    pub turns: Turns,
    /// The installation's tree-head signing key (the data folder's public half): a tree head
    /// signed by any other key fails `/v1/audit/verify`. `None`: the keys registered in the store.
    pub trusted_key: Option<[u8; 32]>,
    /// How long a query with `X-Crm-Min-Position` waits for the read model before 504.
    pub min_position_wait: Duration,
}

impl ApiState {
    pub fn new(
        settings: &ApiSettings,
        appender: eventstore::Appender,
        reader: eventstore::Reader,
        read_models: deadpool_postgres::Pool,
        projections: projector::ProjectionReader,
        policy: policy::Policy,
    ) -> ApiState {
        ApiState {
            access_log: accesslog::AccessLog::new(appender.clone()),
            policy: Arc::new(policy),
            appender,
            reader,
            records: records::RecordQueries::new(read_models.clone()),
            audit: audit::AuditQueries::new(read_models.clone()),
            reports: pipeline::ReportQueries::new(read_models.clone()),
            timelines: timeline::TimelineQueries::new(read_models.clone()),
            scores: scoring::ScoreQueries::new(read_models, scoring::ScoringConfig::default()),
            projections,
            follower: None,
            streams: crate::v1::OpenStreams::default(),
            callers: caller_cache(),
            failed_authentications: FailedAuthentications::default(),
            aggregates: aggregate_cache(),
            turns: Turns::new(),
            trusted_key: None,
            min_position_wait: Duration::from_millis(settings.min_position_wait_ms),
        }
    }
}
