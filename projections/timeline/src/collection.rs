//! The kinds of record a timeline entry can be about, named as the API's paths and the access
//! policy name them (`deals`), and how this read model's tables are named in a generation.

/// A kind of record that appears on a customer's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Collection {
    Companies,
    Contacts,
    Leads,
    Deals,
    Activities,
    Tasks,
    Cases,
}

impl Collection {
    pub(crate) const ALL: [Collection; 7] = [
        Collection::Companies,
        Collection::Contacts,
        Collection::Leads,
        Collection::Deals,
        Collection::Activities,
        Collection::Tasks,
        Collection::Cases,
    ];

    /// The API's name: `companies`, `contacts`, ...
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Collection::Companies => "companies",
            Collection::Contacts => "contacts",
            Collection::Leads => "leads",
            Collection::Deals => "deals",
            Collection::Activities => "activities",
            Collection::Tasks => "tasks",
            Collection::Cases => "cases",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Collection> {
        Collection::ALL
            .into_iter()
            .find(|collection| collection.as_str() == name)
    }
}

pub(crate) use projector::qualified;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_collection_reads_back_from_its_name() {
        for collection in Collection::ALL {
            assert_eq!(Collection::parse(collection.as_str()), Some(collection));
        }
        assert_eq!(Collection::parse("pipelines"), None);
        assert_eq!(
            qualified("timeline_g1", "entries"),
            "\"timeline_g1\".entries"
        );
        assert_eq!(qualified("a\"b", "links"), "\"a\"\"b\".links");
    }
}
