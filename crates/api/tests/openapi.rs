//! `schemas/openapi.json` is the document `api::openapi::openapi()` generates (run with
//! `CRM_BLESS=1` to rewrite it after an intended change), and that document describes the router
//! as it is: every documented operation is served by the real router, and every route the
//! sources register is documented.

use std::collections::BTreeSet;
use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use eventlog::NatsSettings;
use http_body_util::BodyExt;
use serde_json::Value;
use testkit::{TestDatabase, TestStream};
use tower::ServiceExt;
use uuid::Uuid;

/// The routers' sources, whose `.route("...", method(...))` calls the document must cover.
const ROUTER_SOURCES: [(&str, &str); 2] = [
    ("src/v1/mod.rs", include_str!("../src/v1/mod.rs")),
    ("src/operations.rs", include_str!("../src/operations.rs")),
];

const METHODS: [&str; 5] = ["get", "post", "patch", "put", "delete"];

fn checked_in_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/openapi.json")
}

fn generated_text() -> String {
    let mut text =
        serde_json::to_string_pretty(&api::openapi::openapi()).expect("the document serialises");
    text.push('\n');
    text
}

fn blessing() -> bool {
    std::env::var_os("CRM_BLESS").is_some_and(|value| value == "1")
}

/// Every (method, path) the document has an operation for, paths as documented (`{id}`).
fn documented_operations(document: &Value) -> Vec<(String, String)> {
    let paths = document["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item is an object");
            item.keys()
                .filter(|key| METHODS.contains(&key.as_str()))
                .map(|method| (method.clone(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_checked_in_document_is_the_generated_one() {
    let path = checked_in_path();
    let generated = generated_text();
    if blessing() {
        std::fs::create_dir_all(path.parent().expect("a parent folder")).expect("create schemas/");
        std::fs::write(&path, &generated).expect("write the document");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} differs from the document generated from the code; if the change is intended, run \
         `CRM_BLESS=1 cargo test -p api --test openapi` and commit the file",
        path.display()
    );
}

#[test]
fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let document = api::openapi::openapi();
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["info"]["title"].is_string());
    assert!(document["info"]["version"].is_string());

    let references = api::openapi::references(&document);
    assert!(references.len() > 50, "{} references", references.len());
    for reference in references {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference} points outside the document"));
        assert!(
            document.pointer(pointer).is_some(),
            "{reference} resolves to nothing"
        );
    }
    let components = document["components"].as_object().expect("components");
    let known: BTreeSet<&str> = [
        "schemas",
        "responses",
        "parameters",
        "headers",
        "securitySchemes",
    ]
    .into();
    for name in components.keys() {
        assert!(known.contains(name.as_str()), "components/{name}");
    }
}

#[test]
fn every_operation_is_complete() {
    let document = api::openapi::openapi();
    let tags: BTreeSet<&str> = document["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|tag| tag["name"].as_str().expect("a tag's name"))
        .collect();
    let mut operation_ids = BTreeSet::new();
    for (method, path) in documented_operations(&document) {
        let operation = &document["paths"][&path][&method];
        let id = operation["operationId"].as_str().expect("an operationId");
        assert!(operation_ids.insert(id.to_owned()), "{id} twice");
        assert!(operation["summary"].is_string(), "{method} {path}");
        for tag in operation["tags"].as_array().expect("tags") {
            assert!(tags.contains(tag.as_str().unwrap_or_default()), "{tag}");
        }
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{method} {path} has no success answer"
        );
        let open = operation["security"] == serde_json::json!([]);
        if !open {
            assert!(path.starts_with("/v1/"), "{path} needs a token");
            for status in ["401", "403", "503"] {
                assert!(responses.contains_key(status), "{method} {path}: {status}");
            }
        }
        let parameters: Vec<&str> = operation["parameters"]
            .as_array()
            .map(|parameters| {
                parameters
                    .iter()
                    .filter_map(|parameter| parameter["$ref"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        for segment in path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let parameter = format!("#/components/parameters/{name}");
                assert!(
                    parameters.contains(&parameter.as_str()),
                    "{method} {path} documents no {name}"
                );
                let resolved = document.pointer(&parameter[1..]).expect("resolves");
                assert_eq!(resolved["in"], "path", "{parameter}");
                assert_eq!(resolved["required"], true, "{parameter}");
            }
        }
        match method.as_str() {
            // A token is shown once, so no replay could answer these.
            "post" | "patch" | "delete"
                if !open && path != "/v1/users" && path != "/v1/users/{id}/tokens" =>
            {
                assert!(
                    parameters.contains(&"#/components/parameters/Idempotency-Key"),
                    "{method} {path}"
                );
            }
            // The log is the store itself (or the stream carrying it), never behind: no
            // position to wait for.
            "get" if !open && !reads_the_store(&path) => assert!(
                parameters.contains(&"#/components/parameters/X-Crm-Min-Position"),
                "{method} {path}"
            ),
            _ => {}
        }
        for (status, response) in responses {
            if open || status.starts_with('2') {
                continue;
            }
            let response = match response["$ref"].as_str() {
                Some(reference) => document
                    .pointer(reference.trim_start_matches('#'))
                    .expect("resolves"),
                None => response,
            };
            assert!(
                response["content"]["application/problem+json"]["schema"]["$ref"]
                    .as_str()
                    .is_some_and(|schema| schema.ends_with("/Problem")),
                "{method} {path} {status} is not a problem"
            );
        }
    }
}

#[test]
fn a_record_is_the_domain_record_with_its_version_and_a_page_lists_them() {
    let document = api::openapi::openapi();
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    let mut records = 0;
    for (name, schema) in schemas {
        if let Some(domain) = name.strip_suffix("Record") {
            records += 1;
            assert_ne!(
                schemas[domain]["additionalProperties"], false,
                "{domain} refuses other fields, so {name} (it plus `version`) matches nothing"
            );
            assert_eq!(
                schema["allOf"][0]["$ref"],
                format!("#/components/schemas/{domain}"),
                "{name}"
            );
            assert_eq!(
                schema["allOf"][1]["required"],
                serde_json::json!(["version"])
            );
            let page = &schemas[&format!("{domain}Page")];
            assert_eq!(
                page["properties"]["items"]["items"]["$ref"],
                format!("#/components/schemas/{name}")
            );
            assert_eq!(
                page["properties"]["next_cursor"]["type"],
                serde_json::json!(["string", "null"])
            );
        }
    }
    assert_eq!(records, 8, "one per collection");
}

/// schemars tells two types of one name apart as `Name2`, which says nothing to a reader: give
/// one of them a name of its own (see `LeadConversion` in src/openapi.rs).
#[test]
fn no_two_types_share_a_schema_name() {
    let document = api::openapi::openapi();
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    for name in schemas.keys() {
        let base = name.trim_end_matches(|c: char| c.is_ascii_digit());
        assert!(
            base == name || !schemas.contains_key(base),
            "{name} is a second type named {base}"
        );
    }
}

/// The `(method, path)` pairs of the `.route("<path>", get(..).post(..))` calls in `source`.
fn registered_routes(source: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find(".route(") {
        rest = &rest[start + ".route(".len()..];
        let literal = rest
            .trim_start()
            .strip_prefix('"')
            .expect("a route's path is a string literal");
        let end = literal.find('"').expect("the literal ends");
        let path = &literal[..end];
        let after = &literal[end + 1..];
        let handlers_end = [".route(", ".layer(", ".with_state(", ".merge(", ".nest("]
            .iter()
            .filter_map(|marker| after.find(marker))
            .min()
            .unwrap_or(after.len());
        let handlers = &after[..handlers_end];
        let mut methods = 0;
        for method in METHODS {
            let call = format!("{method}(");
            for (index, _) in handlers.match_indices(&call) {
                let before = handlers[..index].chars().next_back();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    found.push((method.to_owned(), path.to_owned()));
                    methods += 1;
                }
            }
        }
        assert!(methods > 0, "no method found for {path}");
        rest = after;
    }
    found
}

#[test]
fn every_route_the_sources_register_is_documented() {
    let document = api::openapi::openapi();
    let documented: BTreeSet<(String, String)> =
        documented_operations(&document).into_iter().collect();
    let mut registered = BTreeSet::new();
    for (file, source) in ROUTER_SOURCES {
        let routes = registered_routes(source);
        assert!(!routes.is_empty(), "no routes found in {file}");
        for route in routes {
            assert!(
                documented.contains(&route),
                "{} {} is registered in {file} but not in the OpenAPI table \
                 (crates/api/src/openapi.rs)",
                route.0,
                route.1
            );
            registered.insert(route);
        }
    }
    let undocumented_elsewhere: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented_elsewhere.is_empty(),
        "documented but registered in none of {:?}: {undocumented_elsewhere:?}",
        ROUTER_SOURCES.map(|(file, _)| file)
    );
}

/// The router as `crm` builds it, on a database and a stream of its own.
async fn router() -> (axum::Router, TestDatabase, TestStream) {
    let database = TestDatabase::new().await;
    let settings = database.store_settings();
    projector::migrate(&settings)
        .await
        .expect("the read models' registry migrates");
    let pool = eventstore::connect(&settings)
        .await
        .expect("the application connects");
    let read_models = projector::connect(&settings)
        .await
        .expect("the owner connects");
    let stream = TestStream::new();
    let nats = NatsSettings {
        url: stream.url.clone(),
        stream: stream.stream.clone(),
        subject_prefix: stream.subject_prefix.clone(),
        ..NatsSettings::default()
    };
    let client = eventlog::connect(&nats).await.expect("NATS answers");
    let reader = eventstore::Reader::new(pool.clone());
    let projections = projector::ProjectionReader::new(read_models.clone());
    let operations = api::OperationsState {
        reader: reader.clone(),
        stream: eventlog::StreamProbe::new(client, &nats),
        projections: projections.clone(),
        read_models: read_models.clone(),
    };
    let appender = eventstore::Appender::start(pool, settings.batch_max);
    let state = api::ApiState::new(
        &api::ApiSettings::default(),
        appender,
        reader,
        read_models,
        projections,
        policy::Policy::default(),
    );
    (api::router(operations, state), database, stream)
}

async fn send(router: &axum::Router, method: &str, path: &str) -> (StatusCode, bytes::Bytes) {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .expect("a request");
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router answers");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the body arrives")
        .to_bytes();
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_router_serves_every_documented_operation() {
    let (router, _database, _stream) = router().await;
    let document = api::openapi::openapi();
    let operations = documented_operations(&document);
    assert!(operations.len() > 40, "{} operations", operations.len());
    for (method, path) in operations {
        let open = document["paths"][&path][&method]["security"] == serde_json::json!([]);
        let uri = path
            .replace("{id}", &Uuid::now_v7().to_string())
            .replace("{user_id}", &Uuid::now_v7().to_string())
            .replace("{collection}", "contacts")
            .replace("{key}", "proposal");
        assert!(
            !uri.contains('{'),
            "{path} has a parameter the test cannot fill"
        );
        let (status, _) = send(&router, &method, &uri).await;
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but the router answers {status}"
        );
        if open {
            assert!(
                status == StatusCode::OK || uri == "/readyz",
                "{method} {path} answers {status}"
            );
        } else {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} without a token"
            );
        }
    }

    // The check can fail: a route nobody registered is 404, a wrong method 405.
    // Both are problems like every other refusal.
    for (method, path, status, kind) in [
        (
            "get",
            "/v1/nothing-here",
            StatusCode::NOT_FOUND,
            "not-found",
        ),
        (
            "delete",
            "/v1/companies",
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
        ),
    ] {
        let (answered, body) = send(&router, method, path).await;
        assert_eq!(answered, status, "{method} {path}");
        let problem: Value = serde_json::from_slice(&body).expect("a problem");
        assert_eq!(
            problem["type"],
            format!("urn:crm:problem:{kind}"),
            "{problem}"
        );
    }

    let (status, body) = send(&router, "get", "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let served: Value = serde_json::from_slice(&body).expect("the document is JSON");
    assert_eq!(
        served, document,
        "/openapi.json serves the generated document"
    );
}

/// Routes that read the store itself, never behind: no position to wait for.
fn reads_the_store(path: &str) -> bool {
    path == "/v1/events"
        || path == "/v1/events/stream"
        || path == "/v1/users/{id}"
        || path == "/v1/audit/verify"
        || path.starts_with("/v1/audit/tree-head")
        || path.starts_with("/v1/audit/proofs/")
}
