//! Who may see and change what, decided in one place so that every route (reads and writes alike)
//! asks the same question and gets the same answer.
//!
//! The rules are data, not code: a [`Policy`] gives each [`Role`] a [`Reach`] per [`Resource`] and
//! [`Action`], and names territories (groups of teams). [`Policy::default`] holds the defaults; a
//! settings file ([`PolicySettings`]) overrides any part of them, so an organisation can tighten a
//! role, add a territory or widen a team's reach without a release. A [`Principal`] (the caller)
//! and an [`Ownership`] (the record as the API knows it) are all a decision needs:
//!
//! - [`Policy::allows`] and [`Policy::decide`] answer for one record (with a human reason when
//!   denied, for the 403 body and the log);
//! - [`Policy::visibility`] answers for a list, as the owners and teams a query may match, so that
//!   a list never shows a record that [`Policy::allows`] would refuse to read.
//!
//! This crate does no I/O: no database, no HTTP, no clock. The API fetches who owns a record and
//! passes it in.

mod defaults;
mod policy;
mod principal;
mod reach;
mod resource;
mod settings;

pub use domain::values::Role;
pub use policy::{Decision, Grant, Policy};
pub use principal::{Principal, Scope};
pub use reach::{Ownership, Reach, Visibility};
pub use resource::{Action, Resource};
pub use settings::{GrantSetting, PolicySettings};

/// Why a policy, a scope or a name could not be read. Every variant names what it refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("unknown role `{name}`; roles are {}", names(Role::ALL.map(Role::as_str)))]
    UnknownRole { name: String },
    #[error("unknown resource `{name}`; resources are {}", names(Resource::ALL.map(Resource::as_str)))]
    UnknownResource { name: String },
    #[error("unknown action `{name}`; actions are read, write")]
    UnknownAction { name: String },
    #[error("unknown reach `{name}`; reaches are {}", names(Reach::ALL.map(Reach::as_str)))]
    UnknownReach { name: String },
    #[error(
        "invalid scope `{scope}`: expected `<resource>:read`, `<resource>:write`, `*:read` or \
         `*:write`, resources being {}",
        names(Resource::ALL.map(Resource::as_str))
    )]
    InvalidScope { scope: String },
    #[error("invalid team name `{name}`: a team is a single line of at most 64 characters")]
    InvalidTeam { name: String },
    #[error(
        "the {role} role would change {resource} with reach `{write}` but read them only with \
         reach `{read}`; whoever may change a record may read it"
    )]
    WriteBeyondRead {
        role: Role,
        resource: Resource,
        read: Reach,
        write: Reach,
    },
    #[error(
        "the {role} role would reach {resource} as `{reach}`, but nothing in them has an owner \
         or a team to narrow that to: the reach is `all` or `none`"
    )]
    PartOfWhole {
        role: Role,
        resource: Resource,
        reach: Reach,
    },
    /// A problem at one place in the policy settings, e.g. `roles.sales.dealz`.
    #[error("policy settings, at `{path}`: {problem}")]
    Settings {
        path: String,
        problem: Box<PolicyError>,
    },
}

impl PolicyError {
    /// The same problem, placed at `path` in the settings.
    pub(crate) fn at(self, path: &str) -> PolicyError {
        PolicyError::Settings {
            path: path.to_owned(),
            problem: Box::new(self),
        }
    }
}

fn names<const N: usize>(names: [&str; N]) -> String {
    names.join(", ")
}
