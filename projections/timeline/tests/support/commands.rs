//! Domain commands for the records the tests create, with the few fields each test cares about.

use chrono::{DateTime, Utc};
use domain::Patch;
use domain::activity::{self, ActivityKind, Direction, NewActivity};
use domain::case::{self, CaseStatus, NewCase, Priority};
use domain::company::{self, NewCompany};
use domain::contact::{self, ContactChanges, NewContact};
use domain::deal::{self, NewDeal};
use domain::pipeline::{self, NewPipeline, PipelineStages, Stage};
use domain::task::{self, NewTask};
use domain::values::{Currency, Money, Name, Probability, StageKey, Tags};
use uuid::Uuid;

pub fn name(text: &str) -> Name {
    Name::parse(text).expect("a valid name")
}

pub fn create_company(id: Uuid, company_name: &str) -> company::Command {
    company::Command::Create(NewCompany {
        id,
        name: name(company_name),
        domain: None,
        industry: None,
        value_class: None,
        tags: Tags::parse::<&str>(&[]).expect("no tags"),
        owner_id: None,
        team: None,
    })
}

pub fn create_contact(
    id: Uuid,
    first_name: &str,
    last_name: &str,
    company_id: Option<Uuid>,
) -> contact::Command {
    contact::Command::Create(NewContact {
        id,
        first_name: name(first_name),
        last_name: name(last_name),
        emails: vec![],
        phones: vec![],
        title: None,
        company_id,
        tags: Tags::parse::<&str>(&[]).expect("no tags"),
        owner_id: None,
        team: None,
    })
}

pub fn move_contact(company_id: Option<Uuid>) -> contact::Command {
    contact::Command::Update(ContactChanges {
        company_id: company_id.map_or(Patch::Clear, Patch::Set),
        ..ContactChanges::default()
    })
}

pub fn stages(pipeline_id: Uuid) -> PipelineStages {
    let stage = |key: &str, percent: i64| Stage {
        key: StageKey::parse(key).expect("a valid stage key"),
        name: name(key),
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

pub fn open_deal(
    id: Uuid,
    pipeline_id: Uuid,
    company_id: Option<Uuid>,
    contact_id: Option<Uuid>,
) -> deal::Command {
    deal::Command::Create(NewDeal {
        id,
        title: name("Forty looms"),
        pipeline: stages(pipeline_id),
        stage: StageKey::parse("lead").expect("a valid stage key"),
        amount: Money::new(125_000, Currency::parse("EUR").expect("a currency")),
        expected_close_on: None,
        owner_id: Uuid::from_u128(1),
        team: None,
        company_id,
        contact_id,
    })
}

pub fn move_deal(pipeline_id: Uuid, stage: &str) -> deal::Command {
    deal::Command::ChangeStage {
        stage: StageKey::parse(stage).expect("a valid stage key"),
        pipeline: stages(pipeline_id),
    }
}

/// A 15-minute outbound call about "Renewal" that took place at `at`.
pub fn log_call(
    id: Uuid,
    at: DateTime<Utc>,
    contact_id: Option<Uuid>,
    company_id: Option<Uuid>,
    deal_id: Option<Uuid>,
) -> activity::Command {
    activity::Command::Record(NewActivity {
        id,
        kind: ActivityKind::Call,
        subject: name("Renewal"),
        body: None,
        direction: Some(Direction::Outbound),
        duration_minutes: Some(15),
        outcome: None,
        occurred_at: at,
        contact_id,
        company_id,
        deal_id,
    })
}

pub fn create_task(
    id: Uuid,
    due_at: DateTime<Utc>,
    contact_id: Option<Uuid>,
    deal_id: Option<Uuid>,
) -> task::Command {
    task::Command::Create(NewTask {
        id,
        title: name("Send the offer"),
        description: None,
        due_at,
        assignee_id: Uuid::from_u128(1),
        team: None,
        contact_id,
        company_id: None,
        deal_id,
    })
}

pub fn open_case(id: Uuid, contact_id: Uuid) -> case::Command {
    case::Command::Create(NewCase {
        id,
        subject: name("Loom 7 stopped"),
        description: None,
        contact_id,
        priority: Priority::High,
        assignee_id: None,
        team: None,
    })
}

pub fn case_status(status: CaseStatus) -> case::Command {
    case::Command::ChangeStatus { status }
}
