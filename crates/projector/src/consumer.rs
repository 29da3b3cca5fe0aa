//! The durable pull consumer of one generation, `<stream>_<projection>_g<N>`, made anew after
//! the generation's position at the start of every session and checked against the
//! configuration the server echoes back (nats-server 2.9 drops settings it does not know).
//!
//! The registry, not the consumer, is the checkpoint. Whatever the consumer remembers may be
//! ahead of it: a message delivered to a reader that died (a crash, an aborted fetch) or
//! acknowledged after a commit the database then lost (projectors commit asynchronously, see
//! `session`). Starting each session from a consumer positioned at the registry's position + 1
//! makes all those cases one: nothing is skipped, and what was applied is never delivered again.

use std::time::Duration;

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::consumer::pull::Config;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, Info, PullConsumer, ReplayPolicy};
use async_nats::jetstream::stream::{ConsumerErrorKind, Stream};

use crate::error::{ProjectorError, describe};

/// How long a delivered message may wait for its acknowledgement before JetStream delivers it
/// again: far longer than any batch takes (a redelivery ends the session anyway).
pub(crate) const ACK_WAIT: Duration = Duration::from_secs(300);
/// Messages delivered and not yet acknowledged, at most: room for several batches.
pub(crate) const MAX_ACK_PENDING: i64 = 20_000;

/// `<stream>_<projection>_g<N>`.
pub(crate) fn consumer_name(stream: &str, projection: &str, generation: u32) -> String {
    format!("{stream}_{projection}_g{generation}")
}

/// The configuration asked for: durable, one filter subject, acknowledging all up to a message,
/// starting after `position` (everything when 0).
pub(crate) fn wanted_config(name: &str, filter_subject: &str, position: u64) -> Config {
    let deliver_policy = if position == 0 {
        DeliverPolicy::All
    } else {
        DeliverPolicy::ByStartSequence {
            start_sequence: position + 1,
        }
    };
    Config {
        durable_name: Some(name.to_owned()),
        description: Some("crm projector: one generation of a read model".to_owned()),
        deliver_policy,
        ack_policy: AckPolicy::All,
        ack_wait: ACK_WAIT,
        max_deliver: -1,
        filter_subject: filter_subject.to_owned(),
        replay_policy: ReplayPolicy::Instant,
        max_ack_pending: MAX_ACK_PENDING,
        ..Config::default()
    }
}

/// The generation's consumer, made anew to deliver from `position + 1`, and its state.
pub(crate) async fn prepare(
    stream: &Stream,
    name: &str,
    filter_subject: &str,
    position: u64,
) -> Result<(PullConsumer, Info), ProjectorError> {
    delete(stream, name).await?;
    create(stream, &wanted_config(name, filter_subject, position)).await
}

/// Deletes the consumer; one that is already gone is fine.
pub(crate) async fn delete(stream: &Stream, name: &str) -> Result<(), ProjectorError> {
    match stream.delete_consumer(name).await {
        Ok(_) => Ok(()),
        Err(error)
            if matches!(error.kind(), ConsumerErrorKind::JetStream(inner)
                if inner.error_code() == ErrorCode::CONSUMER_NOT_FOUND) =>
        {
            Ok(())
        }
        Err(error) => Err(ProjectorError::nats(
            &format!("deleting consumer {name}"),
            describe(&error),
        )),
    }
}

async fn create(stream: &Stream, wanted: &Config) -> Result<(PullConsumer, Info), ProjectorError> {
    let name = wanted.durable_name.clone().unwrap_or_default();
    let consumer = stream
        .create_consumer(wanted.clone())
        .await
        .map_err(|error| {
            ProjectorError::nats(&format!("creating consumer {name}"), describe(&error))
        })?;
    let info = consumer.cached_info().clone();
    check_config(wanted, &info.config)?;
    tracing::info!(consumer = %name, filter = %wanted.filter_subject, deliver = ?wanted.deliver_policy, "created the consumer");
    Ok((consumer, info))
}

/// Compares, field by field, the configuration the server echoed back with the one asked for;
/// the first difference is refused, naming the field. The start is not compared: the consumer is
/// started again at another sequence whenever that is needed.
pub(crate) fn check_config(
    wanted: &async_nats::jetstream::consumer::pull::Config,
    found: &async_nats::jetstream::consumer::Config,
) -> Result<(), ProjectorError> {
    let starts_at_a_sequence = matches!(
        found.deliver_policy,
        DeliverPolicy::All | DeliverPolicy::ByStartSequence { .. }
    );
    let checks: [(&str, bool, String, String); 9] = [
        (
            "durable_name",
            wanted.durable_name == found.durable_name,
            format!("{:?}", wanted.durable_name),
            format!("{:?}", found.durable_name),
        ),
        (
            "filter_subject",
            wanted.filter_subject == found.filter_subject,
            format!("{:?}", wanted.filter_subject),
            format!("{:?}", found.filter_subject),
        ),
        (
            "filter_subjects",
            found.filter_subjects.is_empty(),
            "none".to_owned(),
            format!("{:?}", found.filter_subjects),
        ),
        (
            "deliver_policy",
            starts_at_a_sequence,
            "all or by_start_sequence".to_owned(),
            format!("{:?}", found.deliver_policy),
        ),
        (
            "ack_policy",
            wanted.ack_policy == found.ack_policy,
            format!("{:?}", wanted.ack_policy),
            format!("{:?}", found.ack_policy),
        ),
        (
            "ack_wait",
            wanted.ack_wait == found.ack_wait,
            format!("{:?}", wanted.ack_wait),
            format!("{:?}", found.ack_wait),
        ),
        (
            "max_ack_pending",
            wanted.max_ack_pending == found.max_ack_pending,
            wanted.max_ack_pending.to_string(),
            found.max_ack_pending.to_string(),
        ),
        (
            "max_deliver (unlimited)",
            found.max_deliver <= 0,
            "unlimited".to_owned(),
            found.max_deliver.to_string(),
        ),
        (
            "pull (no deliver_subject)",
            found.deliver_subject.is_none() && !found.headers_only,
            "a pull consumer with payloads".to_owned(),
            format!(
                "deliver_subject {:?}, headers_only {}",
                found.deliver_subject, found.headers_only
            ),
        ),
    ];
    for (field, equal, wanted_value, found_value) in checks {
        if !equal {
            let name = found.durable_name.as_deref().unwrap_or("(unnamed)");
            return Err(ProjectorError::Settings {
                setting: "nats_stream",
                message: format!(
                    "consumer {name} has {field} {found_value}, the projector needs \
                     {wanted_value}: the consumer was made otherwise, or the server ignored the \
                     setting; delete the consumer (the projector starts it again from its \
                     checkpoint)"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_nats::jetstream::consumer::IntoConsumerConfig;

    fn echoed(wanted: &Config) -> async_nats::jetstream::consumer::Config {
        wanted.clone().into_consumer_config()
    }

    #[test]
    fn the_configuration_asked_for_passes_from_any_start() {
        let wanted = wanted_config("CRM_records_g1", "crm.events.>", 0);
        check_config(&wanted, &echoed(&wanted)).expect("the same configuration passes");
        let restarted = wanted_config("CRM_records_g1", "crm.events.>", 41);
        assert_eq!(
            restarted.deliver_policy,
            DeliverPolicy::ByStartSequence { start_sequence: 42 }
        );
        check_config(&wanted, &echoed(&restarted)).expect("a later start passes");
    }

    #[test]
    fn a_dropped_filter_is_refused_naming_the_field() {
        let wanted = wanted_config("CRM_records_g1", "crm.events.>", 0);
        let mut found = echoed(&wanted);
        found.filter_subject = String::new();
        let message = check_config(&wanted, &found)
            .expect_err("refused")
            .to_string();
        assert!(message.contains("filter_subject"), "{message}");
    }

    #[test]
    fn another_ack_policy_is_refused() {
        let wanted = wanted_config("CRM_records_g1", "crm.events.>", 0);
        let mut found = echoed(&wanted);
        found.ack_policy = AckPolicy::Explicit;
        let message = check_config(&wanted, &found)
            .expect_err("refused")
            .to_string();
        assert!(message.contains("ack_policy"), "{message}");
    }

    #[test]
    fn consumers_are_named_after_stream_projection_and_generation() {
        assert_eq!(consumer_name("CRM", "records", 3), "CRM_records_g3");
    }
}
