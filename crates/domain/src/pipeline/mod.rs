//! A sales pipeline: the ordered stages a business defines for its own sales process, each with
//! the probability that a deal in it is won. Deals refer to stages by key; the edge hands a
//! deal the pipeline's stages as a [`PipelineStages`] snapshot, and tells the pipeline whether a
//! stage still holds deals before it is removed.

mod events;
#[cfg(test)]
mod tests;

pub use events::*;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{Name, Probability, StageKey};
use crate::{Aggregate, Context, DomainError};

/// How many stages a pipeline may have.
pub const MAX_STAGES: usize = 30;

/// A pipeline as its events leave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Pipeline {
    pub id: Uuid,
    pub name: Name,
    /// In the order deals move through them.
    pub stages: Vec<Stage>,
}

/// One step of a sales process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub key: StageKey,
    pub name: Name,
    pub probability: Probability,
}

/// A pipeline's stages as the edge loaded them, for deciding a deal's command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineStages {
    pub pipeline_id: Uuid,
    pub stages: Vec<Stage>,
}

impl PipelineStages {
    pub fn stage(&self, key: &StageKey) -> Option<&Stage> {
        self.stages.iter().find(|stage| stage.key == *key)
    }
}

impl Pipeline {
    pub fn stages_snapshot(&self) -> PipelineStages {
        PipelineStages {
            pipeline_id: self.id,
            stages: self.stages.clone(),
        }
    }

    /// The stage a command names by `key`.
    fn stage(&self, key: &StageKey) -> Result<&Stage, DomainError> {
        self.stages
            .iter()
            .find(|stage| stage.key == *key)
            .ok_or_else(|| DomainError::invalid("key", "the pipeline has no stage with this key"))
    }

    fn stage_mut(&mut self, key: &StageKey) -> Option<&mut Stage> {
        self.stages.iter_mut().find(|stage| stage.key == *key)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Create(NewPipeline),
    Rename {
        name: Name,
    },
    /// Inserts a stage before the one at `position` (0-based), or at the end when `None`.
    AddStage {
        stage: Stage,
        position: Option<usize>,
    },
    RenameStage {
        key: StageKey,
        name: Name,
    },
    ChangeStageProbability {
        key: StageKey,
        probability: Probability,
    },
    /// Puts the stages in this order: every current key, each once.
    ReorderStages {
        keys: Vec<StageKey>,
    },
    /// Removes a stage; `stage_in_use` is whether any open deal is in it, which the edge knows.
    RemoveStage {
        key: StageKey,
        stage_in_use: bool,
    },
}

/// A pipeline to create, with the id the caller chose.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPipeline {
    pub id: Uuid,
    pub name: Name,
    pub stages: Vec<Stage>,
}

impl Aggregate for Pipeline {
    const STREAM_TYPE: &'static str = "pipeline";
    type State = Option<Pipeline>;
    type Command = Command;
    type Event = Event;

    fn decide(
        state: &Option<Pipeline>,
        command: Command,
        _context: &Context,
    ) -> Result<Vec<Event>, DomainError> {
        match command {
            Command::Create(new) => {
                if state.is_some() {
                    return Err(DomainError::AlreadyExists);
                }
                check_stages(&new.stages)?;
                Ok(vec![Event::Created(Created {
                    id: new.id,
                    name: new.name,
                    stages: new.stages,
                })])
            }
            Command::Rename { name } => {
                let unchanged = existing(state)?.name == name;
                Ok(when_changed(unchanged, Event::Renamed(Renamed { name })))
            }
            Command::AddStage { stage, position } => {
                Ok(vec![add_stage(existing(state)?, stage, position)?])
            }
            Command::RenameStage { key, name } => {
                let unchanged = existing(state)?.stage(&key)?.name == name;
                let event = Event::StageRenamed(StageRenamed { key, name });
                Ok(when_changed(unchanged, event))
            }
            Command::ChangeStageProbability { key, probability } => {
                let unchanged = existing(state)?.stage(&key)?.probability == probability;
                let event =
                    Event::StageProbabilityChanged(StageProbabilityChanged { key, probability });
                Ok(when_changed(unchanged, event))
            }
            Command::ReorderStages { keys } => reorder(existing(state)?, keys),
            Command::RemoveStage { key, stage_in_use } => {
                let pipeline = existing(state)?;
                pipeline.stage(&key)?;
                if stage_in_use {
                    return Err(DomainError::Conflict(format!(
                        "stage {key} still holds deals; move them first"
                    )));
                }
                if pipeline.stages.len() == 1 {
                    return Err(DomainError::Conflict(
                        "a pipeline keeps at least one stage".to_owned(),
                    ));
                }
                Ok(vec![Event::StageRemoved(StageRemoved { key })])
            }
        }
    }

    fn evolve(state: Option<Pipeline>, event: &Event) -> Option<Pipeline> {
        if let Event::Created(created) = event {
            return Some(Pipeline {
                id: created.id,
                name: created.name.clone(),
                stages: created.stages.clone(),
            });
        }
        let mut pipeline = state?;
        match event {
            Event::Created(_) => {}
            Event::Renamed(renamed) => pipeline.name = renamed.name.clone(),
            Event::StageAdded(added) => {
                let position = added.position.min(pipeline.stages.len());
                pipeline.stages.insert(position, added.stage.clone());
            }
            Event::StageRenamed(renamed) => {
                if let Some(stage) = pipeline.stage_mut(&renamed.key) {
                    stage.name = renamed.name.clone();
                }
            }
            Event::StageProbabilityChanged(changed) => {
                if let Some(stage) = pipeline.stage_mut(&changed.key) {
                    stage.probability = changed.probability;
                }
            }
            Event::StagesReordered(reordered) => {
                pipeline
                    .stages
                    .sort_by_key(|stage| reordered.keys.iter().position(|key| *key == stage.key));
            }
            Event::StageRemoved(removed) => {
                pipeline.stages.retain(|stage| stage.key != removed.key);
            }
        }
        Some(pipeline)
    }

    fn exists(state: &Option<Pipeline>) -> bool {
        state.is_some()
    }
}

fn existing(state: &Option<Pipeline>) -> Result<&Pipeline, DomainError> {
    state.as_ref().ok_or(DomainError::NotFound)
}

/// The event, unless the command asks for what already is.
fn when_changed(unchanged: bool, event: Event) -> Vec<Event> {
    if unchanged { vec![] } else { vec![event] }
}

/// 1 to [`MAX_STAGES`] stages with distinct keys.
fn check_stages(stages: &[Stage]) -> Result<(), DomainError> {
    if stages.is_empty() || stages.len() > MAX_STAGES {
        return Err(DomainError::invalid(
            "stages",
            format!("must hold 1 to {MAX_STAGES} stages"),
        ));
    }
    for (index, stage) in stages.iter().enumerate() {
        if stages[..index]
            .iter()
            .any(|earlier| earlier.key == stage.key)
        {
            return Err(DomainError::invalid(
                format!("stages[{index}].key"),
                "another stage has this key",
            ));
        }
    }
    Ok(())
}

fn add_stage(
    pipeline: &Pipeline,
    stage: Stage,
    position: Option<usize>,
) -> Result<Event, DomainError> {
    let count = pipeline.stages.len();
    let position = position.unwrap_or(count);
    if position > count {
        return Err(DomainError::invalid(
            "position",
            format!("must be from 0 to {count}"),
        ));
    }
    if pipeline.stages.iter().any(|held| held.key == stage.key) {
        return Err(DomainError::Conflict(format!(
            "the pipeline already has a stage {}",
            stage.key
        )));
    }
    if count >= MAX_STAGES {
        return Err(DomainError::Conflict(format!(
            "the pipeline already has {MAX_STAGES} stages"
        )));
    }
    Ok(Event::StageAdded(StageAdded { stage, position }))
}

fn reorder(pipeline: &Pipeline, keys: Vec<StageKey>) -> Result<Vec<Event>, DomainError> {
    let mut given = keys.clone();
    given.sort();
    let mut held: Vec<StageKey> = pipeline.stages.iter().map(|s| s.key.clone()).collect();
    let current_order = held.clone();
    held.sort();
    if given != held {
        return Err(DomainError::invalid(
            "keys",
            "must name every stage of the pipeline exactly once",
        ));
    }
    if keys == current_order {
        return Ok(vec![]);
    }
    Ok(vec![Event::StagesReordered(StagesReordered { keys })])
}
