//! The system under test, as it runs in production (the shared `projection_testkit` world: a
//! store, a relay and projectors isolated to this test), seen from the audit trail: its
//! projector, its tables and its queries, and accesses logged as the access log writes them.

pub mod commands;

use std::ops::Deref;

use audit::{Audit, AuditQueries, NAME};
use chrono::{DateTime, Utc};
use domain::access::{
    AccessAction, AccessOutcome, QUERY_STREAM, RECORD_ACCESSED, RecordAccessed, RecordRef,
};
use domain::values::Role;
use eventstore::{NewEvent, StreamAppend, StreamRef};
pub use projection_testkit::{RunningProjector, new_events};
use uuid::Uuid;

/// The shared world, with the audit trail's view of it.
pub struct World(projection_testkit::World);

impl Deref for World {
    type Target = projection_testkit::World;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl World {
    pub async fn new() -> World {
        World(projection_testkit::World::new().await)
    }

    pub fn queries(&self) -> AuditQueries {
        AuditQueries::new(self.owner_pool.clone())
    }

    /// Starts an audit projector in a task of its own.
    pub fn start_projector(&self) -> RunningProjector {
        self.0.start_projector(Audit)
    }

    /// Waits until the live generation has applied `position`; returns its schema.
    pub async fn caught_up(&self, position: u64) -> String {
        self.0.caught_up(NAME, position).await
    }

    /// Logs an access as the access log does (on the record for one record, on the request
    /// for a list or several), as the user `actor`; returns its position.
    pub async fn access_as(&self, actor: Uuid, access: Accessed) -> u64 {
        let stream = match access.records.as_slice() {
            [record] if access.action != AccessAction::List => StreamRef::new(
                accesslog::stream_type_of(&record.collection).expect("a record's collection"),
                record.id,
            ),
            _ => StreamRef::new(QUERY_STREAM, Uuid::now_v7()),
        };
        let payload = RecordAccessed {
            action: access.action,
            role: Some(Role::Sales),
            route: access.route.to_owned(),
            records: access.records,
            purpose: access.purpose.map(str::to_owned),
            request_id: Uuid::now_v7().to_string(),
            client: Some("10.0.0.7:51234".to_owned()),
            outcome: access.outcome,
            reason: (access.outcome != AccessOutcome::Allowed).then(|| "not yours".to_owned()),
        };
        let event = NewEvent {
            event_type: RECORD_ACCESSED.to_owned(),
            schema_version: RecordAccessed::SCHEMA_VERSION,
            occurred_at: access.at.unwrap_or_else(Utc::now),
            payload: serde_json::to_value(&payload).expect("an access serialises"),
        };
        self.append_as(
            &format!("user:{actor}"),
            vec![StreamAppend::access(stream, vec![event])],
        )
        .await
    }

    /// Both tables of `schema`: what two generations must agree on.
    pub async fn rows(&self, schema: &str) -> Vec<(String, Vec<String>)> {
        self.0.rows(schema, &["entries", "states"]).await
    }

    pub async fn stop(self) {
        self.0.stop().await;
    }
}

/// An access to log: what the tests vary.
pub struct Accessed {
    pub action: AccessAction,
    pub route: &'static str,
    pub records: Vec<RecordRef>,
    pub purpose: Option<&'static str>,
    pub outcome: AccessOutcome,
    /// When it happened; now unless given.
    pub at: Option<DateTime<Utc>>,
}

impl Accessed {
    /// An allowed read of one record.
    pub fn read(collection: &str, id: Uuid, purpose: &'static str) -> Accessed {
        Accessed {
            action: AccessAction::Read,
            route: "GET /v1/{collection}/{id}",
            records: vec![record(collection, id)],
            purpose: Some(purpose),
            outcome: AccessOutcome::Allowed,
            at: None,
        }
    }

    /// An allowed list that disclosed `records`.
    pub fn list(records: Vec<RecordRef>) -> Accessed {
        Accessed {
            action: AccessAction::List,
            route: "GET /v1/contacts",
            records,
            purpose: None,
            outcome: AccessOutcome::Allowed,
            at: None,
        }
    }
}

pub fn record(collection: &str, id: Uuid) -> RecordRef {
    RecordRef {
        collection: collection.to_owned(),
        id,
    }
}

/// Opens an answer of the audit trail the way the API must: by logging the audit read (as
/// `auditor`, an `audit` access naming the records it discloses) first.
pub async fn disclose<T>(world: &World, auditor: Uuid, withheld: accesslog::Withheld<T>) -> T {
    disclose_logged(world, auditor, withheld).await.0
}

/// [`disclose`], also returning the position of the audit read it logged.
pub async fn disclose_logged<T>(
    world: &World,
    auditor: Uuid,
    withheld: accesslog::Withheld<T>,
) -> (T, u64) {
    let access = accesslog::Access {
        actor: format!("user:{auditor}"),
        role: Some(Role::Auditor),
        action: AccessAction::Audit,
        route: "GET /v1/audit/records/{collection}/{id}".to_owned(),
        purpose: Some("quarterly audit".to_owned()),
        request_id: Uuid::now_v7().to_string(),
        client: None,
    };
    let log = accesslog::AccessLog::new(world.appender.clone());
    let proof = log
        .record(&access, &withheld)
        .await
        .expect("the audit read is logged");
    let position = proof.position();
    let value = withheld.release(proof).expect("the proof opens it");
    (value, position)
}
