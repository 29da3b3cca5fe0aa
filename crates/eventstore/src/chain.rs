//! The hash chain that makes the log tamper-evident.
//!
//! `hash(n) = SHA-256(hash(n-1) || canonical(event n))`, with `hash(0)` = 32 zero bytes
//! ([`GENESIS`]). The canonical form (version 1) is a fixed binary layout, so that any verifier
//! can recompute it from an export without our code:
//!
//! ```text
//! "crm-event-v1"                    12 bytes, domain separation
//! position                          u64, big-endian
//! event_id                          16 bytes
//! category                          str   ("events" or "access")
//! stream_type                       str
//! stream_id                         16 bytes
//! stream_version                    opt(u64 BE)
//! event_type                        str
//! schema_version                    u32 BE
//! occurred_at, recorded_at          i64 BE, microseconds since 1970-01-01T00:00:00Z
//! actor                             str
//! correlation_id, causation_id      opt(16 bytes)
//! payload                           str (canonical JSON, below)
//!
//! str    = u32 BE byte length, then the UTF-8 bytes
//! opt(x) = 0x00 when absent, 0x01 then x when present
//! ```
//!
//! Canonical JSON: no insignificant white space, object keys sorted by their UTF-8 bytes, strings
//! escaped as `serde_json` escapes them, numbers as `serde_json` prints them. The appender
//! normalises payloads before hashing ([`normalise_payload`]) so that what PostgreSQL's `jsonb`
//! gives back canonicalises to the same bytes.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::StoredEvent;

pub use crate::canonical_text::{Declined, TextCanonicaliser};

/// The hash the first event chains to.
pub const GENESIS: [u8; 32] = [0; 32];

const DOMAIN: &[u8] = b"crm-event-v1";

/// The chained hash of `event` (its own `hash` field is ignored).
pub fn event_hash(previous: &[u8; 32], event: &StoredEvent) -> [u8; 32] {
    let mut payload = Vec::with_capacity(256);
    canonical_json(&event.payload, &mut payload);
    chain_hash(previous, event, &payload)
}

/// The chained hash of `event` whose payload is given already in canonical JSON (the event's own
/// `payload` and `hash` fields are ignored).
pub fn chain_hash(previous: &[u8; 32], event: &StoredEvent, canonical_payload: &[u8]) -> [u8; 32] {
    let mut scratch = Vec::with_capacity(128 + canonical_payload.len());
    fields_hash(
        previous,
        &EventFields::of(event),
        canonical_payload,
        &mut scratch,
    )
}

/// An event's fields as the canonical form takes them, borrowed: what a reader that decodes rows
/// itself (the verifier's binary `COPY`) hashes without building a [`StoredEvent`].
#[derive(Debug, Clone, Copy)]
pub struct EventFields<'a> {
    pub position: u64,
    pub event_id: &'a [u8; 16],
    /// `"events"` or `"access"`.
    pub category: &'a str,
    pub stream_type: &'a str,
    pub stream_id: &'a [u8; 16],
    pub stream_version: Option<u64>,
    pub event_type: &'a str,
    pub schema_version: u32,
    /// Microseconds since 1970-01-01T00:00:00Z.
    pub occurred_at_micros: i64,
    pub recorded_at_micros: i64,
    pub actor: &'a str,
    pub correlation_id: Option<&'a [u8; 16]>,
    pub causation_id: Option<&'a [u8; 16]>,
}

impl<'a> EventFields<'a> {
    pub fn of(event: &'a StoredEvent) -> EventFields<'a> {
        EventFields {
            position: event.position,
            event_id: event.event_id.as_bytes(),
            category: event.category.as_str(),
            stream_type: &event.stream.stream_type,
            stream_id: event.stream.stream_id.as_bytes(),
            stream_version: event.stream_version,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            occurred_at_micros: event.occurred_at.timestamp_micros(),
            recorded_at_micros: event.recorded_at.timestamp_micros(),
            actor: &event.actor,
            correlation_id: event.correlation_id.as_ref().map(uuid::Uuid::as_bytes),
            causation_id: event.causation_id.as_ref().map(uuid::Uuid::as_bytes),
        }
    }
}

/// The chained hash of the event with these fields and this canonical payload; `scratch` is
/// reused for the canonical bytes (it is cleared first).
pub fn fields_hash(
    previous: &[u8; 32],
    fields: &EventFields<'_>,
    canonical_payload: &[u8],
    scratch: &mut Vec<u8>,
) -> [u8; 32] {
    scratch.clear();
    canonical_event(fields, canonical_payload, scratch);
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(&scratch[..]);
    hasher.finalize().into()
}

/// The canonical byte form of an event, without the previous hash.
fn canonical_event(event: &EventFields<'_>, canonical_payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(DOMAIN);
    out.extend_from_slice(&event.position.to_be_bytes());
    out.extend_from_slice(event.event_id);
    put_str(out, event.category);
    put_str(out, event.stream_type);
    out.extend_from_slice(event.stream_id);
    match event.stream_version {
        Some(version) => {
            out.push(1);
            out.extend_from_slice(&version.to_be_bytes());
        }
        None => out.push(0),
    }
    put_str(out, event.event_type);
    out.extend_from_slice(&event.schema_version.to_be_bytes());
    out.extend_from_slice(&event.occurred_at_micros.to_be_bytes());
    out.extend_from_slice(&event.recorded_at_micros.to_be_bytes());
    put_str(out, event.actor);
    for id in [event.correlation_id, event.causation_id] {
        match id {
            Some(id) => {
                out.push(1);
                out.extend_from_slice(id);
            }
            None => out.push(0),
        }
    }
    put_bytes(out, canonical_payload);
}

/// Writes `value` as canonical JSON.
pub fn canonical_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => out.extend_from_slice(number.to_string().as_bytes()),
        Value::String(text) => put_json_string(out, text),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                put_json_string(out, key);
                out.push(b':');
                canonical_json(&fields[key], out);
            }
            out.push(b'}');
        }
    }
}

/// The deepest nesting of arrays and objects a payload may have: reading one back parses it
/// with `serde_json`, which stops at 128 levels.
pub const MAX_PAYLOAD_DEPTH: usize = 100;

/// Makes a payload storable and its canonical form stable through PostgreSQL's `jsonb`: refuses
/// what `jsonb` cannot hold (the NUL character) or could not be read back (nesting deeper than
/// [`MAX_PAYLOAD_DEPTH`]), and writes numbers as `jsonb` gives them back: `-0.0` as `0.0`, and a
/// whole float of 10^16 or more that fits 64 bits (written `1e16`, read back `10000000000000000`)
/// as that integer. Returns the JSON path of the first offence.
pub fn normalise_payload(value: &mut Value) -> Result<(), String> {
    normalise_at(value, &mut String::from("$"), 0)
}

fn normalise_at(value: &mut Value, path: &mut String, depth: usize) -> Result<(), String> {
    if depth > MAX_PAYLOAD_DEPTH {
        return Err(format!(
            "{path} is nested deeper than {MAX_PAYLOAD_DEPTH} levels"
        ));
    }
    match value {
        Value::String(text) if text.contains('\0') => {
            Err(format!("{path} contains a NUL character"))
        }
        Value::Number(number) if number.is_f64() => {
            if let Some(normal) = number.as_f64().and_then(as_jsonb_reads_back) {
                *value = normal;
            }
            Ok(())
        }
        Value::Array(items) => items.iter_mut().enumerate().try_for_each(|(index, item)| {
            let length = path.len();
            path.push_str(&format!("[{index}]"));
            let result = normalise_at(item, path, depth + 1);
            path.truncate(length);
            result
        }),
        Value::Object(fields) => fields.iter_mut().try_for_each(|(key, item)| {
            if key.contains('\0') {
                return Err(format!("a key in {path} contains a NUL character"));
            }
            let length = path.len();
            path.push('.');
            path.push_str(key);
            let result = normalise_at(item, path, depth + 1);
            path.truncate(length);
            result
        }),
        _ => Ok(()),
    }
}

/// The number `jsonb` gives back for the float `x`, where it differs from `x` as written.
fn as_jsonb_reads_back(x: f64) -> Option<Value> {
    const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;
    if x == 0.0 {
        return Some(Value::from(0.0));
    }
    if x.fract() != 0.0 || x.abs() < 1e16 {
        return None;
    }
    // Casts are exact: `x` is whole and within the target's range.
    if (0.0..2.0 * TWO_TO_63).contains(&x) {
        Some(Value::from(x as u64))
    } else if (-TWO_TO_63..0.0).contains(&x) {
        Some(Value::from(x as i64))
    } else {
        None
    }
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_bytes(out, text.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(bytes);
}

fn put_json_string(out: &mut Vec<u8>, text: &str) {
    // Serialising a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Category, StreamRef};
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;
    use serde_json::json;
    use uuid::Uuid;

    fn sample_event() -> StoredEvent {
        StoredEvent {
            position: 7,
            event_id: Uuid::from_u128(1),
            category: Category::Events,
            stream: StreamRef::new("contact", Uuid::from_u128(2)),
            stream_version: Some(3),
            event_type: "renamed".to_owned(),
            schema_version: 1,
            occurred_at: Utc.timestamp_opt(1_700_000_000, 123_456_000).unwrap(),
            recorded_at: Utc.timestamp_opt(1_700_000_001, 0).unwrap(),
            actor: "user:42".to_owned(),
            correlation_id: Some(Uuid::from_u128(4)),
            causation_id: None,
            payload: json!({"name": "Ada", "tags": ["a", "b"]}),
            hash: [0; 32],
        }
    }

    #[test]
    fn canonical_json_sorts_keys_and_drops_white_space() {
        let mut out = Vec::new();
        canonical_json(
            &json!({"b": 1, "a": {"d": [1, 2.5, "x"], "c": null}}),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"c":null,"d":[1,2.5,"x"]},"b":1}"#
        );
    }

    #[test]
    fn the_hash_of_a_known_event_does_not_change() {
        // A golden value: if this changes, every stored chain would fail verification.
        let hash = event_hash(&GENESIS, &sample_event());
        assert_eq!(
            hex::encode(hash),
            "ef56270072fec949ecc83de92e07ad0e64e9017b57b83863fdf9d95882b769db"
        );
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let base = sample_event();
        let original = event_hash(&GENESIS, &base);
        type Change = Box<dyn Fn(&mut StoredEvent)>;
        let changes: Vec<Change> = vec![
            Box::new(|e| e.position += 1),
            Box::new(|e| e.event_id = Uuid::from_u128(9)),
            Box::new(|e| e.category = Category::Access),
            Box::new(|e| e.stream.stream_type = "company".to_owned()),
            Box::new(|e| e.stream.stream_id = Uuid::from_u128(9)),
            Box::new(|e| e.stream_version = None),
            Box::new(|e| e.event_type = "created".to_owned()),
            Box::new(|e| e.schema_version = 2),
            Box::new(|e| e.occurred_at += chrono::Duration::microseconds(1)),
            Box::new(|e| e.recorded_at += chrono::Duration::microseconds(1)),
            Box::new(|e| e.actor = "user:43".to_owned()),
            Box::new(|e| e.correlation_id = None),
            Box::new(|e| e.causation_id = Some(Uuid::from_u128(5))),
            Box::new(|e| e.payload = json!({"name": "Ada ", "tags": ["a", "b"]})),
        ];
        for (index, change) in changes.iter().enumerate() {
            let mut event = base.clone();
            change(&mut event);
            assert_ne!(event_hash(&GENESIS, &event), original, "change {index}");
        }
        assert_ne!(event_hash(&[1; 32], &base), original, "the previous hash");
    }

    #[test]
    fn numbers_keep_the_documented_form() {
        // docs/verifying.md spells this out for outside verifiers, and every stored chain hash
        // depends on it: a serde_json upgrade that prints numbers otherwise must fail here.
        let mut out = Vec::new();
        canonical_json(
            &serde_json::from_str(
                "[1e300, 1.5e-7, 0.1, 1e15, 1e16, 0.00001, 0.000001, -2.5, 18446744073709551615, \
                 -9223372036854775808, 123456789012345678901, 1.0]",
            )
            .unwrap(),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[1e+300,1.5e-7,0.1,1000000000000000.0,1e+16,0.00001,1e-6,-2.5,18446744073709551615,\
             -9223372036854775808,1.2345678901234568e+20,1.0]"
        );
    }

    #[test]
    fn a_nul_character_is_refused_with_its_path() {
        let mut payload = json!({"a": [{"b": "x\u{0}y"}]});
        assert_eq!(
            normalise_payload(&mut payload),
            Err("$.a[0].b contains a NUL character".to_owned())
        );
    }

    #[test]
    fn negative_zero_becomes_zero() {
        let mut payload = json!({"a": -0.0});
        normalise_payload(&mut payload).unwrap();
        let mut out = Vec::new();
        canonical_json(&payload, &mut out);
        assert_eq!(out, br#"{"a":0.0}"#);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[^\u{0}]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map("[a-z]{0,6}", inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn canonical_json_is_valid_json_that_reads_back_equal(value in json_value()) {
            let mut out = Vec::new();
            canonical_json(&value, &mut out);
            let parsed: Value = serde_json::from_slice(&out).unwrap();
            let mut again = Vec::new();
            canonical_json(&parsed, &mut again);
            prop_assert_eq!(out, again);
        }
    }
}
