//! The tables of one generation: `events`, each event that is on some timeline once, with its
//! summary and payload; `entries`, the timelines themselves (one narrow row per event and
//! customer whose timeline it is on; both append-only); and `links`, each record's links as its
//! events left them, which the next batch attributes its events by.
//!
//! A timeline is read newest first through the entries' key (`customer_kind, customer_id,
//! position, ordinal`) scanned backwards, each entry joined to its event by position, so a page
//! costs the same with a million entries. An event's payload is written once however many
//! timelines it is on, which keeps the catch-up's writes small. Nothing but the reads needs that
//! key, and entries land all over it (a customer's next event joins its old ones), so it is made
//! once the generation has caught up, not kept up row by row through the backlog.

use crate::collection::qualified;

/// The DDL of every table of the generation in `schema`.
pub(crate) fn create_tables(schema: &str) -> String {
    let events = qualified(schema, "events");
    let entries = qualified(schema, "entries");
    let links = qualified(schema, "links");
    format!(
        "CREATE TABLE {events} (
    -- The event's log position.
    position      bigint      PRIMARY KEY CHECK (position > 0),
    -- The record the event is about: `deals` and its id.
    collection    text        NOT NULL,
    record_id     uuid        NOT NULL,
    -- The public type `crm.deal.stage_changed.v1` and the short name `stage_changed`.
    event_type    text        NOT NULL,
    event_name    text        NOT NULL,
    -- `touchpoint` or `change`.
    kind          text        NOT NULL CHECK (kind IN ('touchpoint', 'change')),
    occurred_at   timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL,
    -- `user:<id>` or `system`; the user's id when a user.
    actor         text        NOT NULL,
    actor_id      uuid,
    summary       text        NOT NULL,
    -- The event's payload as stored (json: read back whole, never queried inside).
    data          json        NOT NULL
);
CREATE TABLE {entries} (
    -- Whose timeline: `contact` or `company`, and its id.
    customer_kind text COLLATE \"C\" NOT NULL CHECK (customer_kind IN ('contact', 'company')),
    customer_id   uuid    NOT NULL,
    -- The event, and the customer's place among those it is on.
    position      bigint  NOT NULL,
    ordinal       integer NOT NULL CHECK (ordinal >= 0)
);
CREATE TABLE {links} (
    id          uuid   PRIMARY KEY,
    collection  text   NOT NULL,
    company_id  uuid,
    contact_id  uuid,
    deal_id     uuid,
    label       text   NOT NULL,
    -- The last event that changed the row.
    position    bigint NOT NULL CHECK (position > 0)
);
"
    )
}

/// The entries' key, made once the generation has caught up.
pub(crate) fn create_indexes(schema: &str) -> String {
    format!(
        "ALTER TABLE {} ADD PRIMARY KEY (customer_kind, customer_id, position, ordinal);",
        qualified(schema, "entries")
    )
}
