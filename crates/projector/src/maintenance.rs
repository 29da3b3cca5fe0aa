//! Vacuuming a generation's tables once it has caught up on a large backlog. A catch-up writes
//! far faster than autovacuum notices: until the tables are vacuumed their visibility map is
//! empty (an index-only scan reads the heap after all) and until they are analysed the planner
//! takes them for the empty tables they were, so the read model's first queries would be slow.

use deadpool_postgres::Pool;

use crate::error::ProjectorError;

/// Events applied since the last vacuum that make the next idle moment vacuum.
pub(crate) const VACUUM_AFTER_EVENTS: u64 = 50_000;

/// `VACUUM (ANALYZE)` on every table of `schema`, one after another.
pub(crate) async fn vacuum(pool: &Pool, schema: &str) -> Result<(), ProjectorError> {
    let client = pool.get().await?;
    let tables = client
        .query(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename",
            &[&schema],
        )
        .await?;
    for row in tables {
        let table: String = row.try_get(0)?;
        client
            .batch_execute(&format!(
                "VACUUM (ANALYZE) {}.{}",
                quoted(schema),
                quoted(&table)
            ))
            .await?;
    }
    tracing::info!(schema, "vacuumed and analysed the generation's tables");
    Ok(())
}

/// An identifier quoted for SQL.
fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_whatever_they_hold() {
        assert_eq!(quoted("records_g1"), "\"records_g1\"");
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
    }
}
