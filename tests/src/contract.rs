//! Every answer the system tests get is checked against `schemas/openapi.json`: its status must be
//! one the operation documents, the headers it documents as required must be there and valid, and
//! a JSON body must be valid under the documented schema. So the published document cannot drift
//! from what the server does on any path the tests take.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

struct Contract {
    document: Value,
    /// Compiled once per body (template, method, status, media type) and per header; `None`
    /// when nothing is to check.
    validators: Mutex<HashMap<String, Arc<Option<jsonschema::Validator>>>>,
}

impl Contract {
    /// The validator cached under `key`, compiled by `compile` the first time.
    fn validator(
        &self,
        key: String,
        compile: impl FnOnce() -> Option<jsonschema::Validator>,
    ) -> Arc<Option<jsonschema::Validator>> {
        let mut validators = self.validators.lock().expect("not poisoned");
        validators
            .entry(key)
            .or_insert_with(|| Arc::new(compile()))
            .clone()
    }
}

fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/openapi.json");
        let text = std::fs::read_to_string(path).expect("schemas/openapi.json");
        Contract {
            document: serde_json::from_str(&text).expect("the OpenAPI document is JSON"),
            validators: Mutex::new(HashMap::new()),
        }
    })
}

/// Panics, naming the request, when the answer is not what the document promises. Paths the
/// document does not name (a test of an unknown route) are not checked.
pub(crate) fn check(
    method: &Method,
    path: &str,
    status: u16,
    headers: &HeaderMap,
    media_type: &str,
    body: &Value,
) {
    let contract = contract();
    let path = path.split('?').next().unwrap_or(path);
    let Some(template) = template_of(&contract.document, path) else {
        return;
    };
    let method_name = method.as_str().to_ascii_lowercase();
    let Some(operation) = contract.document["paths"][&template].get(&method_name) else {
        return;
    };
    let Some(response) = operation["responses"].get(status.to_string()) else {
        panic!(
            "{method} {path} answered {status}, which schemas/openapi.json does not list for \
             {method} {template}: {body}"
        );
    };
    let response = resolve(&contract.document, response);
    check_headers(contract, response, headers)
        .unwrap_or_else(|problem| panic!("{method} {path} answered {status} {problem}"));
    let validator = contract.validator(
        format!("{template} {method_name} {status} {media_type}"),
        || body_validator(&contract.document, response, media_type),
    );
    if let Some(validator) = validator.as_ref()
        && let Err(error) = validator.validate(body)
    {
        panic!(
            "{method} {path} answered {status} with a body schemas/openapi.json does not \
             allow: {error} at {}: {body}",
            error.instance_path()
        );
    }
}

/// Every header the response documents as required is there, and each documented one that is
/// there is valid under its schema (an integer header read as a number).
fn check_headers(contract: &Contract, response: &Value, headers: &HeaderMap) -> Result<(), String> {
    let Some(documented) = response["headers"].as_object() else {
        return Ok(());
    };
    for (name, header) in documented {
        let header = resolve(&contract.document, header);
        let Some(value) = headers.get(name.as_str()) else {
            if header["required"] == Value::Bool(true) {
                return Err(format!("without the required header {name}"));
            }
            continue;
        };
        let text = value
            .to_str()
            .map_err(|_| format!("with a header {name} that is not text"))?;
        let value = if header["schema"]["type"] == "integer" {
            text.parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("with a header {name}: {text:?}, not an integer"))?
        } else {
            Value::String(text.to_owned())
        };
        let validator = contract.validator(format!("header {name}"), || {
            let compiled = jsonschema::validator_for(&header["schema"]);
            Some(compiled.unwrap_or_else(|error| panic!("the schema of header {name}: {error}")))
        });
        if let Some(validator) = validator.as_ref() {
            validator
                .validate(&value)
                .map_err(|error| format!("with a header {name}: {text:?}: {error}"))?;
        }
    }
    Ok(())
}

/// The document's path template for `path`: the one whose literal segments all match, preferring
/// the most literal.
fn template_of(document: &Value, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').collect();
    document["paths"]
        .as_object()?
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literal = 0;
            for (part, segment) in parts.iter().zip(&segments) {
                if part.starts_with('{') && part.ends_with('}') {
                    continue;
                }
                if part != segment {
                    return None;
                }
                literal += 1;
            }
            Some((literal, template))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, template)| template.clone())
}

/// The validator of the response's body schema for `media_type`, with the document's components
/// beside it so its references resolve; `None` for a body that is not JSON or not described.
fn body_validator(
    document: &Value,
    response: &Value,
    media_type: &str,
) -> Option<jsonschema::Validator> {
    let schema = response["content"].get(media_type)?.get("schema")?;
    let mut root = schema.clone();
    root.as_object_mut()?
        .insert("components".to_owned(), document["components"].clone());
    Some(
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&root)
            .unwrap_or_else(|error| panic!("schemas/openapi.json: a schema fails: {error}")),
    )
}

/// Follows a `#/components/...` reference.
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(|pointer| document.pointer(pointer))
            .unwrap_or(value),
        None => value,
    }
}
