//! The audit trail over HTTP: an auditor sees who read and changed a record (field by field),
//! what one user did, and the data subject report of a contact; nobody else may ask, and every
//! audit call is itself logged.

use reqwest::Method;
use serde_json::{Value, json};
use system_tests::{Reply, TestSystem};
use uuid::Uuid;

async fn get_at(system: &TestSystem, token: &str, path: &str, position: u64) -> Reply {
    system
        .send(
            Method::GET,
            Some(token),
            path,
            &[
                ("x-crm-min-position", &position.to_string()),
                ("x-crm-purpose", "subject access request 2026-117"),
            ],
            None,
        )
        .await
}

fn entries(reply: &Reply) -> &Vec<Value> {
    reply.body["items"].as_array().expect("items")
}

#[tokio::test]
async fn an_auditor_sees_who_read_and_changed_a_contact_and_the_subject_report() {
    let system = TestSystem::start().await;
    let (sales_id, sales) = system.user("sam", "sales", Some("Berlin")).await;
    let (_, auditor) = system.user("alice", "auditor", None).await;
    let contact = system
        .post(
            &sales,
            "/v1/contacts",
            json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org"}),
        )
        .await
        .expect(201);
    let id = contact.id();
    let changed = system
        .patch(
            &sales,
            &format!("/v1/contacts/{id}"),
            json!({"email": "ada@lovelace.example"}),
        )
        .await
        .expect(200);
    let activity = system
        .post(
            &sales,
            "/v1/activities",
            json!({"kind": "call", "subject": "intro call", "occurred_at": "2026-11-20T09:00:00Z",
                   "contact_id": id, "duration_minutes": 20}),
        )
        .await
        .expect(201);
    let read = get_at(
        &system,
        &sales,
        &format!("/v1/contacts/{id}"),
        changed.position(),
    )
    .await
    .expect(200);
    assert_eq!(read.body["emails"], json!(["ada@lovelace.example"]));
    let last = system
        .post(&system.admin, "/v1/companies", json!({"name": "marker"}))
        .await
        .expect(201)
        .position()
        .max(activity.position());

    let trail = get_at(
        &system,
        &auditor,
        &format!("/v1/audit/records/contacts/{id}"),
        last,
    )
    .await
    .expect(200);
    let trail = entries(&trail);
    let actions: Vec<&str> = trail
        .iter()
        .map(|entry| entry["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(actions, ["read", "change", "change"], "newest first");
    assert_eq!(trail[0]["actor_id"], json!(sales_id));
    assert_eq!(trail[0]["purpose"], "subject access request 2026-117");
    assert_eq!(trail[0]["outcome"], "allowed");
    let email_change = trail[1]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|change| change["field"] == "emails")
        .expect("the e-mail change is named");
    assert_eq!(email_change["old"], json!(["ada@example.org"]));
    assert_eq!(email_change["new"], json!(["ada@lovelace.example"]));

    let changes_only = get_at(
        &system,
        &auditor,
        &format!("/v1/audit/records/contacts/{id}?action=change"),
        last,
    )
    .await
    .expect(200);
    assert_eq!(entries(&changes_only).len(), 2);

    let actor = get_at(
        &system,
        &auditor,
        &format!("/v1/audit/actors/{sales_id}"),
        last,
    )
    .await
    .expect(200);
    assert!(
        entries(&actor).len() >= 4,
        "the user's creation, change, activity and read"
    );

    let report = get_at(
        &system,
        &auditor,
        &format!("/v1/audit/subjects/contacts/{id}"),
        last,
    )
    .await
    .expect(200);
    assert_eq!(report.body["contact"]["first_name"], "Ada");
    let concerned: Vec<String> = entries(&report)
        .iter()
        .filter_map(|entry| entry["record"]["id"].as_str().map(str::to_owned))
        .collect();
    assert!(
        concerned.contains(&activity.id().to_string()),
        "the call logged against her"
    );
    assert!(concerned.contains(&id.to_string()));

    // Nobody but auditors and admins may ask; the refusal is logged like any other.
    get_at(
        &system,
        &sales,
        &format!("/v1/audit/records/contacts/{id}"),
        last,
    )
    .await
    .expect(403);
    // The auditor may not read the record itself.
    get_at(&system, &auditor, &format!("/v1/contacts/{id}"), last)
        .await
        .expect(403);

    let later = system
        .post(&system.admin, "/v1/companies", json!({"name": "marker 2"}))
        .await
        .expect(201)
        .position();
    let trail = get_at(
        &system,
        &system.admin,
        &format!("/v1/audit/records/contacts/{id}"),
        later,
    )
    .await
    .expect(200);
    let outcomes: Vec<(&str, &str)> = entries(&trail)
        .iter()
        .map(|entry| {
            (
                entry["action"].as_str().unwrap_or(""),
                entry["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        outcomes.contains(&("audit", "allowed")),
        "the audit reads are logged: {outcomes:?}"
    );
    assert!(
        outcomes.contains(&("audit", "denied")),
        "and the refused one: {outcomes:?}"
    );
    assert!(
        outcomes.contains(&("read", "denied")),
        "and the auditor's read: {outcomes:?}"
    );

    system
        .get(
            &system.admin,
            &format!("/v1/audit/records/planets/{}", Uuid::now_v7()),
        )
        .await
        .expect(404);
    system
        .get(
            &system.admin,
            &format!("/v1/audit/records/contacts/{id}?action=dance"),
        )
        .await
        .expect(422);
    system.stop().await;
}

#[tokio::test]
async fn analysts_read_a_record_history_and_auditors_the_log_each_read_logged() {
    let system = TestSystem::start().await;
    let (_, analyst) = system.user("ana", "analyst", None).await;
    let (_, auditor) = system.user("aud", "auditor", None).await;
    let (_, sales) = system.user("sal", "sales", Some("Berlin")).await;
    let company = system
        .post(&system.admin, "/v1/companies", json!({"name": "Acme"}))
        .await
        .expect(201);
    let id = company.id();
    let renamed = system
        .patch(
            &system.admin,
            &format!("/v1/companies/{id}"),
            json!({"name": "Acme Holding"}),
        )
        .await
        .expect(200);

    let history = get_at(
        &system,
        &analyst,
        &format!("/v1/companies/{id}/history"),
        renamed.position(),
    )
    .await
    .expect(200);
    let events = history.body["items"].as_array().expect("items");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["type"], "crm.company.created.v1");
    assert_eq!(events[1]["version"], 2);
    assert_eq!(events[1]["data"]["name"], "Acme Holding");
    assert_eq!(history.body["next_after"], Value::Null, "the whole history");

    // A page at a time, by version.
    let path = format!("/v1/companies/{id}/history");
    let first = system
        .get(&analyst, &format!("{path}?limit=1"))
        .await
        .expect(200);
    assert_eq!(first.body["items"][0]["version"], 1);
    assert_eq!(first.body["next_after"], 1);
    let second = system
        .get(&analyst, &format!("{path}?after=1&limit=1"))
        .await
        .expect(200);
    assert_eq!(second.body["items"][0]["version"], 2);
    let beyond = system
        .get(&analyst, &format!("{path}?after=2"))
        .await
        .expect(200);
    assert_eq!(beyond.body["items"], json!([]));
    assert_eq!(beyond.body["next_after"], Value::Null);
    system
        .get(&analyst, &format!("{path}?limit=0"))
        .await
        .expect(422);
    let unknown = system
        .get(&analyst, &format!("{path}?page=2"))
        .await
        .expect(422);
    assert_eq!(unknown.invalid_field(), "page");
    get_at(
        &system,
        &sales,
        &format!("/v1/companies/{id}/history"),
        renamed.position(),
    )
    .await
    .expect(403);
    system
        .get(
            &analyst,
            &format!("/v1/companies/{}/history", Uuid::now_v7()),
        )
        .await
        .expect(404);

    let first = system.get(&auditor, "/v1/events?limit=3").await.expect(200);
    let page = first.body["items"].as_array().expect("items");
    let positions: Vec<u64> = page
        .iter()
        .map(|event| event["position"].as_u64().expect("a position"))
        .collect();
    assert_eq!(positions, [1, 2, 3], "the log from its first event");
    let next = first.body["next_after"].as_u64().expect("more follow");
    let second = system
        .get(&auditor, &format!("/v1/events?after={next}&limit=1000"))
        .await
        .expect(200);
    let rest = second.body["items"].as_array().expect("items");
    assert_eq!(rest[0]["position"], json!(next + 1), "no gap between pages");
    assert!(
        rest.iter()
            .any(|event| event["type"] == "crm.access.record_accessed.v1"
                && event["data"]["action"] == "history"),
        "the history read is in the log"
    );
    system.get(&sales, "/v1/events").await.expect(403);
    system.get(&auditor, "/v1/events?limit=0").await.expect(422);
    // The accesses are the audit trail's: an analyst reads the log without them.
    let analysts = system
        .get(&analyst, "/v1/events?limit=1000")
        .await
        .expect(200);
    let events = analysts.body["items"].as_array().expect("items");
    assert!(
        events
            .iter()
            .any(|event| event["type"] == "crm.company.renamed.v1"),
        "{events:?}"
    );
    assert!(
        events.iter().all(|event| event["subject"]
            .as_str()
            .is_some_and(|s| !s.starts_with("access"))
            && !event["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("crm.access."))),
        "{events:?}"
    );
    // A position the log has not reached, asked by header as by parameter.
    system
        .send(
            Method::GET,
            Some(&auditor),
            "/v1/events",
            &[("x-crm-min-position", "999999")],
            None,
        )
        .await
        .expect(504);
    system.stop().await;
}

/// Polls until the relay has signed a tree head covering at least `size` events.
async fn tree_head_covering(system: &TestSystem, token: &str, size: u64) -> Value {
    for _ in 0..200 {
        let reply = system.get(token, "/v1/audit/tree-head").await;
        if reply.status.as_u16() == 200 && reply.body["position"].as_u64() >= Some(size) {
            return reply.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no tree head covers {size} events");
}

fn hash(hex_text: &Value) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_text.as_str().expect("a hex hash"), &mut bytes).expect("hex");
    bytes
}

#[tokio::test]
async fn an_auditor_checks_the_log_and_proves_an_event_is_in_a_signed_tree() {
    let system = TestSystem::start().await;
    let (_, auditor) = system.user("aud", "auditor", None).await;
    let (_, sales) = system.user("sal", "sales", Some("Berlin")).await;
    let create = |n: usize| {
        system.post(
            &system.admin,
            "/v1/companies",
            json!({"name": format!("Company {n}")}),
        )
    };
    for n in 0..6 {
        create(n).await.expect(201);
    }
    // Two heads, whatever the relay's pace: the second covers what came after the first.
    let first = tree_head_covering(&system, &auditor, 5).await;
    for n in 6..12 {
        create(n).await.expect(201);
    }
    let covered = first["position"].as_u64().expect("a size");
    let head = tree_head_covering(&system, &auditor, covered + 6).await;
    let size = head["position"].as_u64().expect("a size");
    let root = hash(&head["tree_root"]);

    // The event at position 3, as the log holds it, is in the signed tree.
    let log = system.get(&auditor, "/v1/events?limit=5").await.expect(200);
    let third = &log.body["items"][2];
    assert_eq!(third["position"], 3);
    let proof = system
        .get(
            &auditor,
            &format!("/v1/audit/proofs/inclusion?position=3&tree_size={size}"),
        )
        .await
        .expect(200);
    let inclusion: eventstore::merkle::InclusionProof =
        serde_json::from_value(proof.body["proof"].clone()).expect("an inclusion proof");
    inclusion
        .verify(&hash(&third["hash"]), &root)
        .expect("the proof leads to the signed root");
    assert!(
        inclusion
            .verify(&hash(&log.body["items"][3]["hash"]), &root)
            .is_err(),
        "and not for another event"
    );

    // The earlier head's tree is a prefix of the later one.
    let from = first["position"].as_u64().expect("a size");
    let proof = system
        .get(
            &auditor,
            &format!("/v1/audit/proofs/consistency?from={from}&to={size}"),
        )
        .await
        .expect(200);
    let consistency: eventstore::merkle::ConsistencyProof =
        serde_json::from_value(proof.body["proof"].clone()).expect("a consistency proof");
    consistency
        .verify(&hash(&first["tree_root"]), &root)
        .expect("the log was only appended to");

    let verified = system.get(&auditor, "/v1/audit/verify").await.expect(200);
    assert_eq!(verified.body["ok"], true, "{}", verified.body);
    assert!(verified.body["tree_heads_checked"].as_u64() >= Some(2));

    system
        .get(
            &auditor,
            &format!(
                "/v1/audit/proofs/inclusion?position=3&tree_size={}",
                size + 1_000
            ),
        )
        .await
        .expect(422);
    system.get(&sales, "/v1/audit/verify").await.expect(403);
    system.get(&sales, "/v1/audit/tree-head").await.expect(403);
    system.stop().await;
}

#[tokio::test]
async fn the_subject_report_holds_what_reaches_her_through_her_deals_and_nothing_of_others() {
    let system = TestSystem::start().await;
    let admin = system.admin.clone();
    let (sales_id, sales) = system.user("sam", "sales", Some("Berlin")).await;
    let (_, auditor) = system.user("alice", "auditor", None).await;
    let company = system
        .post(&admin, "/v1/companies", json!({"name": "Engines Ltd"}))
        .await
        .expect(201)
        .id();
    let contact = system
        .post(
            &admin,
            "/v1/contacts",
            json!({"first_name": "Ada", "last_name": "Lovelace", "company_id": company}),
        )
        .await
        .expect(201)
        .id();
    let pipeline = system.one_stage_pipeline().await;
    let deal = system
        .post(
            &admin,
            "/v1/deals",
            json!({"title": "Engine", "pipeline_id": pipeline, "stage": "new", "contact_id": contact,
                   "amount": {"amount_minor": 1000, "currency": "EUR"}}),
        )
        .await
        .expect(201)
        .id();
    let on_the_deal = system
        .post(
            &admin,
            "/v1/activities",
            json!({"kind": "call", "subject": "complaint call", "occurred_at": "2026-11-20T09:00:00Z",
                   "deal_id": deal}),
        )
        .await
        .expect(201)
        .id();
    // A call about her deal with someone else: his data, not hers.
    let colleague = system
        .post(
            &admin,
            "/v1/contacts",
            json!({"first_name": "Charles", "last_name": "Babbage", "company_id": company}),
        )
        .await
        .expect(201)
        .id();
    let with_him = system
        .post(
            &admin,
            "/v1/activities",
            json!({"kind": "call", "subject": "his own matter", "occurred_at": "2026-11-20T10:00:00Z",
                   "deal_id": deal, "contact_id": colleague}),
        )
        .await
        .expect(201)
        .id();
    let clicked = system
        .post(
            &admin,
            &format!("/v1/contacts/{contact}/link-clicks"),
            json!({"url": "https://example.org/offer", "clicked_at": "2026-11-21T10:00:00Z"}),
        )
        .await
        .expect(200)
        .position();

    let report = get_at(
        &system,
        &auditor,
        &format!("/v1/audit/subjects/contacts/{contact}"),
        clicked,
    )
    .await
    .expect(200);
    let found = entries(&report);
    assert!(
        found
            .iter()
            .any(|entry| entry["record"]["id"] == json!(on_the_deal)),
        "the call logged on her deal only"
    );
    assert!(
        !found
            .iter()
            .any(|entry| entry["record"]["id"] == json!(with_him)
                || entry["record"]["id"] == json!(colleague)),
        "nothing of the colleague, though his call is on her deal"
    );
    let click = found
        .iter()
        .find(|entry| {
            entry["event_type"]
                .as_str()
                .is_some_and(|kind| kind.contains("link_clicked"))
        })
        .expect("the link click");
    assert!(
        click["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .any(|change| change["new"] == "https://example.org/offer"),
        "what she clicked: {click}"
    );
    // Without a position the trail answers as of the request, holding what just committed.
    let retitled = system
        .patch(
            &admin,
            &format!("/v1/contacts/{contact}"),
            json!({"title": "Countess"}),
        )
        .await
        .expect(200);
    let now = system
        .get(&auditor, &format!("/v1/audit/records/contacts/{contact}"))
        .await
        .expect(200);
    assert_eq!(
        entries(&now)[0]["position"],
        json!(retitled.position()),
        "the change made just before"
    );
    // A company's id is no data subject: it would gather everyone linked to the company.
    get_at(
        &system,
        &auditor,
        &format!("/v1/audit/subjects/contacts/{company}"),
        clicked,
    )
    .await
    .expect(404);

    // An audit answer is logged against every record it shows: the auditor reading what Sam
    // changed appears on the contact's own trail.
    system
        .patch(
            &sales,
            &format!("/v1/contacts/{contact}"),
            json!({"title": "Countess"}),
        )
        .await
        .expect(403);
    let own = system
        .post(
            &sales,
            "/v1/contacts",
            json!({"first_name": "Charles", "last_name": "Babbage"}),
        )
        .await
        .expect(201);
    get_at(
        &system,
        &auditor,
        &format!("/v1/audit/actors/{sales_id}"),
        own.position(),
    )
    .await
    .expect(200);
    let marker = system
        .post(&admin, "/v1/companies", json!({"name": "marker"}))
        .await
        .expect(201)
        .position();
    let trail = get_at(
        &system,
        &admin,
        &format!("/v1/audit/records/contacts/{}", own.id()),
        marker,
    )
    .await
    .expect(200);
    assert!(
        entries(&trail)
            .iter()
            .any(|entry| entry["action"] == "audit" && entry["role"] == "auditor"),
        "the auditor's look at Sam's trail shows on Charles's record"
    );

    // A refusal is logged whatever the query string says.
    get_at(
        &system,
        &sales,
        &format!("/v1/audit/actors/{sales_id}?from=yesterday"),
        marker,
    )
    .await
    .expect(403);
    system.stop().await;
}
