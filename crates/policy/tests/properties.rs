//! Properties of any policy, not only the default one: a list shows exactly the records one may
//! read, a wider reach never allows less, and writing never reaches further than reading. Policies,
//! callers and records are generated over a few users and teams so that they often meet.

use std::collections::BTreeMap;

use policy::{
    Action, GrantSetting, Ownership, Policy, PolicySettings, Principal, Reach, Resource, Role,
    Scope,
};
use proptest::prelude::*;
use proptest::sample::select;
use uuid::Uuid;

const TEAMS: [&str; 4] = ["berlin", "paris", "vienna", "tokyo"];

fn user() -> impl Strategy<Value = Uuid> {
    (1..=3u128).prop_map(Uuid::from_u128)
}

fn team() -> impl Strategy<Value = Option<String>> {
    prop::option::of(select(TEAMS.to_vec()).prop_map(str::to_owned))
}

fn reach() -> impl Strategy<Value = Reach> {
    select(Reach::ALL.to_vec())
}

fn scope() -> impl Strategy<Value = Scope> {
    (
        prop::option::of(select(Resource::ALL.to_vec())),
        select(vec![Action::Read, Action::Write]),
    )
        .prop_map(|(resource, action)| Scope { resource, action })
}

fn principal() -> impl Strategy<Value = Principal> {
    (
        user(),
        select(Role::ALL.to_vec()),
        team(),
        prop::collection::vec(scope(), 0..3),
    )
        .prop_map(|(user_id, role, team, scopes)| Principal {
            user_id,
            role,
            team,
            scopes,
        })
}

/// A record with up to three links, each of which may have links of its own (not followed).
fn ownership() -> impl Strategy<Value = Ownership> {
    let leaf = (prop::option::of(user()), team()).prop_map(|(owner_id, team)| Ownership {
        owner_id,
        team,
        links: Vec::new(),
    });
    leaf.prop_recursive(2, 8, 3, |inner| {
        (
            prop::option::of(user()),
            team(),
            prop::collection::vec(inner, 0..3),
        )
            .prop_map(|(owner_id, team, links)| Ownership {
                owner_id,
                team,
                links,
            })
    })
}

/// `reach`, or all of it where `resource` is reached whole or not at all.
fn whole_or(resource: Resource, reach: Reach) -> Reach {
    if resource.is_whole() && reach != Reach::None {
        Reach::All
    } else {
        reach
    }
}

/// A resource whose records have owners and teams, so that any reach can be granted.
fn owned_resource() -> impl Strategy<Value = Resource> {
    select(
        Resource::ALL
            .into_iter()
            .filter(|resource| !resource.is_whole())
            .collect::<Vec<_>>(),
    )
}

/// Any grant for every role and resource (writing within reading), and a few territories.
fn policy() -> impl Strategy<Value = Policy> {
    let cells = Role::ALL.len() * Resource::ALL.len();
    let grants = prop::collection::vec((reach(), reach()), cells);
    let territory = prop::collection::vec(select(TEAMS.to_vec()), 0..4);
    let territories =
        prop::collection::btree_map(select(vec!["emea", "dach", "apac"]), territory, 0..3);
    (grants, territories).prop_map(|(grants, territories)| {
        let mut cells = grants.into_iter();
        let roles = Role::ALL
            .into_iter()
            .map(|role| {
                let resources = Resource::ALL
                    .into_iter()
                    .zip(cells.by_ref())
                    .map(|(resource, (read, write))| {
                        let (read, write) = (whole_or(resource, read), whole_or(resource, write));
                        let setting = GrantSetting::PerAction {
                            read: Some(read.max(write).as_str().to_owned()),
                            write: Some(write.as_str().to_owned()),
                        };
                        (resource.as_str().to_owned(), setting)
                    })
                    .collect();
                (role.as_str().to_owned(), resources)
            })
            .collect();
        let territories = territories
            .into_iter()
            .map(|(name, teams)| {
                let teams = teams.into_iter().map(str::to_owned).collect();
                (name.to_owned(), teams)
            })
            .collect();
        Policy::default()
            .with_overrides(&PolicySettings { roles, territories })
            .expect("generated grants write within what they read")
    })
}

/// `policy` with the caller's role given `reach` for reading and writing `resource`.
fn with_reach(policy: &Policy, role: Role, resource: Resource, reach: Reach) -> Policy {
    let grant = GrantSetting::Both(reach.as_str().to_owned());
    let settings = PolicySettings {
        roles: BTreeMap::from([(
            role.as_str().to_owned(),
            BTreeMap::from([(resource.as_str().to_owned(), grant)]),
        )]),
        ..PolicySettings::default()
    };
    policy
        .clone()
        .with_overrides(&settings)
        .expect("one reach for both actions is always valid")
}

proptest! {
    #[test]
    fn a_list_shows_exactly_the_records_one_may_read(
        policy in policy(),
        principal in principal(),
        record in ownership(),
    ) {
        for resource in Resource::ALL {
            let listed = policy.visibility(&principal, resource).matches(&record);
            let readable = policy.allows(&principal, resource, Action::Read, &record);
            prop_assert_eq!(listed, readable, "{}", resource);
        }
    }

    #[test]
    fn territory_reach_allows_at_least_what_team_reach_does(
        policy in policy(),
        principal in principal(),
        record in ownership(),
        resource in owned_resource(),
        action in select(vec![Action::Read, Action::Write]),
    ) {
        let team = with_reach(&policy, principal.role, resource, Reach::Team);
        let territory = with_reach(&policy, principal.role, resource, Reach::Territory);
        if team.allows(&principal, resource, action, &record) {
            prop_assert!(territory.allows(&principal, resource, action, &record));
        }
    }

    #[test]
    fn a_wider_reach_never_allows_less(
        policy in policy(),
        principal in principal(),
        record in ownership(),
        resource in owned_resource(),
        action in select(vec![Action::Read, Action::Write]),
    ) {
        let allowed: Vec<bool> = Reach::ALL
            .into_iter()
            .map(|reach| {
                with_reach(&policy, principal.role, resource, reach)
                    .allows(&principal, resource, action, &record)
            })
            .collect();
        prop_assert!(allowed.is_sorted(), "{:?}", allowed);
    }

    #[test]
    fn whoever_may_write_a_record_may_read_it(
        policy in policy(),
        principal in principal(),
        record in ownership(),
        resource in select(Resource::ALL.to_vec()),
    ) {
        if policy.allows(&principal, resource, Action::Write, &record) {
            prop_assert!(policy.allows(&principal, resource, Action::Read, &record));
        }
        prop_assert!(
            policy.reach(&principal, resource, Action::Write)
                <= policy.reach(&principal, resource, Action::Read)
        );
    }

    #[test]
    fn a_decision_agrees_with_allows(
        policy in policy(),
        principal in principal(),
        record in ownership(),
        resource in select(Resource::ALL.to_vec()),
        action in select(vec![Action::Read, Action::Write]),
    ) {
        prop_assert_eq!(
            policy.decide(&principal, resource, action, &record).is_allowed(),
            policy.allows(&principal, resource, action, &record)
        );
    }

    #[test]
    fn a_policy_written_out_reads_back_the_same(policy in policy()) {
        let written = serde_json::to_string(&policy).unwrap();
        prop_assert_eq!(serde_json::from_str::<Policy>(&written).unwrap(), policy);
    }
}
