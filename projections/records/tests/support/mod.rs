//! The system under test, as it runs in production (the shared `projection_testkit` world: a
//! store, a relay and projectors isolated to this test), seen from the records read model: its
//! projector, its tables and its queries, each answer logged as the API would.

pub mod commands;

use std::ops::Deref;

use accesslog::{Access, AccessLog};
use domain::access::AccessAction;
use domain::values::Role;
pub use projection_testkit::{RunningProjector, new_events};
use records::{
    Collection, ListFilter, NAME, Page, PageRequest, Record, RecordQueries, Records, RecordsError,
};
use uuid::Uuid;

/// The shared world, with the records read model's view of it.
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

    pub fn queries(&self) -> Queries {
        Queries {
            queries: RecordQueries::new(self.owner_pool.clone()),
            log: AccessLog::new(self.appender.clone()),
        }
    }

    /// Starts a records projector in a task of its own.
    pub fn start_projector(&self) -> RunningProjector {
        self.0.start_projector(Records)
    }

    /// Waits until the live generation has applied `position`; returns its schema.
    pub async fn caught_up(&self, position: u64) -> String {
        self.0.caught_up(NAME, position).await
    }

    /// Every row of every table of `schema`: what two generations must agree on.
    pub async fn rows(&self, schema: &str) -> Vec<(String, Vec<String>)> {
        let tables: Vec<&str> = Collection::ALL.iter().map(|c| c.as_str()).collect();
        self.0.rows(schema, &tables).await
    }

    pub async fn stop(self) {
        self.0.stop().await;
    }
}

/// The read model's queries as the API makes them: every answer is logged as an access before
/// the test sees it.
#[derive(Clone)]
pub struct Queries {
    queries: RecordQueries,
    log: AccessLog,
}

impl Queries {
    fn access() -> Access {
        Access {
            actor: "system".to_owned(),
            role: Some(Role::Admin),
            action: AccessAction::Read,
            route: "records test".to_owned(),
            purpose: None,
            request_id: Uuid::now_v7().to_string(),
            client: None,
        }
    }

    pub async fn get(
        &self,
        schema: &str,
        collection: Collection,
        id: Uuid,
    ) -> Result<Option<Record>, RecordsError> {
        let Some(found) = self.queries.get(schema, collection, id).await? else {
            return Ok(None);
        };
        let record = self
            .log
            .disclose(&Self::access(), found.record)
            .await
            .expect("the access commits");
        Ok(Some(record))
    }

    pub async fn list(
        &self,
        schema: &str,
        collection: Collection,
        filter: &ListFilter,
        page: PageRequest,
    ) -> Result<Page, RecordsError> {
        let page = self.queries.list(schema, collection, filter, page).await?;
        Ok(self
            .log
            .disclose(&Self::access(), page)
            .await
            .expect("the access commits"))
    }
}
