//! Who may see and change what, over HTTP: for every role, every record collection's list, and
//! for a record of the caller's own, of its team and of another team: the read by id, a change
//! and a creation, asserting allow or deny; pipelines (read by whoever reads deals, defined by
//! managers); lists that hold only what the caller may see; and the access log: every
//! disclosure and every refusal is an access event, committed before the answer.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};
use system_tests::TestSystem;
use uuid::Uuid;

const ROLES: [&str; 8] = [
    "admin",
    "manager",
    "sales",
    "support",
    "marketing",
    "analyst",
    "auditor",
    "service",
];

const COLLECTIONS: [&str; 7] = [
    "companies",
    "contacts",
    "leads",
    "deals",
    "activities",
    "tasks",
    "cases",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Own,
    Team,
    Other,
}

/// The defaults of the access rules, written out (not computed by the policy under test):
/// may `role` (of team Berlin) read and write a `kind` record of `collection`?
fn allowed(role: &str, collection: &str, kind: Kind) -> bool {
    let everything = |collections: &[&str]| collections.contains(&collection);
    match role {
        "admin" => true,
        "manager" | "sales" => kind != Kind::Other,
        "support" => everything(&["companies", "contacts", "activities", "tasks", "cases"]),
        "marketing" => everything(&["contacts", "leads"]),
        // analyst: reports and history; auditor: the audit trail; service: its scopes (none).
        _ => false,
    }
}

/// One set of records, each linked the way records link in real use.
struct Records {
    ids: BTreeMap<&'static str, Uuid>,
}

async fn records_owned_by(system: &TestSystem, owner: Uuid, pipeline: Uuid, name: &str) -> Records {
    let admin = &system.admin;
    let company = system
        .post(
            admin,
            "/v1/companies",
            json!({"name": format!("{name} GmbH"), "owner_id": owner}),
        )
        .await
        .expect(201)
        .id();
    let contact = system
        .post(
            admin,
            "/v1/contacts",
            json!({"first_name": name, "last_name": "Example", "company_id": company, "owner_id": owner}),
        )
        .await
        .expect(201)
        .id();
    let lead = system
        .post(
            admin,
            "/v1/leads",
            json!({"name": format!("{name} enquiry"), "source": "web", "owner_id": owner}),
        )
        .await
        .expect(201)
        .id();
    let deal = system
        .post(
            admin,
            "/v1/deals",
            json!({"title": format!("{name} deal"), "pipeline_id": pipeline, "stage": "new",
                   "amount": {"amount_minor": 1000, "currency": "EUR"},
                   "company_id": company, "owner_id": owner}),
        )
        .await
        .expect(201)
        .id();
    let activity = system
        .post(
            admin,
            "/v1/activities",
            json!({"kind": "call", "subject": format!("call {name}"),
                   "occurred_at": "2026-01-05T10:00:00Z", "company_id": company}),
        )
        .await
        .expect(201)
        .id();
    let task = system
        .post(
            admin,
            "/v1/tasks",
            json!({"title": format!("follow up {name}"), "due_at": "2026-12-01T10:00:00Z",
                   "assignee_id": owner, "company_id": company}),
        )
        .await
        .expect(201)
        .id();
    let case = system
        .post(
            admin,
            "/v1/cases",
            json!({"subject": format!("{name} cannot log in"), "contact_id": contact,
                   "priority": "normal", "assignee_id": owner}),
        )
        .await
        .expect(201)
        .id();
    Records {
        ids: BTreeMap::from([
            ("companies", company),
            ("contacts", contact),
            ("leads", lead),
            ("deals", deal),
            ("activities", activity),
            ("tasks", task),
            ("cases", case),
        ]),
    }
}

/// A change each collection accepts again and again (or refuses as a conflict, never as 403).
fn a_change(collection: &str, id: Uuid) -> (Method, String, Value) {
    match collection {
        "companies" => (
            Method::PATCH,
            format!("/v1/companies/{id}"),
            json!({"industry": "Software"}),
        ),
        "contacts" => (
            Method::PATCH,
            format!("/v1/contacts/{id}"),
            json!({"title": "CFO"}),
        ),
        "leads" => (Method::POST, format!("/v1/leads/{id}/qualify"), json!({})),
        "deals" => (
            Method::POST,
            format!("/v1/deals/{id}/stage"),
            json!({"stage": "new"}),
        ),
        "activities" => (
            Method::POST,
            format!("/v1/activities/{id}/complete"),
            json!({}),
        ),
        "tasks" => (Method::POST, format!("/v1/tasks/{id}/complete"), json!({})),
        "cases" => (
            Method::POST,
            format!("/v1/cases/{id}/status"),
            json!({"status": "open"}),
        ),
        other => panic!("no change for {other}"),
    }
}

/// A new record of `collection` owned by `owner` (or linked to `records`, of the same owner).
fn a_creation(collection: &str, owner: Uuid, records: &Records, pipeline: Uuid) -> (String, Value) {
    let body = match collection {
        "companies" => json!({"name": "New GmbH", "owner_id": owner}),
        "contacts" => json!({"first_name": "New", "last_name": "Person", "owner_id": owner}),
        "leads" => json!({"name": "New enquiry", "source": "web", "owner_id": owner}),
        "deals" => json!({"title": "New deal", "pipeline_id": pipeline, "stage": "new",
                          "amount": {"amount_minor": 500, "currency": "EUR"}, "owner_id": owner}),
        "activities" => json!({"kind": "note", "subject": "New note",
                               "occurred_at": "2026-01-05T10:00:00Z",
                               "company_id": records.ids["companies"]}),
        "tasks" => json!({"title": "New task", "due_at": "2026-12-01T10:00:00Z",
                          "assignee_id": owner, "company_id": records.ids["companies"]}),
        "cases" => json!({"subject": "New case", "contact_id": records.ids["contacts"],
                          "priority": "low", "assignee_id": owner}),
        other => panic!("no creation for {other}"),
    };
    (format!("/v1/{collection}"), body)
}

async fn access_events(system: &TestSystem) -> Vec<(String, Value)> {
    let (client, connection) = tokio_postgres::connect(&system.database.url, tokio_postgres::NoTls)
        .await
        .expect("the test database answers");
    tokio::spawn(connection);
    client
        .query(
            "SELECT actor, payload FROM events WHERE category = 'access' ORDER BY position",
            &[],
        )
        .await
        .expect("the log reads")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

#[tokio::test]
async fn every_record_route_allows_exactly_what_each_role_may_do() {
    let system = TestSystem::start().await;
    let admin = system.admin.clone();
    let pipeline = system
        .post(
            &admin,
            "/v1/pipelines",
            json!({"name": "Sales", "stages": [{"key": "new", "name": "New", "probability": 10},
                                                {"key": "won_soon", "name": "Closing", "probability": 80}]}),
        )
        .await
        .expect(201)
        .id();
    let (peer, _) = system.user("berlin-peer", "sales", Some("Berlin")).await;
    let (stranger, _) = system.user("munich-sales", "sales", Some("Munich")).await;
    let team_records = records_owned_by(&system, peer, pipeline, "Team").await;
    let other_records = records_owned_by(&system, stranger, pipeline, "Other").await;

    let mut refused = 0;
    let mut disclosed = 0;
    for role in ROLES {
        let (me, token) = system
            .user(&format!("{role}-berlin"), role, Some("Berlin"))
            .await;
        let own_records = records_owned_by(&system, me, pipeline, role).await;
        let last = system
            .post(&admin, "/v1/companies", json!({"name": "marker"}))
            .await
            .expect(201)
            .position()
            .to_string();
        for collection in COLLECTIONS {
            // A list is open to whoever reaches any record of the collection.
            let expected = allowed(role, collection, Kind::Own);
            let list = system
                .get(
                    &token,
                    &format!("/v1/{collection}?limit=1&min_position={last}"),
                )
                .await;
            assert_eq!(
                list.status.as_u16(),
                if expected { 200 } else { 403 },
                "{role} listing {collection}: {}",
                list.body
            );
            if !expected {
                refused += 1;
            }
        }
        // Pipelines belong to no one: whoever reads deals reads them, managers define them.
        let reads_pipelines = matches!(role, "admin" | "manager" | "sales");
        let pipeline_read = system
            .get(
                &token,
                &format!("/v1/pipelines/{pipeline}?min_position={last}"),
            )
            .await;
        assert_eq!(
            pipeline_read.status.as_u16(),
            if reads_pipelines { 200 } else { 403 },
            "{role} reading a pipeline"
        );
        let defines_pipelines = matches!(role, "admin" | "manager");
        let defined = system
            .post(
                &token,
                "/v1/pipelines",
                json!({"name": format!("{role} process"),
                       "stages": [{"key": "new", "name": "New", "probability": 10}]}),
            )
            .await;
        assert_eq!(
            defined.status.as_u16(),
            if defines_pipelines { 201 } else { 403 },
            "{role} defining a pipeline: {}",
            defined.body
        );
        refused += usize::from(!reads_pipelines) + usize::from(!defines_pipelines);
        for (kind, records) in [
            (Kind::Own, &own_records),
            (Kind::Team, &team_records),
            (Kind::Other, &other_records),
        ] {
            for collection in COLLECTIONS {
                let id = records.ids[collection];
                let expected = allowed(role, collection, kind);
                let read = system
                    .send(
                        Method::GET,
                        Some(&token),
                        &format!("/v1/{collection}/{id}"),
                        &[("x-crm-min-position", &last)],
                        None,
                    )
                    .await;
                let status = read.status.as_u16();
                assert_eq!(
                    status,
                    if expected { 200 } else { 403 },
                    "{role} reading {kind:?} {collection}: {}",
                    read.body
                );
                if expected {
                    disclosed += 1;
                } else {
                    refused += 1;
                }

                let (method, path, body) = a_change(collection, id);
                let body = serde_json::to_vec(&body).expect("json");
                let write = system
                    .send(method, Some(&token), &path, &[], Some(&body))
                    .await;
                let status = write.status.as_u16();
                if expected {
                    assert!(
                        matches!(status, 200 | 201 | 409),
                        "{role} changing {kind:?} {collection}: {status} {}",
                        write.body
                    );
                } else {
                    assert_eq!(
                        status, 403,
                        "{role} changing {kind:?} {collection}: {}",
                        write.body
                    );
                    refused += 1;
                }

                let owner = match kind {
                    Kind::Own => me,
                    Kind::Team => peer,
                    Kind::Other => stranger,
                };
                let (path, body) = a_creation(collection, owner, records, pipeline);
                let created = system.post(&token, &path, body).await;
                assert_eq!(
                    created.status.as_u16(),
                    if expected { 201 } else { 403 },
                    "{role} creating a {kind:?} record in {collection}: {}",
                    created.body
                );
                if !expected {
                    refused += 1;
                }
            }
        }
    }

    let events = access_events(&system).await;
    let outcome = |wanted: &str| {
        events
            .iter()
            .filter(|(_, payload)| payload["outcome"] == wanted)
            .count()
    };
    assert_eq!(outcome("denied"), refused, "every refusal is logged");
    assert!(
        outcome("allowed") >= disclosed,
        "every disclosure is logged ({} of {disclosed})",
        outcome("allowed")
    );
    system.stop().await;
}

#[tokio::test]
async fn a_list_holds_only_what_the_caller_may_see() {
    let system = TestSystem::start().await;
    let admin = system.admin.clone();
    let pipeline = system.one_stage_pipeline().await;
    let (me, token) = system.user("ada", "sales", Some("Berlin")).await;
    let (peer, _) = system.user("bob", "sales", Some("Berlin")).await;
    let (stranger, _) = system.user("carl", "sales", Some("Munich")).await;
    let mine = records_owned_by(&system, me, pipeline, "Mine").await;
    let team = records_owned_by(&system, peer, pipeline, "Team").await;
    let other = records_owned_by(&system, stranger, pipeline, "Other").await;
    let last = system
        .post(&admin, "/v1/companies", json!({"name": "marker"}))
        .await
        .expect(201)
        .position()
        .to_string();

    for collection in COLLECTIONS {
        let list = system
            .send(
                Method::GET,
                Some(&token),
                &format!("/v1/{collection}?limit=500"),
                &[
                    ("x-crm-min-position", &last),
                    ("x-crm-purpose", "weekly review"),
                ],
                None,
            )
            .await
            .expect(200);
        let ids: Vec<String> = list.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|item| item["id"].as_str().expect("an id").to_owned())
            .collect();
        let has = |records: &Records| ids.contains(&records.ids[collection].to_string());
        assert!(has(&mine), "{collection}: my own record is listed");
        assert!(has(&team), "{collection}: my team's record is listed");
        assert!(!has(&other), "{collection}: another team's record is not");
    }

    let events = access_events(&system).await;
    let lists: Vec<&Value> = events
        .iter()
        .map(|(_, payload)| payload)
        .filter(|payload| payload["action"] == "list")
        .collect();
    assert_eq!(lists.len(), COLLECTIONS.len(), "one access per list");
    for list in lists {
        assert_eq!(list["purpose"], "weekly review");
        assert_eq!(list["outcome"], "allowed");
        let named: Vec<&Value> = list["records"]
            .as_array()
            .expect("records")
            .iter()
            .collect();
        assert!(
            named.iter().all(|record| record["id"]
                != json!(other.ids[record["collection"].as_str().unwrap_or("")])),
            "the access names what was disclosed, and nothing of another team: {list}"
        );
    }
    system.stop().await;
}

#[tokio::test]
async fn a_read_is_logged_with_its_purpose_and_a_bad_token_of_a_known_user_too() {
    let system = TestSystem::start().await;
    let company = system
        .post(&system.admin, "/v1/companies", json!({"name": "Acme"}))
        .await
        .expect(201);
    let (user_id, token) = system.user("dora", "support", None).await;
    let read = system
        .send(
            Method::GET,
            Some(&token),
            &format!("/v1/companies/{}", company.id()),
            &[
                ("x-crm-min-position", &company.position().to_string()),
                ("x-crm-purpose", "customer called about an invoice"),
                ("x-request-id", "call-4711"),
            ],
            None,
        )
        .await
        .expect(200);
    assert_eq!(read.body["name"], "Acme");

    let forged = format!("crm_{}_{}", user_id.simple(), "0".repeat(64));
    system
        .get(&forged, &format!("/v1/companies/{}", company.id()))
        .await
        .expect(401);

    let events = access_events(&system).await;
    let (actor, read) = events
        .iter()
        .find(|(_, payload)| payload["action"] == "read")
        .expect("the read is logged");
    assert_eq!(actor, &format!("user:{user_id}"));
    assert_eq!(read["purpose"], "customer called about an invoice");
    assert_eq!(read["request_id"], "call-4711");
    assert_eq!(read["role"], "support");
    assert_eq!(read["route"], "GET /v1/companies/{id}");
    assert_eq!(
        read["records"],
        json!([{"collection": "companies", "id": company.id()}])
    );
    assert!(
        read["client"]
            .as_str()
            .is_some_and(|client| client.starts_with("127.0.0.1:"))
    );
    let (_, failed) = events
        .iter()
        .find(|(_, payload)| payload["outcome"] == "unauthenticated")
        .expect("the failed authentication is logged");
    assert_eq!(failed["action"], "authenticate");
    assert_eq!(failed["records"], json!([]));
    system.stop().await;
}

#[tokio::test]
async fn failed_authentications_of_a_user_are_logged_up_to_a_limit_a_minute_then_refused_unlogged()
{
    let system = TestSystem::start().await;
    let (user_id, token) = system.user("erin", "support", None).await;
    let forged = format!("crm_{}_{}", user_id.simple(), "0".repeat(64));
    for _ in 0..10 {
        system.get(&forged, "/v1/companies").await.expect(401);
    }
    let refused = system.get(&forged, "/v1/companies").await.expect(429);
    let wait: u64 = refused.headers["retry-after"]
        .to_str()
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    let failures = |events: Vec<(String, Value)>| {
        events
            .into_iter()
            .filter(|(_, payload)| payload["outcome"] == "unauthenticated")
            .count()
    };
    assert_eq!(failures(access_events(&system).await), 10);

    // The user's own token is not held back, and another user's failures are counted apart.
    system.get(&token, "/v1/companies").await.expect(200);
    system
        .get("not-a-token-of-ours", "/v1/companies")
        .await
        .expect(401);
    system.get(&forged, "/v1/companies").await.expect(429);
    assert_eq!(
        failures(access_events(&system).await),
        11,
        "one more: the token of no issued form, tried on the bootstrap admin"
    );
    system.stop().await;
}

#[tokio::test]
async fn a_service_token_reaches_what_its_scopes_name() {
    let system = TestSystem::start().await;
    let company = system
        .post(&system.admin, "/v1/companies", json!({"name": "Acme"}))
        .await
        .expect(201);
    let contact = system
        .post(
            &system.admin,
            "/v1/contacts",
            json!({"first_name": "Ada", "last_name": "L", "company_id": company.id()}),
        )
        .await
        .expect(201);
    let service = system
        .post(
            &system.admin,
            "/v1/users",
            json!({"username": "billing", "role": "service", "scopes": ["contacts:read"]}),
        )
        .await
        .expect(201);
    assert_eq!(service.body["scopes"], json!(["contacts:read"]));
    let token = service.body["token"].as_str().expect("a token").to_owned();
    let wait = contact.position().to_string();
    let get = |path: String| {
        let token = token.clone();
        let wait = wait.clone();
        let system = &system;
        async move {
            system
                .send(
                    Method::GET,
                    Some(&token),
                    &path,
                    &[("x-crm-min-position", &wait)],
                    None,
                )
                .await
        }
    };
    get(format!("/v1/contacts/{}", contact.id()))
        .await
        .expect(200);
    get(format!("/v1/companies/{}", company.id()))
        .await
        .expect(403);
    system
        .patch(
            &token,
            &format!("/v1/contacts/{}", contact.id()),
            json!({"title": "CEO"}),
        )
        .await
        .expect(403);

    let bad = system
        .post(
            &system.admin,
            "/v1/users",
            json!({"username": "broken", "role": "service", "scopes": ["contacts:fly"]}),
        )
        .await
        .expect(422);
    assert_eq!(bad.invalid_field(), "scopes[0]");
    system.stop().await;
}

#[tokio::test]
async fn converting_a_lead_takes_the_right_to_change_it_and_to_create_all_it_makes() {
    let system = TestSystem::start().await;
    let admin = system.admin.clone();
    let pipeline = system.one_stage_pipeline().await;
    let (stranger, _) = system.user("munich-sales", "sales", Some("Munich")).await;
    let (me, token) = system.user("berlin-sales", "sales", Some("Berlin")).await;
    let (marketer, marketing) = system
        .user("berlin-marketing", "marketing", Some("Berlin"))
        .await;
    let theirs = records_owned_by(&system, stranger, pipeline, "Munich").await;
    let mine = records_owned_by(&system, me, pipeline, "Berlin").await;
    let lead_of = |owner: Uuid, name: &str| {
        let system = &system;
        let admin = admin.clone();
        let name = name.to_owned();
        async move {
            system
                .post(
                    &admin,
                    "/v1/leads",
                    json!({"name": name, "source": "web", "owner_id": owner}),
                )
                .await
                .expect(201)
                .id()
        }
    };
    let deal = json!({"title": "First order", "pipeline_id": pipeline, "stage": "new",
                      "amount": {"amount_minor": 1000, "currency": "EUR"}});

    // Another team's lead, even into the caller's own company: refused, logged, nothing made.
    let before = access_events(&system).await.len();
    let path = format!("/v1/leads/{}/convert", theirs.ids["leads"]);
    system
        .post(&token, &path, json!({"company_id": mine.ids["companies"]}))
        .await
        .expect(403);
    let refusals = access_events(&system).await;
    let (_, refusal) = refusals[before..]
        .iter()
        .find(|(_, payload)| payload["outcome"] == "denied")
        .expect("the refusal is logged");
    assert_eq!(
        refusal["records"],
        json!([{"collection": "leads", "id": theirs.ids["leads"]}])
    );
    // Its owner's team converts it afterwards: the refused conversion left it unconverted.
    system.post(&admin, &path, json!({})).await.expect(200);

    // Marketing changes leads and contacts, not companies or deals.
    let leads = lead_of(marketer, "Fair visitor").await;
    let path = format!("/v1/leads/{leads}/convert");
    system
        .post(&marketing, &path, json!({"deal": deal}))
        .await
        .expect(403);
    system
        .post(&marketing, &path, json!({"company": {"name": "Fair GmbH"}}))
        .await
        .expect(403);
    let converted = system.post(&marketing, &path, json!({})).await.expect(200);
    assert!(converted.body["deal_id"].is_null());
    assert!(converted.body["company_id"].is_null());

    // Sales converts its own lead into a contact, a company and a deal.
    let own = lead_of(me, "Trade enquiry").await;
    let converted = system
        .post(
            &token,
            &format!("/v1/leads/{own}/convert"),
            json!({"company": {"name": "Trade AG"}, "deal": deal}),
        )
        .await
        .expect(200);
    assert!(converted.body["deal_id"].is_string());
    system.stop().await;
}

#[tokio::test]
async fn marketing_hands_a_captured_lead_to_a_sales_team() {
    let system = TestSystem::start().await;
    let (_, marketing) = system.user("web-forms", "marketing", None).await;
    let (rep, sales) = system.user("berlin-sales", "sales", Some("Berlin")).await;
    let lead = system
        .post(
            &marketing,
            "/v1/leads",
            json!({"name": "Web visitor", "source": "web"}),
        )
        .await
        .expect(201)
        .id();
    let path = format!("/v1/leads/{lead}");
    system
        .post(&sales, &format!("{path}/qualify"), json!({}))
        .await
        .expect(403);

    // Handed to the rep, it joins the rep's team: theirs to see and work.
    let handed = system
        .patch(&marketing, &path, json!({"owner_id": rep}))
        .await
        .expect(200);
    let listed = system
        .send(
            Method::GET,
            Some(&sales),
            "/v1/leads",
            &[("x-crm-min-position", &handed.position().to_string())],
            None,
        )
        .await
        .expect(200);
    assert_eq!(listed.body["items"][0]["id"], json!(lead));
    assert_eq!(listed.body["items"][0]["team"], "Berlin");
    system
        .post(&sales, &format!("{path}/qualify"), json!({}))
        .await
        .expect(200);

    let nobody = system
        .patch(&marketing, &path, json!({"owner_id": Uuid::now_v7()}))
        .await
        .expect(422);
    assert_eq!(nobody.invalid_field(), "owner_id");
    system
        .post(&sales, &format!("{path}/convert"), json!({}))
        .await
        .expect(200);
    system
        .patch(&marketing, &path, json!({"owner_id": rep, "team": null}))
        .await
        .expect(409);
    system.stop().await;
}

#[tokio::test]
async fn an_activity_stays_its_creators_to_read_and_to_change_when_its_contact_moves_on() {
    let system = TestSystem::start().await;
    let (colleague, _) = system.user("munich-sales", "sales", Some("Munich")).await;
    let (_, stranger) = system.user("hamburg-sales", "sales", Some("Hamburg")).await;
    let (_, token) = system.user("berlin-sales", "sales", Some("Berlin")).await;
    let contact = system
        .post(
            &token,
            "/v1/contacts",
            json!({"first_name": "Grace", "last_name": "Hopper"}),
        )
        .await
        .expect(201)
        .id();
    let scheduled = system
        .post(
            &token,
            "/v1/activities",
            json!({"kind": "meeting", "subject": "Planning", "contact_id": contact,
                   "occurred_at": "2099-01-05T10:00:00Z"}),
        )
        .await
        .expect(201);
    let moved = system
        .patch(
            &system.admin,
            &format!("/v1/contacts/{contact}"),
            json!({"owner_id": colleague, "team": "Munich"}),
        )
        .await
        .expect(200);

    let path = format!("/v1/activities/{}", scheduled.id());
    let read = system
        .send(
            Method::GET,
            Some(&token),
            &path,
            &[("x-crm-min-position", &moved.position().to_string())],
            None,
        )
        .await
        .expect(200);
    assert_eq!(read.body["status"], "scheduled");
    let complete = format!("{path}/complete");
    system
        .post(&stranger, &complete, json!({}))
        .await
        .expect(403);
    system.post(&token, &complete, json!({})).await.expect(200);
    system.stop().await;
}

#[tokio::test]
async fn a_sales_user_may_not_reopen_even_their_own_deal_and_the_refusal_is_logged() {
    let system = TestSystem::start().await;
    let pipeline = system.one_stage_pipeline().await;
    let (me, token) = system.user("berlin-sales", "sales", Some("Berlin")).await;
    let deal = system
        .post(
            &token,
            "/v1/deals",
            json!({"title": "Own deal", "pipeline_id": pipeline, "stage": "new", "owner_id": me,
                   "amount": {"amount_minor": 1000, "currency": "EUR"}}),
        )
        .await
        .expect(201)
        .id();
    system
        .post(&token, &format!("/v1/deals/{deal}/won"), json!({}))
        .await
        .expect(200);
    let before = access_events(&system).await.len();
    system
        .post(&token, &format!("/v1/deals/{deal}/reopen"), json!({}))
        .await
        .expect(403);
    let logged = access_events(&system).await;
    let (_, refusal) = logged[before..]
        .iter()
        .find(|(_, payload)| payload["outcome"] == "denied")
        .expect("the refusal is logged");
    assert_eq!(
        refusal["records"],
        json!([{"collection": "deals", "id": deal}])
    );
    system.stop().await;
}

#[tokio::test]
async fn a_timeline_leaves_out_what_the_caller_may_not_read_two_links_away() {
    let system = TestSystem::start().await;
    let admin = system.admin.clone();
    let (berlin, token) = system.user("berlin-sales", "sales", Some("Berlin")).await;
    let (paris, _) = system.user("paris-sales", "sales", Some("Paris")).await;
    let company = system
        .post(
            &admin,
            "/v1/companies",
            json!({"name": "Shared GmbH", "owner_id": berlin}),
        )
        .await
        .expect(201)
        .id();
    let contact = system
        .post(
            &admin,
            "/v1/contacts",
            json!({"first_name": "Pierre", "last_name": "Durand", "company_id": company,
                   "owner_id": paris, "team": "Paris"}),
        )
        .await
        .expect(201)
        .id();
    let call = system
        .post(
            &admin,
            "/v1/activities",
            json!({"kind": "call", "subject": "Paris pricing", "occurred_at": "2026-11-20T09:00:00Z",
                   "contact_id": contact}),
        )
        .await
        .expect(201);
    system
        .send(
            Method::GET,
            Some(&token),
            &format!("/v1/activities/{}", call.id()),
            &[("x-crm-min-position", &call.position().to_string())],
            None,
        )
        .await
        .expect(403);

    let timeline = system
        .send(
            Method::GET,
            Some(&token),
            &format!("/v1/companies/{company}/timeline"),
            &[("x-crm-min-position", &call.position().to_string())],
            None,
        )
        .await
        .expect(200);
    let shown: Vec<&str> = timeline.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|entry| entry["record"]["id"].as_str())
        .collect();
    assert!(
        shown.contains(&contact.to_string().as_str()),
        "her contact, one link away: {shown:?}"
    );
    assert!(
        !shown.contains(&call.id().to_string().as_str()),
        "not the Paris call two links away: {shown:?}"
    );

    // More Paris calls, the newest entries: a page of one passes over them, full every time,
    // and its cursor never stops at one of them.
    let mut last = call.position();
    for subject in ["Paris follow-up", "Paris contract", "Paris renewal"] {
        last = system
            .post(
                &admin,
                "/v1/activities",
                json!({"kind": "call", "subject": subject, "occurred_at": "2026-11-21T09:00:00Z",
                       "contact_id": contact}),
            )
            .await
            .expect(201)
            .position();
    }
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/companies/{company}/timeline?limit=1&cursor={cursor}"),
            None => format!("/v1/companies/{company}/timeline?limit=1"),
        };
        let page = system
            .send(
                Method::GET,
                Some(&token),
                &path,
                &[("x-crm-min-position", &last.to_string())],
                None,
            )
            .await
            .expect(200);
        let items = page.body["items"].as_array().expect("items").clone();
        cursor = page.body["next_cursor"].as_str().map(str::to_owned);
        assert_eq!(
            items.len(),
            1,
            "a full page while any follows: {:?}",
            page.body
        );
        paged.push(items[0]["position"].as_u64().expect("a position"));
        if cursor.is_none() {
            break;
        }
    }
    let whole: Vec<u64> = timeline.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|entry| entry["position"].as_u64())
        .collect();
    assert_eq!(paged, whole, "page by page, the same entries as at once");
    system.stop().await;
}

#[tokio::test]
async fn a_record_handed_to_another_teams_user_moves_into_that_team() {
    let system = TestSystem::start().await;
    let admin = system.admin.clone();
    let pipeline = system.one_stage_pipeline().await;
    let (anna, _) = system.user("anna", "sales", Some("Berlin")).await;
    let (max, _) = system.user("max", "sales", Some("Munich")).await;
    let deal = system
        .post(
            &admin,
            "/v1/deals",
            json!({"title": "Handover", "pipeline_id": pipeline, "stage": "new", "owner_id": anna,
                   "amount": {"amount_minor": 1000, "currency": "EUR"}}),
        )
        .await
        .expect(201)
        .id();
    let company = system
        .post(
            &admin,
            "/v1/companies",
            json!({"name": "Handover AG", "owner_id": anna}),
        )
        .await
        .expect(201)
        .id();
    system
        .patch(
            &admin,
            &format!("/v1/deals/{deal}"),
            json!({"owner_id": max}),
        )
        .await
        .expect(200);
    let moved = system
        .patch(
            &admin,
            &format!("/v1/companies/{company}"),
            json!({"owner_id": max}),
        )
        .await
        .expect(200);
    for path in [
        format!("/v1/deals/{deal}"),
        format!("/v1/companies/{company}"),
    ] {
        let read = system
            .send(
                Method::GET,
                Some(&admin),
                &path,
                &[("x-crm-min-position", &moved.position().to_string())],
                None,
            )
            .await
            .expect(200);
        assert_eq!(read.body["owner_id"], json!(max), "{path}");
        assert_eq!(
            read.body["team"], "Munich",
            "{path}: the team follows its new owner"
        );
    }
    system.stop().await;
}

/// The ids a list shows `token` once it has reached `position`.
async fn listed(system: &TestSystem, token: &str, path: &str, position: u64) -> Vec<Value> {
    let list = system
        .send(
            Method::GET,
            Some(token),
            path,
            &[("x-crm-min-position", &position.to_string())],
            None,
        )
        .await
        .expect(200);
    let items = list.body["items"].as_array().expect("items");
    items.iter().map(|item| item["id"].clone()).collect()
}

#[tokio::test]
async fn a_task_or_case_is_in_the_reach_of_its_assignees_team_even_when_linked_to_nothing_of_theirs()
 {
    let system = TestSystem::start().await;
    let (_, manager) = system.user("berlin-lead", "manager", Some("Berlin")).await;
    let (_, anna) = system.user("anna", "sales", Some("Berlin")).await;
    let (ben, _) = system.user("ben", "sales", Some("Berlin")).await;
    let (max, munich) = system.user("max", "sales", Some("Munich")).await;

    // A sales user gives a teammate a task about nothing of theirs: it is the team's.
    let task = system
        .post(
            &anna,
            "/v1/tasks",
            json!({"title": "Prepare the trade fair", "due_at": "2026-12-01T10:00:00Z",
                   "assignee_id": ben}),
        )
        .await
        .expect(201);
    let path = format!("/v1/tasks/{}", task.id());
    let read = system
        .send(
            Method::GET,
            Some(&manager),
            &path,
            &[("x-crm-min-position", &task.position().to_string())],
            None,
        )
        .await
        .expect(200);
    assert_eq!(read.body["team"], "Berlin");
    let tasks = listed(&system, &manager, "/v1/tasks", task.position()).await;
    assert_eq!(
        tasks,
        vec![json!(task.id())],
        "the manager lists the team's task"
    );
    system.get(&munich, &path).await.expect(403);
    assert!(
        listed(&system, &munich, "/v1/tasks", task.position())
            .await
            .is_empty()
    );

    // Handed to another team's user, it moves into that team's reach and out of this one's.
    let moved = system
        .patch(&manager, &path, json!({"assignee_id": max}))
        .await
        .expect(200);
    let read = system
        .send(
            Method::GET,
            Some(&munich),
            &path,
            &[("x-crm-min-position", &moved.position().to_string())],
            None,
        )
        .await
        .expect(200);
    assert_eq!(read.body["team"], "Munich");
    system.get(&manager, &path).await.expect(403);
    assert!(
        listed(&system, &manager, "/v1/tasks", moved.position())
            .await
            .is_empty()
    );

    // A case about another team's customer, worked by a member of this team.
    let contact = system
        .post(
            &munich,
            "/v1/contacts",
            json!({"first_name": "Grace", "last_name": "Hopper"}),
        )
        .await
        .expect(201)
        .id();
    let case = system
        .post(
            &system.admin,
            "/v1/cases",
            json!({"subject": "Cannot log in", "contact_id": contact, "priority": "high",
                   "assignee_id": ben}),
        )
        .await
        .expect(201);
    let cases = listed(&system, &manager, "/v1/cases", case.position()).await;
    assert_eq!(cases, vec![json!(case.id())]);
    let case_path = format!("/v1/cases/{}", case.id());
    system
        .post(
            &manager,
            &format!("{case_path}/status"),
            json!({"status": "open"}),
        )
        .await
        .expect(200);
    // Unassigned, it stays in the team's queue; given to another team's user, it leaves it.
    let unassigned = system
        .patch(&system.admin, &case_path, json!({"assignee_id": null}))
        .await
        .expect(200);
    let cases = listed(&system, &manager, "/v1/cases", unassigned.position()).await;
    assert_eq!(cases, vec![json!(case.id())]);
    let handed = system
        .patch(&system.admin, &case_path, json!({"assignee_id": max}))
        .await
        .expect(200);
    assert!(
        listed(&system, &manager, "/v1/cases", handed.position())
            .await
            .is_empty()
    );
    system.stop().await;
}

#[tokio::test]
async fn a_record_cannot_be_tied_to_a_customer_or_deal_the_caller_may_not_see() {
    let system = TestSystem::start().await;
    let pipeline = system.one_stage_pipeline().await;
    let (me, token) = system.user("berlin-rep", "sales", Some("Berlin")).await;
    let (stranger, _) = system.user("munich-rep", "sales", Some("Munich")).await;
    let mine = records_owned_by(&system, me, pipeline, "Mine").await;
    let other = records_owned_by(&system, stranger, pipeline, "Other").await;
    let link = |records: &Records| {
        json!({"kind": "call", "subject": "Follow-up", "occurred_at": "2026-01-05T10:00:00Z",
               "contact_id": records.ids["contacts"]})
    };
    system
        .post(&token, "/v1/activities", link(&mine))
        .await
        .expect(201);
    let refused = [
        ("/v1/activities", link(&other)),
        (
            "/v1/tasks",
            json!({"title": "Call back", "due_at": "2026-12-01T10:00:00Z", "assignee_id": me,
                   "deal_id": other.ids["deals"]}),
        ),
        (
            "/v1/deals",
            json!({"title": "Poached", "pipeline_id": pipeline, "stage": "new",
                   "amount": {"amount_minor": 100, "currency": "EUR"},
                   "company_id": other.ids["companies"]}),
        ),
        (
            "/v1/contacts",
            json!({"first_name": "New", "last_name": "Hire", "company_id": other.ids["companies"]}),
        ),
    ];
    for (path, body) in refused {
        system.post(&token, path, body).await.expect(403);
    }
    system
        .patch(
            &token,
            &format!("/v1/contacts/{}", mine.ids["contacts"]),
            json!({"company_id": other.ids["companies"]}),
        )
        .await
        .expect(403);
    let denied = access_events(&system)
        .await
        .into_iter()
        .filter(|(actor, payload)| actor == &format!("user:{me}") && payload["outcome"] == "denied")
        .count();
    assert_eq!(denied, 5, "every refused link is logged");
    system.stop().await;
}
