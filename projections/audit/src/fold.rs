//! A batch turned into the audit trail's rows, in memory: each change folded into its record's
//! state and diffed against the state before, each access spread into one entry per record it
//! named. The states of every record the batch touches are loaded before and written after
//! ([`crate::store`]), so a record changed or read many times in a batch costs one read and at
//! most one write.
//!
//! Each change must carry the version after the state's: a gap or a repeat means the feed lost
//! or doubled an event, and the batch is refused rather than folded into a wrong state.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use domain::AnyEvent;
use domain::access::RecordAccessed;
use projector::ProjectionError;
use serde_json::Value;
use uuid::Uuid;

use crate::collection::{collection_of, known_stream, stream_type_of};
use crate::decode::{Item, Meta};
use crate::diff::{diff, redact, subjects};
use crate::state;

/// A record: its stream type and id.
pub(crate) type Key = (&'static str, Uuid);

/// The `outcome` of a change: it is in the log, so it happened.
pub(crate) const RECORDED: &str = "recorded";
/// The `kind` of a change; an access's kind is its action.
pub(crate) const CHANGE: &str = "change";

/// A record's state as the `states` table holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StateRow {
    pub collection: &'static str,
    pub version: u64,
    /// The position of the last event folded in.
    pub position: u64,
    /// The redacted JSON of the domain's state.
    pub body: Value,
    /// The record's id, then the contacts, companies and deals it links to now.
    pub links: Vec<Uuid>,
    /// Changed by this batch: to be written back.
    pub dirty: bool,
}

/// One row of `entries`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EntryRow {
    pub position: u64,
    /// The record's place among those the event named (0 for a change).
    pub ordinal: i32,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub actor: String,
    pub actor_id: Option<Uuid>,
    pub kind: String,
    pub collection: Option<String>,
    pub record_id: Option<Uuid>,
    pub event_type: String,
    pub outcome: String,
    pub role: Option<String>,
    pub route: Option<String>,
    pub purpose: Option<String>,
    pub request_id: Option<String>,
    pub client: Option<String>,
    pub reason: Option<String>,
    /// `[{"field", "old", "new"}]`; empty for an access.
    pub changes: Value,
    pub subjects: Vec<Uuid>,
}

/// Every record whose state the batch reads: the records changed and the records read.
pub(crate) fn keys(items: &[Item]) -> Vec<Key> {
    let mut keys = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |key: Key| {
        if seen.insert(key) {
            keys.push(key);
        }
    };
    for item in items {
        match item {
            Item::Change { id, event, .. } => add((event.stream_type(), *id)),
            Item::Access {
                stream_type,
                stream_id,
                access,
                ..
            } => {
                for (collection, id) in accessed(stream_type, *stream_id, access) {
                    if let Some(stream) = stream_type_of(&collection) {
                        add((stream, id));
                    }
                }
            }
        }
    }
    keys
}

/// Folds `items` (in position order) over `states`; returns the entries they make.
pub(crate) fn fold(
    items: &[Item],
    states: &mut HashMap<Key, StateRow>,
) -> Result<Vec<EntryRow>, ProjectionError> {
    let mut entries = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Item::Change {
                meta,
                id,
                version,
                event,
            } => entries.push(change(meta, *id, *version, event, states)?),
            Item::Access {
                meta,
                stream_type,
                stream_id,
                access,
            } => entries.extend(access_entries(
                meta,
                stream_type,
                *stream_id,
                access,
                states,
            )),
        }
    }
    Ok(entries)
}

fn change(
    meta: &Meta,
    id: Uuid,
    version: u64,
    event: &AnyEvent,
    states: &mut HashMap<Key, StateRow>,
) -> Result<EntryRow, ProjectionError> {
    let refuse = |reason: String| ProjectionError::Event {
        position: meta.position,
        reason,
    };
    let stream_type = event.stream_type();
    let collection = collection_of(stream_type)
        .ok_or_else(|| refuse(format!("the stream type {stream_type} has no collection")))?;
    let key = (stream_type, id);
    let before = states.get(&key);
    let current = before.map_or(0, |row| row.version);
    if version != current + 1 {
        return Err(refuse(format!(
            "{stream_type}/{id} is at version {current}, the event brings version {version}: an \
             event is missing or repeated"
        )));
    }
    let before = before.map(|row| &row.body);
    let after = state::evolve(before, event)
        .map_err(|reason| refuse(format!("{stream_type}/{id}: {reason}")))?;
    let old = before.unwrap_or(&Value::Null);
    let mut changes = diff(old, &after);
    if changes.is_empty() {
        // An event that changes no field of the record (a tracked link click) still recorded
        // something about it: its own fields, as new values.
        changes = diff(&Value::Null, &redact(event.to_payload()));
    }
    let changes = serde_json::to_value(changes)?;
    let entry = EntryRow {
        subjects: subjects(id, &[old, &after]),
        changes,
        ..entry(meta, 0, CHANGE, Some((collection.to_owned(), id)))
    };
    states.insert(
        key,
        StateRow {
            collection,
            version,
            position: meta.position,
            links: subjects(id, &[&after]),
            body: after,
            dirty: true,
        },
    );
    Ok(entry)
}

fn access_entries(
    meta: &Meta,
    stream_type: &str,
    stream_id: Uuid,
    access: &RecordAccessed,
    states: &HashMap<Key, StateRow>,
) -> Vec<EntryRow> {
    let with_access = |row: EntryRow| EntryRow {
        outcome: access.outcome.as_str().to_owned(),
        role: access.role.map(|role| role.as_str().to_owned()),
        route: Some(access.route.clone()),
        purpose: access.purpose.clone(),
        request_id: Some(access.request_id.clone()),
        client: access.client.clone(),
        reason: access.reason.clone(),
        ..row
    };
    let kind = access.action.as_str();
    let records = accessed(stream_type, stream_id, access);
    if records.is_empty() {
        return vec![with_access(entry(meta, 0, kind, None))];
    }
    records
        .into_iter()
        .enumerate()
        .map(|(ordinal, (collection, id))| {
            let links = stream_type_of(&collection)
                .and_then(|stream| states.get(&(stream, id)))
                .map_or_else(|| vec![id], |row| row.links.clone());
            let ordinal = i32::try_from(ordinal).unwrap_or(i32::MAX);
            EntryRow {
                subjects: links,
                ..with_access(entry(meta, ordinal, kind, Some((collection, id))))
            }
        })
        .collect()
}

/// The records an access concerns, each once: those it named, or, when it named none (a failed
/// authentication), the record it was logged on (`user/<id>`), if that is a record.
fn accessed(stream_type: &str, stream_id: Uuid, access: &RecordAccessed) -> Vec<(String, Uuid)> {
    let mut records: Vec<(String, Uuid)> = Vec::with_capacity(access.records.len());
    let mut seen = HashSet::with_capacity(access.records.len());
    for record in &access.records {
        if seen.insert((record.collection.as_str(), record.id)) {
            records.push((record.collection.clone(), record.id));
        }
    }
    if records.is_empty()
        && let Some(collection) = known_stream(stream_type).and_then(collection_of)
    {
        records.push((collection.to_owned(), stream_id));
    }
    records
}

/// An entry of `meta`'s event about `record`, with nothing of an access filled in.
fn entry(meta: &Meta, ordinal: i32, kind: &str, record: Option<(String, Uuid)>) -> EntryRow {
    let (collection, record_id) = record.unzip();
    EntryRow {
        position: meta.position,
        ordinal,
        occurred_at: meta.occurred_at,
        recorded_at: meta.recorded_at,
        actor: meta.actor.clone(),
        actor_id: meta.actor_id,
        kind: kind.to_owned(),
        collection,
        record_id,
        event_type: meta.event_type.clone(),
        outcome: RECORDED.to_owned(),
        role: None,
        route: None,
        purpose: None,
        request_id: None,
        client: None,
        reason: None,
        changes: Value::Array(Vec::new()),
        subjects: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::DomainEvent;
    use domain::access::{AccessAction, AccessOutcome, RecordRef};
    use domain::contact;
    use domain::values::Role;
    use serde_json::json;

    fn meta(position: u64) -> Meta {
        Meta {
            position,
            occurred_at: Utc::now(),
            recorded_at: Utc::now(),
            actor: "system".to_owned(),
            actor_id: None,
            event_type: "crm.contact.created.v1".to_owned(),
        }
    }

    fn created(id: Uuid, company_id: Uuid) -> AnyEvent {
        AnyEvent::Contact(
            contact::Event::from_stored(
                "created",
                1,
                &json!({
                    "id": id, "first_name": "Ada", "last_name": "Lovelace",
                    "emails": ["ada@acme.example"], "phones": [], "title": null,
                    "company_id": company_id, "tags": [], "owner_id": null, "team": null
                }),
            )
            .unwrap(),
        )
    }

    fn read(records: Vec<RecordRef>) -> RecordAccessed {
        RecordAccessed {
            action: AccessAction::List,
            role: Some(Role::Sales),
            route: "GET /v1/contacts".to_owned(),
            records,
            purpose: Some("call back".to_owned()),
            request_id: "r1".to_owned(),
            client: None,
            outcome: AccessOutcome::Allowed,
            reason: None,
        }
    }

    #[test]
    fn a_change_then_a_list_make_one_entry_per_record_linked_to_the_company() {
        let (contact_id, company_id, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let records = vec![
            RecordRef {
                collection: "contacts".to_owned(),
                id: contact_id,
            },
            RecordRef {
                collection: "contacts".to_owned(),
                id: other,
            },
            RecordRef {
                collection: "contacts".to_owned(),
                id: contact_id,
            },
        ];
        let items = vec![
            Item::Change {
                meta: meta(1),
                id: contact_id,
                version: 1,
                event: created(contact_id, company_id),
            },
            Item::Access {
                meta: meta(2),
                stream_type: "query".to_owned(),
                stream_id: Uuid::now_v7(),
                access: read(records),
            },
        ];
        assert_eq!(
            keys(&items),
            vec![("contact", contact_id), ("contact", other)]
        );
        let mut states = HashMap::new();
        let entries = fold(&items, &mut states).unwrap();
        assert_eq!(entries.len(), 3, "one change, two distinct records read");
        assert_eq!(entries[0].subjects, vec![contact_id, company_id]);
        assert_eq!(entries[1].subjects, vec![contact_id, company_id]);
        assert_eq!(entries[1].ordinal, 0);
        assert_eq!(entries[2].subjects, vec![other]);
        assert_eq!(entries[2].ordinal, 1);
        assert_eq!(entries[2].kind, "list");
        assert!(states[&("contact", contact_id)].dirty);
    }

    #[test]
    fn a_repeated_version_is_refused() {
        let (id, company_id) = (Uuid::now_v7(), Uuid::now_v7());
        let change = |position| Item::Change {
            meta: meta(position),
            id,
            version: 1,
            event: created(id, company_id),
        };
        let error = fold(&[change(1), change(2)], &mut HashMap::new()).unwrap_err();
        assert!(
            matches!(error, ProjectionError::Event { position: 2, .. }),
            "{error}"
        );
    }

    #[test]
    fn an_access_naming_no_record_stays_on_the_record_it_was_logged_on() {
        let user_id = Uuid::now_v7();
        let mut failed = read(Vec::new());
        failed.outcome = AccessOutcome::Unauthenticated;
        let on_user = accessed("user", user_id, &failed);
        assert_eq!(on_user, vec![("users".to_owned(), user_id)]);
        assert_eq!(accessed("query", user_id, &failed), vec![]);
        let entries = access_entries(&meta(3), "query", user_id, &failed, &HashMap::new());
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].record_id, None);
        assert_eq!(entries[0].outcome, "unauthenticated");
    }
}
