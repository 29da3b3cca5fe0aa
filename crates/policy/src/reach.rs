//! How far a caller's hand goes, and what a record says about who holds it. A reach is a widening
//! circle (own ⊂ team ⊂ territory ⊂ all), so comparing two reaches is comparing two values, and a
//! cap (a token's scopes) is a minimum.
//!
//! A record's [`Ownership`] carries the ownership of the records it is linked to (a deal's
//! company, a task's contact), one level deep: a record is in reach when it or any of its links is,
//! which is how a salesperson sees the activities logged against their company by someone else.
//! [`Visibility`] says the same for a list, in the shape a query can use.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::PolicyError;

/// Which records of a resource a caller reaches, from nothing to everything. Ordered: each reach
/// includes every record the one before it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// No record at all.
    None,
    /// Records the caller owns, and records linked to one they own.
    Own,
    /// As `Own`, plus records of the caller's team (a record's `team` is the caller's), and
    /// records linked to those.
    Team,
    /// As `Team`, for every team of every territory the caller's team belongs to.
    Territory,
    /// Every record, owned or not.
    All,
}

impl Reach {
    pub const ALL: [Reach; 5] = [
        Reach::None,
        Reach::Own,
        Reach::Team,
        Reach::Territory,
        Reach::All,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reach::None => "none",
            Reach::Own => "own",
            Reach::Team => "team",
            Reach::Territory => "territory",
            Reach::All => "all",
        }
    }

    pub fn parse(name: &str) -> Result<Reach, PolicyError> {
        Reach::ALL
            .into_iter()
            .find(|reach| reach.as_str() == name)
            .ok_or_else(|| PolicyError::UnknownReach {
                name: name.to_owned(),
            })
    }
}

impl FromStr for Reach {
    type Err = PolicyError;
    fn from_str(name: &str) -> Result<Reach, PolicyError> {
        Reach::parse(name)
    }
}

impl fmt::Display for Reach {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Who holds a record, as the API knows it: its owner, its team, and the ownership of the records
/// it links to (one level; links of links are not followed). An area without records (reports,
/// the event log) is `Ownership::default()`, which only reach `all` covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ownership {
    pub owner_id: Option<Uuid>,
    pub team: Option<String>,
    pub links: Vec<Ownership>,
}

impl Ownership {
    /// Whether the record itself or one of its direct links satisfies `held`.
    pub(crate) fn any(&self, held: impl Fn(&Ownership) -> bool) -> bool {
        held(self) || self.links.iter().any(held)
    }
}

/// Which records of a resource a list may show. `Some` reads as the filter
/// `owner_id = ANY(owner_ids) OR team = ANY(teams)`, applied to the record and to the records it
/// links to (its company, contact or deal): a record matches when it or one of its links does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    Everything,
    Nothing,
    Some {
        owner_ids: Vec<Uuid>,
        teams: Vec<String>,
    },
}

impl Visibility {
    /// Whether a list may show a record with this ownership: the filter above, in memory.
    pub fn matches(&self, record: &Ownership) -> bool {
        match self {
            Visibility::Everything => true,
            Visibility::Nothing => false,
            Visibility::Some { owner_ids, teams } => record.any(|held| {
                held.owner_id
                    .is_some_and(|owner| owner_ids.contains(&owner))
                    || held.team.as_ref().is_some_and(|team| teams.contains(team))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaches_widen_in_order() {
        assert!(Reach::None < Reach::Own);
        assert!(Reach::Own < Reach::Team);
        assert!(Reach::Team < Reach::Territory);
        assert!(Reach::Territory < Reach::All);
        for reach in Reach::ALL {
            assert_eq!(reach.as_str().parse::<Reach>(), Ok(reach));
            assert_eq!(
                serde_json::to_value(reach).unwrap(),
                serde_json::json!(reach.as_str())
            );
        }
    }

    #[test]
    fn an_unknown_reach_is_refused_and_named() {
        let error = Reach::parse("teams").unwrap_err();
        assert_eq!(
            error,
            PolicyError::UnknownReach {
                name: "teams".into()
            }
        );
        assert!(
            error
                .to_string()
                .contains("none, own, team, territory, all"),
            "{error}"
        );
    }

    #[test]
    fn a_record_matches_a_visibility_through_itself_or_a_direct_link_only() {
        let me = Uuid::from_u128(1);
        let visibility = Visibility::Some {
            owner_ids: vec![me],
            teams: vec!["berlin".into()],
        };
        let mine = Ownership {
            owner_id: Some(me),
            ..Ownership::default()
        };
        let berlin = Ownership {
            team: Some("berlin".into()),
            ..Ownership::default()
        };
        let paris = Ownership {
            owner_id: Some(Uuid::from_u128(2)),
            team: Some("paris".into()),
            links: Vec::new(),
        };
        let linked_to_mine = Ownership {
            links: vec![paris.clone(), mine.clone()],
            ..paris.clone()
        };
        let linked_through_a_link = Ownership {
            links: vec![linked_to_mine.clone()],
            ..paris.clone()
        };

        assert!(visibility.matches(&mine));
        assert!(visibility.matches(&berlin));
        assert!(visibility.matches(&linked_to_mine));
        assert!(!visibility.matches(&paris));
        assert!(!visibility.matches(&linked_through_a_link));
        assert!(!visibility.matches(&Ownership::default()));
        assert!(Visibility::Everything.matches(&Ownership::default()));
        assert!(!Visibility::Nothing.matches(&mine));
    }
}
