//! Vacuuming a generation's tables once it has caught up on a large backlog. A catch-up writes
//! far faster than autovacuum notices: until the tables are vacuumed their visibility map is
//! empty (an index-only scan reads the heap after all) and until they are analysed the planner
//! takes them for the empty tables they were, so the read model's first queries would be slow.

use deadpool_postgres::Pool;

use crate::error::ProjectorError;

/// Events applied since the last vacuum that make the next idle moment vacuum.
pub const VACUUM_AFTER_EVENTS: u64 = 50_000;

/// `VACUUM (ANALYZE)` on every table of `schema`, one after another; a failure is logged and
/// only leaves the tables to autovacuum.
pub(crate) async fn vacuum(pool: Pool, schema: String) {
    if let Err(error) = vacuum_tables(&pool, &schema).await {
        tracing::warn!(%schema, error = %error, "could not vacuum the generation's tables");
    }
}

async fn vacuum_tables(pool: &Pool, schema: &str) -> Result<(), ProjectorError> {
    let client = pool.get().await?;
    let tables = client
        .query(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables \
             WHERE schemaname = $1 ORDER BY tablename",
            &[&schema],
        )
        .await?;
    for row in tables {
        let table: String = row.try_get(0)?;
        client
            .batch_execute(&format!("VACUUM (ANALYZE) {table}"))
            .await?;
    }
    tracing::info!(schema, "vacuumed and analysed the generation's tables");
    Ok(())
}
