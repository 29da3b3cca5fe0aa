//! What a caller may reach: the record collections and the areas beside them, and the two things
//! one can do to either. Names are the API's (`contacts`, `events`), so a route, a settings file
//! and a token's scope all say the same word.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::PolicyError;

/// A record collection (owned records, reached through their owner and team) or an area (history,
/// reports, the event log, the audit trail, users), which has no owner and is reached wholly or
/// not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Companies,
    Contacts,
    Leads,
    Pipelines,
    Deals,
    Activities,
    Tasks,
    Cases,
    History,
    Reports,
    Events,
    Audit,
    Users,
}

impl Resource {
    pub const ALL: [Resource; 13] = [
        Resource::Companies,
        Resource::Contacts,
        Resource::Leads,
        Resource::Pipelines,
        Resource::Deals,
        Resource::Activities,
        Resource::Tasks,
        Resource::Cases,
        Resource::History,
        Resource::Reports,
        Resource::Events,
        Resource::Audit,
        Resource::Users,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Companies => "companies",
            Resource::Contacts => "contacts",
            Resource::Leads => "leads",
            Resource::Pipelines => "pipelines",
            Resource::Deals => "deals",
            Resource::Activities => "activities",
            Resource::Tasks => "tasks",
            Resource::Cases => "cases",
            Resource::History => "history",
            Resource::Reports => "reports",
            Resource::Events => "events",
            Resource::Audit => "audit",
            Resource::Users => "users",
        }
    }

    pub fn parse(name: &str) -> Result<Resource, PolicyError> {
        Resource::ALL
            .into_iter()
            .find(|resource| resource.as_str() == name)
            .ok_or_else(|| PolicyError::UnknownResource {
                name: name.to_owned(),
            })
    }

    /// Whether it is a collection of owned records rather than an area.
    pub fn is_record(self) -> bool {
        !matches!(
            self,
            Resource::History
                | Resource::Reports
                | Resource::Events
                | Resource::Audit
                | Resource::Users
        )
    }

    /// Whether it is reached whole or not at all: nothing in it has an owner or a team to narrow
    /// a reach to (pipelines are the organisation's, users and the logs everyone's).
    pub fn is_whole(self) -> bool {
        matches!(
            self,
            Resource::Pipelines | Resource::Events | Resource::Audit | Resource::Users
        )
    }

    /// How a sentence names it: "the event log" rather than "events".
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Resource::History => "record history",
            Resource::Events => "the raw event log",
            Resource::Audit => "the audit trail",
            other => other.as_str(),
        }
    }
}

impl FromStr for Resource {
    type Err = PolicyError;
    fn from_str(name: &str) -> Result<Resource, PolicyError> {
        Resource::parse(name)
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Reading (one record, a list, a report) or writing (any command). Whoever may write may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Read,
    Write,
}

impl Action {
    pub const ALL: [Action; 2] = [Action::Read, Action::Write];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
        }
    }

    pub fn parse(name: &str) -> Result<Action, PolicyError> {
        Action::ALL
            .into_iter()
            .find(|action| action.as_str() == name)
            .ok_or_else(|| PolicyError::UnknownAction {
                name: name.to_owned(),
            })
    }
}

impl FromStr for Action {
    type Err = PolicyError;
    fn from_str(name: &str) -> Result<Action, PolicyError> {
        Action::parse(name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_and_actions_read_and_print_by_their_api_names() {
        for resource in Resource::ALL {
            assert_eq!(Resource::parse(resource.as_str()), Ok(resource));
            assert_eq!(
                serde_json::to_value(resource).unwrap(),
                serde_json::json!(resource.as_str())
            );
        }
        for action in Action::ALL {
            assert_eq!(action.as_str().parse::<Action>(), Ok(action));
        }
    }

    #[test]
    fn an_unknown_name_is_refused_and_named() {
        let error = Resource::parse("dealz").unwrap_err();
        assert_eq!(
            error,
            PolicyError::UnknownResource {
                name: "dealz".into()
            }
        );
        assert!(error.to_string().contains("`dealz`"), "{error}");
        assert!(error.to_string().contains("companies, contacts"), "{error}");
        assert_eq!(
            Action::parse("delete"),
            Err(PolicyError::UnknownAction {
                name: "delete".into()
            })
        );
    }

    #[test]
    fn areas_are_not_records() {
        let records: Vec<&str> = Resource::ALL
            .into_iter()
            .filter(|resource| resource.is_record())
            .map(Resource::as_str)
            .collect();
        assert_eq!(
            records,
            [
                "companies",
                "contacts",
                "leads",
                "pipelines",
                "deals",
                "activities",
                "tasks",
                "cases"
            ]
        );
    }
}
