//! The tables of one generation: a table per collection, each row a record's current body with
//! the columns its filters read, so every list is an index scan in id order.
//!
//! Every table has the same columns, but a column a collection never fills (the tags of a deal,
//! the team of an activity) has no index there, and a filter on it matches nothing.
//!
//! A record is rewritten at each of its events; a fifth of each page is left free so that the
//! new row version usually fits beside the old one, where PostgreSQL updates in place (HOT)
//! without a new index entry (at 1,000,000 events, catch-up about 16,000-19,000 -> 20,000/s).

use crate::Collection;
use crate::collection::{Column, qualified_table};

/// The DDL of every table of the generation in `schema`.
pub(crate) fn create_tables(schema: &str) -> String {
    Collection::ALL
        .into_iter()
        .map(|collection| create_table(schema, collection))
        .collect()
}

fn create_table(schema: &str, collection: Collection) -> String {
    let table = qualified_table(schema, collection);
    format!(
        "CREATE TABLE {table} (
    -- The record's id (UUIDv7: lists in id order are in creation order).
    id          uuid        PRIMARY KEY,
    -- The aggregate's version and the position of the last event folded in.
    version     bigint      NOT NULL CHECK (version > 0),
    position    bigint      NOT NULL CHECK (position > 0),
    -- The domain's record, serialised, plus \"version\".
    body        jsonb       NOT NULL,
    -- The user whose command created the record, when a user did.
    created_by  uuid,
    -- Who the record belongs to, for owner_id filters and record-level visibility.
    owner_id    uuid,
    team        text,
    company_id  uuid,
    tags        text[]      NOT NULL DEFAULT '{{}}',
    -- Names, e-mail addresses and domains, for q (configuration simple: no stemming).
    search      tsvector    NOT NULL
) WITH (fillfactor = 80);
"
    )
}

/// The indexes every list reads through, made once the generation has caught up.
pub(crate) fn create_indexes(schema: &str) -> String {
    Collection::ALL
        .into_iter()
        .map(|collection| create_collection_indexes(schema, collection))
        .collect()
}

fn create_collection_indexes(schema: &str, collection: Collection) -> String {
    let table = qualified_table(schema, collection);
    let name = collection.as_str();
    let mut ddl = String::new();
    for (column, index) in [
        (
            Column::Owner,
            format!("{name}_by_owner ON {table} (owner_id, id)"),
        ),
        (
            Column::Team,
            format!("{name}_by_team ON {table} (team, id)"),
        ),
        (
            Column::Company,
            format!("{name}_by_company ON {table} (company_id, id)"),
        ),
        (
            Column::Tags,
            format!("{name}_by_tag ON {table} USING gin (tags) WITH (fastupdate = off)"),
        ),
    ] {
        if collection.fills(column) {
            ddl.push_str(&format!("CREATE INDEX {index};\n"));
        }
    }
    ddl.push_str(&format!(
        "CREATE INDEX {name}_by_search ON {table} USING gin (search) WITH (fastupdate = off);\n"
    ));
    ddl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_collection_has_its_table_in_the_generation_schema() {
        let ddl = create_tables("records_g7");
        for collection in Collection::ALL {
            let create = format!("CREATE TABLE \"records_g7\".{} (", collection.as_str());
            assert!(ddl.contains(&create), "{collection}");
        }
    }

    #[test]
    fn only_the_columns_a_collection_fills_are_indexed_there() {
        let ddl = create_indexes("records_g7");
        for collection in Collection::ALL {
            for (column, suffix) in [
                (Column::Owner, "by_owner"),
                (Column::Team, "by_team"),
                (Column::Company, "by_company"),
                (Column::Tags, "by_tag"),
            ] {
                let index = format!("CREATE INDEX {}_{suffix} ", collection.as_str());
                assert_eq!(
                    ddl.contains(&index),
                    collection.fills(column),
                    "{collection} {suffix}"
                );
            }
        }
        assert!(!ddl.contains("activities_by_team"));
        assert!(ddl.contains("activities_by_company"));
    }
}
