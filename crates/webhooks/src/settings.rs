//! The `[[webhooks]]` of the settings file: each names a receiver, where it is, which
//! aggregates' events it takes, and where a new one starts.

use serde::{Deserialize, Serialize};

use crate::error::WebhookError;

/// The aggregates whose events a webhook may carry: the customer records. Users and username
/// claims (token hashes, who may sign in) never leave through a webhook.
pub const AGGREGATES: [&str; 8] = [
    "company", "contact", "lead", "pipeline", "deal", "activity", "task", "case",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Names the webhook in the access log and its delivery position: 1 to 64 of a-z, 0-9, `_`
    /// and `-`. Renaming one makes a new webhook.
    pub name: String,
    /// Where each batch is POSTed: `https`, or `http` to this host.
    pub url: String,
    /// Only these aggregates' events (`contact`, `deal`, ...); every customer record's when
    /// empty.
    #[serde(default)]
    pub aggregates: Vec<String>,
    /// Where a new webhook starts: `now` (with the first event after its first start) or
    /// `start` (the whole log). Once it has delivered, it goes on from there.
    #[serde(default)]
    pub from: Start,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    #[default]
    Now,
    Start,
}

impl WebhookSettings {
    /// Refuses a webhook that cannot work, naming the setting.
    pub fn validate(&self) -> Result<(), WebhookError> {
        let invalid = |message: String| WebhookError::Settings {
            webhook: self.name.clone(),
            message,
        };
        let name_ok = (1..=64).contains(&self.name.len())
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(invalid(
                "name must be 1 to 64 of a-z, 0-9, _ and -".to_owned(),
            ));
        }
        let url = reqwest::Url::parse(&self.url)
            .map_err(|error| invalid(format!("url {:?}: {error}", self.url)))?;
        // Customer data crosses the network only encrypted; plain http stays on this host.
        let local = match url.host() {
            Some(url::Host::Domain(name)) => name == "localhost",
            Some(url::Host::Ipv4(address)) => address.is_loopback(),
            Some(url::Host::Ipv6(address)) => address.is_loopback(),
            None => false,
        };
        let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && local);
        if !scheme_ok || !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(format!(
                "url {:?} must be https (http only to this host), without a user or password",
                self.url
            )));
        }
        if let Some(unknown) = self
            .aggregates
            .iter()
            .find(|aggregate| !AGGREGATES.contains(&aggregate.as_str()))
        {
            return Err(invalid(format!(
                "aggregate {unknown:?} is not one of {}",
                AGGREGATES.join(", ")
            )));
        }
        Ok(())
    }

    /// Whether the webhook takes events of `stream_type`.
    pub fn takes(&self, stream_type: &str) -> bool {
        AGGREGATES.contains(&stream_type)
            && (self.aggregates.is_empty() || self.aggregates.iter().any(|a| a == stream_type))
    }
}

/// Refuses two webhooks of one name: they would share a delivery position.
pub fn validate_all(webhooks: &[WebhookSettings]) -> Result<(), WebhookError> {
    for (index, webhook) in webhooks.iter().enumerate() {
        webhook.validate()?;
        if webhooks[..index]
            .iter()
            .any(|other| other.name == webhook.name)
        {
            return Err(WebhookError::Settings {
                webhook: webhook.name.clone(),
                message: "two webhooks have this name".to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(name: &str, url: &str, aggregates: &[&str]) -> WebhookSettings {
        WebhookSettings {
            name: name.to_owned(),
            url: url.to_owned(),
            aggregates: aggregates.iter().map(|a| (*a).to_owned()).collect(),
            from: Start::Now,
        }
    }

    #[test]
    fn a_webhook_names_a_receiver_over_http_and_customer_aggregates() {
        assert!(
            webhook("billing", "https://billing.example/crm", &["deal"])
                .validate()
                .is_ok()
        );
        for bad in [
            webhook("", "https://x.example", &[]),
            webhook("Billing", "https://x.example", &[]),
            webhook("billing", "ftp://x.example", &[]),
            webhook("billing", "https://user:pw@x.example", &[]),
            webhook("billing", "not a url", &[]),
            webhook("billing", "https://x.example", &["user"]),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let twice = [
            webhook("a", "https://x.example", &[]),
            webhook("a", "https://y.example", &[]),
        ];
        assert!(validate_all(&twice).is_err());
    }

    #[test]
    fn users_never_leave_and_a_list_narrows_what_does() {
        let all = webhook("all", "https://x.example", &[]);
        assert!(all.takes("contact") && all.takes("case"));
        assert!(!all.takes("user") && !all.takes("username"));
        let deals = webhook("deals", "https://x.example", &["deal"]);
        assert!(deals.takes("deal") && !deals.takes("contact"));
    }
}
