//! Domain commands for the records the tests create, with the few fields each test cares about.

use chrono::{DateTime, NaiveDate, Utc};
use domain::activity::{self, ActivityKind, NewActivity};
use domain::deal::{self, NewDeal};
use domain::lead::{self, NewLead};
use domain::pipeline::{self, NewPipeline, PipelineStages, Stage};
use domain::values::{Currency, Money, Name, Probability, StageKey, Team};
use uuid::Uuid;

pub fn name(text: &str) -> Name {
    Name::parse(text).expect("a valid name")
}

pub fn stage_key(text: &str) -> StageKey {
    StageKey::parse(text).expect("a valid stage key")
}

pub fn money(amount_minor: i64, currency: &str) -> Money {
    Money::new(amount_minor, Currency::parse(currency).expect("a currency"))
}

/// Three stages: lead (10 %), qualified (40 %), proposal (70 %).
pub fn stages(pipeline_id: Uuid) -> PipelineStages {
    let stage = |key: &str, percent: i64| Stage {
        key: stage_key(key),
        name: name(&format!("Stage {key}")),
        probability: Probability::new(percent).expect("a percentage"),
    };
    PipelineStages {
        pipeline_id,
        stages: vec![
            stage("lead", 10),
            stage("qualified", 40),
            stage("proposal", 70),
        ],
    }
}

pub fn create_pipeline(id: Uuid) -> pipeline::Command {
    pipeline::Command::Create(NewPipeline {
        id,
        name: name("New business"),
        stages: stages(id).stages,
    })
}

/// A deal to open: the fields the reports read.
#[derive(Debug, Clone)]
pub struct DealSpec {
    pub pipeline_id: Uuid,
    pub stage: &'static str,
    pub amount: Money,
    pub owner_id: Uuid,
    pub team: Option<&'static str>,
    pub expected_close_on: Option<NaiveDate>,
}

pub fn open_deal(id: Uuid, spec: &DealSpec) -> deal::Command {
    deal::Command::Create(NewDeal {
        id,
        title: name("Forty looms"),
        pipeline: stages(spec.pipeline_id),
        stage: stage_key(spec.stage),
        amount: spec.amount,
        expected_close_on: spec.expected_close_on,
        owner_id: spec.owner_id,
        team: spec
            .team
            .map(|team| Team::parse(team).expect("a valid team")),
        company_id: None,
        contact_id: None,
    })
}

pub fn move_deal(pipeline_id: Uuid, stage: &str) -> deal::Command {
    deal::Command::ChangeStage {
        stage: stage_key(stage),
        pipeline: stages(pipeline_id),
    }
}

pub fn win() -> deal::Command {
    deal::Command::Win { reason: None }
}

pub fn reopen(pipeline_id: Uuid) -> deal::Command {
    deal::Command::Reopen {
        pipeline: stages(pipeline_id),
    }
}

pub fn lose() -> deal::Command {
    deal::Command::Lose { reason: None }
}

/// A call on the deal that happened at `occurred_at` (logged when that is not in the future,
/// scheduled otherwise).
pub fn call_on(id: Uuid, deal_id: Uuid, occurred_at: DateTime<Utc>) -> activity::Command {
    activity::Command::Record(NewActivity {
        id,
        kind: ActivityKind::Call,
        subject: name("Follow-up call"),
        body: None,
        direction: None,
        duration_minutes: Some(15),
        outcome: None,
        occurred_at,
        contact_id: None,
        company_id: None,
        deal_id: Some(deal_id),
    })
}

pub fn capture_lead(
    id: Uuid,
    source: &str,
    campaign_id: Option<Uuid>,
    owner_id: Uuid,
) -> lead::Command {
    lead::Command::Capture(NewLead {
        id,
        name: name("Mary Somerville"),
        email: None,
        phone: None,
        company_name: None,
        source: name(source),
        campaign_id,
        owner_id: Some(owner_id),
        team: None,
    })
}
