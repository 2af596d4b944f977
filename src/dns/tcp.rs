//! DNS over TCP (RFC 7766), served here rather than by hickory-server's listener so that the
//! number of open connections is bounded: past `dns.max_tcp_connections` a new connection is
//! closed at once, and a connection that sends no complete query within `dns.tcp_idle_timeout`
//! is closed, so silent or slow clients cannot pin sockets and tasks. Each connection carries
//! any number of queries, answered in order through the same [`DnsHandler`] as UDP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinHandle;
use tracing::debug;

use super::handler::DnsHandler;

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
    let (mut reader, writer) = stream.into_split();
    let writer = Responder(Arc::new(Mutex::new(writer)));
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
        match Request::from_bytes(message.clone(), peer, Protocol::Tcp) {
            Ok(request) if request.metadata.message_type == MessageType::Query => {
                handler
                    .handle_request::<_, TokioTime>(&request, writer.clone())
                    .await;
            }
            // A response sent to a server is dropped, as hickory does for UDP.
            Ok(_) => {}
            Err(_) => {
                if writer.form_error(&message).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Writes length-prefixed responses to one connection.
#[derive(Clone)]
struct Responder(Arc<Mutex<OwnedWriteHalf>>);

impl Responder {
    async fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        let length = u16::try_from(bytes.len()).unwrap_or(u16::MAX).to_be_bytes();
        let mut writer = self.0.lock().await;
        writer.write_all(&length).await?;
        writer
            .write_all(&bytes[..bytes.len().min(usize::from(u16::MAX))])
            .await
    }

    /// FORMERR for a message whose header parses but whose body does not; nothing for less.
    async fn form_error(&self, message: &[u8]) -> std::io::Result<()> {
        let Ok(header) = Header::read(&mut BinDecoder::new(message)) else {
            return Ok(());
        };
        if header.metadata.message_type != MessageType::Query {
            return Ok(());
        }
        let mut metadata = Metadata::new(header.metadata.id, MessageType::Response, OpCode::Query);
        metadata.response_code = ResponseCode::FormErr;
        let reply = Header {
            metadata,
            counts: HeaderCounts::default(),
        };
        match reply.to_bytes() {
            Ok(bytes) => self.write(&bytes).await,
            Err(_) => Ok(()),
        }
    }
}

/// Encodes a response for `protocol`: UDP answers are limited to the size the response's OPT
/// record allows (512 bytes without one) and truncated with TC past it, as hickory-server does.
pub fn encode<'a>(
    response: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    protocol: Protocol,
) -> Result<(ResponseInfo, Vec<u8>), NetError> {
    let mut bytes = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut bytes);
    if protocol == Protocol::Udp {
        encoder.set_max_size(response.edns().map_or(512, |edns| edns.max_payload()));
    }
    let info = response.destructive_emit(&mut encoder)?;
    Ok((info, bytes))
}

#[async_trait::async_trait]
impl ResponseHandler for Responder {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let (info, bytes) = encode(response, Protocol::Tcp)?;
        self.write(&bytes)
            .await
            .map_err(|err| NetError::from(err.to_string()))?;
        Ok(info)
    }
}
