//! Given/when/then tests of every user command, and the property that replaying an user's
//! stored events rebuilds its state.

use proptest::prelude::*;

use super::*;
use crate::testing::*;

const TOKEN: &str = "crm_0123456789abcdef";

fn new_user() -> NewUser {
    NewUser {
        id: id(13),
        username: Username::parse("ada.l").unwrap(),
        role: Role::Sales,
        team: Some(team("Berlin")),
        scopes: Vec::new(),
    }
}

fn created() -> Event {
    let new = new_user();
    Event::Created(Created {
        id: new.id,
        username: new.username,
        role: new.role,
        team: new.team,
        scopes: new.scopes,
    })
}

fn issued() -> Event {
    Event::TokenIssued(TokenIssued {
        token_hash: TokenHash::of(TOKEN),
        issued_at: now(),
    })
}

fn deactivated() -> Event {
    Event::Deactivated(Deactivated {})
}

#[test]
fn token_hash_is_the_hex_sha256_of_the_token() {
    assert_eq!(
        token_hash("test"),
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    );
}

#[test]
fn a_user_is_created_active_without_tokens() {
    let state = User::given([])
        .when(Command::Create(new_user()))
        .then([created()]);
    let user = state.unwrap();
    assert!(user.active);
    assert!(user.tokens.is_empty());
    User::given([created()])
        .when(Command::Create(new_user()))
        .then_error(DomainError::AlreadyExists);
}

#[test]
fn commands_to_a_missing_user_are_not_found() {
    User::given([])
        .when(Command::Deactivate)
        .then_error(DomainError::NotFound);
}

#[test]
fn a_token_is_recorded_only_as_its_hash() {
    let state = User::given([created()])
        .when(Command::IssueToken {
            token: TOKEN.to_owned(),
        })
        .then([issued()]);
    let user = state.unwrap();
    assert!(user.holds(&TokenHash::of(TOKEN)));
    let payload = crate::DomainEvent::to_payload(&issued()).to_string();
    assert!(!payload.contains(TOKEN));
    assert!(payload.contains(&token_hash(TOKEN)));
}

#[test]
fn a_short_or_repeated_token_is_refused() {
    User::given([created()])
        .when(Command::IssueToken {
            token: "short".to_owned(),
        })
        .then_invalid("token");
    User::given([created(), issued()])
        .when(Command::IssueToken {
            token: TOKEN.to_owned(),
        })
        .then_conflict("already holds");
}

#[test]
fn a_held_token_is_revoked() {
    let state = User::given([created(), issued()])
        .when(Command::RevokeToken {
            token_hash: TokenHash::of(TOKEN),
        })
        .then([Event::TokenRevoked(TokenRevoked {
            token_hash: TokenHash::of(TOKEN),
        })]);
    assert!(state.unwrap().tokens.is_empty());
    User::given([created()])
        .when(Command::RevokeToken {
            token_hash: TokenHash::of(TOKEN),
        })
        .then_invalid("token_hash");
}

#[test]
fn role_and_team_change() {
    let state = User::given([created()])
        .when(Command::ChangeRole {
            role: Role::Manager,
        })
        .then([Event::RoleChanged(RoleChanged {
            from: Role::Sales,
            to: Role::Manager,
        })]);
    assert_eq!(state.unwrap().role, Role::Manager);
    User::given([created()])
        .when(Command::ChangeRole { role: Role::Sales })
        .then_nothing();
    let state = User::given([created()])
        .when(Command::ChangeTeam { team: None })
        .then([Event::TeamChanged(TeamChanged { team: None })]);
    assert_eq!(state.unwrap().team, None);
    User::given([created()])
        .when(Command::ChangeTeam {
            team: Some(team("Berlin")),
        })
        .then_nothing();
}

#[test]
fn deactivation_revokes_every_token() {
    let state = User::given([created(), issued()])
        .when(Command::Deactivate)
        .then([deactivated()]);
    let user = state.unwrap();
    assert!(!user.active);
    assert!(user.tokens.is_empty());
}

#[test]
fn a_deactivated_user_takes_no_more_commands() {
    let commands = [
        Command::IssueToken {
            token: TOKEN.to_owned(),
        },
        Command::RevokeToken {
            token_hash: TokenHash::of(TOKEN),
        },
        Command::ChangeRole { role: Role::Admin },
        Command::ChangeTeam { team: None },
        Command::Deactivate,
    ];
    for command in commands {
        User::given([created(), issued(), deactivated()])
            .when(command)
            .then_conflict("deactivated");
    }
}

fn any_command() -> impl Strategy<Value = Command> {
    let tokens = prop::sample::select(vec![TOKEN, "another-token-0123456789", "short"]);
    prop_oneof![
        1 => Just(Command::Create(new_user())),
        3 => tokens.clone().prop_map(|token| Command::IssueToken { token: token.to_owned() }),
        2 => tokens.prop_map(|token| Command::RevokeToken { token_hash: TokenHash::of(token) }),
        1 => prop::sample::select(Role::ALL.to_vec()).prop_map(|role| Command::ChangeRole { role }),
        1 => prop::option::of(Just(team("Munich"))).prop_map(|team| Command::ChangeTeam { team }),
        1 => Just(Command::Deactivate),
    ]
}

proptest! {
    #[test]
    fn replaying_the_stored_events_rebuilds_the_state(commands in steps(any_command(), 12)) {
        replay_equals_steps::<User>(commands)?;
    }
}
