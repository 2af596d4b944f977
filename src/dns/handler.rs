//! The DNS front door, shared by the UDP and TCP listeners: checks a request is a query hush
//! serves, runs the [`Pipeline`], encodes the reply with the right header bits and EDNS, and
//! emits one [`QueryEvent`] for the query history. Answering is split like the pipeline: what
//! needs no upstream is answered synchronously by [`DnsHandler::answer_locally`] (the UDP
//! listener does that inline, without a task), the rest by [`DnsHandler::answer_forwarded`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;
use hickory_server::zone_handler::MessageResponseBuilder;
use tracing::debug;

use super::arrival::{Arrival, DeviceName};
use super::cache::CacheHit;
use super::metrics::DnsMetrics;
use super::outcome::{EventSink, QueryEvent};
use super::pipeline::{Answer, Forward, Pipeline, Resolution};
use super::reply::Reply;

/// The largest UDP payload hush sends, whatever a client advertises (RFC 6891 §6.2.5 allows the
/// responder to choose; 4096 is the classic EDNS maximum).
const MAX_UDP_PAYLOAD: u16 = 4096;
/// The smallest, from RFC 1035 (and RFC 6891 §6.2.3 for advertised values below it).
const MIN_UDP_PAYLOAD: u16 = 512;
/// The EDNS option code of an extended DNS error (RFC 8914 §2).
const EXTENDED_ERROR_OPTION: u16 = 15;

/// Cheap to clone: every listener holds one.
#[derive(Clone)]
pub struct DnsHandler {
    pub pipeline: Arc<Pipeline>,
    pub events: Arc<EventSink>,
    pub metrics: Arc<DnsMetrics>,
}

/// A request that must wait for an upstream, with what was worked out before it.
#[derive(Debug)]
pub struct Deferred {
    started: Instant,
    client: IpAddr,
    edns: Option<Edns>,
    forward: Forward,
    arrival: Arrival,
}

impl DnsHandler {
    /// The response bytes for `request` (`None` when there is nothing to send), whatever it
    /// takes; for TCP, where each connection's queries are answered in order anyway.
    pub async fn answer(&self, request: &Request, arrival: &Arrival) -> Option<Vec<u8>> {
        match self.answer_locally(request, arrival) {
            Ok(bytes) => bytes,
            Err(deferred) => self.answer_forwarded(request, deferred).await,
        }
    }

    /// Answers `request` if that needs no upstream: malformed or unsupported requests,
    /// refusals, blocks, ANY and cache hits. `Err` hands the rest to
    /// [`DnsHandler::answer_forwarded`].
    pub fn answer_locally(
        &self,
        request: &Request,
        arrival: &Arrival,
    ) -> Result<Option<Vec<u8>>, Deferred> {
        let started = Instant::now();
        let edns = match &request.edns {
            // RFC 6891 §6.1.3: an unknown EDNS version gets BADVERS, with our version (0).
            Some(edns) if edns.version() > 0 => {
                return Ok(encode(
                    request,
                    &Reply::empty(ResponseCode::BADVERS),
                    Some(&Edns::new()),
                ));
            }
            Some(edns) => {
                let mut ours = Edns::new();
                ours.set_max_payload(edns.max_payload().clamp(MIN_UDP_PAYLOAD, MAX_UDP_PAYLOAD));
                // RFC 3225 §3: the DO bit of the query is copied into the response.
                ours.set_dnssec_ok(edns.flags().dnssec_ok);
                Some(ours)
            }
            None => None,
        };
        if request.metadata.op_code != OpCode::Query {
            let reply = Reply::empty(ResponseCode::NotImp);
            return Ok(encode(request, &reply, edns.as_ref()));
        }
        let Ok(info) = request.request_info() else {
            // Zero or several questions: RFC 9619 allows exactly one.
            let reply = Reply::empty(ResponseCode::FormErr);
            return Ok(encode(request, &reply, edns.as_ref()));
        };
        let client = info.src.ip();
        let device = arrival.device.as_ref().map(DeviceName::as_str);
        match self.pipeline.resolve_locally(client, device, info.query) {
            Ok(resolution) => Ok(self.finish(request, client, arrival, resolution, edns, started)),
            Err(forward) => Err(Deferred {
                started,
                client,
                edns,
                forward,
                arrival: arrival.clone(),
            }),
        }
    }

    /// Forwards a request [`DnsHandler::answer_locally`] deferred, and answers it.
    pub async fn answer_forwarded(&self, request: &Request, deferred: Deferred) -> Option<Vec<u8>> {
        let Ok(info) = request.request_info() else {
            return None;
        };
        let resolution = self.pipeline.forward(info.query, deferred.forward).await;
        self.finish(
            request,
            deferred.client,
            &deferred.arrival,
            resolution,
            deferred.edns,
            deferred.started,
        )
    }

    /// Encodes the answer, then counts it and emits its event.
    fn finish(
        &self,
        request: &Request,
        client: IpAddr,
        arrival: &Arrival,
        resolution: Resolution,
        edns: Option<Edns>,
        started: Instant,
    ) -> Option<Vec<u8>> {
        let bytes = match &resolution.answer {
            Answer::Built(reply) => encode(request, reply, edns.as_ref()),
            Answer::Cached(hit) => encode_cached(request, hit, edns.as_ref()),
        };
        let duration = started.elapsed();
        self.metrics
            .record(&resolution.outcome, arrival.protocol, duration);
        if let Ok(info) = request.request_info() {
            self.events.emit(QueryEvent {
                time: SystemTime::now(),
                client: client.to_canonical(),
                protocol: arrival.protocol,
                device: arrival.device.clone(),
                name: info.query.name().clone(),
                query_type: info.query.query_type(),
                outcome: resolution.outcome,
                rcode: resolution.answer.rcode(),
                duration,
            });
        }
        bytes
    }
}

/// The header of the response to `request` for an answer with `rcode`: RA set (hush recurses
/// for its clients), RD and the ID echoed, AA on hush's own records, AD on a `secure` answer
/// when the client showed it understands it, with DO or AD (RFC 6840 §5.7).
fn response_metadata(
    request: &Request,
    rcode: ResponseCode,
    authoritative: bool,
    secure: bool,
) -> Metadata {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.recursion_available = true;
    metadata.authoritative = authoritative;
    metadata.response_code = rcode;
    let asked_for_dnssec = request.metadata.authentic_data
        || request
            .edns
            .as_ref()
            .is_some_and(|edns| edns.flags().dnssec_ok);
    metadata.authentic_data = secure && asked_for_dnssec;
    metadata
}

/// The most bytes a response to `request` may take: over UDP what its OPT record allows (512
/// without one), elsewhere a whole message.
fn max_response_len(request: &Request, edns: Option<&Edns>) -> u16 {
    if request.protocol() == Protocol::Udp {
        edns.map_or(MIN_UDP_PAYLOAD, Edns::max_payload)
    } else {
        u16::MAX
    }
}

/// [`encode`] for a cache hit: from the records' bytes ([`super::wire`]) when they fit, through
/// the encoder when they do not (a response to truncate) or were not kept as bytes.
fn encode_cached(request: &Request, hit: &CacheHit, edns: Option<&Edns>) -> Option<Vec<u8>> {
    let stored = hit.stored();
    if let Some(records) = hit.encoded()
        && stored.extended_error.is_none()
    {
        let metadata = response_metadata(request, stored.rcode, stored.authoritative, hit.secure());
        let max_len = usize::from(max_response_len(request, edns));
        let question = request.queries.as_bytes();
        if let Some(bytes) = records.respond(metadata, question, |ttl| hit.ttl(ttl), edns, max_len)
        {
            return Some(bytes);
        }
    }
    encode(request, &hit.to_reply(), edns)
}

/// Encodes `reply` as the response to `request`, its header as [`response_metadata`] says. The
/// question is copied from the request bytes, so the client's letter case is kept; an extended
/// error rides in the OPT record. Over UDP the response is limited to the size its OPT record
/// allows (512 bytes without one) and truncated with TC past it.
fn encode(request: &Request, reply: &Reply, edns: Option<&Edns>) -> Option<Vec<u8>> {
    let metadata = response_metadata(request, reply.rcode, reply.authoritative, reply.secure);
    let mut builder = MessageResponseBuilder::from_message_request(request);
    let with_error;
    let edns = match (edns, reply.extended_error) {
        (Some(edns), Some(error)) => {
            let mut data = error.info_code().to_be_bytes().to_vec();
            data.extend_from_slice(error.extra_text().as_bytes());
            let mut ours = edns.clone();
            ours.options_mut()
                .insert(EdnsOption::Unknown(EXTENDED_ERROR_OPTION, data));
            with_error = ours;
            Some(&with_error)
        }
        (edns, _) => edns,
    };
    if let Some(edns) = edns {
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
    let mut bytes = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut bytes);
    encoder.set_max_size(max_response_len(request, edns));
    match response.destructive_emit(&mut encoder) {
        Ok(_) => Some(bytes),
        Err(error) => {
            debug!(%error, client = %request.src(), "could not encode a response");
            None
        }
    }
}

/// What to send back for bytes that are not a request hush can read: FORMERR for a query whose
/// header parses but whose body does not; nothing for responses (no reflection) or for less
/// than a header.
pub fn unreadable(message: &[u8]) -> Option<Vec<u8>> {
    let header = Header::read(&mut BinDecoder::new(message)).ok()?;
    if header.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut metadata = Metadata::new(header.metadata.id, MessageType::Response, OpCode::Query);
    metadata.response_code = ResponseCode::FormErr;
    Header {
        metadata,
        counts: HeaderCounts::default(),
    }
    .to_bytes()
    .ok()
}
