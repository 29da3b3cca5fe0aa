//! The records read model against the real PostgreSQL and NATS: domain commands appended through
//! the store, relayed to a stream of the test's own, projected by the `records` projector, and
//! read back through `RecordQueries` as the API reads them.

mod support;

use std::collections::BTreeSet;

use domain::contact::{self, Contact, ContactChanges};
use domain::user::{self, NewUser, User};
use domain::values::{Role, Username};
use domain::{Aggregate, DomainEvent, Patch, activity, case, company, deal, lead, pipeline, task};
use eventstore::{ExpectedVersion, NewEvent, Reader, StreamAppend, StreamRef};
use records::{Collection, ListFilter, NAME, Page, PageRequest, Records, RecordsError, Visibility};
use serde::Serialize;
use serde_json::json;
use support::commands::*;
use support::{World, new_events};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The record the domain rebuilds from the store's events, as the read model must hold it.
async fn folded_by_the_domain<A>(world: &World, id: Uuid) -> serde_json::Value
where
    A: Aggregate<State = Option<A>> + Serialize,
{
    let stored = Reader::new(world.store_pool.clone())
        .load_stream(&StreamRef::new(A::STREAM_TYPE, id), 0)
        .await
        .expect("the stream loads");
    let record = stored.iter().fold(None, |state, event| {
        let event = A::Event::from_stored(&event.event_type, event.schema_version, &event.payload)
            .expect("a stored event reads");
        A::evolve(state, &event)
    });
    let mut body = serde_json::to_value(record.expect("the record exists")).expect("serialises");
    body["version"] = json!(stored.len());
    body
}

/// The ids of a page's items.
fn ids(page: &Page) -> Vec<Uuid> {
    page.items
        .iter()
        .map(|item| {
            item["id"]
                .as_str()
                .and_then(|id| Uuid::parse_str(id).ok())
                .expect("every item has its id")
        })
        .collect()
}

async fn list_ids(
    queries: &support::Queries,
    schema: &str,
    collection: Collection,
    filter: ListFilter,
) -> BTreeSet<Uuid> {
    let page = queries
        .list(schema, collection, &filter, PageRequest::default())
        .await
        .expect("the list answers");
    assert_eq!(page.next_cursor, None, "one page holds them all");
    ids(&page).into_iter().collect()
}

fn set<const N: usize>(ids: [Uuid; N]) -> BTreeSet<Uuid> {
    ids.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_returns_every_kind_of_record_as_the_domain_folds_it_with_its_version() {
    let world = World::new().await;
    let mut projector = world.start_projector();
    let owner = Uuid::now_v7();

    // A user's events are not records: they are passed over.
    let user_id = Uuid::now_v7();
    world
        .execute::<User>(
            user_id,
            user::Command::Create(NewUser {
                id: user_id,
                username: Username::parse("ada").expect("a username"),
                role: Role::Sales,
                team: None,
                scopes: Vec::new(),
            }),
        )
        .await;

    let company_id = Uuid::now_v7();
    world
        .execute::<company::Company>(
            company_id,
            create_company(
                company_id,
                "Acme GmbH",
                Some("acme.example"),
                &["partner"],
                owner,
                None,
            ),
        )
        .await;
    world
        .execute::<company::Company>(
            company_id,
            company::Command::Update(company::CompanyChanges {
                name: Some(name("Acme Holding GmbH")),
                tags: Some(tags(&["partner", "key_account"])),
                ..company::CompanyChanges::default()
            }),
        )
        .await;
    let contact_id = Uuid::now_v7();
    world
        .execute::<Contact>(
            contact_id,
            create_contact(
                contact_id,
                ContactSpec {
                    first_name: "Ada",
                    last_name: "Lovelace",
                    email: "ada@acme.example",
                    company_id,
                    tags: &["champion"],
                    owner_id: owner,
                    team: Some("Berlin"),
                },
            ),
        )
        .await;
    let pipeline_id = Uuid::now_v7();
    world
        .execute::<pipeline::Pipeline>(pipeline_id, create_pipeline(pipeline_id))
        .await;
    let [stays, wins, moves] = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    for deal_id in [stays, wins, moves] {
        world
            .execute::<deal::Deal>(
                deal_id,
                open_deal(deal_id, pipeline_id, "qualified", owner, Some(company_id)),
            )
            .await;
    }
    world
        .execute::<deal::Deal>(wins, deal::Command::Win { reason: None })
        .await;
    world
        .execute::<deal::Deal>(moves, move_deal(pipeline_id, "proposal"))
        .await;
    let activity_id = Uuid::now_v7();
    world
        .execute::<activity::Activity>(activity_id, log_call(activity_id, contact_id, company_id))
        .await;
    let task_id = Uuid::now_v7();
    world
        .execute::<task::Task>(task_id, create_task(task_id, owner, company_id))
        .await;
    world
        .execute::<task::Task>(task_id, task::Command::Complete)
        .await;
    let case_id = Uuid::now_v7();
    world
        .execute::<case::Case>(case_id, open_case(case_id, contact_id, owner))
        .await;
    let lead_id = Uuid::now_v7();
    let last = world
        .execute::<lead::Lead>(lead_id, capture_lead(lead_id, owner))
        .await;

    let schema = world.caught_up(last).await;
    let queries = world.queries();
    let company = queries
        .get(&schema, Collection::Companies, company_id)
        .await
        .expect("get answers")
        .expect("the company is there");
    assert_eq!(company.version, 3, "created, renamed, retagged");
    assert_eq!(company.body["name"], "Acme Holding GmbH");
    assert_eq!(company.body["version"], 3);
    assert_eq!(
        company.body,
        folded_by_the_domain::<company::Company>(&world, company_id).await
    );

    let expected = [
        (
            Collection::Contacts,
            contact_id,
            folded_by_the_domain::<Contact>(&world, contact_id).await,
        ),
        (
            Collection::Pipelines,
            pipeline_id,
            folded_by_the_domain::<pipeline::Pipeline>(&world, pipeline_id).await,
        ),
        (
            Collection::Deals,
            wins,
            folded_by_the_domain::<deal::Deal>(&world, wins).await,
        ),
        (
            Collection::Deals,
            moves,
            folded_by_the_domain::<deal::Deal>(&world, moves).await,
        ),
        (
            Collection::Activities,
            activity_id,
            folded_by_the_domain::<activity::Activity>(&world, activity_id).await,
        ),
        (
            Collection::Tasks,
            task_id,
            folded_by_the_domain::<task::Task>(&world, task_id).await,
        ),
        (
            Collection::Cases,
            case_id,
            folded_by_the_domain::<case::Case>(&world, case_id).await,
        ),
        (
            Collection::Leads,
            lead_id,
            folded_by_the_domain::<lead::Lead>(&world, lead_id).await,
        ),
    ];
    for (collection, id, body) in expected {
        let record = queries
            .get(&schema, collection, id)
            .await
            .expect("get answers")
            .unwrap_or_else(|| panic!("{collection} {id} is there"));
        assert_eq!(record.body, body, "{collection} {id}");
        assert_eq!(json!(record.version), body["version"]);
    }
    let lead = queries
        .get(&schema, Collection::Leads, lead_id)
        .await
        .expect("get answers")
        .expect("the lead is there");
    assert_eq!(
        lead.position, last,
        "a record knows the position of its last event"
    );

    assert_eq!(
        queries
            .get(&schema, Collection::Contacts, company_id)
            .await
            .expect("get answers"),
        None,
        "a company's id is no contact"
    );
    assert_eq!(
        queries
            .get(&schema, Collection::Contacts, user_id)
            .await
            .expect("get answers"),
        None
    );

    projector
        .wait_until("reports no failure", |status| status.failure.is_none())
        .await;
    projector.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_filter_returns_exactly_the_matching_records() {
    let world = World::new().await;
    let projector = world.start_projector();
    let (owner_a, owner_b) = (Uuid::now_v7(), Uuid::now_v7());

    let [acme, globex, initech] = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    world
        .execute::<company::Company>(
            acme,
            create_company(
                acme,
                "Acme",
                Some("acme.example"),
                &["partner", "manufacturing"],
                owner_a,
                Some("Berlin"),
            ),
        )
        .await;
    world
        .execute::<company::Company>(
            globex,
            create_company(
                globex,
                "Globex",
                Some("globex.example"),
                &["partner"],
                owner_b,
                Some("Munich"),
            ),
        )
        .await;
    world
        .execute::<company::Company>(
            initech,
            create_company(initech, "Initech", None, &[], owner_b, None),
        )
        .await;
    let [ada, charles, grace, adam] = [
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    ];
    let people = [
        (
            ada,
            "Ada",
            "Lovelace",
            "ada@acme.example",
            acme,
            &["champion"][..],
            owner_a,
            Some("Berlin"),
        ),
        (
            charles,
            "Charles",
            "Babbage",
            "charles@acme.example",
            acme,
            &["vip"][..],
            owner_b,
            Some("Munich"),
        ),
        (
            grace,
            "Grace",
            "Hopper",
            "grace@globex.example",
            globex,
            &[][..],
            owner_b,
            None,
        ),
        (
            adam,
            "Adam",
            "Smith",
            "adam.smith@initech.example",
            initech,
            &["champion"][..],
            owner_a,
            None,
        ),
    ];
    for (id, first_name, last_name, email, company_id, tag_list, owner_id, team_name) in people {
        world
            .execute::<Contact>(
                id,
                create_contact(
                    id,
                    ContactSpec {
                        first_name,
                        last_name,
                        email,
                        company_id,
                        tags: tag_list,
                        owner_id,
                        team: team_name,
                    },
                ),
            )
            .await;
    }
    // Changes after creation move the rows between filters.
    world
        .execute::<Contact>(
            ada,
            contact::Command::Update(ContactChanges {
                tags: Some(tags(&["champion", "vip"])),
                ..ContactChanges::default()
            }),
        )
        .await;
    let last = world
        .execute::<Contact>(
            charles,
            contact::Command::Update(ContactChanges {
                company_id: Patch::Set(globex),
                ..ContactChanges::default()
            }),
        )
        .await;

    let schema = world.caught_up(last).await;
    let queries = world.queries();
    let contacts = |filter: ListFilter| list_ids(&queries, &schema, Collection::Contacts, filter);

    assert_eq!(
        contacts(ListFilter::default()).await,
        set([ada, charles, grace, adam])
    );
    let tag = |tag: &str| ListFilter {
        tag: Some(tag.to_owned()),
        ..ListFilter::default()
    };
    assert_eq!(contacts(tag("vip")).await, set([ada, charles]));
    assert_eq!(contacts(tag(" Champion ")).await, set([ada, adam]));
    assert_eq!(contacts(tag("nobody")).await, set([]));
    assert_eq!(
        list_ids(&queries, &schema, Collection::Deals, tag("vip")).await,
        set([]),
        "deals carry no tags"
    );
    let owned_by = |owner_id| ListFilter {
        owner_id: Some(owner_id),
        ..ListFilter::default()
    };
    assert_eq!(contacts(owned_by(owner_a)).await, set([ada, adam]));
    assert_eq!(contacts(owned_by(owner_b)).await, set([charles, grace]));
    let of_company = |company_id| ListFilter {
        company_id: Some(company_id),
        ..ListFilter::default()
    };
    assert_eq!(contacts(of_company(acme)).await, set([ada]));
    assert_eq!(contacts(of_company(globex)).await, set([charles, grace]));
    let search = |q: &str| ListFilter {
        q: Some(q.to_owned()),
        ..ListFilter::default()
    };
    assert_eq!(
        contacts(search("ada")).await,
        set([ada, adam]),
        "a first-name prefix"
    );
    assert_eq!(
        contacts(search("Ada Love")).await,
        set([ada]),
        "every word must match"
    );
    assert_eq!(
        contacts(search("grace@globex.example")).await,
        set([grace]),
        "an e-mail"
    );
    assert_eq!(
        contacts(search("acme.example")).await,
        set([ada, charles]),
        "an e-mail's domain"
    );
    assert_eq!(
        contacts(search("babb")).await,
        set([charles]),
        "a last-name prefix"
    );
    assert_eq!(
        contacts(search("  ")).await,
        set([ada, charles, grace, adam])
    );
    assert_eq!(contacts(search("!!")).await, set([]));
    let visible_to = |owner_ids: Vec<Uuid>, teams: &[&str]| ListFilter {
        visible_to: Some(Visibility {
            owner_ids,
            teams: teams.iter().map(|team| (*team).to_owned()).collect(),
        }),
        ..ListFilter::default()
    };
    assert_eq!(
        contacts(visible_to(vec![owner_a], &["Munich"])).await,
        set([ada, adam, charles, grace]),
        "grace through her company, Munich's Globex"
    );
    assert_eq!(contacts(visible_to(vec![], &["Berlin"])).await, set([ada]));
    assert_eq!(
        contacts(visible_to(vec![], &[])).await,
        set([]),
        "no owner and no team: nothing"
    );
    let combined = ListFilter {
        tag: Some("vip".to_owned()),
        ..visible_to(vec![owner_b], &[])
    };
    assert_eq!(contacts(combined).await, set([charles]), "filters add up");

    let companies = |filter| list_ids(&queries, &schema, Collection::Companies, filter);
    assert_eq!(companies(tag("partner")).await, set([acme, globex]));
    assert_eq!(
        companies(search("acme.ex")).await,
        set([acme]),
        "a company's domain"
    );
    assert_eq!(companies(search("glob")).await, set([globex]));
    assert_eq!(
        companies(visible_to(vec![owner_b], &[])).await,
        set([globex, initech])
    );

    projector.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_walk_every_record_once_in_id_order() {
    let world = World::new().await;
    let projector = world.start_projector();
    let owner = Uuid::now_v7();
    let mut created = Vec::new();
    let mut last = 0;
    for index in 0..23 {
        let id = Uuid::now_v7();
        last = world
            .execute::<company::Company>(
                id,
                create_company(id, &format!("Company {index}"), None, &[], owner, None),
            )
            .await;
        created.push(id);
    }
    created.sort();
    let schema = world.caught_up(last).await;
    let queries = world.queries();

    for limit in [5, 23, 1] {
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = queries
                .list(
                    &schema,
                    Collection::Companies,
                    &ListFilter::default(),
                    PageRequest { limit, cursor },
                )
                .await
                .expect("the page answers");
            pages += 1;
            assert!(page.items.len() <= limit as usize);
            seen.extend(ids(&page));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(
            seen, created,
            "limit {limit}: every record once, in id order"
        );
        assert_eq!(
            pages,
            created.len().div_ceil(limit as usize),
            "limit {limit}: no empty last page"
        );
    }

    let bad_cursor = queries
        .list(
            &schema,
            Collection::Companies,
            &ListFilter::default(),
            PageRequest {
                limit: 5,
                cursor: Some("not-a-cursor".to_owned()),
            },
        )
        .await;
    assert!(matches!(bad_cursor, Err(RecordsError::BadCursor)));
    let bad_limit = queries
        .list(
            &schema,
            Collection::Companies,
            &ListFilter::default(),
            PageRequest {
                limit: 501,
                cursor: None,
            },
        )
        .await;
    assert!(matches!(bad_limit, Err(RecordsError::BadLimit(501))));

    projector.stop().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_domain_cannot_read_stops_the_projector_at_it() {
    let world = World::new().await;
    let mut projector = world.start_projector();
    let owner = Uuid::now_v7();
    let before = Uuid::now_v7();
    world
        .execute::<company::Company>(
            before,
            create_company(before, "Before", None, &[], owner, None),
        )
        .await;
    let broken = world
        .append(StreamAppend::events(
            StreamRef::new("contact", Uuid::now_v7()),
            ExpectedVersion::NoStream,
            vec![NewEvent {
                event_type: "exploded".to_owned(),
                schema_version: 1,
                occurred_at: chrono::Utc::now(),
                payload: json!({}),
            }],
        ))
        .await;
    let after = Uuid::now_v7();
    world
        .execute::<company::Company>(
            after,
            create_company(after, "After", None, &[], owner, None),
        )
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
    let queries = world.queries();
    let get = |id| queries.get(&schema, Collection::Companies, id);
    assert!(get(before).await.expect("get answers").is_some());
    assert!(
        get(after).await.expect("get answers").is_none(),
        "nothing after it is applied"
    );
    let failure = projector
        .status
        .borrow()
        .failure
        .clone()
        .expect("a failure");
    assert!(
        failure.1.contains("exploded"),
        "the failure names the event: {}",
        failure.1
    );

    projector.stop().await;
    world.stop().await;
}

/// One writer's rounds: each creates a company and a contact of it, and renames and retags the
/// contact of the round before, all in one atomic append.
async fn write_rounds(world: &World, rounds: usize) -> u64 {
    let owner = Uuid::now_v7();
    let mut previous: Option<(Uuid, Contact)> = None;
    let mut last = 0;
    for round in 0..rounds {
        let company_id = Uuid::now_v7();
        let company_events = company::Company::decide(
            &None,
            create_company(
                company_id,
                &format!("Company {round}"),
                None,
                &["load"],
                owner,
                None,
            ),
            &world.context(),
        )
        .expect("a company is created");
        let contact_id = Uuid::now_v7();
        let contact_events = Contact::decide(
            &None,
            create_contact(
                contact_id,
                ContactSpec {
                    first_name: "Round",
                    last_name: &format!("Number {round}"),
                    email: &format!("round{round}@load.example"),
                    company_id,
                    tags: &[],
                    owner_id: owner,
                    team: None,
                },
            ),
            &world.context(),
        )
        .expect("a contact is created");
        let mut appends = vec![
            StreamAppend::events(
                StreamRef::new("company", company_id),
                ExpectedVersion::NoStream,
                new_events(&company_events),
            ),
            StreamAppend::events(
                StreamRef::new("contact", contact_id),
                ExpectedVersion::NoStream,
                new_events(&contact_events),
            ),
        ];
        if let Some((previous_id, previous_contact)) = previous.take() {
            let changes = Contact::decide(
                &Some(previous_contact),
                contact::Command::Update(ContactChanges {
                    first_name: Some(name("Renamed")),
                    tags: Some(tags(&["seen"])),
                    ..ContactChanges::default()
                }),
                &world.context(),
            )
            .expect("a contact changes");
            appends.push(StreamAppend::events(
                StreamRef::new("contact", previous_id),
                ExpectedVersion::Exactly(1),
                new_events(&changes),
            ));
        }
        last = world.append_all(appends).await;
        let contact = contact_events
            .iter()
            .fold(None, Contact::evolve)
            .expect("created");
        previous = Some((contact_id, contact));
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_stream_and_restarted_equals_a_rebuild_from_the_first_event() {
    let world = World::new().await;
    let mut first = world.start_projector();

    let writing = async {
        let (a, b, c, d) = tokio::join!(
            write_rounds(&world, 50),
            write_rounds(&world, 50),
            write_rounds(&world, 50),
            write_rounds(&world, 50)
        );
        a.max(b).max(c).max(d)
    };
    let killing = async move {
        first
            .wait_until("applies part of the stream", |status| status.position >= 50)
            .await;
        first.task.abort();
        let aborted = first.task.await;
        assert!(
            aborted.is_err_and(|error| error.is_cancelled()),
            "the projector was killed"
        );
    };
    let (written, ()) = tokio::join!(writing, killing);
    // More while no projector runs at all.
    let last = write_rounds(&world, 20).await.max(written);

    let second = world.start_projector();
    let live_schema = world.caught_up(last).await;
    second.stop().await;
    let restarted = world.rows(&live_schema).await;
    let count = |name: &str| {
        restarted
            .iter()
            .find(|(table, _)| table == name)
            .map_or(0, |(_, rows)| rows.len())
    };
    assert_eq!(count("companies"), 220);
    assert_eq!(count("contacts"), 220);

    let report = projector::rebuild(
        world.owner_pool.clone(),
        world.jetstream.clone(),
        &world.nats,
        Records,
        CancellationToken::new(),
    )
    .await
    .expect("the rebuild completes");
    assert!(report.position >= last);
    let (rebuilt_schema, _) = world
        .reader()
        .live_schema(NAME)
        .await
        .expect("a live generation");
    assert_ne!(
        rebuilt_schema, live_schema,
        "the rebuild made a new generation"
    );
    let rebuilt = world.rows(&rebuilt_schema).await;
    for ((table, restarted_rows), (_, rebuilt_rows)) in restarted.iter().zip(&rebuilt) {
        assert!(
            restarted_rows == rebuilt_rows,
            "table {table}: the restarted projector and the rebuild disagree"
        );
    }

    world.stop().await;
}
