//! Domain commands for the customers the scoring tests create, with the few fields each test
//! cares about, and the scoring queries as the API makes them (every answer logged first).

use accesslog::{Access, AccessLog};
use chrono::{DateTime, Utc};
use domain::Patch;
use domain::access::AccessAction;
use domain::activity::{self, ActivityKind, Direction, NewActivity};
use domain::case::{self, CaseStatus, NewCase, Priority};
use domain::company::{self, CompanyChanges, NewCompany};
use domain::contact::{self, NewContact, TrackedUrl};
use domain::deal::{self, NewDeal};
use domain::pipeline::{self, NewPipeline, PipelineStages, Stage};
use domain::values::{Currency, Money, Name, Probability, Role, StageKey, Tags, ValueClass};
use policy::Visibility;
use projection_testkit::World;
use scoring::{CustomerKind, CustomerScore, RankedScores, ScoreOrder, ScoreQueries, ScoringConfig};
use uuid::Uuid;

pub fn name(text: &str) -> Name {
    Name::parse(text).expect("a valid name")
}

pub fn create_company(id: Uuid, owner_id: Uuid, class: Option<ValueClass>) -> company::Command {
    company::Command::Create(NewCompany {
        id,
        name: name("Acme"),
        domain: None,
        industry: None,
        value_class: class,
        tags: Tags::default(),
        owner_id: Some(owner_id),
        team: None,
    })
}

pub fn reclassify(class: Option<ValueClass>) -> company::Command {
    company::Command::Update(CompanyChanges {
        value_class: class.map_or(Patch::Clear, Patch::Set),
        ..CompanyChanges::default()
    })
}

pub fn create_contact(id: Uuid, company_id: Option<Uuid>, owner_id: Uuid) -> contact::Command {
    contact::Command::Create(NewContact {
        id,
        first_name: name("Ada"),
        last_name: name("Lovelace"),
        emails: vec![],
        phones: vec![],
        title: None,
        company_id,
        tags: Tags::default(),
        owner_id: Some(owner_id),
        team: None,
    })
}

pub fn move_contact(company_id: Option<Uuid>) -> contact::Command {
    contact::Command::Update(contact::ContactChanges {
        company_id: company_id.map_or(Patch::Clear, Patch::Set),
        ..contact::ContactChanges::default()
    })
}

pub fn click(clicked_at: DateTime<Utc>) -> contact::Command {
    contact::Command::RecordLinkClick {
        url: TrackedUrl::parse("https://acme.example/pricing").expect("a valid url"),
        campaign_id: None,
        clicked_at,
    }
}

fn stages(pipeline_id: Uuid) -> PipelineStages {
    PipelineStages {
        pipeline_id,
        stages: vec![Stage {
            key: StageKey::parse("proposal").expect("a stage key"),
            name: name("Proposal"),
            probability: Probability::new(50).expect("a percentage"),
        }],
    }
}

pub fn create_pipeline(id: Uuid) -> pipeline::Command {
    pipeline::Command::Create(NewPipeline {
        id,
        name: name("New business"),
        stages: stages(id).stages,
    })
}

pub struct DealSpec {
    pub pipeline_id: Uuid,
    pub amount_minor: i64,
    pub currency: &'static str,
    pub owner_id: Uuid,
    pub company_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
}

pub fn open_deal(id: Uuid, spec: DealSpec) -> deal::Command {
    deal::Command::Create(NewDeal {
        id,
        title: name("Forty looms"),
        pipeline: stages(spec.pipeline_id),
        stage: StageKey::parse("proposal").expect("a stage key"),
        amount: Money::new(
            spec.amount_minor,
            Currency::parse(spec.currency).expect("a currency"),
        ),
        expected_close_on: None,
        owner_id: spec.owner_id,
        team: None,
        company_id: spec.company_id,
        contact_id: spec.contact_id,
    })
}

pub fn win() -> deal::Command {
    deal::Command::Win { reason: None }
}

pub fn reopen(pipeline_id: Uuid) -> deal::Command {
    deal::Command::Reopen {
        pipeline: stages(pipeline_id),
    }
}

pub struct ActivitySpec {
    pub kind: ActivityKind,
    pub direction: Option<Direction>,
    pub minutes: Option<u16>,
    pub occurred_at: DateTime<Utc>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
}

pub fn record_activity(id: Uuid, spec: ActivitySpec) -> activity::Command {
    activity::Command::Record(NewActivity {
        id,
        kind: spec.kind,
        subject: name("Touch"),
        body: None,
        direction: spec.direction,
        duration_minutes: spec.minutes,
        outcome: None,
        occurred_at: spec.occurred_at,
        contact_id: spec.contact_id,
        company_id: spec.company_id,
        deal_id: spec.deal_id,
    })
}

pub fn complete_activity(minutes: Option<u16>) -> activity::Command {
    activity::Command::Complete {
        occurred_at: None,
        outcome: None,
        duration_minutes: minutes,
    }
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

/// The scoring queries as the API makes them: every answer is logged as an access before the
/// test sees it.
pub struct Queries {
    queries: ScoreQueries,
    log: AccessLog,
}

impl Queries {
    pub fn new(world: &World, config: ScoringConfig) -> Queries {
        Queries {
            queries: ScoreQueries::new(world.owner_pool.clone(), config),
            log: AccessLog::new(world.appender.clone()),
        }
    }

    fn access() -> Access {
        Access {
            actor: "system".to_owned(),
            role: Some(Role::Admin),
            action: AccessAction::Read,
            route: "scoring test".to_owned(),
            purpose: None,
            request_id: Uuid::now_v7().to_string(),
            client: None,
        }
    }

    pub async fn score(
        &self,
        schema: &str,
        kind: CustomerKind,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Option<CustomerScore> {
        let found = self
            .queries
            .score(schema, kind, id, now)
            .await
            .expect("the score query answers")?;
        Some(
            self.log
                .disclose(&Self::access(), found)
                .await
                .expect("the access commits"),
        )
    }

    pub async fn ranked(
        &self,
        schema: &str,
        kind: CustomerKind,
        order: ScoreOrder,
        visibility: &Visibility,
        class: Option<ValueClass>,
        now: DateTime<Utc>,
    ) -> RankedScores {
        let page = self
            .queries
            .ranked(schema, kind, order, visibility, class, 50, now)
            .await
            .expect("the ranked query answers");
        self.log
            .disclose(&Self::access(), page)
            .await
            .expect("the access commits")
    }
}
