//! A username belongs to one user. Each username has a stream of its own, its id derived from
//! the name, and the user's creation claims it in the same append: the store refuses a stream
//! that already exists, so two users can never get one name, even from two processes at once.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::event::events;
use crate::values::Username;
use crate::{Aggregate, Context, DomainError};

/// Fixed namespace of the UUIDv5 stream ids of usernames.
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1d_2c4e_9b7a_4e1f_8a3d_5c6b_7e8f_9a0b);

/// The stream id of a username's claim.
pub fn stream_id(username: &Username) -> Uuid {
    Uuid::new_v5(&NAMESPACE, username.as_str().as_bytes())
}

/// A username's claim; the state is the user holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsernameClaim;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Claim { user_id: Uuid },
}

events! {
    /// Everything that can happen to a username.
    pub enum Event for UsernameClaim {
        Claimed(Claimed) = "claimed", version 1,
            sample json!({"user_id": "0190a5e4-7c4b-7000-8000-0000000000a1"});
    }
}

/// The username now belongs to this user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Claimed {
    pub user_id: Uuid,
}

impl Aggregate for UsernameClaim {
    const STREAM_TYPE: &'static str = "username";
    type State = Option<Uuid>;
    type Command = Command;
    type Event = Event;

    fn decide(
        state: &Option<Uuid>,
        command: Command,
        _context: &Context,
    ) -> Result<Vec<Event>, DomainError> {
        match command {
            Command::Claim { user_id } => match state {
                Some(_) => Err(DomainError::AlreadyExists),
                None => Ok(vec![Event::Claimed(Claimed { user_id })]),
            },
        }
    }

    fn evolve(_state: Option<Uuid>, event: &Event) -> Option<Uuid> {
        match event {
            Event::Claimed(claimed) => Some(claimed.user_id),
        }
    }

    fn exists(state: &Option<Uuid>) -> bool {
        state.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::Role;

    fn context() -> Context {
        Context {
            now: chrono::Utc::now(),
            actor_id: Uuid::nil(),
            actor_role: Role::Admin,
        }
    }

    #[test]
    fn a_username_is_claimed_once() {
        let user_id = Uuid::now_v7();
        let events = UsernameClaim::decide(&None, Command::Claim { user_id }, &context()).unwrap();
        let state = events.iter().fold(None, UsernameClaim::evolve);
        assert_eq!(state, Some(user_id));
        let again = UsernameClaim::decide(
            &state,
            Command::Claim {
                user_id: Uuid::now_v7(),
            },
            &context(),
        );
        assert_eq!(again, Err(DomainError::AlreadyExists));
    }

    #[test]
    fn a_name_always_maps_to_the_same_stream() {
        let ada = Username::parse("ada.l").unwrap();
        assert_eq!(
            stream_id(&ada),
            stream_id(&Username::parse("ada.l").unwrap())
        );
        assert_ne!(
            stream_id(&ada),
            stream_id(&Username::parse("ada.m").unwrap())
        );
    }
}
