//! Reading configured lists: each location (a file, a folder of `*.txt` files, or a URL's
//! downloaded copy) becomes one or more sources of text, named from the config, the list's own
//! header or its file name, and handed to [`crate::rules::compile`] to become rules. An
//! unreadable source is reported, never fatal here; the caller decides whether a build with
//! errors may replace a working one. All file I/O of lists lives here and in [`super::cache`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{info, warn};

use super::cache::ListCache;
use crate::config::{Config, ListEntry, ListLocation, validate_category, validate_vendor};
use crate::rules::compile::add_source_text;
use crate::rules::{
    GroupMask, Polarity, RuleSet, RuleSetBuilder, Source, SourceReport, SourceStats,
};

/// Header lines searched for a list's title and category.
const HEADER_LINES: usize = 40;

/// One configured list, what its rules do, and the groups it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSpec {
    pub entry: ListEntry,
    pub polarity: Polarity,
    /// Where downloaded copies of URL lists are kept.
    pub cache: Option<ListCache>,
    pub groups: GroupMask,
}

impl ListSpec {
    /// Every configured list once: block lists first, then allowlists, in config order (the
    /// group `default`, then `[[groups]]`); a list several groups name is one spec with all of
    /// their bits, so it is read and held once. URL lists read from the download cache beside
    /// the database.
    pub fn from_config(config: &Config) -> Vec<Self> {
        let cache = ListCache::in_dir(&config.querylog.state_dir());
        let mut specs: Vec<Self> = Vec::new();
        for (entry, polarity, group) in configured(config) {
            let groups = GroupMask::of(group);
            let same = |spec: &&mut Self| {
                spec.polarity == polarity && spec.entry.location == entry.location
            };
            match specs.iter_mut().find(same) {
                Some(spec) => spec.groups = spec.groups.union(groups),
                None => specs.push(Self {
                    entry: entry.clone(),
                    polarity,
                    cache: Some(cache.clone()),
                    groups,
                }),
            }
        }
        specs.sort_by_key(|spec| spec.polarity == Polarity::Allow);
        specs
    }

    /// A spec for one location with no configured name or category and no download cache,
    /// for every group.
    pub fn at(location: ListLocation, polarity: Polarity) -> Self {
        Self {
            entry: ListEntry::from(location),
            polarity,
            cache: None,
            groups: GroupMask::ALL,
        }
    }

    /// The source for one file of this spec: the configured name, category and vendor first,
    /// then the file's header, then (for the name) the file name.
    fn source(&self, fallback_name: &str, location: String, text: Option<&str>) -> Source {
        let header = text.map(HeaderLabels::of).unwrap_or_default();
        let entry = &self.entry;
        let name = entry
            .name
            .as_deref()
            .or(header.title)
            .unwrap_or(fallback_name);
        let category = entry.category.as_deref().or(header.category);
        let vendor = entry.vendor.as_deref().or(header.vendor);
        Source {
            name: Arc::from(name),
            location,
            polarity: self.polarity,
            category: category.map(Arc::from),
            vendor: vendor.map(Arc::from),
            groups: self.groups,
        }
    }
}

/// The `Title:`/`Name:`, `Category:` and `Vendor:` a list states in its leading comment lines
/// (`#`, `!` or, in RPZ zones, `;`).
#[derive(Debug, Default)]
struct HeaderLabels<'a> {
    title: Option<&'a str>,
    category: Option<&'a str>,
    vendor: Option<&'a str>,
}

impl<'a> HeaderLabels<'a> {
    fn of(text: &'a str) -> Self {
        let mut labels = Self::default();
        for line in text.lines().take(HEADER_LINES) {
            let Some(comment) = line
                .trim_start_matches('\u{feff}')
                .strip_prefix(['#', '!', ';'])
            else {
                continue;
            };
            let Some((key, value)) = comment.split_once(':') else {
                continue;
            };
            let value = value.trim();
            let slot = match key.trim().to_ascii_lowercase().as_str() {
                "title" | "name" if !value.is_empty() => &mut labels.title,
                "category" if validate_category(value).is_ok() => &mut labels.category,
                "vendor" if validate_vendor(value).is_ok() => &mut labels.vendor,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        labels
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("{location}: {message}")]
    Source { location: String, message: String },
}

/// A freshly built rule set and the report of every source that went into it.
#[derive(Debug)]
pub struct Compiled {
    pub rules: RuleSet,
    pub reports: Vec<SourceReport>,
}

impl Compiled {
    /// The first local source that could not be read, as an error. (A URL list without a
    /// downloaded copy is reported but is no error here: it may simply not be fetched yet.)
    pub fn first_error(&self) -> Option<ListError> {
        self.reports
            .iter()
            .filter(|report| !report.source.is_remote())
            .find_map(|report| {
                report.error.as_ref().map(|message| ListError::Source {
                    location: report.source.location.clone(),
                    message: message.clone(),
                })
            })
    }
}

/// Reads and compiles every list. Blocking I/O and CPU work: call it off the async runtime
/// ([`compile_off_thread`]).
pub fn compile(specs: &[ListSpec]) -> Compiled {
    let mut builder = RuleSetBuilder::default();
    let mut reports = Vec::new();
    for spec in specs {
        for (fallback_name, location, text) in
            read_location(&spec.entry.location, spec.cache.as_ref())
        {
            let report = match text {
                Ok(text) => {
                    let source = spec.source(&fallback_name, location, Some(&text));
                    add_source_text(&mut builder, source, &text)
                }
                Err(message) => SourceReport {
                    source: spec.source(&fallback_name, location, None),
                    stats: SourceStats::default(),
                    error: Some(message),
                },
            };
            log_report(&report);
            reports.push(report);
        }
    }
    Compiled {
        rules: builder.finish(),
        reports,
    }
}

fn log_report(report: &SourceReport) {
    let SourceStats {
        entries,
        skipped,
        unsupported,
        invalid,
    } = report.stats;
    match &report.error {
        Some(error) => warn!(list = %report.source.location, %error, "list not loaded"),
        None => info!(
            list = %report.source.location,
            entries, skipped, unsupported, invalid,
            "list loaded"
        ),
    }
}

/// [`compile`] on the blocking thread pool, so reading big lists never stalls DNS.
pub async fn compile_off_thread(specs: Vec<ListSpec>) -> Result<Compiled, tokio::task::JoinError> {
    tokio::task::spawn_blocking(move || compile(&specs)).await
}

/// The rules of `config` at start. A list that cannot be read is logged and left out: a missing
/// list must not take DNS down (on reload, by contrast, it keeps the running rules).
pub async fn compile_for_start(config: &Config) -> Result<Compiled, tokio::task::JoinError> {
    let compiled = compile_off_thread(ListSpec::from_config(config)).await?;
    if let Some(error) = compiled.first_error() {
        warn!(%error, "starting without this list");
    }
    info!(
        rules = compiled.rules.len(),
        lists = compiled.reports.len(),
        "rules ready"
    );
    Ok(compiled)
}

/// Every configured list with what its rules do and the index of its group (0: `default`, the
/// `[blocking]` lists; then `[[groups]]` in order), group by group. The one walk over all lists
/// that every reader of the config shares; a list may come more than once.
pub fn configured(config: &Config) -> impl Iterator<Item = (&ListEntry, Polarity, usize)> {
    let default = (&config.blocking.lists, &config.blocking.allowlists);
    let groups = config
        .groups
        .iter()
        .map(|group| (&group.lists, &group.allowlists));
    std::iter::once(default)
        .chain(groups)
        .enumerate()
        .flat_map(|(index, (block, allow))| {
            let block = block
                .iter()
                .map(move |entry| (entry, Polarity::Block, index));
            let allow = allow
                .iter()
                .map(move |entry| (entry, Polarity::Allow, index));
            block.chain(allow)
        })
}

/// The URLs of the configured lists, each once, for downloading.
pub fn url_lists(config: &Config) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for (entry, ..) in configured(config) {
        if let ListLocation::Url(url) = &entry.location
            && !urls.contains(url)
        {
            urls.push(url.clone());
        }
    }
    urls
}
/// The files behind one location: for each, a fallback name, where it was read, and its text
/// or the reason it is missing.
fn read_location(
    location: &ListLocation,
    cache: Option<&ListCache>,
) -> Vec<(String, String, Result<String, String>)> {
    match location {
        ListLocation::Url(url) => {
            let text = match cache.map(|cache| cache.read_body(url)) {
                Some(Ok(bytes)) => Ok(decode_lossy(bytes)),
                _ => Err("not downloaded yet".to_owned()),
            };
            vec![(url_name(url).to_owned(), url.clone(), text)]
        }
        ListLocation::Path(path) if path.is_dir() => match list_files(path) {
            Ok(files) => files
                .into_iter()
                .map(|file| {
                    (
                        file_stem(&file),
                        file.display().to_string(),
                        read_text(&file),
                    )
                })
                .collect(),
            Err(message) => vec![(file_stem(path), path.display().to_string(), Err(message))],
        },
        ListLocation::Path(path) => {
            vec![(file_stem(path), path.display().to_string(), read_text(path))]
        }
    }
}

/// The `*.txt` files of a list folder, sorted: what a folder in `blocking.lists` means.
pub fn list_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|err| format!("cannot read folder: {err}"))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    files.sort();
    Ok(files)
}

/// Lists are read as bytes and decoded leniently: one stray Latin-1 comment must not drop a
/// whole list.
fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read(path)
        .map(decode_lossy)
        .map_err(|err| format!("cannot read: {err}"))
}

pub fn decode_lossy(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn url_name(url: &str) -> &str {
    url.rsplit('/').find(|part| !part.is_empty()).unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{QueryName, Verdict};

    #[test]
    fn a_folder_is_every_txt_file_in_it_and_counts_add_up() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ads.txt"),
            "# header\n\n0.0.0.0 ads.example.com\n||x.example^$third-party\nnot a rule\ncom\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("regex.txt"), "/^ad\\d+\\./\n/(?=x)y/\n").unwrap();
        std::fs::write(dir.path().join("notes.md"), "ignored.example.com\n").unwrap();
        let compiled = compile(&[ListSpec::at(
            ListLocation::Path(dir.path().to_path_buf()),
            Polarity::Block,
        )]);
        let summary: Vec<(String, SourceStats)> = compiled
            .reports
            .iter()
            .map(|r| (r.source.name.to_string(), r.stats))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "ads".into(),
                    SourceStats {
                        entries: 1,
                        skipped: 2,
                        unsupported: 1,
                        invalid: 2
                    }
                ),
                (
                    "regex".into(),
                    SourceStats {
                        entries: 1,
                        skipped: 0,
                        unsupported: 1,
                        invalid: 0
                    }
                ),
            ]
        );
        assert!(compiled.first_error().is_none());
        let verdict = compiled
            .rules
            .decide(&QueryName::from_text("ignored.example.com").unwrap());
        assert_eq!(verdict, Verdict::Unlisted);
    }

    #[test]
    fn names_categories_and_vendors_come_from_config_then_header_then_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vendor.txt");
        std::fs::write(
            &path,
            "# Title: Vendor Tracking\n# Category: tracking\n# Vendor: Acme\n# Vendor: Later\nx.example.com\n",
        )
        .unwrap();
        let plain = dir.path().join("plain.txt");
        std::fs::write(&plain, "! Category: Not Valid\ny.example.com\n").unwrap();
        let configured = ListSpec {
            entry: ListEntry {
                location: ListLocation::Path(path.clone()),
                name: Some("Mine".into()),
                category: Some("telemetry".into()),
                vendor: Some("Mine Inc".into()),
            },
            polarity: Polarity::Block,
            cache: None,
            groups: GroupMask::DEFAULT,
        };
        let compiled = compile(&[
            ListSpec::at(ListLocation::Path(path), Polarity::Block),
            configured,
            ListSpec::at(ListLocation::Path(plain), Polarity::Block),
        ]);
        let labels: Vec<(String, Option<String>, Option<String>)> = compiled
            .reports
            .iter()
            .map(|r| {
                (
                    r.source.name.to_string(),
                    r.source.category.as_deref().map(str::to_owned),
                    r.source.vendor.as_deref().map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(
            labels,
            [
                (
                    "Vendor Tracking".into(),
                    Some("tracking".into()),
                    Some("Acme".into())
                ),
                (
                    "Mine".into(),
                    Some("telemetry".into()),
                    Some("Mine Inc".into())
                ),
                ("plain".into(), None, None),
            ]
        );
    }

    #[test]
    fn a_missing_file_is_reported_not_fatal() {
        let compiled = compile(&[ListSpec::at(
            ListLocation::Path(PathBuf::from("/nonexistent/list.txt")),
            Polarity::Block,
        )]);
        let error = compiled.first_error().unwrap().to_string();
        assert!(
            error.starts_with("/nonexistent/list.txt: cannot read"),
            "{error}"
        );
        assert!(compiled.rules.is_empty());
    }

    #[test]
    fn invalid_utf8_does_not_drop_the_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.txt");
        std::fs::write(&path, b"# caf\xe9\nads.example.com\n").unwrap();
        let compiled = compile(&[ListSpec::at(ListLocation::Path(path), Polarity::Block)]);
        assert_eq!(compiled.reports[0].stats.entries, 1);
    }
}
