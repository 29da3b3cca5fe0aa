//! Whether a new JSON Schema of a published version breaks the old one.
//!
//! A published version describes events already stored and read by subscribers, so its schema
//! must keep accepting exactly the documents it accepted: old events must stay valid, and a
//! subscriber that validates against it must accept the new ones. Only annotations (titles,
//! descriptions, examples) may change, and how the schema is arranged (a `$ref` or its target
//! inline, the order of `required`, `enum` or `anyOf`), with one exception: an object that admits
//! unknown properties may gain an optional one, which every reader of it already tolerates. No
//! property may go, even where its absence would still validate: a subscriber may read it.
//! Anything else is a new version, and a new version of an event is read through an upcaster.

use serde_json::{Map, Value};

/// Keywords that describe a schema without constraining it.
const ANNOTATIONS: [&str; 10] = [
    "$comment",
    "$defs",
    "$id",
    "$schema",
    "default",
    "deprecated",
    "description",
    "examples",
    "readOnly",
    "title",
];
/// Keywords whose array is a set: its order means nothing (`enum` too).
const SETS: [&str; 4] = ["required", "type", "anyOf", "oneOf"];
/// The longest value a finding quotes.
const QUOTE_MAX: usize = 120;

/// Every way `current` accepts other documents than `published`, each as `<JSON pointer>: what
/// changed`; empty when the two accept the same documents.
pub fn breaking_schema_changes(published: &Value, current: &Value) -> Vec<String> {
    let published = normalise(published, &definitions(published), &mut Vec::new());
    let current = normalise(current, &definitions(current), &mut Vec::new());
    let mut found = Vec::new();
    compare(&published, &current, "", &mut found);
    found
}

fn definitions(root: &Value) -> Map<String, Value> {
    root.get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The schema with every local `$ref` replaced by its target, annotations dropped and set-like
/// arrays sorted, so that two schemas accepting the same documents compare equal. `expanding`
/// holds the references being replaced, so a recursive type stays a reference.
fn normalise(
    schema: &Value,
    definitions: &Map<String, Value>,
    expanding: &mut Vec<String>,
) -> Value {
    let Value::Object(object) = schema else {
        return schema.clone();
    };
    let mut constraints = Map::new();
    for (key, value) in object {
        if ANNOTATIONS.contains(&key.as_str()) {
            continue;
        }
        let value = match value {
            // Data, not schemas.
            Value::Array(values) if key == "enum" => {
                let mut values = values.clone();
                values.sort_by_cached_key(Value::to_string);
                Value::Array(values)
            }
            _ if key == "const" => value.clone(),
            Value::Array(items) => {
                let mut items: Vec<Value> = items
                    .iter()
                    .map(|item| normalise(item, definitions, expanding))
                    .collect();
                if SETS.contains(&key.as_str()) {
                    items.sort_by_cached_key(Value::to_string);
                }
                Value::Array(items)
            }
            // Named by the data: the names are not keywords.
            Value::Object(properties) if key == "properties" || key == "patternProperties" => {
                Value::Object(
                    properties
                        .iter()
                        .map(|(name, property)| {
                            (name.clone(), normalise(property, definitions, expanding))
                        })
                        .collect(),
                )
            }
            other => normalise(other, definitions, expanding),
        };
        constraints.insert(key.clone(), value);
    }
    let target = constraints
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|reference| reference.strip_prefix("#/$defs/"))
        .map(str::to_owned);
    let Some(name) = target else {
        return Value::Object(constraints);
    };
    let Some(definition) = definitions.get(&name) else {
        return Value::Object(constraints);
    };
    if expanding.contains(&name) {
        return Value::Object(constraints);
    }
    expanding.push(name);
    let expanded = normalise(definition, definitions, expanding);
    expanding.pop();
    constraints.remove("$ref");
    match expanded {
        Value::Object(target) if target.keys().all(|key| !constraints.contains_key(key)) => {
            constraints.extend(target);
            Value::Object(constraints)
        }
        target if constraints.is_empty() => target,
        target => {
            let mut both = vec![target, Value::Object(constraints)];
            both.sort_by_cached_key(Value::to_string);
            Value::Object(Map::from_iter([("allOf".to_owned(), Value::Array(both))]))
        }
    }
}

fn compare(published: &Value, current: &Value, at: &str, found: &mut Vec<String>) {
    let (Value::Object(old), Value::Object(new)) = (published, current) else {
        if published != current {
            found.push(format!(
                "{}: {} became {}",
                pointer(at),
                quote(published),
                quote(current)
            ));
        }
        return;
    };
    for key in union(old, new) {
        let here = child(at, key);
        match (old.get(key), new.get(key)) {
            (Some(Value::Object(was)), Some(Value::Object(is))) if key == "properties" => {
                compare_properties(is_open(old), was, is, &here, found);
            }
            (Some(was), Some(is)) => compare(was, is, &here, found),
            (Some(was), None) => found.push(format!("{here}: removed (was {})", quote(was))),
            (None, Some(is)) => found.push(format!("{here}: added ({})", quote(is))),
            (None, None) => {}
        }
    }
}

/// The properties of an object schema: none may go (a subscriber may read it), and one may be
/// added only where unknown properties were already accepted (its being required, if it is,
/// shows in `required`).
fn compare_properties(
    open: bool,
    published: &Map<String, Value>,
    current: &Map<String, Value>,
    at: &str,
    found: &mut Vec<String>,
) {
    for name in union(published, current) {
        let here = child(at, name);
        match (published.get(name), current.get(name)) {
            (Some(was), Some(is)) => compare(was, is, &here, found),
            (Some(was), None) => found.push(format!("{here}: removed (was {})", quote(was))),
            (None, Some(is)) if !open => found.push(format!(
                "{here}: added ({}) to an object that refuses unknown properties",
                quote(is)
            )),
            _ => {}
        }
    }
}

/// Whether an object schema accepts properties it does not name.
fn is_open(schema: &Map<String, Value>) -> bool {
    let refuses = |keyword: &str| {
        schema
            .get(keyword)
            .is_some_and(|value| value != &Value::Bool(true))
    };
    !refuses("additionalProperties") && !refuses("unevaluatedProperties")
}

fn union<'a>(one: &'a Map<String, Value>, other: &'a Map<String, Value>) -> Vec<&'a String> {
    let mut keys: Vec<&String> = one.keys().chain(other.keys()).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The JSON pointer to `key` under `at`.
fn child(at: &str, key: &str) -> String {
    format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn pointer(at: &str) -> &str {
    if at.is_empty() { "/" } else { at }
}

fn quote(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(QUOTE_MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stage_changed() -> Value {
        json!({
            "$defs": {"StageKey": {"type": "string", "pattern": "^[a-z]+$", "description": "A key."}},
            "title": "crm.deal.stage_changed.v1",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "from": {"$ref": "#/$defs/StageKey"},
                "to": {"$ref": "#/$defs/StageKey", "description": "Where it went."},
                "reason": {"type": ["string", "null"]}
            },
            "required": ["from", "to"]
        })
    }

    fn changed(edit: impl FnOnce(&mut Value)) -> Vec<String> {
        let mut current = stage_changed();
        edit(&mut current);
        breaking_schema_changes(&stage_changed(), &current)
    }

    #[test]
    fn the_same_schema_breaks_nothing() {
        assert_eq!(changed(|_| {}), Vec::<String>::new());
    }

    #[test]
    fn annotations_and_arrangement_may_change() {
        let found = changed(|schema| {
            schema["title"] = json!("another title");
            schema["$defs"]["StageKey"]["description"] = json!("Another description.");
            schema["properties"]["to"]["description"] = json!("Another.");
            schema["required"] = json!(["to", "from"]);
            schema["properties"]["reason"]["type"] = json!(["null", "string"]);
            // The definition renamed, and one use of it written inline.
            let key = schema["$defs"]["StageKey"].take();
            schema["$defs"] = json!({ "Key": key.clone() });
            schema["properties"]["from"] = json!({"$ref": "#/$defs/Key"});
            schema["properties"]["to"] = key;
        });
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn a_removed_property_breaks() {
        let found = changed(|schema| {
            schema["properties"]
                .as_object_mut()
                .unwrap()
                .remove("reason");
        });
        assert_eq!(
            found,
            ["/properties/reason: removed (was {\"type\":[\"null\",\"string\"]})"]
        );
    }

    #[test]
    fn a_property_added_to_a_closed_object_breaks_and_to_an_open_one_does_not() {
        let add = |schema: &mut Value| schema["properties"]["note"] = json!({"type": "string"});
        let found = changed(add);
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("/properties/note: added"), "{found:?}");

        let open = |schema: &mut Value| {
            schema
                .as_object_mut()
                .unwrap()
                .remove("additionalProperties");
        };
        let mut published = stage_changed();
        open(&mut published);
        let mut current = published.clone();
        add(&mut current);
        assert_eq!(
            breaking_schema_changes(&published, &current),
            Vec::<String>::new()
        );
        current["required"] = json!(["from", "to", "note"]);
        assert_eq!(
            breaking_schema_changes(&published, &current).len(),
            1,
            "now required"
        );
    }

    #[test]
    fn a_changed_constraint_breaks_wherever_it_is_defined() {
        let found = changed(|schema| {
            schema["$defs"]["StageKey"]["pattern"] = json!("^[a-z0-9]+$");
        });
        assert_eq!(found.len(), 2, "both uses: {found:?}");
        assert!(
            found
                .iter()
                .all(|finding| finding.contains("/pattern: \"^[a-z]+$\" became"))
        );
    }

    #[test]
    fn narrowing_or_widening_types_required_and_enums_breaks() {
        let nullable_no_more =
            changed(|schema| schema["properties"]["reason"]["type"] = json!("string"));
        assert_eq!(nullable_no_more.len(), 1);
        let newly_required = changed(|schema| schema["required"] = json!(["from", "to", "reason"]));
        assert_eq!(newly_required.len(), 1);
        let mut published = stage_changed();
        published["properties"]["kind"] = json!({"enum": ["won", "lost"]});
        let mut current = published.clone();
        current["properties"]["kind"] = json!({"enum": ["lost", "won", "abandoned"]});
        assert_eq!(breaking_schema_changes(&published, &current).len(), 1);
    }

    #[test]
    fn enum_and_const_values_are_data_even_when_they_look_like_keywords() {
        let mut published = stage_changed();
        published["properties"]["kind"] = json!({"const": {"title": "x"}});
        let mut current = published.clone();
        current["properties"]["kind"] = json!({"const": {"title": "y"}});
        assert_eq!(breaking_schema_changes(&published, &current).len(), 1);
        published["properties"]["kind"] = json!({"enum": [{"description": "a"}, "b"]});
        current["properties"]["kind"] = json!({"enum": ["b", {"description": "c"}]});
        assert_eq!(breaking_schema_changes(&published, &current).len(), 1);
    }

    #[test]
    fn a_recursive_definition_is_compared_by_reference() {
        let tree = json!({
            "$defs": {"Node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}},
            "$ref": "#/$defs/Node"
        });
        assert_eq!(breaking_schema_changes(&tree, &tree), Vec::<String>::new());
    }
}
