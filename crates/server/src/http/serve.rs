//! Accepting connections with the limits `axum::serve` does not set, so that slow or idle
//! clients cannot tie the server up. Connections speak HTTP/1.1 (what HubSpot, browsers
//! and proxies use with a backend): hyper's header timer runs from the moment a connection
//! opens and again whenever a kept-alive one waits for its next request, so a client has
//! [`HttpLimits::header_read`] to send each request's headers, the first included, or the
//! connection is closed. At most [`HttpLimits::connections`] are open at once (one over is
//! closed at once rather than queued). Each request carries its peer's address
//! (`ConnectInfo<SocketAddr>`), which the sign-in backoff and the install throttle read.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;
use tracing::{debug, warn};

use super::REQUEST_TIMEOUT;
use crate::config::HttpLimits;

/// How long connections open at shutdown get to finish: every request is answered within
/// [`REQUEST_TIMEOUT`], and idle connections close at once.
const DRAIN: Duration = REQUEST_TIMEOUT.saturating_add(Duration::from_secs(1));
/// A failed `accept` (out of file descriptors, say) is retried after this pause.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown`, then lets open connections finish their
/// requests (for up to [`DRAIN`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(error = %error, "accepting a connection failed");
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!(peer = %peer, "connection refused: the server holds its most connections");
            continue;
        };
        let with_peer = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(with_peer));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(peer = %peer, error = %error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("connections still open after the drain period are left to close with the process");
    }
}
