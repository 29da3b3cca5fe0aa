//! The HTTP server: the router on hyper's HTTP/1.1, with the limits `axum::serve` has no setting
//! for, so that a client cannot hold the server's connections, and what each costs, for ever:
//! - a request head must arrive within `header_timeout` of the connection (or of the previous
//!   answer, so an idle keep-alive connection closes too): hyper bounds it only when given a
//!   timer, and `axum::serve` gives it none;
//! - a request body must arrive whole within `body_timeout` of the first time the server waits
//!   for it (its size is bounded by the router): one dribbled a byte at a time is answered 408
//!   and its connection closed;
//! - at most `max_connections` are served at once; the next wait in the listen backlog.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Sleep;
use tower::ServiceExt;

/// What the server lets one client hold (`ApiSettings::limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `stop` completes, then lets open requests finish (an
/// event stream ends on its own signal), for at most [`DRAIN`], before returning.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    stop: impl Future<Output = ()>,
) {
    let (stopping, stopped) = watch::channel(());
    let (done, all_done) = watch::channel(());
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // Told once each time the server goes from having a free slot to having none.
    let mut told_full = false;
    let mut stop = std::pin::pin!(stop);
    loop {
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => {
                told_full = false;
                slot
            }
            Err(_) => {
                if !std::mem::replace(&mut told_full, true) {
                    tracing::warn!(
                        limits.max_connections,
                        "every connection slot is taken: new clients wait until one closes"
                    );
                }
                tokio::select! {
                    () = &mut stop => break,
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                }
            }
        };
        let (stream, client) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    on_accept_error(error).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let connection = serve_connection(stream, client, router.clone(), limits, stopped.clone());
        let done = all_done.clone();
        tokio::spawn(async move {
            connection.await;
            drop((done, slot));
        });
    }
    // New clients are refused at once rather than left waiting in the backlog.
    drop(listener);
    drop(stopping);
    drop(all_done);
    if tokio::time::timeout(DRAIN, done.closed()).await.is_err() {
        tracing::warn!(
            "requests still open {DRAIN:?} after the stop are left to end with the process"
        );
    }
}

/// How long a stop waits for the requests in flight (a client reading an answer slowly may hold
/// one longer; it is cut off when the process ends).
const DRAIN: Duration = Duration::from_secs(30);

/// A connection that failed before it was accepted is the client's affair; anything else (out of
/// file descriptors) is waited out a second rather than spun on.
async fn on_accept_error(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    client: SocketAddr,
    router: Router,
    limits: ServerLimits,
    mut stopped: watch::Receiver<()>,
) {
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(|body| Body::new(Deadline::new(body, limits.body_timeout)));
        request.extensions_mut().insert(ConnectInfo(client));
        // The router never fails: its error type is `Infallible`.
        router.clone().oneshot(request)
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = stopped.changed() => connection.as_mut().graceful_shutdown(),
    }
    let _ = connection.await;
}

/// A request body that fails with [`BodyTimedOut`] when it has not all arrived within `timeout`
/// of the first time it kept its reader waiting. So the time the server takes before it reads
/// the body (authentication, a busy pool) is not held against the client, and a body that is
/// already in, or that nobody reads, sets no timer.
struct Deadline {
    body: Incoming,
    timeout: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    fn new(body: Incoming, timeout: Duration) -> Deadline {
        Deadline {
            body,
            timeout,
            timer: None,
        }
    }
}

/// The request body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

impl hyper::body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(context) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let timeout = this.timeout;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match timer.as_mut().poll(context) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimedOut.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
