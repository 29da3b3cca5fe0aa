//! The routes an operator and an orchestrator use: liveness, readiness and metrics. Readiness
//! and lag are read from the store's head and the stream's last sequence, so they are true
//! whichever process runs the relay.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

/// What the operations routes look at.
#[derive(Clone)]
pub struct OperationsState {
    pub reader: eventstore::Reader,
    pub stream: eventlog::StreamProbe,
    pub projections: projector::ProjectionReader,
    /// The read models' database, where the webhooks' delivery positions are.
    pub read_models: deadpool_postgres::Pool,
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) fn routes(state: OperationsState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(crate::openapi::serve))
        .with_state(state)
}

#[derive(Debug, Serialize)]
struct Readiness {
    ready: bool,
    /// The store's last committed position.
    store: Probe,
    /// The stream's last sequence (= the last relayed position).
    stream: Probe,
    /// Committed events not yet on the stream.
    relay_lag: Option<u64>,
    /// The latest signed tree head, which an outsider can hold the log to; the relay signs one
    /// at least every minute while events come, so an old one with events after it means they
    /// go unsigned.
    tree_head: Option<SignedHead>,
    /// Committed events no signed tree head covers yet.
    unsigned_events: Option<u64>,
    /// Each read model: how far it has applied, how far it trails the store, and the event it
    /// stopped at if it refused one.
    projections: Vec<ProjectionReadiness>,
    /// Each webhook: how far it has delivered, when it last moved, and since when and why its
    /// next batch fails (a receiver that is down holds its webhook back, not the system).
    webhooks: Vec<WebhookReadiness>,
}

#[derive(Debug, Serialize)]
struct WebhookReadiness {
    name: String,
    position: u64,
    delivered_at: chrono::DateTime<chrono::Utc>,
    failing_since: Option<chrono::DateTime<chrono::Utc>>,
    last_error: Option<String>,
}

#[derive(Debug, Serialize)]
struct ProjectionReadiness {
    name: String,
    generation: u32,
    position: u64,
    lag: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<(u64, String)>,
}

#[derive(Debug, Serialize)]
struct SignedHead {
    size: u64,
    signed_at: chrono::DateTime<chrono::Utc>,
    age_seconds: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum Probe {
    Position(u64),
    Error(String),
}

impl Probe {
    fn position(&self) -> Option<u64> {
        match self {
            Probe::Position(position) => Some(*position),
            Probe::Error(_) => None,
        }
    }
}

async fn readiness(state: &OperationsState) -> Readiness {
    let store = tokio::time::timeout(PROBE_TIMEOUT, state.reader.head());
    let stream = tokio::time::timeout(PROBE_TIMEOUT, state.stream.last_sequence());
    let projections = tokio::time::timeout(PROBE_TIMEOUT, state.projections.live());
    let signed = tokio::time::timeout(
        PROBE_TIMEOUT,
        eventstore::tree::latest_tree_head(state.reader.pool()),
    );
    let webhooks = tokio::time::timeout(PROBE_TIMEOUT, webhooks::delivered(&state.read_models));
    let (store, stream, projections, signed, webhooks) =
        tokio::join!(store, stream, projections, signed, webhooks);
    let store = match store {
        Ok(Ok(head)) => Probe::Position(head.position),
        Ok(Err(error)) => Probe::Error(error.to_string()),
        Err(_) => Probe::Error("the database did not answer in time".to_owned()),
    };
    let stream = match stream {
        Ok(Ok(sequence)) => Probe::Position(sequence),
        Ok(Err(error)) => Probe::Error(error.to_string()),
        Err(_) => Probe::Error("NATS did not answer in time".to_owned()),
    };
    let relay_lag = store
        .position()
        .zip(stream.position())
        .map(|(store, stream)| store.saturating_sub(stream));
    let projections: Vec<ProjectionReadiness> = match projections {
        Ok(Ok(live)) => live
            .into_iter()
            .map(|projection| ProjectionReadiness {
                lag: store
                    .position()
                    .map(|head| head.saturating_sub(projection.reach())),
                position: projection.reach(),
                name: projection.name,
                generation: projection.generation,
                failure: projection.failure,
            })
            .collect(),
        _ => Vec::new(),
    };
    let projectors_healthy = projections.iter().all(|p| p.failure.is_none());
    let webhooks = match webhooks {
        Ok(Ok(delivered)) => delivered
            .into_iter()
            .map(|webhook| WebhookReadiness {
                position: webhook.position,
                name: webhook.name,
                delivered_at: webhook.delivered_at,
                failing_since: webhook.failing_since,
                last_error: webhook.last_error,
            })
            .collect(),
        _ => Vec::new(),
    };
    let tree_head = match signed {
        Ok(Ok(head)) => head.map(|head| SignedHead {
            size: head.position,
            age_seconds: u64::try_from((chrono::Utc::now() - head.signed_at).num_seconds())
                .unwrap_or(0),
            signed_at: head.signed_at,
        }),
        _ => None,
    };
    let unsigned_events = store
        .position()
        .map(|head| head.saturating_sub(tree_head.as_ref().map_or(0, |signed| signed.size)));
    Readiness {
        ready: relay_lag.is_some() && projectors_healthy,
        store,
        stream,
        relay_lag,
        tree_head,
        unsigned_events,
        projections,
        webhooks,
    }
}

async fn readyz(State(state): State<OperationsState>) -> Response {
    let readiness = readiness(&state).await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness)).into_response()
}

async fn metrics(State(state): State<OperationsState>) -> Response {
    let readiness = readiness(&state).await;
    let mut registry = Registry::with_prefix("crm");
    let gauge = |registry: &mut Registry, name: &str, help: &str, value: Option<u64>| {
        if let Some(value) = value {
            let gauge = Gauge::<i64>::default();
            gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
            registry.register(name, help, gauge);
        }
    };
    gauge(
        &mut registry,
        "store_position",
        "The event store's last committed position",
        readiness.store.position(),
    );
    gauge(
        &mut registry,
        "stream_position",
        "The JetStream stream's last sequence (the last relayed position)",
        readiness.stream.position(),
    );
    gauge(
        &mut registry,
        "relay_lag_events",
        "Committed events not yet carried to JetStream",
        readiness.relay_lag,
    );
    gauge(
        &mut registry,
        "tree_head_size",
        "The events the latest signed tree head covers",
        readiness.tree_head.as_ref().map(|head| head.size),
    );
    gauge(
        &mut registry,
        "tree_head_age_seconds",
        "How long ago the latest tree head was signed (one comes at least every minute while \
         events do)",
        readiness.tree_head.as_ref().map(|head| head.age_seconds),
    );
    gauge(
        &mut registry,
        "unsigned_events",
        "Committed events no signed tree head covers yet",
        readiness.unsigned_events,
    );
    let positions = Family::<Vec<(String, String)>, Gauge>::default();
    let lags = Family::<Vec<(String, String)>, Gauge>::default();
    let failed = Family::<Vec<(String, String)>, Gauge>::default();
    for projection in &readiness.projections {
        let labels = vec![("projection".to_owned(), projection.name.clone())];
        positions
            .get_or_create(&labels)
            .set(i64::try_from(projection.position).unwrap_or(i64::MAX));
        if let Some(lag) = projection.lag {
            lags.get_or_create(&labels)
                .set(i64::try_from(lag).unwrap_or(i64::MAX));
        }
        failed
            .get_or_create(&labels)
            .set(i64::from(projection.failure.is_some()));
    }
    registry.register(
        "projection_position",
        "The last position each read model has reached",
        positions,
    );
    registry.register(
        "projection_lag_events",
        "Committed events each read model has not reached",
        lags,
    );
    registry.register(
        "projection_failed",
        "1 when a projector stopped at an event it could not apply",
        failed,
    );
    let webhook_positions = Family::<Vec<(String, String)>, Gauge>::default();
    let webhook_failing = Family::<Vec<(String, String)>, Gauge>::default();
    let now = chrono::Utc::now();
    for webhook in &readiness.webhooks {
        let labels = vec![("webhook".to_owned(), webhook.name.clone())];
        webhook_positions
            .get_or_create(&labels)
            .set(i64::try_from(webhook.position).unwrap_or(i64::MAX));
        let failing_for = webhook
            .failing_since
            .map_or(0, |since| (now - since).num_seconds().max(0));
        webhook_failing.get_or_create(&labels).set(failing_for);
    }
    registry.register(
        "webhook_position",
        "The last position each webhook has delivered (or passed over)",
        webhook_positions,
    );
    registry.register(
        "webhook_failing_seconds",
        "How long each webhook's next batch has failed (0 while it delivers)",
        webhook_failing,
    );
    let up = |ok: bool| Some(u64::from(ok));
    gauge(
        &mut registry,
        "store_up",
        "1 when the database answers",
        up(readiness.store.position().is_some()),
    );
    gauge(
        &mut registry,
        "nats_up",
        "1 when the stream answers",
        up(readiness.stream.position().is_some()),
    );

    let mut body = String::new();
    match encode(&mut body, &registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "metrics could not be encoded");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
