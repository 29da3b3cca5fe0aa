//! Machine-facing names: pipeline stage keys, usernames and the hashes tokens are kept as. They
//! appear in URLs, logs and configuration, so they are restricted to a small ASCII alphabet.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::string_value;
use crate::DomainError;

/// The key of a pipeline stage: `[a-z0-9_-]`, 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StageKey(String);

impl StageKey {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(text: &str) -> Result<StageKey, DomainError> {
        restricted(text, 1, Self::MAX_CHARS, "_-").map(StageKey)
    }
}

string_value!(StageKey, {
    "description": "A pipeline stage's key.",
    "type": "string",
    "pattern": "^[a-z0-9_-]{1,64}$"
});

/// A user's login name: `[a-z0-9._-]`, 3 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub const MIN_CHARS: usize = 3;
    pub const MAX_CHARS: usize = 64;

    pub fn parse(text: &str) -> Result<Username, DomainError> {
        restricted(text, Self::MIN_CHARS, Self::MAX_CHARS, "._-").map(Username)
    }
}

string_value!(Username, {
    "description": "A user's login name.",
    "type": "string",
    "pattern": "^[a-z0-9._-]{3,64}$"
});

/// The SHA-256 of an API token, as 64 lower-case hex digits: the only form a token is kept in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenHash(String);

impl TokenHash {
    /// The hash of a token as presented by a client.
    pub fn of(token: &str) -> TokenHash {
        TokenHash(hex::encode(Sha256::digest(token.as_bytes())))
    }

    pub fn parse(text: &str) -> Result<TokenHash, DomainError> {
        let is_hash = text.len() == 64 && text.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'));
        if !is_hash {
            return Err(DomainError::invalid_value(
                "must be a SHA-256 hash as 64 lower-case hex digits",
            ));
        }
        Ok(TokenHash(text.to_owned()))
    }
}

string_value!(TokenHash, {
    "description": "The SHA-256 of an API token, in hex.",
    "type": "string",
    "pattern": "^[0-9a-f]{64}$"
});

/// Exactly as typed: lower-case ASCII letters, digits and the `extra` characters.
fn restricted(
    text: &str,
    min_chars: usize,
    max_chars: usize,
    extra: &str,
) -> Result<String, DomainError> {
    if !(min_chars..=max_chars).contains(&text.len()) {
        return Err(DomainError::invalid_value(format!(
            "must be {min_chars} to {max_chars} characters"
        )));
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(c))
    {
        return Err(DomainError::invalid_value(format!(
            "may hold only a-z, 0-9 and {}",
            extra
                .chars()
                .map(String::from)
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_key_is_lower_case_ascii() {
        assert!(StageKey::parse("proposal_sent-2").is_ok());
        for text in ["", "Proposal", "a b", "a.b", &"k".repeat(65)] {
            assert!(StageKey::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn a_username_is_3_to_64_characters() {
        assert!(Username::parse("ada.l-1_x").is_ok());
        for text in ["ad", "Ada", "ada l", "ada@x", &"u".repeat(65)] {
            assert!(Username::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn a_token_hash_is_the_sha256_in_hex() {
        let hash = TokenHash::of("abc");
        assert_eq!(
            hash.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(TokenHash::parse(hash.as_str()).unwrap(), hash);
        assert!(TokenHash::parse("ABC").is_err());
        assert!(TokenHash::parse(&"A".repeat(64)).is_err());
    }
}
