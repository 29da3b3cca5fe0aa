//! The names a record goes by: the API's plural collection (`contacts`, what the audit trail is
//! asked about and what access events name) and the stream type its events are stored under
//! (`contact`). The audit trail keeps the collection, so that a change and a read of the same
//! record land under the same name.

/// Every stream type whose records the audit trail follows, with its collection.
const NAMES: [(&str, &str); 10] = [
    ("company", "companies"),
    ("contact", "contacts"),
    ("lead", "leads"),
    ("pipeline", "pipelines"),
    ("deal", "deals"),
    ("activity", "activities"),
    ("task", "tasks"),
    ("case", "cases"),
    ("user", "users"),
    ("username", "usernames"),
];

/// The collection of the contacts, the data subjects of the GDPR report.
pub(crate) const CONTACTS: &str = "contacts";
/// The collection of the users, whose activity the actor query reports.
pub(crate) const USERS: &str = "users";
/// The stream type of a contact.
pub(crate) const CONTACT_STREAM: &str = "contact";
/// The stream type of a deal, whose links reach the records logged on it.
pub(crate) const DEAL_STREAM: &str = "deal";

/// The collection a stream type's records belong to (`contact` → `contacts`).
pub(crate) fn collection_of(stream_type: &str) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(stream, _)| *stream == stream_type)
        .map(|(_, collection)| *collection)
}

/// The stream type a collection's records are stored under (`contacts` → `contact`).
pub(crate) fn stream_type_of(collection: &str) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(_, name)| *name == collection)
        .map(|(stream, _)| *stream)
}

/// The stream type as a `'static` name, when it is one the audit trail follows.
pub(crate) fn known_stream(stream_type: &str) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(stream, _)| *stream == stream_type)
        .map(|(stream, _)| *stream)
}

/// Every collection the audit trail can be asked about.
pub fn collections() -> impl Iterator<Item = &'static str> {
    NAMES.iter().map(|(_, collection)| *collection)
}

pub(crate) use projector::qualified;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_collection_maps_to_its_stream_type_and_back() {
        for collection in collections() {
            let stream_type = stream_type_of(collection).expect("a stream type");
            assert_eq!(collection_of(stream_type), Some(collection));
        }
        assert_eq!(collection_of("query"), None);
        assert_eq!(stream_type_of("contact"), None);
        for collection in collections().filter(|collection| *collection != "usernames") {
            assert_eq!(
                accesslog::stream_type_of(collection),
                stream_type_of(collection),
                "the access log names {collection}'s stream the same way"
            );
        }
    }
}
