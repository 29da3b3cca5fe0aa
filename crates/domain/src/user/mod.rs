//! A user of the CRM: a login name, a role, a team, and the API tokens that authenticate it.
//!
//! A token is never recorded: the log holds its SHA-256 only, so a leaked log or read model
//! leaks no credential. A deactivated user keeps its history but holds no token and takes no
//! more commands.

mod events;
#[cfg(test)]
mod tests;

pub use events::*;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{Role, Team, TokenHash, Username};
use crate::{Aggregate, Context, DomainError};

/// The shortest token accepted: shorter ones can be guessed.
pub const MIN_TOKEN_CHARS: usize = 16;

/// The SHA-256 of a token as 64 lower-case hex digits: the form tokens are stored and looked up in.
pub fn token_hash(token: &str) -> String {
    TokenHash::of(token).into()
}

/// A user as its events leave it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct User {
    pub id: Uuid,
    pub username: Username,
    pub role: Role,
    pub team: Option<Team>,
    /// What a `service` user's tokens may reach, as the access policy reads them.
    pub scopes: Vec<String>,
    /// The tokens that currently authenticate the user.
    pub tokens: Vec<IssuedToken>,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IssuedToken {
    pub token_hash: TokenHash,
    pub issued_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Create(NewUser),
    /// Lets `token` (made by the caller, shown to the user once) authenticate the user.
    IssueToken {
        token: String,
    },
    RevokeToken {
        token_hash: TokenHash,
    },
    ChangeRole {
        role: Role,
    },
    ChangeTeam {
        team: Option<Team>,
    },
    /// Revokes every token; the user takes no more commands.
    Deactivate,
}

/// A user to create, with the id the caller chose.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub id: Uuid,
    pub username: Username,
    pub role: Role,
    pub team: Option<Team>,
    pub scopes: Vec<String>,
}

impl Aggregate for User {
    const STREAM_TYPE: &'static str = "user";
    type State = Option<User>;
    type Command = Command;
    type Event = Event;

    fn decide(
        state: &Option<User>,
        command: Command,
        context: &Context,
    ) -> Result<Vec<Event>, DomainError> {
        match command {
            Command::Create(new) => {
                if state.is_some() {
                    return Err(DomainError::AlreadyExists);
                }
                Ok(vec![Event::Created(Created {
                    id: new.id,
                    username: new.username,
                    role: new.role,
                    team: new.team,
                    scopes: new.scopes,
                })])
            }
            Command::IssueToken { token } => {
                let user = active(state)?;
                if token.chars().count() < MIN_TOKEN_CHARS {
                    return Err(DomainError::invalid(
                        "token",
                        format!("must be at least {MIN_TOKEN_CHARS} characters"),
                    ));
                }
                let token_hash = TokenHash::of(&token);
                if user.holds(&token_hash) {
                    return Err(DomainError::Conflict(
                        "the user already holds this token".to_owned(),
                    ));
                }
                Ok(vec![Event::TokenIssued(TokenIssued {
                    token_hash,
                    issued_at: context.now,
                })])
            }
            Command::RevokeToken { token_hash } => {
                if !active(state)?.holds(&token_hash) {
                    return Err(DomainError::invalid(
                        "token_hash",
                        "the user holds no such token",
                    ));
                }
                Ok(vec![Event::TokenRevoked(TokenRevoked { token_hash })])
            }
            Command::ChangeRole { role } => {
                let user = active(state)?;
                if user.role == role {
                    return Ok(vec![]);
                }
                Ok(vec![Event::RoleChanged(RoleChanged {
                    from: user.role,
                    to: role,
                })])
            }
            Command::ChangeTeam { team } => {
                if active(state)?.team == team {
                    return Ok(vec![]);
                }
                Ok(vec![Event::TeamChanged(TeamChanged { team })])
            }
            Command::Deactivate => {
                active(state)?;
                Ok(vec![Event::Deactivated(Deactivated {})])
            }
        }
    }

    fn evolve(state: Option<User>, event: &Event) -> Option<User> {
        if let Event::Created(created) = event {
            return Some(User {
                id: created.id,
                username: created.username.clone(),
                role: created.role,
                team: created.team.clone(),
                scopes: created.scopes.clone(),
                tokens: Vec::new(),
                active: true,
            });
        }
        let mut user = state?;
        match event {
            Event::Created(_) => {}
            Event::TokenIssued(issued) => user.tokens.push(IssuedToken {
                token_hash: issued.token_hash.clone(),
                issued_at: issued.issued_at,
            }),
            Event::TokenRevoked(revoked) => {
                user.tokens
                    .retain(|token| token.token_hash != revoked.token_hash);
            }
            Event::RoleChanged(changed) => user.role = changed.to,
            Event::TeamChanged(changed) => user.team = changed.team.clone(),
            Event::Deactivated(_) => {
                user.active = false;
                user.tokens.clear();
            }
        }
        Some(user)
    }

    fn exists(state: &Option<User>) -> bool {
        state.is_some()
    }
}

impl User {
    pub fn holds(&self, token_hash: &TokenHash) -> bool {
        self.tokens
            .iter()
            .any(|token| token.token_hash == *token_hash)
    }
}

/// The user, if it exists and is not deactivated.
fn active(state: &Option<User>) -> Result<&User, DomainError> {
    let user = state.as_ref().ok_or(DomainError::NotFound)?;
    if !user.active {
        return Err(DomainError::Conflict("the user is deactivated".to_owned()));
    }
    Ok(user)
}
