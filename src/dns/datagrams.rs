//! Datagrams by the batch: [`Inbox`] takes every query waiting on a UDP socket (up to
//! [`BATCH`]) with one `recvmmsg`, [`Outbox`] sends the answers built from them with one
//! `sendmmsg`. Under load the kernel's queue holds many queries and two system calls serve them
//! all; when the house is quiet a batch is one datagram and this costs what `recvfrom` and
//! `sendto` cost. Sockets stay non-blocking: a call that would block says so and the caller
//! awaits readiness through tokio.

use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tracing::debug;

/// Datagrams taken or sent per system call.
pub const BATCH: usize = 32;

/// Room for one query. A question with EDNS options fits in a few hundred bytes; a datagram
/// longer than this is not a query anyone sends and arrives cut, marked [`Datagram::cut`].
pub const SLOT: usize = 4096;

/// One received datagram.
pub struct Datagram<'a> {
    pub bytes: &'a [u8],
    pub peer: SocketAddr,
    /// The datagram was longer than [`SLOT`]; `bytes` holds its start.
    pub cut: bool,
}

#[derive(Clone, Copy)]
struct Received {
    length: usize,
    peer: SocketAddr,
    cut: bool,
}

/// Receive buffers for [`BATCH`] datagrams, and what the last [`Inbox::receive`] put in them.
pub struct Inbox {
    slots: Box<[u8]>,
    received: Vec<Received>,
}

impl Default for Inbox {
    fn default() -> Self {
        Self {
            slots: vec![0; BATCH * SLOT].into_boxed_slice(),
            received: Vec::with_capacity(BATCH),
        }
    }
}

impl Inbox {
    /// Takes the datagrams waiting on `socket` without waiting for more: how many, or
    /// `WouldBlock` when none is there (tokio then clears the socket's readiness).
    pub fn receive(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.received.clear();
        let received = &mut self.received;
        let slots = &mut self.slots;
        socket.try_io(Interest::READABLE, || {
            let mut slots = slots.chunks_mut(SLOT);
            let mut slices: [[IoSliceMut<'_>; 1]; BATCH] =
                std::array::from_fn(|_| [IoSliceMut::new(slots.next().unwrap_or_default())]);
            // The headers hold raw pointers (not `Send`), so they live for this call only.
            let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
            let messages = recvmmsg(
                socket.as_raw_fd(),
                &mut headers,
                slices.iter_mut(),
                MsgFlags::empty(),
                None,
            )?;
            for message in messages {
                // A datagram from an address we cannot name cannot be answered.
                let Some(peer) = message.address.as_ref().and_then(socket_addr) else {
                    continue;
                };
                received.push(Received {
                    length: message.bytes.min(SLOT),
                    peer,
                    cut: message.flags.contains(MsgFlags::MSG_TRUNC),
                });
            }
            Ok(received.len())
        })
    }

    /// The datagrams the last [`Inbox::receive`] took, in arrival order.
    pub fn datagrams(&self) -> impl Iterator<Item = Datagram<'_>> {
        self.slots
            .chunks(SLOT)
            .zip(&self.received)
            .map(|(slot, received)| Datagram {
                bytes: &slot[..received.length],
                peer: received.peer,
                cut: received.cut,
            })
    }
}

fn socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::from(*v4));
    }
    address.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
}

/// Answers waiting to be sent, each to its own peer.
#[derive(Default)]
pub struct Outbox {
    replies: Vec<(Vec<u8>, SocketAddr)>,
}

impl Outbox {
    pub fn push(&mut self, reply: Vec<u8>, peer: SocketAddr) {
        self.replies.push((reply, peer));
    }

    /// Sends every waiting answer, [`BATCH`] per system call. A full send buffer waits for
    /// room; a peer the kernel refuses (no route, say) loses its answer, not the others'.
    pub async fn flush(&mut self, socket: &UdpSocket) {
        let mut next = 0;
        while next < self.replies.len() {
            let waiting = &self.replies[next..self.replies.len().min(next + BATCH)];
            match socket.try_io(Interest::WRITABLE, || send_batch(socket, waiting)) {
                Ok(sent) => next += sent.max(1),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    let (reply, peer) = &self.replies[next];
                    send(socket, reply, *peer).await;
                    next += 1;
                }
                Err(error) => {
                    debug!(%error, peer = %self.replies[next].1, "could not send a UDP response");
                    next += 1;
                }
            }
        }
        self.replies.clear();
    }
}

/// Sends `replies` with one `sendmmsg`: how many the kernel took (at least one, or an error
/// about the first).
fn send_batch(socket: &UdpSocket, replies: &[(Vec<u8>, SocketAddr)]) -> io::Result<usize> {
    let replies = &replies[..replies.len().min(BATCH)];
    let slices: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|i| {
        [IoSlice::new(
            replies.get(i).map_or(&[][..], |(reply, _)| reply),
        )]
    });
    let peers: [Option<SockaddrStorage>; BATCH] =
        std::array::from_fn(|i| replies.get(i).map(|(_, peer)| SockaddrStorage::from(*peer)));
    // The headers hold raw pointers (not `Send`), so they live for this call only.
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(replies.len(), None);
    let sent = sendmmsg(
        socket.as_raw_fd(),
        &mut headers,
        &slices[..replies.len()],
        &peers[..replies.len()],
        [],
        MsgFlags::empty(),
    )?;
    Ok(sent.count())
}

/// Sends one datagram, waiting for room in the send buffer if need be.
pub async fn send(socket: &UdpSocket, reply: &[u8], peer: SocketAddr) {
    if let Err(error) = socket.send_to(reply, peer).await {
        debug!(%error, %peer, "could not send a UDP response");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (UdpSocket, UdpSocket) {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        (server, client)
    }

    #[tokio::test]
    async fn a_receive_takes_every_waiting_datagram_and_a_flush_answers_them_all() {
        let (server, client) = pair().await;
        let server_addr = server.local_addr().unwrap();
        const SENT: u8 = 40;
        for i in 0..SENT {
            client.send_to(&[i; 3], server_addr).await.unwrap();
        }
        // Loopback queues a datagram during its send; a loaded machine may still hand some
        // over a moment later, so the receives go on until all have come.
        let (mut inbox, mut outbox) = (Inbox::default(), Outbox::default());
        let client_addr = client.local_addr().unwrap();
        let mut firsts = Vec::new();
        let mut receives = Vec::new();
        while firsts.len() < usize::from(SENT) {
            server.readable().await.unwrap();
            match inbox.receive(&server) {
                Ok(count) => receives.push(count),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) => panic!("{error}"),
            }
            for datagram in inbox.datagrams() {
                assert_eq!(
                    (datagram.peer, datagram.bytes.len(), datagram.cut),
                    (client_addr, 3, false)
                );
                firsts.push(datagram.bytes[0]);
                outbox.push(vec![datagram.bytes[0], 0xAA], datagram.peer);
            }
        }
        assert_eq!(firsts, (0..SENT).collect::<Vec<u8>>(), "in arrival order");
        // One datagram per system call would take 40 receives.
        assert!(receives.iter().all(|&count| count <= BATCH), "{receives:?}");
        assert!(receives.len() <= 4, "not batched: {receives:?}");

        outbox.flush(&server).await;
        assert!(outbox.replies.is_empty());
        let mut buffer = [0u8; 16];
        for i in 0..SENT {
            let (length, from) = client.recv_from(&mut buffer).await.unwrap();
            assert_eq!((&buffer[..length], from), (&[i, 0xAA][..], server_addr));
        }
        assert_eq!(
            inbox.receive(&server).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    }

    #[tokio::test]
    async fn a_datagram_longer_than_a_slot_arrives_cut() {
        let (server, client) = pair().await;
        client
            .send_to(&vec![7u8; SLOT + 100], server.local_addr().unwrap())
            .await
            .unwrap();
        server.readable().await.unwrap();
        let mut inbox = Inbox::default();
        assert_eq!(inbox.receive(&server).unwrap(), 1);
        let datagram = inbox.datagrams().next().unwrap();
        assert!(datagram.cut);
        assert_eq!(datagram.bytes.len(), SLOT);
    }

    #[tokio::test]
    async fn an_unreachable_peer_loses_its_answer_and_not_the_others() {
        let (server, client) = pair().await;
        let mut outbox = Outbox::default();
        // Port 0 is refused by the kernel (EINVAL) for this datagram only.
        outbox.push(vec![1], "127.0.0.1:0".parse().unwrap());
        outbox.push(vec![2], client.local_addr().unwrap());
        outbox.flush(&server).await;
        let mut buffer = [0u8; 4];
        let (length, _) = client.recv_from(&mut buffer).await.unwrap();
        assert_eq!(&buffer[..length], [2]);
    }
}
