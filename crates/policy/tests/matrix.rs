//! The default policy, cell by cell: for every role, resource and action, which of five records a
//! caller may touch. The expectations are written out by hand, not computed, so that a change to
//! the defaults (or to how reach is decided) shows up here as a line a reviewer reads.

use policy::{Action, Ownership, Policy, Principal, Resource, Role, Scope};
use uuid::Uuid;

use Resource::{
    Activities, Audit, Cases, Companies, Contacts, Deals, Events, History, Leads, Pipelines,
    Reports, Tasks, Users,
};
use Role::{Admin, Analyst, Auditor, Manager, Marketing, Sales, Service, Support};

const ME: Uuid = Uuid::from_u128(1);
const COLLEAGUE: Uuid = Uuid::from_u128(2);
const STRANGER: Uuid = Uuid::from_u128(3);

/// The caller is `ME` of team `berlin`; a service caller's token carries these scopes.
const SERVICE_SCOPES: [&str; 3] = ["contacts:read", "deals:write", "events:read"];

/// Per role and resource, reading and then writing, one mark per record in this order:
/// own (mine), team (a colleague's in berlin), linked (a paris record linked to a company of
/// mine), other (a stranger's in paris), unowned (no owner, no team). `Y` allowed, `.` denied.
#[rustfmt::skip]
const EXPECTED: &[(Role, Resource, &str, &str)] = &[
    //                          read     write
    (Admin,     Companies,     "YYYYY", "YYYYY"),
    (Admin,     Contacts,      "YYYYY", "YYYYY"),
    (Admin,     Leads,         "YYYYY", "YYYYY"),
    (Admin,     Pipelines,     "YYYYY", "YYYYY"),
    (Admin,     Deals,         "YYYYY", "YYYYY"),
    (Admin,     Activities,    "YYYYY", "YYYYY"),
    (Admin,     Tasks,         "YYYYY", "YYYYY"),
    (Admin,     Cases,         "YYYYY", "YYYYY"),
    (Admin,     History,       "YYYYY", "YYYYY"),
    (Admin,     Reports,       "YYYYY", "YYYYY"),
    (Admin,     Events,        "YYYYY", "YYYYY"),
    (Admin,     Audit,         "YYYYY", "YYYYY"),
    (Admin,     Users,         "YYYYY", "YYYYY"),

    (Manager,   Companies,     "YYY..", "YYY.."),
    (Manager,   Contacts,      "YYY..", "YYY.."),
    (Manager,   Leads,         "YYY..", "YYY.."),
    (Manager,   Pipelines,     "YYYYY", "YYYYY"),
    (Manager,   Deals,         "YYY..", "YYY.."),
    (Manager,   Activities,    "YYY..", "YYY.."),
    (Manager,   Tasks,         "YYY..", "YYY.."),
    (Manager,   Cases,         "YYY..", "YYY.."),
    (Manager,   History,       ".....", "....."),
    (Manager,   Reports,       "YYY..", "....."),
    (Manager,   Events,        ".....", "....."),
    (Manager,   Audit,         ".....", "....."),
    (Manager,   Users,         ".....", "....."),

    (Sales,     Companies,     "YYY..", "YYY.."),
    (Sales,     Contacts,      "YYY..", "YYY.."),
    (Sales,     Leads,         "YYY..", "YYY.."),
    (Sales,     Pipelines,     "YYYYY", "....."),
    (Sales,     Deals,         "YYY..", "YYY.."),
    (Sales,     Activities,    "YYY..", "YYY.."),
    (Sales,     Tasks,         "YYY..", "YYY.."),
    (Sales,     Cases,         "YYY..", "YYY.."),
    (Sales,     History,       ".....", "....."),
    (Sales,     Reports,       "YYY..", "....."),
    (Sales,     Events,        ".....", "....."),
    (Sales,     Audit,         ".....", "....."),
    (Sales,     Users,         ".....", "....."),

    (Support,   Companies,     "YYYYY", "YYYYY"),
    (Support,   Contacts,      "YYYYY", "YYYYY"),
    (Support,   Leads,         ".....", "....."),
    (Support,   Pipelines,     ".....", "....."),
    (Support,   Deals,         ".....", "....."),
    (Support,   Activities,    "YYYYY", "YYYYY"),
    (Support,   Tasks,         "YYYYY", "YYYYY"),
    (Support,   Cases,         "YYYYY", "YYYYY"),
    (Support,   History,       ".....", "....."),
    (Support,   Reports,       ".....", "....."),
    (Support,   Events,        ".....", "....."),
    (Support,   Audit,         ".....", "....."),
    (Support,   Users,         ".....", "....."),

    (Marketing, Companies,     ".....", "....."),
    (Marketing, Contacts,      "YYYYY", "YYYYY"),
    (Marketing, Leads,         "YYYYY", "YYYYY"),
    (Marketing, Pipelines,     ".....", "....."),
    (Marketing, Deals,         ".....", "....."),
    (Marketing, Activities,    ".....", "....."),
    (Marketing, Tasks,         ".....", "....."),
    (Marketing, Cases,         ".....", "....."),
    (Marketing, History,       ".....", "....."),
    (Marketing, Reports,       ".....", "....."),
    (Marketing, Events,        ".....", "....."),
    (Marketing, Audit,         ".....", "....."),
    (Marketing, Users,         ".....", "....."),

    (Analyst,   Companies,     ".....", "....."),
    (Analyst,   Contacts,      ".....", "....."),
    (Analyst,   Leads,         ".....", "....."),
    (Analyst,   Pipelines,     ".....", "....."),
    (Analyst,   Deals,         ".....", "....."),
    (Analyst,   Activities,    ".....", "....."),
    (Analyst,   Tasks,         ".....", "....."),
    (Analyst,   Cases,         ".....", "....."),
    (Analyst,   History,       "YYYYY", "....."),
    (Analyst,   Reports,       "YYYYY", "....."),
    (Analyst,   Events,        "YYYYY", "....."),
    (Analyst,   Audit,         ".....", "....."),
    (Analyst,   Users,         ".....", "....."),

    (Auditor,   Companies,     ".....", "....."),
    (Auditor,   Contacts,      ".....", "....."),
    (Auditor,   Leads,         ".....", "....."),
    (Auditor,   Pipelines,     ".....", "....."),
    (Auditor,   Deals,         ".....", "....."),
    (Auditor,   Activities,    ".....", "....."),
    (Auditor,   Tasks,         ".....", "....."),
    (Auditor,   Cases,         ".....", "....."),
    (Auditor,   History,       ".....", "....."),
    (Auditor,   Reports,       ".....", "....."),
    (Auditor,   Events,        "YYYYY", "....."),
    (Auditor,   Audit,         "YYYYY", "....."),
    (Auditor,   Users,         ".....", "....."),

    // With SERVICE_SCOPES: contacts:read, deals:write (and so deals:read, and pipelines with
    // them), events:read; nothing else.
    (Service,   Companies,     ".....", "....."),
    (Service,   Contacts,      "YYYYY", "....."),
    (Service,   Leads,         ".....", "....."),
    (Service,   Pipelines,     "YYYYY", "....."),
    (Service,   Deals,         "YYYYY", "YYYYY"),
    (Service,   Activities,    ".....", "....."),
    (Service,   Tasks,         ".....", "....."),
    (Service,   Cases,         ".....", "....."),
    (Service,   History,       ".....", "....."),
    (Service,   Reports,       ".....", "....."),
    (Service,   Events,        "YYYYY", "....."),
    (Service,   Audit,         ".....", "....."),
    (Service,   Users,         ".....", "....."),
];

fn caller(role: Role) -> Principal {
    let scopes = match role {
        Service => SERVICE_SCOPES
            .iter()
            .map(|text| Scope::parse(text).expect("a valid scope"))
            .collect(),
        _ => Vec::new(),
    };
    Principal {
        user_id: ME,
        role,
        team: Some("berlin".to_owned()),
        scopes,
    }
}

/// own, team, linked, other, unowned: the columns of [`EXPECTED`].
fn records() -> [(&'static str, Ownership); 5] {
    let owned = |owner: Uuid, team: Option<&str>| Ownership {
        owner_id: Some(owner),
        team: team.map(str::to_owned),
        links: Vec::new(),
    };
    [
        ("own", owned(ME, None)),
        ("team", owned(COLLEAGUE, Some("berlin"))),
        (
            "linked to own company",
            Ownership {
                links: vec![owned(ME, None)],
                ..owned(STRANGER, Some("paris"))
            },
        ),
        ("other team", owned(STRANGER, Some("paris"))),
        ("unowned", Ownership::default()),
    ]
}

#[test]
fn the_table_names_every_role_and_resource_once() {
    for role in Role::ALL {
        for resource in Resource::ALL {
            let rows = EXPECTED
                .iter()
                .filter(|(r, res, _, _)| (*r, *res) == (role, resource))
                .count();
            assert_eq!(rows, 1, "{role} × {resource}");
        }
    }
    assert_eq!(EXPECTED.len(), Role::ALL.len() * Resource::ALL.len());
}

#[test]
fn the_default_policy_allows_exactly_what_the_table_says() {
    let policy = Policy::default();
    let records = records();
    let mut wrong = Vec::new();
    for &(role, resource, read, write) in EXPECTED {
        let principal = caller(role);
        for (action, marks) in [(Action::Read, read), (Action::Write, write)] {
            assert_eq!(marks.len(), records.len(), "{role} {resource} {action}");
            for ((name, record), mark) in records.iter().zip(marks.chars()) {
                let expected = mark == 'Y';
                let allowed = policy.allows(&principal, resource, action, record);
                let decided = policy.decide(&principal, resource, action, record);
                if allowed != expected || decided.is_allowed() != expected {
                    wrong.push(format!(
                        "{role} {action} {resource} ({name}): expected {expected}, allows \
                         {allowed}, decide {decided:?}"
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
