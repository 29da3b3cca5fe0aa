//! The system under test, as it runs in production (the shared `projection_testkit` world: a
//! store, a relay and projectors isolated to this test), seen from the pipeline read model: its
//! projector, its tables and its reports, each answer disclosed through the access log as the
//! API would.

pub mod commands;

use std::ops::Deref;

use accesslog::{Access, AccessLog, Withheld};
use chrono::{DateTime, Utc};
use domain::access::AccessAction;
use domain::conversion::{ConversionRequest, DealSpec as ConvertedDeal, convert};
use domain::lead::Lead;
use domain::values::{Money, Role};
use domain::{Aggregate, DomainEvent};
use eventstore::{ExpectedVersion, Reader, StreamAppend, StreamRef};
use pipeline::{NAME, ReportQueries, SalesPipeline};
pub use projection_testkit::{RunningProjector, new_events_at};
use uuid::Uuid;

use commands::{name, stage_key, stages};

/// The shared world, with the pipeline read model's view of it.
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

    pub fn reports(&self) -> ReportQueries {
        ReportQueries::new(self.owner_pool.clone())
    }

    /// Records the access as the API does, then hands the report over.
    pub async fn disclose<T>(&self, withheld: Withheld<T>) -> T {
        let access = Access {
            actor: "system".to_owned(),
            role: Some(Role::Admin),
            action: AccessAction::Export,
            route: "pipeline test".to_owned(),
            purpose: None,
            request_id: Uuid::now_v7().to_string(),
            client: None,
        };
        AccessLog::new(self.appender.clone())
            .disclose(&access, withheld)
            .await
            .expect("the access commits")
    }

    pub fn start_projector(&self) -> RunningProjector {
        self.0.start_projector(SalesPipeline)
    }

    /// Waits until the live generation has applied `position`; returns its schema.
    pub async fn caught_up(&self, position: u64) -> String {
        self.0.caught_up(NAME, position).await
    }

    /// Builds a new generation from the first event; returns its schema.
    pub async fn rebuild(&self) -> String {
        self.0.rebuild(SalesPipeline).await.1
    }

    /// Every row of every table of `schema`: what two generations must agree on.
    pub async fn rows(&self, schema: &str) -> Vec<(String, Vec<String>)> {
        self.0.rows(schema, &SalesPipeline::TABLES).await
    }

    /// Asserts that the summary rows of `open_totals` are exactly the open deals of `schema`
    /// summed afresh.
    pub async fn assert_open_totals_sum_the_open_deals(&self, schema: &str) {
        let sums = |from: &str| {
            format!(
                "SELECT pipeline_id, stage, currency, owner_id, team, touched_on, deals, \
                     total_minor, weighted_percent_minor, entered_ms FROM ({from}) s"
            )
        };
        let kept = sums(&format!("SELECT * FROM \"{schema}\".open_totals"));
        let fresh = sums(&format!(
            "SELECT pipeline_id, stage, currency, owner_id, coalesce(team, '') AS team, \
                 (coalesce(last_activity_at, opened_at) AT TIME ZONE 'UTC')::date AS touched_on, \
                 count(*) AS deals, sum(amount_minor) AS total_minor, \
                 sum(amount_minor * probability) AS weighted_percent_minor, \
                 sum(floor(extract(epoch FROM stage_entered_at) * 1000)::bigint) AS entered_ms \
             FROM \"{schema}\".deals WHERE status = 'open' GROUP BY 1, 2, 3, 4, 5, 6"
        ));
        let client = self.owner_pool.get().await.expect("a connection");
        let differences: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM (({kept} EXCEPT {fresh}) UNION ALL ({fresh} EXCEPT {kept})) d"),
                &[],
            )
            .await
            .expect("the totals compare")
            .get(0);
        assert_eq!(
            differences, 0,
            "open_totals differs from the open deals of {schema}"
        );
    }

    /// Converts the lead `lead_id` at `at` into a new contact and, when `deal` is given, a deal
    /// `(deal_id, pipeline_id, amount)` in the pipeline's first stage; returns the last position.
    pub async fn convert_lead(
        &self,
        lead_id: Uuid,
        deal: Option<(Uuid, Uuid, Money)>,
        at: DateTime<Utc>,
    ) -> u64 {
        let stored = Reader::new(self.store_pool.clone())
            .load_stream(&StreamRef::new(Lead::STREAM_TYPE, lead_id), 0)
            .await
            .expect("the lead loads");
        let state = stored.iter().fold(None, |state, event| {
            let event = <Lead as Aggregate>::Event::from_stored(
                &event.event_type,
                event.schema_version,
                &event.payload,
            )
            .expect("a stored event reads");
            Lead::evolve(state, &event)
        });
        let contact_id = Uuid::now_v7();
        let request = ConversionRequest {
            contact_id,
            first_name: None,
            last_name: None,
            company: None,
            deal: deal.map(|(deal_id, pipeline_id, amount)| ConvertedDeal {
                deal_id,
                title: name("From a lead"),
                pipeline: stages(pipeline_id),
                stage: stage_key("lead"),
                amount,
                expected_close_on: None,
            }),
        };
        let context = domain::Context {
            now: at,
            ..self.context()
        };
        let conversion = convert(&state, request, &context).expect("the lead converts");
        let mut appends = vec![
            StreamAppend::events(
                StreamRef::new("lead", lead_id),
                ExpectedVersion::Exactly(stored.len() as u64),
                new_events_at(&conversion.lead, at),
            ),
            StreamAppend::events(
                StreamRef::new("contact", contact_id),
                ExpectedVersion::NoStream,
                new_events_at(&conversion.contact, at),
            ),
        ];
        if let (Some(deal_id), Some(events)) = (conversion.deal_id, &conversion.deal) {
            appends.push(StreamAppend::events(
                StreamRef::new("deal", deal_id),
                ExpectedVersion::NoStream,
                new_events_at(events, at),
            ));
        }
        self.append_all(appends).await
    }

    pub async fn stop(self) {
        self.0.stop().await;
    }
}
