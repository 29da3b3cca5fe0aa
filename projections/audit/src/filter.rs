//! The filters every audit question takes (a time range, an action) and the page's keyset,
//! turned into SQL conditions with their parameters. Every value travels as a parameter, never
//! inside the SQL text.

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::AuditError;
use crate::page::Keyset;

/// What an entry's `action` may be: `change` for a domain event, or an access's action (`write`
/// is a refused command: an accepted one is its own change).
pub const ACTIONS: [&str; 9] = [
    "change",
    "read",
    "list",
    "history",
    "timeline",
    "export",
    "audit",
    "authenticate",
    "write",
];

/// Which entries a question returns; every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Entries that occurred at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Entries that occurred before this time.
    pub to: Option<DateTime<Utc>>,
    /// One of [`ACTIONS`].
    pub action: Option<String>,
}

/// A value bound to a `$n` of a built statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Parameter {
    Text(String),
    Id(Uuid),
    Time(DateTime<Utc>),
    Position(i64),
    Ordinal(i32),
    Count(i64),
}

impl Parameter {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Parameter::Text(text) => text,
            Parameter::Id(id) => id,
            Parameter::Time(time) => time,
            Parameter::Position(position) => position,
            Parameter::Ordinal(ordinal) => ordinal,
            Parameter::Count(count) => count,
        }
    }
}

/// A statement's parameters as they are bound, `$1` first.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Parameters(Vec<Parameter>);

impl Parameters {
    /// Binds `parameter`; returns its placeholder.
    pub(crate) fn bind(&mut self, parameter: Parameter) -> String {
        self.0.push(parameter);
        format!("${}", self.0.len())
    }

    pub(crate) fn as_sql(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0.iter().map(Parameter::as_sql).collect()
    }
}

/// The conditions on the entries aliased `alias` that `filter` and `keyset` add, checked.
pub(crate) fn conditions(
    alias: &str,
    filter: &AuditFilter,
    keyset: Keyset,
    parameters: &mut Parameters,
) -> Result<Vec<String>, AuditError> {
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        return Err(AuditError::BadRange);
    }
    let mut conditions = Vec::new();
    if let Some(from) = filter.from {
        let from = parameters.bind(Parameter::Time(from));
        conditions.push(format!("{alias}.occurred_at >= {from}"));
    }
    if let Some(to) = filter.to {
        let to = parameters.bind(Parameter::Time(to));
        conditions.push(format!("{alias}.occurred_at < {to}"));
    }
    if let Some(action) = &filter.action {
        if !ACTIONS.contains(&action.as_str()) {
            return Err(AuditError::BadAction(action.clone()));
        }
        let action = parameters.bind(Parameter::Text(action.clone()));
        conditions.push(format!("{alias}.kind = {action}"));
    }
    if let Some(before) = keyset.before {
        let position = parameters.bind(Parameter::Position(before.position));
        let ordinal = parameters.bind(Parameter::Ordinal(before.ordinal));
        conditions.push(format!(
            "({alias}.position, {alias}.ordinal) < ({position}, {ordinal})"
        ));
    }
    Ok(conditions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::EntryKey;

    fn keyset(before: Option<EntryKey>) -> Keyset {
        Keyset { limit: 10, before }
    }

    #[test]
    fn each_filter_adds_one_condition_with_its_values_as_parameters() {
        let from = Utc::now();
        let filter = AuditFilter {
            from: Some(from),
            to: Some(from),
            action: Some("read".to_owned()),
        };
        let mut parameters = Parameters::default();
        parameters.bind(Parameter::Id(Uuid::now_v7()));
        let before = EntryKey {
            position: 9,
            ordinal: 2,
        };
        let found = conditions("e", &filter, keyset(Some(before)), &mut parameters).unwrap();
        assert_eq!(
            found,
            [
                "e.occurred_at >= $2",
                "e.occurred_at < $3",
                "e.kind = $4",
                "(e.position, e.ordinal) < ($5, $6)"
            ]
        );
        assert_eq!(parameters.as_sql().len(), 6);
        let none = conditions("e", &AuditFilter::default(), keyset(None), &mut parameters);
        assert_eq!(none.unwrap(), Vec::<String>::new());
    }

    #[test]
    fn an_unknown_action_and_a_reversed_range_are_refused() {
        let mut parameters = Parameters::default();
        let unknown = AuditFilter {
            action: Some("delete".to_owned()),
            ..AuditFilter::default()
        };
        assert!(matches!(
            conditions("e", &unknown, keyset(None), &mut parameters),
            Err(AuditError::BadAction(action)) if action == "delete"
        ));
        let now = Utc::now();
        let reversed = AuditFilter {
            from: Some(now),
            to: Some(now - chrono::Duration::seconds(1)),
            action: None,
        };
        assert!(matches!(
            conditions("e", &reversed, keyset(None), &mut parameters),
            Err(AuditError::BadRange)
        ));
    }
}
