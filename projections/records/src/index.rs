//! What each kind of record contributes to the columns its lists filter on: who owns it, its
//! team, its company, its tags, and the words `q` finds it by. The record's body is stored as
//! the domain serialises it; these columns are derived from it, never edited on their own.
//!
//! Ownership, for record-level visibility: companies, contacts, leads and deals have an owner
//! and a team; tasks and cases belong to their assignee (an unassigned case to its creator) and
//! the team the assignee was in when they got it; an activity belongs to the user who recorded it (and is always linked to a
//! customer or a deal); pipelines (the business's configuration) belong to no one.

use domain::Aggregate;
use domain::activity::Activity;
use domain::case::Case;
use domain::company::Company;
use domain::contact::Contact;
use domain::deal::Deal;
use domain::lead::Lead;
use domain::pipeline::Pipeline;
use domain::task::Task;
use domain::values::{Email, Tags, Team};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::Collection;

/// The filter columns of one row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct IndexColumns {
    pub owner_id: Option<Uuid>,
    pub team: Option<String>,
    pub company_id: Option<Uuid>,
    pub tags: Vec<String>,
    /// The text `search` is built from: names, e-mail addresses and their domains, web domains.
    pub search: String,
}

/// An aggregate whose state is one record of a collection of this read model.
pub(crate) trait Held:
    Aggregate<State = Option<Self>> + Serialize + DeserializeOwned
{
    const COLLECTION: Collection;

    /// The row's filter columns; `created_by` is the user who created the record, if a user did.
    fn index(&self, created_by: Option<Uuid>) -> IndexColumns;
}

impl Held for Company {
    const COLLECTION: Collection = Collection::Companies;

    fn index(&self, _created_by: Option<Uuid>) -> IndexColumns {
        IndexColumns {
            owner_id: self.owner_id,
            team: team_name(self.team.as_ref()),
            company_id: None,
            tags: tag_list(&self.tags),
            search: words([
                Some(self.name.as_str()),
                self.domain.as_ref().map(|d| d.as_str()),
            ]),
        }
    }
}

impl Held for Contact {
    const COLLECTION: Collection = Collection::Contacts;

    fn index(&self, _created_by: Option<Uuid>) -> IndexColumns {
        let mut search = words([
            Some(self.first_name.as_str()),
            Some(self.last_name.as_str()),
        ]);
        for email in &self.emails {
            search.push(' ');
            search.push_str(&email_words(email));
        }
        IndexColumns {
            owner_id: self.owner_id,
            team: team_name(self.team.as_ref()),
            company_id: self.company_id,
            tags: tag_list(&self.tags),
            search,
        }
    }
}

impl Held for Lead {
    const COLLECTION: Collection = Collection::Leads;

    fn index(&self, _created_by: Option<Uuid>) -> IndexColumns {
        let email = self.email.as_ref().map(email_words);
        IndexColumns {
            owner_id: self.owner_id,
            team: team_name(self.team.as_ref()),
            company_id: self
                .converted
                .as_ref()
                .and_then(|converted| converted.company_id),
            tags: Vec::new(),
            search: words([
                Some(self.name.as_str()),
                email.as_deref(),
                self.company_name.as_ref().map(|name| name.as_str()),
            ]),
        }
    }
}

impl Held for Pipeline {
    const COLLECTION: Collection = Collection::Pipelines;

    fn index(&self, _created_by: Option<Uuid>) -> IndexColumns {
        IndexColumns {
            search: words([Some(self.name.as_str())]),
            ..IndexColumns::default()
        }
    }
}

impl Held for Deal {
    const COLLECTION: Collection = Collection::Deals;

    fn index(&self, _created_by: Option<Uuid>) -> IndexColumns {
        IndexColumns {
            owner_id: Some(self.owner_id),
            team: team_name(self.team.as_ref()),
            company_id: self.company_id,
            tags: Vec::new(),
            search: words([Some(self.title.as_str())]),
        }
    }
}

impl Held for Activity {
    const COLLECTION: Collection = Collection::Activities;

    fn index(&self, created_by: Option<Uuid>) -> IndexColumns {
        IndexColumns {
            owner_id: created_by,
            team: None,
            company_id: self.company_id,
            tags: Vec::new(),
            search: words([Some(self.subject.as_str())]),
        }
    }
}

impl Held for Task {
    const COLLECTION: Collection = Collection::Tasks;

    fn index(&self, _created_by: Option<Uuid>) -> IndexColumns {
        IndexColumns {
            owner_id: Some(self.assignee_id),
            team: team_name(self.team.as_ref()),
            company_id: self.company_id,
            tags: Vec::new(),
            search: words([Some(self.title.as_str())]),
        }
    }
}

impl Held for Case {
    const COLLECTION: Collection = Collection::Cases;

    /// Unassigned, a case is its creator's (as the write guard judges it).
    fn index(&self, created_by: Option<Uuid>) -> IndexColumns {
        IndexColumns {
            owner_id: self.assignee_id.or(created_by),
            team: team_name(self.team.as_ref()),
            company_id: None,
            tags: Vec::new(),
            search: words([Some(self.subject.as_str())]),
        }
    }
}

fn team_name(team: Option<&Team>) -> Option<String> {
    team.map(|team| team.as_str().to_owned())
}

fn tag_list(tags: &Tags) -> Vec<String> {
    tags.iter().map(str::to_owned).collect()
}

/// The address, and its domain on its own, so `q=acme.example` finds the people of a company.
fn email_words(email: &Email) -> String {
    format!("{} {}", email.as_str(), email.domain())
}

/// The words to search by, lower-cased here: PostgreSQL's `simple` configuration lower-cases
/// only ASCII in a database of the C locale, and a query is lower-cased in Rust, so `Élise` would
/// not find `Élise`.
fn words<'a>(parts: impl IntoIterator<Item = Option<&'a str>>) -> String {
    parts
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collection::Column;
    use domain::DomainEvent;
    use domain::values::Name;

    #[test]
    fn search_words_are_lower_cased_beyond_ascii() {
        assert_eq!(
            words([Some("Élise"), None, Some("ØRSTED ada@X.org")]),
            "élise ørsted ada@x.org"
        );
    }

    /// Folds every golden sample of `A`'s events in catalog order and checks that each record
    /// on the way leaves empty the columns its collection does not fill (they have no index).
    fn fills_only_what_it_declares<A: Held>() {
        let mut state: Option<A> = None;
        let mut records = 0;
        for schema in domain::event_catalog() {
            if schema.stream_type != A::STREAM_TYPE {
                continue;
            }
            let event =
                A::Event::from_stored(schema.event_type, schema.schema_version, &schema.sample)
                    .unwrap();
            state = A::evolve(state, &event);
            let Some(record) = &state else { continue };
            records += 1;
            let index = record.index(Some(Uuid::now_v7()));
            let collection = A::COLLECTION;
            for (column, filled) in [
                (Column::Owner, index.owner_id.is_some()),
                (Column::Team, index.team.is_some()),
                (Column::Company, index.company_id.is_some()),
                (Column::Tags, !index.tags.is_empty()),
            ] {
                assert!(
                    !filled || collection.fills(column),
                    "{collection} fills {column:?}, which it says it never does"
                );
            }
        }
        assert!(records > 0, "{}: no sample made a record", A::STREAM_TYPE);
    }

    #[test]
    fn every_collection_fills_only_the_filter_columns_it_declares() {
        fills_only_what_it_declares::<Company>();
        fills_only_what_it_declares::<Contact>();
        fills_only_what_it_declares::<Lead>();
        fills_only_what_it_declares::<Pipeline>();
        fills_only_what_it_declares::<Deal>();
        fills_only_what_it_declares::<Activity>();
        fills_only_what_it_declares::<Task>();
        fills_only_what_it_declares::<Case>();
    }

    #[test]
    fn a_contact_is_found_by_its_names_addresses_and_their_domains() {
        let contact = Contact {
            id: Uuid::now_v7(),
            first_name: Name::parse("Ada").unwrap(),
            last_name: Name::parse("Lovelace").unwrap(),
            emails: vec![Email::parse("ada@Acme.example").unwrap()],
            phones: vec![],
            title: None,
            company_id: None,
            tags: Tags::parse(&["VIP"]).unwrap(),
            owner_id: None,
            team: Some(Team::parse("Berlin").unwrap()),
        };
        let index = contact.index(None);
        assert_eq!(index.search, "ada lovelace ada@acme.example acme.example");
        assert_eq!(index.tags, ["vip"]);
        assert_eq!(index.team.as_deref(), Some("Berlin"));
    }
}
