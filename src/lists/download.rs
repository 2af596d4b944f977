//! Downloading URL lists: a conditional GET (ETag / Last-Modified) through reqwest with rustls,
//! host names resolved through hush's own upstreams, bodies capped in size and checked before
//! they replace the cached copy. A failed or garbage download keeps the previous copy and is
//! remembered per URL for `/api/lists`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hickory_resolver::TokioResolver;
use reqwest::StatusCode;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use tracing::{info, warn};

use super::cache::{CacheMeta, ListCache};
use super::source::decode_lossy;
use crate::config::Config;
use crate::dns::upstream::{UpstreamSetupError, own_resolver};
use crate::rules::compile::inspect;

/// The largest list body accepted; the biggest public lists are a few tens of megabytes.
pub const MAX_LIST_BYTES: usize = 64 << 20;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What one download attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// A new body was stored.
    Updated,
    /// The server said the cached copy is current.
    Unchanged,
    /// Nothing was stored; the cached copy (if any) stays.
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadSetupError {
    #[error("setting up list downloads: {0}")]
    Resolver(#[from] UpstreamSetupError),
    #[error("setting up list downloads: {0}")]
    Client(#[from] reqwest::Error),
}

pub struct Downloader {
    client: reqwest::Client,
    cache: ListCache,
    max_bytes: usize,
    errors: Mutex<HashMap<String, String>>,
}

/// Resolves list hosts through hush's upstreams.
struct UpstreamResolve(TokioResolver);

impl Resolve for UpstreamResolve {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.0.clone();
        Box::pin(async move {
            let lookup = resolver.lookup_ip(name.as_str()).await?;
            let addrs: Addrs = Box::new(
                lookup
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
}

impl Downloader {
    /// The downloader of `config`: list hosts resolved through `dns.upstreams`, copies kept
    /// beside the database.
    pub fn for_config(config: &Config) -> Result<Self, DownloadSetupError> {
        let resolver = own_resolver(&config.dns)?;
        let cache = ListCache::in_dir(&config.querylog.state_dir());
        Ok(Self::new(cache, resolver, MAX_LIST_BYTES)?)
    }

    pub fn new(
        cache: ListCache,
        resolver: TokioResolver,
        max_bytes: usize,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("hush/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(UpstreamResolve(resolver)))
            .build()?;
        Ok(Self {
            client,
            cache,
            max_bytes,
            errors: Mutex::new(HashMap::new()),
        })
    }

    /// The error of the last attempt for `url`, if it failed.
    pub fn error(&self, url: &str) -> Option<String> {
        self.errors.lock().ok()?.get(url).cloned()
    }

    pub fn cache(&self) -> &ListCache {
        &self.cache
    }

    /// Downloads each URL; true when any cached copy changed.
    pub async fn fetch_all(&self, urls: &[String]) -> bool {
        let mut changed = false;
        for url in urls {
            changed |= self.fetch(url).await == Fetch::Updated;
        }
        changed
    }

    pub async fn fetch(&self, url: &str) -> Fetch {
        let result = self.try_fetch(url).await;
        if let Ok(mut errors) = self.errors.lock() {
            match &result {
                Fetch::Failed(error) => errors.insert(url.to_owned(), error.clone()),
                Fetch::Updated | Fetch::Unchanged => errors.remove(url),
            };
        }
        match &result {
            Fetch::Updated => info!(%url, "list downloaded"),
            Fetch::Unchanged => info!(%url, "list unchanged"),
            Fetch::Failed(error) => {
                warn!(%url, %error, "list download failed; keeping the previous copy")
            }
        }
        result
    }

    async fn try_fetch(&self, url: &str) -> Fetch {
        let old = self.cache.meta(url);
        let has_copy = self.cache.body_path(url).exists();
        let mut request = self.client.get(url);
        if has_copy {
            if let Some(etag) = &old.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(modified) = &old.last_modified {
                request = request.header(IF_MODIFIED_SINCE, modified);
            }
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(err) => return Fetch::Failed(describe(&err)),
        };
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED && has_copy {
            let meta = CacheMeta {
                fetched: Some(SystemTime::now()),
                ..old
            };
            return match self.cache.store(url, None, &meta) {
                Ok(()) => Fetch::Unchanged,
                Err(err) => Fetch::Failed(format!("cannot update the cached copy: {err}")),
            };
        }
        if !status.is_success() {
            return Fetch::Failed(format!("the server answered {status}"));
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|value: &reqwest::header::HeaderValue| value.to_str().ok())
                .map(str::to_owned)
        };
        let (etag, last_modified) = (header(ETAG), header(LAST_MODIFIED));
        if header(CONTENT_TYPE).is_some_and(|kind| kind.starts_with("text/html")) {
            return Fetch::Failed("the server sent an HTML page, not a list".to_owned());
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.max_bytes {
                        return Fetch::Failed(format!(
                            "the list is larger than {} bytes",
                            self.max_bytes
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(err) => return Fetch::Failed(describe(&err)),
            }
        }
        let text = decode_lossy(body);
        let stats = inspect(&text);
        if stats.entries == 0 || stats.invalid > stats.entries {
            return Fetch::Failed(format!(
                "the download does not look like a list ({} rules, {} invalid lines)",
                stats.entries, stats.invalid
            ));
        }
        let meta = CacheMeta {
            etag,
            last_modified,
            fetched: Some(SystemTime::now()),
        };
        match self.cache.store(url, Some(text.as_bytes()), &meta) {
            Ok(()) => Fetch::Updated,
            Err(err) => Fetch::Failed(format!("cannot store the download: {err}")),
        }
    }
}

/// reqwest's error with its causes, which carry the useful part ("connection refused"). Some
/// layers repeat their cause in their own message; a cause already said is not said again.
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}
