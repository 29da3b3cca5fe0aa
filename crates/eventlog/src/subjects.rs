//! The public subject scheme: `<prefix>.events.<aggregate>.<id>` for domain events,
//! `<prefix>.access.<aggregate>.<id>` for record accesses and `<prefix>.checkpoints` for signed
//! checkpoints. Subscribers filter on these; changing them is a versioned, documented act.

use eventstore::{Category, StreamRef};

/// The subjects under one prefix (`crm` unless the settings say otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    pub fn new(prefix: &str) -> Subjects {
        Subjects {
            prefix: prefix.to_owned(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>.<category>.<aggregate>.<id>`: where the event of `stream` in `category` is
    /// published.
    pub fn event(&self, category: Category, stream: &StreamRef) -> String {
        format!(
            "{}.{}.{}.{}",
            self.prefix,
            category.as_str(),
            stream.stream_type,
            stream.stream_id
        )
    }

    /// `<prefix>.<category>.>`: every subject of one category.
    pub fn category_filter(&self, category: Category) -> String {
        format!("{}.{}.>", self.prefix, category.as_str())
    }

    /// `<prefix>.events.>`: every domain event.
    pub fn events_filter(&self) -> String {
        self.category_filter(Category::Events)
    }

    /// `<prefix>.access.>`: every record access.
    pub fn access_filter(&self) -> String {
        self.category_filter(Category::Access)
    }

    /// `<prefix>.<category>.<aggregate>.*`: every stream of one aggregate type.
    pub fn aggregate_filter(&self, category: Category, stream_type: &str) -> String {
        format!("{}.{}.{stream_type}.*", self.prefix, category.as_str())
    }

    /// The subjects of the event stream: domain events and record accesses.
    pub fn stream_subjects(&self) -> Vec<String> {
        vec![self.events_filter(), self.access_filter()]
    }

    /// `<prefix>.checkpoints`: the signed checkpoints (their own stream).
    pub fn checkpoints(&self) -> String {
        format!("{}.checkpoints", self.prefix)
    }

    /// The category and stream a subject names, if it is an event or access subject under this
    /// prefix.
    pub fn parse(&self, subject: &str) -> Option<(Category, StreamRef)> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix('.')?;
        let mut tokens = rest.split('.');
        let category = Category::parse(tokens.next()?)?;
        let stream_type = tokens.next()?;
        let stream_id = tokens.next()?.parse().ok()?;
        if tokens.next().is_some() || stream_type.is_empty() {
            return None;
        }
        Some((category, StreamRef::new(stream_type, stream_id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn subjects_follow_the_documented_scheme() {
        let subjects = Subjects::new("crm");
        let id = Uuid::nil();
        let stream = StreamRef::new("contact", id);
        assert_eq!(
            subjects.event(Category::Events, &stream),
            format!("crm.events.contact.{id}")
        );
        assert_eq!(
            subjects.event(Category::Access, &stream),
            format!("crm.access.contact.{id}")
        );
        assert_eq!(subjects.events_filter(), "crm.events.>");
        assert_eq!(subjects.access_filter(), "crm.access.>");
        assert_eq!(
            subjects.aggregate_filter(Category::Events, "deal"),
            "crm.events.deal.*"
        );
        assert_eq!(subjects.checkpoints(), "crm.checkpoints");
    }

    #[test]
    fn a_subject_parses_back_into_its_category_and_stream() {
        let subjects = Subjects::new("t1.crm");
        let stream = StreamRef::new("deal", Uuid::now_v7());
        let subject = subjects.event(Category::Access, &stream);
        assert_eq!(subjects.parse(&subject), Some((Category::Access, stream)));
        assert_eq!(subjects.parse("t1.crm.checkpoints"), None);
        assert_eq!(subjects.parse("other.events.deal.x"), None);
    }
}
