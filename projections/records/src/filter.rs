//! The filters of a list (`?tag=&owner_id=&company_id=&q=&status=&contact_id=&due_before=`, and
//! who may see what) turned into one SQL statement with its parameters. Every value travels as a
//! parameter, never inside the SQL text; the search text is reduced to words before it becomes a
//! `tsquery`, so no input can be read as query syntax. Status, contact and due time are read from
//! the record's body, unindexed: they narrow what the visibility and the page already bound.

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::collection::{Column, qualified_table};
use crate::page::Keyset;
use crate::{Collection, RecordsError};

/// The longest search text a list accepts.
pub const MAX_SEARCH_CHARS: usize = 200;

/// Which records of a collection a list returns; every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Records carrying this tag (compared lower-cased, as tags are kept).
    pub tag: Option<String>,
    pub owner_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    /// Full-text search on names, e-mail addresses and domains; each word matches as a prefix
    /// (`ada` finds "Ada Lovelace"), and every word must match.
    pub q: Option<String>,
    /// Records in this status ([`Collection::statuses`]).
    pub status: Option<String>,
    /// Records linked to this contact (deals, activities, tasks, cases).
    pub contact_id: Option<Uuid>,
    /// Tasks due before this time.
    pub due_before: Option<DateTime<Utc>>,
    /// Record-level visibility: when `Some`, only records owned by one of these owners OR
    /// belonging to one of these teams, or belonging to a company that is. Empty lists see
    /// nothing.
    pub visible_to: Option<Visibility>,
}

/// Whose records a caller may see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visibility {
    pub owner_ids: Vec<Uuid>,
    pub teams: Vec<String>,
}

/// A value bound to a `$n` of a built statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Parameter {
    Text(String),
    Id(Uuid),
    Ids(Vec<Uuid>),
    Texts(Vec<String>),
    Count(i64),
    Time(DateTime<Utc>),
}

impl Parameter {
    pub(crate) fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Parameter::Text(text) => text,
            Parameter::Id(id) => id,
            Parameter::Ids(ids) => ids,
            Parameter::Texts(texts) => texts,
            Parameter::Count(count) => count,
            Parameter::Time(time) => time,
        }
    }
}

/// A statement and the values of its `$1`, `$2`, ...
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub sql: String,
    pub parameters: Vec<Parameter>,
}

impl Statement {
    pub(crate) fn parameters(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.parameters.iter().map(Parameter::as_sql).collect()
    }
}

/// `SELECT id, body` of the page of `table` that `filter` and `keyset` select, ordered by id,
/// one row more than the page holds (its presence says there is a next page).
pub(crate) fn list_statement(
    schema: &str,
    collection: Collection,
    filter: &ListFilter,
    keyset: Keyset,
) -> Result<Statement, RecordsError> {
    let table = qualified_table(schema, collection);
    let mut conditions = Vec::new();
    let mut parameters = Vec::new();
    let mut bind = |parameter: Parameter| {
        parameters.push(parameter);
        format!("${}", parameters.len())
    };
    if let Some(tag) = &filter.tag {
        conditions.push(if collection.fills(Column::Tags) {
            let tag = bind(Parameter::Text(tag.trim().to_lowercase()));
            format!("tags @> ARRAY[{tag}::text]")
        } else {
            "FALSE".to_owned()
        });
    }
    if let Some(owner_id) = filter.owner_id {
        conditions.push(if collection.fills(Column::Owner) {
            format!("owner_id = {}", bind(Parameter::Id(owner_id)))
        } else {
            "FALSE".to_owned()
        });
    }
    if let Some(company_id) = filter.company_id {
        conditions.push(if collection.fills(Column::Company) {
            format!("company_id = {}", bind(Parameter::Id(company_id)))
        } else {
            "FALSE".to_owned()
        });
    }
    if let Some(status) = &filter.status {
        conditions.push(status_condition(collection, status, &mut bind)?);
    }
    if let Some(contact_id) = filter.contact_id {
        if !collection.links_contacts() {
            return Err(RecordsError::BadFilter {
                field: "contact_id",
                message: format!("{collection} link no contact"),
            });
        }
        let contact = bind(Parameter::Text(contact_id.to_string()));
        conditions.push(format!("body ->> 'contact_id' = {contact}"));
    }
    if let Some(due_before) = filter.due_before {
        if collection != Collection::Tasks {
            return Err(RecordsError::BadFilter {
                field: "due_before",
                message: format!("only tasks are due, not {collection}"),
            });
        }
        let due_before = bind(Parameter::Time(due_before));
        conditions.push(format!("(body ->> 'due_at')::timestamptz < {due_before}"));
    }
    if let Some(q) = &filter.q {
        match search_query(q)? {
            Search::Everything => {}
            Search::Nothing => conditions.push("FALSE".to_owned()),
            Search::Words(query) => {
                let query = bind(Parameter::Text(query));
                conditions.push(format!("search @@ to_tsquery('simple', {query})"));
            }
        }
    }
    if let Some(visible) = &filter.visible_to {
        let owners = bind(Parameter::Ids(visible.owner_ids.clone()));
        let teams = bind(Parameter::Texts(visible.teams.clone()));
        // A record is visible through the company, contact or deal it links to, as the
        // policy says (and as a read by id decides).
        let linked = |column: &str, collection: Collection| {
            format!(
                "{column} IN (SELECT l.id FROM {} l \
                 WHERE l.owner_id = ANY({owners}::uuid[]) OR l.team = ANY({teams}::text[]))",
                qualified_table(schema, collection)
            )
        };
        conditions.push(format!(
            "(owner_id = ANY({owners}::uuid[]) OR team = ANY({teams}::text[]) OR {} OR {} OR {})",
            linked("company_id", Collection::Companies),
            linked("(body ->> 'contact_id')::uuid", Collection::Contacts),
            linked("(body ->> 'deal_id')::uuid", Collection::Deals),
        ));
    }
    if let Some(after) = keyset.after {
        conditions.push(format!("id > {}", bind(Parameter::Id(after))));
    }
    let limit = bind(Parameter::Count(i64::from(keyset.limit) + 1));
    let condition = if conditions.is_empty() {
        "TRUE".to_owned()
    } else {
        conditions.join(" AND ")
    };
    Ok(Statement {
        sql: format!("SELECT id, body FROM {table} WHERE {condition} ORDER BY id LIMIT {limit}"),
        parameters,
    })
}

/// The condition of `?status=` on `collection`: a task is pending until it has a completion
/// time; the others hold their status.
fn status_condition(
    collection: Collection,
    status: &str,
    bind: &mut impl FnMut(Parameter) -> String,
) -> Result<String, RecordsError> {
    let statuses = collection.statuses();
    if !statuses.contains(&status) {
        let message = if statuses.is_empty() {
            format!("{collection} have no status")
        } else {
            format!("must be one of {}", statuses.join(", "))
        };
        return Err(RecordsError::BadFilter {
            field: "status",
            message,
        });
    }
    Ok(match (collection, status) {
        (Collection::Tasks, "pending") => "body ->> 'completed_at' IS NULL".to_owned(),
        (Collection::Tasks, _) => "body ->> 'completed_at' IS NOT NULL".to_owned(),
        _ => format!(
            "body ->> 'status' = {}",
            bind(Parameter::Text(status.to_owned()))
        ),
    })
}

/// What a search text asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Search {
    /// Blank: no search.
    Everything,
    /// Only punctuation: nothing can match.
    Nothing,
    /// A `tsquery` (configuration `simple`) in which every word must match as a prefix.
    Words(String),
}

/// Words are runs of letters, digits and the characters of e-mail addresses and host names
/// (`@ . _ + -`), so `ada@acme.example` stays one word as PostgreSQL's parser reads it; a word
/// needs at least one letter or digit. Quoting a word that holds none of `'`, `\`, `:`, `&`,
/// `|`, `!`, `(` or `)` makes it a plain lexeme, never an operator.
fn search_query(q: &str) -> Result<Search, RecordsError> {
    if q.chars().count() > MAX_SEARCH_CHARS {
        return Err(RecordsError::SearchTooLong);
    }
    if q.trim().is_empty() {
        return Ok(Search::Everything);
    }
    let is_word_char = |c: char| c.is_alphanumeric() || "@._+-".contains(c);
    let words: Vec<String> = q
        .split(|c: char| !is_word_char(c))
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .map(|word| format!("'{}':*", word.to_lowercase()))
        .collect();
    if words.is_empty() {
        return Ok(Search::Nothing);
    }
    Ok(Search::Words(words.join(" & ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = "records_g1";

    fn first_page() -> Keyset {
        Keyset {
            limit: 50,
            after: None,
        }
    }

    #[test]
    fn no_filter_lists_everything_by_id() {
        let statement = list_statement(
            SCHEMA,
            Collection::Contacts,
            &ListFilter::default(),
            first_page(),
        )
        .unwrap();
        assert_eq!(
            statement.sql,
            "SELECT id, body FROM \"records_g1\".contacts WHERE TRUE ORDER BY id LIMIT $1"
        );
        assert_eq!(statement.parameters, [Parameter::Count(51)]);
    }

    #[test]
    fn a_filter_on_a_column_the_collection_never_fills_matches_nothing_without_a_scan() {
        let filters = [
            (
                Collection::Deals,
                ListFilter {
                    tag: Some("vip".to_owned()),
                    ..ListFilter::default()
                },
            ),
            (
                Collection::Cases,
                ListFilter {
                    company_id: Some(Uuid::now_v7()),
                    ..ListFilter::default()
                },
            ),
            (
                Collection::Pipelines,
                ListFilter {
                    owner_id: Some(Uuid::now_v7()),
                    ..ListFilter::default()
                },
            ),
        ];
        for (collection, filter) in filters {
            let statement = list_statement(SCHEMA, collection, &filter, first_page()).unwrap();
            assert_eq!(
                statement.sql,
                format!(
                    "SELECT id, body FROM \"records_g1\".{collection} WHERE FALSE ORDER BY id \
                     LIMIT $1"
                )
            );
            assert_eq!(statement.parameters, [Parameter::Count(51)]);
        }
    }

    #[test]
    fn a_status_a_contact_and_a_due_time_filter_what_has_them_and_are_refused_elsewhere() {
        let contact = Uuid::now_v7();
        let due = Utc::now();
        let filter = ListFilter {
            status: Some("pending".to_owned()),
            contact_id: Some(contact),
            due_before: Some(due),
            ..ListFilter::default()
        };
        let statement = list_statement(SCHEMA, Collection::Tasks, &filter, first_page()).unwrap();
        assert_eq!(
            statement.sql,
            "SELECT id, body FROM \"records_g1\".tasks WHERE body ->> 'completed_at' IS NULL \
             AND body ->> 'contact_id' = $1 AND (body ->> 'due_at')::timestamptz < $2 \
             ORDER BY id LIMIT $3"
        );
        assert_eq!(
            statement.parameters,
            [
                Parameter::Text(contact.to_string()),
                Parameter::Time(due),
                Parameter::Count(51)
            ]
        );
        let open_cases = ListFilter {
            status: Some("open".to_owned()),
            ..ListFilter::default()
        };
        let statement =
            list_statement(SCHEMA, Collection::Cases, &open_cases, first_page()).unwrap();
        assert!(
            statement.sql.contains("body ->> 'status' = $1"),
            "{}",
            statement.sql
        );
        assert_eq!(statement.parameters[0], Parameter::Text("open".to_owned()));

        let refused = |collection, filter: ListFilter| match list_statement(
            SCHEMA,
            collection,
            &filter,
            first_page(),
        ) {
            Err(RecordsError::BadFilter { field, .. }) => field,
            other => panic!("{collection}: {other:?}"),
        };
        assert_eq!(
            refused(
                Collection::Cases,
                ListFilter {
                    status: Some("won".to_owned()),
                    ..ListFilter::default()
                }
            ),
            "status"
        );
        assert_eq!(refused(Collection::Companies, open_cases.clone()), "status");
        assert_eq!(
            refused(
                Collection::Leads,
                ListFilter {
                    contact_id: Some(contact),
                    ..ListFilter::default()
                }
            ),
            "contact_id"
        );
        assert_eq!(
            refused(
                Collection::Cases,
                ListFilter {
                    due_before: Some(due),
                    ..ListFilter::default()
                }
            ),
            "due_before"
        );
    }

    #[test]
    fn every_filter_becomes_a_condition_with_its_value_as_a_parameter() {
        let owner = Uuid::now_v7();
        let company = Uuid::now_v7();
        let last = Uuid::now_v7();
        let filter = ListFilter {
            tag: Some(" VIP ".to_owned()),
            owner_id: Some(owner),
            company_id: Some(company),
            q: Some("Ada ada@acme.example".to_owned()),
            visible_to: Some(Visibility {
                owner_ids: vec![owner],
                teams: vec!["Berlin".to_owned()],
            }),
            ..ListFilter::default()
        };
        let keyset = Keyset {
            limit: 10,
            after: Some(last),
        };
        let statement = list_statement(SCHEMA, Collection::Contacts, &filter, keyset).unwrap();
        assert_eq!(
            statement.sql,
            "SELECT id, body FROM \"records_g1\".contacts WHERE tags @> ARRAY[$1::text] \
             AND owner_id = $2 AND company_id = $3 AND search @@ to_tsquery('simple', $4) \
             AND (owner_id = ANY($5::uuid[]) OR team = ANY($6::text[]) \
             OR company_id IN (SELECT l.id FROM \"records_g1\".companies l \
             WHERE l.owner_id = ANY($5::uuid[]) OR l.team = ANY($6::text[])) \
             OR (body ->> 'contact_id')::uuid IN (SELECT l.id FROM \"records_g1\".contacts l \
             WHERE l.owner_id = ANY($5::uuid[]) OR l.team = ANY($6::text[])) \
             OR (body ->> 'deal_id')::uuid IN (SELECT l.id FROM \"records_g1\".deals l \
             WHERE l.owner_id = ANY($5::uuid[]) OR l.team = ANY($6::text[]))) AND id > $7 \
             ORDER BY id LIMIT $8"
        );
        assert_eq!(
            statement.parameters,
            [
                Parameter::Text("vip".to_owned()),
                Parameter::Id(owner),
                Parameter::Id(company),
                Parameter::Text("'ada':* & 'ada@acme.example':*".to_owned()),
                Parameter::Ids(vec![owner]),
                Parameter::Texts(vec!["Berlin".to_owned()]),
                Parameter::Id(last),
                Parameter::Count(11),
            ]
        );
        assert_eq!(statement.parameters().len(), 8);
    }

    #[test]
    fn search_words_are_prefixes_and_punctuation_never_becomes_syntax() {
        assert_eq!(
            search_query("Ada Love").unwrap(),
            Search::Words("'ada':* & 'love':*".to_owned())
        );
        assert_eq!(
            search_query("o'brien & (x | !y):*\\").unwrap(),
            Search::Words("'o':* & 'brien':* & 'x':* & 'y':*".to_owned())
        );
        assert_eq!(
            search_query("Zoë acme.example").unwrap(),
            Search::Words("'zoë':* & 'acme.example':*".to_owned())
        );
    }

    #[test]
    fn a_blank_search_is_no_filter_and_punctuation_alone_matches_nothing() {
        assert_eq!(search_query("  ").unwrap(), Search::Everything);
        assert_eq!(search_query("!!! -- @").unwrap(), Search::Nothing);
        let filter = ListFilter {
            q: Some("--".to_owned()),
            ..ListFilter::default()
        };
        let statement =
            list_statement(SCHEMA, Collection::Contacts, &filter, first_page()).unwrap();
        assert!(statement.sql.contains("WHERE FALSE ORDER BY"));
    }

    #[test]
    fn a_search_longer_than_the_limit_is_refused() {
        assert!(search_query(&"a".repeat(MAX_SEARCH_CHARS)).is_ok());
        assert!(matches!(
            search_query(&"a".repeat(MAX_SEARCH_CHARS + 1)),
            Err(RecordsError::SearchTooLong)
        ));
    }

    #[test]
    fn empty_visibility_lists_match_no_owner_and_no_team() {
        let filter = ListFilter {
            visible_to: Some(Visibility::default()),
            ..ListFilter::default()
        };
        let statement =
            list_statement(SCHEMA, Collection::Contacts, &filter, first_page()).unwrap();
        assert_eq!(
            statement.parameters[..2],
            [Parameter::Ids(vec![]), Parameter::Texts(vec![])]
        );
    }
}
