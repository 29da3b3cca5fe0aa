//! The HTTP server: the router on hyper's HTTP/1.1, with what `axum::serve` has no setting for.
//! hyper bounds the time a request head may take only when it has a timer, and `axum::serve`
//! gives it none: a client could open connections and dribble bytes (or send none) and hold
//! them, and what each costs, for ever. Here a request head must arrive within `header_timeout`
//! of the connection (or of the previous answer, so an idle keep-alive connection closes too).
//! A body is bounded in size by the router, not in time.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// Serves `router` on `listener` until `stop` completes, then lets open requests finish (an
/// event stream ends on its own signal), for at most [`DRAIN`], before returning.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    stop: impl Future<Output = ()>,
) {
    let (stopping, stopped) = watch::channel(());
    let (done, all_done) = watch::channel(());
    let mut stop = std::pin::pin!(stop);
    loop {
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
        let connection = serve_connection(
            stream,
            client,
            router.clone(),
            header_timeout,
            stopped.clone(),
        );
        let done = all_done.clone();
        tokio::spawn(async move {
            connection.await;
            drop(done);
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
    header_timeout: Duration,
    mut stopped: watch::Receiver<()>,
) {
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(client));
        // The router never fails: its error type is `Infallible`.
        router.clone().oneshot(request)
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = stopped.changed() => connection.as_mut().graceful_shutdown(),
    }
    let _ = connection.await;
}
