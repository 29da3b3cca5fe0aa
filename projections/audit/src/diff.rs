//! What a change did to a record, field by field, computed from the record's JSON before and
//! after the event rather than from the event's payload: the payload says what was asked, the
//! states say what the record became, and only the states read the same for every event type
//! (and every future one).
//!
//! Credentials never enter the audit trail: every field whose name speaks of tokens (`token`,
//! `tokens`, `token_hash`, `token_hashes`, at any depth) is replaced by [`REDACTED`] before a
//! state is stored or compared, so neither the stored states nor the changes can hold a hash.
//! The records linked to a record (its contact, its company) are read from the same JSON, so
//! that the data subject report finds them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// What a redacted field holds instead of its value.
pub const REDACTED: &str = "[redacted]";

/// One top-level field of a record that an event changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FieldChange {
    pub field: String,
    /// `null` when the field was absent (the record did not exist yet).
    pub old: Value,
    pub new: Value,
}

/// The fields that differ between `before` and `after` (JSON objects; anything else, such as
/// `null` for a record that does not exist, counts as having no fields), in field-name order.
/// Arrays and nested objects are compared whole: a changed address list is one change.
pub fn diff(before: &Value, after: &Value) -> Vec<FieldChange> {
    let empty = Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let mut fields: Vec<&String> = before.keys().chain(after.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter_map(|field| {
            let old = before.get(field).unwrap_or(&Value::Null);
            let new = after.get(field).unwrap_or(&Value::Null);
            (old != new).then(|| FieldChange {
                field: field.clone(),
                old: old.clone(),
                new: new.clone(),
            })
        })
        .collect()
}

/// `value` with every token-named field, at any depth, replaced by [`REDACTED`].
pub fn redact(mut value: Value) -> Value {
    redact_in_place(&mut value);
    value
}

fn redact_in_place(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                if is_secret(name) {
                    *field = Value::String(REDACTED.to_owned());
                } else {
                    redact_in_place(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_in_place),
        _ => {}
    }
}

/// A field named like a token or a list of them: `token`, `tokens`, `token_hash`,
/// `token_hashes`, `api_token`, `refreshToken`, ...
fn is_secret(name: &str) -> bool {
    name.to_ascii_lowercase().contains("token")
}

/// The records a record's JSON links it to, for the data subject report: the values of every
/// `contact_id`, `company_id` and `deal_id`, at any depth (a converted lead holds them under
/// `converted`). A deal's own links then reach an activity that names only the deal.
pub(crate) fn linked_ids(body: &Value, into: &mut Vec<Uuid>) {
    match body {
        Value::Object(fields) => {
            for (name, field) in fields {
                if ["contact_id", "company_id", "deal_id"].contains(&name.as_str()) {
                    if let Some(id) = field.as_str().and_then(|text| Uuid::parse_str(text).ok())
                        && !into.contains(&id)
                    {
                        into.push(id);
                    }
                } else {
                    linked_ids(field, into);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| linked_ids(item, into)),
        _ => {}
    }
}

/// The record itself, then every record its states link it to, each once.
pub(crate) fn subjects(record_id: Uuid, states: &[&Value]) -> Vec<Uuid> {
    let mut ids = vec![record_id];
    for state in states {
        linked_ids(state, &mut ids);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_diff_names_each_changed_top_level_field_with_old_and_new_values() {
        let before = json!({
            "first_name": "Ada",
            "emails": ["ada@acme.example"],
            "title": null,
            "tags": ["vip"],
            "team": "Berlin"
        });
        let after = json!({
            "first_name": "Ada",
            "emails": ["ada@acme.example", "ada@home.example"],
            "title": "CTO",
            "tags": ["vip"]
        });
        assert_eq!(
            diff(&before, &after),
            vec![
                FieldChange {
                    field: "emails".to_owned(),
                    old: json!(["ada@acme.example"]),
                    new: json!(["ada@acme.example", "ada@home.example"]),
                },
                FieldChange {
                    field: "team".to_owned(),
                    old: json!("Berlin"),
                    new: Value::Null,
                },
                FieldChange {
                    field: "title".to_owned(),
                    old: Value::Null,
                    new: json!("CTO"),
                },
            ]
        );
    }

    #[test]
    fn a_creation_shows_every_field_it_set_and_no_change_shows_nothing() {
        let created = json!({"id": "x", "name": "Acme", "domain": null});
        let changes = diff(&Value::Null, &created);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["id", "name"], "null to null is no change");
        assert!(changes.iter().all(|change| change.old.is_null()));
        assert_eq!(diff(&created, &created), vec![]);
    }

    #[test]
    fn arrays_and_objects_are_compared_whole() {
        let before = json!({"converted": {"contact_id": "a", "deal_id": null}});
        let after = json!({"converted": {"contact_id": "a", "deal_id": "d"}});
        let changes = diff(&before, &after);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "converted");
        assert_eq!(changes[0].new, after["converted"]);
    }

    #[test]
    fn every_token_named_field_is_redacted_at_any_depth() {
        let user = json!({
            "username": "ada.l",
            "token": "secret",
            "tokens": [{"token_hash": "9f86d0", "issued_at": "2025-06-02T08:00:00Z"}],
            "token_hashes": ["9f86d0"],
            "nested": {"apiToken": "abc", "kept": 1},
            "list": [{"refresh_token": "abc", "name": "x"}]
        });
        let redacted = redact(user);
        assert_eq!(
            redacted,
            json!({
                "username": "ada.l",
                "token": REDACTED,
                "tokens": REDACTED,
                "token_hashes": REDACTED,
                "nested": {"apiToken": REDACTED, "kept": 1},
                "list": [{"refresh_token": REDACTED, "name": "x"}]
            })
        );
        assert!(!redacted.to_string().contains("9f86d0"));
    }

    #[test]
    fn a_redacted_field_never_shows_its_values_in_a_diff() {
        let before = redact(json!({"role": "sales", "tokens": []}));
        let after = redact(json!({"role": "sales", "tokens": [{"token_hash": "9f86d0"}]}));
        assert_eq!(diff(&before, &after), vec![], "both sides read [redacted]");
        let created = diff(&Value::Null, &after);
        assert!(!serde_json::to_string(&created).unwrap().contains("9f86d0"));
    }

    #[test]
    fn a_record_is_linked_to_the_contacts_companies_and_deals_it_names() {
        let (record, contact, company, other) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let before = json!({"contact_id": contact, "company_id": null, "deal_id": other});
        let after = json!({
            "contact_id": contact,
            "converted": {"company_id": company, "contact_id": contact},
            "owner_id": other
        });
        assert_eq!(
            subjects(record, &[&before, &after]),
            vec![record, contact, other, company],
            "not its owner"
        );
        assert_eq!(subjects(record, &[&Value::Null]), vec![record]);
    }
}
