//! What every aggregate's event enum shares: one payload struct per event type, its stored name
//! and schema version, the way back from a stored payload (upcasting older versions), and its
//! catalog entry. The `events!` macro writes that from one line per event, so the name, the
//! version, the payload type and the golden sample of an event type are declared together.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::DomainError;

/// Rewrites a payload stored with an older schema version (`from_version`) into the current
/// version's form. One per event type that has had more than one version.
pub(crate) type Upcaster = fn(from_version: u32, payload: Value) -> Result<Value, String>;

/// The upcaster of an event type that has only ever had one version.
pub(crate) fn no_upcaster(from_version: u32, _payload: Value) -> Result<Value, String> {
    Err(format!("no upcaster from schema version {from_version}"))
}

/// The upcaster of an event type whose version 2 added `team` (the team the record belongs to
/// through its assignee or author): version 1 did not record it, so it reads as none.
pub(crate) fn team_added_in_v2(from_version: u32, mut payload: Value) -> Result<Value, String> {
    match (from_version, payload.as_object_mut()) {
        (1, Some(fields)) => {
            fields.insert("team".to_owned(), Value::Null);
            Ok(payload)
        }
        (1, None) => Err("the payload is not an object".to_owned()),
        _ => no_upcaster(from_version, payload),
    }
}

/// A payload as JSON.
pub(crate) fn payload_of<T: Serialize>(payload: &T) -> Value {
    // Payloads are structs of strings, numbers, lists and nested structs: serialising one to a
    // JSON value cannot fail.
    serde_json::to_value(payload).unwrap_or(Value::Null)
}

/// Reads a stored payload of `event_type` into the current version's type, upcasting it first if
/// it was written with an older version.
pub(crate) fn decode<T: DeserializeOwned>(
    event_type: &str,
    stored_version: u32,
    current_version: u32,
    payload: &Value,
    upcast: Upcaster,
) -> Result<T, DomainError> {
    let failure = |message: String| DomainError::Decode {
        event_type: event_type.to_owned(),
        message,
    };
    let decoded = if stored_version == current_version {
        T::deserialize(payload)
    } else if (1..current_version).contains(&stored_version) {
        T::deserialize(upcast(stored_version, payload.clone()).map_err(failure)?)
    } else {
        return Err(failure(format!(
            "schema version {stored_version} is unknown (the current one is {current_version})"
        )));
    };
    decoded.map_err(|error| failure(error.to_string()))
}

pub(crate) fn unknown_type(stream_type: &str, event_type: &str) -> DomainError {
    DomainError::Decode {
        event_type: event_type.to_owned(),
        message: format!("not an event type of {stream_type}"),
    }
}

/// Declares an aggregate's event enum and implements [`crate::DomainEvent`] and its catalog:
///
/// ```text
/// events! {
///     /// Everything that can happen to a company.
///     pub enum Event for Company {
///         Created(Created) = "created", version 1, sample json!({...});
///         Renamed(Renamed) = "renamed", version 2, upcast renamed_from_v1, sample json!({...});
///     }
/// }
/// ```
macro_rules! events {
    (
        $(#[$enum_meta:meta])*
        pub enum $name:ident for $aggregate:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident($payload:ty) = $event_type:literal, version $version:literal
                    $(, upcast $upcast:path)?, sample $sample:expr;
            )+
        }
    ) => {
        $(#[$enum_meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant($payload), )+
        }

        impl $crate::DomainEvent for $name {
            fn event_type(&self) -> &'static str {
                match self {
                    $( Self::$variant(_) => $event_type, )+
                }
            }

            fn schema_version(&self) -> u32 {
                match self {
                    $( Self::$variant(_) => $version, )+
                }
            }

            fn to_payload(&self) -> serde_json::Value {
                match self {
                    $( Self::$variant(payload) => $crate::event::payload_of(payload), )+
                }
            }

            fn from_stored(
                event_type: &str,
                schema_version: u32,
                payload: &serde_json::Value,
            ) -> Result<Self, $crate::DomainError> {
                match event_type {
                    $(
                        $event_type => $crate::event::decode(
                            event_type,
                            schema_version,
                            $version,
                            payload,
                            $crate::event::events!(@upcaster $($upcast)?),
                        )
                        .map(Self::$variant),
                    )+
                    _ => Err($crate::event::unknown_type(
                        <$aggregate as $crate::Aggregate>::STREAM_TYPE,
                        event_type,
                    )),
                }
            }
        }

        impl $name {
            /// The schema and a golden sample of each event type, at its current version.
            pub(crate) fn catalog() -> Vec<$crate::EventSchema> {
                vec![
                    $(
                        $crate::EventSchema::of::<$payload>(
                            <$aggregate as $crate::Aggregate>::STREAM_TYPE,
                            $event_type,
                            $version,
                            $sample,
                        ),
                    )+
                ]
            }
        }
    };
    (@upcaster) => { $crate::event::no_upcaster };
    (@upcaster $upcast:path) => { $upcast };
}

pub(crate) use events;

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, PartialEq, Deserialize)]
    struct RenamedV2 {
        display_name: String,
    }

    fn renamed_from_v1(from_version: u32, payload: Value) -> Result<Value, String> {
        match from_version {
            1 => Ok(json!({"display_name": payload["name"]})),
            other => no_upcaster(other, payload),
        }
    }

    #[test]
    fn an_older_version_is_read_through_its_upcaster() {
        let read: RenamedV2 =
            decode("renamed", 1, 2, &json!({"name": "Acme"}), renamed_from_v1).unwrap();
        assert_eq!(
            read,
            RenamedV2 {
                display_name: "Acme".to_owned()
            }
        );
    }

    #[test]
    fn an_unknown_version_or_a_bad_payload_cannot_be_read() {
        let future = decode::<RenamedV2>("renamed", 3, 2, &json!({}), renamed_from_v1);
        assert!(matches!(future, Err(DomainError::Decode { .. })));
        let without_upcaster = decode::<RenamedV2>("renamed", 1, 2, &json!({}), no_upcaster);
        assert!(matches!(without_upcaster, Err(DomainError::Decode { .. })));
        let malformed = decode::<RenamedV2>("renamed", 2, 2, &json!({"x": 1}), no_upcaster);
        assert!(matches!(malformed, Err(DomainError::Decode { .. })));
    }

    #[test]
    fn a_task_of_version_1_reads_as_one_of_no_team() {
        let stored = json!({
            "id": "0190a5e4-7c4b-7000-8000-00000000000b",
            "title": "Send the proposal",
            "description": null,
            "due_at": "2025-06-06T16:00:00Z",
            "assignee_id": "0190a5e4-7c4b-7000-8000-0000000000a1",
            "contact_id": null,
            "company_id": null,
            "deal_id": null
        });
        let read: crate::task::Created =
            decode("created", 1, 2, &stored, team_added_in_v2).unwrap();
        assert_eq!(read.team, None);
        let not_an_object =
            decode::<crate::task::Created>("created", 1, 2, &json!([]), team_added_in_v2);
        assert!(matches!(not_an_object, Err(DomainError::Decode { .. })));
    }
}
