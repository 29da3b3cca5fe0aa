//! The decisions: how far a caller reaches into a resource, whether one record is within it (and
//! why not), and which records a list may show. Everything is computed from the policy's table,
//! the caller and the record's ownership; nothing is looked up.
//!
//! Two rules hold whatever the table says: a token's scopes cap what the role grants (see
//! [`Principal::scopes_allow`]), and whoever reads deals reads pipelines, since a deal's stage
//! means nothing without its pipeline.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::defaults::DEFAULTS;
use crate::settings::PolicySettings;
use crate::{Action, Ownership, Principal, Reach, Resource, Role, Visibility};

/// Who may see and change what: a grant per role and resource, and the teams of each territory.
/// Read from settings as overrides of [`Policy::default`] (see [`PolicySettings`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicySettings", into = "PolicySettings")]
pub struct Policy {
    /// Every role and resource, `Grant::NONE` where nothing is granted.
    pub(crate) grants: BTreeMap<(Role, Resource), Grant>,
    /// Territory name → its teams.
    pub(crate) territories: BTreeMap<String, BTreeSet<String>>,
}

/// What one role may do with one resource: how far it reads and how far it writes. Writing never
/// reaches further than reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub read: Reach,
    pub write: Reach,
}

/// The answer for one record: allowed, or denied with a reason a person can read (in a 403 body,
/// in the access log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny { reason: String },
}

impl Default for Policy {
    fn default() -> Policy {
        let every_pair = Role::ALL.into_iter().flat_map(|role| {
            Resource::ALL
                .into_iter()
                .map(move |resource| ((role, resource), Grant::NONE))
        });
        let listed = DEFAULTS.iter().flat_map(|(role, grants)| {
            grants
                .iter()
                .map(|(resource, grant)| ((*role, *resource), *grant))
        });
        Policy {
            // A listed grant, coming later, replaces the pair's `NONE`.
            grants: every_pair.chain(listed).collect(),
            territories: BTreeMap::new(),
        }
    }
}

impl Policy {
    /// What the table grants `role` on `resource`, before any scope or derived rule.
    pub fn grant(&self, role: Role, resource: Resource) -> Grant {
        self.grants
            .get(&(role, resource))
            .copied()
            .unwrap_or(Grant::NONE)
    }

    /// The teams of a territory, if the policy names it.
    pub fn territory(&self, name: &str) -> Option<&BTreeSet<String>> {
        self.territories.get(name)
    }

    /// How far `principal` reaches into `resource` for `action`.
    pub fn reach(&self, principal: &Principal, resource: Resource, action: Action) -> Reach {
        let pipelines_of_readable_deals = resource == Resource::Pipelines
            && action == Action::Read
            && self.scoped_reach(principal, Resource::Deals, Action::Read) > Reach::None;
        if pipelines_of_readable_deals {
            return Reach::All;
        }
        self.scoped_reach(principal, resource, action)
    }

    /// Whether `principal` may do `action` on a record of `resource` held as `record` says. For an
    /// area without records, pass `Ownership::default()`: only reach `all` allows it.
    pub fn allows(
        &self,
        principal: &Principal,
        resource: Resource,
        action: Action,
        record: &Ownership,
    ) -> bool {
        let reach = self.reach(principal, resource, action);
        match reach {
            Reach::None => false,
            Reach::All => true,
            Reach::Own | Reach::Team | Reach::Territory => {
                let teams = self.teams_within(principal, reach);
                record.any(|held| {
                    held.owner_id == Some(principal.user_id)
                        || held.team.as_ref().is_some_and(|team| teams.contains(team))
                })
            }
        }
    }

    /// As [`Policy::allows`], with the reason when denied.
    pub fn decide(
        &self,
        principal: &Principal,
        resource: Resource,
        action: Action,
        record: &Ownership,
    ) -> Decision {
        if self.allows(principal, resource, action, record) {
            return Decision::Allow;
        }
        let role = principal.role;
        let noun = resource.noun();
        let verb = match action {
            Action::Read => "reaches",
            Action::Write => "changes",
        };
        let reason = match self.reach(principal, resource, action) {
            Reach::None if self.grant(role, resource).get(action) > Reach::None => {
                format!("the token's scopes do not include {resource}:{action}")
            }
            Reach::None => match action {
                Action::Read => format!("the {role} role may not read {noun}"),
                Action::Write => format!("the {role} role may not change {noun}"),
            },
            Reach::Own => format!("the {role} role {verb} only its own {noun}"),
            Reach::Team | Reach::Territory if principal.team.is_none() => format!(
                "the {role} role {verb} only its team's {noun}, and this user has no team, so \
                 only their own"
            ),
            Reach::Team => format!("the {role} role {verb} only its team's {noun}"),
            Reach::Territory => format!("the {role} role {verb} only its territory's {noun}"),
            Reach::All => return Decision::Allow,
        };
        Decision::Deny { reason }
    }

    /// Which records of `resource` a list may show `principal`: exactly those [`Policy::allows`]
    /// lets them read.
    pub fn visibility(&self, principal: &Principal, resource: Resource) -> Visibility {
        let reach = self.reach(principal, resource, Action::Read);
        match reach {
            Reach::None => Visibility::Nothing,
            Reach::All => Visibility::Everything,
            Reach::Own | Reach::Team | Reach::Territory => Visibility::Some {
                owner_ids: vec![principal.user_id],
                teams: self.teams_within(principal, reach).into_iter().collect(),
            },
        }
    }

    /// The role's grant, capped by the token's scopes.
    fn scoped_reach(&self, principal: &Principal, resource: Resource, action: Action) -> Reach {
        if !principal.scopes_allow(resource, action) {
            return Reach::None;
        }
        self.grant(principal.role, resource).get(action)
    }

    /// The teams whose records `reach` covers besides the caller's own: none for `own` (or for a
    /// caller without a team), the caller's team for `team`, and for `territory` also every team
    /// that shares a territory with it.
    fn teams_within(&self, principal: &Principal, reach: Reach) -> BTreeSet<String> {
        let Some(team) = principal.team.as_ref().filter(|_| reach >= Reach::Team) else {
            return BTreeSet::new();
        };
        let mut teams = BTreeSet::from([team.clone()]);
        if reach >= Reach::Territory {
            for members in self.territories.values() {
                if members.contains(team) {
                    teams.extend(members.iter().cloned());
                }
            }
        }
        teams
    }
}

impl Grant {
    pub const NONE: Grant = Grant::both(Reach::None);

    /// The same reach for reading and writing.
    pub const fn both(reach: Reach) -> Grant {
        Grant {
            read: reach,
            write: reach,
        }
    }

    pub fn get(self, action: Action) -> Reach {
        match action {
            Action::Read => self.read,
            Action::Write => self.write,
        }
    }
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::Scope;

    const ME: Uuid = Uuid::from_u128(1);
    const SOMEONE: Uuid = Uuid::from_u128(2);

    fn principal(role: Role, team: Option<&str>, scopes: &[&str]) -> Principal {
        Principal {
            user_id: ME,
            role,
            team: team.map(str::to_owned),
            scopes: scopes
                .iter()
                .map(|text| Scope::parse(text).unwrap())
                .collect(),
        }
    }

    fn of_team(team: &str) -> Ownership {
        Ownership {
            owner_id: Some(SOMEONE),
            team: Some(team.to_owned()),
            links: Vec::new(),
        }
    }

    fn mine() -> Ownership {
        Ownership {
            owner_id: Some(ME),
            ..Ownership::default()
        }
    }

    fn policy(settings: serde_json::Value) -> Policy {
        serde_json::from_value(settings).unwrap()
    }

    fn reason(decision: Decision) -> String {
        match decision {
            Decision::Deny { reason } => reason,
            Decision::Allow => panic!("allowed"),
        }
    }

    #[test]
    fn own_reach_covers_ones_records_and_those_linked_to_them_only() {
        let policy = policy(json!({"roles": {"sales": {"deals": {"write": "own"}}}}));
        let sales = principal(Role::Sales, Some("berlin"), &[]);
        let linked_to_mine = Ownership {
            links: vec![mine()],
            ..of_team("paris")
        };

        assert!(policy.allows(&sales, Resource::Deals, Action::Write, &mine()));
        assert!(policy.allows(&sales, Resource::Deals, Action::Write, &linked_to_mine));
        assert!(!policy.allows(&sales, Resource::Deals, Action::Write, &of_team("berlin")));
        assert!(policy.allows(&sales, Resource::Deals, Action::Read, &of_team("berlin")));
        assert_eq!(
            reason(policy.decide(&sales, Resource::Deals, Action::Write, &of_team("berlin"))),
            "the sales role changes only its own deals"
        );
    }

    #[test]
    fn territory_reach_covers_every_team_of_the_callers_territories() {
        let policy = policy(json!({
            "roles": {"sales": {"deals": "territory"}},
            "territories": {"emea": ["berlin", "paris"], "dach": ["berlin", "vienna"], "apac": ["tokyo"]}
        }));
        let berlin = principal(Role::Sales, Some("berlin"), &[]);

        for team in ["berlin", "paris", "vienna"] {
            assert!(policy.allows(&berlin, Resource::Deals, Action::Write, &of_team(team)));
        }
        assert!(!policy.allows(&berlin, Resource::Deals, Action::Read, &of_team("tokyo")));
        assert_eq!(
            policy.visibility(&berlin, Resource::Deals),
            Visibility::Some {
                owner_ids: vec![ME],
                teams: vec!["berlin".into(), "paris".into(), "vienna".into()]
            }
        );
        assert_eq!(
            reason(policy.decide(&berlin, Resource::Deals, Action::Read, &of_team("tokyo"))),
            "the sales role reaches only its territory's deals"
        );

        let lima = principal(Role::Sales, Some("lima"), &[]);
        assert_eq!(
            policy.visibility(&lima, Resource::Deals),
            Visibility::Some {
                owner_ids: vec![ME],
                teams: vec!["lima".into()]
            }
        );
    }

    #[test]
    fn a_caller_without_a_team_reaches_only_their_own_records() {
        let policy = Policy::default();
        let loner = principal(Role::Sales, None, &[]);

        assert_eq!(
            policy.visibility(&loner, Resource::Contacts),
            Visibility::Some {
                owner_ids: vec![ME],
                teams: Vec::new()
            }
        );
        assert!(policy.allows(&loner, Resource::Contacts, Action::Write, &mine()));
        let unteamed = Ownership {
            owner_id: Some(SOMEONE),
            ..Ownership::default()
        };
        assert!(!policy.allows(&loner, Resource::Contacts, Action::Read, &unteamed));
        assert_eq!(
            reason(policy.decide(&loner, Resource::Contacts, Action::Read, &unteamed)),
            "the sales role reaches only its team's contacts, and this user has no team, so only \
             their own"
        );
    }

    #[test]
    fn visibility_follows_the_reach() {
        let policy = Policy::default();
        assert_eq!(
            policy.visibility(
                &principal(Role::Sales, Some("berlin"), &[]),
                Resource::Deals
            ),
            Visibility::Some {
                owner_ids: vec![ME],
                teams: vec!["berlin".into()]
            }
        );
        assert_eq!(
            policy.visibility(&principal(Role::Support, None, &[]), Resource::Cases),
            Visibility::Everything
        );
        assert_eq!(
            policy.visibility(&principal(Role::Support, None, &[]), Resource::Deals),
            Visibility::Nothing
        );
        assert_eq!(
            policy.visibility(&principal(Role::Analyst, None, &[]), Resource::Contacts),
            Visibility::Nothing
        );
    }

    #[test]
    fn a_denial_says_why_in_words() {
        let policy = Policy::default();
        let cases = [
            (
                principal(Role::Sales, Some("berlin"), &[]),
                Resource::Deals,
                Action::Read,
                "the sales role reaches only its team's deals",
            ),
            (
                principal(Role::Manager, Some("berlin"), &[]),
                Resource::Companies,
                Action::Write,
                "the manager role changes only its team's companies",
            ),
            (
                principal(Role::Analyst, None, &[]),
                Resource::Contacts,
                Action::Read,
                "the analyst role may not read contacts",
            ),
            (
                principal(Role::Sales, Some("berlin"), &[]),
                Resource::Pipelines,
                Action::Write,
                "the sales role may not change pipelines",
            ),
            (
                principal(Role::Support, None, &[]),
                Resource::Events,
                Action::Read,
                "the support role may not read the raw event log",
            ),
            (
                principal(Role::Service, None, &["deals:read"]),
                Resource::Deals,
                Action::Write,
                "the token's scopes do not include deals:write",
            ),
            (
                principal(Role::Service, None, &["*:write"]),
                Resource::Users,
                Action::Read,
                "the service role may not read users",
            ),
            (
                principal(Role::Service, None, &["*:read", "audit:read"]),
                Resource::Audit,
                Action::Read,
                "the service role may not read the audit trail",
            ),
        ];
        for (caller, resource, action, expected) in cases {
            let decision = policy.decide(&caller, resource, action, &of_team("paris"));
            assert_eq!(reason(decision), expected);
        }
        assert_eq!(
            policy.decide(
                &principal(Role::Auditor, None, &[]),
                Resource::Audit,
                Action::Read,
                &Ownership::default()
            ),
            Decision::Allow
        );
    }

    #[test]
    fn a_service_token_reaches_exactly_what_its_scopes_name() {
        let policy = Policy::default();
        let unscoped = principal(Role::Service, None, &[]);
        for resource in Resource::ALL {
            assert_eq!(policy.reach(&unscoped, resource, Action::Read), Reach::None);
        }

        let reader = principal(Role::Service, None, &["*:read"]);
        for resource in Resource::ALL {
            let expected = if matches!(resource, Resource::Users | Resource::Audit) {
                Reach::None
            } else {
                Reach::All
            };
            assert_eq!(policy.reach(&reader, resource, Action::Read), expected);
            assert_eq!(policy.reach(&reader, resource, Action::Write), Reach::None);
        }

        let writer = principal(Role::Service, None, &["*:write"]);
        for resource in Resource::ALL {
            let writes = resource.is_record() && resource != Resource::Pipelines;
            let expected = if writes { Reach::All } else { Reach::None };
            assert_eq!(
                policy.reach(&writer, resource, Action::Write),
                expected,
                "{resource}"
            );
        }
    }

    #[test]
    fn scopes_on_a_persons_token_narrow_the_role_and_never_widen_it() {
        let policy = Policy::default();
        let narrowed = principal(
            Role::Sales,
            Some("berlin"),
            &["contacts:read", "users:write"],
        );
        assert_eq!(
            policy.reach(&narrowed, Resource::Contacts, Action::Read),
            Reach::Team
        );
        assert_eq!(
            policy.reach(&narrowed, Resource::Contacts, Action::Write),
            Reach::None
        );
        assert_eq!(
            policy.reach(&narrowed, Resource::Deals, Action::Read),
            Reach::None
        );
        assert_eq!(
            policy.reach(&narrowed, Resource::Users, Action::Write),
            Reach::None
        );
    }

    #[test]
    fn whoever_reads_deals_reads_every_pipeline() {
        let policy = policy(json!({"roles": {"marketing": {"deals": "own"}}}));
        let marketing = principal(Role::Marketing, None, &[]);
        assert_eq!(
            policy.reach(&marketing, Resource::Pipelines, Action::Read),
            Reach::All
        );
        assert_eq!(
            policy.reach(&marketing, Resource::Pipelines, Action::Write),
            Reach::None
        );

        let deal_reader = principal(Role::Service, None, &["deals:read"]);
        assert_eq!(
            Policy::default().reach(&deal_reader, Resource::Pipelines, Action::Read),
            Reach::All
        );
    }

    #[test]
    fn an_area_is_granted_whole_or_not_at_all() {
        let refused =
            serde_json::from_value::<Policy>(json!({"roles": {"manager": {"events": "team"}}}));
        assert!(refused.is_err());
        let policy = Policy::default();
        let auditor = principal(Role::Auditor, None, &[]);
        assert!(policy.allows(
            &auditor,
            Resource::Events,
            Action::Read,
            &Ownership::default()
        ));
    }

    #[test]
    fn the_defaults_never_write_further_than_they_read() {
        let policy = Policy::default();
        assert_eq!(
            policy.clone().with_overrides(&Default::default()),
            Ok(policy)
        );
    }
}
