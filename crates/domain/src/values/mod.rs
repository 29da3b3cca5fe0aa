//! Value types: every field a command or an event carries is parsed once, at the edge, into a type
//! that cannot hold an invalid value. Deserialisation goes through the same parsing, so a JSON
//! value that breaks a rule is refused rather than carried along.
//!
//! A value parsed on its own reports a failure with an empty field name; the caller places it with
//! [`DomainError::within`](crate::DomainError::within) (`email`, `stages[2].probability`).

mod contact_point;
mod identifier;
mod money;
mod text;

pub use contact_point::{Domain, Email, Phone};
pub use identifier::{StageKey, TokenHash, Username};
pub use money::{CURRENCY_CODES, Currency, Money};
pub use text::{Name, Tags, Team, Text};

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::DomainError;

/// The shared surface of a string value type `$name(String)` with a `parse` function: conversions,
/// display and a JSON Schema given as a JSON literal.
macro_rules! string_value {
    ($name:ident, $schema:tt) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::DomainError;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                Self::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::DomainError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($schema)
            }
        }
    };
}

pub(crate) use string_value;

/// A deal's chance of being won, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct Probability(u8);

impl Probability {
    pub fn new(percent: i64) -> Result<Probability, DomainError> {
        u8::try_from(percent)
            .ok()
            .filter(|percent| *percent <= 100)
            .map(Probability)
            .ok_or_else(|| DomainError::invalid_value("must be a percentage from 0 to 100"))
    }

    pub fn percent(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for Probability {
    type Error = DomainError;
    fn try_from(percent: i64) -> Result<Self, Self::Error> {
        Probability::new(percent)
    }
}

impl From<Probability> for u8 {
    fn from(probability: Probability) -> u8 {
        probability.0
    }
}

impl JsonSchema for Probability {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Probability".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A chance of winning, in percent.",
            "type": "integer",
            "minimum": 0,
            "maximum": 100
        })
    }
}

/// The ABCD value class of a customer: A the most valuable.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum ValueClass {
    A,
    B,
    C,
    D,
}

/// What a user may do; the edge enforces most of it, the domain only where a rule is part of the
/// business (who may reopen a deal).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    Sales,
    Support,
    Marketing,
    Analyst,
    Auditor,
    Service,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Admin,
        Role::Manager,
        Role::Sales,
        Role::Support,
        Role::Marketing,
        Role::Analyst,
        Role::Auditor,
        Role::Service,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Sales => "sales",
            Role::Support => "support",
            Role::Marketing => "marketing",
            Role::Analyst => "analyst",
            Role::Auditor => "auditor",
            Role::Service => "service",
        }
    }
}

impl FromStr for Role {
    type Err = DomainError;
    fn from_str(text: &str) -> Result<Role, DomainError> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Role::ALL.iter().map(|role| role.as_str()).collect();
                DomainError::invalid_value(format!("must be one of {}", names.join(", ")))
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probability_is_a_percentage() {
        assert_eq!(Probability::new(0).unwrap().percent(), 0);
        assert_eq!(Probability::new(100).unwrap().percent(), 100);
        for refused in [-1, 101, 256, i64::MAX] {
            assert!(Probability::new(refused).is_err(), "{refused}");
        }
        assert!(serde_json::from_str::<Probability>("101").is_err());
        assert_eq!(serde_json::to_string(&Probability(40)).unwrap(), "40");
    }

    #[test]
    fn roles_read_and_print_by_their_api_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::json!(role.as_str())
            );
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn value_classes_are_the_letters() {
        assert_eq!(serde_json::to_value(ValueClass::A).unwrap(), "A");
        assert!(serde_json::from_str::<ValueClass>("\"E\"").is_err());
    }
}
