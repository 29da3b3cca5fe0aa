//! Every command route over HTTP against the real servers: the happy path, validation, 401/403,
//! 404, 409, 412 and idempotent retries.

use reqwest::Method;
use serde_json::json;
use system_tests::{Reply, TestSystem};
use uuid::Uuid;

async fn pipeline(system: &TestSystem) -> Uuid {
    system
        .post(
            &system.admin,
            "/v1/pipelines",
            json!({"name": "New business", "stages": [
                {"key": "lead", "name": "Lead", "probability": 10},
                {"key": "proposal", "name": "Proposal", "probability": 50},
                {"key": "negotiation", "name": "Negotiation", "probability": 80}
            ]}),
        )
        .await
        .expect(201)
        .id()
}

#[tokio::test]
async fn a_company_is_created_changed_and_answers_with_version_and_position() {
    let system = TestSystem::start().await;
    let created = system
        .post(
            &system.admin,
            "/v1/companies",
            json!({"name": "Acme", "domain": "acme.example", "value_class": "A", "tags": ["Key", "eu"]}),
        )
        .await
        .expect(201);
    assert_eq!(created.body["version"], 1);
    assert_eq!(
        created.position(),
        created.body["position"].as_u64().unwrap()
    );
    let id = created.id();

    let changed = system
        .patch(
            &system.admin,
            &format!("/v1/companies/{id}"),
            json!({"name": "Acme Ltd", "domain": null, "tags": ["key"]}),
        )
        .await
        .expect(200);
    assert_eq!(
        changed.body["version"], 4,
        "renamed, profile changed, re-tagged"
    );
    assert!(changed.position() > created.position());

    let unchanged = system
        .patch(
            &system.admin,
            &format!("/v1/companies/{id}"),
            json!({"name": "Acme Ltd"}),
        )
        .await
        .expect(200);
    assert_eq!(
        unchanged.body["version"], 4,
        "nothing changed, nothing appended"
    );

    let untagged = system
        .patch(
            &system.admin,
            &format!("/v1/companies/{id}"),
            json!({"tags": null}),
        )
        .await
        .expect(200);
    assert_eq!(untagged.body["version"], 5, "null empties a list");
    let nameless = system
        .patch(
            &system.admin,
            &format!("/v1/companies/{id}"),
            json!({"name": null}),
        )
        .await
        .expect(422);
    assert_eq!(nameless.invalid_field(), "name", "a name cannot be cleared");
    let read = system
        .send(
            Method::GET,
            Some(&system.admin),
            &format!("/v1/companies/{id}"),
            &[("x-crm-min-position", &untagged.position().to_string())],
            None,
        )
        .await
        .expect(200);
    assert_eq!(read.body["name"], "Acme Ltd");
    assert_eq!(read.body["tags"], json!([]));
    system.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_writes_nothing() {
    let system = TestSystem::start().await;
    let head_before = system
        .database
        .owner_client()
        .await
        .query_one("SELECT position FROM log_head", &[])
        .await
        .unwrap()
        .get::<_, i64>(0);
    let cases = [
        ("/v1/companies", json!({"name": ""}), "name"),
        (
            "/v1/companies",
            json!({"name": "A", "value_class": "E"}),
            "value_class",
        ),
        ("/v1/companies", json!({"name": "A", "colour": "red"}), ""),
        (
            "/v1/contacts",
            json!({"first_name": "Ada", "last_name": "L", "email": "not-an-email"}),
            "email",
        ),
        (
            "/v1/contacts",
            json!({"first_name": "Ada", "last_name": "L", "email": "ada@example.org",
                   "emails": ["ada@example.org"]}),
            "email",
        ),
        (
            "/v1/contacts",
            json!({"first_name": "Ada", "last_name": "L", "company_id": Uuid::now_v7()}),
            "company_id",
        ),
        (
            "/v1/deals",
            json!({"title": "T", "pipeline_id": Uuid::now_v7(), "stage": "x", "amount": {"amount_minor": 1, "currency": "EUR"}}),
            "pipeline_id",
        ),
        (
            "/v1/pipelines",
            json!({"name": "P", "stages": [{"key": "a", "name": "A", "probability": 101}]}),
            "stages[0].probability",
        ),
        (
            "/v1/activities",
            json!({"kind": "telepathy", "subject": "s", "occurred_at": "2026-01-01T00:00:00Z"}),
            "kind",
        ),
    ];
    for (path, body, field) in cases {
        let reply = system
            .post(&system.admin, path, body.clone())
            .await
            .expect(422);
        assert_eq!(
            reply.headers["content-type"], "application/problem+json",
            "{path} {body}"
        );
        if field.is_empty() {
            assert!(
                reply.body["errors"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("colour"),
                "{reply:?}"
            );
        } else {
            assert_eq!(reply.invalid_field(), field, "{path} {body}: {reply:?}");
        }
    }
    let malformed = system
        .send(
            Method::POST,
            Some(&system.admin),
            "/v1/companies",
            &[],
            Some(b"{\"name\": "),
        )
        .await
        .expect(400);
    assert_eq!(malformed.body["status"], 400);
    let huge = vec![b' '; 300 * 1024];
    system
        .send(
            Method::POST,
            Some(&system.admin),
            "/v1/companies",
            &[],
            Some(&huge),
        )
        .await
        .expect(413);
    let head_after = system
        .database
        .owner_client()
        .await
        .query_one("SELECT position FROM log_head", &[])
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(head_before, head_after, "a refused command appends nothing");
    system.stop().await;
}

#[tokio::test]
async fn without_a_valid_token_every_route_is_401_and_a_role_not_allowed_is_403() {
    let system = TestSystem::start().await;
    for (method, path) in [
        (Method::POST, "/v1/companies"),
        (
            Method::PATCH,
            "/v1/companies/0190a5e4-7c4b-7000-8000-0000000000a1",
        ),
        (Method::POST, "/v1/deals"),
        (Method::POST, "/v1/users"),
    ] {
        for token in [
            None,
            Some("wrong"),
            Some("crm_0190a5e47c4b70008000000000000000_00"),
        ] {
            let reply = system
                .send(method.clone(), token, path, &[], Some(b"{}"))
                .await;
            assert_eq!(reply.status, 401, "{method} {path} {token:?}");
        }
    }
    let (_, auditor) = system.user("audrey", "auditor", None).await;
    system
        .post(&auditor, "/v1/companies", json!({"name": "Acme"}))
        .await
        .expect(403);
    let (_, support) = system.user("sam", "support", None).await;
    system
        .post(
            &support,
            "/v1/users",
            json!({"username": "x1y", "role": "admin"}),
        )
        .await
        .expect(403);
    let pipeline = pipeline(&system).await;
    system
        .post(&support, "/v1/deals", json!({"title": "T", "pipeline_id": pipeline, "stage": "lead", "amount": {"amount_minor": 1, "currency": "EUR"}}))
        .await
        .expect(403);
    system.stop().await;
}

#[tokio::test]
async fn a_deal_moves_through_its_pipeline_closes_and_refuses_stage_changes_once_closed() {
    let system = TestSystem::start().await;
    let pipeline = pipeline(&system).await;
    let deal = system
        .post(
            &system.admin,
            "/v1/deals",
            json!({"title": "Renewal", "pipeline_id": pipeline, "stage": "lead",
                   "amount": {"amount_minor": 125000, "currency": "EUR"}, "expected_close_on": "2026-12-31"}),
        )
        .await
        .expect(201)
        .id();
    let stage = format!("/v1/deals/{deal}/stage");
    system
        .post(&system.admin, &stage, json!({"stage": "proposal"}))
        .await
        .expect(200);
    let unknown = system
        .post(&system.admin, &stage, json!({"stage": "nowhere"}))
        .await
        .expect(422);
    assert_eq!(unknown.invalid_field(), "stage");
    system
        .patch(
            &system.admin,
            &format!("/v1/deals/{deal}"),
            json!({"amount": {"amount_minor": 5, "currency": "USD"}}),
        )
        .await
        .expect(422);
    let won = system
        .post(
            &system.admin,
            &format!("/v1/deals/{deal}/won"),
            json!({"reason": "signed"}),
        )
        .await
        .expect(200);
    let refused = system
        .post(&system.admin, &stage, json!({"stage": "negotiation"}))
        .await
        .expect(409);
    assert_eq!(refused.headers["content-type"], "application/problem+json");
    assert_eq!(
        refused.body["current_version"], won.body["version"],
        "{refused:?}"
    );
    // A command that takes no body refuses one rather than ignore it.
    let bodied = system
        .post(
            &system.admin,
            &format!("/v1/deals/{deal}/reopen"),
            json!({"stage": "lead"}),
        )
        .await
        .expect(422);
    assert_eq!(bodied.invalid_field(), "stage");
    system
        .post(
            &system.admin,
            &format!("/v1/deals/{}/won", Uuid::now_v7()),
            json!({}),
        )
        .await
        .expect(404);

    let (_, sales) = system.user("sally", "sales", Some("north")).await;
    system
        .post(&sales, &format!("/v1/deals/{deal}/reopen"), json!({}))
        .await
        .expect(403);
    let reopened = system
        .post(
            &system.admin,
            &format!("/v1/deals/{deal}/reopen"),
            json!({}),
        )
        .await
        .expect(200);
    assert!(reopened.body["version"].as_u64() > won.body["version"].as_u64());
    system
        .post(&system.admin, &stage, json!({"stage": "negotiation"}))
        .await
        .expect(200);
    system.stop().await;
}

#[tokio::test]
async fn if_match_with_a_stale_version_is_412_and_the_current_one_applies() {
    let system = TestSystem::start().await;
    let id = system
        .post(&system.admin, "/v1/companies", json!({"name": "Acme"}))
        .await
        .expect(201)
        .id();
    let path = format!("/v1/companies/{id}");
    let body = serde_json::to_vec(&json!({"name": "Acme 2"})).unwrap();
    system
        .send(
            Method::PATCH,
            Some(&system.admin),
            &path,
            &[("if-match", "\"1\"")],
            Some(&body),
        )
        .await
        .expect(200);
    let stale = system
        .send(
            Method::PATCH,
            Some(&system.admin),
            &path,
            &[("if-match", "\"1\"")],
            Some(b"{\"name\":\"Acme 3\"}"),
        )
        .await
        .expect(412);
    assert_eq!(stale.body["status"], 412);
    system.stop().await;
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_gets_the_first_answer_and_appends_once() {
    let system = TestSystem::start().await;
    let body = serde_json::to_vec(&json!({"name": "Acme"})).unwrap();
    // The longest key the API takes (200 characters): stored with its caller's id in front.
    let key = format!("create-acme-{}", "1".repeat(188));
    let headers = [("idempotency-key", key.as_str())];
    let first = system
        .send(
            Method::POST,
            Some(&system.admin),
            "/v1/companies",
            &headers,
            Some(&body),
        )
        .await
        .expect(201);
    let again = system
        .send(
            Method::POST,
            Some(&system.admin),
            "/v1/companies",
            &headers,
            Some(&body),
        )
        .await;
    assert_eq!(again.body, first.body);
    assert_eq!(again.position(), first.position());
    let other = system
        .send(
            Method::POST,
            Some(&system.admin),
            "/v1/companies",
            &headers,
            Some(b"{\"name\":\"Other\"}"),
        )
        .await
        .expect(422);
    assert_eq!(other.body["type"], "urn:crm:problem:idempotency-key-reused");
    let companies: i64 = system
        .database
        .owner_client()
        .await
        .query_one(
            "SELECT count(*) FROM events WHERE stream_type = 'company'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(companies, 1);
    system.stop().await;
}

#[tokio::test]
async fn a_keyed_command_that_changed_nothing_is_answered_the_same_after_the_record_moved_on() {
    let system = TestSystem::start().await;
    let pipeline = pipeline(&system).await;
    let deal = open_deal_in(&system, pipeline, "lead")
        .await
        .expect(201)
        .id();
    let stage = format!("/v1/deals/{deal}/stage");
    let stay = serde_json::to_vec(&json!({"stage": "lead"})).unwrap();
    let headers = [("idempotency-key", "stay-in-lead")];
    let send_stay = || {
        system.send(
            Method::POST,
            Some(&system.admin),
            &stage,
            &headers,
            Some(&stay),
        )
    };
    let first = send_stay().await.expect(200);
    assert_eq!(first.body["version"], 1, "already there: nothing changed");

    let moved = system
        .post(&system.admin, &stage, json!({"stage": "proposal"}))
        .await
        .expect(200);
    let retry = send_stay().await.expect(200);
    assert_eq!(
        retry.body, first.body,
        "the first answer, not a new decision"
    );
    assert_eq!(retry.position(), first.position());

    let now = system
        .send(
            Method::GET,
            Some(&system.admin),
            &format!("/v1/deals/{deal}"),
            &[("x-crm-min-position", &moved.position().to_string())],
            None,
        )
        .await
        .expect(200);
    assert_eq!(
        now.body["stage"], "proposal",
        "the retry moved nothing back"
    );
    assert_eq!(now.body["version"], 2);
    system.stop().await;
}

#[tokio::test]
async fn converting_a_lead_creates_contact_company_and_deal_atomically_and_only_once() {
    let system = TestSystem::start().await;
    let pipeline = pipeline(&system).await;
    let lead = system
        .post(
            &system.admin,
            "/v1/leads",
            json!({"name": "Ada Lovelace", "email": "ada@example.com",
              "company_name": "Analytical Engines", "source": "web"}),
        )
        .await
        .expect(201)
        .id();
    let convert = format!("/v1/leads/{lead}/convert");
    let bad = system
        .post(
            &system.admin,
            &convert,
            json!({"company": {}, "deal": {"title": "First", "pipeline_id": pipeline,
              "stage": "nowhere", "amount": {"amount_minor": 100, "currency": "EUR"}}}),
        )
        .await
        .expect(422);
    assert_eq!(bad.invalid_field(), "deal.stage");
    let head: i64 = system
        .database
        .owner_client()
        .await
        .query_one(
            "SELECT count(*) FROM events WHERE stream_type IN ('contact', 'company', 'deal')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(head, 0, "a refused conversion leaves nothing half-done");

    let converted = system
        .post(
            &system.admin,
            &convert,
            json!({"company": {}, "deal": {"title": "First", "pipeline_id": pipeline,
              "stage": "proposal", "amount": {"amount_minor": 100, "currency": "EUR"}}}),
        )
        .await
        .expect(200);
    for field in ["contact_id", "company_id", "deal_id"] {
        assert!(converted.body[field].is_string(), "{field}: {converted:?}");
    }
    let positions: Vec<i64> = system.database.owner_client().await
        .query("SELECT position FROM events WHERE stream_type IN ('lead', 'contact', 'company', 'deal') AND recorded_at = (SELECT max(recorded_at) FROM events) ORDER BY position", &[])
        .await.unwrap().iter().map(|row| row.get(0)).collect();
    assert_eq!(
        positions.len(),
        4,
        "one transaction: converted, contact, company, deal"
    );
    system
        .post(&system.admin, &convert, json!({}))
        .await
        .expect(409);
    system.stop().await;
}

#[tokio::test]
async fn touchpoints_tasks_and_cases_follow_their_rules() {
    let system = TestSystem::start().await;
    let contact = system
        .post(
            &system.admin,
            "/v1/contacts",
            json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}),
        )
        .await
        .expect(201)
        .id();
    system
        .post(
            &system.admin,
            "/v1/activities",
            json!({"kind": "call", "subject": "Intro", "occurred_at": "2026-01-05T10:00:00Z",
              "duration_minutes": 15, "direction": "outbound", "contact_id": contact}),
        )
        .await
        .expect(201);
    let unlinked = system
        .post(
            &system.admin,
            "/v1/activities",
            json!({"kind": "note", "subject": "Orphan", "occurred_at": "2026-01-05T10:00:00Z"}),
        )
        .await
        .expect(422);
    assert_eq!(unlinked.invalid_field(), "contact_id");

    let (assignee, _) = system.user("tom", "support", None).await;
    let task = system
        .post(&system.admin, "/v1/tasks", json!({"title": "Call back", "due_at": "2026-02-01T09:00:00Z", "assignee_id": assignee, "contact_id": contact}))
        .await
        .expect(201)
        .id();
    system
        .post(
            &system.admin,
            &format!("/v1/tasks/{task}/complete"),
            json!({}),
        )
        .await
        .expect(200);
    system
        .post(
            &system.admin,
            &format!("/v1/tasks/{task}/complete"),
            json!({}),
        )
        .await
        .expect(409);

    let case = system
        .post(
            &system.admin,
            "/v1/cases",
            json!({"subject": "Invoice wrong", "contact_id": contact, "priority": "high"}),
        )
        .await
        .expect(201)
        .id();
    let status = format!("/v1/cases/{case}/status");
    system
        .post(&system.admin, &status, json!({"status": "closed"}))
        .await
        .expect(409);
    for next in [
        "open", "pending", "open", "pending", "resolved", "open", "resolved", "closed",
    ] {
        system
            .post(&system.admin, &status, json!({"status": next}))
            .await
            .expect(200);
    }

    // A case is handed over and escalated; not to someone who left.
    let path = format!("/v1/cases/{case}");
    let (agent, _) = system.user("agent", "support", None).await;
    let (leaver, _) = system.user("leaver", "support", None).await;
    system
        .post(
            &system.admin,
            &format!("/v1/users/{leaver}/deactivate"),
            json!({}),
        )
        .await
        .expect(200);
    let second = system
        .post(
            &system.admin,
            "/v1/cases",
            json!({"subject": "Login fails", "contact_id": contact, "priority": "normal"}),
        )
        .await
        .expect(201)
        .id();
    let second_path = format!("/v1/cases/{second}");
    let changed = system
        .patch(
            &system.admin,
            &second_path,
            json!({"assignee_id": agent, "priority": "urgent"}),
        )
        .await
        .expect(200);
    let read = system
        .send(
            Method::GET,
            Some(&system.admin),
            &second_path,
            &[("x-crm-min-position", &changed.position().to_string())],
            None,
        )
        .await
        .expect(200);
    assert_eq!(read.body["assignee_id"], json!(agent));
    assert_eq!(read.body["priority"], "urgent");
    let gone = system
        .patch(&system.admin, &second_path, json!({"assignee_id": leaver}))
        .await
        .expect(422);
    assert_eq!(gone.invalid_field(), "assignee_id");
    system
        .patch(&system.admin, &second_path, json!({"assignee_id": null}))
        .await
        .expect(200);
    // A closed case takes no more changes.
    system
        .patch(&system.admin, &path, json!({"priority": "low"}))
        .await
        .expect(409);
    system.stop().await;
}

#[tokio::test]
async fn usernames_are_unique_and_a_new_user_token_works_at_once() {
    let system = TestSystem::start().await;
    let (_, token) = system.user("sally", "sales", Some("north")).await;
    system
        .post(&token, "/v1/companies", json!({"name": "Mine"}))
        .await
        .expect(201);
    system
        .post(
            &system.admin,
            "/v1/users",
            json!({"username": "sally", "role": "sales"}),
        )
        .await
        .expect(409);
    system
        .post(
            &system.admin,
            "/v1/users",
            json!({"username": "Not Valid!", "role": "sales"}),
        )
        .await
        .expect(422);
    system.stop().await;
}

/// Opens a deal in `stage` of `pipeline`, as the admin.
async fn open_deal_in(system: &TestSystem, pipeline: Uuid, stage: &str) -> Reply {
    system
        .post(
            &system.admin,
            "/v1/deals",
            json!({"title": "T", "pipeline_id": pipeline, "stage": stage,
                   "amount": {"amount_minor": 100, "currency": "EUR"}}),
        )
        .await
}

/// Asks, as the admin, to remove `stage` of `pipeline`.
async fn remove_stage(
    system: &TestSystem,
    pipeline: Uuid,
    stage: &str,
    headers: &[(&str, &str)],
) -> Reply {
    system
        .send(
            Method::DELETE,
            Some(&system.admin),
            &format!("/v1/pipelines/{pipeline}/stages/{stage}"),
            headers,
            None,
        )
        .await
}

#[tokio::test]
async fn a_stage_with_open_deals_cannot_be_removed_and_an_empty_one_can() {
    let system = TestSystem::start().await;
    let pipeline = pipeline(&system).await;
    open_deal_in(&system, pipeline, "proposal")
        .await
        .expect(201);
    let closed = open_deal_in(&system, pipeline, "negotiation")
        .await
        .expect(201)
        .id();
    let won = system
        .post(&system.admin, &format!("/v1/deals/{closed}/won"), json!({}))
        .await
        .expect(200);
    let position = won.position().to_string();
    let headers = [("x-crm-min-position", position.as_str())];
    remove_stage(&system, pipeline, "proposal", &headers)
        .await
        .expect(409);
    remove_stage(&system, pipeline, "negotiation", &headers)
        .await
        .expect(200);
    // The won deal closed in the removed stage: it cannot be reopened into it.
    let reopen = system
        .post(
            &system.admin,
            &format!("/v1/deals/{closed}/reopen"),
            json!({}),
        )
        .await
        .expect(409);
    assert!(
        reopen.body["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("negotiation")),
        "{reopen:?}"
    );
    remove_stage(&system, pipeline, "negotiation", &headers)
        .await
        .expect(404);
    remove_stage(&system, pipeline, "Not A Key", &headers)
        .await
        .expect(404);
    system.stop().await;
}

#[tokio::test]
async fn a_stage_a_deal_just_moved_into_cannot_be_removed_even_without_a_min_position() {
    let system = TestSystem::start().await;
    let pipeline = pipeline(&system).await;
    open_deal_in(&system, pipeline, "negotiation")
        .await
        .expect(201);
    remove_stage(&system, pipeline, "negotiation", &[])
        .await
        .expect(409);
    system.stop().await;
}

#[tokio::test]
async fn concurrent_commands_on_one_record_are_all_decided_again_on_fresh_state() {
    let system = TestSystem::start().await;
    let id = system
        .post(&system.admin, "/v1/companies", json!({"name": "Acme"}))
        .await
        .expect(201)
        .id();
    let path = format!("/v1/companies/{id}");
    let renames = (0..16).map(|index| {
        let system = &system;
        let path = path.clone();
        async move {
            system
                .patch(
                    &system.admin,
                    &path,
                    json!({"name": format!("Acme {index}")}),
                )
                .await
        }
    });
    let replies = futures::future::join_all(renames).await;
    let mut versions: Vec<u64> = replies
        .into_iter()
        .map(|reply| reply.expect(200).body["version"].as_u64().unwrap())
        .collect();
    versions.sort_unstable();
    assert_eq!(
        versions,
        (2..=17).collect::<Vec<u64>>(),
        "no lost race became an error"
    );
    system.stop().await;
}

#[tokio::test]
async fn the_remaining_routes_work_on_their_happy_path_and_refuse_what_no_longer_holds() {
    let system = TestSystem::start().await;
    let admin = &system.admin;

    // Leads: qualify, disqualify, and a disqualified lead takes no conversion.
    let lead = system
        .post(
            admin,
            "/v1/leads",
            json!({"name": "Grace Hopper", "source": "event"}),
        )
        .await
        .expect(201)
        .id();
    system
        .post(admin, &format!("/v1/leads/{lead}/qualify"), json!({}))
        .await
        .expect(200);
    system
        .post(
            admin,
            &format!("/v1/leads/{lead}/disqualify"),
            json!({"reason": "no budget"}),
        )
        .await
        .expect(200);
    system
        .post(admin, &format!("/v1/leads/{lead}/convert"), json!({}))
        .await
        .expect(409);

    // Pipelines: add a stage, reorder, and refuse a reorder that drops a key.
    let pipeline = pipeline(&system).await;
    system
        .post(
            admin,
            &format!("/v1/pipelines/{pipeline}/stages"),
            json!({"key": "won_soon", "name": "Won soon", "probability": 95}),
        )
        .await
        .expect(200);
    let order = format!("/v1/pipelines/{pipeline}/stages/order");
    system
        .post(
            admin,
            &order,
            json!({"keys": ["won_soon", "negotiation", "proposal", "lead"]}),
        )
        .await
        .expect(200);
    system
        .post(admin, &order, json!({"keys": ["lead"]}))
        .await
        .expect(422);

    // Contacts: PATCH moves a contact between companies and clears its e-mails.
    let acme = system
        .post(admin, "/v1/companies", json!({"name": "Acme"}))
        .await
        .expect(201)
        .id();
    let contact = system
        .post(
            admin,
            "/v1/contacts",
            json!({"first_name": "Ada", "last_name": "L", "email": "ada@example.com"}),
        )
        .await
        .expect(201)
        .id();
    let moved = system
        .patch(
            admin,
            &format!("/v1/contacts/{contact}"),
            json!({"company_id": acme, "email": null}),
        )
        .await
        .expect(200);
    assert_eq!(moved.body["version"], 3, "moved, e-mails changed");

    // Deals: one PATCH of several fields is one change; the currency stays.
    let deal = system
        .post(
            admin,
            "/v1/deals",
            json!({"title": "T", "pipeline_id": pipeline, "stage": "lead",
              "amount": {"amount_minor": 100, "currency": "EUR"}}),
        )
        .await
        .expect(201)
        .id();
    let patched = system
        .patch(
            admin,
            &format!("/v1/deals/{deal}"),
            json!({"title": "Bigger", "amount": {"amount_minor": 900, "currency": "EUR"},
               "expected_close_on": "2027-03-31"}),
        )
        .await
        .expect(200);
    assert_eq!(patched.body["version"], 4);

    // Activities: a scheduled meeting is completed once.
    let meeting = system
        .post(
            admin,
            "/v1/activities",
            json!({"kind": "meeting", "subject": "Demo",
              "occurred_at": "2099-01-01T10:00:00Z", "deal_id": deal}),
        )
        .await
        .expect(201)
        .id();
    let complete = format!("/v1/activities/{meeting}/complete");
    system
        .post(admin, &complete, json!({"occurred_at": "2026-01-01T10:00:00Z", "outcome": "went well", "duration_minutes": 45}))
        .await
        .expect(200);
    system.post(admin, &complete, json!({})).await.expect(409);

    // A scheduled call the customer called off is cancelled, with why; then it is neither
    // completed nor cancelled again.
    let call = system
        .post(
            admin,
            "/v1/activities",
            json!({"kind": "call", "subject": "Follow-up",
              "occurred_at": "2099-01-02T10:00:00Z", "deal_id": deal}),
        )
        .await
        .expect(201)
        .id();
    let cancel = format!("/v1/activities/{call}/cancel");
    let cancelled = system
        .post(admin, &cancel, json!({"reason": "the customer moved it"}))
        .await
        .expect(200);
    let read = system
        .send(
            Method::GET,
            Some(admin),
            &format!("/v1/activities/{call}"),
            &[("x-crm-min-position", &cancelled.position().to_string())],
            None,
        )
        .await
        .expect(200);
    assert_eq!(read.body["status"], "cancelled");
    system
        .post(admin, &format!("/v1/activities/{call}/complete"), json!({}))
        .await
        .expect(409);
    system.post(admin, &cancel, json!({})).await.expect(409);
    system
        .post(admin, &complete.replace("complete", "cancel"), json!({}))
        .await
        .expect(409);
    system.stop().await;
}

/// Reads `/v1/companies/{id}` once the read model has reached `position`, trying again while
/// the answer is 504 (the relay may wait out a NATS leader election first).
async fn company_once_projected(system: &TestSystem, id: Uuid, position: u64) -> Reply {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let path = format!("/v1/companies/{id}");
    let position = position.to_string();
    loop {
        let reply = system
            .send(
                Method::GET,
                Some(&system.admin),
                &path,
                &[("x-crm-min-position", position.as_str())],
                None,
            )
            .await;
        if reply.status != 504 || std::time::Instant::now() > deadline {
            return reply;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_nats_cluster_commands_and_reads_go_on_when_the_node_leading_the_stream_dies() {
    let mut cluster = testkit::PrivateNatsCluster::start(3);
    let stream = testkit::TestStream::on(&cluster.url());
    let stream_name = stream.stream.clone();
    let system = TestSystem::start_on(stream, 3).await;
    let before = system
        .post(&system.admin, "/v1/companies", json!({"name": "Before"}))
        .await
        .expect(201);
    company_once_projected(&system, before.id(), before.position())
        .await
        .expect(200);

    let servers: Vec<String> = cluster.url().split(',').map(str::to_owned).collect();
    let jetstream = async_nats::jetstream::new(
        async_nats::connect(servers)
            .await
            .expect("the cluster answers"),
    );
    let leader = jetstream
        .get_stream(&stream_name)
        .await
        .expect("the relay made the stream")
        .info()
        .await
        .expect("stream info")
        .cluster
        .clone()
        .and_then(|cluster| cluster.leader)
        .expect("a replicated stream has a leader");
    cluster.kill(&leader);

    // The store is the record: commands commit while the stream elects a new leader, and the
    // read models catch up once it has.
    let after = system
        .post(&system.admin, "/v1/companies", json!({"name": "After"}))
        .await
        .expect(201);
    let read = company_once_projected(&system, after.id(), after.position())
        .await
        .expect(200);
    assert_eq!(read.body["name"], "After");
    // The read was logged after it: the stream is at least there.
    let ready = system.get(&system.admin, "/readyz").await.expect(200);
    let relayed = ready.body["stream"]["position"].as_u64().unwrap_or(0);
    assert!(relayed >= after.position(), "{:?}", ready.body);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_removed_while_deals_move_into_it_never_ends_up_holding_one() {
    let started = TestSystem::start().await;
    let system = &started;
    for _ in 0..4 {
        let pipeline = pipeline(system).await;
        let mut deals = Vec::new();
        for _ in 0..8 {
            deals.push(
                open_deal_in(system, pipeline, "lead")
                    .await
                    .expect(201)
                    .id(),
            );
        }
        // The removal waits for the read model while the moves and new deals commit.
        let removal = remove_stage(system, pipeline, "negotiation", &[]);
        let moves =
            futures::future::join_all(deals.iter().enumerate().map(|(index, deal)| async move {
                tokio::time::sleep(std::time::Duration::from_millis(3 * index as u64)).await;
                if index % 4 == 3 {
                    return open_deal_in(system, pipeline, "negotiation").await;
                }
                system
                    .post(
                        &system.admin,
                        &format!("/v1/deals/{deal}/stage"),
                        json!({"stage": "negotiation"}),
                    )
                    .await
            }));
        let (removal, moves) = tokio::join!(removal, moves);
        let entered: Vec<&Reply> = moves
            .iter()
            .filter(|reply| reply.status.is_success())
            .collect();
        match removal.status.as_u16() {
            200 => assert!(
                entered.is_empty(),
                "the stage was removed and {} deals entered it: {removal:?}",
                entered.len()
            ),
            409 => {}
            other => panic!("removal answered {other}: {removal:?}"),
        }
        for reply in &moves {
            assert!(
                [200, 201, 409, 422].contains(&reply.status.as_u16()),
                "{reply:?}"
            );
        }
    }
    started.stop().await;
}

#[tokio::test]
async fn stages_tasks_companies_and_users_change_as_their_lifecycles_allow() {
    let system = TestSystem::start().await;
    let admin = system.admin.clone();

    // A pipeline renamed; a stage renamed and reweighted; a stage it lacks is not found.
    let pipeline = pipeline(&system).await;
    let renamed = system
        .patch(
            &admin,
            &format!("/v1/pipelines/{pipeline}"),
            json!({"name": "Renewals"}),
        )
        .await
        .expect(200);
    assert_eq!(renamed.body["version"], 2);
    let stage = format!("/v1/pipelines/{pipeline}/stages/proposal");
    let reweighted = system
        .patch(&admin, &stage, json!({"name": "Offer", "probability": 60}))
        .await
        .expect(200);
    assert_eq!(reweighted.body["version"], 4, "renamed, then reweighted");
    let bad = system
        .patch(&admin, &stage, json!({"probability": 101}))
        .await
        .expect(422);
    assert_eq!(bad.invalid_field(), "probability");
    system
        .patch(
            &admin,
            &format!("/v1/pipelines/{pipeline}/stages/closing"),
            json!({"name": "Closing"}),
        )
        .await
        .expect(404);
    let read = system
        .send(
            Method::GET,
            Some(&admin),
            &format!("/v1/pipelines/{pipeline}"),
            &[("x-crm-min-position", &reweighted.position().to_string())],
            None,
        )
        .await
        .expect(200);
    assert_eq!(read.body["name"], "Renewals");
    assert_eq!(read.body["stages"][1]["name"], "Offer");
    assert_eq!(read.body["stages"][1]["probability"], 60);

    // A task reassigned and rescheduled while pending, not once completed.
    let (first, _) = system.user("first", "sales", Some("north")).await;
    let (second, _) = system.user("second", "sales", Some("north")).await;
    let task = system
        .post(
            &admin,
            "/v1/tasks",
            json!({"title": "Call back", "due_at": "2026-02-01T09:00:00Z", "assignee_id": first}),
        )
        .await
        .expect(201)
        .id();
    let path = format!("/v1/tasks/{task}");
    let changed = system
        .patch(
            &admin,
            &path,
            json!({"assignee_id": second, "due_at": "2026-02-03T09:00:00Z"}),
        )
        .await
        .expect(200);
    assert_eq!(changed.body["version"], 3);
    let nobody = system
        .patch(&admin, &path, json!({"assignee_id": Uuid::now_v7()}))
        .await
        .expect(422);
    assert_eq!(nobody.invalid_field(), "assignee_id");
    system
        .post(&admin, &format!("{path}/complete"), json!({}))
        .await
        .expect(200);
    system
        .patch(&admin, &path, json!({"assignee_id": first}))
        .await
        .expect(409);

    // An archived company takes no further change.
    let company = system
        .post(&admin, "/v1/companies", json!({"name": "Old Co"}))
        .await
        .expect(201)
        .id();
    let archive = format!("/v1/companies/{company}/archive");
    system.post(&admin, &archive, json!({})).await.expect(200);
    system
        .patch(
            &admin,
            &format!("/v1/companies/{company}"),
            json!({"name": "New Co"}),
        )
        .await
        .expect(409);
    system.post(&admin, &archive, json!({})).await.expect(409);

    // A deactivated user's token stops working at once; no admin deactivates themselves.
    let (leaver, token) = system.user("leaver", "sales", Some("north")).await;
    system.get(&token, "/v1/contacts").await.expect(200);
    system
        .post(&admin, &format!("/v1/users/{leaver}/deactivate"), json!({}))
        .await
        .expect(200);
    system.get(&token, "/v1/contacts").await.expect(401);
    system
        .post(&admin, &format!("/v1/users/{leaver}/deactivate"), json!({}))
        .await
        .expect(409);
    system
        .post(&token, &format!("/v1/users/{first}/deactivate"), json!({}))
        .await
        .expect(401);
    let (_, manager) = system.user("boss", "manager", Some("north")).await;
    system
        .post(
            &manager,
            &format!("/v1/users/{first}/deactivate"),
            json!({}),
        )
        .await
        .expect(403);
    system.stop().await;
}

#[tokio::test]
async fn an_admin_changes_a_users_role_and_team_and_rotates_their_tokens() {
    let system = TestSystem::start().await;
    let admin = system.admin.clone();
    let (sam, first_token) = system.user("sam", "sales", Some("north")).await;
    let path = format!("/v1/users/{sam}");

    let read = system.get(&admin, &path).await.expect(200);
    assert_eq!(
        (
            &read.body["username"],
            &read.body["role"],
            &read.body["team"]
        ),
        (&json!("sam"), &json!("sales"), &json!("north"))
    );
    assert_eq!(read.body["active"], true);
    assert_eq!(
        read.body["tokens_issued_at"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(
        !read.body.to_string().contains("token_hash"),
        "{}",
        read.body
    );
    system.get(&first_token, &path).await.expect(403);
    system
        .get(&admin, &format!("/v1/users/{}", Uuid::now_v7()))
        .await
        .expect(404);

    // A new role and no team apply to the user's very next request.
    system.get(&first_token, "/v1/contacts").await.expect(200);
    let changed = system
        .patch(&admin, &path, json!({"role": "auditor", "team": null}))
        .await
        .expect(200);
    assert_eq!(changed.body["version"], 4);
    system.get(&first_token, "/v1/contacts").await.expect(403);
    let read = system.get(&admin, &path).await.expect(200);
    assert_eq!(
        (&read.body["role"], &read.body["team"]),
        (&json!("auditor"), &json!(null))
    );
    let refused = system
        .patch(&admin, &path, json!({"role": null}))
        .await
        .expect(422);
    assert_eq!(refused.invalid_field(), "role");
    let (boss, boss_token) = system.user("boss", "admin", None).await;
    system
        .patch(
            &boss_token,
            &format!("/v1/users/{boss}"),
            json!({"role": "sales"}),
        )
        .await
        .expect(409);

    // A token issued beside the first, then a rotation that leaves only the newest.
    let tokens = format!("{path}/tokens");
    let second = system.post(&admin, &tokens, json!({})).await.expect(201);
    let second_token = second.body["token"].as_str().expect("a token").to_owned();
    for token in [&first_token, &second_token] {
        system.get(token, "/v1/contacts").await.expect(403);
    }
    let rotated = system
        .post(&admin, &tokens, json!({"revoke_others": true}))
        .await
        .expect(201);
    let third_token = rotated.body["token"].as_str().expect("a token").to_owned();
    for token in [&first_token, &second_token] {
        system.get(token, "/v1/contacts").await.expect(401);
    }
    system.get(&third_token, "/v1/contacts").await.expect(403);
    let keyed = system
        .send(
            Method::POST,
            Some(&admin),
            &tokens,
            &[("idempotency-key", "once")],
            Some(b"{}"),
        )
        .await
        .expect(422);
    assert_eq!(keyed.invalid_field(), "Idempotency-Key");
    system
        .post(&first_token, &tokens, json!({}))
        .await
        .expect(401);

    // A deactivated user is issued nothing.
    system
        .post(&admin, &format!("{path}/deactivate"), json!({}))
        .await
        .expect(200);
    system.post(&admin, &tokens, json!({})).await.expect(409);
    system.stop().await;
}
