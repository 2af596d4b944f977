//! Pi-hole's history views over the last 24 hours: queries per 10-minute slot, per client per
//! slot, and the query log with Pi-hole's filters and row shape.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use hickory_proto::rr::RecordType;
use serde_json::{Map, Value, json};

use super::reply::{PiError, Started};
use super::stats::{add, last_day, reply_name, status_name, upstream_address};
use crate::control::Control;
use crate::dns::outcome::Status;
use crate::store::time::from_unix_micros;
use crate::store::{QueryFilter, StoredRow};

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
