//! What a batch of query rows adds beside the rows themselves, the same for both engines: the
//! ids of names and clients ([`Interner`], so most rows need no lookup), and the batch's sums
//! for the per-minute, per-hour and per-day counts tables ([`BatchCounts`]).

use std::borrow::Cow;
use std::collections::HashMap as StdHashMap;

use super::row::QueryRow;
use super::tables::PERIODS;
use super::time::{DAY_US, MINUTE_US};

/// The writer's maps are keyed by names and small integers it made itself: a fast hash serves
/// (the standard SipHash was a visible share of the writer's time).
pub(super) type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;

/// Names kept in an interner made with [`Interner::default`] before it is emptied: bounds
/// memory on a long-running box.
const DEFAULT_INTERNED: usize = 200_000;

/// Ids of names and clients already in the database, so most rows need no lookup. A client
/// is keyed by [`client_key`].
#[derive(Debug)]
pub struct Interner {
    pub(super) domains: HashMap<String, i64>,
    pub(super) clients: HashMap<String, i64>,
    /// The writing instance's id, once known (PostgreSQL).
    pub(super) instance: Option<i64>,
    /// The connection generation these ids belong to (SQLite reopens a replaced file).
    pub(super) generation: u64,
    /// The most names (and clients) kept; a map that would grow past it is emptied.
    limit: usize,
}

impl Default for Interner {
    fn default() -> Self {
        Self::with_limit(DEFAULT_INTERNED)
    }
}

impl Interner {
    /// An interner keeping the ids of at most `limit` names and as many clients.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            domains: HashMap::default(),
            clients: HashMap::default(),
            instance: None,
            generation: 0,
            limit,
        }
    }

    /// Forgets every id, keeping the limit.
    pub(super) fn forget(&mut self) {
        *self = Self {
            generation: self.generation,
            ..Self::with_limit(self.limit)
        };
    }

    /// Forgets every id when they were cached for another connection generation.
    pub(super) fn check_generation(&mut self, generation: u64) {
        if self.generation != generation {
            self.forget();
            self.generation = generation;
        }
    }

    /// The names and the clients (their `client_keys`) of `rows` looked up among the known ids.
    pub(super) fn look_up_rows<'a>(
        &self,
        rows: &'a [QueryRow],
        client_keys: &'a [Cow<'_, str>],
    ) -> [KeyLookup<'a>; 2] {
        [
            self.look_up(
                Dictionary::Domains,
                rows.iter().map(|row| row.domain.as_str()),
            ),
            self.look_up(Dictionary::Clients, client_keys.iter().map(AsRef::as_ref)),
        ]
    }

    /// Each of `keys` looked up among the known ids of `dictionary`: one lookup per row, the
    /// unknown keys gathered for [`KeyLookup::missing`].
    fn look_up<'a>(
        &self,
        dictionary: Dictionary,
        keys: impl Iterator<Item = &'a str>,
    ) -> KeyLookup<'a> {
        let known = match dictionary {
            Dictionary::Domains => &self.domains,
            Dictionary::Clients => &self.clients,
        };
        let mut missing = Vec::new();
        let ids = keys
            .map(|key| match known.get(key) {
                Some(&id) => Ok(id),
                None => {
                    missing.push(key);
                    Err(key)
                }
            })
            .collect();
        // Sorted, so that two writers insert new names in the same order and never wait on
        // each other in a circle.
        missing.sort_unstable();
        missing.dedup();
        KeyLookup { ids, missing }
    }

    /// Keeps a committed batch's new ids, emptying a map that would grow past the limit.
    pub(super) fn remember(
        &mut self,
        domains: HashMap<String, i64>,
        clients: HashMap<String, i64>,
    ) {
        for (known, fresh) in [(&mut self.domains, domains), (&mut self.clients, clients)] {
            if known.len() + fresh.len() > self.limit {
                known.clear();
            }
            known.extend(fresh);
        }
    }
}

/// A batch's keys of one dictionary after [`Interner::look_up`].
pub(super) struct KeyLookup<'a> {
    /// Per row: the known id, or the key to find among the batch's new ids.
    ids: Vec<Result<i64, &'a str>>,
    /// The distinct unknown keys, sorted.
    pub missing: Vec<&'a str>,
}

impl KeyLookup<'_> {
    /// Each row's id, the unknown ones from `fresh` (the ids the batch gave
    /// [`KeyLookup::missing`]); 0 for a key `fresh` lacks.
    fn ids<'s>(&'s self, fresh: &'s HashMap<String, i64>) -> impl Iterator<Item = i64> + 's {
        self.ids
            .iter()
            .map(|id| id.unwrap_or_else(|key| fresh.get(key).copied().unwrap_or(0)))
    }
}

/// The `(name id, client id)` of each row, from the batch's lookups and the ids it gave the
/// names and clients that were new.
pub(super) fn row_ids(
    domains: &KeyLookup<'_>,
    fresh_domains: &HashMap<String, i64>,
    clients: &KeyLookup<'_>,
    fresh_clients: &HashMap<String, i64>,
) -> Vec<(i64, i64)> {
    domains
        .ids(fresh_domains)
        .zip(clients.ids(fresh_clients))
        .collect()
}

/// Which interned table a value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dictionary {
    Domains,
    Clients,
}

/// Each row's [`client_key`].
pub(super) fn client_keys(rows: &[QueryRow]) -> Vec<Cow<'_, str>> {
    rows.iter().map(client_key).collect()
}

/// A client's key in the interner: its address, and its device name after a space when it has
/// one (neither an address nor a device name holds a space).
fn client_key(row: &QueryRow) -> Cow<'_, str> {
    match &row.client_name {
        Some(name) => Cow::Owned(format!("{} {name}", row.client)),
        None => Cow::Borrowed(&row.client),
    }
}

/// A client key split back into address and device name ('' for none).
pub(super) fn split_client_key(key: &str) -> (&str, &str) {
    key.split_once(' ').unwrap_or((key, ""))
}

/// Blocked queries of one client from one list in one hour or day. Borrowed from the rows: a
/// batch has few distinct keys but many rows, so strings are copied per key, not per row.
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct ListKey<'a> {
    pub period: i64,
    pub client: i64,
    pub list: &'a str,
    pub category: &'a str,
}

/// One batch's additions to the counts tables.
#[derive(Default)]
pub(super) struct BatchCounts<'a> {
    /// `[minute, status]`.
    pub minutes: HashMap<[i64; 2], i64>,
    /// Per period (hourly, daily) and subject (domain, client): `[period, id, status]`.
    pub periods: [[HashMap<[i64; 3], i64>; 2]; 2],
    /// Per period (hourly, daily).
    pub client_lists: [HashMap<ListKey<'a>, i64>; 2],
}

/// Every day's rows go into the daily sums (PostgreSQL adds each batch to the daily tables).
pub(super) const EVERY_DAY: i64 = i64::MAX;

impl<'a> BatchCounts<'a> {
    /// Sums `rows`, whose name and client ids are `ids` (in row order). Rows of days from
    /// `first_open_day` on are left out of the daily sums: SQLite counts a day that has not
    /// ended in its hourly tables only ([`EVERY_DAY`] leaves none out).
    pub fn of(rows: &'a [QueryRow], ids: &[(i64, i64)], first_open_day: i64) -> Self {
        let mut counts = Self::default();
        for (row, &(domain, client)) in rows.iter().zip(ids) {
            let status = row.status.code();
            *counts
                .minutes
                .entry([row.time_us.div_euclid(MINUTE_US), status])
                .or_default() += 1;
            for (i, period) in PERIODS.iter().enumerate() {
                let number = row.time_us.div_euclid(period.size_us);
                if period.size_us == DAY_US && number >= first_open_day {
                    continue;
                }
                for (sums, id) in counts.periods[i].iter_mut().zip([domain, client]) {
                    *sums.entry([number, id, status]).or_default() += 1;
                }
                if let Some(list) = &row.list {
                    let key = ListKey {
                        period: number,
                        client,
                        list,
                        category: row.category.as_deref().unwrap_or_default(),
                    };
                    *counts.client_lists[i].entry(key).or_default() += 1;
                }
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str], first: i64) -> HashMap<String, i64> {
        names
            .iter()
            .zip(first..)
            .map(|(name, id)| ((*name).to_owned(), id))
            .collect()
    }

    #[test]
    fn an_interner_keeps_no_more_than_its_limit() {
        let mut interner = Interner::with_limit(3);
        interner.remember(ids(&["a.example", "b.example"], 1), ids(&["192.0.2.1"], 1));
        assert_eq!(interner.domains.len(), 2);
        // Two more would make four: the old ids go, the batch's stay.
        interner.remember(ids(&["c.example", "d.example"], 3), HashMap::default());
        let mut kept: Vec<&str> = interner.domains.keys().map(String::as_str).collect();
        kept.sort_unstable();
        assert_eq!(kept, ["c.example", "d.example"]);
        assert_eq!(interner.clients.len(), 1);
        interner.check_generation(7);
        assert!(interner.domains.is_empty() && interner.clients.is_empty());
        assert_eq!((interner.generation, interner.limit), (7, 3));
    }
}
