//! Domain commands for the records the tests create, with the few fields each test cares about.

use chrono::{Duration, Utc};
use domain::activity::{self, ActivityKind, NewActivity};
use domain::case::{self, NewCase, Priority};
use domain::company::{self, NewCompany};
use domain::contact::{self, NewContact};
use domain::deal::{self, NewDeal};
use domain::lead::{self, NewLead};
use domain::pipeline::{self, NewPipeline, PipelineStages, Stage};
use domain::task::{self, NewTask};
use domain::values::{Currency, Domain, Email, Money, Name, Probability, StageKey, Tags, Team};
use uuid::Uuid;

pub fn name(text: &str) -> Name {
    Name::parse(text).expect("a valid name")
}

pub fn team(text: &str) -> Team {
    Team::parse(text).expect("a valid team")
}

pub fn tags(list: &[&str]) -> Tags {
    Tags::parse(list).expect("valid tags")
}

pub fn stage_key(text: &str) -> StageKey {
    StageKey::parse(text).expect("a valid stage key")
}

pub fn create_company(
    id: Uuid,
    company_name: &str,
    domain: Option<&str>,
    tag_list: &[&str],
    owner_id: Uuid,
    team_name: Option<&str>,
) -> company::Command {
    company::Command::Create(NewCompany {
        id,
        name: name(company_name),
        domain: domain.map(|domain| Domain::parse(domain).expect("a valid domain")),
        industry: None,
        value_class: None,
        tags: tags(tag_list),
        owner_id: Some(owner_id),
        team: team_name.map(team),
    })
}

pub struct ContactSpec<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
    pub company_id: Uuid,
    pub tags: &'a [&'a str],
    pub owner_id: Uuid,
    pub team: Option<&'a str>,
}

pub fn create_contact(id: Uuid, spec: ContactSpec<'_>) -> contact::Command {
    contact::Command::Create(NewContact {
        id,
        first_name: name(spec.first_name),
        last_name: name(spec.last_name),
        emails: vec![Email::parse(spec.email).expect("a valid address")],
        phones: vec![],
        title: None,
        company_id: Some(spec.company_id),
        tags: tags(spec.tags),
        owner_id: Some(spec.owner_id),
        team: spec.team.map(team),
    })
}

pub fn stages(pipeline_id: Uuid) -> PipelineStages {
    let stage = |key: &str, percent: i64| Stage {
        key: stage_key(key),
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
    stage: &str,
    owner_id: Uuid,
    company_id: Option<Uuid>,
) -> deal::Command {
    deal::Command::Create(NewDeal {
        id,
        title: name("Forty looms"),
        pipeline: stages(pipeline_id),
        stage: stage_key(stage),
        amount: Money::new(125_000, Currency::parse("EUR").expect("a currency")),
        expected_close_on: None,
        owner_id,
        team: None,
        company_id,
        contact_id: None,
    })
}

pub fn move_deal(pipeline_id: Uuid, stage: &str) -> deal::Command {
    deal::Command::ChangeStage {
        stage: stage_key(stage),
        pipeline: stages(pipeline_id),
    }
}

pub fn log_call(id: Uuid, contact_id: Uuid, company_id: Uuid) -> activity::Command {
    activity::Command::Record(NewActivity {
        id,
        kind: ActivityKind::Call,
        subject: name("Discovery call"),
        body: None,
        direction: None,
        duration_minutes: Some(30),
        outcome: None,
        occurred_at: Utc::now() - Duration::hours(1),
        contact_id: Some(contact_id),
        company_id: Some(company_id),
        deal_id: None,
    })
}

pub fn create_task(id: Uuid, assignee_id: Uuid, company_id: Uuid) -> task::Command {
    task::Command::Create(NewTask {
        id,
        title: name("Send the offer"),
        description: None,
        due_at: Utc::now() + Duration::days(2),
        assignee_id,
        team: None,
        contact_id: None,
        company_id: Some(company_id),
        deal_id: None,
    })
}

pub fn open_case(id: Uuid, contact_id: Uuid, assignee_id: Uuid) -> case::Command {
    case::Command::Create(NewCase {
        id,
        subject: name("Loom 7 stopped"),
        description: None,
        contact_id,
        priority: Priority::High,
        assignee_id: Some(assignee_id),
        team: None,
    })
}

pub fn capture_lead(id: Uuid, owner_id: Uuid) -> lead::Command {
    lead::Command::Capture(NewLead {
        id,
        name: name("Mary Somerville"),
        email: Some(Email::parse("mary@somerville.example").expect("a valid address")),
        phone: None,
        company_name: Some(name("Somerville Optics")),
        source: name("web form"),
        campaign_id: None,
        owner_id: Some(owner_id),
        team: None,
    })
}
