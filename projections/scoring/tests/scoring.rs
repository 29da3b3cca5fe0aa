//! The scoring read model against the real servers: scores of small fixed scenarios checked by
//! hand, the ranked list, and the read model's own guarantees (a rebuild from the first event
//! equals the live tables, also after a projector was killed mid-batch).

mod support;

use chrono::{DateTime, Duration, Utc};
use domain::activity::{Activity, ActivityKind, Direction};
use domain::case::{Case, CaseStatus};
use domain::company::Company;
use domain::contact::Contact;
use domain::deal::Deal;
use domain::pipeline::Pipeline;
use domain::values::ValueClass;
use policy::Visibility;
use projection_testkit::World;
use proptest::prelude::*;
use scoring::{Component, CustomerKind, NAME, ScoreOrder, Scoring, ScoringConfig, TABLES};
use support::*;
use uuid::Uuid;

fn activity(kind: ActivityKind, at: DateTime<Utc>) -> ActivitySpec {
    ActivitySpec {
        kind,
        direction: None,
        minutes: None,
        occurred_at: at,
        contact_id: None,
        company_id: None,
        deal_id: None,
    }
}

async fn won_deal(
    world: &World,
    pipeline_id: Uuid,
    company_id: Uuid,
    amount_minor: i64,
    currency: &'static str,
    at: DateTime<Utc>,
) -> u64 {
    let id = Uuid::now_v7();
    let spec = DealSpec {
        pipeline_id,
        amount_minor,
        currency,
        owner_id: world.actor,
        company_id: Some(company_id),
        contact_id: None,
    };
    world.execute_at::<Deal>(id, open_deal(id, spec), at).await;
    world.execute_at::<Deal>(id, win(), at).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_is_scored_from_its_deals_activities_cases_and_clicks() {
    let world = World::new().await;
    let projector = world.start_projector(Scoring::default());
    let now = Utc::now();
    let (company, contact, pipeline) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    world
        .execute::<Company>(company, create_company(company, world.actor, None))
        .await;
    world
        .execute::<Contact>(contact, create_contact(contact, Some(company), world.actor))
        .await;
    world
        .execute::<Pipeline>(pipeline, create_pipeline(pipeline))
        .await;
    won_deal(
        &world,
        pipeline,
        company,
        3_000_000,
        "EUR",
        now - Duration::days(100),
    )
    .await;
    won_deal(
        &world,
        pipeline,
        company,
        2_500_000,
        "EUR",
        now - Duration::days(40),
    )
    .await;
    let last_won = won_deal(
        &world,
        pipeline,
        company,
        500_000,
        "USD",
        now - Duration::days(10),
    )
    .await;
    let meeting = Uuid::now_v7();
    let spec = ActivitySpec {
        minutes: Some(60),
        contact_id: Some(contact),
        ..activity(ActivityKind::Meeting, now - Duration::minutes(2))
    };
    let meeting_at = world
        .execute::<Activity>(meeting, record_activity(meeting, spec))
        .await;
    let email = Uuid::now_v7();
    let spec = ActivitySpec {
        company_id: Some(company),
        ..activity(ActivityKind::Email, now - Duration::minutes(2))
    };
    world
        .execute::<Activity>(email, record_activity(email, spec))
        .await;
    world
        .execute::<Contact>(contact, click(now - Duration::minutes(1)))
        .await;
    let case = Uuid::now_v7();
    let last = world.execute::<Case>(case, open_case(case, contact)).await;

    let schema = world.caught_up(NAME, last).await;
    let queries = Queries::new(&world, ScoringConfig::default());
    let scores = queries
        .score(&schema, CustomerKind::Company, company, now)
        .await
        .expect("the company is scored");
    let value = &scores.value;
    assert_eq!(value.recency_days, Some(10));
    assert_eq!(value.frequency, Some(3));
    let totals: Vec<(&str, i64, Option<u32>)> = value
        .monetary
        .iter()
        .map(|total| (total.currency.as_str(), total.amount_minor, total.score))
        .collect();
    assert_eq!(
        totals,
        [("EUR", 5_500_000, Some(4)), ("USD", 500_000, Some(2))]
    );
    assert_eq!(
        (
            value.recency_score,
            value.frequency_score,
            value.monetary_score
        ),
        (5, 3, 4)
    );
    assert_eq!(
        (value.class, value.computed_class),
        (ValueClass::A, ValueClass::A)
    );
    assert_eq!(value.events[0].position, last_won);
    assert_eq!(value.events[0].event_type, "crm.deal.won.v1");
    let components: Vec<(Component, u32)> = scores
        .engagement
        .components
        .iter()
        .map(|component| (component.component, component.count))
        .collect();
    assert_eq!(
        components,
        [
            (Component::Email, 1),
            (Component::Meeting, 1),
            (Component::LinkClick, 1)
        ],
        "the contact's meeting and click count for its company"
    );
    assert_eq!(scores.engagement.events[0].position, meeting_at);
    assert_eq!(scores.touch_cost.minutes_this_month, 60 + 30);
    assert!(!scores.touch_cost.high_touch);
    assert_eq!(
        scores.churn_risk.risk, 8,
        "one open case of three weighs 25 / 3"
    );

    let contact_scores = queries
        .score(&schema, CustomerKind::Contact, contact, now)
        .await
        .expect("the contact is scored");
    assert_eq!(
        contact_scores.value.frequency,
        Some(0),
        "the deals name no contact"
    );
    assert_eq!(contact_scores.engagement.components.len(), 2);
    assert_eq!(contact_scores.touch_cost.minutes_this_month, 90);

    let reclassified = world
        .execute::<Company>(company, reclassify(Some(ValueClass::D)))
        .await;
    let schema = world.caught_up(NAME, reclassified).await;
    let scores = queries
        .score(&schema, CustomerKind::Company, company, now)
        .await
        .expect("the company is scored");
    assert_eq!(scores.value.class, ValueClass::D, "the manual class wins");
    assert_eq!(
        scores.value.computed_class,
        ValueClass::A,
        "and the computed one is shown"
    );
    assert_eq!(scores.value.manual_class, Some(ValueClass::D));
    assert!(
        queries
            .score(&schema, CustomerKind::Company, Uuid::now_v7(), now)
            .await
            .is_none()
    );
    projector.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_touched_weekly_then_silent_for_sixty_days_is_at_risk() {
    let world = World::new().await;
    let projector = world.start_projector(Scoring::default());
    let now = Utc::now();
    let (silent, recent) = (Uuid::now_v7(), Uuid::now_v7());
    for contact in [silent, recent] {
        world
            .execute::<Contact>(contact, create_contact(contact, None, world.actor))
            .await;
    }
    for week in 0..8 {
        let id = Uuid::now_v7();
        let spec = ActivitySpec {
            contact_id: Some(silent),
            ..activity(ActivityKind::Call, now - Duration::days(60 + 7 * week))
        };
        world
            .execute::<Activity>(id, record_activity(id, spec))
            .await;
    }
    let id = Uuid::now_v7();
    let spec = ActivitySpec {
        contact_id: Some(recent),
        ..activity(ActivityKind::Call, now - Duration::days(1))
    };
    let last = world
        .execute::<Activity>(id, record_activity(id, spec))
        .await;
    let schema = world.caught_up(NAME, last).await;
    let queries = Queries::new(&world, ScoringConfig::default());
    let at_risk = queries
        .score(&schema, CustomerKind::Contact, silent, now)
        .await
        .expect("scored")
        .churn_risk;
    assert_eq!(at_risk.risk, 50);
    assert_eq!(at_risk.reasons[0].reason, "silence");
    assert!(
        at_risk.reasons[0].detail.contains("60 days"),
        "{:?}",
        at_risk.reasons
    );
    let safe = queries
        .score(&schema, CustomerKind::Contact, recent, now)
        .await
        .expect("scored")
        .churn_risk;
    assert!(safe.risk <= 10, "{safe:?}");
    let ranked = queries
        .ranked(
            &schema,
            CustomerKind::Contact,
            ScoreOrder::ChurnRisk,
            &Visibility::Everything,
            None,
            now,
        )
        .await;
    let ids: Vec<Uuid> = ranked.items.iter().map(|item| item.id).collect();
    assert_eq!(ids, [silent, recent]);
    projector.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ranked_list_follows_the_score_and_shows_only_what_the_visibility_allows() {
    let world = World::new().await;
    let projector = world.start_projector(Scoring::default());
    let now = Utc::now();
    let (mine, theirs) = (Uuid::now_v7(), Uuid::now_v7());
    let companies: Vec<(Uuid, Uuid, usize)> = vec![
        (Uuid::now_v7(), mine, 2),
        (Uuid::now_v7(), mine, 1),
        (Uuid::now_v7(), theirs, 3),
    ];
    let mut last = 0;
    for (company, owner, meetings) in &companies {
        world
            .execute::<Company>(*company, create_company(*company, *owner, None))
            .await;
        for _ in 0..*meetings {
            let id = Uuid::now_v7();
            let spec = ActivitySpec {
                company_id: Some(*company),
                minutes: Some(100),
                ..activity(ActivityKind::Meeting, now - Duration::minutes(5))
            };
            last = world
                .execute::<Activity>(id, record_activity(id, spec))
                .await;
        }
    }
    let contact = Uuid::now_v7();
    world
        .execute::<Contact>(
            contact,
            create_contact(contact, Some(companies[0].0), theirs),
        )
        .await;
    last = last.max(
        world
            .execute::<Company>(companies[1].0, reclassify(Some(ValueClass::B)))
            .await,
    );
    let schema = world.caught_up(NAME, last).await;
    let queries = Queries::new(&world, ScoringConfig::default());
    let ranked = |kind, order, visibility: Visibility, class| {
        let queries = &queries;
        let schema = schema.clone();
        async move {
            queries
                .ranked(&schema, kind, order, &visibility, class, now)
                .await
                .items
                .iter()
                .map(|item| item.id)
                .collect::<Vec<Uuid>>()
        }
    };
    let only_mine = Visibility::Some {
        owner_ids: vec![mine],
        teams: vec![],
    };
    let (a, b, c) = (companies[0].0, companies[1].0, companies[2].0);
    for order in [ScoreOrder::Engagement, ScoreOrder::TouchCost] {
        assert_eq!(
            ranked(CustomerKind::Company, order, Visibility::Everything, None).await,
            [c, a, b],
            "{order:?}"
        );
        assert_eq!(
            ranked(CustomerKind::Company, order, only_mine.clone(), None).await,
            [a, b],
            "{order:?}"
        );
    }
    assert_eq!(
        ranked(
            CustomerKind::Company,
            ScoreOrder::Value,
            only_mine.clone(),
            Some(ValueClass::B)
        )
        .await,
        [b],
        "narrowed by the class in force"
    );
    assert_eq!(
        ranked(
            CustomerKind::Contact,
            ScoreOrder::Engagement,
            only_mine.clone(),
            None
        )
        .await,
        [contact],
        "a contact is visible through its company"
    );
    let nobody = Visibility::Some {
        owner_ids: vec![Uuid::now_v7()],
        teams: vec!["Nowhere".to_owned()],
    };
    assert!(
        ranked(CustomerKind::Company, ScoreOrder::ChurnRisk, nobody, None)
            .await
            .is_empty()
    );
    projector.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_activity_counts_once_it_has_taken_place() {
    let world = World::new().await;
    let projector = world.start_projector(Scoring::default());
    let contact = Uuid::now_v7();
    world
        .execute::<Contact>(contact, create_contact(contact, None, world.actor))
        .await;
    let visit = Uuid::now_v7();
    let spec = ActivitySpec {
        contact_id: Some(contact),
        ..activity(ActivityKind::Visit, Utc::now() + Duration::days(3))
    };
    let scheduled = world
        .execute::<Activity>(visit, record_activity(visit, spec))
        .await;
    let schema = world.caught_up(NAME, scheduled).await;
    let queries = Queries::new(&world, ScoringConfig::default());
    let before = queries
        .score(&schema, CustomerKind::Contact, contact, Utc::now())
        .await
        .expect("scored");
    assert!(
        before.engagement.components.is_empty(),
        "a plan is no touchpoint"
    );
    let completed = world
        .execute::<Activity>(visit, complete_activity(Some(45)))
        .await;
    let schema = world.caught_up(NAME, completed).await;
    let after = queries
        .score(&schema, CustomerKind::Contact, contact, Utc::now())
        .await
        .expect("scored");
    assert_eq!(after.engagement.components.len(), 1);
    assert_eq!(after.engagement.components[0].component, Component::Visit);
    assert_eq!(after.touch_cost.minutes_this_month, 45);
    assert_eq!(after.engagement.events[0].position, completed);
    projector.stop().await;
    world.stop().await;
}

/// One step of a random workload over a few fixed customers.
#[derive(Debug, Clone)]
enum Step {
    Activity {
        kind: usize,
        inbound: bool,
        minutes: u16,
        target: usize,
        days_ago: i64,
    },
    Schedule {
        target: usize,
    },
    CompleteScheduled,
    Click {
        contact: usize,
        days_ago: i64,
    },
    Win {
        deal: usize,
        days_ago: i64,
    },
    Reopen {
        deal: usize,
    },
    OpenCase {
        contact: usize,
        days_ago: i64,
    },
    AdvanceCase,
    Move {
        contact: usize,
        company: Option<usize>,
    },
    Reclassify {
        company: usize,
        class: Option<usize>,
    },
}

fn any_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..6_usize, any::<bool>(), 0..120_u16, 0..6_usize, 0..90_i64).prop_map(
            |(kind, inbound, minutes, target, days_ago)| Step::Activity {
                kind, inbound, minutes, target, days_ago
            }
        ),
        1 => (0..6_usize).prop_map(|target| Step::Schedule { target }),
        1 => Just(Step::CompleteScheduled),
        2 => (0..3_usize, 0..30_i64).prop_map(|(contact, days_ago)| Step::Click { contact, days_ago }),
        2 => (0..2_usize, 0..400_i64).prop_map(|(deal, days_ago)| Step::Win { deal, days_ago }),
        1 => (0..2_usize).prop_map(|deal| Step::Reopen { deal }),
        1 => (0..3_usize, 0..60_i64).prop_map(|(contact, days_ago)| Step::OpenCase { contact, days_ago }),
        1 => Just(Step::AdvanceCase),
        1 => (0..3_usize, prop::option::of(0..2_usize))
            .prop_map(|(contact, company)| Step::Move { contact, company }),
        1 => (0..2_usize, prop::option::of(0..4_usize))
            .prop_map(|(company, class)| Step::Reclassify { company, class }),
    ]
}

/// The fixed customers a workload acts on, and what it needs to know to issue only commands
/// the domain accepts.
struct Cast {
    companies: [Uuid; 2],
    contacts: [Uuid; 3],
    deals: [Uuid; 2],
    pipeline: Uuid,
    won: [bool; 2],
    scheduled: Vec<Uuid>,
    cases: Vec<(Uuid, CaseStatus)>,
    /// Each contact's company, each company's manual class (a change to the same value
    /// appends nothing).
    employers: [Option<usize>; 3],
    classes: [Option<usize>; 2],
}

async fn cast(world: &World) -> (Cast, u64) {
    let companies = [Uuid::now_v7(), Uuid::now_v7()];
    let contacts = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    let deals = [Uuid::now_v7(), Uuid::now_v7()];
    let pipeline = Uuid::now_v7();
    for company in companies {
        world
            .execute::<Company>(company, create_company(company, world.actor, None))
            .await;
    }
    for (index, contact) in contacts.iter().enumerate() {
        let company = companies.get(index).copied();
        world
            .execute::<Contact>(*contact, create_contact(*contact, company, world.actor))
            .await;
    }
    world
        .execute::<Pipeline>(pipeline, create_pipeline(pipeline))
        .await;
    let mut last = 0;
    for (index, (deal, currency)) in deals.iter().zip(["EUR", "USD"]).enumerate() {
        let spec = DealSpec {
            pipeline_id: pipeline,
            amount_minor: 1_000_000 * (index as i64 + 1),
            currency,
            owner_id: world.actor,
            company_id: Some(companies[index]),
            contact_id: (index == 0).then_some(contacts[0]),
        };
        last = world.execute::<Deal>(*deal, open_deal(*deal, spec)).await;
    }
    let cast = Cast {
        companies,
        contacts,
        deals,
        pipeline,
        won: [false; 2],
        scheduled: Vec::new(),
        cases: Vec::new(),
        employers: [Some(0), Some(1), None],
        classes: [None; 2],
    };
    (cast, last)
}

impl Cast {
    /// Who an activity of `target` concerns: a contact, a company, a deal, or several.
    fn activity(&self, target: usize, spec: ActivitySpec) -> ActivitySpec {
        match target {
            0 => ActivitySpec {
                contact_id: Some(self.contacts[0]),
                ..spec
            },
            1 => ActivitySpec {
                contact_id: Some(self.contacts[2]),
                ..spec
            },
            2 => ActivitySpec {
                company_id: Some(self.companies[1]),
                ..spec
            },
            3 => ActivitySpec {
                deal_id: Some(self.deals[0]),
                ..spec
            },
            4 => ActivitySpec {
                contact_id: Some(self.contacts[1]),
                deal_id: Some(self.deals[1]),
                ..spec
            },
            _ => ActivitySpec {
                contact_id: Some(self.contacts[0]),
                company_id: Some(self.companies[0]),
                deal_id: Some(self.deals[0]),
                ..spec
            },
        }
    }

    /// Issues `step` if the domain accepts it now; returns the last position written.
    async fn run(&mut self, world: &World, step: &Step) -> Option<u64> {
        const KINDS: [ActivityKind; 6] = [
            ActivityKind::Call,
            ActivityKind::Email,
            ActivityKind::Meeting,
            ActivityKind::Note,
            ActivityKind::Message,
            ActivityKind::Visit,
        ];
        let now = Utc::now();
        match step {
            Step::Activity {
                kind,
                inbound,
                minutes,
                target,
                days_ago,
            } => {
                let id = Uuid::now_v7();
                let spec = ActivitySpec {
                    direction: Some(if *inbound {
                        Direction::Inbound
                    } else {
                        Direction::Outbound
                    }),
                    minutes: Some(*minutes),
                    ..activity(KINDS[*kind], now - Duration::days(*days_ago))
                };
                let spec = self.activity(*target, spec);
                Some(
                    world
                        .execute::<Activity>(id, record_activity(id, spec))
                        .await,
                )
            }
            Step::Schedule { target } => {
                let id = Uuid::now_v7();
                let spec = self.activity(
                    *target,
                    activity(ActivityKind::Visit, now + Duration::days(3)),
                );
                self.scheduled.push(id);
                Some(
                    world
                        .execute::<Activity>(id, record_activity(id, spec))
                        .await,
                )
            }
            Step::CompleteScheduled => {
                let id = self.scheduled.pop()?;
                Some(
                    world
                        .execute::<Activity>(id, complete_activity(Some(45)))
                        .await,
                )
            }
            Step::Click { contact, days_ago } => Some(
                world
                    .execute::<Contact>(
                        self.contacts[*contact],
                        click(now - Duration::days(*days_ago)),
                    )
                    .await,
            ),
            Step::Win { deal, days_ago } => {
                if self.won[*deal] {
                    return None;
                }
                self.won[*deal] = true;
                let at = now - Duration::days(*days_ago);
                Some(world.execute_at::<Deal>(self.deals[*deal], win(), at).await)
            }
            Step::Reopen { deal } => {
                if !self.won[*deal] {
                    return None;
                }
                self.won[*deal] = false;
                Some(
                    world
                        .execute::<Deal>(self.deals[*deal], reopen(self.pipeline))
                        .await,
                )
            }
            Step::OpenCase { contact, days_ago } => {
                let id = Uuid::now_v7();
                self.cases.push((id, CaseStatus::New));
                let at = now - Duration::days(*days_ago);
                Some(
                    world
                        .execute_at::<Case>(id, open_case(id, self.contacts[*contact]), at)
                        .await,
                )
            }
            Step::AdvanceCase => {
                let (id, status) = self
                    .cases
                    .iter_mut()
                    .find(|(_, s)| *s != CaseStatus::Closed)?;
                let next = match status {
                    CaseStatus::New => CaseStatus::Open,
                    CaseStatus::Open => CaseStatus::Pending,
                    CaseStatus::Pending => CaseStatus::Resolved,
                    _ => CaseStatus::Closed,
                };
                *status = next;
                Some(world.execute::<Case>(*id, case_status(next)).await)
            }
            Step::Move { contact, company } => {
                if self.employers[*contact] == *company {
                    return None;
                }
                self.employers[*contact] = *company;
                let to = company.map(|index| self.companies[index]);
                let id = self.contacts[*contact];
                Some(world.execute::<Contact>(id, move_contact(to)).await)
            }
            Step::Reclassify { company, class } => {
                if self.classes[*company] == *class {
                    return None;
                }
                self.classes[*company] = *class;
                let classes = [ValueClass::A, ValueClass::B, ValueClass::C, ValueClass::D];
                let class = class.map(|index| classes[index]);
                Some(
                    world
                        .execute::<Company>(self.companies[*company], reclassify(class))
                        .await,
                )
            }
        }
    }
}

/// Some steps ask for nothing new (a patch that changes nothing appends no event).
async fn run_steps(world: &World, cast: &mut Cast, steps: &[Step]) -> u64 {
    let mut last = 0;
    for step in steps {
        if let Some(position) = cast.run(world, step).await {
            last = last.max(position);
        }
    }
    last
}

async fn live_equals_rebuild(steps: Vec<Step>) {
    let world = World::new().await;
    let projector = world.start_projector(Scoring::default());
    let (mut cast, created) = cast(&world).await;
    let last = run_steps(&world, &mut cast, &steps).await.max(created);
    let live_schema = world.caught_up(NAME, last).await;
    let live = world.rows(&live_schema, &TABLES).await;
    projector.stop().await;
    let (report, rebuilt_schema) = world.rebuild(Scoring::default()).await;
    assert!(report.position >= last);
    assert_ne!(rebuilt_schema, live_schema);
    let rebuilt = world.rows(&rebuilt_schema, &TABLES).await;
    assert_eq!(rebuilt, live);
    world.stop().await;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4))]

    #[test]
    fn a_rebuild_from_the_first_event_equals_the_live_tables(
        steps in prop::collection::vec(any_step(), 10..40)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(live_equals_rebuild(steps));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_batch_and_restarted_equals_a_rebuild() {
    let world = World::new().await;
    let (mut cast, created) = cast(&world).await;
    let first = world.start_projector(Scoring::default());
    let steps: Vec<Step> = (0..120)
        .map(|n| match n % 4 {
            0 => Step::Activity {
                kind: n % 6,
                inbound: n % 3 == 0,
                minutes: (n % 50) as u16,
                target: n % 6,
                days_ago: (n % 20) as i64,
            },
            1 => Step::Click {
                contact: n % 3,
                days_ago: 1,
            },
            2 => Step::OpenCase {
                contact: n % 3,
                days_ago: 0,
            },
            _ => Step::AdvanceCase,
        })
        .collect();
    let writing = run_steps(&world, &mut cast, &steps);
    let killing = async move {
        let mut first = first;
        first
            .wait_until("applies part of the stream", |status| {
                status.position >= created + 20
            })
            .await;
        first.kill().await;
    };
    let (written, ()) = tokio::join!(writing, killing);
    let more = [
        Step::Win {
            deal: 0,
            days_ago: 3,
        },
        Step::Move {
            contact: 2,
            company: Some(1),
        },
    ];
    let last = run_steps(&world, &mut cast, &more).await.max(written);
    let second = world.start_projector(Scoring::default());
    let live_schema = world.caught_up(NAME, last).await;
    second.stop().await;
    let restarted = world.rows(&live_schema, &TABLES).await;
    let (_, rebuilt_schema) = world.rebuild(Scoring::default()).await;
    assert_eq!(world.rows(&rebuilt_schema, &TABLES).await, restarted);
    let touchpoints = restarted
        .iter()
        .find(|(table, _)| table == "touchpoints")
        .map_or(0, |(_, rows)| rows.len());
    assert!(touchpoints >= 60, "{touchpoints}");
    world.stop().await;
}
