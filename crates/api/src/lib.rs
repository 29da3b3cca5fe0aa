//! The HTTP surface: the only crate that knows HTTP. Issue by issue it gains the `/v1` routes;
//! today it answers the operations routes: `/healthz` (the process is alive), `/readyz` (the
//! store and NATS answer, and how far the stream trails the store) and `/metrics` (Prometheus).

mod operations;

use std::net::SocketAddr;

use axum::Router;
use serde::{Deserialize, Serialize};

pub use operations::OperationsState;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// The address the HTTP server listens on.
    pub listen: SocketAddr,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

/// Every route the API serves, as a value a test can drive without a socket.
pub fn router(operations: OperationsState) -> Router {
    operations::routes(operations)
}
