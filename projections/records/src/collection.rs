//! The kinds of record this read model holds, named as the API's paths name them
//! (`/v1/companies`), each with its table and the event stream it is folded from.

use domain::Aggregate;
use domain::activity::Activity;
use domain::case::Case;
use domain::company::Company;
use domain::contact::Contact;
use domain::deal::Deal;
use domain::lead::Lead;
use domain::pipeline::Pipeline;
use domain::task::Task;

/// One kind of record; its name is the API's collection and the table's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collection {
    Companies,
    Contacts,
    Leads,
    Pipelines,
    Deals,
    Activities,
    Tasks,
    Cases,
}

impl Collection {
    pub const ALL: [Collection; 8] = [
        Collection::Companies,
        Collection::Contacts,
        Collection::Leads,
        Collection::Pipelines,
        Collection::Deals,
        Collection::Activities,
        Collection::Tasks,
        Collection::Cases,
    ];

    /// The API's name, which is also the table's: `companies`, `contacts`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Collection::Companies => "companies",
            Collection::Contacts => "contacts",
            Collection::Leads => "leads",
            Collection::Pipelines => "pipelines",
            Collection::Deals => "deals",
            Collection::Activities => "activities",
            Collection::Tasks => "tasks",
            Collection::Cases => "cases",
        }
    }

    /// The collection an API path names, if it is one of ours.
    pub fn parse(name: &str) -> Option<Collection> {
        Collection::ALL
            .into_iter()
            .find(|collection| collection.as_str() == name)
    }

    /// Whether its records ever fill `column` ([`crate::index`]). Only the columns a collection
    /// fills are indexed there, and a filter on another matches nothing: an index of a column
    /// that is always empty would cost every insert an entry and answer no question.
    pub(crate) fn fills(self, column: Column) -> bool {
        use Collection::*;
        match column {
            Column::Owner => self != Pipelines,
            Column::Team => matches!(self, Companies | Contacts | Leads | Deals | Tasks | Cases),
            Column::Company => matches!(self, Contacts | Leads | Deals | Activities | Tasks),
            Column::Tags => matches!(self, Companies | Contacts),
        }
    }

    /// The statuses its records go through, as `?status=` names them (none: it has no status).
    /// A task is `pending` until it is `completed`.
    pub fn statuses(self) -> &'static [&'static str] {
        match self {
            Collection::Leads => &["new", "qualified", "disqualified", "converted"],
            Collection::Deals => &["open", "won", "lost"],
            Collection::Activities => &["logged", "scheduled", "cancelled"],
            Collection::Tasks => &["pending", "completed"],
            Collection::Cases => &["new", "open", "pending", "resolved", "closed"],
            Collection::Companies | Collection::Contacts | Collection::Pipelines => &[],
        }
    }

    /// Whether its records may link one contact (`?contact_id=`).
    pub fn links_contacts(self) -> bool {
        matches!(
            self,
            Collection::Deals | Collection::Activities | Collection::Tasks | Collection::Cases
        )
    }

    /// The stream type its records are folded from (`company`, `contact`, ...).
    pub fn stream_type(self) -> &'static str {
        match self {
            Collection::Companies => Company::STREAM_TYPE,
            Collection::Contacts => Contact::STREAM_TYPE,
            Collection::Leads => Lead::STREAM_TYPE,
            Collection::Pipelines => Pipeline::STREAM_TYPE,
            Collection::Deals => Deal::STREAM_TYPE,
            Collection::Activities => Activity::STREAM_TYPE,
            Collection::Tasks => Task::STREAM_TYPE,
            Collection::Cases => Case::STREAM_TYPE,
        }
    }
}

/// A column the lists filter on, beside the words `q` searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Owner,
    Team,
    Company,
    Tags,
}

impl std::fmt::Display for Collection {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The collection's table of the generation in `schema`.
pub(crate) fn qualified_table(schema: &str, collection: Collection) -> String {
    projector::qualified(schema, collection.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_collection_reads_back_from_its_name() {
        for collection in Collection::ALL {
            assert_eq!(Collection::parse(collection.as_str()), Some(collection));
        }
        assert_eq!(Collection::parse("users"), None);
        assert_eq!(Collection::parse("Companies"), None);
    }

    #[test]
    fn every_status_a_list_filters_on_is_one_the_domain_writes() {
        fn writes<T: serde::de::DeserializeOwned>(collection: Collection) {
            for status in collection.statuses() {
                let read = serde_json::from_value::<T>(serde_json::json!(status));
                assert!(read.is_ok(), "{collection}: {status}");
            }
        }
        writes::<domain::lead::LeadStatus>(Collection::Leads);
        writes::<domain::deal::DealStatus>(Collection::Deals);
        writes::<domain::activity::ActivityStatus>(Collection::Activities);
        writes::<domain::case::CaseStatus>(Collection::Cases);
    }

    #[test]
    fn a_collection_table_lives_in_the_generation_schema() {
        assert_eq!(
            qualified_table("records_g1", Collection::Deals),
            "\"records_g1\".deals"
        );
    }
}
