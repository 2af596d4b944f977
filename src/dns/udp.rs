//! DNS over UDP, served by hush's own receive loops: one per core on each socket. A loop takes
//! every query waiting on its socket at once ([`super::datagrams`]); a query that needs no
//! upstream (blocked, cached, refused, malformed) is answered inline, and the answers to the
//! whole batch leave together: no task, no channel, two system calls for the lot. A query that must go
//! upstream gets a task of its own, so a slow upstream never holds a loop. On shutdown the
//! loops stop receiving and wait for their forwarded queries, so every answered query's event
//! reaches the query log.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::debug;

use super::arrival::Arrival;
use super::datagrams::{Datagram, Inbox, Outbox, send};
use super::handler::{DnsHandler, unreadable};

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
    let mut inbox = Inbox::default();
    let mut outbox = Outbox::default();
    let mut forwarded = JoinSet::new();
    loop {
        let ready = tokio::select! {
            biased;
            _ = stopped.changed() => break,
            ready = socket.readable() => ready,
        };
        let received = ready.and_then(|()| inbox.receive(&socket));
        if let Err(error) = received {
            if error.kind() != io::ErrorKind::WouldBlock {
                // ICMP errors from earlier sends surface here on some systems; an exhausted
                // machine gets a pause instead of a spin.
                debug!(%error, "UDP receive failed");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            continue;
        }
        for datagram in inbox.datagrams() {
            // Port 0 cannot be answered, and answering it is a known reflection trick.
            if datagram.peer.port() == 0 {
                continue;
            }
            let request = match parse(&datagram) {
                Some(request) => request,
                None => {
                    if let Some(reply) = unreadable(datagram.bytes) {
                        outbox.push(reply, datagram.peer);
                    }
                    continue;
                }
            };
            // Responses sent to a server are dropped: no reflection.
            if request.metadata.message_type != hickory_proto::op::MessageType::Query {
                continue;
            }
            match handler.answer_locally(&request, &Arrival::UDP) {
                Ok(Some(reply)) => outbox.push(reply, datagram.peer),
                Ok(None) => {}
                Err(deferred) => {
                    let (socket, handler) = (Arc::clone(&socket), Arc::clone(&handler));
                    let peer = datagram.peer;
                    forwarded.spawn(async move {
                        if let Some(reply) = handler.answer_forwarded(&request, deferred).await {
                            send(&socket, &reply, peer).await;
                        }
                    });
                }
            }
        }
        outbox.flush(&socket).await;
        while forwarded.try_join_next().is_some() {}
    }
    while forwarded.join_next().await.is_some() {}
}

/// The request in `datagram`, or `None` when it cannot be read (a cut datagram is unreadable:
/// its end is missing).
fn parse(datagram: &Datagram<'_>) -> Option<Request> {
    if datagram.cut {
        return None;
    }
    Request::from_bytes(datagram.bytes.to_vec(), datagram.peer, Protocol::Udp).ok()
}
