//! DNS over TCP (RFC 7766), served by hush's own accept loop so that the
//! number of open connections is bounded: past `dns.max_tcp_connections` a new connection is
//! closed at once, and a connection that sends no complete query within `dns.tcp_idle_timeout`
//! is closed, so silent or slow clients cannot pin sockets and tasks. Each connection carries
//! any number of queries, answered in order through the same [`DnsHandler`] as UDP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::MessageType;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tracing::debug;

use super::handler::{DnsHandler, unreadable};

/// Accepts connections on `listener` until the task is aborted.
pub fn serve(
    listener: TcpListener,
    handler: Arc<DnsHandler>,
    max_connections: usize,
    idle: Duration,
) -> JoinHandle<()> {
    let slots = Arc::new(Semaphore::new(max_connections));
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    debug!(%error, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                debug!(%peer, "TCP connection limit reached; closing");
                continue;
            };
            let handler = Arc::clone(&handler);
            tokio::spawn(async move {
                connection(stream, peer, &handler, idle).await;
                drop(slot);
            });
        }
    })
}

async fn connection(stream: TcpStream, peer: SocketAddr, handler: &DnsHandler, idle: Duration) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    loop {
        let mut length = [0u8; 2];
        let read = tokio::time::timeout(idle, async {
            reader.read_exact(&mut length).await?;
            let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
            reader.read_exact(&mut message).await?;
            Ok::<_, std::io::Error>(message)
        });
        let message = match read.await {
            Ok(Ok(message)) => message,
            // Closed by the client, idle too long, or a broken frame: done with this connection.
            Ok(Err(_)) | Err(_) => return,
        };
        let reply = match Request::from_bytes(message.clone(), peer, Protocol::Tcp) {
            Ok(request) if request.metadata.message_type == MessageType::Query => {
                handler.answer(&request).await
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
async fn write_framed(writer: &mut OwnedWriteHalf, message: &[u8]) -> std::io::Result<()> {
    let length = u16::try_from(message.len()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "response over 64 KiB")
    })?;
    writer.write_all(&length.to_be_bytes()).await?;
    writer.write_all(message).await
}
