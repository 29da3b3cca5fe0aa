//! The one writer task. It takes the requests waiting as a batch, judges it and chains it onto
//! the tip (the head the batch before it will leave), and sends it as one statement on its own
//! connection while that batch is still committing. The server runs the statements of one
//! connection in the order they were sent, so it goes from one batch's fsync straight to the
//! next, and no round trip through this process happens while the head is locked.
//!
//! A batch that could not be judged on the tip (nothing known yet, or a request that looks like a
//! conflict), or that the database refused, is written under the head lock once nothing else is
//! in flight; that also tells the writer the head again. So is each request with a condition on
//! what the log holds (`none_since`), alone.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use deadpool_postgres::{Object, Pool};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Statement;

use super::plan::Outcome;
use super::sequencer::Sequencer;
use super::write::{self, Judged, Marker, Sent, Statements, Unwritten};
use super::{Checked, Job};
use crate::error::StoreError;
use crate::model::Appended;

/// Batches sent and not yet answered: one committing, one waiting in the server behind it.
const IN_FLIGHT: usize = 3;

type Reply = oneshot::Sender<Result<Appended, StoreError>>;
type Response = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send>>;

/// Requests judged together, with whoever waits for each.
struct Batch {
    requests: Vec<Checked>,
    replies: Vec<Reply>,
}

struct InFlight {
    batch: Batch,
    outcomes: Vec<Outcome>,
    /// What to look for, and on which server process, if the answer does not come.
    marker: Option<Marker>,
    backend: i32,
    response: Response,
}

/// The connection batches chained onto the tip are sent on (in chain order).
struct Connection {
    client: Arc<Object>,
    append_batch: Statement,
    /// Its server process.
    backend: i32,
}

struct Writer {
    pool: Pool,
    sequencer: Sequencer,
    connection: Option<Connection>,
    in_flight: VecDeque<InFlight>,
    /// Batches to write under the head lock once nothing is in flight.
    under_lock: VecDeque<Batch>,
    /// Requests that repeat an idempotency key first seen in their batch: next batch.
    carried: Vec<Job>,
}

enum Event {
    Answered(Result<u64, tokio_postgres::Error>),
    Taken(usize),
}

pub(super) async fn run(pool: Pool, mut jobs: mpsc::Receiver<Job>, batch_max: usize) {
    let mut writer = Writer {
        pool,
        sequencer: Sequencer::default(),
        connection: None,
        in_flight: VecDeque::new(),
        under_lock: VecDeque::new(),
        carried: Vec::new(),
    };
    let mut open = true;
    let mut waiting = Vec::with_capacity(batch_max);
    loop {
        if writer.in_flight.is_empty()
            && let Some(batch) = writer.under_lock.pop_front()
        {
            writer.write_under_lock(batch).await;
            continue;
        }
        let can_send = writer.in_flight.len() < IN_FLIGHT && writer.under_lock.is_empty();
        if can_send && !writer.carried.is_empty() {
            let mut batch = std::mem::take(&mut writer.carried);
            take_waiting(&mut jobs, &mut batch, batch_max);
            writer.send(batch).await;
            continue;
        }
        if writer.in_flight.is_empty() && !(open && can_send) {
            return;
        }
        let event = tokio::select! {
            biased;
            answered = front(&mut writer.in_flight), if !writer.in_flight.is_empty() => {
                Event::Answered(answered)
            }
            taken = jobs.recv_many(&mut waiting, batch_max), if open && can_send => {
                Event::Taken(taken)
            }
        };
        match event {
            Event::Answered(result) => writer.answer_front(result).await,
            Event::Taken(0) => open = false,
            Event::Taken(_) => {
                gather_stragglers(&mut jobs, &mut waiting, batch_max).await;
                let batch = std::mem::replace(&mut waiting, Vec::with_capacity(batch_max));
                writer.send(batch).await;
            }
        }
    }
}

/// The response of the oldest batch in flight (the first the server answers).
fn front(
    in_flight: &mut VecDeque<InFlight>,
) -> impl Future<Output = Result<u64, tokio_postgres::Error>> + '_ {
    std::future::poll_fn(|cx| match in_flight.front_mut() {
        Some(oldest) => oldest.response.as_mut().poll(cx),
        None => Poll::Pending,
    })
}

fn take_waiting(jobs: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>, batch_max: usize) {
    while batch.len() < batch_max {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// The callers answered by the last commit are already preparing their next requests; a batch
/// taken the instant the first of them arrives would commit a handful and leave the rest for one
/// more transaction (and one more fsync). So, while yielding brings more requests in, keep
/// yielding: this costs microseconds when nobody else is coming.
async fn gather_stragglers(
    jobs: &mut mpsc::Receiver<Job>,
    waiting: &mut Vec<Job>,
    batch_max: usize,
) {
    const ROUNDS: usize = 16;
    for _ in 0..ROUNDS {
        if waiting.len() >= batch_max {
            return;
        }
        tokio::task::yield_now().await;
        let before = waiting.len();
        take_waiting(jobs, waiting, batch_max);
        if waiting.len() == before {
            return;
        }
    }
}

impl Writer {
    async fn send(&mut self, jobs: Vec<Job>) {
        // A request with a condition on what came before it is judged alone under the head lock,
        // where one query over the log decides it.
        let (conditional, jobs): (Vec<Job>, Vec<Job>) = jobs
            .into_iter()
            .partition(|job| job.request.request.none_since.is_some());
        for job in conditional {
            self.under_lock.push_back(Batch {
                requests: vec![job.request],
                replies: vec![job.reply],
            });
        }
        if jobs.is_empty() {
            return;
        }
        let (requests, replies) = jobs.into_iter().map(|job| (job.request, job.reply)).unzip();
        let batch = Batch { requests, replies };
        tracing::trace!(
            requests = batch.requests.len(),
            in_flight = self.in_flight.len(),
            "batch"
        );
        let judged = write::judge_on_tip(&self.pool, &mut self.sequencer, &batch.requests).await;
        match judged {
            Ok(Judged::UnderLock) => self.under_lock.push_back(batch),
            Ok(Judged::Answered(outcomes)) => self.answer(batch, outcomes),
            Ok(Judged::Chained(args, outcomes)) => match self.connection().await {
                Ok((client, statement, backend)) => {
                    let marker = args.marker();
                    let mut response: Response = Box::pin(write::send(client, statement, args));
                    // The statement goes out on the first poll: batches reach the server in the
                    // order they were chained.
                    if let Poll::Ready(result) = futures::poll!(response.as_mut()) {
                        response = Box::pin(std::future::ready(result));
                    }
                    self.in_flight.push_back(InFlight {
                        batch,
                        outcomes,
                        marker,
                        backend,
                        response,
                    });
                }
                Err(error) => {
                    self.sequencer.forget();
                    self.fail(batch, &error)
                }
            },
            Err(error) => self.fail(batch, &error),
        }
    }

    async fn connection(&mut self) -> Result<(Arc<Object>, Statement, i32), StoreError> {
        if let Some(connection) = &self.connection {
            return Ok((
                connection.client.clone(),
                connection.append_batch.clone(),
                connection.backend,
            ));
        }
        let client = self.pool.get().await?;
        let append_batch = Statements::prepare(&client).await?.append_batch;
        let backend = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await?
            .get(0);
        let client = Arc::new(client);
        self.connection = Some(Connection {
            client: client.clone(),
            append_batch: append_batch.clone(),
            backend,
        });
        Ok((client, append_batch, backend))
    }

    async fn answer_front(&mut self, result: Result<u64, tokio_postgres::Error>) {
        let Some(InFlight {
            batch,
            outcomes,
            marker,
            backend,
            ..
        }) = self.in_flight.pop_front()
        else {
            return;
        };
        match result {
            Ok(_) => self.answer(batch, outcomes),
            Err(error) if write::refused(&error) => {
                tracing::debug!(error = %crate::error::describe_pg_error(&error), "batch judged again under the head lock");
                self.sequencer.forget();
                self.under_lock.push_back(batch);
            }
            Err(error) => {
                self.sequencer.forget();
                self.connection = None;
                let unwritten = Unwritten::after_sending(error, backend, marker, outcomes);
                self.settle(batch, unwritten).await;
            }
        }
    }

    async fn write_under_lock(&mut self, batch: Batch) {
        let written = match self.pool.get().await {
            Ok(mut client) => {
                write::under_lock(&mut client, &mut self.sequencer, &batch.requests).await
            }
            Err(error) => Err(Unwritten::Failed(error.into())),
        };
        match written {
            Ok(outcomes) => self.answer(batch, outcomes),
            Err(unwritten) => {
                self.sequencer.forget();
                self.settle(batch, unwritten).await;
            }
        }
    }

    /// Answers a batch that was not answered as written: as failed when nothing of it was,
    /// as written when its connection failed after it had committed, and as of unknown outcome
    /// when that cannot be found out. Never as failed when it may have committed: a client told
    /// so would send it again.
    async fn settle(&mut self, batch: Batch, unwritten: Unwritten) {
        let (error, sent) = match unwritten {
            Unwritten::Failed(error) => return self.fail(batch, &error),
            Unwritten::Unknown { error, sent } => (error, sent),
        };
        match write::committed(&self.pool, &sent).await {
            Ok(true) => {
                tracing::warn!(error = %error, requests = batch.replies.len(), "the connection failed after a batch committed; answered as written");
                let Sent { outcomes, .. } = sent;
                self.answer(batch, outcomes);
            }
            Ok(false) => self.fail(batch, &error),
            Err(unknown) => {
                let message = format!("{error}; whether it committed cannot be told: {unknown}");
                tracing::warn!(error = %message, requests = batch.replies.len(), "append batch of unknown outcome");
                for reply in batch.replies {
                    let _ = reply.send(Err(StoreError::OutcomeUnknown(message.clone())));
                }
            }
        }
    }

    fn answer(&mut self, batch: Batch, outcomes: Vec<Outcome>) {
        let Batch { requests, replies } = batch;
        for ((request, reply), outcome) in requests.into_iter().zip(replies).zip(outcomes) {
            match outcome {
                Outcome::Done(result) => {
                    let _ = reply.send(result);
                }
                Outcome::Deferred => self.carried.push(Job { request, reply }),
            }
        }
    }

    fn fail(&self, batch: Batch, error: &StoreError) {
        let message = error.to_string();
        tracing::warn!(error = %message, requests = batch.replies.len(), "append batch did not commit");
        for reply in batch.replies {
            let _ = reply.send(Err(StoreError::Unavailable(message.clone())));
        }
    }
}
