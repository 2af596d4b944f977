//! DNS over TCP (RFC 7766) and over TLS (RFC 7858): length-prefixed messages on a byte stream,
//! served by hush's own accept loop so that the number of open connections is bounded: past
//! `dns.max_tcp_connections` a new connection is closed at once, and a connection that sends no
//! complete query (or, over TLS, finishes no handshake) within `dns.tcp_idle_timeout` is
//! closed, so silent or slow clients cannot pin sockets and tasks. Each connection carries any
//! number of queries, answered in order through the same [`DnsHandler`] as UDP. A TLS client
//! that sends the server name `<device>.<one of tls.names>` names its device. On shutdown the
//! accept loop stops, connections waiting for their next query close, and a query being
//! answered is answered first, as UDP drains its forwarded queries.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::MessageType;
use hickory_server::net::xfer::Protocol as WireProtocol;
use hickory_server::server::Request;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use super::accept::Acceptor;
use super::arrival::{Arrival, DeviceName, Protocol};
use super::handler::{DnsHandler, unreadable};

/// How connections are opened before queries flow.
#[derive(Clone)]
pub enum Security {
    /// Plain TCP.
    Plain,
    /// A TLS handshake first, with `names` (`tls.names`) for device names.
    Tls {
        acceptor: TlsAcceptor,
        names: Arc<[String]>,
    },
}

/// The limits every stream listener applies.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub idle: Duration,
}

/// Starts serving DNS over TCP (or TLS, by `security`) on `listener`.
pub fn serve(
    listener: TcpListener,
    handler: Arc<DnsHandler>,
    limits: Limits,
    security: Security,
) -> Acceptor {
    Acceptor::start(
        listener,
        limits.max_connections,
        move |stream, peer, stopped| {
            let (handler, security) = (Arc::clone(&handler), security.clone());
            async move {
                let idle = limits.idle;
                match security {
                    Security::Plain => {
                        connection(stream, peer, &handler, idle, stopped, Arrival::TCP).await
                    }
                    Security::Tls { acceptor, names } => {
                        // A handshake that does not finish within the idle time is given up, so a
                        // slow client holds its slot no longer than a silent one.
                        let Ok(Ok(tls)) = tokio::time::timeout(idle, acceptor.accept(stream)).await
                        else {
                            debug!(%peer, "TLS handshake failed or timed out");
                            return;
                        };
                        let device = tls
                            .get_ref()
                            .1
                            .server_name()
                            .and_then(|name| DeviceName::from_server_name(name, &names));
                        let arrival = Arrival {
                            protocol: Protocol::Tls,
                            device,
                        };
                        connection(tls, peer, &handler, idle, stopped, arrival).await;
                    }
                }
            }
        },
    )
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    peer: SocketAddr,
    handler: &DnsHandler,
    idle: Duration,
    mut stopped: watch::Receiver<bool>,
    arrival: Arrival,
) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    loop {
        let mut length = [0u8; 2];
        // Between queries the connection may be closed for shutdown; once a query has begun to
        // arrive it is read and answered (within the idle timeout).
        let started = tokio::select! {
            biased;
            _ = stopped.changed() => return,
            started = tokio::time::timeout(idle, reader.read_exact(&mut length)) => started,
        };
        if !matches!(started, Ok(Ok(_))) {
            // Closed by the client, idle too long, or a broken frame: done with this connection.
            return;
        }
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
        match tokio::time::timeout(idle, reader.read_exact(&mut message)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => return,
        }
        let reply = match Request::from_bytes(message.clone(), peer, WireProtocol::Tcp) {
            Ok(request) if request.metadata.message_type == MessageType::Query => {
                handler.answer(&request, &arrival).await
            }
            // A response sent to a server is dropped, as for UDP.
            Ok(_) => None,
            Err(_) => unreadable(&message),
        };
        if let Some(reply) = reply
            && write_framed(&mut writer, &reply).await.is_err()
        {
            return;
        }
    }
}

/// Writes one length-prefixed message (RFC 1035 §4.2.2).
async fn write_framed<W: AsyncWrite + Unpin>(
    writer: &mut W,
    message: &[u8],
) -> std::io::Result<()> {
    let length = u16::try_from(message.len()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "response over 64 KiB")
    })?;
    // One write per message: over TLS two writes would be two records.
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(message);
    writer.write_all(&framed).await?;
    writer.flush().await
}
