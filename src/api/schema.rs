//! The native API's response and request bodies as types: the handlers build and return these,
//! and the OpenAPI description (`/api/openapi.json`, [`super::openapi`]) is generated from
//! them, so the two cannot drift apart.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::{ClientReport, RuleKind, TopItem};

/// `{"error": "what is wrong"}` of every failed request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` while the query log cannot be written or the shared database
    /// cannot be reached.
    pub status: String,
    pub version: String,
    pub uptime_s: u64,
    pub blocking: bool,
    /// Rules in force (lists and custom rules).
    pub rules: usize,
    pub querylog: QueryLogHealth,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueryLogHealth {
    pub enabled: bool,
    pub queued: usize,
    pub written: u64,
    pub dropped: u64,
    pub errors: u64,
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopList {
    pub items: Vec<TopItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Timeline {
    pub buckets: Vec<TimelineBucket>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineBucket {
    /// RFC 3339, UTC.
    pub start: String,
    pub queries: i64,
    pub blocked: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueryList {
    /// Newest first.
    pub queries: Vec<QueryItem>,
    /// Pass as `before` for the next (older) page; null at the end.
    pub next: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueryItem {
    pub id: i64,
    /// The hush instance that answered (`querylog.instance`).
    pub instance: String,
    /// RFC 3339 with microseconds, UTC.
    pub time: String,
    pub client: String,
    /// The device's own name (DoT/DoH) or its reverse-lookup name.
    pub client_name: Option<String>,
    /// `udp`, `tcp`, `tls` or `https`.
    pub protocol: String,
    pub domain: String,
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub query_type: String,
    /// `forwarded`, `cached`, `blocked`, `refused`, `failed` or `local`.
    pub status: String,
    pub rcode: String,
    pub rule: Option<String>,
    pub list: Option<String>,
    pub category: Option<String>,
    /// The group whose list blocked the query (`[[groups]]`); `null` when none did.
    pub group: Option<String>,
    pub upstream: Option<String>,
    pub duration_us: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientReportList {
    pub from: String,
    pub to: String,
    pub clients: Vec<ClientReportItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientReportItem {
    #[serde(flatten)]
    pub report: ClientReport,
    /// One line a person can read.
    pub headline: String,
    /// Lines a person can read about the device's vendor telemetry and encrypted-DNS attempts:
    /// "Xiaomi telemetry: 1,102 blocked lookups, 38 distinct hosts".
    pub notes: Vec<String>,
    /// The `[[clients]]` entry the device matches, if one does.
    pub client_entry: Option<String>,
    /// The groups it belongs to (`default` unless an entry says otherwise).
    pub groups: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlockingState {
    pub enabled: bool,
    /// When a pause ends (RFC 3339), if blocking is paused.
    pub until: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBlocking {
    pub enabled: bool,
    /// How long blocking stays off, e.g. `5m` (only with `enabled: false`).
    pub duration: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckAnswer {
    pub domain: String,
    pub blocked: bool,
    pub rule: Option<String>,
    pub list: Option<String>,
    /// The group whose list blocks (`null` for custom and built-in rules).
    pub group: Option<String>,
    /// The allow rule that lets the name through, if one matches.
    pub allowed_by: Option<String>,
    /// The client asked about (`client=`), and its `[[clients]]` entry when one matches.
    pub client: Option<String>,
    pub client_entry: Option<String>,
    /// The groups the answer is for: the client's active groups, or `default`.
    pub groups: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    pub rules: Vec<RuleItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleItem {
    pub id: i64,
    pub kind: RuleKind,
    pub domain: String,
    pub comment: Option<String>,
    pub created: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    pub kind: RuleKind,
    /// A domain, `*.domain` or `/regex/`.
    pub domain: String,
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListReport {
    pub lists: Vec<ListItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListItem {
    pub source: String,
    pub category: Option<String>,
    pub name: String,
    /// `block` or `allow`.
    pub kind: String,
    /// Whose telemetry the list blocks, when it says.
    pub vendor: Option<String>,
    /// The groups whose clients the list applies to (`default` is `blocking.lists`).
    pub groups: Vec<String>,
    pub entries: u64,
    pub skipped: u64,
    pub unsupported: u64,
    pub invalid: u64,
    pub updated: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthStatus {
    /// Whether a login (or a bearer token) is needed.
    pub required: bool,
    pub authenticated: bool,
    /// The session's CSRF token, for a request with the session cookie.
    pub csrf: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginAnswer {
    /// Send it back as `X-CSRF-Token` with every change made with the session cookie.
    pub csrf: Option<String>,
}
