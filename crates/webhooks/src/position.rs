//! Where each webhook has delivered to, kept in PostgreSQL beside the read models' registry
//! (the stream's consumers are ephemeral: this row is the checkpoint), and who delivers it: the
//! process holding its advisory lock.

use deadpool_postgres::{ClientWrapper, Object, Pool};
use tokio_postgres::error::SqlState;

use crate::error::WebhookError;

/// Makes the positions' table if it is missing (processes starting at once take turns).
pub(crate) async fn ensure_table(pool: &Pool) -> Result<(), WebhookError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    transaction
        .batch_execute(
            "SELECT pg_advisory_xact_lock(hashtext('crm.webhooks.table')); \
             CREATE TABLE IF NOT EXISTS webhook_deliveries ( \
                 name          text PRIMARY KEY, \
                 position      bigint NOT NULL CHECK (position >= 0), \
                 delivered_at  timestamptz NOT NULL DEFAULT now(), \
                 failing_since timestamptz, \
                 last_error    text)",
        )
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// A webhook's delivery as its row says, for readiness and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub name: String,
    /// Every event up to here is delivered (or not one the webhook takes).
    pub position: u64,
    pub delivered_at: chrono::DateTime<chrono::Utc>,
    /// Since when every try of its next batch has failed, and why the last one did.
    pub failing_since: Option<chrono::DateTime<chrono::Utc>>,
    pub last_error: Option<String>,
}

/// Every webhook's delivery (none before the first webhook started).
pub async fn delivered(pool: &Pool) -> Result<Vec<Delivered>, WebhookError> {
    let client = pool.get().await?;
    let rows = match client
        .query(
            "SELECT name, position, delivered_at, failing_since, last_error \
             FROM webhook_deliveries ORDER BY name",
            &[],
        )
        .await
    {
        Ok(rows) => rows,
        Err(error) if error.code() == Some(&SqlState::UNDEFINED_TABLE) => return Ok(Vec::new()),
        Err(error) => return Err(error.into()),
    };
    rows.iter()
        .map(|row| {
            Ok(Delivered {
                name: row.try_get(0)?,
                position: to_u64(row.try_get(1)?)?,
                delivered_at: row.try_get(2)?,
                failing_since: row.try_get(3)?,
                last_error: row.try_get(4)?,
            })
        })
        .collect()
}

/// The lead of one webhook: its advisory lock, held by a connection taken out of the pool, so
/// that dropping the lease (or losing the connection) closes it and lets another process lead.
pub(crate) struct Lease {
    client: ClientWrapper,
    name: String,
    position: u64,
}

impl Lease {
    /// The lead of webhook `name` if no other process holds it, at its position (made
    /// `initial` if it has none yet).
    pub(crate) async fn try_take(
        pool: &Pool,
        name: &str,
        initial: impl AsyncFnOnce() -> Result<u64, WebhookError>,
    ) -> Result<Option<Lease>, WebhookError> {
        let pooled = pool.get().await?;
        let taken: bool = pooled
            .query_one(
                "SELECT pg_try_advisory_lock(hashtext('crm.webhook.' || $1))",
                &[&name],
            )
            .await?
            .get(0);
        if !taken {
            return Ok(None);
        }
        let client = Object::take(pooled);
        let stored = client
            .query_opt(
                "SELECT position FROM webhook_deliveries WHERE name = $1",
                &[&name],
            )
            .await?;
        let position = match stored {
            Some(row) => to_u64(row.get(0))?,
            None => {
                let position = initial().await?;
                client
                    .execute(
                        "INSERT INTO webhook_deliveries (name, position) VALUES ($1, $2)",
                        &[&name, &to_i64(position)?],
                    )
                    .await?;
                position
            }
        };
        Ok(Some(Lease {
            client,
            name: name.to_owned(),
            position,
        }))
    }

    /// Refuses to go on once the connection holding the lock is gone (the lock with it).
    pub(crate) fn check(&self) -> Result<(), WebhookError> {
        if self.client.is_closed() {
            Err(WebhookError::NotLeader)
        } else {
            Ok(())
        }
    }

    /// The position of the last event delivered (or passed over).
    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    /// Records that the next batch failed, for readiness (a failure to record it only costs
    /// that report).
    pub(crate) async fn failing(&self, error: &WebhookError) {
        let recorded = self
            .client
            .execute(
                "UPDATE webhook_deliveries SET last_error = $2, \
                 failing_since = coalesce(failing_since, now()) WHERE name = $1",
                &[&self.name, &error.to_string()],
            )
            .await;
        if let Err(error) = recorded {
            tracing::warn!(webhook = %self.name, %error, "a webhook's failure was not recorded");
        }
    }

    /// Records that everything up to `position` is delivered; refused if the row moved (another
    /// process led meanwhile) or the connection is gone (the lock with it).
    pub(crate) async fn advance(&mut self, position: u64) -> Result<(), WebhookError> {
        let updated = self
            .client
            .execute(
                "UPDATE webhook_deliveries SET position = $2, delivered_at = now(), \
                 failing_since = NULL, last_error = NULL WHERE name = $1 AND position = $3",
                &[&self.name, &to_i64(position)?, &to_i64(self.position)?],
            )
            .await?;
        if updated != 1 {
            return Err(WebhookError::NotLeader);
        }
        self.position = position;
        Ok(())
    }
}

fn to_i64(position: u64) -> Result<i64, WebhookError> {
    i64::try_from(position).map_err(|_| WebhookError::Database(format!("position {position}")))
}

fn to_u64(position: i64) -> Result<u64, WebhookError> {
    u64::try_from(position).map_err(|_| WebhookError::Database(format!("position {position}")))
}
