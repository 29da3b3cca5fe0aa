//! The tables of one generation: `entries`, the audit trail itself (one row per event and record
//! it concerns, append-only), and `states`, each record's current state, which the next change
//! is diffed against and the data subject report shows.
//!
//! Every question the API asks is an index scan newest first: by record
//! (`collection, record_id, position`), by actor (`actor_id, position`), by data subject (GIN on
//! `subjects`, and on `states.links` for records linked now), and by time: a BRIN index, since
//! entries arrive roughly in time order, so that narrows a time window for the cost of one
//! summary per block range instead of an index entry per row.
//!
//! A state is rewritten at each of its record's events; a fifth of each page is left free so
//! that the new version usually fits beside the old one and is written in place (HOT), without
//! new entries in the link index.

use crate::collection::qualified;

/// The DDL of every table of the generation in `schema`.
pub(crate) fn create_tables(schema: &str) -> String {
    let entries = qualified(schema, "entries");
    let states = qualified(schema, "states");
    format!(
        "CREATE TABLE {entries} (
    -- The event's log position, and the record's place among those it named (a list access
    -- makes one row per record, all at the same position).
    position     bigint      NOT NULL CHECK (position > 0),
    ordinal      integer     NOT NULL CHECK (ordinal >= 0),
    -- When it happened, and when the store committed it.
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    -- Who: `user:<id>`, `system`, ...; the user's id when a user.
    actor        text        NOT NULL,
    actor_id     uuid,
    -- `change` for a domain event, else the access's action (read, list, history, ...).
    kind         text        NOT NULL,
    -- The record concerned; null for an access that named none.
    collection   text,
    record_id    uuid,
    -- The envelope's type, `crm.contact.renamed.v1`.
    event_type   text        NOT NULL,
    -- `recorded` for a change; allowed, denied or unauthenticated for an access.
    outcome      text        NOT NULL,
    -- The access's context, as the API logged it.
    role         text,
    route        text,
    purpose      text,
    request_id   text,
    client       text,
    reason       text,
    -- For a change, [{{\"field\", \"old\", \"new\"}}] (token fields redacted); [] for an access.
    changes      json        NOT NULL,
    -- The record, and the contacts and companies it was linked to before or after.
    subjects     uuid[]      NOT NULL,
    PRIMARY KEY (position, ordinal)
);
CREATE TABLE {states} (
    stream_type  text        NOT NULL,
    id           uuid        NOT NULL,
    collection   text        NOT NULL,
    -- The aggregate's version and the position of the last event folded in.
    version      bigint      NOT NULL CHECK (version > 0),
    position     bigint      NOT NULL CHECK (position > 0),
    -- The domain's state as JSON, token fields redacted.
    body         json        NOT NULL,
    -- The record's id, then the contacts, companies and deals it links to now.
    links        uuid[]      NOT NULL,
    PRIMARY KEY (stream_type, id)
) WITH (fillfactor = 80);
"
    )
}

/// The indexes the API's questions read through, made once the generation has caught up.
pub(crate) fn create_indexes(schema: &str) -> String {
    let entries = qualified(schema, "entries");
    let states = qualified(schema, "states");
    format!(
        "CREATE INDEX entries_by_record ON {entries} (collection, record_id, position DESC, ordinal DESC);
CREATE INDEX entries_by_actor ON {entries} (actor_id, position DESC, ordinal DESC);
CREATE INDEX entries_by_subject ON {entries} USING gin (subjects) WITH (fastupdate = off);
CREATE INDEX entries_by_time ON {entries} USING brin (occurred_at);
CREATE INDEX states_by_link ON {states} USING gin (links) WITH (fastupdate = off);
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tables_live_in_the_generation_schema() {
        let ddl = create_tables("audit_g3");
        assert!(ddl.contains("CREATE TABLE \"audit_g3\".entries ("));
        assert!(ddl.contains("CREATE TABLE \"audit_g3\".states ("));
        assert_eq!(
            create_indexes("audit_g3").matches("CREATE INDEX").count(),
            5
        );
    }
}
