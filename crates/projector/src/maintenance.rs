//! Keeping a generation's tables known to the planner. A projector writes far faster than
//! autovacuum notices (and some servers run without it): until a table is analysed the planner
//! takes it for the near-empty table it was when a statement was first planned, and a prepared
//! statement keeps that plan (a lookup by key stays a sequential scan as the table grows to
//! millions of rows); until it is vacuumed its visibility map is empty (an index-only scan reads
//! the heap after all). So a projector analyses its tables each time its position doubles, and
//! vacuums them once it has caught up on a large backlog.

use deadpool_postgres::Pool;

use crate::error::ProjectorError;

/// Events applied since the last vacuum that make the next idle moment vacuum.
pub const VACUUM_AFTER_EVENTS: u64 = 50_000;

/// The first position at which the tables are analysed; then each time the position doubles.
const FIRST_ANALYSIS: u64 = 1_000;

/// What a pass over the generation's tables does.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Care {
    Analyze,
    VacuumAnalyze,
}

impl Care {
    fn command(self) -> &'static str {
        match self {
            Care::Analyze => "ANALYZE",
            Care::VacuumAnalyze => "VACUUM (ANALYZE)",
        }
    }
}

/// When the tables are next analysed: the first position past twice the one they were last
/// analysed at (or past [`FIRST_ANALYSIS`]), so a read model of n events is analysed about
/// log2(n) times.
pub(crate) fn next_analysis(analysed_at: u64) -> u64 {
    analysed_at.saturating_mul(2).max(FIRST_ANALYSIS)
}

/// `care` on every table of `schema`, one after another; a failure is logged and only leaves
/// the tables to autovacuum.
pub(crate) async fn tend(pool: Pool, schema: String, care: Care) {
    if let Err(error) = tend_tables(&pool, &schema, care).await {
        tracing::warn!(%schema, error = %error, command = care.command(), "could not tend the generation's tables");
    }
}

async fn tend_tables(pool: &Pool, schema: &str, care: Care) -> Result<(), ProjectorError> {
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
            .batch_execute(&format!("{} {table}", care.command()))
            .await?;
    }
    tracing::info!(
        schema,
        command = care.command(),
        "tended the generation's tables"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_analysed_at_a_thousand_events_then_each_time_the_position_doubles() {
        assert_eq!(next_analysis(0), 1_000);
        assert_eq!(next_analysis(999), 1_998);
        assert_eq!(next_analysis(1_000), 2_000);
        assert_eq!(next_analysis(1_500_000), 3_000_000);
        assert_eq!(next_analysis(u64::MAX), u64::MAX);
    }
}
