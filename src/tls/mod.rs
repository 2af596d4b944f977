//! The server certificate for DNS over TLS and over HTTPS: the PEM pair of `tls.cert`/`tls.key`
//! (a missing, unreadable or mismatched pair is a config error), or, with none configured, a
//! self-signed certificate for `tls.names` made once and kept beside the database. The
//! certificate in force sits behind `arc-swap` (the same build-then-swap as the rules): a watch
//! reloads the pair when either file changes, as an ACME client's renewal does, keeps the
//! running one when the new one is bad, and every new connection gets the current one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// The self-signed certificate's file, in the database's folder.
pub const SELF_SIGNED_FILE: &str = "tls-self-signed.pem";
/// How often `tls.cert` and `tls.key` are looked at for a renewal.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no {what} in PEM form")]
    Missing { path: String, what: &'static str },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("the key in {key} does not belong to the certificate in {cert}")]
    Mismatch { cert: String, key: String },
    #[error("making a self-signed certificate in {path}: {message}")]
    SelfSigned { path: String, message: String },
}

impl TlsError {
    /// The config key the problem is about.
    pub fn config_key(&self, cert: &Path) -> &'static str {
        match self {
            Self::Read { path, .. } | Self::Missing { path, .. } | Self::Invalid { path, .. }
                if Path::new(path) == cert =>
            {
                "tls.cert"
            }
            Self::SelfSigned { .. } => "tls.names",
            _ => "tls.key",
        }
    }
}

/// The crypto of hush's TLS server: ring, as for its upstream client (naming it avoids
/// depending on which providers other crates link in).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS client config of `tls://` and `https://` upstreams that also trusts the
/// certificates in `extra_roots` (a PEM file) besides the public roots.
pub fn upstream_client_config(extra_roots: &Path) -> Result<rustls::ClientConfig, TlsError> {
    let bytes = read(extra_roots)?;
    let extra = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| invalid(extra_roots, err))?;
    if extra.is_empty() {
        return Err(TlsError::Missing {
            path: extra_roots.display().to_string(),
            what: "certificate",
        });
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra {
        roots.add(cert).map_err(|err| invalid(extra_roots, err))?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|err| invalid(extra_roots, err))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Reads and checks the pair at `cert` and `key` (one file may hold both).
pub fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let cert_bytes = read(cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| invalid(cert, err))?;
    if chain.is_empty() {
        return Err(TlsError::Missing {
            path: cert.display().to_string(),
            what: "certificate",
        });
    }
    let key_bytes = read(key)?;
    let private = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|err| match err {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Missing {
            path: key.display().to_string(),
            what: "private key",
        },
        other => invalid(key, other),
    })?;
    CertifiedKey::from_der(chain, private, &provider()).map_err(|err| match err {
        rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
            cert: cert.display().to_string(),
            key: key.display().to_string(),
        },
        other => invalid(key, other),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn invalid(path: &Path, err: impl std::fmt::Display) -> TlsError {
    TlsError::Invalid {
        path: path.display().to_string(),
        message: err.to_string(),
    }
}

/// The names a self-signed certificate covers: each name and its one-label subdomains (the
/// device names of clients), or the host name when no name is configured.
fn self_signed_names(names: &[String]) -> Vec<String> {
    let names = if names.is_empty() {
        vec![host_name()]
    } else {
        names.to_vec()
    };
    names
        .iter()
        .flat_map(|name| [name.clone(), format!("*.{name}")])
        .collect()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_ascii_lowercase())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "hush.local".to_owned())
}

/// The first line of the self-signed file: the names it was made for, so that a change of
/// `tls.names` makes a new certificate.
fn names_line(subjects: &[String]) -> String {
    format!("# hush self-signed certificate for: {}", subjects.join(" "))
}

/// The self-signed certificate for `names` kept in `file`: read back when it exists and was
/// made for exactly these names, made and written (readable by its owner only) otherwise.
pub fn self_signed(names: &[String], file: &Path) -> Result<CertifiedKey, TlsError> {
    let subjects = self_signed_names(names);
    let header = names_line(&subjects);
    let kept = std::fs::read_to_string(file)
        .ok()
        .filter(|text| text.lines().next() == Some(header.as_str()));
    if kept.is_some()
        && let Ok(pair) = load_pair(file, file)
    {
        return Ok(pair);
    }
    let failed = |message: String| TlsError::SelfSigned {
        path: file.display().to_string(),
        message,
    };
    let key = rcgen::KeyPair::generate().map_err(|err| failed(err.to_string()))?;
    let mut params =
        rcgen::CertificateParams::new(subjects).map_err(|err| failed(err.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hush (self-signed)");
    let cert = params
        .self_signed(&key)
        .map_err(|err| failed(err.to_string()))?;
    let text = format!("{header}\n{}{}", cert.pem(), key.serialize_pem());
    write_private(file, &text).map_err(|err| failed(err.to_string()))?;
    load_pair(file, file)
}

/// Writes `text` to `path` readable by its owner only (it holds a private key), replacing any
/// old file in one rename.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let partial = path.with_extension("partial");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&partial, path)
}

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned,
}

/// The certificate in force, swapped whole when the files change.
#[derive(Debug)]
pub struct Certificates {
    current: ArcSwap<CertifiedKey>,
    origin: Origin,
    /// `tls.names`: the names device names hang under.
    names: Vec<String>,
}

impl Certificates {
    /// The pair at `files` (certificate, key), or with none the self-signed certificate for
    /// `names` kept in `folder`.
    pub fn load(
        files: Option<(&Path, &Path)>,
        names: &[String],
        folder: &Path,
    ) -> Result<Self, TlsError> {
        let (pair, origin) = match files {
            Some((cert, key)) => (
                load_pair(cert, key)?,
                Origin::Files {
                    cert: cert.to_path_buf(),
                    key: key.to_path_buf(),
                },
            ),
            None => {
                let file = folder.join(SELF_SIGNED_FILE);
                let pair = self_signed(names, &file)?;
                warn!(
                    file = %file.display(),
                    "serving DNS over TLS/HTTPS with a self-signed certificate: fine for \
                     opportunistic clients, but strict ones (Android Private DNS, browsers) \
                     need a real certificate in tls.cert and tls.key"
                );
                (pair, Origin::SelfSigned)
            }
        };
        Ok(Self {
            current: ArcSwap::from_pointee(pair),
            origin,
            names: names.to_vec(),
        })
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// A server config over these certificates offering `alpn` (most preferred first).
    pub fn server_config(self: &Arc<Self>, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|err| invalid(Path::new("tls"), err))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// Watches `tls.cert` and `tls.key` and swaps in a new pair when either changes and the
    /// pair is good; a self-signed certificate needs no watch.
    pub fn watch(self: &Arc<Self>) -> Option<JoinHandle<()>> {
        let Origin::Files { cert, key } = self.origin.clone() else {
            return None;
        };
        let certificates = Arc::clone(self);
        Some(tokio::spawn(async move {
            let stamp = |path: &Path| {
                std::fs::metadata(path)
                    .and_then(|meta| meta.modified())
                    .ok()
            };
            let mut seen: (Option<SystemTime>, Option<SystemTime>) = (stamp(&cert), stamp(&key));
            loop {
                tokio::time::sleep(POLL_INTERVAL).await;
                let now = (stamp(&cert), stamp(&key));
                if now == seen {
                    continue;
                }
                seen = now;
                match load_pair(&cert, &key) {
                    Ok(pair) => {
                        certificates.current.store(Arc::new(pair));
                        info!(cert = %cert.display(), "TLS certificate reloaded");
                    }
                    Err(err) => {
                        warn!(%err, "the new TLS certificate is not usable; keeping the running one")
                    }
                }
            }
        }))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_kept_and_remade_when_the_names_change() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(SELF_SIGNED_FILE);
        let names = vec!["dns.example.org".to_owned()];
        let first = self_signed(&names, &file).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&file).unwrap().permissions(),
        );
        assert_eq!(mode & 0o077, 0, "the private key is the owner's only");
        let again = self_signed(&names, &file).unwrap();
        assert_eq!(first.cert, again.cert, "kept across restarts");
        let other = self_signed(&["other.example".to_owned()], &file).unwrap();
        assert_ne!(first.cert, other.cert, "new names, new certificate");
    }

    #[test]
    fn broken_pairs_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one.pem");
        let two = dir.path().join("two.pem");
        self_signed(&["a.example".to_owned()], &one).unwrap();
        self_signed(&["b.example".to_owned()], &two).unwrap();
        assert!(load_pair(&one, &one).is_ok());
        let mismatch = load_pair(&one, &two).unwrap_err();
        assert!(matches!(mismatch, TlsError::Mismatch { .. }), "{mismatch}");
        assert_eq!(mismatch.config_key(&one), "tls.key");
        let missing = load_pair(&dir.path().join("none.pem"), &one).unwrap_err();
        assert_eq!(missing.config_key(&dir.path().join("none.pem")), "tls.cert");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let empty = load_pair(&garbage, &one).unwrap_err();
        assert!(matches!(empty, TlsError::Missing { .. }), "{empty}");
        let no_key = load_pair(&one, &garbage).unwrap_err();
        assert!(no_key.to_string().contains("no private key"), "{no_key}");
    }
}
