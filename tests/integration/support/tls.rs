//! TLS for the encrypted-serving tests: a certificate authority made in the test, server
//! certificates it signs (written as PEM files for `tls.cert`/`tls.key`), and a DNS-over-TLS
//! client that trusts it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_proto::op::Message;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::TIMEOUT;

/// A certificate authority of the test's own.
pub struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "hush test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        Self {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes a certificate for `names` (and their one-label subdomains) signed by this CA to
    /// `<dir>/<stem>.crt` and its key to `<dir>/<stem>.key`; returns both paths and the
    /// certificate's DER.
    pub fn issue(&self, dir: &Path, stem: &str, names: &[&str]) -> (PathBuf, PathBuf, Vec<u8>) {
        let subjects: Vec<String> = names
            .iter()
            .flat_map(|name| [name.to_string(), format!("*.{name}")])
            .collect();
        let params = rcgen::CertificateParams::new(subjects).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_path, key_path) = (
            dir.join(format!("{stem}.crt")),
            dir.join(format!("{stem}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path, cert.der().to_vec())
    }

    /// A client config trusting this CA (and `extra` certificates), offering `alpn`.
    pub fn client_config(
        &self,
        extra: &[CertificateDer<'static>],
        alpn: &[&[u8]],
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        for cert in extra {
            roots.add(cert.clone()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        Arc::new(config)
    }
}

/// A DNS-over-TLS connection.
pub struct DotClient {
    stream: TlsStream<TcpStream>,
}

impl DotClient {
    /// Connects to `addr` asking for `server_name`.
    pub async fn connect(
        addr: SocketAddr,
        server_name: &str,
        config: Arc<rustls::ClientConfig>,
    ) -> std::io::Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from(server_name.to_owned()).unwrap();
        let stream = tokio::time::timeout(TIMEOUT, TlsConnector::from(config).connect(name, tcp))
            .await
            .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
        Ok(Self { stream })
    }

    /// The certificate the server presented.
    pub fn server_certificate(&self) -> Vec<u8> {
        self.stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    }

    /// Sends `message` and reads one answer.
    pub async fn exchange(&mut self, message: &Message) -> std::io::Result<Message> {
        let bytes = message.to_vec().unwrap();
        let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        self.stream.write_all(&framed).await?;
        let mut length = [0u8; 2];
        tokio::time::timeout(TIMEOUT, self.stream.read_exact(&mut length))
            .await
            .map_err(|_| std::io::Error::other("no answer in time"))??;
        let mut answer = vec![0u8; usize::from(u16::from_be_bytes(length))];
        self.stream.read_exact(&mut answer).await?;
        Ok(Message::from_vec(&answer).unwrap())
    }
}
