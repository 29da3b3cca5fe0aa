//! The rules every organisation starts from, written out as a table so that a reviewer can check
//! them against the API's promise ("a `sales` user sees and changes only records that they or their
//! team own") in one read. A settings file overrides any cell; a cell not listed here is `none`.

use crate::policy::Grant;
use crate::{Reach, Resource, Role};

use Resource::{
    Activities, Audit, Cases, Companies, Contacts, Deals, Events, History, Leads, Pipelines,
    Reports, Tasks, Users,
};

/// Read and write every record.
const ALL: Grant = Grant::both(Reach::All);
/// Read and write the records of one's team (and records linked to them).
const TEAM: Grant = Grant::both(Reach::Team);
/// Read the records of one's team (and those linked to them), change nothing.
const TEAM_READ: Grant = Grant {
    read: Reach::Team,
    write: Reach::None,
};
/// Read everything, change nothing.
const READ_ALL: Grant = Grant {
    read: Reach::All,
    write: Reach::None,
};

/// Each role's grants. Pipelines are readable by every role that reads deals (the policy also
/// enforces that), and written by admins and managers only; users are the admins' alone.
/// Managers and sales read the reports (pipeline, forecast, leaderboards) of their team's deals.
pub(crate) const DEFAULTS: &[(Role, &[(Resource, Grant)])] = &[
    (
        Role::Admin,
        &[
            (Companies, ALL),
            (Contacts, ALL),
            (Leads, ALL),
            (Pipelines, ALL),
            (Deals, ALL),
            (Activities, ALL),
            (Tasks, ALL),
            (Cases, ALL),
            (History, ALL),
            (Reports, ALL),
            (Events, ALL),
            (Audit, ALL),
            (Users, ALL),
        ],
    ),
    (
        Role::Manager,
        &[
            (Companies, TEAM),
            (Contacts, TEAM),
            (Leads, TEAM),
            (Pipelines, ALL),
            (Deals, TEAM),
            (Activities, TEAM),
            (Tasks, TEAM),
            (Cases, TEAM),
            (Reports, TEAM_READ),
        ],
    ),
    (
        Role::Sales,
        &[
            (Companies, TEAM),
            (Contacts, TEAM),
            (Leads, TEAM),
            (Pipelines, READ_ALL),
            (Deals, TEAM),
            (Activities, TEAM),
            (Tasks, TEAM),
            (Cases, TEAM),
            (Reports, TEAM_READ),
        ],
    ),
    (
        Role::Support,
        &[
            (Companies, ALL),
            (Contacts, ALL),
            (Activities, ALL),
            (Tasks, ALL),
            (Cases, ALL),
        ],
    ),
    (Role::Marketing, &[(Contacts, ALL), (Leads, ALL)]),
    (
        Role::Analyst,
        &[(History, READ_ALL), (Reports, READ_ALL), (Events, READ_ALL)],
    ),
    (Role::Auditor, &[(Events, READ_ALL), (Audit, READ_ALL)]),
    // A service token is then capped by its scopes: it reaches exactly what they name. The
    // audit trail is for auditors and admins only, whatever a token's scopes say.
    (
        Role::Service,
        &[
            (Companies, ALL),
            (Contacts, ALL),
            (Leads, ALL),
            (Pipelines, READ_ALL),
            (Deals, ALL),
            (Activities, ALL),
            (Tasks, ALL),
            (Cases, ALL),
            (History, READ_ALL),
            (Reports, READ_ALL),
            (Events, READ_ALL),
        ],
    ),
];
