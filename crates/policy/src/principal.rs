//! The caller as a decision sees it: who they are, their role and team, and the scopes their token
//! carries. Scopes only ever narrow: a `service` token reaches exactly what its scopes name (and
//! nothing without them); a person's token carries none, and gets its role's reach, unless it was
//! issued with scopes, which then cap it the same way.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Action, PolicyError, Resource, Role};

/// Whoever is calling, as authentication established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub role: Role,
    pub team: Option<String>,
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// Whether the token's scopes cap what the role grants: always for `service`, otherwise only
    /// when the token names scopes.
    pub fn is_scoped(&self) -> bool {
        self.role == Role::Service || !self.scopes.is_empty()
    }

    /// Whether the token's scopes let it do `action` on `resource`, whatever the role grants.
    pub fn scopes_allow(&self, resource: Resource, action: Action) -> bool {
        !self.is_scoped()
            || self
                .scopes
                .iter()
                .any(|scope| scope.covers(resource, action))
    }
}

/// One permission a token carries: `contacts:read`, `deals:write`, `*:read`. Writing implies
/// reading, so `deals:write` also covers reading deals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope {
    /// `None` is `*`: every resource.
    pub resource: Option<Resource>,
    pub action: Action,
}

impl Scope {
    pub fn parse(text: &str) -> Result<Scope, PolicyError> {
        let invalid = || PolicyError::InvalidScope {
            scope: text.to_owned(),
        };
        let (resource, action) = text.split_once(':').ok_or_else(invalid)?;
        let resource = match resource {
            "*" => None,
            name => Some(Resource::parse(name).map_err(|_| invalid())?),
        };
        let action = Action::parse(action).map_err(|_| invalid())?;
        Ok(Scope { resource, action })
    }

    /// Whether this scope permits `action` on `resource`.
    pub fn covers(self, resource: Resource, action: Action) -> bool {
        let resource_matches = self.resource.is_none_or(|named| named == resource);
        let action_matches = self.action == action || self.action == Action::Write;
        resource_matches && action_matches
    }
}

impl FromStr for Scope {
    type Err = PolicyError;
    fn from_str(text: &str) -> Result<Scope, PolicyError> {
        Scope::parse(text)
    }
}

impl TryFrom<String> for Scope {
    type Error = PolicyError;
    fn try_from(text: String) -> Result<Scope, PolicyError> {
        Scope::parse(&text)
    }
}

impl From<Scope> for String {
    fn from(scope: Scope) -> String {
        scope.to_string()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resource = self.resource.map_or("*", Resource::as_str);
        write!(formatter, "{resource}:{}", self.action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_read_and_print_as_resource_colon_action() {
        for text in [
            "contacts:read",
            "deals:write",
            "*:read",
            "*:write",
            "audit:read",
        ] {
            let scope = Scope::parse(text).unwrap();
            assert_eq!(scope.to_string(), text);
            assert_eq!(
                serde_json::to_value(scope).unwrap(),
                serde_json::json!(text)
            );
        }
        assert_eq!(
            Scope::parse("*:write"),
            Ok(Scope {
                resource: None,
                action: Action::Write
            })
        );
    }

    #[test]
    fn a_bad_scope_is_refused_and_named() {
        for text in [
            "",
            "contacts",
            "contacts:",
            ":read",
            "contacts:delete",
            "dealz:read",
            "contacts:read:write",
            " contacts:read",
            "Contacts:read",
            "*",
        ] {
            let error = Scope::parse(text).unwrap_err();
            assert_eq!(error, PolicyError::InvalidScope { scope: text.into() });
            assert!(error.to_string().contains(&format!("`{text}`")), "{error}");
        }
        let from_json = serde_json::from_str::<Scope>("\"deals:delete\"").unwrap_err();
        assert!(
            from_json.to_string().contains("`deals:delete`"),
            "{from_json}"
        );
    }

    #[test]
    fn write_implies_read_and_star_is_every_resource() {
        let deals_write = Scope::parse("deals:write").unwrap();
        assert!(deals_write.covers(Resource::Deals, Action::Read));
        assert!(deals_write.covers(Resource::Deals, Action::Write));
        assert!(!deals_write.covers(Resource::Contacts, Action::Read));

        let contacts_read = Scope::parse("contacts:read").unwrap();
        assert!(contacts_read.covers(Resource::Contacts, Action::Read));
        assert!(!contacts_read.covers(Resource::Contacts, Action::Write));

        let everything_read = Scope::parse("*:read").unwrap();
        for resource in Resource::ALL {
            assert!(everything_read.covers(resource, Action::Read));
            assert!(!everything_read.covers(resource, Action::Write));
        }
    }

    #[test]
    fn only_scoped_tokens_are_capped_by_their_scopes() {
        let person = Principal {
            user_id: Uuid::from_u128(1),
            role: Role::Sales,
            team: None,
            scopes: Vec::new(),
        };
        assert!(person.scopes_allow(Resource::Deals, Action::Write));

        let service = Principal {
            role: Role::Service,
            ..person.clone()
        };
        assert!(!service.scopes_allow(Resource::Deals, Action::Read));

        let narrowed_person = Principal {
            scopes: vec![Scope::parse("deals:read").unwrap()],
            ..person
        };
        assert!(narrowed_person.scopes_allow(Resource::Deals, Action::Read));
        assert!(!narrowed_person.scopes_allow(Resource::Deals, Action::Write));
    }
}
