//! Following the stream as it grows, for subscribers the API serves over HTTP (server-sent
//! events). Each follower is an ephemeral pull consumer, in memory, without acknowledgements,
//! that the server removes shortly after its reader has gone. It delivers every message of its
//! filter once, in the stream's order (which is the store's); if it ever skipped one (a
//! consumer sequence out of turn), the follow ends there and its reader resumes after the last
//! position it took. (async-nats's ordered consumer would start over from the first message if
//! it had to make itself anew before delivering any.)

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::{self, Message};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::error::{LogError, describe};
use crate::settings::NatsSettings;
use crate::{Envelope, Subjects};

/// One message of the stream: its envelope, and the payload it was decoded from (the
/// CloudEvents JSON exactly as published).
#[derive(Debug, Clone)]
pub struct Followed {
    pub envelope: Envelope,
    pub payload: Bytes,
}

/// How long the server keeps a follower whose reader has gone.
const INACTIVE: Duration = Duration::from_secs(30);

/// What a follower has delivered: it checks each message comes in turn, leaves out what is not
/// after its start, and ends after the first error.
struct Delivered {
    after: u64,
    consumer_sequence: u64,
    failed: bool,
}

impl Delivered {
    fn after(position: u64) -> Delivered {
        Delivered {
            after: position,
            consumer_sequence: 0,
            failed: false,
        }
    }

    /// The message, or `None` for one at or before the start: a consumer made on an empty
    /// stream starts at its first message whatever start it was given.
    fn next(&mut self, message: Message) -> Result<Option<Followed>, LogError> {
        let info = message
            .info()
            .map_err(|error| LogError::Nats(format!("a followed message: {error}")))?;
        if info.consumer_sequence != self.consumer_sequence + 1 {
            return Err(LogError::Nats(format!(
                "the follower skipped from message {} to {}",
                self.consumer_sequence, info.consumer_sequence
            )));
        }
        self.consumer_sequence = info.consumer_sequence;
        if info.stream_sequence <= self.after {
            return Ok(None);
        }
        let envelope = Envelope::decode(message.headers.as_ref(), &message.payload)?;
        Ok(Some(Followed {
            envelope,
            payload: message.payload.clone(),
        }))
    }

    /// `item`, unless an error came before it.
    fn take<T>(&mut self, item: Result<T, LogError>) -> Option<Result<T, LogError>> {
        if self.failed {
            return None;
        }
        self.failed = item.is_err();
        Some(item)
    }
}

/// Opens followers on the event stream named in the settings.
#[derive(Clone)]
pub struct Follower {
    jetstream: jetstream::Context,
    stream: String,
    subjects: Subjects,
    /// Every follower ends when this is cancelled: the server is shutting down, and an open
    /// subscription must not hold it up.
    closing: CancellationToken,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl Follower {
    /// Followers through `client` (from [`connect`](crate::connect)), all ended by `closing`.
    pub fn new(
        client: async_nats::Client,
        settings: &NatsSettings,
        closing: CancellationToken,
    ) -> Follower {
        Follower {
            jetstream: jetstream::new(client),
            stream: settings.stream.clone(),
            subjects: Subjects::new(&settings.subject_prefix),
            closing,
        }
    }

    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }

    /// Every message on `filter_subject` after position `after` (0: all), in order, as it is
    /// published. The stream ends after the first error (NATS gone, a message that is not an
    /// envelope) or when the follower is closed; a reader resumes after the last position it took.
    pub async fn follow(
        &self,
        filter_subject: String,
        after: u64,
    ) -> Result<impl Stream<Item = Result<Followed, LogError>> + Send + use<>, LogError> {
        let failed = |what: &str, error: &dyn std::error::Error| {
            LogError::nats(
                &format!("{what} of stream {}", self.stream),
                describe(error),
            )
        };
        let stream = self
            .jetstream
            .get_stream(&self.stream)
            .await
            .map_err(|error| failed("reading", &error))?;
        let deliver_policy = match after {
            0 => DeliverPolicy::All,
            position => DeliverPolicy::ByStartSequence {
                start_sequence: position.saturating_add(1),
            },
        };
        let consumer = stream
            .create_consumer(pull::Config {
                description: Some("crm api: a subscriber following the log".to_owned()),
                filter_subject: filter_subject.clone(),
                deliver_policy,
                ack_policy: AckPolicy::None,
                inactive_threshold: INACTIVE,
                memory_storage: true,
                num_replicas: 1,
                ..pull::Config::default()
            })
            .await
            .map_err(|error| failed("following", &error))?;
        // nats-server 2.9 drops settings it does not know: a dropped filter would send the rest.
        let echoed = &consumer.cached_info().config.filter_subject;
        if *echoed != filter_subject {
            return Err(LogError::Nats(format!(
                "a follower asked for {filter_subject:?} was made with {echoed:?}"
            )));
        }
        let messages = consumer
            .messages()
            .await
            .map_err(|error| failed("following", &error))?;
        let stream_name = self.stream.clone();
        let decoded = messages
            .scan(Delivered::after(after), move |delivered, message| {
                let item = message
                    .map_err(|error| {
                        LogError::nats(&format!("following stream {stream_name}"), describe(&error))
                    })
                    .and_then(|message| delivered.next(message));
                futures::future::ready(delivered.take(item))
            })
            .filter_map(|item| futures::future::ready(item.transpose()))
            .take_until(self.closing.clone().cancelled_owned());
        Ok(decoded)
    }
}
