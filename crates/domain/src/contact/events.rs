//! The contact's events, each a published contract (`crm.contact.<event>.v<N>`), and the tracked
//! link a click event carries.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::Contact;
use crate::DomainError;
use crate::event::events;
use crate::values::{Email, Name, Phone, Tags, Team, string_value};

events! {
    /// Everything that can happen to a contact.
    pub enum Event for Contact {
        Created(Created) = "created", version 1, sample json!({
            "id": "0190a5e4-7c4b-7000-8000-000000000002",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "emails": ["ada@acme.example"],
            "phones": ["+44 20 7946 0000"],
            "title": "Head of Engineering",
            "company_id": "0190a5e4-7c4b-7000-8000-000000000001",
            "tags": ["champion"],
            "owner_id": "0190a5e4-7c4b-7000-8000-0000000000a1",
            "team": "Berlin"
        });
        Renamed(Renamed) = "renamed", version 1,
            sample json!({"first_name": "Augusta Ada", "last_name": "King"});
        EmailsChanged(EmailsChanged) = "emails_changed", version 1,
            sample json!({"emails": ["ada@acme.example", "ada.king@home.example"]});
        PhonesChanged(PhonesChanged) = "phones_changed", version 1,
            sample json!({"phones": []});
        TitleChanged(TitleChanged) = "title_changed", version 1, sample json!({"title": "CTO"});
        Moved(Moved) = "moved", version 1, sample json!({
            "from_company_id": "0190a5e4-7c4b-7000-8000-000000000001",
            "to_company_id": "0190a5e4-7c4b-7000-8000-000000000003"
        });
        Retagged(Retagged) = "retagged", version 1, sample json!({"tags": ["champion", "vip"]});
        Reassigned(Reassigned) = "reassigned", version 1, sample json!({
            "owner_id": "0190a5e4-7c4b-7000-8000-0000000000a2",
            "team": "Munich"
        });
        LinkClicked(LinkClicked) = "link_clicked", version 1, sample json!({
            "url": "https://acme.example/pricing?utm_campaign=spring",
            "campaign_id": "0190a5e4-7c4b-7000-8000-0000000000c1",
            "clicked_at": "2025-06-02T09:41:07Z"
        });
    }
}

/// A contact was created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Created {
    pub id: Uuid,
    pub first_name: Name,
    pub last_name: Name,
    /// The first is the primary address.
    pub emails: Vec<Email>,
    /// The first is the primary number.
    pub phones: Vec<Phone>,
    pub title: Option<Name>,
    pub company_id: Option<Uuid>,
    pub tags: Tags,
    pub owner_id: Option<Uuid>,
    pub team: Option<Team>,
}

/// The contact's name changed; both parts hold their new values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Renamed {
    pub first_name: Name,
    pub last_name: Name,
}

/// The contact's e-mail addresses were replaced by this list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailsChanged {
    pub emails: Vec<Email>,
}

/// The contact's phone numbers were replaced by this list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhonesChanged {
    pub phones: Vec<Phone>,
}

/// The contact's job title changed (`null`: cleared).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TitleChanged {
    pub title: Option<Name>,
}

/// The contact moved from one company to another (`null`: no company).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Moved {
    pub from_company_id: Option<Uuid>,
    pub to_company_id: Option<Uuid>,
}

/// The contact's tags were replaced by this set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retagged {
    pub tags: Tags,
}

/// The contact's owner or team changed; both hold their new values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reassigned {
    pub owner_id: Option<Uuid>,
    pub team: Option<Team>,
}

/// The contact clicked a tracked link (in a campaign's e-mail, when `campaign_id` is set). It
/// changes nothing of the contact; engagement scores count it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkClicked {
    pub url: TrackedUrl,
    pub campaign_id: Option<Uuid>,
    pub clicked_at: DateTime<Utc>,
}

/// An absolute `http` or `https` URL with a host, of at most [`TrackedUrl::MAX_CHARS`]
/// characters, without spaces or control characters; kept as given (trimmed), except that
/// characters a URI may not hold (`ü`, `|`, ...) are percent-encoded, so that it is the URI its
/// schema says it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrackedUrl(String);

impl TrackedUrl {
    pub const MAX_CHARS: usize = 2_000;

    /// The URL, percent-encoded. Its length is bounded as given (a stored click must keep
    /// reading back); a new click is bounded as encoded too, when it is decided.
    pub fn parse(text: &str) -> Result<TrackedUrl, DomainError> {
        let text = text.trim();
        if text.chars().count() > Self::MAX_CHARS {
            return Err(DomainError::invalid_value(format!(
                "must be at most {} characters",
                Self::MAX_CHARS
            )));
        }
        let lower = text.to_ascii_lowercase();
        let Some(rest) = ["https://", "http://"]
            .iter()
            .find_map(|scheme| lower.strip_prefix(scheme))
        else {
            return Err(DomainError::invalid_value(
                "must start with http:// or https://",
            ));
        };
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(DomainError::invalid_value(
                "may hold no spaces or control characters",
            ));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority.rsplit('@').next().unwrap_or_default();
        let host = host.split(':').next().unwrap_or_default();
        if host.is_empty() {
            return Err(DomainError::invalid_value("must name a host"));
        }
        Ok(TrackedUrl(percent_encoded(text)))
    }
}

/// `text` with every character outside RFC 3986's (unreserved, reserved and `%`) percent-encoded
/// as UTF-8; a URL already so encoded is unchanged.
fn percent_encoded(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c) {
            encoded.push(c);
        } else {
            let mut bytes = [0u8; 4];
            for byte in c.encode_utf8(&mut bytes).bytes() {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    encoded
}

string_value!(TrackedUrl, {
    "description": "An absolute http or https URL.",
    "type": "string",
    "format": "uri",
    "pattern": "^[hH][tT][tT][pP][sS]?://",
    "maxLength": TrackedUrl::MAX_CHARS
});
