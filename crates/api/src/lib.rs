//! The HTTP surface: the only crate that knows HTTP. The `/v1` routes turn requests into domain
//! commands and read-model queries; the operations routes answer `/healthz` (the process is
//! alive), `/readyz` (the store, NATS and the projectors answer, and how far each trails) and
//! `/metrics` (Prometheus).

pub mod access;
pub mod auth;
pub mod command;
mod export;
mod guard;
pub mod openapi;
mod operations;
pub mod problem;
pub mod request;
mod serve;
mod state;
mod v1;

use std::net::SocketAddr;

use axum::Router;
use serde::{Deserialize, Serialize};

use crate::problem::ApiError;

pub use operations::OperationsState;
pub use serve::serve;
pub use state::ApiState;
pub use v1::users::{add_user, bootstrap_admin};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// The address the HTTP server listens on.
    pub listen: SocketAddr,
    /// How long a query with `X-Crm-Min-Position` waits for the read model before 504.
    pub min_position_wait_ms: u64,
    /// How long a client may take to send a request head (and a keep-alive connection may sit
    /// idle) before its connection is closed.
    pub header_timeout_ms: u64,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            min_position_wait_ms: 5_000,
            header_timeout_ms: 30_000,
        }
    }
}

/// Every route the API serves, as a value a test can drive without a socket. A path no route
/// has, or a method its route does not take, is a problem like any other refusal.
pub fn router(operations: OperationsState, api: ApiState) -> Router {
    operations::routes(operations)
        .merge(v1::routes(api))
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}
