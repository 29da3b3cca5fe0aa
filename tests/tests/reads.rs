//! Reads of the records read model over HTTP: a command's position makes the next read see it,
//! lists filter and page, and roles that may not read records get 403.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::json;
use system_tests::TestSystem;
use uuid::Uuid;

#[tokio::test]
async fn a_record_is_readable_at_the_position_its_command_returned() {
    let system = TestSystem::start().await;
    let created = system
        .post(
            &system.admin,
            "/v1/companies",
            json!({"name": "Acme", "tags": ["key"]}),
        )
        .await
        .expect(201);
    let id = created.id();
    let position = created.position().to_string();
    let read = system
        .send(
            Method::GET,
            Some(&system.admin),
            &format!("/v1/companies/{id}"),
            &[("x-crm-min-position", &position)],
            None,
        )
        .await
        .expect(200);
    assert_eq!(read.body["name"], "Acme");
    assert_eq!(read.body["version"], 1);
    assert_eq!(read.headers["etag"], "\"1\"");

    let changed = system
        .patch(
            &system.admin,
            &format!("/v1/companies/{id}"),
            json!({"name": "Acme Ltd"}),
        )
        .await
        .expect(200);
    let read = system
        .get(
            &system.admin,
            &format!("/v1/companies/{id}?min_position={}", changed.position()),
        )
        .await
        .expect(200);
    assert_eq!(read.body["name"], "Acme Ltd");
    assert_eq!(read.body["version"], 2);

    system
        .get(
            &system.admin,
            &format!("/v1/companies/{}", uuid::Uuid::now_v7()),
        )
        .await
        .expect(404);
    let beyond = system
        .send(
            Method::GET,
            Some(&system.admin),
            &format!("/v1/companies/{id}"),
            &[("x-crm-min-position", "999999")],
            None,
        )
        .await;
    assert_eq!(beyond.status, 504, "{beyond:?}");
    system.stop().await;
}

#[tokio::test]
async fn lists_filter_by_tag_owner_company_and_text_and_page_through_everything_once() {
    let system = TestSystem::start().await;
    let (sally, sally_token) = system.user("sally", "sales", Some("north")).await;
    // Sally's, so that she may put her contacts under it.
    let acme = system
        .post(
            &system.admin,
            "/v1/companies",
            json!({"name": "Acme", "owner_id": sally}),
        )
        .await
        .expect(201)
        .id();
    let mut last = 0;
    for index in 0..12 {
        let body = json!({
            "first_name": if index == 0 { "Ada" } else { "Bob" },
            "last_name": format!("Number{index}"),
            "email": format!("person{index}@example.com"),
            "tags": if index % 3 == 0 { json!(["vip"]) } else { json!([]) },
            "company_id": if index % 2 == 0 { json!(acme) } else { json!(null) },
        });
        let token = if index < 4 {
            &sally_token
        } else {
            &system.admin
        };
        last = system
            .post(token, "/v1/contacts", body)
            .await
            .expect(201)
            .position();
    }
    let list = |query: String| {
        let system = &system;
        async move {
            system
                .get(
                    &system.admin,
                    &format!("/v1/contacts?min_position={last}&{query}"),
                )
                .await
                .expect(200)
        }
    };
    let count = |reply: &system_tests::Reply| reply.body["items"].as_array().unwrap().len();
    assert_eq!(count(&list("tag=vip".into()).await), 4);
    assert_eq!(count(&list(format!("owner_id={sally}")).await), 4);
    assert_eq!(count(&list(format!("company_id={acme}")).await), 6);
    let ada = list("q=ada".into()).await;
    assert_eq!(count(&ada), 1);
    assert_eq!(ada.body["items"][0]["first_name"], "Ada");
    assert_eq!(count(&list("q=person7%40example.com".into()).await), 1);

    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("limit=5&cursor={cursor}"),
            None => "limit=5".to_owned(),
        };
        let page = list(query).await;
        for item in page.body["items"].as_array().unwrap() {
            assert!(
                seen.insert(item["id"].as_str().unwrap().to_owned()),
                "seen twice"
            );
        }
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!((seen.len(), pages), (12, 3));

    let bad = system
        .get(&system.admin, "/v1/contacts?limit=501")
        .await
        .expect(422);
    assert_eq!(bad.invalid_field(), "limit");
    let bad = system
        .get(&system.admin, "/v1/contacts?cursor=nonsense")
        .await
        .expect(422);
    assert_eq!(bad.invalid_field(), "cursor");
    system
        .get(&system.admin, "/v1/contacts?colour=red")
        .await
        .expect(422);
    // PostgreSQL takes no NUL in text: refused as the client's mistake, never a 503.
    for field in ["tag", "q"] {
        let bad = system
            .get(&system.admin, &format!("/v1/contacts?{field}=a%00b"))
            .await
            .expect(422);
        assert_eq!(bad.invalid_field(), field);
    }
    system.stop().await;
}

#[tokio::test]
async fn roles_without_record_access_get_403_on_reads() {
    let system = TestSystem::start().await;
    let (_, analyst) = system.user("ann", "analyst", None).await;
    let (_, auditor) = system.user("aud", "auditor", None).await;
    let (_, support) = system.user("sue", "support", None).await;
    for token in [&analyst, &auditor] {
        system.get(token, "/v1/companies").await.expect(403);
        system.get(token, "/v1/contacts").await.expect(403);
    }
    system.get(&support, "/v1/deals").await.expect(403);
    system.get(&support, "/v1/cases").await.expect(200);
    system
        .send(Method::GET, None, "/v1/companies", &[], None)
        .await
        .expect(401);
    system.stop().await;
}

#[tokio::test]
async fn lists_filter_by_status_linked_contact_and_due_time() {
    let system = TestSystem::start().await;
    let admin = system.admin.clone();
    let create = |path: &'static str, body: serde_json::Value| {
        let system = &system;
        let admin = admin.clone();
        async move { system.post(&admin, path, body).await.expect(201).id() }
    };
    let contact = |first: &str| {
        create(
            "/v1/contacts",
            json!({"first_name": first, "last_name": "Test"}),
        )
    };
    let (ada, bob) = (contact("Ada").await, contact("Bob").await);
    let case = |contact_id: Uuid| {
        create(
            "/v1/cases",
            json!({"subject": "Help", "contact_id": contact_id, "priority": "normal"}),
        )
    };
    let (new_for_ada, open_for_ada, new_for_bob) =
        (case(ada).await, case(ada).await, case(bob).await);
    system
        .post(
            &admin,
            &format!("/v1/cases/{open_for_ada}/status"),
            json!({"status": "open"}),
        )
        .await
        .expect(200);
    let (assignee, _) = system.user("rep", "sales", None).await;
    let task = |due_at: &str| {
        create(
            "/v1/tasks",
            json!({"title": "Call", "due_at": due_at, "assignee_id": assignee, "contact_id": ada}),
        )
    };
    let (soon, later, done) = (
        task("2026-01-01T09:00:00Z").await,
        task("2027-01-01T09:00:00Z").await,
        task("2025-01-01T09:00:00Z").await,
    );
    let last = system
        .post(&admin, &format!("/v1/tasks/{done}/complete"), json!({}))
        .await
        .expect(200)
        .position()
        .to_string();
    let ids = |path: String| {
        let system = &system;
        let admin = admin.clone();
        let last = last.clone();
        async move {
            let reply = system
                .send(
                    Method::GET,
                    Some(&admin),
                    &path,
                    &[("x-crm-min-position", &last)],
                    None,
                )
                .await
                .expect(200);
            reply.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|item| item["id"].as_str().expect("an id").to_owned())
                .collect::<HashSet<String>>()
        }
    };
    let set = |ids: &[Uuid]| ids.iter().map(Uuid::to_string).collect::<HashSet<_>>();
    assert_eq!(
        ids(format!("/v1/cases?status=open&contact_id={ada}")).await,
        set(&[open_for_ada])
    );
    assert_eq!(
        ids("/v1/cases?status=new".to_owned()).await,
        set(&[new_for_ada, new_for_bob])
    );
    assert_eq!(
        ids(format!("/v1/cases?contact_id={bob}")).await,
        set(&[new_for_bob])
    );
    assert_eq!(
        ids("/v1/tasks?status=pending&due_before=2026-06-01T00:00:00Z".to_owned()).await,
        set(&[soon])
    );
    assert_eq!(
        ids("/v1/tasks?status=pending".to_owned()).await,
        set(&[soon, later])
    );

    for (path, field) in [
        ("/v1/cases?status=won", "status"),
        ("/v1/companies?status=open", "status"),
        ("/v1/tasks?due_before=tomorrow", "due_before"),
    ] {
        let refused = system.get(&admin, path).await.expect(422);
        assert_eq!(refused.invalid_field(), field, "{path}");
    }
    let refused = system
        .get(&admin, &format!("/v1/leads?contact_id={ada}"))
        .await
        .expect(422);
    assert_eq!(refused.invalid_field(), "contact_id");
    system.stop().await;
}
