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
use std::time::Duration;

use axum::Router;
use serde::{Deserialize, Serialize};

use crate::problem::ApiError;

pub use operations::OperationsState;
pub use serve::{ServerLimits, serve};
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
    /// How long a client may take to send a request body, from the end of its head, before the
    /// request is answered 408 and its connection closed.
    pub body_timeout_ms: u64,
    /// Connections served at once; past that, new ones wait in the listen backlog.
    pub max_connections: usize,
}

impl ApiSettings {
    /// The server's limits, refused when one would let nothing through.
    pub fn limits(&self) -> Result<ServerLimits, String> {
        const HOUR_MS: u64 = 3_600_000;
        const MOST_CONNECTIONS: usize = 1_000_000;
        let positive = |name: &str, value: u64| {
            if (1..=HOUR_MS).contains(&value) {
                Ok(Duration::from_millis(value))
            } else {
                Err(format!("setting api_{name}: must be from 1 to {HOUR_MS}"))
            }
        };
        if !(1..=MOST_CONNECTIONS).contains(&self.max_connections) {
            return Err(format!(
                "setting api_max_connections: must be from 1 to {MOST_CONNECTIONS}"
            ));
        }
        Ok(ServerLimits {
            header_timeout: positive("header_timeout_ms", self.header_timeout_ms)?,
            body_timeout: positive("body_timeout_ms", self.body_timeout_ms)?,
            max_connections: self.max_connections,
        })
    }
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            min_position_wait_ms: 5_000,
            header_timeout_ms: 30_000,
            body_timeout_ms: 30_000,
            max_connections: 1_000,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_that_lets_nothing_through_or_is_out_of_range_is_refused_naming_its_setting() {
        let limits = ApiSettings::default().limits().expect("the defaults hold");
        assert_eq!(limits.max_connections, 1_000);
        for (settings, named) in [
            (
                ApiSettings {
                    body_timeout_ms: u64::MAX,
                    ..ApiSettings::default()
                },
                "api_body_timeout_ms",
            ),
            (
                ApiSettings {
                    max_connections: usize::MAX,
                    ..ApiSettings::default()
                },
                "api_max_connections",
            ),
            (
                ApiSettings {
                    header_timeout_ms: 0,
                    ..ApiSettings::default()
                },
                "api_header_timeout_ms",
            ),
            (
                ApiSettings {
                    body_timeout_ms: 0,
                    ..ApiSettings::default()
                },
                "api_body_timeout_ms",
            ),
            (
                ApiSettings {
                    max_connections: 0,
                    ..ApiSettings::default()
                },
                "api_max_connections",
            ),
        ] {
            let refused = settings.limits().expect_err("refused");
            assert!(refused.contains(named), "{refused}");
        }
    }
}
