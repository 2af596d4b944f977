//! `/api/stats/*` and `/api/queries`: the query history.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{RawQuery, State};
use hickory_proto::rr::RecordType;

use super::error::ApiError;
use super::params::Params;
use super::schema::{
    ClientReportItem, ClientReportList, ErrorBody, QueryItem, QueryList, Timeline, TimelineBucket,
    TopList,
};
use crate::control::Control;
use crate::dns::arrival::Protocol;
use crate::dns::outcome::Status;
use crate::rules::GroupMask;
use crate::store::time::{MINUTE_US, from_unix_micros, unix_micros};
use crate::store::{ClientReport, ListVendors, QueryFilter, Summary, TopKind, UNCATEGORIZED};

/// The most timeline buckets one request may ask for.
const MAX_BUCKETS: i64 = 10_000;

/// Totals over a window, exact to the microsecond.
#[utoipa::path(get, path = "/api/stats/summary", tag = "history",
    params(
        ("from" = Option<String>, Query, description = "RFC 3339 or Unix seconds, inclusive (default: 24 h before `to`)"),
        ("to" = Option<String>, Query, description = "RFC 3339 or Unix seconds, exclusive (default: now)"),
        ("instance" = Option<String>, Query, description = "Only the rows of this hush instance (`querylog.instance`); default: every instance"),
    ),
    responses((status = 200, body = Summary), (status = 400, body = ErrorBody)))]
pub async fn summary(
    State(control): State<Arc<Control>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Summary>, ApiError> {
    let params = Params::parse(query.as_deref(), &["from", "to", "instance"])?;
    Ok(Json(control.store().summary(params.window()?).await?))
}

/// The names, blocked names or clients with the most queries in a window.
#[utoipa::path(get, path = "/api/stats/top", tag = "history",
    params(
        ("kind" = Option<String>, Query, description = "`domains` (default), `blocked` or `clients`"),
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 10"),
        ("from" = Option<String>, Query, description = "RFC 3339 or Unix seconds, inclusive (default: 24 h before `to`)"),
        ("to" = Option<String>, Query, description = "RFC 3339 or Unix seconds, exclusive (default: now)"),
        ("instance" = Option<String>, Query, description = "Only the rows of this hush instance (`querylog.instance`); default: every instance"),
    ),
    responses((status = 200, body = TopList), (status = 400, body = ErrorBody)))]
pub async fn top(
    State(control): State<Arc<Control>>,
    RawQuery(query): RawQuery,
) -> Result<Json<TopList>, ApiError> {
    let params = Params::parse(
        query.as_deref(),
        &["kind", "limit", "from", "to", "instance"],
    )?;
    let kind = match params.text("kind").unwrap_or("domains") {
        "domains" => TopKind::Domains,
        "blocked" => TopKind::Blocked,
        "clients" => TopKind::Clients,
        other => {
            return Err(ApiError::bad_parameter(
                "kind",
                format!("expected domains, blocked or clients, got {other:?}"),
            ));
        }
    };
    let limit = params.number("limit", 10, 1..=1000)?;
    let items = control.store().top(kind, limit, params.window()?).await?;
    Ok(Json(TopList { items }))
}

/// Queries and blocked queries per bucket.
#[utoipa::path(get, path = "/api/stats/timeline", tag = "history",
    params(
        ("bucket" = Option<String>, Query, description = "Whole minutes from `1m` to `24h`, default `10m`"),
        ("from" = Option<String>, Query, description = "RFC 3339 or Unix seconds, inclusive (default: 24 h before `to`)"),
        ("to" = Option<String>, Query, description = "RFC 3339 or Unix seconds, exclusive (default: now)"),
        ("instance" = Option<String>, Query, description = "Only the rows of this hush instance (`querylog.instance`); default: every instance"),
    ),
    responses((status = 200, body = Timeline), (status = 400, body = ErrorBody)))]
pub async fn timeline(
    State(control): State<Arc<Control>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Timeline>, ApiError> {
    let params = Params::parse(query.as_deref(), &["bucket", "from", "to", "instance"])?;
    let bucket = params
        .duration("bucket")?
        .unwrap_or(Duration::from_secs(600));
    if bucket < Duration::from_secs(60)
        || bucket.as_secs() % 60 != 0
        || bucket > Duration::from_secs(86_400)
    {
        return Err(ApiError::bad_parameter(
            "bucket",
            "must be whole minutes from 1m to 24h",
        ));
    }
    let window = params.window()?;
    let range = window.range;
    let bucket_minutes = (bucket.as_secs() / 60) as i64;
    if (range.to_us - range.from_us) / (bucket_minutes * MINUTE_US) > MAX_BUCKETS {
        return Err(ApiError::bad_parameter(
            "bucket",
            format!("too small for this range (more than {MAX_BUCKETS} buckets)"),
        ));
    }
    let buckets = control.store().timeline(bucket_minutes, window).await?;
    let buckets = buckets
        .iter()
        .map(|b| TimelineBucket {
            start: humantime::format_rfc3339_seconds(from_unix_micros(b.start_us)).to_string(),
            queries: b.queries,
            blocked: b.blocked,
        })
        .collect();
    Ok(Json(Timeline { buckets }))
}

/// The query log, newest first, a page at a time.
#[utoipa::path(get, path = "/api/queries", tag = "history",
    params(
        ("client" = Option<String>, Query, description = "A client address"),
        ("client_name" = Option<String>, Query, description = "A device or host name, exactly"),
        ("protocol" = Option<String>, Query, description = "`udp`, `tcp`, `tls` or `https`"),
        ("domain" = Option<String>, Query, description = "A literal substring of the name"),
        ("status" = Option<String>, Query, description = "`forwarded`, `cached`, `blocked`, `refused`, `failed` or `local`"),
        ("type" = Option<String>, Query, description = "A record type, e.g. `AAAA`"),
        ("group" = Option<String>, Query, description = "The group whose list blocked, e.g. `kids`"),
        ("from" = Option<String>, Query, description = "RFC 3339 or Unix seconds, inclusive"),
        ("to" = Option<String>, Query, description = "RFC 3339 or Unix seconds, exclusive"),
        ("instance" = Option<String>, Query, description = "Only the rows of this hush instance (`querylog.instance`); default: every instance"),
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 100"),
        ("before" = Option<String>, Query, description = "The previous page's `next`"),
    ),
    responses((status = 200, body = QueryList), (status = 400, body = ErrorBody)))]
pub async fn queries(
    State(control): State<Arc<Control>>,
    RawQuery(query): RawQuery,
) -> Result<Json<QueryList>, ApiError> {
    let params = Params::parse(
        query.as_deref(),
        &[
            "client",
            "client_name",
            "protocol",
            "domain",
            "status",
            "type",
            "group",
            "from",
            "to",
            "limit",
            "before",
            "instance",
        ],
    )?;
    let status = params
        .text("status")
        .map(|text| {
            text.parse::<Status>().map_err(|_| {
                ApiError::bad_parameter("status", format!("expected {}", Status::names()))
            })
        })
        .transpose()?;
    let qtype = params
        .text("type")
        .map(|text| {
            text.to_ascii_uppercase()
                .parse::<RecordType>()
                .map(u16::from)
                .map_err(|_| {
                    ApiError::bad_parameter("type", format!("unknown record type {text:?}"))
                })
        })
        .transpose()?;
    let client = params
        .text("client")
        .map(|text| {
            text.parse::<std::net::IpAddr>()
                .map(|ip| ip.to_canonical().to_string())
                .map_err(|_| {
                    ApiError::bad_parameter(
                        "client",
                        format!("expected an IP address, got {text:?}"),
                    )
                })
        })
        .transpose()?;
    let before = params
        .text("before")
        .map(|text| {
            text.parse::<i64>()
                .map_err(|_| ApiError::bad_parameter("before", "expected a `next` cursor"))
        })
        .transpose()?;
    let protocol = params
        .text("protocol")
        .map(|text| {
            Protocol::from_name(text).ok_or_else(|| {
                ApiError::bad_parameter("protocol", "expected udp, tcp, tls or https")
            })
        })
        .transpose()?;
    // A device's own name or a name from a reverse lookup: letters, digits, '-' and '.'.
    let client_name = params
        .text("client_name")
        .map(|text| {
            let name = text.trim_end_matches('.').to_ascii_lowercase();
            let valid = (1..=253).contains(&name.len())
                && name
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.');
            valid.then_some(name).ok_or_else(|| {
                ApiError::bad_parameter("client_name", "expected a device or host name")
            })
        })
        .transpose()?;
    let filter = QueryFilter {
        client,
        client_name,
        protocol,
        domain: params.text("domain").map(str::to_owned),
        status,
        qtype,
        group: params.text("group").map(str::to_owned),
        instance: params.instance()?,
        from_us: params.time("from")?.map(unix_micros),
        to_us: params.time("to")?.map(unix_micros),
        before,
        limit: params.number("limit", 100, 1..=1000)?,
    };
    let page = control.store().queries(&filter).await?;
    let queries = page
        .rows
        .iter()
        .map(|stored| {
            let row = &stored.row;
            QueryItem {
                id: stored.id,
                instance: stored.instance.clone(),
                time: humantime::format_rfc3339_micros(from_unix_micros(row.time_us)).to_string(),
                client: row.client.clone(),
                client_name: row.client_name.clone(),
                protocol: row.protocol.name().to_owned(),
                domain: row.domain.clone(),
                query_type: RecordType::from(row.qtype).to_string(),
                status: row.status.name().to_owned(),
                rcode: rcode_name(row.rcode),
                rule: row.rule.as_deref().map(str::to_owned),
                list: row.list.as_deref().map(str::to_owned),
                category: row.category.as_deref().map(str::to_owned),
                group: row.group.as_deref().map(str::to_owned),
                upstream: row.upstream.as_deref().map(str::to_owned),
                duration_us: row.duration_us,
            }
        })
        .collect();
    Ok(Json(QueryList {
        queries,
        next: page.next.map(|id| id.to_string()),
    }))
}

/// "Who phones home": per client, queries and blocked queries by list category and list.
#[utoipa::path(get, path = "/api/report/clients", tag = "history",
    params(
        ("from" = Option<String>, Query, description = "RFC 3339 or Unix seconds, inclusive (default: 24 h before `to`)"),
        ("to" = Option<String>, Query, description = "RFC 3339 or Unix seconds, exclusive (default: now)"),
        ("instance" = Option<String>, Query, description = "Only the rows of this hush instance (`querylog.instance`); default: every instance"),
    ),
    responses((status = 200, body = ClientReportList), (status = 400, body = ErrorBody)))]
pub async fn client_report(
    State(control): State<Arc<Control>>,
    RawQuery(query): RawQuery,
) -> Result<Json<ClientReportList>, ApiError> {
    let params = Params::parse(query.as_deref(), &["from", "to", "instance"])?;
    let window = params.window()?;
    let range = window.range;
    let vendors: ListVendors = control
        .lists()
        .reports
        .iter()
        .filter_map(|list| {
            let vendor = list.source.vendor.as_ref()?;
            Some((Arc::clone(&list.source.name), Arc::clone(vendor)))
        })
        .collect();
    let reports = control.store().client_report(window, &vendors).await?;
    let policy = control.policy();
    let clients = reports
        .into_iter()
        .map(|report| {
            let address = report.client.parse().ok();
            let device = report.client_name.as_deref();
            let entry = address.and_then(|address| policy.groups.client_of(address, device));
            let groups = address.map_or(GroupMask::DEFAULT, |address| {
                policy.groups.member_of(address, device)
            });
            ClientReportItem {
                headline: headline(&report),
                notes: notes(&report),
                client_entry: entry.map(|entry| entry.name.to_string()),
                groups: policy
                    .groups
                    .names(groups)
                    .iter()
                    .map(|g| g.to_string())
                    .collect(),
                report,
            }
        })
        .collect();
    Ok(Json(ClientReportList {
        from: humantime::format_rfc3339_seconds(from_unix_micros(range.from_us)).to_string(),
        to: humantime::format_rfc3339_seconds(from_unix_micros(range.to_us)).to_string(),
        clients,
    }))
}

/// One line a person can read: "192.168.1.23: 1,284 of 1,500 queries blocked, 1,102 of them
/// telemetry (Xiaomi telemetry)".
fn headline(report: &ClientReport) -> String {
    let who = match &report.client_name {
        Some(name) => format!("{name} ({})", report.client),
        None => report.client.clone(),
    };
    let mut line = format!(
        "{who}: {} of {} queries blocked",
        thousands(report.blocked),
        thousands(report.queries)
    );
    if let (Some(category), Some(list)) = (report.by_category.first(), report.by_list.first()) {
        line.push_str(&format!(
            ", {} of them {}",
            thousands(category.blocked),
            category.category
        ));
        if list.category.as_deref().unwrap_or(UNCATEGORIZED) == category.category {
            line.push_str(&format!(" ({})", list.list));
        }
    }
    line
}

/// One line per vendor whose telemetry the device tried to reach, and one for the encrypted
/// resolvers it tried: "Xiaomi telemetry: 1,102 blocked lookups, 38 distinct hosts".
fn notes(report: &ClientReport) -> Vec<String> {
    let mut notes: Vec<String> = report
        .by_vendor
        .iter()
        .map(|vendor| {
            format!(
                "{} telemetry: {} blocked {}, {} distinct {}",
                vendor.vendor,
                thousands(vendor.blocked),
                plural(vendor.blocked, "lookup", "lookups"),
                thousands(vendor.hosts),
                plural(vendor.hosts, "host", "hosts"),
            )
        })
        .collect();
    if !report.encrypted_dns.is_empty() {
        let tried: Vec<String> = report
            .encrypted_dns
            .iter()
            .map(|name| format!("{} {}×", name.name, thousands(name.lookups)))
            .collect();
        notes.push(format!(
            "tried to use its own encrypted DNS: {}",
            tried.join(", ")
        ));
    }
    notes
}

fn plural<'a>(count: i64, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 { one } else { many }
}

fn thousands(number: i64) -> String {
    let digits = number.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if number < 0 {
        out.push('-');
    }
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The rcode as dig prints it.
fn rcode_name(code: u16) -> String {
    let name = match code {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        16 => "BADVERS",
        other => return other.to_string(),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_thousands_separators() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (1_284, "1,284"),
            (1_234_567, "1,234,567"),
            (-1_000, "-1,000"),
        ];
        for (number, text) in cases {
            assert_eq!(thousands(number), text);
        }
    }
}
