//! Pi-hole's statistics over the last 24 hours, from the same store and the same windows as
//! the native API, so every number matches it: the summary, top lists, upstreams and query
//! types. The history and the query log are in [`super::history`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{RawQuery, State};
use axum::response::Response;
use hickory_proto::rr::RecordType;
use serde_json::{Map, Value, json};

use super::reply::{PiError, Started};
use crate::control::Control;
use crate::dns::outcome::Status;
use crate::store::time::unix_micros;
use crate::store::{TimeRange, TopItem, TopKind};

/// The window of every statistic here: the last day, as Pi-hole's.
pub fn last_day() -> TimeRange {
    let now = SystemTime::now();
    TimeRange {
        from_us: unix_micros(now - Duration::from_secs(86_400)),
        to_us: unix_micros(now),
    }
}

/// The query types Pi-hole counts by name; the rest are `OTHER`.
const TYPES: [&str; 15] = [
    "A", "AAAA", "ANY", "SRV", "SOA", "PTR", "TXT", "NAPTR", "MX", "DS", "RRSIG", "DNSKEY", "NS",
    "SVCB", "HTTPS",
];
const STATUSES: [&str; 19] = [
    "UNKNOWN",
    "GRAVITY",
    "FORWARDED",
    "CACHE",
    "REGEX",
    "DENYLIST",
    "EXTERNAL_BLOCKED_IP",
    "EXTERNAL_BLOCKED_NULL",
    "EXTERNAL_BLOCKED_NXRA",
    "GRAVITY_CNAME",
    "REGEX_CNAME",
    "DENYLIST_CNAME",
    "RETRIED",
    "RETRIED_DNSSEC",
    "IN_PROGRESS",
    "DBBUSY",
    "SPECIAL_DOMAIN",
    "CACHE_STALE",
    "EXTERNAL_BLOCKED_EDE15",
];
const REPLIES: [&str; 14] = [
    "UNKNOWN", "NODATA", "NXDOMAIN", "CNAME", "IP", "DOMAIN", "RRNAME", "SERVFAIL", "REFUSED",
    "NOTIMP", "OTHER", "DNSSEC", "NONE", "BLOB",
];

/// Pi-hole's name for how a query ended. Blocked is `GRAVITY` (hush does not tell list and
/// custom blocks apart here), local records `SPECIAL_DOMAIN`, refused and failed `UNKNOWN`.
pub(super) fn status_name(status: Status) -> &'static str {
    match status {
        Status::Forwarded => "FORWARDED",
        Status::Cached => "CACHE",
        Status::Blocked => "GRAVITY",
        Status::Local => "SPECIAL_DOMAIN",
        Status::Refused | Status::Failed => "UNKNOWN",
    }
}

/// Pi-hole's reply type from an answer code (a NOERROR answer counts as `IP`: hush keeps the
/// code, not the record kinds).
pub(super) fn reply_name(rcode: u16) -> &'static str {
    match rcode {
        0 => "IP",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "OTHER",
    }
}

fn zeroed(keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .map(|key| ((*key).to_owned(), json!(0)))
        .collect()
}

pub(super) fn add(map: &mut Map<String, Value>, key: &str, count: i64) {
    let entry = map.entry(key.to_owned()).or_insert(json!(0));
    *entry = json!(entry.as_i64().unwrap_or(0) + count);
}

pub async fn summary(
    State(control): State<Arc<Control>>,
    started: Started,
) -> Result<Response, PiError> {
    let range = last_day();
    let store = control.store();
    let summary = store.summary(range).await?;
    let (mut types, mut replies) = (zeroed(&TYPES), zeroed(&REPLIES));
    types.insert("OTHER".into(), json!(0));
    for counted in store.type_counts(range).await? {
        let name = RecordType::from(counted.qtype).to_string();
        let key = if TYPES.contains(&name.as_str()) {
            name.as_str()
        } else {
            "OTHER"
        };
        add(&mut types, key, counted.count);
        add(&mut replies, reply_name(counted.rcode), counted.count);
    }
    let mut statuses = zeroed(&STATUSES);
    for (status, count) in [
        (Status::Forwarded, summary.forwarded),
        (Status::Cached, summary.cached),
        (Status::Blocked, summary.blocked),
        (Status::Local, summary.local),
        (Status::Refused, summary.refused),
        (Status::Failed, summary.failed),
    ] {
        add(&mut statuses, status_name(status), count);
    }
    let policy = control.policy();
    let loaded = control
        .lists()
        .loaded
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    Ok(started.ok(json!({
        "queries": {
            "total": summary.queries,
            "blocked": summary.blocked,
            "percent_blocked": summary.blocked_percent,
            "unique_domains": summary.domains,
            "forwarded": summary.forwarded,
            "cached": summary.cached,
            "frequency": summary.queries as f64 / 86_400.0,
            "types": types,
            "status": statuses,
            "replies": replies,
        },
        "clients": { "active": summary.clients, "total": store.client_addresses().await? },
        "gravity": {
            "domains_being_blocked": policy.lists.len() + policy.custom.len(),
            "last_update": loaded,
        },
    })))
}

/// `blocked` and `count` of the top lists (Pi-hole's defaults: false, 10).
fn top_parameters(query: Option<&str>) -> Result<(bool, u32), PiError> {
    let (mut blocked, mut count) = (false, 10);
    for (key, value) in query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
    {
        match key {
            "blocked" => blocked = value.eq_ignore_ascii_case("true"),
            "count" => {
                count = value
                    .parse::<u32>()
                    .map_err(|_| PiError::bad_request("count must be a number"))?
                    .clamp(1, 1000)
            }
            _ => {}
        }
    }
    Ok((blocked, count))
}

/// A top list answer: `key` holds the items, each shaped by `item`, beside the day's totals.
/// `kinds` are the lists for `blocked=true` and `blocked=false`.
async fn top_list(
    control: &Control,
    started: Started,
    query: Option<&str>,
    kinds: (TopKind, TopKind),
    key: &str,
    item: impl Fn(&TopItem) -> Value,
) -> Result<Response, PiError> {
    let (blocked, count) = top_parameters(query)?;
    let kind = if blocked { kinds.0 } else { kinds.1 };
    let items = control.store().top(kind, count, last_day()).await?;
    let summary = control.store().summary(last_day()).await?;
    let mut body = json!({
        "total_queries": summary.queries,
        "blocked_queries": summary.blocked,
    });
    body[key] = Value::Array(items.iter().map(item).collect());
    Ok(started.ok(body))
}

pub async fn top_domains(
    State(control): State<Arc<Control>>,
    started: Started,
    RawQuery(query): RawQuery,
) -> Result<Response, PiError> {
    let kinds = (TopKind::Blocked, TopKind::Permitted);
    top_list(
        &control,
        started,
        query.as_deref(),
        kinds,
        "domains",
        |item| json!({ "domain": item.name, "count": item.count }),
    )
    .await
}

pub async fn top_clients(
    State(control): State<Arc<Control>>,
    started: Started,
    RawQuery(query): RawQuery,
) -> Result<Response, PiError> {
    let kinds = (TopKind::BlockedClients, TopKind::PermittedClients);
    top_list(
        &control,
        started,
        query.as_deref(),
        kinds,
        "clients",
        |item| {
            json!({
                "name": item.client_name.clone().unwrap_or_default(),
                "ip": item.name,
                "count": item.count,
            })
        },
    )
    .await
}

/// An upstream label (`udp://9.9.9.9:53`, `https://1.1.1.1:443/dns-query#name`) as Pi-hole's
/// address and port.
pub(super) fn upstream_address(label: &str) -> (String, i64) {
    let rest = label.split_once("://").map_or(label, |(_, rest)| rest);
    let rest = rest.split(['#', '/']).next().unwrap_or(rest);
    match rest.parse::<std::net::SocketAddr>() {
        Ok(addr) => (addr.ip().to_string(), i64::from(addr.port())),
        Err(_) => (rest.to_owned(), -1),
    }
}

pub async fn upstreams(
    State(control): State<Arc<Control>>,
    started: Started,
) -> Result<Response, PiError> {
    let range = last_day();
    let summary = control.store().summary(range).await?;
    let pseudo = |name: &str, count: i64| {
        json!({ "ip": name, "name": name, "port": -1, "count": count,
                "statistics": { "response": 0, "variance": 0 } })
    };
    let mut upstreams = vec![
        pseudo("blocklist", summary.blocked),
        pseudo("cache", summary.cached),
    ];
    for upstream in control.store().upstream_counts(range).await? {
        let (ip, port) = upstream_address(&upstream.upstream);
        upstreams.push(json!({
            "ip": ip,
            "name": upstream.upstream,
            "port": port,
            "count": upstream.count,
            "statistics": { "response": upstream.mean_seconds, "variance": 0 },
        }));
    }
    Ok(started.ok(json!({
        "upstreams": upstreams,
        "forwarded_queries": summary.forwarded,
        "total_queries": summary.queries,
    })))
}

pub async fn query_types(
    State(control): State<Arc<Control>>,
    started: Started,
) -> Result<Response, PiError> {
    let mut types = zeroed(&TYPES);
    types.insert("OTHER".into(), json!(0));
    for counted in control.store().type_counts(last_day()).await? {
        let name = RecordType::from(counted.qtype).to_string();
        let key = if TYPES.contains(&name.as_str()) {
            name.as_str()
        } else {
            "OTHER"
        };
        add(&mut types, key, counted.count);
    }
    Ok(started.ok(json!({ "types": types })))
}
