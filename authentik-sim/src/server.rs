//! The accept loop, one level below axum, for the faults HTTP cannot express: `refuse` closes the
//! listening socket (connections are refused, like a dead host) and reopens it on the same address
//! afterwards; commit-then-reset drops a connection mid-request through its [`KillSwitch`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tower::ServiceExt;

/// Drops the connection it belongs to.
#[derive(Debug, Clone)]
pub struct KillSwitch(Arc<Mutex<Option<oneshot::Sender<()>>>>);

impl KillSwitch {
    /// Drops the connection now.
    pub fn trigger(&self) {
        if let Some(tx) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(());
        }
    }
}

/// Serves `router` on `listener` until `stop` resolves, refusing connections while `refusing`.
pub async fn serve(
    mut listener: Option<TcpListener>,
    addr: SocketAddr,
    router: Router,
    mut refusing: watch::Receiver<bool>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        if *refusing.borrow_and_update() {
            listener = None; // the port closes: connects are refused
        } else if listener.is_none() {
            match TcpListener::bind(addr).await {
                Ok(l) => listener = Some(l),
                Err(e) => tracing::warn!(error = %e, %addr, "cannot listen again yet"),
            }
        }
        tokio::select! {
            () = &mut stop => return,
            changed = refusing.changed() => if changed.is_err() { return },
            accepted = async { match &listener { Some(l) => l.accept().await, None => std::future::pending().await } } => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(connection(stream, router.clone()));
                }
            }
        }
    }
}

async fn connection(stream: tokio::net::TcpStream, router: Router) {
    let (kill_tx, kill_rx) = oneshot::channel();
    let kill = KillSwitch(Arc::new(Mutex::new(Some(kill_tx))));
    let service = router.map_request(
        move |mut request: axum::http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(kill.clone());
            request
        },
    );
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    tokio::select! {
        _ = conn => {}
        _ = kill_rx => {} // dropping the connection closes the socket without an answer
    }
}
