//! A change to a field, as a PATCH body says it: a field left out keeps its value, a value
//! replaces it, and `null` clears an optional field ([`Patch`]) and is refused for a required
//! one ([`Replace`]). `Option<Option<T>>` says the same less legibly.

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

impl<T> Patch<T> {
    /// True unless the field was left out.
    pub fn is_given(&self) -> bool {
        !matches!(self, Patch::Keep)
    }

    /// The value the field is set to, if it is set to one.
    pub fn as_set(&self) -> Option<&T> {
        match self {
            Patch::Set(value) => Some(value),
            Patch::Keep | Patch::Clear => None,
        }
    }
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

impl<T: Default> Patch<T> {
    /// For a list, where clearing is emptying: the new list, or `None` to keep it.
    pub fn or_empty(self) -> Option<T> {
        match self {
            Patch::Keep => None,
            Patch::Clear => Some(T::default()),
            Patch::Set(value) => Some(value),
        }
    }
}

/// A field a PATCH may replace but not clear (a name, an amount): left out it keeps its value,
/// and `null` is refused rather than taken for "left out".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replace<T>(pub Option<T>);

impl<T> Default for Replace<T> {
    fn default() -> Self {
        Replace(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Replace<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Option::<T>::deserialize(deserializer)? {
            Some(value) => Ok(Replace(Some(value))),
            None => Err(serde::de::Error::custom(
                "cannot be cleared; leave it out to keep it",
            )),
        }
    }
}

impl<T: JsonSchema> JsonSchema for Replace<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<T>()
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

    #[derive(Deserialize)]
    struct Named {
        #[serde(default)]
        name: Replace<String>,
    }

    #[test]
    fn a_replaced_field_is_kept_when_missing_and_refuses_null() {
        let parse = |json: &str| serde_json::from_str::<Named>(json).map(|body| body.name);
        assert_eq!(parse("{}").unwrap(), Replace(None));
        assert_eq!(
            parse(r#"{"name": "Acme"}"#).unwrap(),
            Replace(Some("Acme".to_owned()))
        );
        let refused = parse(r#"{"name": null}"#).unwrap_err().to_string();
        assert!(refused.contains("cannot be cleared"), "{refused}");
    }

    #[test]
    fn clearing_a_list_empties_it() {
        assert_eq!(Patch::<Vec<u8>>::Keep.or_empty(), None);
        assert_eq!(Patch::<Vec<u8>>::Clear.or_empty(), Some(Vec::new()));
        assert_eq!(Patch::Set(vec![1]).or_empty(), Some(vec![1]));
    }

    #[test]
    fn apply_gives_the_new_value() {
        let current = Some(1);
        assert_eq!(Patch::Keep.apply(&current), Some(1));
        assert_eq!(Patch::Clear.apply(&current), None);
        assert_eq!(Patch::Set(2).apply(&current), Some(2));
    }
}
