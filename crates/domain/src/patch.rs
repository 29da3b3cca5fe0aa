//! A change to an optional field, as a PATCH body says it: a field left out keeps its value,
//! `null` clears it, a value replaces it. `Option<Option<T>>` says the same less legibly.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};

/// What to do with one optional field. In a deserialised body, mark the field `#[serde(default)]`
/// so that a missing field is [`Patch::Keep`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T: Clone> Patch<T> {
    /// The field's value after the patch.
    pub fn apply(&self, current: &Option<T>) -> Option<T> {
        match self {
            Patch::Keep => current.clone(),
            Patch::Clear => None,
            Patch::Set(value) => Some(value.clone()),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            None => Patch::Clear,
            Some(value) => Patch::Set(value),
        })
    }
}

impl<T: JsonSchema> JsonSchema for Patch<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        Option::<T>::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        Option::<T>::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        industry: Patch<String>,
    }

    fn parse(json: &str) -> Patch<String> {
        serde_json::from_str::<Body>(json).unwrap().industry
    }

    #[test]
    fn a_missing_field_keeps_null_clears_and_a_value_sets() {
        assert_eq!(parse("{}"), Patch::Keep);
        assert_eq!(parse(r#"{"industry": null}"#), Patch::Clear);
        assert_eq!(
            parse(r#"{"industry": "retail"}"#),
            Patch::Set("retail".to_owned())
        );
    }

    #[test]
    fn apply_gives_the_new_value() {
        let current = Some(1);
        assert_eq!(Patch::Keep.apply(&current), Some(1));
        assert_eq!(Patch::Clear.apply(&current), None);
        assert_eq!(Patch::Set(2).apply(&current), Some(2));
    }
}
