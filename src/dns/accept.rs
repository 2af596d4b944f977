//! The accept loop every stream listener shares (TCP, DNS over TLS, DNS over HTTPS): at most
//! `max_connections` open at once (past it a new connection is closed at once), each served by
//! a task of its own, and on stop no new connection while the open ones finish what they are
//! doing (each connection sees the stop signal and decides how to end).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::debug;

/// A running accept loop and its connections.
pub struct Acceptor {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Acceptor {
    /// Accepts on `listener`, serving each connection with `serve(stream, peer, stopped)`.
    pub fn start<F, Fut>(listener: TcpListener, max_connections: usize, serve: F) -> Self
    where
        F: Fn(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, max_connections, serve, stopped));
        Self { stop, task }
    }

    /// Stops accepting; the returned task ends once every open connection has ended.
    pub fn stop(self) -> JoinHandle<()> {
        let _ = self.stop.send(true);
        self.task
    }
}

async fn accept_loop<F, Fut>(
    listener: TcpListener,
    max_connections: usize,
    serve: F,
    mut stopped: watch::Receiver<bool>,
) where
    F: Fn(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stopped.changed() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                debug!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            debug!(%peer, "connection limit reached; closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = serve(stream, peer, stopped.clone());
        connections.spawn(async move {
            connection.await;
            drop(slot);
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}
