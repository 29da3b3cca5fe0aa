//! The system under test, as it runs in production (the shared `projection_testkit` world: a
//! store, a relay and projectors isolated to this test), seen from the timeline read model: its
//! projector, its tables and its query, each answer logged as the API would.

pub mod commands;

use std::ops::Deref;

use accesslog::{Access, AccessLog};
use domain::access::{AccessAction, RecordRef};
use domain::values::Role;
pub use projection_testkit::RunningProjector;
use timeline::{
    Customer, NAME, PageRequest, Timeline, TimelineError, TimelineFilter, TimelinePage,
    TimelineQueries,
};
use uuid::Uuid;

/// Every collection a timeline entry can be about.
pub const ALL_COLLECTIONS: [&str; 7] = [
    "companies",
    "contacts",
    "leads",
    "deals",
    "activities",
    "tasks",
    "cases",
];

/// The read model's tables, which two generations must agree on.
pub const TABLES: [&str; 3] = ["entries", "events", "links"];

/// The shared world, with the timeline's view of it.
pub struct World(projection_testkit::World);

impl Deref for World {
    type Target = projection_testkit::World;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl World {
    pub async fn new() -> World {
        World(projection_testkit::World::new().await)
    }

    pub fn start_projector(&self) -> RunningProjector {
        self.0.start_projector(Timeline)
    }

    /// Waits until the live generation has applied `position`; returns its schema.
    pub async fn caught_up(&self, position: u64) -> String {
        self.0.caught_up(NAME, position).await
    }

    /// Builds a new generation from the first event and swaps it in; returns its schema.
    pub async fn rebuild(&self) -> String {
        self.0.rebuild(Timeline).await.1
    }

    pub async fn rows(&self, schema: &str) -> Vec<(String, Vec<String>)> {
        self.0.rows(schema, &TABLES).await
    }

    /// `customer`'s timeline as the API reads it: the access is logged, then the page given
    /// out, with the records the access named.
    pub async fn timeline(
        &self,
        schema: &str,
        customer: Customer,
        filter: &TimelineFilter,
        page: PageRequest,
    ) -> Result<(TimelinePage, Vec<RecordRef>), TimelineError> {
        let withheld = TimelineQueries::new(self.owner_pool.clone())
            .timeline(schema, customer, filter, page)
            .await?;
        let records = withheld.records().to_vec();
        let access = Access {
            actor: "system".to_owned(),
            role: Some(Role::Admin),
            action: AccessAction::Timeline,
            route: "timeline test".to_owned(),
            purpose: None,
            request_id: Uuid::now_v7().to_string(),
            client: None,
        };
        let page = AccessLog::new(self.appender.clone())
            .disclose(&access, withheld)
            .await
            .expect("the access commits");
        Ok((page, records))
    }

    /// Every entry of `customer`'s timeline the collections show, newest first, in one page.
    pub async fn everything(&self, schema: &str, customer: Customer) -> TimelinePage {
        self.timeline(
            schema,
            customer,
            &TimelineFilter::collections(ALL_COLLECTIONS),
            PageRequest {
                limit: timeline::MAX_LIMIT,
                cursor: None,
            },
        )
        .await
        .expect("the timeline answers")
        .0
    }

    pub async fn stop(self) {
        self.0.stop().await;
    }
}

/// The summaries of a page's entries, in order.
pub fn summaries(page: &TimelinePage) -> Vec<&str> {
    page.items
        .iter()
        .map(|entry| entry.summary.as_str())
        .collect()
}
