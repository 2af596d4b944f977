//! The DNS front door: hickory-server hands each request here. The handler checks the message is
//! a query hush serves, runs the [`Pipeline`], encodes the reply with the right header bits and
//! EDNS, and emits one [`QueryEvent`] for the query history.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use hickory_proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::Record;
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tracing::debug;

use super::metrics::DnsMetrics;
use super::outcome::{EventSink, QueryEvent};
use super::pipeline::Pipeline;
use super::reply::Reply;

/// The largest UDP payload hush sends, whatever a client advertises (RFC 6891 §6.2.5 allows the
/// responder to choose; 4096 is the classic EDNS maximum).
const MAX_UDP_PAYLOAD: u16 = 4096;
/// The smallest, from RFC 1035 (and RFC 6891 §6.2.3 for advertised values below it).
const MIN_UDP_PAYLOAD: u16 = 512;

/// Cheap to clone: UDP (hickory-server) and TCP ([`super::tcp`]) each hold one.
#[derive(Clone)]
pub struct DnsHandler {
    pub pipeline: Arc<Pipeline>,
    pub events: Arc<EventSink>,
    pub metrics: Arc<DnsMetrics>,
}

#[async_trait::async_trait]
impl RequestHandler for DnsHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        let started = Instant::now();
        let response_edns = match &request.edns {
            // RFC 6891 §6.1.3: an unknown EDNS version gets BADVERS, with our version (0).
            Some(edns) if edns.version() > 0 => {
                return send(
                    request,
                    response_handle,
                    &Reply::empty(ResponseCode::BADVERS),
                    Some(Edns::new()),
                )
                .await;
            }
            Some(edns) => {
                let mut ours = Edns::new();
                ours.set_max_payload(edns.max_payload().clamp(MIN_UDP_PAYLOAD, MAX_UDP_PAYLOAD));
                Some(ours)
            }
            None => None,
        };
        if request.metadata.op_code != OpCode::Query {
            return send(
                request,
                response_handle,
                &Reply::empty(ResponseCode::NotImp),
                response_edns,
            )
            .await;
        }
        let Ok(info) = request.request_info() else {
            // Zero or several questions: RFC 9619 allows exactly one.
            return send(
                request,
                response_handle,
                &Reply::empty(ResponseCode::FormErr),
                response_edns,
            )
            .await;
        };
        let client = info.src.ip();
        let query = info.query;
        let resolution = self.pipeline.resolve(client, query).await;
        let response_info = send(request, response_handle, &resolution.reply, response_edns).await;
        let duration = started.elapsed();
        self.metrics.record(&resolution.outcome, duration);
        self.events.emit(QueryEvent {
            time: SystemTime::now(),
            client: client.to_canonical(),
            name: query.name().clone(),
            query_type: query.query_type(),
            outcome: resolution.outcome,
            rcode: resolution.reply.rcode,
            duration,
        });
        response_info
    }
}

/// Encodes and sends `reply`. The question is copied from the request bytes, so the client's
/// letter case is kept; RA is set (hush recurses for its clients), RD and the ID are echoed.
async fn send<R: ResponseHandler>(
    request: &Request,
    mut response_handle: R,
    reply: &Reply,
    edns: Option<Edns>,
) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.recursion_available = true;
    metadata.authoritative = false;
    metadata.response_code = reply.rcode;
    let mut builder = MessageResponseBuilder::from_message_request(request);
    if let Some(edns) = &edns {
        builder.edns(edns);
    }
    let no_records: [&Record; 0] = [];
    let response = builder.build(
        metadata,
        reply.answers.iter(),
        reply.authorities.iter(),
        no_records,
        no_records,
    );
    match response_handle.send_response(response).await {
        Ok(info) => info,
        Err(error) => {
            debug!(%error, client = %request.src(), "could not send a response");
            ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            })
        }
    }
}
