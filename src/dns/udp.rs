//! DNS over UDP, served by hush's own receive loops: one per core on each socket. A query that
//! needs no upstream (blocked, cached, refused, malformed) is answered inline by the loop that
//! received it: no task, no channel, one `recvfrom` and one `sendto`. A query that must go
//! upstream gets a task of its own, so a slow upstream never holds a loop. On shutdown the
//! loops stop receiving and wait for their forwarded queries, so every answered query's event
//! reaches the query log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::debug;

use super::arrival::Arrival;
use super::handler::{DnsHandler, unreadable};

/// Larger than any datagram a client may send (EDNS payloads top out at 64 KiB).
const RECEIVE_BUFFER: usize = 65_535;

/// The receive loops of every UDP socket.
pub struct UdpServer {
    stop: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
}

impl UdpServer {
    /// Starts `loops_per_socket` receive loops on each socket.
    pub fn start(
        sockets: Vec<UdpSocket>,
        handler: Arc<DnsHandler>,
        loops_per_socket: usize,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let mut loops = Vec::new();
        for socket in sockets {
            let socket = Arc::new(socket);
            for _ in 0..loops_per_socket.max(1) {
                loops.push(tokio::spawn(receive_loop(
                    Arc::clone(&socket),
                    Arc::clone(&handler),
                    stopped.clone(),
                )));
            }
        }
        Self { stop, loops }
    }

    /// Stops receiving, then waits until every query already received is answered.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for receive_loop in self.loops {
            if let Err(error) = receive_loop.await {
                debug!(%error, "a UDP receive loop ended abnormally");
            }
        }
    }
}

async fn receive_loop(
    socket: Arc<UdpSocket>,
    handler: Arc<DnsHandler>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    let mut forwarded = JoinSet::new();
    loop {
        let received = tokio::select! {
            biased;
            _ = stopped.changed() => break,
            received = socket.recv_from(&mut buffer) => received,
        };
        let (length, peer) = match received {
            Ok(received) => received,
            Err(error) => {
                // ICMP errors from earlier sends surface here on some systems; an exhausted
                // machine gets a pause instead of a spin.
                debug!(%error, "UDP receive failed");
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        // Port 0 cannot be answered, and answering it is a known reflection trick.
        if peer.port() == 0 {
            continue;
        }
        let message = &buffer[..length];
        let request = match Request::from_bytes(message.to_vec(), peer, Protocol::Udp) {
            Ok(request) => request,
            Err(_) => {
                if let Some(reply) = unreadable(message) {
                    send(&socket, &reply, peer).await;
                }
                continue;
            }
        };
        // Responses sent to a server are dropped: no reflection.
        if request.metadata.message_type != hickory_proto::op::MessageType::Query {
            continue;
        }
        match handler.answer_locally(&request, &Arrival::UDP) {
            Ok(Some(reply)) => send(&socket, &reply, peer).await,
            Ok(None) => {}
            Err(deferred) => {
                let (socket, handler) = (Arc::clone(&socket), Arc::clone(&handler));
                forwarded.spawn(async move {
                    if let Some(reply) = handler.answer_forwarded(&request, deferred).await {
                        send(&socket, &reply, peer).await;
                    }
                });
            }
        }
        while forwarded.try_join_next().is_some() {}
    }
    while forwarded.join_next().await.is_some() {}
}

async fn send(socket: &UdpSocket, reply: &[u8], peer: SocketAddr) {
    if let Err(error) = socket.send_to(reply, peer).await {
        debug!(%error, %peer, "could not send a UDP response");
    }
}
