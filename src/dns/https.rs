//! DNS over HTTPS (RFC 8484) at `/dns-query`: `POST` with an `application/dns-message` body or
//! `GET` with the message base64url-encoded in `?dns=`, over HTTP/1.1 or HTTP/2 (chosen by ALPN)
//! on TLS, several requests per connection. `/dns-query/<device>` names the device. Each answer
//! comes from the same [`DnsHandler`] as every other transport. Connections are bounded like
//! TCP's: at most `dns.max_tcp_connections`, a handshake or a connection silent for
//! `dns.tcp_idle_timeout` is closed, and on shutdown requests under way are answered first.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use hickory_proto::op::{Message, MessageType};
use hickory_server::net::xfer::Protocol as WireProtocol;
use hickory_server::server::Request as DnsRequest;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use super::accept::Acceptor;
use super::arrival::{Arrival, DeviceName, Protocol};
use super::handler::DnsHandler;
use super::stream::Limits;

/// The path DNS messages are served at.
pub const PATH: &str = "/dns-query";
const DNS_MESSAGE: &str = "application/dns-message";
/// The largest request body taken: a DNS message is at most 64 KiB.
pub const MAX_BODY: usize = 65_535;

/// Starts serving DNS over HTTPS on `listener`.
pub fn serve(
    listener: TcpListener,
    handler: Arc<DnsHandler>,
    limits: Limits,
    acceptor: TlsAcceptor,
) -> Acceptor {
    Acceptor::start(
        listener,
        limits.max_connections,
        move |stream, peer, stopped| {
            let (handler, acceptor) = (Arc::clone(&handler), acceptor.clone());
            async move {
                let Ok(Ok(tls)) = tokio::time::timeout(limits.idle, acceptor.accept(stream)).await
                else {
                    debug!(%peer, "TLS handshake failed or timed out");
                    return;
                };
                serve_connection(tls, peer, handler, limits.idle, stopped).await;
            }
        },
    )
}

/// Serves HTTP on one TLS connection until the client closes it, it stays silent for `idle`,
/// or hush stops.
async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    peer: SocketAddr,
    handler: Arc<DnsHandler>,
    idle: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let service = hyper::service::service_fn(move |request| {
        let handler = Arc::clone(&handler);
        async move { Ok::<_, std::convert::Infallible>(respond(request, peer, &handler).await) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        let quiet_for = activity.quiet_for();
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    debug!(%peer, %error, "HTTPS connection ended with an error");
                }
                return;
            }
            _ = stopped.changed(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep(idle.saturating_sub(quiet_for)), if !closing => {
                if activity.quiet_for() >= idle {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// The answer to one HTTP request.
async fn respond(
    request: Request<Incoming>,
    peer: SocketAddr,
    handler: &DnsHandler,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = if parts.method == Method::POST {
        match Limited::new(body, MAX_BODY).collect().await {
            Ok(body) => body.to_bytes(),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                return plain(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "a DNS message is at most 64 KiB",
                );
            }
            Err(_) => return plain(StatusCode::BAD_REQUEST, "the body could not be read"),
        }
    } else {
        Bytes::new()
    };
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    match read_query(&parts.method, &parts.uri, content_type, &body, peer) {
        Ok((query, arrival)) => match handler.answer(&query, &arrival).await {
            Some(answer) => dns_response(answer),
            None => plain(StatusCode::BAD_REQUEST, "the query could not be answered"),
        },
        Err(refusal) => refusal.response(),
    }
}

/// Why a request is not a DNS query hush answers, as HTTP says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    MethodNotAllowed,
    UnsupportedMediaType,
    BadRequest(&'static str),
}

impl Refusal {
    fn response(self) -> Response<Full<Bytes>> {
        match self {
            Self::NotFound => plain(
                StatusCode::NOT_FOUND,
                "not found; DNS is served at /dns-query",
            ),
            Self::MethodNotAllowed => {
                let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST");
                response
                    .headers_mut()
                    .insert(ALLOW, hyper::header::HeaderValue::from_static("GET, POST"));
                response
            }
            Self::UnsupportedMediaType => plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected Content-Type: application/dns-message",
            ),
            Self::BadRequest(why) => plain(StatusCode::BAD_REQUEST, why),
        }
    }
}

/// The DNS query in an HTTP request (method, URI, content type and a body already read and
/// limited), and how it arrived; or why there is none. No I/O: the fuzzer calls it too.
pub fn read_query(
    method: &Method,
    uri: &hyper::Uri,
    content_type: Option<&str>,
    body: &[u8],
    peer: SocketAddr,
) -> Result<(DnsRequest, Arrival), Refusal> {
    let device = match uri.path().strip_prefix(PATH) {
        Some("" | "/") => None,
        // A path segment that is no device name is served all the same, without a name.
        Some(rest) if rest.starts_with('/') => DeviceName::parse(&rest[1..]),
        _ => return Err(Refusal::NotFound),
    };
    let message = match *method {
        Method::GET => dns_parameter(uri.query()).ok_or(Refusal::BadRequest(
            "expected ?dns= with a base64url DNS message",
        ))?,
        Method::POST => {
            let media_type = content_type.and_then(|value| value.split(';').next());
            if !media_type.is_some_and(|kind| kind.trim().eq_ignore_ascii_case(DNS_MESSAGE)) {
                return Err(Refusal::UnsupportedMediaType);
            }
            body.to_vec()
        }
        _ => return Err(Refusal::MethodNotAllowed),
    };
    match DnsRequest::from_bytes(message, peer, WireProtocol::Tcp) {
        Ok(query) if query.metadata.message_type == MessageType::Query => Ok((
            query,
            Arrival {
                protocol: Protocol::Https,
                device,
            },
        )),
        _ => Err(Refusal::BadRequest("the body is not a DNS query")),
    }
}

/// The DNS message in a GET request's `dns` parameter (base64url, padding optional).
fn dns_parameter(query: Option<&str>) -> Option<Vec<u8>> {
    let value = query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("dns="))?;
    URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')).ok()
}

/// A 200 carrying `answer`, cacheable for as long as its shortest TTL (RFC 8484 §5.1).
fn dns_response(answer: Vec<u8>) -> Response<Full<Bytes>> {
    let shortest_ttl = Message::from_vec(&answer).ok().and_then(|message| {
        message
            .answers
            .iter()
            .chain(&message.authorities)
            .map(|record| record.ttl)
            .min()
    });
    let mut response = Response::new(Full::new(Bytes::from(answer)));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(DNS_MESSAGE),
    );
    if let Some(ttl) = shortest_ttl
        && let Ok(value) = hyper::header::HeaderValue::from_str(&format!("max-age={ttl}"))
    {
        headers.insert(CACHE_CONTROL, value);
    }
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// When a connection last moved a byte, so a silent one can be closed.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// A stream that notes every read and write in its [`Activity`].
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(context, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(context, data);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_parameters_decode_base64url_with_or_without_padding() {
        assert_eq!(dns_parameter(Some("dns=AAE")), Some(vec![0, 1]));
        assert_eq!(dns_parameter(Some("ct=x&dns=AAE=")), Some(vec![0, 1]));
        assert_eq!(
            dns_parameter(Some("dns=A+E")),
            None,
            "standard base64 is not base64url"
        );
        assert_eq!(dns_parameter(Some("other=1")), None);
        assert_eq!(dns_parameter(None), None);
    }
}
