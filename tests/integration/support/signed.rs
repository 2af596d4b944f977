//! A loopback upstream serving a DNSSEC-signed zone made in the test: `test.` signed with a
//! fresh ECDSA P-256 key (its DNSKEY is the trust anchor a test gives hush), with a secure name,
//! a name whose signature is broken (bogus), a secure NODATA, and an unsigned child zone
//! `plain.test.` whose insecure delegation is proven by a signed NSEC.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::dnssec::crypto::EcdsaSigningKey;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, NSEC, RRSIG, SigInput};
use hickory_proto::dnssec::{Algorithm, SigningKey, TBS};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo, Server};

/// Addresses of the zone's names.
pub const SECURE_ADDRESS: &str = "192.0.2.1";
pub const BOGUS_ADDRESS: &str = "192.0.2.2";
pub const INSECURE_ADDRESS: &str = "192.0.2.3";

struct SignedZone {
    key: EcdsaSigningKey,
    dnskey: DNSKEY,
    apex: Name,
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

impl SignedZone {
    /// The RRSIG over `rrset` (one name, type and class), valid from an hour ago for a day;
    /// `broken` flips a byte of the signature.
    fn signature(&self, rrset: &[Record], broken: bool) -> Record {
        let first = &rrset[0];
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32;
        let input = SigInput {
            type_covered: first.record_type(),
            algorithm: self.key.algorithm(),
            num_labels: first.name.num_labels(),
            original_ttl: first.ttl,
            sig_expiration: SerialNumber::new(now + 86_400),
            sig_inception: SerialNumber::new(now - 3_600),
            key_tag: self.dnskey.calculate_key_tag().unwrap(),
            signer_name: self.apex.clone(),
        };
        let tbs = TBS::from_input(&first.name, DNSClass::IN, &input, rrset.iter()).unwrap();
        let mut signature = self.key.sign(&tbs).unwrap();
        if broken {
            signature[5] ^= 0xff;
        }
        Record::from_rdata(
            first.name.clone(),
            first.ttl,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, signature))),
        )
    }

    fn signed(&self, mut rrset: Vec<Record>) -> Vec<Record> {
        let signature = self.signature(&rrset, false);
        rrset.push(signature);
        rrset
    }

    fn soa(&self) -> Vec<Record> {
        let soa = SOA::new(name("ns.test."), name("h.test."), 1, 3600, 600, 86400, 60);
        self.signed(vec![Record::from_rdata(
            self.apex.clone(),
            60,
            RData::SOA(soa),
        )])
    }

    /// A signed NSEC at `owner` saying which types exist there, for NODATA and the proof that
    /// `plain.test.` has no DS.
    fn nsec(&self, owner: &str, next: &str, types: &[RecordType]) -> Vec<Record> {
        let nsec = NSEC::new_cover_self(name(next), types.iter().copied());
        self.signed(vec![Record::from_rdata(
            name(owner),
            300,
            RData::DNSSEC(DNSSECRData::NSEC(nsec)),
        )])
    }

    fn answer(
        &self,
        owner: &str,
        query_type: RecordType,
    ) -> (ResponseCode, Vec<Record>, Vec<Record>) {
        let record = |rdata: RData| Record::from_rdata(name(owner), 300, rdata);
        let address = |text: &str| record(RData::A(A(text.parse().unwrap())));
        use RecordType as T;
        let answer = |records| (ResponseCode::NoError, records, Vec::new());
        match (owner, query_type) {
            ("test.", T::DNSKEY) => answer(self.signed(vec![record(RData::DNSSEC(
                DNSSECRData::DNSKEY(self.dnskey.clone()),
            ))])),
            ("test.", T::NS) => answer(self.signed(vec![record(RData::NS(NS(name("ns.test."))))])),
            ("www.signed.test.", T::A) => answer(self.signed(vec![address(SECURE_ADDRESS)])),
            ("bad.signed.test.", T::A) => {
                let rrset = vec![address(BOGUS_ADDRESS)];
                let broken = self.signature(&rrset, true);
                answer(vec![rrset[0].clone(), broken])
            }
            ("www.signed.test.", _) => {
                let mut authorities = self.soa();
                authorities.extend(self.nsec("www.signed.test.", "test.", &[T::A]));
                (ResponseCode::NoError, Vec::new(), authorities)
            }
            ("plain.test.", T::NS) => answer(vec![record(RData::NS(NS(name("ns.plain.test."))))]),
            ("plain.test.", T::DS) => {
                let mut authorities = self.soa();
                authorities.extend(self.nsec("plain.test.", "signed.test.", &[T::NS]));
                (ResponseCode::NoError, Vec::new(), authorities)
            }
            ("www.plain.test.", T::A) => answer(vec![address(INSECURE_ADDRESS)]),
            // Empty non-terminals and names the validator probes on its way up.
            _ => (ResponseCode::NoError, Vec::new(), Vec::new()),
        }
    }
}

struct SignedHandler(Arc<SignedZone>);

#[async_trait::async_trait]
impl RequestHandler for SignedHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        let query = request.queries.queries()[0].clone();
        let owner = query.name().to_string().to_ascii_lowercase();
        let zone_reply = self.0.answer(&owner, query.query_type());
        super::send_authoritative(request, response_handle, zone_reply).await
    }
}

/// The signed upstream, and the trust anchor line for its key.
pub struct SignedUpstream {
    pub addr: SocketAddr,
    /// `test. 3600 IN DNSKEY …`: the content of a `dns.trust_anchors` file.
    pub anchor: String,
    _server: Server<SignedHandler>,
}

impl SignedUpstream {
    pub async fn start() -> Self {
        let algorithm = Algorithm::ECDSAP256SHA256;
        let pkcs8 = EcdsaSigningKey::generate_pkcs8(algorithm).unwrap();
        let key = EcdsaSigningKey::from_pkcs8(&pkcs8, algorithm).unwrap();
        let dnskey = DNSKEY::from_key(&key.to_public_key().unwrap());
        let anchor = format!("test. 3600 IN DNSKEY {dnskey}\n");
        let zone = SignedZone {
            key,
            dnskey,
            apex: name("test."),
        };
        let (udp, addr, tcp) = super::bind_udp_and_tcp().await;
        let mut server = Server::new(SignedHandler(Arc::new(zone)));
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 16);
        Self {
            addr,
            anchor,
            _server: server,
        }
    }
}
