//! The per-client report, "who phones home": per device, its queries and blocked queries by list
//! category, by list and by vendor, and the public encrypted resolvers it tried to reach.
//! Totals and per-list counts come from the counts tables (exact windows, cheap long ranges,
//! see [`Sources`]); the distinct hosts of telemetry lists and the resolver names come from the
//! blocked raw rows of those two categories only, a small share of any household's history.

use std::collections::HashMap;
use std::sync::Arc;

use super::stats::Window;
use super::tables::{Count, Subject, push_instance, push_time_range};
use super::{HIDDEN_NAME, Scope, Store, StoreError};
use crate::dns::outcome::Status;

/// What one client asked and what was blocked, by category, list and vendor.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ClientReport {
    pub client: String,
    /// The device's name (its own from DoT/DoH, else a configured or reverse-lookup name).
    pub client_name: Option<String>,
    pub queries: i64,
    pub blocked: i64,
    /// Blocked queries per list category, most first (`uncategorized` for lists without one).
    pub by_category: Vec<CategoryCount>,
    /// Blocked queries per list, most first.
    pub by_list: Vec<ListCount>,
    /// Blocked telemetry per vendor (the `vendor` label of its lists), most first.
    pub by_vendor: Vec<VendorCount>,
    /// Public encrypted-DNS names the device looked up (lists of category `bypass`), most
    /// first: it tried to send its lookups past hush.
    pub encrypted_dns: Vec<NameCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CategoryCount {
    pub category: String,
    pub blocked: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ListCount {
    pub list: String,
    pub category: Option<String>,
    pub blocked: i64,
    /// Distinct names blocked, for lists of the `telemetry` and `bypass` categories.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct VendorCount {
    pub vendor: String,
    pub blocked: i64,
    /// Distinct names blocked (a name blocked by two lists of the vendor counts once).
    pub hosts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct NameCount {
    pub name: String,
    pub lookups: i64,
}

/// The category name used for lists that have none.
pub const UNCATEGORIZED: &str = "uncategorized";

/// The categories whose blocked names the report counts one by one.
const TELEMETRY: &str = "telemetry";
const BYPASS: &str = "bypass";

/// Which vendor each list belongs to, by list name (lists without a vendor are absent).
pub type ListVendors = HashMap<Arc<str>, Arc<str>>;

/// One client's id, address, device name, queries and blocked queries.
type ClientTotals = (i64, String, Option<String>, i64, i64);
type ListTotals = (i64, String, String, i64);
/// Blocked lookups of one name by one client through one list.
type NameTotals = (i64, String, String, String, i64);

impl Store {
    /// Per client: queries, blocked, blocked per category, list and vendor, and the encrypted
    /// resolvers it tried; most blocked first.
    pub async fn client_report(
        &self,
        window: impl Into<Window>,
        vendors: &ListVendors,
    ) -> Result<Vec<ClientReport>, StoreError> {
        let Window { range, instance } = window.into();
        let scope = self.scope(instance.as_deref()).await?;
        if scope == Scope::Nothing {
            return Ok(Vec::new());
        }
        let sources = self.sources(range, scope).await?;
        let mut totals = self.sql(
            "SELECT t.id, c.address, COALESCE(NULLIF(c.name, ''), NULLIF(l.name, '')), t.total, \
             t.blocked FROM (SELECT id, CAST(SUM(n) AS BIGINT) AS total, \
             CAST(SUM(blocked) AS BIGINT) AS blocked FROM (",
        );
        sources.push_counts(&mut totals, Subject::Client, Count::AllAndBlocked);
        totals.push(
            ") p GROUP BY id) t JOIN clients c ON c.id = t.id \
             LEFT JOIN client_labels l ON l.address = c.address",
        );
        let totals: Vec<ClientTotals> = self.fetch_all(totals).await?;
        let mut lists = self.sql("SELECT client_id, list, category, CAST(SUM(n) AS BIGINT) FROM (");
        sources.push_client_lists(&mut lists);
        lists.push(") p GROUP BY client_id, list, category");
        let lists: Vec<ListTotals> = self.fetch_all(lists).await?;
        let mut names = self.sql(
            "SELECT q.client_id, q.list, q.category, d.name, COUNT(*) FROM queries q \
             JOIN domains d ON d.id = q.domain_id WHERE ",
        );
        push_time_range(&mut names, range.from_us, range.to_us);
        push_instance(&mut names, sources.instance());
        names
            .push(" AND q.status = ")
            .push_bind(Status::Blocked.code())
            .push(" AND q.category IN (")
            .push_bind(TELEMETRY)
            .push(", ")
            .push_bind(BYPASS)
            .push(") AND d.name != ")
            .push_bind(HIDDEN_NAME)
            .push(" GROUP BY q.client_id, q.list, q.category, d.name");
        let names: Vec<NameTotals> = self.fetch_all(names).await?;
        Ok(assemble_reports(totals, lists, &names, vendors))
    }
}

/// The client report from per-client totals, per-client per-list blocked counts and the
/// per-name counts of telemetry and bypass lists.
fn assemble_reports(
    totals: Vec<ClientTotals>,
    lists: Vec<ListTotals>,
    names: &[NameTotals],
    vendors: &ListVendors,
) -> Vec<ClientReport> {
    let index: HashMap<i64, usize> = totals
        .iter()
        .enumerate()
        .map(|(i, (id, ..))| (*id, i))
        .collect();
    let mut reports: Vec<ClientReport> = totals
        .into_iter()
        .map(|(_, client, client_name, queries, blocked)| ClientReport {
            client,
            client_name,
            queries,
            blocked,
            ..ClientReport::default()
        })
        .collect();
    let report_of = |client: i64| index.get(&client).copied();
    for (client, list, category, blocked) in lists {
        let Some(report) = report_of(client).and_then(|i| reports.get_mut(i)) else {
            continue;
        };
        let category = (!category.is_empty()).then_some(category);
        let category_name = category.clone().unwrap_or_else(|| UNCATEGORIZED.to_owned());
        add_to(
            &mut report.by_category,
            |c| c.category == category_name,
            blocked,
            || CategoryCount {
                category: category_name.clone(),
                blocked,
            },
        );
        let hosts = (category.as_deref() == Some(TELEMETRY) || category.as_deref() == Some(BYPASS))
            .then(|| count_where(names, |n| n.0 == client && n.1 == list));
        if let Some(vendor) = vendors.get(list.as_str()) {
            add_to(
                &mut report.by_vendor,
                |v| *v.vendor == **vendor,
                blocked,
                || VendorCount {
                    vendor: vendor.to_string(),
                    blocked,
                    hosts: 0,
                },
            );
        }
        report.by_list.push(ListCount {
            list,
            category,
            blocked,
            hosts,
        });
    }
    let mut vendor_hosts: HashMap<(i64, &str), Vec<&str>> = HashMap::new();
    for (client, list, category, name, lookups) in names {
        if let Some(vendor) = vendors.get(list.as_str()) {
            vendor_hosts
                .entry((*client, vendor))
                .or_default()
                .push(name);
        }
        if category == BYPASS
            && let Some(report) = report_of(*client).and_then(|i| reports.get_mut(i))
        {
            add_to(
                &mut report.encrypted_dns,
                |n| n.name == *name,
                *lookups,
                || NameCount {
                    name: name.clone(),
                    lookups: *lookups,
                },
            );
        }
    }
    for ((client, vendor), mut hosts) in vendor_hosts {
        hosts.sort_unstable();
        hosts.dedup();
        let report = report_of(client).and_then(|i| reports.get_mut(i));
        if let Some(count) =
            report.and_then(|r| r.by_vendor.iter_mut().find(|v| v.vendor == vendor))
        {
            count.hosts = hosts.len() as i64;
        }
    }
    for report in &mut reports {
        report
            .by_category
            .sort_by(|a, b| b.blocked.cmp(&a.blocked).then(a.category.cmp(&b.category)));
        report
            .by_list
            .sort_by(|a, b| b.blocked.cmp(&a.blocked).then(a.list.cmp(&b.list)));
        report
            .by_vendor
            .sort_by(|a, b| b.blocked.cmp(&a.blocked).then(a.vendor.cmp(&b.vendor)));
        report
            .encrypted_dns
            .sort_by(|a, b| b.lookups.cmp(&a.lookups).then(a.name.cmp(&b.name)));
    }
    reports.sort_by(|a, b| {
        (b.blocked.cmp(&a.blocked))
            .then(a.client.cmp(&b.client))
            .then(a.client_name.cmp(&b.client_name))
    });
    reports
}

/// Adds `count` to the entry `matches` finds, or pushes a new one.
fn add_to<T: Counted>(
    entries: &mut Vec<T>,
    matches: impl Fn(&T) -> bool,
    count: i64,
    new: impl FnOnce() -> T,
) {
    match entries.iter_mut().find(|entry| matches(entry)) {
        Some(entry) => *entry.count_mut() += count,
        None => entries.push(new()),
    }
}

/// An entry of the report that sums a count.
trait Counted {
    fn count_mut(&mut self) -> &mut i64;
}

impl Counted for CategoryCount {
    fn count_mut(&mut self) -> &mut i64 {
        &mut self.blocked
    }
}

impl Counted for VendorCount {
    fn count_mut(&mut self) -> &mut i64 {
        &mut self.blocked
    }
}

impl Counted for NameCount {
    fn count_mut(&mut self) -> &mut i64 {
        &mut self.lookups
    }
}

fn count_where(names: &[NameTotals], keep: impl Fn(&NameTotals) -> bool) -> i64 {
    names.iter().filter(|n| keep(n)).count() as i64
}
