//! The event log's part of the settings tree: where NATS is, what the stream and subjects are
//! called, and how the relay paces itself. Tests choose unique stream names and prefixes here.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::LogError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsSettings {
    /// `nats://host:port`; a comma-separated list for a cluster.
    pub url: String,
    /// The JetStream stream carrying every event; its sequence is the store's position. The
    /// signed checkpoints go to `<stream>_CHECKPOINTS`.
    pub stream: String,
    /// Subjects are `<prefix>.events.<aggregate>.<id>`, `<prefix>.access.<aggregate>.<id>` and
    /// `<prefix>.checkpoints`.
    pub subject_prefix: String,
    /// Copies of each message in a cluster (1, 3 or 5); 1 on a single server.
    pub replicas: usize,
    /// The CloudEvents `source` of every envelope.
    pub source: String,
}

impl Default for NatsSettings {
    fn default() -> Self {
        NatsSettings {
            url: "nats://127.0.0.1:4222".to_owned(),
            stream: "CRM".to_owned(),
            subject_prefix: "crm".to_owned(),
            replicas: 1,
            source: "urn:crm".to_owned(),
        }
    }
}

impl NatsSettings {
    /// Refuses settings that cannot work, naming the setting.
    pub fn validate(&self) -> Result<(), LogError> {
        if self.servers().is_empty() {
            return Err(invalid("nats_url", "must not be empty".to_owned()));
        }
        let stream_ok = !self.stream.is_empty()
            && self.stream.len() <= 200
            && self
                .stream
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !stream_ok {
            return Err(invalid(
                "nats_stream",
                format!(
                    "{:?} must be 1 to 200 of A-Z, a-z, 0-9, _ and -",
                    self.stream
                ),
            ));
        }
        let prefix_ok = self.subject_prefix.split('.').all(|token| {
            !token.is_empty()
                && token
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
        if !prefix_ok {
            return Err(invalid(
                "nats_subject_prefix",
                format!(
                    "{:?} must be dot-separated tokens of A-Z, a-z, 0-9, _ and - (no wildcards)",
                    self.subject_prefix
                ),
            ));
        }
        if !(1..=5).contains(&self.replicas) {
            return Err(invalid(
                "nats_replicas",
                format!("{} must be 1 to 5", self.replicas),
            ));
        }
        if self.source.trim().is_empty() {
            return Err(invalid("nats_source", "must not be empty".to_owned()));
        }
        Ok(())
    }

    /// Each server `url` names, for the client to try in turn (and to fail over to).
    pub fn servers(&self) -> Vec<&str> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|server| !server.is_empty())
            .collect()
    }

    /// The stream holding the signed checkpoints, beside the event stream (never in it: the event
    /// stream's sequence must equal the store's position).
    pub fn checkpoint_stream(&self) -> String {
        format!("{}_CHECKPOINTS", self.stream)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelaySettings {
    /// Events read from the store per query.
    pub batch: u32,
    /// Publishes awaiting their acknowledgement at once.
    pub publish_window: usize,
    /// Sign and publish a tree head (a checkpoint with the Merkle root) after this many published
    /// events...
    pub checkpoint_every_events: u64,
    /// ... or after this many seconds (60 by default), if anything was published since the last
    /// one.
    pub checkpoint_every_secs: u64,
    /// How often an idle relay checks that the stream has not fallen behind the store (a NATS
    /// server that lost its tail).
    pub idle_check_secs: u64,
}

impl Default for RelaySettings {
    fn default() -> Self {
        RelaySettings {
            batch: 2000,
            publish_window: 1024,
            checkpoint_every_events: 10_000,
            checkpoint_every_secs: 60,
            idle_check_secs: 5,
        }
    }
}

impl RelaySettings {
    /// Refuses settings that cannot work, naming the setting.
    pub fn validate(&self) -> Result<(), LogError> {
        let positive = [
            ("relay_batch", u64::from(self.batch)),
            ("relay_publish_window", self.publish_window as u64),
            (
                "relay_checkpoint_every_events",
                self.checkpoint_every_events,
            ),
            ("relay_checkpoint_every_secs", self.checkpoint_every_secs),
            ("relay_idle_check_secs", self.idle_check_secs),
        ];
        for (setting, value) in positive {
            if value == 0 {
                return Err(invalid(setting, "must be at least 1".to_owned()));
            }
        }
        Ok(())
    }

    pub(crate) fn checkpoint_interval(&self) -> Duration {
        Duration::from_secs(self.checkpoint_every_secs)
    }

    pub(crate) fn idle_check(&self) -> Duration {
        Duration::from_secs(self.idle_check_secs)
    }
}

fn invalid(setting: &'static str, message: String) -> LogError {
    LogError::Settings { setting, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        NatsSettings::default()
            .validate()
            .expect("valid nats defaults");
        RelaySettings::default()
            .validate()
            .expect("valid relay defaults");
    }

    #[test]
    fn a_cluster_is_every_server_of_the_list() {
        let settings = NatsSettings {
            url: "nats://a:4222, nats://b:4222,,nats://c:4222".to_owned(),
            ..NatsSettings::default()
        };
        assert_eq!(
            settings.servers(),
            ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
        );
        let none = NatsSettings {
            url: " , ".to_owned(),
            ..NatsSettings::default()
        };
        assert!(none.validate().is_err());
    }

    #[test]
    fn unknown_settings_are_refused() {
        let error =
            serde_json::from_str::<NatsSettings>(r#"{"streams": "X"}"#).expect_err("refused");
        assert!(error.to_string().contains("unknown field"), "{error}");
    }

    #[test]
    fn missing_settings_take_their_defaults() {
        let settings: NatsSettings = serde_json::from_str(r#"{"stream": "X"}"#).expect("parses");
        assert_eq!(settings.subject_prefix, "crm");
        assert_eq!(settings.stream, "X");
    }

    #[test]
    fn a_wildcard_prefix_is_refused_naming_the_setting() {
        let settings = NatsSettings {
            subject_prefix: "crm.>".to_owned(),
            ..NatsSettings::default()
        };
        let error = settings.validate().expect_err("refused");
        assert!(
            error
                .to_string()
                .starts_with("setting nats_subject_prefix:"),
            "{error}"
        );
    }

    #[test]
    fn a_stream_name_with_a_dot_is_refused_naming_the_setting() {
        let settings = NatsSettings {
            stream: "CRM.EVENTS".to_owned(),
            ..NatsSettings::default()
        };
        let error = settings.validate().expect_err("refused");
        assert!(
            error.to_string().starts_with("setting nats_stream:"),
            "{error}"
        );
    }
}
