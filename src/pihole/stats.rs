//! Pi-hole's statistics over the last 24 hours, from the same store and the same windows as
//! the native API, so every number matches it: the summary, top lists, upstreams, query types,
//! the 10-minute history and the query log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{RawQuery, State};
use axum::response::Response;
use hickory_proto::rr::RecordType;
use serde_json::{Map, Value, json};

use super::reply::{PiError, Started};
use crate::control::Control;
use crate::dns::outcome::Status;
use crate::store::time::{from_unix_micros, unix_micros};
use crate::store::{QueryFilter, StoredRow, TimeRange, TopItem, TopKind};

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
fn status_name(status: Status) -> &'static str {
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
fn reply_name(rcode: u16) -> &'static str {
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

fn add(map: &mut Map<String, Value>, key: &str, count: i64) {
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
fn upstream_address(label: &str) -> (String, i64) {
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

/// Pi-hole's history slots: 10 minutes, stamped at their middle.
const SLOT_MINUTES: i64 = 10;
const SLOT_US: i64 = SLOT_MINUTES * 60_000_000;

fn slot_timestamp(start_us: i64) -> i64 {
    (start_us + SLOT_US / 2) / 1_000_000
}

pub async fn history(
    State(control): State<Arc<Control>>,
    started: Started,
) -> Result<Response, PiError> {
    let buckets = control.store().timeline(SLOT_MINUTES, last_day()).await?;
    let history: Vec<Value> = buckets
        .iter()
        .map(|bucket| {
            json!({
                "timestamp": slot_timestamp(bucket.start_us),
                "total": bucket.queries,
                "cached": bucket.cached,
                "blocked": bucket.blocked,
                "forwarded": bucket.forwarded,
            })
        })
        .collect();
    Ok(started.ok(json!({ "history": history })))
}

pub async fn history_clients(
    State(control): State<Arc<Control>>,
    started: Started,
    RawQuery(query): RawQuery,
) -> Result<Response, PiError> {
    let limit = query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("N="))
        .map(|value| {
            value
                .parse::<usize>()
                .map_err(|_| PiError::bad_request("N must be a number"))
        })
        .transpose()?
        .unwrap_or(0);
    let range = last_day();
    let slots = control.store().client_slots(range, SLOT_US).await?;
    let mut totals: BTreeMap<String, (Option<String>, i64)> = BTreeMap::new();
    for slot in &slots {
        let entry = totals
            .entry(slot.address.clone())
            .or_insert((slot.name.clone(), 0));
        entry.1 += slot.count;
    }
    let mut ranked: Vec<(&String, &(Option<String>, i64))> = totals.iter().collect();
    ranked.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(b.0)));
    let shown: Vec<&String> = ranked
        .iter()
        .take(if limit == 0 { usize::MAX } else { limit })
        .map(|(address, _)| *address)
        .collect();
    let buckets = control.store().timeline(SLOT_MINUTES, range).await?;
    let history: Vec<Value> = buckets
        .iter()
        .map(|bucket| {
            let mut data: Map<String, Value> = shown
                .iter()
                .map(|address| ((*address).clone(), json!(0)))
                .collect();
            data.insert("others".into(), json!(0));
            for slot in slots
                .iter()
                .filter(|slot| slot.slot_start_us == bucket.start_us)
            {
                let key = if shown.contains(&&slot.address) {
                    slot.address.as_str()
                } else {
                    "others"
                };
                add(&mut data, key, slot.count);
            }
            json!({ "timestamp": slot_timestamp(bucket.start_us), "data": data })
        })
        .collect();
    let mut clients: Map<String, Value> = ranked
        .iter()
        .filter(|(address, _)| shown.contains(address))
        .map(|(address, (name, total))| {
            ((*address).clone(), json!({ "name": name, "total": total }))
        })
        .collect();
    if shown.len() < ranked.len() {
        let others: i64 = ranked
            .iter()
            .skip(shown.len())
            .map(|(_, (_, total))| total)
            .sum();
        clients.insert(
            "others".into(),
            json!({ "name": "other clients", "total": others }),
        );
    }
    Ok(started.ok(json!({ "history": history, "clients": clients })))
}

/// `/api/queries`: `from`/`until` (Unix seconds), `length` (default 100), `cursor` (the newest id
/// to include), `domain` (a substring; `*` as in Pi-hole's wildcards is dropped), `client_ip`,
/// `type`, `status`.
pub async fn queries(
    State(control): State<Arc<Control>>,
    started: Started,
    RawQuery(query): RawQuery,
) -> Result<Response, PiError> {
    let mut filter = QueryFilter {
        limit: 100,
        ..QueryFilter::default()
    };
    for (key, value) in query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
    {
        let seconds = |value: &str| {
            value
                .parse::<f64>()
                .map(|seconds| (seconds * 1e6) as i64)
                .map_err(|_| PiError::bad_request(format!("{key} must be a Unix time")))
        };
        match key {
            "from" => filter.from_us = Some(seconds(value)?),
            "until" => filter.to_us = Some(seconds(value)?),
            "length" => {
                filter.limit = value
                    .parse::<u32>()
                    .map_err(|_| PiError::bad_request("length must be a number"))?
                    .clamp(1, 1000)
            }
            "cursor" => {
                let cursor = value
                    .parse::<i64>()
                    .map_err(|_| PiError::bad_request("Requested cursor is invalid"))?;
                filter.before = Some(cursor.saturating_add(1));
            }
            "domain" => {
                let text = value.replace('*', "");
                filter.domain = (!text.is_empty()).then_some(text);
            }
            "client_ip" => filter.client = Some(value.to_owned()),
            "type" => {
                filter.qtype = Some(u16::from(value.parse::<RecordType>().map_err(|_| {
                    PiError::bad_request(format!("unknown query type {value:?}"))
                })?))
            }
            "status" => {
                filter.status = Some(match value {
                    "FORWARDED" => Status::Forwarded,
                    "CACHE" => Status::Cached,
                    "GRAVITY" | "DENYLIST" | "REGEX" => Status::Blocked,
                    "SPECIAL_DOMAIN" => Status::Local,
                    other => return Err(PiError::bad_request(format!("unknown status {other:?}"))),
                })
            }
            _ => {}
        }
    }
    let page = control.store().queries(&filter).await?;
    let rows: Vec<Value> = page.rows.iter().map(query_json).collect();
    let count = rows.len();
    let cursor = page.rows.first().map_or(0, |row| row.id);
    Ok(started.ok(json!({
        "queries": rows,
        "cursor": cursor,
        "recordsTotal": count,
        "recordsFiltered": count,
        "draw": 0,
    })))
}

fn query_json(stored: &StoredRow) -> Value {
    let row = &stored.row;
    let time = from_unix_micros(row.time_us)
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64());
    json!({
        "id": stored.id,
        "time": time,
        "type": RecordType::from(row.qtype).to_string(),
        "domain": row.domain,
        "cname": Value::Null,
        "status": status_name(row.status),
        "client": { "ip": row.client, "name": row.client_name },
        "dnssec": "UNKNOWN",
        "reply": { "type": reply_name(row.rcode), "time": row.duration_us as f64 / 1e6 },
        "list_id": Value::Null,
        "upstream": row.upstream.as_deref().map(|label| {
            let (ip, port) = upstream_address(label);
            format!("{ip}#{port}")
        }),
        "ede": { "code": 0, "text": Value::Null },
    })
}
