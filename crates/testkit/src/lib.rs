//! Isolation for tests: every test gets its own PostgreSQL database and its own JetStream stream
//! name and subject prefix, so tests run in parallel and never see each other's data. Tests that
//! stop or kill a server start a private one here; the shared servers are never stopped.
//!
//! The shared servers default to 127.0.0.1:5432 (user `postgres`) and 127.0.0.1:4222; set
//! `CRM_TEST_DATABASE_URL` (any database on the server) and `CRM_TEST_NATS_URL` to point elsewhere.

mod nats;
mod postgres;

pub use nats::{PrivateNats, PrivateNatsCluster, TestStream, nats_url};
pub use postgres::{PrivatePostgres, TestDatabase, admin_url};

/// A port nothing listens on right now (the OS picks it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("the OS hands out a free port")
}

/// A short unique token for names: lowercase letters and digits only.
pub fn unique_name(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &id[..16])
}
