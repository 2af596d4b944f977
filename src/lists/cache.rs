//! The on-disk copies of downloaded lists, next to the database (`<database folder>/lists/`):
//! the body as last downloaded and a small metadata file with its validators (ETag,
//! Last-Modified) and when it was fetched. hush starts from these copies, so a list host that
//! is down (or a network that is not up yet) costs nothing but freshness.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What is known about a cached download.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheMeta {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// When the body was last downloaded (or confirmed unchanged).
    pub fetched: Option<SystemTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCache {
    dir: PathBuf,
}

impl ListCache {
    /// The cache in the state folder `state_dir` (beside the database).
    pub fn in_dir(state_dir: &Path) -> Self {
        Self {
            dir: state_dir.join("lists"),
        }
    }

    /// `<key>.<extension>`; the key holds dots (the host), so no `with_extension` here.
    fn file(&self, url: &str, extension: &str) -> PathBuf {
        self.dir.join(format!("{}.{extension}", file_key(url)))
    }

    pub fn body_path(&self, url: &str) -> PathBuf {
        self.file(url, "txt")
    }

    fn meta_path(&self, url: &str) -> PathBuf {
        self.file(url, "meta")
    }

    pub fn read_body(&self, url: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.body_path(url))
    }

    pub fn meta(&self, url: &str) -> CacheMeta {
        let Ok(text) = std::fs::read_to_string(self.meta_path(url)) else {
            return CacheMeta::default();
        };
        let mut meta = CacheMeta::default();
        for line in text.lines() {
            match line.split_once(": ") {
                Some(("etag", value)) => meta.etag = Some(value.to_owned()),
                Some(("last-modified", value)) => meta.last_modified = Some(value.to_owned()),
                Some(("fetched", value)) => {
                    meta.fetched = value
                        .parse()
                        .ok()
                        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs));
                }
                _ => {}
            }
        }
        meta
    }

    /// Replaces the cached body (when given) and metadata; each file is written to a temporary
    /// name and renamed, so a crash leaves the old copy or the new one, never half of one.
    pub fn store(&self, url: &str, body: Option<&[u8]>, meta: &CacheMeta) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        if let Some(body) = body {
            write_atomically(&self.body_path(url), body)?;
        }
        let mut text = String::new();
        if let Some(etag) = &meta.etag {
            text.push_str(&format!("etag: {etag}\n"));
        }
        if let Some(modified) = &meta.last_modified {
            text.push_str(&format!("last-modified: {modified}\n"));
        }
        if let Some(fetched) = meta.fetched.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) {
            text.push_str(&format!("fetched: {}\n", fetched.as_secs()));
        }
        write_atomically(&self.meta_path(url), text.as_bytes())
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

/// A stable, readable file name for a URL: its host plus a hash of the whole URL.
fn file_key(url: &str) -> String {
    let host: String = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', '?', '#', ':'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        .take(60)
        .collect();
    format!("{host}-{:016x}", fnv1a(url.as_bytes()))
}

/// FNV-1a: stable across builds and platforms, which a cache file name must be.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_validators_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ListCache::in_dir(dir.path());
        let url = "https://lists.example.com/ads.txt";
        assert_eq!(cache.meta(url), CacheMeta::default());
        let meta = CacheMeta {
            etag: Some("\"abc\"".into()),
            last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
            fetched: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        };
        cache.store(url, Some(b"ads.example.com\n"), &meta).unwrap();
        assert_eq!(cache.meta(url), meta);
        assert_eq!(cache.read_body(url).unwrap(), b"ads.example.com\n");
        let name = cache
            .body_path(url)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with("lists.example.com-") && name.ends_with(".txt"),
            "{name}"
        );
        assert_ne!(
            file_key(url),
            file_key("https://lists.example.com/other.txt")
        );
    }
}
