//! JetStream: carries every committed event from the store to every consumer, in order, once.
//!
//! The [`Relay`] (one leader at a time) publishes each stored event as a CloudEvents
//! [`Envelope`] on `<prefix>.events.<aggregate>.<id>` or `<prefix>.access.<aggregate>.<id>`
//! ([`Subjects`]), with `Nats-Msg-Id` and `Nats-Expected-Last-Sequence`, so the stream's sequence
//! is the store's position. It republishes whatever the stream lost, keeps the Merkle tree over
//! the log and signs tree heads onto `<prefix>.checkpoints`. Consumers decode messages with [`Envelope::from_message`]; the API
//! follows the stream for subscribers over HTTP with a [`Follower`].
//!
//! Only this crate talks to NATS.

mod envelope;
mod error;
mod follow;
mod relay;
mod settings;
pub mod stream;
mod subjects;

pub use envelope::{
    CONTENT_TYPE, DataContentType, ENVELOPE_VERSION, Envelope, SpecVersion, envelope_schema,
    user_of_actor,
};
pub use error::{LogError, connect, connect_or_later};
pub use follow::{Followed, Follower};
pub use relay::{LEADER_LOCK_KEY, Relay, RelayStatus};
pub use settings::{NatsSettings, RelaySettings};
pub use stream::{StreamProbe, ensure_checkpoint_stream, ensure_stream};
pub use subjects::Subjects;
