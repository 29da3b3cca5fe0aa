//! A record's state as the audit trail keeps it: the domain's own state, folded with the domain's
//! own `evolve`, held between batches as JSON (the `states` table) so the next event can be
//! diffed against it.
//!
//! The eight customer records read back from their JSON as they serialise. A user does not (the
//! domain gives it no `Deserialize`, and its stored JSON has its tokens redacted): it is rebuilt
//! through the domain's own events, its `created` event read from the stored fields, then
//! `deactivated` if it was. Its tokens are therefore never known here, which is the point: they
//! are redacted anyway. A username claim's state is the user holding it.

use domain::user::{self, User};
use domain::username::{self, UsernameClaim};
use domain::{Aggregate, AnyEvent, activity, case, company, contact, deal, lead, pipeline, task};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::diff::redact;

/// An aggregate whose state the audit trail keeps as JSON.
trait Audited: Aggregate {
    /// The state as a JSON object, or `null` while the record does not exist.
    fn to_json(state: &Self::State) -> Result<Value, String>;

    /// The state a stored (redacted) JSON object describes.
    fn from_json(body: Value) -> Result<Self::State, String>;
}

/// The customer records: their state is `Option<record>`, which reads back from its JSON.
macro_rules! audited_record {
    ($($record:ty),* $(,)?) => {$(
        impl Audited for $record {
            fn to_json(state: &Option<$record>) -> Result<Value, String> {
                serde_json::to_value(state).map_err(|error| error.to_string())
            }

            fn from_json(body: Value) -> Result<Option<$record>, String> {
                serde_json::from_value::<$record>(body)
                    .map(Some)
                    .map_err(|error| error.to_string())
            }
        }
    )*};
}

audited_record!(
    company::Company,
    contact::Contact,
    lead::Lead,
    pipeline::Pipeline,
    deal::Deal,
    activity::Activity,
    task::Task,
    case::Case,
);

impl Audited for User {
    fn to_json(state: &Option<User>) -> Result<Value, String> {
        serde_json::to_value(state).map_err(|error| error.to_string())
    }

    fn from_json(body: Value) -> Result<Option<User>, String> {
        let Value::Object(mut fields) = body else {
            return Err("a user's state is not a JSON object".to_owned());
        };
        fields.remove("tokens");
        let active = match fields.remove("active") {
            Some(Value::Bool(active)) => active,
            _ => return Err("a user's state has no \"active\"".to_owned()),
        };
        let created = serde_json::from_value::<user::Created>(Value::Object(fields))
            .map_err(|error| format!("a user's state does not read as its creation: {error}"))?;
        let mut state = User::evolve(None, &user::Event::Created(created));
        if !active {
            state = User::evolve(state, &user::Event::Deactivated(user::Deactivated {}));
        }
        Ok(state)
    }
}

/// A username claim's state as JSON: the user it belongs to.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Claim {
    user_id: uuid::Uuid,
}

impl Audited for UsernameClaim {
    fn to_json(state: &Option<uuid::Uuid>) -> Result<Value, String> {
        Ok(state.map_or(Value::Null, |user_id| json!({ "user_id": user_id })))
    }

    fn from_json(body: Value) -> Result<Option<uuid::Uuid>, String> {
        let claim = serde_json::from_value::<Claim>(body).map_err(|error| error.to_string())?;
        Ok(UsernameClaim::evolve(
            None,
            &username::Event::Claimed(username::Claimed {
                user_id: claim.user_id,
            }),
        ))
    }
}

/// The record's state after `event`, as redacted JSON, from its stored state `before` (`None`
/// when it has none yet). Refused when the stored state does not read back or the event leaves
/// no record (an event before the record's creation).
pub(crate) fn evolve(before: Option<&Value>, event: &AnyEvent) -> Result<Value, String> {
    match event {
        AnyEvent::Company(event) => fold::<company::Company>(before, event),
        AnyEvent::Contact(event) => fold::<contact::Contact>(before, event),
        AnyEvent::Lead(event) => fold::<lead::Lead>(before, event),
        AnyEvent::Pipeline(event) => fold::<pipeline::Pipeline>(before, event),
        AnyEvent::Deal(event) => fold::<deal::Deal>(before, event),
        AnyEvent::Activity(event) => fold::<activity::Activity>(before, event),
        AnyEvent::Task(event) => fold::<task::Task>(before, event),
        AnyEvent::Case(event) => fold::<case::Case>(before, event),
        AnyEvent::User(event) => fold::<User>(before, event),
        AnyEvent::Username(event) => fold::<UsernameClaim>(before, event),
    }
}

fn fold<A: Audited>(before: Option<&Value>, event: &A::Event) -> Result<Value, String> {
    let state = match before {
        Some(body) => A::from_json(body.clone())
            .map_err(|error| format!("the stored state does not read back: {error}"))?,
        None => A::State::default(),
    };
    let after = A::evolve(state, event);
    if !A::exists(&after) {
        return Err("the event leaves no record (an event before its creation)".to_owned());
    }
    A::to_json(&after).map(redact)
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::DomainEvent;

    fn user_event(event_type: &str, payload: Value) -> AnyEvent {
        AnyEvent::User(user::Event::from_stored(event_type, 1, &payload).unwrap())
    }

    #[test]
    fn a_user_folds_without_its_tokens_ever_reaching_the_json() {
        let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let created = user_event(
            "created",
            json!({"id": uuid::Uuid::now_v7(), "username": "ada.l", "role": "sales", "team": null}),
        );
        let state = evolve(None, &created).unwrap();
        assert_eq!(state["tokens"], crate::diff::REDACTED);
        assert_eq!(state["active"], true);
        let issued = user_event(
            "token_issued",
            json!({"token_hash": hash, "issued_at": "2025-06-02T08:00:00Z"}),
        );
        let state = evolve(Some(&state), &issued).unwrap();
        assert!(!state.to_string().contains(hash));
        let promoted = user_event("role_changed", json!({"from": "sales", "to": "manager"}));
        let state = evolve(Some(&state), &promoted).unwrap();
        assert_eq!(state["role"], "manager");
        let deactivated = user_event("deactivated", json!({}));
        let state = evolve(Some(&state), &deactivated).unwrap();
        assert_eq!(state["active"], false);
        let again = evolve(Some(&state), &promoted).unwrap();
        assert_eq!(
            again["active"], false,
            "a deactivated user reads back deactivated"
        );
    }

    #[test]
    fn an_event_before_a_record_exists_is_refused() {
        let retitled = AnyEvent::Contact(
            contact::Event::from_stored("title_changed", 1, &json!({"title": "CTO"})).unwrap(),
        );
        assert!(evolve(None, &retitled).is_err());
    }

    #[test]
    fn a_username_claim_is_the_user_holding_it() {
        let user_id = uuid::Uuid::now_v7();
        let claimed = AnyEvent::Username(
            username::Event::from_stored("claimed", 1, &json!({"user_id": user_id})).unwrap(),
        );
        let state = evolve(None, &claimed).unwrap();
        assert_eq!(state, json!({"user_id": user_id}));
    }
}
