//! The policy as an organisation writes it in its settings file, and how it is laid over the
//! defaults. A file says only what differs, and anything it does not mention keeps its default:
//!
//! ```toml
//! [roles.sales]
//! companies = "team"                        # read and write
//! deals = { read = "team", write = "own" }
//! leads = { write = "own" }                 # read keeps its default
//!
//! [territories]
//! emea = ["berlin", "paris"]
//! ```
//!
//! Names stay strings until they are laid over the defaults, so that a misspelt role, resource or
//! reach is refused with its place in the file (`roles.sales.dealz`) rather than as a shapeless
//! parse error.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use domain::values::Team;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::policy::Grant;
use crate::{Action, Policy, PolicyError, Reach, Resource, Role};

/// Overrides of [`Policy::default`]: grants by role name and resource name, and territories by
/// name (each replacing a territory of the same name).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySettings {
    pub roles: BTreeMap<String, BTreeMap<String, GrantSetting>>,
    pub territories: BTreeMap<String, Vec<String>>,
}

/// One role's reach into one resource: a reach name for reading and writing alike (`"team"`), or
/// a table naming either action or both (`{ read = "team", write = "own" }`); an action left out
/// keeps its current reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum GrantSetting {
    Both(String),
    PerAction {
        #[serde(skip_serializing_if = "Option::is_none")]
        read: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        write: Option<String>,
    },
}

impl Policy {
    /// This policy with `settings` laid over it. Refuses unknown role, resource and reach names,
    /// invalid team names, a grant that would write further than it reads, and a partial reach
    /// into what is reached whole ([`Resource::is_whole`]), naming each.
    pub fn with_overrides(mut self, settings: &PolicySettings) -> Result<Policy, PolicyError> {
        for (role_name, resources) in &settings.roles {
            let role = role_name
                .parse::<Role>()
                .map_err(|_| PolicyError::UnknownRole {
                    name: role_name.clone(),
                })
                .map_err(|error| error.at("roles"))?;
            for (resource_name, setting) in resources {
                let resource = Resource::parse(resource_name)
                    .map_err(|error| error.at(&format!("roles.{role_name}")))?;
                let path = format!("roles.{role_name}.{resource_name}");
                let grant = setting.over(self.grant(role, resource), &path)?;
                self.grants.insert((role, resource), grant);
            }
        }
        for (name, teams) in &settings.territories {
            let teams = teams
                .iter()
                .map(|team| match Team::parse(team) {
                    Ok(team) => Ok(String::from(team)),
                    Err(_) => Err(PolicyError::InvalidTeam { name: team.clone() }
                        .at(&format!("territories.{name}"))),
                })
                .collect::<Result<BTreeSet<String>, PolicyError>>()?;
            self.territories.insert(name.clone(), teams);
        }
        for (&(role, resource), grant) in &self.grants {
            if resource.is_whole() {
                let partial = [grant.read, grant.write]
                    .into_iter()
                    .find(|reach| !matches!(reach, Reach::None | Reach::All));
                if let Some(reach) = partial {
                    return Err(PolicyError::PartOfWhole {
                        role,
                        resource,
                        reach,
                    });
                }
            }
            if grant.write > grant.read {
                return Err(PolicyError::WriteBeyondRead {
                    role,
                    resource,
                    read: grant.read,
                    write: grant.write,
                });
            }
        }
        Ok(self)
    }
}

impl TryFrom<PolicySettings> for Policy {
    type Error = PolicyError;
    fn try_from(settings: PolicySettings) -> Result<Policy, PolicyError> {
        Policy::default().with_overrides(&settings)
    }
}

/// The whole policy, every role and resource spelt out: what is in force, to show or to save.
impl From<Policy> for PolicySettings {
    fn from(policy: Policy) -> PolicySettings {
        let roles = Role::ALL
            .into_iter()
            .map(|role| {
                let grants = Resource::ALL
                    .into_iter()
                    .map(|resource| {
                        let grant = policy.grant(role, resource);
                        (resource.as_str().to_owned(), GrantSetting::from(grant))
                    })
                    .collect();
                (role.as_str().to_owned(), grants)
            })
            .collect();
        let territories = policy
            .territories
            .into_iter()
            .map(|(name, teams)| (name, teams.into_iter().collect()))
            .collect();
        PolicySettings { roles, territories }
    }
}

impl GrantSetting {
    /// `current` with this setting laid over it; `path` places an error in the file.
    fn over(&self, current: Grant, path: &str) -> Result<Grant, PolicyError> {
        let reach = |name: &Option<String>, action: Action, current: Reach| match name {
            None => Ok(current),
            Some(name) => Reach::parse(name).map_err(|error| error.at(&format!("{path}.{action}"))),
        };
        match self {
            GrantSetting::Both(name) => Reach::parse(name)
                .map(Grant::both)
                .map_err(|error| error.at(path)),
            GrantSetting::PerAction { read, write } => Ok(Grant {
                read: reach(read, Action::Read, current.read)?,
                write: reach(write, Action::Write, current.write)?,
            }),
        }
    }
}

impl From<Grant> for GrantSetting {
    fn from(grant: Grant) -> GrantSetting {
        if grant.read == grant.write {
            return GrantSetting::Both(grant.read.as_str().to_owned());
        }
        GrantSetting::PerAction {
            read: Some(grant.read.as_str().to_owned()),
            write: Some(grant.write.as_str().to_owned()),
        }
    }
}

/// By hand rather than `untagged`, so that a wrong shape says what was expected and a misspelt
/// action (`wirte`) is named.
impl<'de> Deserialize<'de> for GrantSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<GrantSetting, D::Error> {
        deserializer.deserialize_any(GrantSettingVisitor)
    }
}

struct GrantSettingVisitor;

impl<'de> Visitor<'de> for GrantSettingVisitor {
    type Value = GrantSetting;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(
            "a reach (\"none\", \"own\", \"team\", \"territory\", \"all\") or a table \
             { read = <reach>, write = <reach> }",
        )
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<GrantSetting, E> {
        Ok(GrantSetting::Both(name.to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GrantSetting, A::Error> {
        let (mut read, mut write) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            let slot = match key.as_str() {
                "read" => &mut read,
                "write" => &mut write,
                other => return Err(de::Error::unknown_field(other, &["read", "write"])),
            };
            if slot.is_some() {
                return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            *slot = Some(map.next_value::<String>()?);
        }
        Ok(GrantSetting::PerAction { read, write })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn overrides(settings: serde_json::Value) -> Result<Policy, PolicyError> {
        let settings: PolicySettings = serde_json::from_value(settings).unwrap();
        Policy::default().with_overrides(&settings)
    }

    fn settings_error(settings: serde_json::Value) -> String {
        serde_json::from_value::<PolicySettings>(settings)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn no_overrides_is_the_default() {
        assert_eq!(overrides(json!({})).unwrap(), Policy::default());
        assert_eq!(
            serde_json::from_value::<Policy>(json!({})).unwrap(),
            Policy::default()
        );
    }

    #[test]
    fn overriding_one_action_of_one_resource_keeps_everything_else() {
        let policy = overrides(json!({"roles": {"sales": {"deals": {"write": "own"}}}})).unwrap();
        let default = Policy::default();

        assert_eq!(
            policy.grant(Role::Sales, Resource::Deals),
            Grant {
                read: Reach::Team,
                write: Reach::Own
            }
        );
        for role in Role::ALL {
            for resource in Resource::ALL {
                if (role, resource) != (Role::Sales, Resource::Deals) {
                    assert_eq!(
                        policy.grant(role, resource),
                        default.grant(role, resource),
                        "{role} {resource}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_reach_name_sets_both_actions_and_a_table_sets_those_it_names() {
        let policy = overrides(json!({"roles": {
            "marketing": {"deals": "own", "companies": {"read": "all", "write": "none"}},
            "support": {"cases": {"read": "all", "write": "team"}}
        }}))
        .unwrap();
        assert_eq!(
            policy.grant(Role::Marketing, Resource::Deals),
            Grant::both(Reach::Own)
        );
        assert_eq!(
            policy.grant(Role::Marketing, Resource::Companies),
            Grant {
                read: Reach::All,
                write: Reach::None
            }
        );
        assert_eq!(
            policy.grant(Role::Support, Resource::Cases),
            Grant {
                read: Reach::All,
                write: Reach::Team
            }
        );
    }

    #[test]
    fn territories_are_added_and_replaced_by_name_with_trimmed_team_names() {
        let policy = overrides(json!({"territories": {"emea": ["berlin", " paris "]}})).unwrap();
        let teams: Vec<&str> = policy
            .territory("emea")
            .unwrap()
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(teams, ["berlin", "paris"]);

        let replaced = policy
            .with_overrides(&PolicySettings {
                territories: BTreeMap::from([("emea".to_owned(), vec!["lisbon".to_owned()])]),
                ..PolicySettings::default()
            })
            .unwrap();
        assert_eq!(
            replaced.territory("emea"),
            Some(&BTreeSet::from(["lisbon".to_owned()]))
        );
        assert_eq!(replaced.territory("apac"), None);
    }

    #[test]
    fn an_unknown_role_is_refused_and_named() {
        let error = overrides(json!({"roles": {"root": {"deals": "all"}}})).unwrap_err();
        assert_eq!(
            error,
            PolicyError::UnknownRole {
                name: "root".into()
            }
            .at("roles")
        );
        let message = error.to_string();
        assert!(message.contains("`root`"), "{message}");
        assert!(message.contains("admin, manager, sales"), "{message}");
    }

    #[test]
    fn an_unknown_resource_is_refused_with_its_role() {
        let error = overrides(json!({"roles": {"sales": {"dealz": "all"}}})).unwrap_err();
        assert_eq!(
            error,
            PolicyError::UnknownResource {
                name: "dealz".into()
            }
            .at("roles.sales")
        );
        assert!(error.to_string().contains("`roles.sales`"), "{error}");
        assert!(error.to_string().contains("`dealz`"), "{error}");
    }

    #[test]
    fn an_unknown_reach_is_refused_with_its_place() {
        assert_eq!(
            overrides(json!({"roles": {"sales": {"deals": "teams"}}})).unwrap_err(),
            PolicyError::UnknownReach {
                name: "teams".into()
            }
            .at("roles.sales.deals")
        );
        assert_eq!(
            overrides(json!({"roles": {"sales": {"deals": {"read": "all", "write": "everyone"}}}}))
                .unwrap_err(),
            PolicyError::UnknownReach {
                name: "everyone".into()
            }
            .at("roles.sales.deals.write")
        );
    }

    #[test]
    fn a_misshapen_grant_says_what_was_expected() {
        let misspelt = settings_error(json!({"roles": {"sales": {"deals": {"wirte": "own"}}}}));
        assert!(misspelt.contains("`wirte`"), "{misspelt}");

        let number = settings_error(json!({"roles": {"sales": {"deals": 3}}}));
        assert!(number.contains("expected a reach"), "{number}");

        let twice = serde_json::from_str::<GrantSetting>(r#"{"read": "own", "read": "all"}"#)
            .unwrap_err()
            .to_string();
        assert!(twice.contains("duplicate field `read`"), "{twice}");

        let unknown_section = settings_error(json!({"role": {}}));
        assert!(unknown_section.contains("`role`"), "{unknown_section}");
    }

    #[test]
    fn an_invalid_team_name_in_a_territory_is_refused_and_named() {
        assert_eq!(
            overrides(json!({"territories": {"emea": ["berlin", "par\nis"]}})).unwrap_err(),
            PolicyError::InvalidTeam {
                name: "par\nis".into()
            }
            .at("territories.emea")
        );
        assert!(overrides(json!({"territories": {"emea": [""]}})).is_err());
    }

    #[test]
    fn a_grant_that_writes_further_than_it_reads_is_refused() {
        let error =
            overrides(json!({"roles": {"marketing": {"deals": {"write": "own"}}}})).unwrap_err();
        assert_eq!(
            error,
            PolicyError::WriteBeyondRead {
                role: Role::Marketing,
                resource: Resource::Deals,
                read: Reach::None,
                write: Reach::Own
            }
        );
        assert!(error.to_string().contains("the marketing role"), "{error}");
    }

    #[test]
    fn a_part_of_what_is_reached_whole_is_refused() {
        for (resource, name) in [
            (Resource::Users, "users"),
            (Resource::Audit, "audit"),
            (Resource::Events, "events"),
            (Resource::Pipelines, "pipelines"),
        ] {
            let error = overrides(json!({"roles": {"manager": {name: "team"}}})).unwrap_err();
            assert_eq!(
                error,
                PolicyError::PartOfWhole {
                    role: Role::Manager,
                    resource,
                    reach: Reach::Team
                }
            );
            overrides(json!({"roles": {"manager": {name: "all"}}})).expect("all of it");
            overrides(json!({"roles": {"manager": {name: "none"}}})).expect("none of it");
        }
        overrides(json!({"roles": {"manager": {"deals": "own"}}})).expect("owned records");
    }

    #[test]
    fn the_errors_of_a_policy_read_from_settings_are_the_policys_own() {
        let error = serde_json::from_value::<Policy>(json!({"roles": {"sales": {"dealz": "all"}}}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("at `roles.sales`"), "{error}");
        assert!(error.contains("unknown resource `dealz`"), "{error}");
    }

    #[test]
    fn a_policy_written_out_in_full_reads_back_the_same() {
        let policy = overrides(json!({
            "roles": {"sales": {"deals": {"write": "own"}, "reports": "territory"}},
            "territories": {"emea": ["berlin", "paris"]}
        }))
        .unwrap();
        let written = serde_json::to_value(&policy).unwrap();
        assert_eq!(written["roles"]["sales"]["companies"], json!("team"));
        assert_eq!(
            written["roles"]["sales"]["deals"],
            json!({"read": "team", "write": "own"})
        );
        assert_eq!(written["territories"]["emea"], json!(["berlin", "paris"]));
        assert_eq!(serde_json::from_value::<Policy>(written).unwrap(), policy);
    }
}
