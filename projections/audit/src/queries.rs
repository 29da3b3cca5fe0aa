//! What the API asks of the audit trail: the entries of one record, of one actor, and of one
//! data subject (a contact, with every record linked to it). Each query reads the generation in
//! `schema`, the one the registry says is live, and hands its answer out sealed: the API must
//! log the audit read itself before it can send it.

use accesslog::Withheld;
use deadpool_postgres::Pool;
use domain::access::RecordRef;
use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::collection::{CONTACT_STREAM, CONTACTS, DEAL_STREAM, USERS, collections, qualified};
use crate::diff::FieldChange;
use crate::filter::{Parameter, Parameters, conditions};
use crate::page::{EntryKey, encode_cursor};
use crate::{AuditEntry, AuditError, AuditFilter, AuditPage, PageRequest, SubjectReport};

/// The columns of an entry, in the order [`to_entry`] reads them.
const COLUMNS: &str = "e.position, e.ordinal, e.occurred_at, e.recorded_at, e.actor, \
    e.actor_id, e.kind, e.collection, e.record_id, e.event_type, e.outcome, e.role, e.route, \
    e.purpose, e.request_id, e.client, e.reason, e.changes";

/// Reads the audit trail through a pool of the database's owner ([`projector::connect`]),
/// which can read every generation's schema.
#[derive(Clone)]
pub struct AuditQueries {
    pool: Pool,
}

impl std::fmt::Debug for AuditQueries {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AuditQueries")
            .finish_non_exhaustive()
    }
}

impl AuditQueries {
    pub fn new(pool: Pool) -> AuditQueries {
        AuditQueries { pool }
    }

    /// Every read and change of the record `collection/id`, newest first.
    pub async fn record(
        &self,
        schema: &str,
        collection: &str,
        id: Uuid,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Withheld<AuditPage>, AuditError> {
        if !collections().any(|known| known == collection) {
            return Err(AuditError::UnknownCollection(collection.to_owned()));
        }
        let mut parameters = Parameters::default();
        let collection_parameter = parameters.bind(Parameter::Text(collection.to_owned()));
        let id_parameter = parameters.bind(Parameter::Id(id));
        let condition =
            format!("e.collection = {collection_parameter} AND e.record_id = {id_parameter}");
        let page = self
            .page(schema, &condition, filter, page, parameters)
            .await?;
        let disclosed = disclosed(record_ref(collection, id), &page.items);
        Ok(Withheld::new(page, disclosed))
    }

    /// Everything the user `user_id` read or changed, newest first.
    pub async fn actor(
        &self,
        schema: &str,
        user_id: Uuid,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Withheld<AuditPage>, AuditError> {
        let mut parameters = Parameters::default();
        let condition = format!("e.actor_id = {}", parameters.bind(Parameter::Id(user_id)));
        let page = self
            .page(schema, &condition, filter, page, parameters)
            .await?;
        let disclosed = disclosed(record_ref(USERS, user_id), &page.items);
        Ok(Withheld::new(page, disclosed))
    }

    /// The data subject report of the contact `contact_id`: the contact as it is now, and the
    /// changes and accesses of the contact and of every record linked to it, then or now,
    /// newest first.
    pub async fn subject(
        &self,
        schema: &str,
        contact_id: Uuid,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Withheld<SubjectReport>, AuditError> {
        // Any other record's id would gather everyone linked to it (a company's contacts).
        let contact = self
            .state(schema, CONTACT_STREAM, contact_id)
            .await?
            .ok_or(AuditError::UnknownContact(contact_id))?;
        let mut parameters = Parameters::default();
        let subject = parameters.bind(Parameter::Id(contact_id));
        let entries = qualified(schema, "entries");
        let states = qualified(schema, "states");
        // The contact's entries and those of records linked to it, then or now, and of
        // records linked to its deals (an activity logged on a deal only) that name no other
        // contact: a call with someone else about her deal is that person's data, not hers.
        let condition = format!(
            "(e.position, e.ordinal) IN ( \
                 SELECT position, ordinal FROM {entries} WHERE subjects @> ARRAY[{subject}::uuid] \
                 UNION \
                 SELECT x.position, x.ordinal FROM {states} s \
                 JOIN {entries} x ON x.collection = s.collection AND x.record_id = s.id \
                 WHERE s.links @> ARRAY[{subject}::uuid] OR (s.links && ARRAY( \
                     SELECT d.id FROM {states} d \
                     WHERE d.stream_type = '{DEAL_STREAM}' AND d.links @> ARRAY[{subject}::uuid]) \
                   AND NOT EXISTS (SELECT 1 FROM {states} c \
                     WHERE c.stream_type = '{CONTACT_STREAM}' AND c.id = ANY(s.links) \
                       AND c.id <> {subject}::uuid)))"
        );
        let AuditPage {
            items: entries,
            next_cursor,
        } = self
            .page(schema, &condition, filter, page, parameters)
            .await?;
        let disclosed = disclosed(record_ref(CONTACTS, contact_id), &entries);
        let report = SubjectReport {
            contact_id,
            contact,
            items: entries,
            next_cursor,
        };
        Ok(Withheld::new(report, disclosed))
    }

    /// The page of entries that `condition` (on `e`), `filter` and `page` select.
    async fn page(
        &self,
        schema: &str,
        condition: &str,
        filter: &AuditFilter,
        page: PageRequest,
        mut parameters: Parameters,
    ) -> Result<AuditPage, AuditError> {
        let keyset = page.keyset()?;
        let mut all = vec![condition.to_owned()];
        all.extend(conditions("e", filter, keyset, &mut parameters)?);
        let limit = usize::try_from(keyset.limit).unwrap_or(usize::MAX);
        let one_more = parameters.bind(Parameter::Count(i64::from(keyset.limit) + 1));
        let sql = format!(
            "SELECT {COLUMNS} FROM {} e WHERE {} \
             ORDER BY e.position DESC, e.ordinal DESC LIMIT {one_more}",
            qualified(schema, "entries"),
            all.join(" AND "),
        );
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(&sql).await?;
        let rows = client.query(&statement, &parameters.as_sql()).await?;
        let mut entries = Vec::with_capacity(rows.len().min(limit));
        let mut last = None;
        for row in rows.iter().take(limit) {
            last = Some(EntryKey {
                position: row.try_get(0)?,
                ordinal: row.try_get(1)?,
            });
            entries.push(to_entry(row)?);
        }
        let next_cursor = if rows.len() > limit {
            last.map(encode_cursor)
        } else {
            None
        };
        Ok(AuditPage {
            items: entries,
            next_cursor,
        })
    }

    /// The current state of `stream_type/id`, if the audit trail holds one.
    async fn state(
        &self,
        schema: &str,
        stream_type: &str,
        id: Uuid,
    ) -> Result<Option<Value>, AuditError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT body FROM {} WHERE stream_type = $1 AND id = $2",
                qualified(schema, "states")
            ))
            .await?;
        let row = client.query_opt(&statement, &[&stream_type, &id]).await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }
}

/// The records an answer shows: the one asked about, and each record its entries are about (a
/// change entry carries that record's old and new values).
fn disclosed(asked: RecordRef, entries: &[AuditEntry]) -> Vec<RecordRef> {
    let mut records = vec![asked];
    for record in entries.iter().filter_map(|entry| entry.record.as_ref()) {
        if !records.contains(record) {
            records.push(record.clone());
        }
    }
    records
}

fn record_ref(collection: &str, id: Uuid) -> RecordRef {
    RecordRef {
        collection: collection.to_owned(),
        id,
    }
}

/// An entry from a row of [`COLUMNS`].
fn to_entry(row: &Row) -> Result<AuditEntry, AuditError> {
    let position: i64 = row.try_get(0)?;
    let collection: Option<String> = row.try_get(7)?;
    let record_id: Option<Uuid> = row.try_get(8)?;
    let changes: Value = row.try_get(17)?;
    let changes = serde_json::from_value::<Vec<FieldChange>>(changes).map_err(|error| {
        AuditError::Database {
            message: format!("the changes at position {position} do not read: {error}"),
            transient: false,
        }
    })?;
    Ok(AuditEntry {
        position: u64::try_from(position).unwrap_or(0),
        occurred_at: row.try_get(2)?,
        recorded_at: row.try_get(3)?,
        actor: row.try_get(4)?,
        actor_id: row.try_get(5)?,
        action: row.try_get(6)?,
        record: collection
            .zip(record_id)
            .map(|(collection, id)| RecordRef { collection, id }),
        event_type: row.try_get(9)?,
        outcome: row.try_get(10)?,
        role: row.try_get(11)?,
        route: row.try_get(12)?,
        purpose: row.try_get(13)?,
        request_id: row.try_get(14)?,
        client: row.try_get(15)?,
        reason: row.try_get(16)?,
        changes,
    })
}
