//! Which entries of a timeline a question returns: a time range, a kind, and the collections
//! the caller may read (the API passes those its access policy allows, so a support user who
//! may not read deals sees no deal entries).

use chrono::{DateTime, Utc};

use crate::{EntryKind, TimelineError};

/// Which entries a timeline returns; every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimelineFilter {
    /// Entries that occurred at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Entries that occurred before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only touchpoints, or only changes.
    pub kind: Option<EntryKind>,
    /// The collections whose records may appear (`contacts`, `deals`, ...), the customer's own
    /// collection included; an entry about a record of any other collection is left out.
    pub collections: Vec<String>,
}

impl TimelineFilter {
    /// Every entry the caller may read of `collections`, whenever it occurred.
    pub fn collections<S: Into<String>>(collections: impl IntoIterator<Item = S>) -> Self {
        TimelineFilter {
            collections: collections.into_iter().map(Into::into).collect(),
            ..TimelineFilter::default()
        }
    }

    pub(crate) fn check(&self) -> Result<(), TimelineError> {
        match (self.from, self.to) {
            (Some(from), Some(to)) if from > to => Err(TimelineError::BadRange),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_range_that_ends_before_it_starts_is_refused() {
        let now = Utc::now();
        let range = |from, to| TimelineFilter {
            from,
            to,
            ..TimelineFilter::default()
        };
        assert!(
            range(Some(now), Some(now + Duration::hours(1)))
                .check()
                .is_ok()
        );
        assert!(range(Some(now), Some(now)).check().is_ok());
        assert!(range(None, Some(now)).check().is_ok());
        assert!(range(Some(now), None).check().is_ok());
        assert!(matches!(
            range(Some(now), Some(now - Duration::seconds(1))).check(),
            Err(TimelineError::BadRange)
        ));
    }

    #[test]
    fn collections_names_what_may_appear() {
        let filter = TimelineFilter::collections(["contacts", "deals"]);
        assert_eq!(filter.collections, vec!["contacts", "deals"]);
        assert_eq!(filter.kind, None);
    }
}
