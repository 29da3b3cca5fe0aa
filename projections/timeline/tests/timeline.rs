//! The timeline read model against the real PostgreSQL and NATS JetStream: hand-checked
//! timelines of small fixed scenarios, the filters and pages, a projector killed mid-stream and
//! a random workload, each compared with a rebuild from the first event.

mod support;

use chrono::{DateTime, Duration, Utc};
use domain::activity::Activity;
use domain::case::{Case, CaseStatus};
use domain::company::Company;
use domain::contact::Contact;
use domain::deal::Deal;
use domain::pipeline::Pipeline;
use domain::task::Task;
use eventstore::{ExpectedVersion, NewEvent, StreamAppend, StreamRef};
use proptest::prelude::*;
use serde_json::json;
use support::commands::*;
use support::{ALL_COLLECTIONS, World, summaries};
use timeline::{Customer, EntryKind, NAME, PageRequest, TimelineError, TimelineFilter};
use uuid::Uuid;

/// A fixed past time, whole seconds, so times read back exactly.
fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).expect("a time")
}

fn minutes(count: i64) -> Duration {
    Duration::minutes(count)
}

fn record(collection: &str, id: Uuid) -> domain::access::RecordRef {
    domain::access::RecordRef {
        collection: collection.to_owned(),
        id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contacts_call_deal_stages_and_case_show_newest_first_with_actor_time_and_summary() {
    let world = World::new().await;
    let projector = world.start_projector();
    let t = start();
    let (acme, ada, pipeline, deal, call, case) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    world
        .execute_at::<Company>(acme, create_company(acme, "Acme GmbH"), t)
        .await;
    world
        .execute_at::<Contact>(ada, create_contact(ada, "Ada", "Lovelace", Some(acme)), t)
        .await;
    world
        .execute_at::<Pipeline>(pipeline, create_pipeline(pipeline), t)
        .await;
    world
        .execute_at::<Activity>(
            call,
            log_call(call, t, Some(ada), None, None),
            t + minutes(1),
        )
        .await;
    world
        .execute_at::<Deal>(
            deal,
            open_deal(deal, pipeline, Some(acme), Some(ada)),
            t + minutes(2),
        )
        .await;
    world
        .execute_at::<Deal>(deal, move_deal(pipeline, "qualified"), t + minutes(3))
        .await;
    world
        .execute_at::<Deal>(deal, move_deal(pipeline, "proposal"), t + minutes(4))
        .await;
    world
        .execute_at::<Case>(case, open_case(case, ada), t + minutes(5))
        .await;
    for (offset, status) in [CaseStatus::Open, CaseStatus::Pending, CaseStatus::Resolved]
        .into_iter()
        .enumerate()
    {
        world
            .execute_at::<Case>(case, case_status(status), t + minutes(6 + offset as i64))
            .await;
    }
    let last = world
        .execute_at::<Case>(case, case_status(CaseStatus::Closed), t + minutes(9))
        .await;

    let schema = world.caught_up(last).await;
    let (page, records) = world
        .timeline(
            &schema,
            Customer::Contact(ada),
            &TimelineFilter::collections(ALL_COLLECTIONS),
            PageRequest::default(),
        )
        .await
        .expect("the timeline answers");
    assert_eq!(
        summaries(&page),
        vec![
            "Case status resolved -> closed",
            "Case status pending -> resolved",
            "Case status open -> pending",
            "Case status new -> open",
            "Case opened: Loom 7 stopped (high)",
            "Stage changed from qualified to proposal",
            "Stage changed from lead to qualified",
            "Deal opened: Forty looms in lead (1250.00 EUR)",
            "Call (outbound, 15 min): Renewal",
            "Contact created: Ada Lovelace",
        ]
    );
    assert_eq!(page.next_cursor, None);
    let positions: Vec<u64> = page.items.iter().map(|entry| entry.position).collect();
    assert!(
        positions.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first"
    );
    let expected_times = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0].map(|offset| t + minutes(offset));
    for (entry, time) in page.items.iter().zip(expected_times) {
        assert_eq!(entry.occurred_at, time, "{}", entry.summary);
        assert_eq!(entry.actor, format!("user:{}", world.actor));
        assert_eq!(entry.actor_id, Some(world.actor));
        assert_eq!(entry.customer, Customer::Contact(ada));
    }
    let call_entry = &page.items[8];
    assert_eq!(call_entry.kind, EntryKind::Touchpoint);
    assert_eq!(call_entry.record, record("activities", call));
    assert_eq!(call_entry.event_type, "crm.activity.logged.v1");
    assert_eq!(call_entry.event, "logged");
    assert_eq!(call_entry.data["subject"], "Renewal");
    let stage_entry = &page.items[5];
    assert_eq!(stage_entry.kind, EntryKind::Change);
    assert_eq!(stage_entry.record, record("deals", deal));
    assert_eq!(stage_entry.event_type, "crm.deal.stage_changed.v1");
    assert_eq!(stage_entry.data["to"], "proposal");
    assert_eq!(
        records,
        vec![
            record("contacts", ada),
            record("cases", case),
            record("deals", deal),
            record("activities", call),
        ],
        "the access names the customer and every record the page discloses"
    );

    projector.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_companys_timeline_shows_its_contacts_touchpoints_and_its_deals() {
    let world = World::new().await;
    let projector = world.start_projector();
    let t = start();
    let (acme, other, ada, grace, stranger, pipeline, deal) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    world
        .execute_at::<Company>(acme, create_company(acme, "Acme GmbH"), t)
        .await;
    world
        .execute_at::<Company>(other, create_company(other, "Other AG"), t)
        .await;
    world
        .execute_at::<Contact>(ada, create_contact(ada, "Ada", "Lovelace", Some(acme)), t)
        .await;
    world
        .execute_at::<Contact>(
            grace,
            create_contact(grace, "Grace", "Hopper", Some(acme)),
            t,
        )
        .await;
    world
        .execute_at::<Contact>(
            stranger,
            create_contact(stranger, "Some", "One", Some(other)),
            t,
        )
        .await;
    let mut calls = Vec::new();
    for (offset, contact) in [ada, grace, stranger].into_iter().enumerate() {
        let call = Uuid::now_v7();
        let at = t + minutes(10 + offset as i64);
        world
            .execute_at::<Activity>(call, log_call(call, at, Some(contact), None, None), at)
            .await;
        calls.push(call);
    }
    world
        .execute_at::<Deal>(
            deal,
            open_deal(deal, pipeline, Some(acme), None),
            t + minutes(20),
        )
        .await;
    let last = world
        .execute_at::<Deal>(deal, move_deal(pipeline, "qualified"), t + minutes(21))
        .await;

    let schema = world.caught_up(last).await;
    let page = world.everything(&schema, Customer::Company(acme)).await;
    assert_eq!(
        summaries(&page),
        vec![
            "Stage changed from lead to qualified",
            "Deal opened: Forty looms in lead (1250.00 EUR)",
            "Call (outbound, 15 min): Renewal",
            "Call (outbound, 15 min): Renewal",
            "Contact created: Grace Hopper",
            "Contact created: Ada Lovelace",
            "Company created: Acme GmbH",
        ]
    );
    let records: Vec<_> = page
        .items
        .iter()
        .map(|entry| entry.record.clone())
        .collect();
    assert_eq!(records[2], record("activities", calls[1]));
    assert_eq!(records[3], record("activities", calls[0]));
    assert!(
        page.items
            .iter()
            .all(|entry| entry.customer == Customer::Company(acme))
    );

    let (touchpoints, disclosed) = world
        .timeline(
            &schema,
            Customer::Company(acme),
            &TimelineFilter {
                kind: Some(EntryKind::Touchpoint),
                ..TimelineFilter::collections(ALL_COLLECTIONS)
            },
            PageRequest::default(),
        )
        .await
        .expect("the timeline answers");
    assert_eq!(touchpoints.items.len(), 2, "only the calls of its contacts");
    assert_eq!(
        disclosed,
        vec![
            record("companies", acme),
            record("activities", calls[1]),
            record("activities", calls[0]),
        ]
    );

    projector.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_that_moves_leaves_its_history_with_the_old_company_and_brings_new_entries_to_the_new()
 {
    let world = World::new().await;
    let projector = world.start_projector();
    let t = start();
    let (old, new, ada, before, after) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    world
        .execute_at::<Company>(old, create_company(old, "Old GmbH"), t)
        .await;
    world
        .execute_at::<Company>(new, create_company(new, "New AG"), t)
        .await;
    world
        .execute_at::<Contact>(ada, create_contact(ada, "Ada", "Lovelace", Some(old)), t)
        .await;
    world
        .execute_at::<Activity>(
            before,
            log_call(before, t, Some(ada), None, None),
            t + minutes(1),
        )
        .await;
    world
        .execute_at::<Contact>(ada, move_contact(Some(new)), t + minutes(2))
        .await;
    let last = world
        .execute_at::<Activity>(
            after,
            log_call(after, t + minutes(3), Some(ada), None, None),
            t + minutes(3),
        )
        .await;

    let schema = world.caught_up(last).await;
    let old_timeline = world.everything(&schema, Customer::Company(old)).await;
    assert_eq!(
        summaries(&old_timeline),
        vec![
            "Moved from Old GmbH to New AG",
            "Call (outbound, 15 min): Renewal",
            "Contact created: Ada Lovelace",
            "Company created: Old GmbH",
        ]
    );
    assert_eq!(old_timeline.items[1].record, record("activities", before));
    let new_timeline = world.everything(&schema, Customer::Company(new)).await;
    assert_eq!(
        summaries(&new_timeline),
        vec![
            "Call (outbound, 15 min): Renewal",
            "Moved from Old GmbH to New AG",
            "Company created: New AG",
        ]
    );
    assert_eq!(new_timeline.items[0].record, record("activities", after));
    let own = world.everything(&schema, Customer::Contact(ada)).await;
    assert_eq!(own.items.len(), 4, "the contact's own timeline has it all");

    projector.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_deals_out_of_the_collections_leaves_the_deal_entries_out_and_times_bound_the_rest()
{
    let world = World::new().await;
    let projector = world.start_projector();
    let t = start();
    let (ada, pipeline, deal, call, task) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    world
        .execute_at::<Contact>(ada, create_contact(ada, "Ada", "Lovelace", None), t)
        .await;
    world
        .execute_at::<Deal>(
            deal,
            open_deal(deal, pipeline, None, Some(ada)),
            t + minutes(1),
        )
        .await;
    world
        .execute_at::<Activity>(
            call,
            log_call(call, t + minutes(2), Some(ada), None, Some(deal)),
            t + minutes(2),
        )
        .await;
    world
        .execute_at::<Deal>(deal, move_deal(pipeline, "qualified"), t + minutes(3))
        .await;
    let last = world
        .execute_at::<Task>(
            task,
            create_task(task, t + minutes(60), None, Some(deal)),
            t + minutes(4),
        )
        .await;

    let schema = world.caught_up(last).await;
    let ask = |filter: TimelineFilter| {
        let world = &world;
        let schema = &schema;
        async move {
            world
                .timeline(
                    schema,
                    Customer::Contact(ada),
                    &filter,
                    PageRequest::default(),
                )
                .await
                .expect("the timeline answers")
        }
    };
    let everything = ask(TimelineFilter::collections(ALL_COLLECTIONS)).await.0;
    assert_eq!(everything.items.len(), 5);

    let support = ["contacts", "activities", "tasks", "cases"];
    let (no_deals, disclosed) = ask(TimelineFilter::collections(support)).await;
    assert_eq!(
        summaries(&no_deals),
        vec![
            "Task created: Send the offer (due 2025-06-15 16:06 UTC)",
            "Call (outbound, 15 min): Renewal",
            "Contact created: Ada Lovelace",
        ]
    );
    assert!(
        !disclosed.iter().any(|record| record.collection == "deals"),
        "no deal is disclosed: {disclosed:?}"
    );

    let (bounded, _) = ask(TimelineFilter {
        from: Some(t + minutes(1)),
        to: Some(t + minutes(3)),
        ..TimelineFilter::collections(ALL_COLLECTIONS)
    })
    .await;
    assert_eq!(
        summaries(&bounded),
        vec![
            "Call (outbound, 15 min): Renewal",
            "Deal opened: Forty looms in lead (1250.00 EUR)",
        ],
        "from is inclusive, to exclusive"
    );
    let (nothing, disclosed) = ask(TimelineFilter::collections(Vec::<String>::new())).await;
    assert!(nothing.items.is_empty());
    assert_eq!(disclosed, vec![record("contacts", ada)]);

    let bad_range = world
        .timeline(
            &schema,
            Customer::Contact(ada),
            &TimelineFilter {
                from: Some(t + minutes(2)),
                to: Some(t),
                ..TimelineFilter::collections(ALL_COLLECTIONS)
            },
            PageRequest::default(),
        )
        .await;
    assert!(matches!(bad_range, Err(TimelineError::BadRange)));

    projector.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_walk_every_entry_exactly_once_newest_first() {
    let world = World::new().await;
    let projector = world.start_projector();
    let t = start();
    let acme = Uuid::now_v7();
    let mut last = world
        .execute_at::<Company>(acme, create_company(acme, "Acme GmbH"), t)
        .await;
    for round in 0..5 {
        let contact = Uuid::now_v7();
        world
            .execute_at::<Contact>(
                contact,
                create_contact(contact, "Round", &format!("Number{round}"), Some(acme)),
                t,
            )
            .await;
        let call = Uuid::now_v7();
        last = world
            .execute_at::<Activity>(call, log_call(call, t, Some(contact), None, None), t)
            .await;
    }
    let schema = world.caught_up(last).await;
    let filter = TimelineFilter::collections(ALL_COLLECTIONS);
    let everything = world.everything(&schema, Customer::Company(acme)).await;
    assert_eq!(everything.items.len(), 11);

    let mut walked = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let (page, _) = world
            .timeline(
                &schema,
                Customer::Company(acme),
                &filter,
                PageRequest { limit: 3, cursor },
            )
            .await
            .expect("a page");
        pages += 1;
        assert!(page.items.len() <= 3);
        walked.extend(page.items.iter().map(|entry| entry.position));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    let expected: Vec<u64> = everything
        .items
        .iter()
        .map(|entry| entry.position)
        .collect();
    assert_eq!(walked, expected, "every entry once, newest first");

    let bad_cursor = world
        .timeline(
            &schema,
            Customer::Company(acme),
            &filter,
            PageRequest {
                limit: 3,
                cursor: Some("not a cursor".to_owned()),
            },
        )
        .await;
    assert!(matches!(bad_cursor, Err(TimelineError::BadCursor)));
    for limit in [0, timeline::MAX_LIMIT + 1] {
        let bad_limit = world
            .timeline(
                &schema,
                Customer::Company(acme),
                &filter,
                PageRequest {
                    limit,
                    cursor: None,
                },
            )
            .await;
        assert!(matches!(bad_limit, Err(TimelineError::BadLimit(refused)) if refused == limit));
    }

    projector.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_domain_cannot_read_stops_the_projector_at_it() {
    let world = World::new().await;
    let mut projector = world.start_projector();
    let before = Uuid::now_v7();
    world
        .execute::<Company>(before, create_company(before, "Before"))
        .await;
    let broken = world
        .append(StreamAppend::events(
            StreamRef::new("contact", Uuid::now_v7()),
            ExpectedVersion::NoStream,
            vec![NewEvent {
                event_type: "exploded".to_owned(),
                schema_version: 1,
                occurred_at: Utc::now(),
                payload: json!({}),
            }],
        ))
        .await;
    let after = Uuid::now_v7();
    world
        .execute::<Company>(after, create_company(after, "After"))
        .await;

    projector
        .wait_until("stops at the unreadable event", |status| {
            status
                .failure
                .as_ref()
                .is_some_and(|(position, _)| *position == broken)
        })
        .await;
    let (schema, _) = world
        .reader()
        .live_schema(NAME)
        .await
        .expect("a live generation");
    assert_eq!(
        world
            .everything(&schema, Customer::Company(before))
            .await
            .items
            .len(),
        1
    );
    assert!(
        world
            .everything(&schema, Customer::Company(after))
            .await
            .items
            .is_empty(),
        "nothing after it is applied"
    );

    projector.stop().await;
    world.stop().await;
}

/// One writer's rounds: a company, a contact of it with a call, a deal moved on once and a case
/// opened; every fourth round the previous contact moves to this round's company.
async fn write_rounds(world: &World, pipeline: Uuid, rounds: usize) -> u64 {
    let mut previous: Option<Uuid> = None;
    let mut last = 0;
    for round in 0..rounds {
        let (company, contact, call, deal, case) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        world
            .execute::<Company>(company, create_company(company, "Company"))
            .await;
        world
            .execute::<Contact>(
                contact,
                create_contact(contact, "Round", "Robin", Some(company)),
            )
            .await;
        world
            .execute::<Activity>(call, log_call(call, Utc::now(), Some(contact), None, None))
            .await;
        world
            .execute::<Deal>(deal, open_deal(deal, pipeline, None, Some(contact)))
            .await;
        world
            .execute::<Deal>(deal, move_deal(pipeline, "qualified"))
            .await;
        last = world.execute::<Case>(case, open_case(case, contact)).await;
        if let Some(mover) = previous.filter(|_| round % 4 == 3) {
            last = world
                .execute::<Contact>(mover, move_contact(Some(company)))
                .await;
        }
        previous = Some(contact);
    }
    last
}

fn assert_same_rows(left: &[(String, Vec<String>)], right: &[(String, Vec<String>)], what: &str) {
    assert_eq!(left.len(), right.len());
    for ((table, left_rows), (_, right_rows)) in left.iter().zip(right) {
        assert!(
            left_rows == right_rows,
            "table {table}: {what} disagree ({} and {} rows)",
            left_rows.len(),
            right_rows.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_stream_and_restarted_equals_a_rebuild_from_the_first_event() {
    let world = World::new().await;
    let pipeline = Uuid::now_v7();
    world
        .execute::<Pipeline>(pipeline, create_pipeline(pipeline))
        .await;
    let mut first = world.start_projector();
    let writing = async {
        let (a, b, c) = tokio::join!(
            write_rounds(&world, pipeline, 12),
            write_rounds(&world, pipeline, 12),
            write_rounds(&world, pipeline, 12)
        );
        a.max(b).max(c)
    };
    let killing = async move {
        first
            .wait_until("applies part of the stream", |status| status.position >= 40)
            .await;
        first.kill().await;
    };
    let (written, ()) = tokio::join!(writing, killing);
    let last = write_rounds(&world, pipeline, 4).await.max(written);

    let second = world.start_projector();
    let live = world.caught_up(last).await;
    second.stop().await;
    let restarted = world.rows(&live).await;
    let count = |table: &str| {
        restarted
            .iter()
            .find(|(name, _)| name == table)
            .map_or(0, |(_, rows)| rows.len())
    };
    // 40 rounds: a company, a contact, a call, a deal and a case each.
    assert_eq!(count("links"), 40 * 5);
    assert!(count("entries") >= 40 * 11, "{} entries", count("entries"));

    let rebuilt = world.rebuild().await;
    assert_ne!(rebuilt, live, "the rebuild made a new generation");
    let rebuilt_rows = world.rows(&rebuilt).await;
    assert_same_rows(
        &restarted,
        &rebuilt_rows,
        "the restarted projector and the rebuild",
    );
    world.stop().await;
}

/// One step of a random workload; indexes pick among the records created so far.
#[derive(Debug, Clone)]
enum Step {
    Company,
    Contact {
        company: usize,
    },
    Move {
        contact: usize,
        company: Option<usize>,
    },
    Deal {
        contact: usize,
    },
    Stage {
        deal: usize,
    },
    Call {
        contact: usize,
        deal: Option<usize>,
    },
    Task {
        deal: usize,
    },
    Case {
        contact: usize,
    },
    Open {
        case: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Company),
        (0usize..6).prop_map(|company| Step::Contact { company }),
        (0usize..6, proptest::option::of(0usize..6))
            .prop_map(|(contact, company)| Step::Move { contact, company }),
        (0usize..6).prop_map(|contact| Step::Deal { contact }),
        (0usize..6).prop_map(|deal| Step::Stage { deal }),
        (0usize..6, proptest::option::of(0usize..6))
            .prop_map(|(contact, deal)| Step::Call { contact, deal }),
        (0usize..6).prop_map(|deal| Step::Task { deal }),
        (0usize..6).prop_map(|contact| Step::Case { contact }),
        (0usize..6).prop_map(|case| Step::Open { case }),
    ]
}

/// Runs `steps` as valid commands (a step that picks a record not there yet, or that the
/// record's state does not allow, is left out); returns the last position.
async fn run_workload(world: &World, steps: &[Step]) -> u64 {
    let t = start();
    let pipeline = Uuid::now_v7();
    let mut last = world
        .execute_at::<Pipeline>(pipeline, create_pipeline(pipeline), t)
        .await;
    let acme = Uuid::now_v7();
    last = last.max(
        world
            .execute_at::<Company>(acme, create_company(acme, "Acme"), t)
            .await,
    );
    let mut companies = vec![acme];
    let mut contacts: Vec<(Uuid, Option<Uuid>)> = Vec::new();
    let mut deals: Vec<(Uuid, bool)> = Vec::new();
    let mut cases: Vec<(Uuid, bool)> = Vec::new();
    for (offset, step) in steps.iter().enumerate() {
        let at = t + minutes(offset as i64 + 1);
        let position = match *step {
            Step::Company => {
                let id = Uuid::now_v7();
                companies.push(id);
                world
                    .execute_at::<Company>(id, create_company(id, "Company"), at)
                    .await
            }
            Step::Contact { company } => {
                let id = Uuid::now_v7();
                let company_id = companies[company % companies.len()];
                contacts.push((id, Some(company_id)));
                world
                    .execute_at::<Contact>(
                        id,
                        create_contact(id, "Ada", "Lovelace", Some(company_id)),
                        at,
                    )
                    .await
            }
            Step::Move { contact, company } => {
                let Some((id, current)) = contacts.get_mut(contact) else {
                    continue;
                };
                let to = company.map(|index| companies[index % companies.len()]);
                if *current == to {
                    continue;
                }
                *current = to;
                let id = *id;
                world.execute_at::<Contact>(id, move_contact(to), at).await
            }
            Step::Deal { contact } => {
                let Some((contact_id, company_id)) = contacts.get(contact).copied() else {
                    continue;
                };
                let id = Uuid::now_v7();
                deals.push((id, false));
                world
                    .execute_at::<Deal>(
                        id,
                        open_deal(id, pipeline, company_id, Some(contact_id)),
                        at,
                    )
                    .await
            }
            Step::Stage { deal } => {
                let Some((id, qualified)) = deals.get_mut(deal) else {
                    continue;
                };
                let stage = if *qualified { "lead" } else { "qualified" };
                *qualified = !*qualified;
                let id = *id;
                world
                    .execute_at::<Deal>(id, move_deal(pipeline, stage), at)
                    .await
            }
            Step::Call { contact, deal } => {
                let Some((contact_id, _)) = contacts.get(contact).copied() else {
                    continue;
                };
                let deal_id = deal.and_then(|index| deals.get(index)).map(|(id, _)| *id);
                let id = Uuid::now_v7();
                world
                    .execute_at::<Activity>(
                        id,
                        log_call(id, at, Some(contact_id), None, deal_id),
                        at,
                    )
                    .await
            }
            Step::Task { deal } => {
                let Some((deal_id, _)) = deals.get(deal).copied() else {
                    continue;
                };
                let id = Uuid::now_v7();
                world
                    .execute_at::<Task>(
                        id,
                        create_task(id, at + minutes(60), None, Some(deal_id)),
                        at,
                    )
                    .await
            }
            Step::Case { contact } => {
                let Some((contact_id, _)) = contacts.get(contact).copied() else {
                    continue;
                };
                let id = Uuid::now_v7();
                cases.push((id, false));
                world
                    .execute_at::<Case>(id, open_case(id, contact_id), at)
                    .await
            }
            Step::Open { case } => {
                let Some((id, opened)) = cases.get_mut(case) else {
                    continue;
                };
                if *opened {
                    continue;
                }
                *opened = true;
                let id = *id;
                world
                    .execute_at::<Case>(id, case_status(CaseStatus::Open), at)
                    .await
            }
        };
        last = last.max(position);
    }
    last
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4))]

    #[test]
    fn a_rebuild_from_the_first_event_equals_the_live_generation(
        steps in proptest::collection::vec(step(), 1..50)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let world = World::new().await;
            let projector = world.start_projector();
            let last = run_workload(&world, &steps).await;
            let live = world.caught_up(last).await;
            let live_rows = world.rows(&live).await;
            projector.stop().await;
            let rebuilt = world.rebuild().await;
            assert_ne!(live, rebuilt, "the rebuild made a new generation");
            let rebuilt_rows = world.rows(&rebuilt).await;
            assert_same_rows(&live_rows, &rebuilt_rows, "the live and the rebuilt generation");
            world.stop().await;
        });
    }
}
