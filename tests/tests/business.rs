//! What the business sees, over HTTP: the pipeline report (as JSON, CSV and XLSX), customer
//! scores, a record as it was at a past time and tracked link clicks, each read decided by the
//! policy and logged like every other read.

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
            &[("x-crm-min-position", &position.to_string())],
            None,
        )
        .await
}

/// A pipeline of two stages; its id and position.
async fn create_pipeline(system: &TestSystem) -> (Uuid, u64) {
    let created = system
        .post(
            &system.admin,
            "/v1/pipelines",
            json!({"name": "New business", "stages": [
                {"key": "lead", "name": "Lead", "probability": 10},
                {"key": "proposal", "name": "Proposal", "probability": 50}
            ]}),
        )
        .await
        .expect(201);
    (created.id(), created.position())
}

async fn open_deal(
    system: &TestSystem,
    token: &str,
    pipeline_id: Uuid,
    stage: &str,
    amount: i64,
    currency: &str,
) -> Reply {
    system
        .post(
            token,
            "/v1/deals",
            json!({"title": "Looms", "pipeline_id": pipeline_id, "stage": stage,
                   "amount": {"amount_minor": amount, "currency": currency}}),
        )
        .await
        .expect(201)
}

fn stage<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["stages"]
        .as_array()
        .and_then(|stages| stages.iter().find(|stage| stage["key"] == key))
        .unwrap_or_else(|| panic!("no stage {key} in {report}"))
}

#[tokio::test]
async fn a_manager_sees_the_pipeline_of_their_team_by_stage_and_currency() {
    let system = TestSystem::start().await;
    let (pipeline_id, _) = create_pipeline(&system).await;
    let (_, berlin) = system.user("sam", "sales", Some("Berlin")).await;
    let (_, paris) = system.user("pia", "sales", Some("Paris")).await;
    let (_, manager) = system.user("mia", "manager", Some("Berlin")).await;
    open_deal(&system, &berlin, pipeline_id, "lead", 100_000, "EUR").await;
    open_deal(&system, &berlin, pipeline_id, "proposal", 40_000, "EUR").await;
    open_deal(&system, &berlin, pipeline_id, "proposal", 10_000, "USD").await;
    let last = open_deal(&system, &paris, pipeline_id, "proposal", 999_000, "EUR")
        .await
        .position();

    let path = format!("/v1/reports/pipeline?pipeline_id={pipeline_id}");
    let report = get_at(&system, &manager, &path, last)
        .await
        .expect(200)
        .body;
    assert_eq!(stage(&report, "lead")["open_deals"], 1);
    let proposal = stage(&report, "proposal");
    assert_eq!(
        proposal["open_deals"], 2,
        "Paris's deal is not the Berlin manager's"
    );
    let totals = proposal["totals"].as_array().expect("totals per currency");
    let of = |currency: &str| {
        totals
            .iter()
            .find(|total| total["currency"] == currency)
            .unwrap_or_else(|| panic!("no {currency} in {totals:?}"))
    };
    assert_eq!(of("EUR")["total_minor"], 40_000);
    assert_eq!(of("EUR")["weighted_minor"], 20_000);
    assert_eq!(of("USD")["total_minor"], 10_000);
    assert_eq!(of("USD")["weighted_minor"], 5_000);

    let (_, analyst) = system.user("ann", "analyst", None).await;
    let everything = get_at(&system, &analyst, &path, last)
        .await
        .expect(200)
        .body;
    assert_eq!(stage(&everything, "proposal")["open_deals"], 3);

    let csv = get_at(&system, &manager, &format!("{path}&format=csv"), last)
        .await
        .expect(200);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    let text = csv.body.as_str().expect("a CSV body");
    assert!(text.starts_with("stage_order,stage_key,"), "{text}");
    assert!(text.contains(",proposal,Proposal,"), "{text}");
    let xlsx = get_at(&system, &manager, &format!("{path}&format=xlsx"), last)
        .await
        .expect(200);
    assert_eq!(
        xlsx.headers["content-disposition"],
        "attachment; filename=\"pipeline-report.xlsx\""
    );

    let unknown = format!("/v1/reports/pipeline?pipeline_id={}", Uuid::now_v7());
    get_at(&system, &manager, &unknown, last).await.expect(404);
    let no_pipeline = get_at(&system, &manager, "/v1/reports/pipeline", last)
        .await
        .expect(422);
    assert_eq!(no_pipeline.invalid_field(), "pipeline_id");
    // No deal has an empty team: an empty one is refused, not counted as "no team".
    let no_team = get_at(&system, &manager, &format!("{path}&team="), last)
        .await
        .expect(422);
    assert_eq!(no_team.invalid_field(), "team");
    system.stop().await;
}

#[tokio::test]
async fn reports_are_refused_to_roles_without_them_and_every_report_is_logged() {
    let system = TestSystem::start().await;
    let (pipeline_id, created) = create_pipeline(&system).await;
    let (_, support) = system.user("sue", "support", None).await;
    let (_, auditor) = system.user("alex", "auditor", None).await;
    let (_, analyst) = system.user("ann", "analyst", None).await;
    for path in [
        format!("/v1/reports/pipeline?pipeline_id={pipeline_id}"),
        format!("/v1/reports/velocity?pipeline_id={pipeline_id}"),
        format!("/v1/reports/forecast?pipeline_id={pipeline_id}&months=3"),
        "/v1/reports/leaderboard".to_owned(),
        "/v1/reports/sources".to_owned(),
    ] {
        for token in [&support, &auditor] {
            system.get(token, &path).await.expect(403);
        }
        let answered = get_at(&system, &analyst, &path, created).await.expect(200);
        assert!(answered.body.is_object(), "{path}: {answered:?}");
    }
    let bad = system
        .get(
            &analyst,
            &format!("/v1/reports/forecast?pipeline_id={pipeline_id}&months=99"),
        )
        .await
        .expect(422);
    assert_eq!(bad.invalid_field(), "months");
    for report in ["leaderboard", "sources"] {
        let unfiltered = system
            .get(
                &analyst,
                &format!("/v1/reports/{report}?pipeline_id={pipeline_id}"),
            )
            .await
            .expect(422);
        assert_eq!(unfiltered.invalid_field(), "pipeline_id", "{report}");
    }

    let log = system
        .get(&system.admin, "/v1/events?limit=1000&min_position=1")
        .await
        .expect(200);
    let accesses: Vec<&Value> = log.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|event| event["type"] == "crm.access.record_accessed.v1")
        .filter(|event| {
            event["data"]["route"]
                .as_str()
                .is_some_and(|route| route.contains("/v1/reports/"))
        })
        .collect();
    let outcome = |wanted: &str| {
        accesses
            .iter()
            .filter(|event| event["data"]["outcome"] == wanted)
            .count()
    };
    assert_eq!(outcome("allowed"), 5, "each answered report is logged");
    assert_eq!(outcome("denied"), 10, "each refusal is logged");
    assert!(
        accesses
            .iter()
            .all(|event| event["data"]["action"] == "export")
    );
    // Marketing reads the lead sources (its campaigns' results, not what the deals were
    // worth), and no other report.
    let admin = system.admin.clone();
    let lead = system
        .post(
            &admin,
            "/v1/leads",
            json!({"name": "Fair visitor", "source": "fair"}),
        )
        .await
        .expect(201)
        .id();
    let converted = system
        .post(
            &admin,
            &format!("/v1/leads/{lead}/convert"),
            json!({"deal": {"title": "First order", "pipeline_id": pipeline_id, "stage": "lead",
                            "amount": {"amount_minor": 700, "currency": "EUR"}}}),
        )
        .await
        .expect(200);
    let deal = converted.body["deal_id"]
        .as_str()
        .expect("a deal")
        .to_owned();
    let won = system
        .post(&admin, &format!("/v1/deals/{deal}/won"), json!({}))
        .await
        .expect(200)
        .position();
    let (_, marketing) = system.user("mia", "marketing", None).await;
    let fair = |report: &Value| report["sources"][0].clone();
    let seen = get_at(&system, &analyst, "/v1/reports/sources", won)
        .await
        .expect(200);
    assert_eq!(
        fair(&seen.body)["won"][0]["won_minor"],
        700,
        "{}",
        seen.body
    );
    let seen = get_at(&system, &marketing, "/v1/reports/sources", won)
        .await
        .expect(200);
    assert_eq!(fair(&seen.body)["deals_won"], 1, "{}", seen.body);
    assert_eq!(fair(&seen.body)["won"], json!([]), "{}", seen.body);
    system
        .get(&marketing, "/v1/reports/leaderboard")
        .await
        .expect(403);
    system.stop().await;
}

#[tokio::test]
async fn a_company_score_explains_its_value_and_engagement_and_a_manual_class_wins() {
    let system = TestSystem::start().await;
    let (pipeline_id, _) = create_pipeline(&system).await;
    let (_, sales) = system.user("sam", "sales", Some("Berlin")).await;
    let (_, other) = system.user("pia", "sales", Some("Paris")).await;
    let company = system
        .post(
            &sales,
            "/v1/companies",
            json!({"name": "Acme", "value_class": "B"}),
        )
        .await
        .expect(201)
        .id();
    let contact = system
        .post(
            &sales,
            "/v1/contacts",
            json!({"first_name": "Ada", "last_name": "Lovelace", "company_id": company}),
        )
        .await
        .expect(201)
        .id();
    let deal = system
        .post(
            &sales,
            "/v1/deals",
            json!({"title": "Looms", "pipeline_id": pipeline_id, "stage": "lead",
                   "company_id": company, "contact_id": contact,
                   "amount": {"amount_minor": 500_000, "currency": "EUR"}}),
        )
        .await
        .expect(201)
        .id();
    system
        .post(&sales, &format!("/v1/deals/{deal}/won"), json!({}))
        .await
        .expect(200);
    system
        .post(
            &sales,
            "/v1/activities",
            json!({"kind": "meeting", "subject": "kick-off", "occurred_at": "2026-11-30T09:00:00Z",
                   "company_id": company, "contact_id": contact, "duration_minutes": 45}),
        )
        .await
        .expect(201);
    let click = system
        .post(
            &sales,
            &format!("/v1/contacts/{contact}/link-clicks"),
            json!({"url": "https://acme.example/pricing", "clicked_at": "2026-12-01T10:00:00Z"}),
        )
        .await
        .expect(200);

    let path = format!("/v1/scores/companies/{company}");
    let score = get_at(&system, &sales, &path, click.position())
        .await
        .expect(200)
        .body;
    assert_eq!(score["value"]["manual_class"], "B");
    assert_eq!(score["value"]["class"], "B", "the manual class wins");
    assert_eq!(score["value"]["frequency"], 1);
    assert!(score["value"]["computed_class"].is_string());
    assert!(
        score["engagement"]["score"]
            .as_f64()
            .is_some_and(|score| score > 0.0),
        "{score}"
    );
    assert!(
        score["touch_cost"]["minutes_this_month"].is_number(),
        "{score}"
    );
    let risk = score["churn_risk"]["risk"].as_u64().expect("a risk");
    assert!(risk <= 100);

    assert_eq!(score["value"]["monetary"][0]["amount_minor"], 500_000);

    // Support reads the customer, not its deals: the classes and scores, not what was won.
    let (_, support) = system.user("sue", "support", None).await;
    for path in [path.clone(), "/v1/scores/companies".to_owned()] {
        let seen = get_at(&system, &support, &path, click.position())
            .await
            .expect(200)
            .body;
        let value = if seen["items"].is_array() {
            &seen["items"][0]["value"]
        } else {
            &seen["value"]
        };
        assert_eq!(value["class"], "B");
        assert_eq!(value["monetary"], json!([]), "{seen}");
        assert_eq!(value["frequency"], json!(null), "{seen}");
        assert_eq!(value["events"], json!([]), "{seen}");
        assert!(!seen.to_string().contains("500000"), "{seen}");
    }

    get_at(&system, &other, &path, click.position())
        .await
        .expect(403);
    let ranked = get_at(
        &system,
        &sales,
        "/v1/scores/companies?order=engagement",
        click.position(),
    )
    .await
    .expect(200)
    .body;
    assert_eq!(ranked["items"][0]["id"], company.to_string());
    let hidden = get_at(&system, &other, "/v1/scores/companies", click.position())
        .await
        .expect(200)
        .body;
    assert_eq!(
        hidden["items"],
        json!([]),
        "another team's company is not listed"
    );

    let bad_url = system
        .post(
            &sales,
            &format!("/v1/contacts/{contact}/link-clicks"),
            json!({"url": "javascript:alert(1)"}),
        )
        .await
        .expect(422);
    assert_eq!(bad_url.invalid_field(), "url");
    system.stop().await;
}

#[tokio::test]
async fn a_record_read_as_of_a_past_time_is_as_it_was_then_and_logged_as_history() {
    let system = TestSystem::start().await;
    let (_, analyst) = system.user("ann", "analyst", None).await;
    let (_, sales) = system.user("sam", "sales", Some("Berlin")).await;
    let company = system
        .post(&system.admin, "/v1/companies", json!({"name": "Acme"}))
        .await
        .expect(201)
        .id();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    system
        .patch(
            &system.admin,
            &format!("/v1/companies/{company}"),
            json!({"name": "Acme Group"}),
        )
        .await
        .expect(200);

    let as_of = |time: chrono::DateTime<chrono::Utc>| {
        format!(
            "/v1/companies/{company}?as_of={}",
            time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .replace('+', "%2B")
        )
    };
    let then = system.get(&analyst, &as_of(between)).await.expect(200).body;
    assert_eq!(then["name"], "Acme");
    assert_eq!(then["version"], 1);
    let now = system
        .get(&analyst, &as_of(chrono::Utc::now()))
        .await
        .expect(200)
        .body;
    assert_eq!(now["name"], "Acme Group");
    let before = between - chrono::Duration::days(1);
    system.get(&analyst, &as_of(before)).await.expect(404);
    system.get(&sales, &as_of(between)).await.expect(403);
    system.stop().await;
}

#[tokio::test]
async fn a_contacts_timeline_shows_its_touchpoints_and_deals_newest_first_and_only_what_the_caller_may_read()
 {
    let system = TestSystem::start().await;
    let (pipeline_id, _) = create_pipeline(&system).await;
    let (sales_id, sales) = system.user("sam", "sales", Some("Berlin")).await;
    let (_, support) = system.user("sue", "support", None).await;
    let (_, other) = system.user("pia", "sales", Some("Paris")).await;
    let contact = system
        .post(
            &sales,
            "/v1/contacts",
            json!({"first_name": "Ada", "last_name": "Lovelace"}),
        )
        .await
        .expect(201)
        .id();
    system
        .post(
            &sales,
            "/v1/activities",
            json!({"kind": "call", "subject": "Renewal", "occurred_at": "2026-11-20T09:00:00Z",
                   "contact_id": contact, "direction": "outbound", "duration_minutes": 15}),
        )
        .await
        .expect(201);
    let deal = system
        .post(
            &sales,
            "/v1/deals",
            json!({"title": "Looms", "pipeline_id": pipeline_id, "stage": "lead", "contact_id": contact,
                   "amount": {"amount_minor": 1000, "currency": "EUR"}}),
        )
        .await
        .expect(201)
        .id();
    let moved = system
        .post(
            &sales,
            &format!("/v1/deals/{deal}/stage"),
            json!({"stage": "proposal"}),
        )
        .await
        .expect(200);

    let path = format!("/v1/contacts/{contact}/timeline");
    let page = get_at(&system, &sales, &path, moved.position())
        .await
        .expect(200)
        .body;
    let entries = page["items"].as_array().expect("items");
    let collections: Vec<&str> = entries
        .iter()
        .map(|entry| entry["record"]["collection"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        collections,
        ["deals", "deals", "activities", "contacts"],
        "{page}"
    );
    assert_eq!(entries[0]["actor"], format!("user:{sales_id}"));
    assert!(
        entries[0]["summary"]
            .as_str()
            .is_some_and(|summary| summary.contains("proposal")),
        "{page}"
    );
    assert_eq!(entries[2]["kind"], "touchpoint");

    let seen_by_support = get_at(&system, &support, &path, moved.position())
        .await
        .expect(200)
        .body;
    assert!(
        seen_by_support["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|entry| entry["record"]["collection"] != "deals"),
        "support reads no deals: {seen_by_support}"
    );
    get_at(&system, &other, &path, moved.position())
        .await
        .expect(403);
    let touchpoints = get_at(
        &system,
        &sales,
        &format!("{path}?kind=touchpoint"),
        moved.position(),
    )
    .await
    .expect(200)
    .body;
    assert_eq!(touchpoints["items"].as_array().map(Vec::len), Some(1));
    system.stop().await;
}

#[tokio::test]
async fn a_stage_reweighted_reweighs_the_pipeline_and_the_forecast() {
    let system = TestSystem::start().await;
    let (pipeline_id, _) = create_pipeline(&system).await;
    open_deal(
        &system,
        &system.admin,
        pipeline_id,
        "proposal",
        40_000,
        "EUR",
    )
    .await;
    let reweighted = system
        .patch(
            &system.admin,
            &format!("/v1/pipelines/{pipeline_id}/stages/proposal"),
            json!({"probability": 80}),
        )
        .await
        .expect(200);

    let report = get_at(
        &system,
        &system.admin,
        &format!("/v1/reports/pipeline?pipeline_id={pipeline_id}"),
        reweighted.position(),
    )
    .await
    .expect(200)
    .body;
    let proposal = stage(&report, "proposal");
    assert_eq!(proposal["probability"], 80);
    assert_eq!(proposal["totals"][0]["weighted_minor"], 32_000);
    let forecast = get_at(
        &system,
        &system.admin,
        &format!("/v1/reports/forecast?pipeline_id={pipeline_id}"),
        reweighted.position(),
    )
    .await
    .expect(200)
    .body;
    assert_eq!(forecast["without_date"][0]["weighted_minor"], 32_000);
    system.stop().await;
}
