//! Webhooks: the log's domain events POSTed to the HTTP receivers the settings name
//! (`[[webhooks]]`), for services that can neither reach NATS nor hold a stream open.
//!
//! Each webhook follows the stream from its own delivery position (`position`), which only
//! moves once the receiver has answered 2xx: delivery is at least once, in the log's order,
//! batched when it is behind (a CloudEvents batch: a JSON array of the envelopes published on
//! NATS, `application/cloudevents-batch+json`). A receiver dedupes on each event's `position`.
//! A batch that fails is sent again after a growing pause (up to a minute), from the same
//! position, so nothing is skipped and nothing after it overtakes it. Each delivery is signed
//! (`signature`), and what it discloses is logged as an export before it is sent, once per event.
//! One process delivers a webhook at a time (an advisory lock); others wait to take over.

mod error;
mod position;
pub mod settings;
pub mod signature;

pub use error::WebhookError;
pub use position::{Delivered, delivered};
pub use settings::{Start, WebhookSettings};

use std::sync::Arc;
use std::time::Duration;

use accesslog::{Access, AccessLog, Withheld};
use domain::access::AccessAction;
use eventlog::{Followed, Follower, StreamProbe};
use eventstore::Category;
use eventstore::checkpoint::Signer;
use futures::{FutureExt, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::position::Lease;

/// The most events in one delivery.
const MAX_BATCH: usize = 100;
/// How long a receiver may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest pause before a failed delivery is tried again.
const MAX_PAUSE: Duration = Duration::from_secs(60);
/// How long the events of a failed batch may take to come again before it is sent without them.
const RESEND_WAIT: Duration = Duration::from_secs(5);
/// How often a process that does not lead a webhook asks again.
const LEAD_RETRY: Duration = Duration::from_secs(5);

/// The files in the data folder holding the webhooks' own signing key (not the tree heads': that
/// key is the log's root of trust and stays with the relay), created on first start.
pub const SECRET_KEY_FILE: &str = "webhook-signing.key";
pub const PUBLIC_KEY_FILE: &str = "webhook-signing.pub";

/// The webhooks' signing key in `data_dir`, made there the first time.
pub fn signing_key(data_dir: &std::path::Path) -> Result<Signer, WebhookError> {
    Ok(Signer::load_or_create_key(
        &data_dir.join(SECRET_KEY_FILE),
        &data_dir.join(PUBLIC_KEY_FILE),
    )?)
}

/// Delivers every configured webhook until shut down.
pub struct Dispatcher {
    webhooks: Vec<WebhookSettings>,
    follower: Follower,
    probe: StreamProbe,
    access_log: AccessLog,
    signer: Signer,
    /// The read models' pool: delivery positions and the lead.
    pool: deadpool_postgres::Pool,
    http: reqwest::Client,
}

impl Dispatcher {
    pub fn new(
        webhooks: Vec<WebhookSettings>,
        follower: Follower,
        probe: StreamProbe,
        access_log: AccessLog,
        signer: Signer,
        pool: deadpool_postgres::Pool,
    ) -> Result<Dispatcher, WebhookError> {
        settings::validate_all(&webhooks)?;
        let http = reqwest::Client::builder()
            .timeout(ANSWER_TIMEOUT)
            .connect_timeout(ANSWER_TIMEOUT)
            // A redirect would send the customer data somewhere the settings do not name.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| WebhookError::Unreachable(error.to_string()))?;
        Ok(Dispatcher {
            webhooks,
            follower,
            probe,
            access_log,
            signer,
            pool,
            http,
        })
    }

    /// Delivers each webhook until `shutdown`; a failure pauses that webhook alone.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), WebhookError> {
        position::ensure_table(&self.pool).await?;
        tracing::info!(
            webhooks = self.webhooks.len(),
            public_key = %hex::encode(self.signer.public_key()),
            "delivering webhooks, signed with this key"
        );
        let dispatcher = Arc::new(self);
        let mut running = tokio::task::JoinSet::new();
        for webhook in dispatcher.webhooks.clone() {
            running.spawn(deliver(dispatcher.clone(), webhook, shutdown.clone()));
        }
        while running.join_next().await.is_some() {}
        Ok(())
    }
}

/// One webhook, for as long as the process runs: sessions of delivery, paused after a failure.
async fn deliver(
    dispatcher: Arc<Dispatcher>,
    webhook: WebhookSettings,
    shutdown: CancellationToken,
) {
    let mut state = Delivery {
        pause: Duration::from_secs(1),
        logged_through: 0,
        failed_through: None,
    };
    while !shutdown.is_cancelled() {
        let wait = match session(&dispatcher, &webhook, &mut state, &shutdown).await {
            Ok(()) => return,
            Err(WebhookError::NotLeader) => LEAD_RETRY,
            Err(error) => {
                tracing::warn!(webhook = %webhook.name, %error, pause = ?state.pause, "a webhook delivery failed; it is tried again");
                let pause = state.pause;
                state.pause = (state.pause * 2).min(MAX_PAUSE);
                pause
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// What outlives a session: the next pause, the last position whose disclosure is logged, and
/// the end of a batch that failed (sent again as it was, under the same `webhook-id`).
struct Delivery {
    pause: Duration,
    logged_through: u64,
    failed_through: Option<u64>,
}

/// Leads the webhook and delivers from its position until shutdown (`Ok`) or a failure.
async fn session(
    dispatcher: &Dispatcher,
    webhook: &WebhookSettings,
    state: &mut Delivery,
    shutdown: &CancellationToken,
) -> Result<(), WebhookError> {
    let initial = async || match webhook.from {
        Start::Start => Ok(0),
        Start::Now => Ok(dispatcher.probe.last_sequence().await?),
    };
    let mut lease = Lease::try_take(&dispatcher.pool, &webhook.name, initial)
        .await?
        .ok_or(WebhookError::NotLeader)?;
    let subjects = dispatcher.follower.subjects();
    let filter = match webhook.aggregates.as_slice() {
        [aggregate] => subjects.aggregate_filter(Category::Events, aggregate),
        _ => subjects.events_filter(),
    };
    let followed = dispatcher.follower.follow(filter, lease.position()).await?;
    let mut followed = std::pin::pin!(followed);
    loop {
        let first = tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            first = followed.next() => first,
        };
        let Some(first) = first else {
            return if shutdown.is_cancelled() {
                Ok(())
            } else {
                Err(WebhookError::Ended)
            };
        };
        let mut events = Vec::with_capacity(MAX_BATCH);
        let mut last = 0;
        let mut item = Some(first);
        while let Some(next) = item.take() {
            let event = next?;
            last = event.envelope.position;
            events.push(event);
            if events.len() == MAX_BATCH || state.failed_through.is_some_and(|end| last >= end) {
                break;
            }
            item = match state.failed_through {
                // The batch that failed, again as it was: wait for all of it.
                Some(_) => tokio::time::timeout(RESEND_WAIT, followed.next())
                    .await
                    .ok()
                    .flatten(),
                None => followed.next().now_or_never().flatten(),
            };
        }
        let taken: Vec<&Followed> = events
            .iter()
            .filter(|event| {
                event
                    .envelope
                    .stream()
                    .is_some_and(|(stream_type, _)| webhook.takes(stream_type))
            })
            .collect();
        if !taken.is_empty() {
            lease.check()?;
            if let Err(error) = post(dispatcher, webhook, state, &taken).await {
                state.failed_through = Some(last);
                lease.failing(&error).await;
                return Err(error);
            }
            state.pause = Duration::from_secs(1);
        }
        state.failed_through = None;
        lease.advance(last).await?;
    }
}

/// Logs what the batch discloses (the events not logged before), signs it and POSTs it; `Ok`
/// once the receiver answered 2xx.
async fn post(
    dispatcher: &Dispatcher,
    webhook: &WebhookSettings,
    state: &mut Delivery,
    events: &[&Followed],
) -> Result<(), WebhookError> {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Ok(());
    };
    let (first, last) = (first.envelope.position, last.envelope.position);
    let id = signature::delivery_id(&webhook.name, first, last);
    let mut body = Vec::with_capacity(events.iter().map(|event| event.payload.len() + 1).sum());
    body.push(b'[');
    for (index, event) in events.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&event.payload);
    }
    body.push(b']');
    let unlogged = accesslog::disclosed_records(
        events
            .iter()
            .filter(|event| event.envelope.position > state.logged_through)
            .filter_map(|event| event.envelope.stream()),
    );
    let body = if unlogged.is_empty() {
        body
    } else {
        let access = Access {
            actor: "system".to_owned(),
            role: None,
            action: AccessAction::Export,
            route: format!("POST webhook {}", webhook.name),
            purpose: Some(format!("webhook {}", webhook.name)),
            request_id: id.clone(),
            client: reqwest::Url::parse(&webhook.url)
                .ok()
                .and_then(|url| url.host_str().map(str::to_owned)),
        };
        let body = dispatcher
            .access_log
            .disclose(&access, Withheld::new(body, unlogged))
            .await?;
        state.logged_through = state.logged_through.max(last);
        body
    };
    let timestamp = chrono::Utc::now().timestamp();
    let content = signature::signed_content(&id, timestamp, &body);
    let signed = dispatcher.signer.sign_message(&content)?;
    let answer = dispatcher
        .http
        .post(&webhook.url)
        .header("content-type", "application/cloudevents-batch+json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature::header_value(&signed))
        .header("crm-key-id", dispatcher.signer.key_id())
        .body(body)
        .send()
        .await
        // Without the URL: its query may hold a receiver's credentials.
        .map_err(|error| WebhookError::Unreachable(error.without_url().to_string()))?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(WebhookError::Refused {
            status: answer.status().as_u16(),
        })
    }
}
