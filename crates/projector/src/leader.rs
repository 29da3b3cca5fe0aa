//! Leadership of one generation: a PostgreSQL advisory lock keyed by the generation's schema,
//! held by a connection taken out of the pool for as long as this process feeds the generation.
//! Another projector of the same projection (a second `crm` process) blocks on the lock and takes
//! over when that connection closes. The lock keeps two leaders from fighting over one durable
//! consumer; the row lock and position check of every batch (see `registry::lock`) are what make
//! a double apply impossible even for a leader that has not yet noticed it lost its lock.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{ClientWrapper, Object, Pool};
use tokio_postgres::NoTls;

use crate::error::{ProjectorError, describe_postgres};

/// The first key of every generation lock ("prjl"); the second is `hashtext(schema)`.
const LOCK_CLASS: i32 = 0x7072_6a6c;
/// How often the leader checks that its lock connection still answers.
const CHECK_EVERY: Duration = Duration::from_secs(2);
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Holds the lock of one generation until dropped (dropping closes the connection).
pub(crate) struct Leadership {
    connection: ClientWrapper,
}

impl Leadership {
    /// Waits until this process holds the lock of `schema`'s generation; `None` if `stop`
    /// completes first.
    pub(crate) async fn acquire(
        pool: &Pool,
        schema: &str,
        stop: impl Future<Output = ()>,
    ) -> Result<Option<Leadership>, ProjectorError> {
        let connection = Object::take(pool.get().await?);
        connection
            .batch_execute("SET application_name = 'crm projector leader'")
            .await?;
        let parameters: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&LOCK_CLASS, &schema];
        let locked = tokio::select! {
            () = stop => None,
            locked = connection.execute(
                "SELECT pg_advisory_lock($1, hashtext($2))",
                &parameters,
            ) => Some(locked),
        };
        match locked {
            Some(locked) => {
                locked?;
                Ok(Some(Leadership { connection }))
            }
            None => {
                // Do not leave a backend waiting for the lock on our behalf.
                let _ = connection.cancel_token().cancel_query(NoTls).await;
                Ok(None)
            }
        }
    }

    /// Takes the lock of another generation's schema if no one holds it; true when taken.
    pub(crate) async fn try_lock(&self, schema: &str) -> Result<bool, ProjectorError> {
        let row = self
            .connection
            .query_one(
                "SELECT pg_try_advisory_lock($1, hashtext($2))",
                &[&LOCK_CLASS, &schema],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Releases a lock taken with [`Leadership::try_lock`].
    pub(crate) async fn unlock(&self, schema: &str) -> Result<(), ProjectorError> {
        self.connection
            .execute(
                "SELECT pg_advisory_unlock($1, hashtext($2))",
                &[&LOCK_CLASS, &schema],
            )
            .await?;
        Ok(())
    }

    /// Completes, with the reason, when the lock connection stops answering: the lock is then
    /// released (or about to be) and another projector may lead.
    pub(crate) async fn lost(&self) -> String {
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            if self.connection.is_closed() {
                return "the leader connection closed".to_owned();
            }
            match tokio::time::timeout(CHECK_TIMEOUT, self.connection.simple_query("SELECT 1"))
                .await
            {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    return format!(
                        "the leader connection failed: {}",
                        describe_postgres(&error)
                    );
                }
                Err(_) => {
                    return format!(
                        "the leader connection did not answer within {CHECK_TIMEOUT:?}"
                    );
                }
            }
        }
    }
}
