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

/// A unique token for names: lowercase letters and digits only. It starts with the time it was
/// made (a UUID v7), so that what a killed test left behind can be told by its age.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// How old a test's database or stream must be before another test takes it for the leftover of
/// a test that was killed before it could remove it: far longer than any test runs.
const LEFTOVER_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Whether `token` (what follows a name's prefix, case aside) was made by [`unique_name`] longer
/// than [`LEFTOVER_AFTER`] ago.
fn is_leftover(token: &str) -> bool {
    let Some(made_ms) = token
        .get(..12)
        .and_then(|millis| u64::from_str_radix(millis, 16).ok())
    else {
        return false;
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    let age_ms = now_ms.saturating_sub(u128::from(made_ms));
    token.len() == 32 && age_ms > LEFTOVER_AFTER.as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_made_now_is_no_leftover_and_one_made_hours_ago_is() {
        let now = unique_name("crm_test_");
        let token = now.strip_prefix("crm_test_").expect("the prefix");
        assert_eq!(token.len(), 32);
        assert!(!is_leftover(token));
        let hours_ago = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_secs()
                - 2 * 3600,
            0,
        ));
        assert!(is_leftover(&hours_ago.simple().to_string()));
        assert!(is_leftover(&hours_ago.simple().to_string().to_uppercase()));
        // Not made by unique_name: never taken.
        assert!(!is_leftover("0123456789abcdef"));
        assert!(!is_leftover("checkpoints"));
    }
}
