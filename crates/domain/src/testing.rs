//! Test helpers: a given/when/then harness for aggregates, a fixed context, and the property that
//! replaying the stored form of every accepted event rebuilds the state built step by step (and
//! that each of those events is what its published schema says).

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use crate::pipeline::{PipelineStages, Stage};
use crate::values::{Currency, Money, Name, Probability, Role, StageKey, Tags, Team, Text};
use crate::{Aggregate, Context, DomainError, DomainEvent};

/// The moment every test decides at: 2025-06-02 10:00 UTC.
pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 2, 10, 0, 0).unwrap()
}

pub(crate) fn context() -> Context {
    Context {
        now: now(),
        actor_id: id(9000),
        actor_role: Role::Manager,
    }
}

/// A readable, fixed id: `id(7)` is `00000000-0000-0000-0000-000000000007`.
pub(crate) fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

pub(crate) fn name(text: &str) -> Name {
    Name::parse(text).unwrap()
}

pub(crate) fn text(text: &str) -> Text {
    Text::parse(text).unwrap()
}

pub(crate) fn team(text: &str) -> Team {
    Team::parse(text).unwrap()
}

pub(crate) fn tags(list: &[&str]) -> Tags {
    Tags::parse(list).unwrap()
}

pub(crate) fn key(text: &str) -> StageKey {
    StageKey::parse(text).unwrap()
}

pub(crate) fn money(amount_minor: i64, currency: &str) -> Money {
    Money::new(amount_minor, Currency::parse(currency).unwrap())
}

/// A stage whose name is its key in capitals.
pub(crate) fn stage(key_text: &str, percent: i64) -> Stage {
    Stage {
        key: key(key_text),
        name: name(&key_text.to_uppercase()),
        probability: Probability::new(percent).unwrap(),
    }
}

/// qualified (10 %), proposal (40 %), negotiation (70 %).
pub(crate) fn sales_stages() -> Vec<Stage> {
    vec![
        stage("qualified", 10),
        stage("proposal", 40),
        stage("negotiation", 70),
    ]
}

/// The stages of pipeline `id(4)`, as the edge hands them to a deal.
pub(crate) fn sales_pipeline() -> PipelineStages {
    PipelineStages {
        pipeline_id: id(4),
        stages: sales_stages(),
    }
}

/// `Deal::given([...]).when(command).then([...])`.
pub(crate) trait Scenario: Aggregate + Sized {
    fn given(events: impl IntoIterator<Item = Self::Event>) -> Given<Self> {
        let state = events
            .into_iter()
            .fold(Self::State::default(), |state, event| {
                Self::evolve(state, &event)
            });
        Given {
            state,
            context: context(),
        }
    }
}

impl<A: Aggregate> Scenario for A {}

pub(crate) struct Given<A: Aggregate> {
    state: A::State,
    context: Context,
}

impl<A: Aggregate> Given<A> {
    /// Decides as an actor with another role.
    pub(crate) fn by(mut self, role: Role) -> Self {
        self.context.actor_role = role;
        self
    }

    pub(crate) fn when(self, command: A::Command) -> Then<A> {
        let result = A::decide(&self.state, command, &self.context);
        Then {
            state: self.state,
            result,
        }
    }
}

pub(crate) struct Then<A: Aggregate> {
    state: A::State,
    result: Result<Vec<A::Event>, DomainError>,
}

impl<A: Aggregate> Then<A> {
    /// Asserts the events and returns the state they lead to.
    pub(crate) fn then(self, expected: impl IntoIterator<Item = A::Event>) -> A::State {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        match self.result {
            Ok(events) => {
                assert_eq!(events, expected);
                events.iter().fold(self.state, A::evolve)
            }
            Err(error) => panic!("expected {expected:?}, the command was refused: {error:?}"),
        }
    }

    /// Asserts that the command was accepted without any event.
    pub(crate) fn then_nothing(self) {
        self.then([]);
    }

    pub(crate) fn then_error(self, expected: DomainError) {
        match self.result {
            Ok(events) => panic!("expected {expected:?}, got {events:?}"),
            Err(error) => assert_eq!(error, expected),
        }
    }

    /// Asserts a validation failure of `field`, whatever its message.
    pub(crate) fn then_invalid(self, field: &str) {
        match self.result {
            Err(DomainError::Invalid { field: found, .. }) => assert_eq!(found, field),
            other => panic!("expected an invalid {field}, got {other:?}"),
        }
    }

    /// Asserts a conflict whose message contains `words`.
    pub(crate) fn then_conflict(self, words: &str) {
        match self.result {
            Err(DomainError::Conflict(message)) => {
                assert!(message.contains(words), "{message:?} lacks {words:?}")
            }
            other => panic!("expected a conflict about {words:?}, got {other:?}"),
        }
    }
}

/// An event as it comes back from the store: its payload written out as JSON text and read back
/// through `from_stored`.
pub(crate) fn stored_round_trip<E: DomainEvent>(event: &E) -> E {
    let text = event.to_payload().to_string();
    let payload = serde_json::from_str(&text).unwrap();
    E::from_stored(event.event_type(), event.schema_version(), &payload).unwrap()
}

/// Decides every command in turn, applying the accepted ones; returns the state and each accepted
/// command's events.
pub(crate) fn run<A: Aggregate>(
    commands: Vec<(A::Command, Context)>,
) -> (A::State, Vec<Vec<A::Event>>) {
    let mut state = A::State::default();
    let mut accepted = Vec::new();
    for (command, context) in commands {
        if let Ok(events) = A::decide(&state, command, &context) {
            state = events.iter().fold(state, A::evolve);
            accepted.push(events);
        }
    }
    (state, accepted)
}

/// Whether `payload` is valid under the JSON Schema the catalog publishes for `public_type`
/// (`crm.deal.stage_changed.v1`); the error names the first violation.
pub(crate) fn conforms(public_type: &str, payload: &Value) -> Result<(), String> {
    static VALIDATORS: OnceLock<HashMap<String, jsonschema::Validator>> = OnceLock::new();
    let validators = VALIDATORS.get_or_init(|| {
        crate::event_catalog()
            .into_iter()
            .map(|entry| {
                let validator = jsonschema::validator_for(entry.schema.as_value())
                    .unwrap_or_else(|error| panic!("{}: {error}", entry.public_type));
                (entry.public_type, validator)
            })
            .collect()
    });
    let validator = validators
        .get(public_type)
        .ok_or_else(|| format!("{public_type} is not in the catalog"))?;
    validator.validate(payload).map_err(|error| {
        format!(
            "{public_type} {payload}: {error} at {}",
            error.instance_path()
        )
    })
}

/// The state built step by step equals the replay, from nothing, of every accepted event after a
/// JSON round trip through its stored form; and every such event is valid under its schema.
pub(crate) fn replay_equals_steps<A: Aggregate>(
    commands: Vec<(A::Command, Context)>,
) -> Result<(), TestCaseError> {
    let (stepped, accepted) = run::<A>(commands);
    let mut replayed = A::State::default();
    for event in accepted.iter().flatten() {
        let public_type = format!(
            "crm.{}.{}.v{}",
            A::STREAM_TYPE,
            event.event_type(),
            event.schema_version()
        );
        if let Err(violation) = conforms(&public_type, &event.to_payload()) {
            return Err(TestCaseError::fail(violation));
        }
        let stored = stored_round_trip(event);
        prop_assert_eq!(&stored, event);
        replayed = A::evolve(replayed, &stored);
    }
    prop_assert_eq!(replayed, stepped);
    Ok(())
}

/// Contexts at a few moments around [`now`], by any role.
pub(crate) fn any_context() -> impl Strategy<Value = Context> {
    (
        prop::sample::select(Role::ALL.to_vec()),
        -2_i64..=2,
        prop::sample::select(vec![id(9000), id(9001)]),
    )
        .prop_map(|(role, days, actor_id)| Context {
            now: now() + chrono::Duration::days(days),
            actor_id,
            actor_role: role,
        })
}

/// A command strategy paired with any context, as a sequence of up to `length` steps.
pub(crate) fn steps<C: std::fmt::Debug>(
    command: impl Strategy<Value = C>,
    length: usize,
) -> impl Strategy<Value = Vec<(C, Context)>> {
    prop::collection::vec((command, any_context()), 0..length)
}
