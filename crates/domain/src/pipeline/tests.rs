//! Given/when/then tests of every pipeline command, and the property that replaying a pipeline's
//! stored events rebuilds its state.

use proptest::prelude::*;

use super::*;
use crate::testing::*;

fn created() -> Event {
    Event::Created(Created {
        id: id(4),
        name: name("New business"),
        stages: sales_stages(),
    })
}

fn create(stages: Vec<Stage>) -> Command {
    Command::Create(NewPipeline {
        id: id(4),
        name: name("New business"),
        stages,
    })
}

fn keys(list: &[&str]) -> Vec<StageKey> {
    list.iter().map(|text| key(text)).collect()
}

fn stage_keys(state: &Option<Pipeline>) -> Vec<String> {
    let pipeline = state.as_ref().unwrap();
    pipeline
        .stages
        .iter()
        .map(|stage| stage.key.to_string())
        .collect()
}

#[test]
fn a_pipeline_is_created_with_its_stages() {
    let state = Pipeline::given([])
        .when(create(sales_stages()))
        .then([created()]);
    assert_eq!(stage_keys(&state), ["qualified", "proposal", "negotiation"]);
}

#[test]
fn creating_an_existing_pipeline_is_refused() {
    Pipeline::given([created()])
        .when(create(sales_stages()))
        .then_error(DomainError::AlreadyExists);
}

#[test]
fn commands_to_a_missing_pipeline_are_not_found() {
    Pipeline::given([])
        .when(Command::Rename {
            name: name("Renewals"),
        })
        .then_error(DomainError::NotFound);
}

#[test]
fn a_pipeline_has_1_to_30_stages_with_distinct_keys() {
    Pipeline::given([])
        .when(create(vec![]))
        .then_invalid("stages");
    let many: Vec<Stage> = (0..31).map(|n| stage(&format!("s{n}"), 50)).collect();
    Pipeline::given([])
        .when(create(many[..30].to_vec()))
        .then([Event::Created(Created {
            id: id(4),
            name: name("New business"),
            stages: many[..30].to_vec(),
        })]);
    Pipeline::given([])
        .when(create(many))
        .then_invalid("stages");
    let repeated = vec![stage("a", 10), stage("b", 20), stage("a", 30)];
    Pipeline::given([])
        .when(create(repeated))
        .then_invalid("stages[2].key");
}

#[test]
fn renaming_to_the_same_name_records_nothing() {
    Pipeline::given([created()])
        .when(Command::Rename {
            name: name("New business"),
        })
        .then_nothing();
    Pipeline::given([created()])
        .when(Command::Rename {
            name: name("Renewals"),
        })
        .then([Event::Renamed(Renamed {
            name: name("Renewals"),
        })]);
}

#[test]
fn a_stage_is_added_at_a_position_or_at_the_end() {
    let state = Pipeline::given([created()])
        .when(Command::AddStage {
            stage: stage("demo", 25),
            position: Some(1),
        })
        .then([Event::StageAdded(StageAdded {
            stage: stage("demo", 25),
            position: 1,
        })]);
    assert_eq!(
        stage_keys(&state),
        ["qualified", "demo", "proposal", "negotiation"]
    );
    let state = Pipeline::given([created()])
        .when(Command::AddStage {
            stage: stage("closing", 90),
            position: None,
        })
        .then([Event::StageAdded(StageAdded {
            stage: stage("closing", 90),
            position: 3,
        })]);
    assert_eq!(stage_keys(&state).last().unwrap(), "closing");
}

#[test]
fn adding_a_stage_beyond_the_end_or_twice_or_past_30_is_refused() {
    Pipeline::given([created()])
        .when(Command::AddStage {
            stage: stage("demo", 25),
            position: Some(4),
        })
        .then_invalid("position");
    Pipeline::given([created()])
        .when(Command::AddStage {
            stage: stage("proposal", 25),
            position: None,
        })
        .then_conflict("already has a stage proposal");
    let full = Event::Created(Created {
        id: id(4),
        name: name("Full"),
        stages: (0..30).map(|n| stage(&format!("s{n}"), 50)).collect(),
    });
    Pipeline::given([full])
        .when(Command::AddStage {
            stage: stage("one_more", 50),
            position: None,
        })
        .then_conflict("30 stages");
}

#[test]
fn a_stage_is_renamed_and_its_probability_changed() {
    let state = Pipeline::given([created()])
        .when(Command::RenameStage {
            key: key("proposal"),
            name: name("Offer sent"),
        })
        .then([Event::StageRenamed(StageRenamed {
            key: key("proposal"),
            name: name("Offer sent"),
        })]);
    assert_eq!(state.unwrap().stages[1].name, name("Offer sent"));
    let state = Pipeline::given([created()])
        .when(Command::ChangeStageProbability {
            key: key("proposal"),
            probability: Probability::new(55).unwrap(),
        })
        .then([Event::StageProbabilityChanged(StageProbabilityChanged {
            key: key("proposal"),
            probability: Probability::new(55).unwrap(),
        })]);
    assert_eq!(state.unwrap().stages[1].probability.percent(), 55);
    Pipeline::given([created()])
        .when(Command::ChangeStageProbability {
            key: key("proposal"),
            probability: Probability::new(40).unwrap(),
        })
        .then_nothing();
    Pipeline::given([created()])
        .when(Command::RenameStage {
            key: key("proposal"),
            name: name("PROPOSAL"),
        })
        .then_nothing();
}

#[test]
fn a_command_naming_an_unknown_stage_is_invalid() {
    let unknown = key("won");
    let commands = [
        Command::RenameStage {
            key: unknown.clone(),
            name: name("Won"),
        },
        Command::ChangeStageProbability {
            key: unknown.clone(),
            probability: Probability::new(100).unwrap(),
        },
        Command::RemoveStage {
            key: unknown,
            stage_in_use: false,
        },
    ];
    for command in commands {
        Pipeline::given([created()])
            .when(command)
            .then_invalid("key");
    }
}

#[test]
fn stages_are_reordered_by_a_permutation_of_their_keys() {
    let order = keys(&["negotiation", "qualified", "proposal"]);
    let state = Pipeline::given([created()])
        .when(Command::ReorderStages {
            keys: order.clone(),
        })
        .then([Event::StagesReordered(StagesReordered { keys: order })]);
    assert_eq!(stage_keys(&state), ["negotiation", "qualified", "proposal"]);
    Pipeline::given([created()])
        .when(Command::ReorderStages {
            keys: keys(&["qualified", "proposal", "negotiation"]),
        })
        .then_nothing();
}

#[test]
fn a_reorder_that_is_not_a_permutation_is_invalid() {
    let not_permutations = [
        keys(&["qualified", "proposal"]),
        keys(&["qualified", "proposal", "negotiation", "won"]),
        keys(&["qualified", "proposal", "proposal"]),
        keys(&["qualified", "proposal", "won"]),
    ];
    for order in not_permutations {
        Pipeline::given([created()])
            .when(Command::ReorderStages { keys: order })
            .then_invalid("keys");
    }
}

#[test]
fn a_stage_without_deals_is_removed() {
    let state = Pipeline::given([created()])
        .when(Command::RemoveStage {
            key: key("proposal"),
            stage_in_use: false,
        })
        .then([Event::StageRemoved(StageRemoved {
            key: key("proposal"),
        })]);
    assert_eq!(stage_keys(&state), ["qualified", "negotiation"]);
}

#[test]
fn a_stage_in_use_or_the_last_stage_is_not_removed() {
    Pipeline::given([created()])
        .when(Command::RemoveStage {
            key: key("proposal"),
            stage_in_use: true,
        })
        .then_conflict("still holds deals");
    let single = Event::Created(Created {
        id: id(4),
        name: name("Single"),
        stages: vec![stage("only", 50)],
    });
    Pipeline::given([single])
        .when(Command::RemoveStage {
            key: key("only"),
            stage_in_use: false,
        })
        .then_conflict("at least one stage");
}

fn any_command() -> impl Strategy<Value = Command> {
    let keys_pool = vec!["qualified", "proposal", "negotiation", "demo", "closing"];
    let any_key = prop::sample::select(keys_pool.clone()).prop_map(key);
    prop_oneof![
        1 => Just(create(sales_stages())),
        1 => prop::sample::select(vec!["A", "B"]).prop_map(|text| Command::Rename { name: name(text) }),
        2 => (prop::sample::select(keys_pool.clone()), prop::option::of(0_usize..6))
            .prop_map(|(text, position)| Command::AddStage { stage: stage(text, 30), position }),
        1 => (any_key.clone(), prop::sample::select(vec!["X", "Y"]))
            .prop_map(|(key, text)| Command::RenameStage { key, name: name(text) }),
        1 => (any_key.clone(), 0_i64..=100).prop_map(|(key, percent)| {
            Command::ChangeStageProbability { key, probability: Probability::new(percent).unwrap() }
        }),
        2 => Just(keys_pool).prop_shuffle().prop_flat_map(|pool| {
            (Just(pool), 1_usize..=5).prop_map(|(pool, count)| Command::ReorderStages {
                keys: pool[..count].iter().map(|text| key(text)).collect(),
            })
        }),
        2 => (any_key, any::<bool>())
            .prop_map(|(key, stage_in_use)| Command::RemoveStage { key, stage_in_use }),
    ]
}

proptest! {
    #[test]
    fn replaying_the_stored_events_rebuilds_the_state(commands in steps(any_command(), 16)) {
        replay_equals_steps::<Pipeline>(commands)?;
    }

    #[test]
    fn stage_keys_stay_distinct_and_between_1_and_30(commands in steps(any_command(), 16)) {
        let (state, _) = run::<Pipeline>(commands);
        if let Some(pipeline) = state {
            let mut keys: Vec<&StageKey> = pipeline.stages.iter().map(|stage| &stage.key).collect();
            prop_assert!((1..=MAX_STAGES).contains(&keys.len()));
            keys.sort();
            keys.dedup();
            prop_assert_eq!(keys.len(), pipeline.stages.len());
        }
    }
}
