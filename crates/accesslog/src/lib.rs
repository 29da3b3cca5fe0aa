//! The access log, fail closed: customer data leaves the server only after the record of its
//! access has committed to the event store.
//!
//! The rule is a type. A read model hands out what it found only as [`Withheld`] data, which
//! names the records it holds; the one way to open it is [`Withheld::release`], which needs the
//! [`AccessRecorded`] proof that only [`AccessLog::record`] makes, after its append committed.
//! A new route therefore cannot forget the log: without it, it has no data to send.
//!
//! Accesses go through the same appender as every command, so a read shares the group commit
//! (one fsync for many reads and writes) and costs no transaction of its own. Refused attempts
//! (403) and failed authentications of a known user are logged as well.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use domain::access::{
    AccessAction, AccessOutcome, QUERY_STREAM, RECORD_ACCESSED, RecordAccessed, RecordRef,
};
use domain::values::Role;
use eventstore::{
    AppendRequest, Appender, Metadata, NewEvent, StoreError, StreamAppend, StreamRef,
};
use uuid::Uuid;

/// Why an access could not be logged; the caller answers 503 and discloses nothing.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("the access could not be recorded, so nothing is disclosed: {0}")]
    NotRecorded(#[from] StoreError),
    #[error("an access proof was presented for other data")]
    WrongProof,
}

/// Data a read model found, not yet disclosable.
#[must_use = "withheld data is disclosed only through the access log"]
pub struct Withheld<T> {
    value: T,
    records: Vec<RecordRef>,
    seal: u64,
}

static SEALS: AtomicU64 = AtomicU64::new(1);

impl<T> Withheld<T> {
    /// Seals `value`, which holds the data of `records` (every record whose data it carries).
    pub fn new(value: T, records: Vec<RecordRef>) -> Withheld<T> {
        Withheld {
            value,
            records,
            seal: SEALS.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The records this data would disclose.
    pub fn records(&self) -> &[RecordRef] {
        &self.records
    }

    /// Withholds less, before anything is disclosed: `retain` drops from the value every record
    /// `keep` refuses, and those records are no longer named.
    pub fn retain(
        self,
        keep: impl Fn(&RecordRef) -> bool,
        retain: impl FnOnce(&mut T, &dyn Fn(&RecordRef) -> bool),
    ) -> Withheld<T> {
        let Withheld {
            mut value,
            records,
            seal,
        } = self;
        retain(&mut value, &keep);
        Withheld {
            value,
            records: records.into_iter().filter(|record| keep(record)).collect(),
            seal,
        }
    }

    /// The data, given the proof that its access was recorded.
    pub fn release(self, proof: AccessRecorded) -> Result<T, AccessError> {
        if proof.seal == self.seal {
            Ok(self.value)
        } else {
            Err(AccessError::WrongProof)
        }
    }
}

/// Proof that the access to one [`Withheld`] value has committed; only [`AccessLog::record`]
/// makes one.
#[derive(Debug)]
pub struct AccessRecorded {
    seal: u64,
    position: u64,
}

impl AccessRecorded {
    /// The log position of the access event.
    pub fn position(&self) -> u64 {
        self.position
    }
}

/// Who is reading what, and why: everything an access event says besides the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The actor recorded on the event: `user:<id>` or `system`.
    pub actor: String,
    pub role: Option<Role>,
    pub action: AccessAction,
    /// `GET /v1/contacts/{id}`: the method and the route's pattern.
    pub route: String,
    pub purpose: Option<String>,
    pub request_id: String,
    pub client: Option<String>,
}

/// The longest purpose kept; a longer `X-Crm-Purpose` is cut at a character boundary.
pub const MAX_PURPOSE_BYTES: usize = 500;

/// Appends access events through the shared appender.
#[derive(Clone)]
pub struct AccessLog {
    appender: Appender,
}

impl AccessLog {
    pub fn new(appender: Appender) -> AccessLog {
        AccessLog { appender }
    }

    /// Records that `withheld` is about to be disclosed to `access`; returns once committed.
    pub async fn record<T>(
        &self,
        access: &Access,
        withheld: &Withheld<T>,
    ) -> Result<AccessRecorded, AccessError> {
        let position = self
            .append(
                access,
                withheld.records.clone(),
                AccessOutcome::Allowed,
                None,
                None,
            )
            .await?;
        Ok(AccessRecorded {
            seal: withheld.seal,
            position,
        })
    }

    /// Records the access, then releases the data: the usual way to disclose.
    pub async fn disclose<T>(
        &self,
        access: &Access,
        withheld: Withheld<T>,
    ) -> Result<T, AccessError> {
        let proof = self.record(access, &withheld).await?;
        withheld.release(proof)
    }

    /// Records a refused attempt on `records` (what was asked for; nothing was disclosed).
    pub async fn denied(
        &self,
        access: &Access,
        records: Vec<RecordRef>,
        reason: &str,
    ) -> Result<u64, AccessError> {
        self.append(
            access,
            records,
            AccessOutcome::Denied,
            Some(reason.to_owned()),
            None,
        )
        .await
    }

    /// Records that a token naming the known user `user_id` did not authenticate.
    pub async fn unauthenticated(
        &self,
        access: &Access,
        user_id: Uuid,
        reason: &str,
    ) -> Result<u64, AccessError> {
        self.append(
            access,
            Vec::new(),
            AccessOutcome::Unauthenticated,
            Some(reason.to_owned()),
            Some(StreamRef::new("user", user_id)),
        )
        .await
    }

    async fn append(
        &self,
        access: &Access,
        records: Vec<RecordRef>,
        outcome: AccessOutcome,
        reason: Option<String>,
        stream: Option<StreamRef>,
    ) -> Result<u64, AccessError> {
        let stream = stream.unwrap_or_else(|| access_stream(access, &records));
        let event = RecordAccessed {
            action: access.action,
            role: access.role,
            route: access.route.clone(),
            records,
            purpose: access.purpose.as_deref().map(cut_purpose),
            request_id: access.request_id.clone(),
            client: access.client.clone(),
            outcome,
            reason,
        };
        let payload = serde_json::to_value(&event)
            .map_err(|error| StoreError::Invalid(format!("an access event: {error}")))?;
        let request = AppendRequest::new(
            Metadata::actor(access.actor.clone()),
            vec![StreamAppend::access(
                stream,
                vec![NewEvent {
                    event_type: RECORD_ACCESSED.to_owned(),
                    schema_version: RecordAccessed::SCHEMA_VERSION,
                    occurred_at: Utc::now(),
                    payload,
                }],
            )],
        );
        let appended = self.appender.append(request).await?;
        Ok(appended.last_position)
    }
}

/// The stream an access is logged under: the record itself when the request concerned one
/// record, otherwise the request (`query/<id>`; its records are named in the event).
fn access_stream(access: &Access, records: &[RecordRef]) -> StreamRef {
    if let [record] = records
        && let Some(stream_type) = stream_type_of(&record.collection)
        && access.action != AccessAction::List
    {
        return StreamRef::new(stream_type, record.id);
    }
    let id = Uuid::try_parse(&access.request_id).unwrap_or_else(|_| Uuid::now_v7());
    StreamRef::new(QUERY_STREAM, id)
}

/// Each collection of records, with the aggregate (stream type) whose records it holds.
const COLLECTIONS: [(&str, &str); 9] = [
    ("companies", "company"),
    ("contacts", "contact"),
    ("leads", "lead"),
    ("pipelines", "pipeline"),
    ("deals", "deal"),
    ("activities", "activity"),
    ("tasks", "task"),
    ("cases", "case"),
    ("users", "user"),
];

/// The aggregate (stream type) whose records a collection holds.
pub fn stream_type_of(collection: &str) -> Option<&'static str> {
    COLLECTIONS
        .iter()
        .find(|(name, _)| *name == collection)
        .map(|(_, stream_type)| *stream_type)
}

/// The collection whose records a stream type holds (none for username claims).
pub fn collection_of(stream_type: &str) -> Option<&'static str> {
    COLLECTIONS
        .iter()
        .find(|(_, aggregate)| *aggregate == stream_type)
        .map(|(collection, _)| *collection)
}

/// The records the events of these streams disclose, each once, in the order first met
/// (streams of no collection, such as username claims, disclose none).
pub fn disclosed_records<'a>(streams: impl Iterator<Item = (&'a str, Uuid)>) -> Vec<RecordRef> {
    let mut records: Vec<RecordRef> = Vec::new();
    for (stream_type, id) in streams {
        if let Some(collection) = collection_of(stream_type) {
            let record = RecordRef {
                collection: collection.to_owned(),
                id,
            };
            if !records.contains(&record) {
                records.push(record);
            }
        }
    }
    records
}

fn cut_purpose(purpose: &str) -> String {
    let mut end = purpose.len().min(MAX_PURPOSE_BYTES);
    while !purpose.is_char_boundary(end) {
        end -= 1;
    }
    purpose[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(action: AccessAction) -> Access {
        Access {
            actor: "user:1".to_owned(),
            role: Some(Role::Sales),
            action,
            route: "GET /v1/contacts/{id}".to_owned(),
            purpose: None,
            request_id: Uuid::now_v7().to_string(),
            client: None,
        }
    }

    fn contact(id: Uuid) -> RecordRef {
        RecordRef {
            collection: "contacts".to_owned(),
            id,
        }
    }

    #[test]
    fn a_read_of_one_record_is_logged_on_that_record() {
        let id = Uuid::now_v7();
        let stream = access_stream(&access(AccessAction::Read), &[contact(id)]);
        assert_eq!(stream, StreamRef::new("contact", id));
    }

    #[test]
    fn a_list_is_logged_on_its_request_even_with_one_record() {
        let read = access(AccessAction::List);
        let stream = access_stream(&read, &[contact(Uuid::now_v7())]);
        assert_eq!(stream.stream_type, QUERY_STREAM);
        assert_eq!(stream.stream_id.to_string(), read.request_id);
    }

    #[test]
    fn a_proof_opens_only_the_data_it_was_made_for() {
        let first = Withheld::new(1, Vec::new());
        let second = Withheld::new(2, Vec::new());
        let proof = AccessRecorded {
            seal: second.seal,
            position: 1,
        };
        assert!(matches!(first.release(proof), Err(AccessError::WrongProof)));
    }

    #[test]
    fn a_long_purpose_is_cut_at_a_character_boundary() {
        let purpose = "é".repeat(MAX_PURPOSE_BYTES);
        let cut = cut_purpose(&purpose);
        assert!(cut.len() <= MAX_PURPOSE_BYTES);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
