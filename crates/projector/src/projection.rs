//! The contract a read model states to the framework: its name, which events it reads, its
//! tables, and `apply`, which runs inside the transaction that advances its checkpoint. `apply`
//! has no side effects outside that transaction, so any projection can be rebuilt from the first
//! event.

use std::future::Future;

use eventlog::{Envelope, Subjects};

use crate::error::{ProjectionError, ProjectorError};

/// Which events a projection reads: one JetStream filter subject (nats-server 2.9 ignores a
/// list of them and would deliver everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Domain events: `<prefix>.events.>`.
    Events,
    /// Record accesses: `<prefix>.access.>`.
    Access,
    /// Both: `<prefix>.>`.
    Everything,
}

impl Feed {
    /// The consumer's filter subject under `prefix`.
    pub fn filter_subject(self, prefix: &str) -> String {
        let subjects = Subjects::new(prefix);
        match self {
            Feed::Events => subjects.events_filter(),
            Feed::Access => subjects.access_filter(),
            Feed::Everything => format!("{prefix}.>"),
        }
    }
}

/// One read model. Each generation of it lives in a schema of its own, `<name>_g<N>`.
pub trait Projection: Send + Sync + 'static {
    /// `[a-z][a-z0-9_]*`, at most 50 characters: names the schemas, the consumer and the
    /// registry rows.
    fn name(&self) -> &'static str;

    fn feed(&self) -> Feed;

    /// The DDL run once, as the database owner, when a generation's schema has been created;
    /// it names the schema itself (`CREATE TABLE {schema}.companies ...`).
    fn create_tables(&self, schema: &str) -> String;

    /// The DDL of the indexes only queries use, run once the generation has caught up (a
    /// generation built from the first event would otherwise keep every index up row by row
    /// through the whole backlog; building each once over the finished table costs a fraction of
    /// that). `apply` must not need them; readers meanwhile get the same answers, slower.
    fn create_indexes(&self, _schema: &str) -> String {
        String::new()
    }

    /// Applies `events` (in position order, each once) inside `transaction`, which also advances
    /// the projection's position and commits only if this succeeds.
    fn apply(
        &self,
        transaction: &deadpool_postgres::Transaction<'_>,
        schema: &str,
        events: &[Envelope],
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send;
}

/// The longest name: `<name>_g<N>` must fit PostgreSQL's 63-byte identifiers.
const MAX_NAME: usize = 50;

/// Refuses a name that cannot name a schema and a consumer.
pub(crate) fn validate_name(name: &'static str) -> Result<(), ProjectorError> {
    let mut characters = name.chars();
    let valid = characters.next().is_some_and(|c| c.is_ascii_lowercase())
        && characters.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= MAX_NAME;
    if valid {
        return Ok(());
    }
    Err(ProjectorError::Projection {
        projection: name,
        message: format!("the name must be [a-z][a-z0-9_]*, at most {MAX_NAME} characters"),
    })
}

/// What a generation's tables are made from: the SHA-256 (hex) of the projection's DDL (tables,
/// then indexes), with a placeholder for the schema name. Two versions whose DDL differs in any
/// way differ here.
pub(crate) fn tables_digest<P: Projection>(projection: &P) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    digest.update(projection.create_tables("schema").as_bytes());
    digest.update(projection.create_indexes("schema").as_bytes());
    hex::encode(digest.finalize())
}

/// `"schema".table`: a table of a generation, for SQL built around the generation's schema
/// (quoted so that PostgreSQL reads exactly this name).
pub fn qualified(schema: &str, table: &str) -> String {
    format!("\"{}\".{table}", schema.replace('"', "\"\""))
}

/// The schema of one generation: `<name>_g<N>`.
pub(crate) fn schema_name(projection: &str, generation: u32) -> String {
    format!("{projection}_g{generation}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_name_cannot_break_out_of_its_quotes() {
        assert_eq!(qualified("audit_g1", "entries"), "\"audit_g1\".entries");
        assert_eq!(qualified("a\"; DROP", "states"), "\"a\"\"; DROP\".states");
    }

    #[test]
    fn each_feed_has_one_filter_subject() {
        assert_eq!(Feed::Events.filter_subject("crm"), "crm.events.>");
        assert_eq!(Feed::Access.filter_subject("crm"), "crm.access.>");
        assert_eq!(Feed::Everything.filter_subject("t1.crm"), "t1.crm.>");
    }

    #[test]
    fn names_that_cannot_name_a_schema_are_refused() {
        assert!(validate_name("records").is_ok());
        assert!(validate_name("pipeline_2").is_ok());
        for bad in ["", "Records", "2records", "re-cords", "re.cords", "r\"x"] {
            assert!(validate_name(bad).is_err(), "{bad:?} is refused");
        }
        assert_eq!(schema_name("records", 12), "records_g12");
    }
}
