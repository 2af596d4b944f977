//! Listening sockets: UDP and TCP on every `dns.listen` address, bound here (IPv6 sockets are
//! v6-only so `0.0.0.0:53` and `[::]:53` can coexist) and handed to [`super::udp`] and
//! [`super::tcp`]. Bind
//! failures come back as messages that say what to do about them.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};

/// Kernel receive buffer asked for on UDP sockets: a burst of queries (a phone waking up, a TV
/// starting) must not overflow the default ~200 KB buffer, which holds only a few hundred
/// datagrams. The kernel caps it at `net.core.rmem_max`.
const UDP_RECEIVE_BUFFER: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(
        "cannot listen on {addr}: permission denied. Ports below 1024 need root or CAP_NET_BIND_SERVICE \
         (e.g. `sudo setcap cap_net_bind_service=+ep $(which hush)`), or pick a port above 1024 in dns.listen"
    )]
    Privileged { addr: SocketAddr },
    #[error(
        "cannot listen on {addr}: the address is in use. Another DNS server holds it \
         (on port 53 often systemd-resolved: set DNSStubListener=no in /etc/systemd/resolved.conf), \
         or pick another dns.listen address"
    )]
    InUse { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Other { addr: SocketAddr, source: io::Error },
}

impl BindError {
    fn new(addr: SocketAddr, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::PermissionDenied => Self::Privileged { addr },
            io::ErrorKind::AddrInUse => Self::InUse { addr },
            _ => Self::Other { addr, source },
        }
    }

    /// True when the host simply has no IPv6 (or no such address): worth a warning, not a stop,
    /// when another listener is up.
    pub fn is_address_unavailable(&self) -> bool {
        match self {
            Self::Other { source, .. } => {
                source.kind() == io::ErrorKind::AddrNotAvailable
                    || source.raw_os_error() == Some(97) // EAFNOSUPPORT
            }
            _ => false,
        }
    }
}

/// A bound UDP socket and TCP listener sharing one address.
pub struct BoundPair {
    pub addr: SocketAddr,
    pub udp: UdpSocket,
    pub tcp: TcpListener,
}

/// Binds UDP then TCP on `addr`. With port 0 the TCP listener takes the port the UDP socket got,
/// so both protocols share one address as clients expect; if that TCP port is taken, another
/// port is tried.
pub fn bind_pair(addr: SocketAddr) -> Result<BoundPair, BindError> {
    const EPHEMERAL_ATTEMPTS: usize = 20;
    let mut attempts = 0;
    loop {
        let udp = bind_udp(addr).map_err(|err| BindError::new(addr, err))?;
        let bound = udp.local_addr().map_err(|err| BindError::new(addr, err))?;
        match bind_tcp(bound) {
            Ok(tcp) => {
                return Ok(BoundPair {
                    addr: bound,
                    udp,
                    tcp,
                });
            }
            Err(err)
                if addr.port() == 0
                    && err.kind() == io::ErrorKind::AddrInUse
                    && attempts < EPHEMERAL_ATTEMPTS =>
            {
                attempts += 1;
            }
            Err(err) => return Err(BindError::new(bound, err)),
        }
    }
}

fn new_socket(addr: SocketAddr, kind: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), kind, Some(protocol))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = new_socket(addr, Type::DGRAM, Protocol::UDP)?;
    socket.set_recv_buffer_size(UDP_RECEIVE_BUFFER)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Binds a TCP listener alone, for DNS over TLS and over HTTPS.
pub fn bind_stream(addr: SocketAddr) -> Result<TcpListener, BindError> {
    bind_tcp(addr).map_err(|err| BindError::new(addr, err))
}

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = new_socket(addr, Type::STREAM, Protocol::TCP)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}
