//! Pi-hole's blocking switch, info, domains and lists over hush's own state. Pi-hole "exact"
//! domains are hush's exact rules (`|name^`), "regex" domains its `/regex/` rules; hush's
//! native "name and its subdomains" rules appear as the regex Pi-hole's own interface makes for
//! that (`(\.|^)name$`) and can be removed as such.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, RawPathParams, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::reply::{PiError, Started};
use crate::control::Control;
use crate::rules::{Polarity, validate_custom};
use crate::store::time::from_unix_micros;
use crate::store::{CustomRule, RuleKind, StoreError};

fn blocking_json(control: &Control) -> Value {
    let switch = control.switch();
    let timer = switch.paused_until().and_then(|until| {
        until
            .duration_since(SystemTime::now())
            .ok()
            .map(|left| left.as_secs_f64())
    });
    json!({
        "blocking": if switch.is_on() { "enabled" } else { "disabled" },
        "timer": timer,
    })
}

pub async fn blocking(State(control): State<Arc<Control>>, started: Started) -> Response {
    started.ok(blocking_json(&control))
}

/// `POST /api/dns/blocking {blocking, timer}`: `timer` is seconds (a number above 0), or
/// `null`/`true`/absent for no timer.
pub async fn set_blocking(
    State(control): State<Arc<Control>>,
    started: Started,
    body: Bytes,
) -> Response {
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return PiError::bad_request("Invalid request body data (no valid JSON)")
            .into_response_at(started);
    };
    let Some(enable) = payload.get("blocking").and_then(Value::as_bool) else {
        return PiError::new(
            StatusCode::BAD_REQUEST,
            "body_error",
            "No \"blocking\" boolean in body data",
        )
        .into_response_at(started);
    };
    let timer = payload
        .get("timer")
        .and_then(Value::as_f64)
        .filter(|seconds| *seconds > 0.0 && seconds.is_finite())
        .map(|seconds| Duration::from_secs_f64(seconds.min(365.0 * 86_400.0)));
    control
        .set_blocking(enable, timer.filter(|_| !enable))
        .await;
    started.ok(blocking_json(&control))
}

pub async fn version(started: Started) -> Response {
    let ours = concat!("hush-", env!("CARGO_PKG_VERSION"));
    // hush has no separate parts and no update channel: every part reports hush's version,
    // and no hash, so clients see nothing to update.
    let part = || {
        json!({
            "local": { "branch": Value::Null, "version": ours, "hash": Value::Null },
            "remote": { "version": ours, "hash": Value::Null },
        })
    };
    started.ok(json!({
        "version": {
            "core": part(),
            "web": part(),
            "ftl": part(),
            "docker": { "local": Value::Null, "remote": Value::Null },
        }
    }))
}

pub async fn ftl(
    State(control): State<Arc<Control>>,
    started: Started,
) -> Result<Response, PiError> {
    let summary = control.store().summary(super::stats::last_day()).await?;
    let rules = control.store().custom_rules().await?;
    let known_clients = control.store().client_addresses().await?;
    let count = |kind: RuleKind, regex: bool| {
        rules
            .iter()
            .filter(|rule| rule.kind == kind && rule.domain.starts_with('/') == regex)
            .count()
    };
    let pair = |n: usize| json!({ "total": n, "enabled": n });
    let policy = control.policy();
    let dnsmasq: serde_json::Map<String, Value> = [
        "dns_cache_inserted",
        "dns_cache_live_freed",
        "dns_queries_forwarded",
        "dns_auth_answered",
        "dns_local_answered",
        "dns_stale_answered",
        "dns_unanswered",
        "dnssec_max_crypto_use",
        "dnssec_max_sig_fail",
        "dnssec_max_work",
        "bootp",
        "pxe",
        "dhcp_ack",
        "dhcp_decline",
        "dhcp_discover",
        "dhcp_inform",
        "dhcp_nak",
        "dhcp_offer",
        "dhcp_release",
        "dhcp_request",
        "noanswer",
        "leases_allocated_4",
        "leases_pruned_4",
        "leases_allocated_6",
        "leases_pruned_6",
        "tcp_connections",
        "dhcp_leasequery",
        "dhcp_lease_unassigned",
        "dhcp_lease_actve",
        "dhcp_lease_unknown",
    ]
    .into_iter()
    .map(|key| (key.to_owned(), json!(0)))
    .collect();
    Ok(started.ok(json!({
        "ftl": {
            "database": {
                "gravity": policy.lists.len(),
                "groups": 1,
                "lists": control.lists().reports.len(),
                "clients": known_clients,
                "domains": { "allowed": pair(count(RuleKind::Allow, false)), "denied": pair(count(RuleKind::Deny, false)) },
                "regex": { "allowed": pair(count(RuleKind::Allow, true)), "denied": pair(count(RuleKind::Deny, true)) },
            },
            "privacy_level": 0,
            "query_frequency": summary.queries as f64 / 86_400.0,
            "clients": { "total": known_clients, "active": summary.clients },
            "pid": std::process::id(),
            "uptime": u64::try_from(control.uptime().as_millis()).unwrap_or(u64::MAX),
            "%mem": 0.0,
            "%cpu": 0.0,
            "allow_destructive": false,
            "dnsmasq": dnsmasq,
        }
    })))
}

/// A custom rule as Pi-hole shows it: its kind and text.
fn pihole_form(rule: &str) -> (&'static str, String) {
    if let Some(name) = rule
        .strip_prefix('|')
        .and_then(|rest| rest.strip_suffix('^'))
    {
        return ("exact", name.to_owned());
    }
    if let Some(pattern) = rule
        .strip_prefix('/')
        .and_then(|rest| rest.strip_suffix('/'))
    {
        return ("regex", pattern.to_owned());
    }
    match rule.strip_prefix("*.") {
        Some(name) => ("regex", format!("\\.{}$", name.replace('.', "\\."))),
        None => ("regex", format!("(\\.|^){}$", rule.replace('.', "\\."))),
    }
}

fn type_name(kind: RuleKind) -> &'static str {
    match kind.polarity() {
        Polarity::Allow => "allow",
        Polarity::Block => "deny",
    }
}

fn domain_json(rule: &CustomRule) -> Value {
    let (kind, text) = pihole_form(&rule.domain);
    let added = from_unix_micros(rule.created_us)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    json!({
        "domain": text, "unicode": text, "type": type_name(rule.kind), "kind": kind,
        "comment": rule.comment, "groups": [0], "enabled": true, "id": rule.id,
        "date_added": added, "date_modified": added,
    })
}

fn rule_kind(kind: &str) -> Result<RuleKind, PiError> {
    match kind {
        "allow" => Ok(RuleKind::Allow),
        "deny" => Ok(RuleKind::Deny),
        other => Err(PiError::bad_request(format!(
            "unknown domain type {other:?}"
        ))),
    }
}

/// `GET /api/domains[/{type}[/{kind}[/{domain}]]]`.
pub async fn domains(
    State(control): State<Arc<Control>>,
    started: Started,
    params: RawPathParams,
) -> Result<Response, PiError> {
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    };
    let rules = control.store().custom_rules().await?;
    let shown: Vec<Value> = rules
        .iter()
        .filter(|rule| param("type").is_none_or(|wanted| type_name(rule.kind) == wanted))
        .filter(|rule| {
            let (kind, text) = pihole_form(&rule.domain);
            param("kind").is_none_or(|wanted| kind == wanted)
                && param("domain").is_none_or(|wanted| text == wanted)
        })
        .map(domain_json)
        .collect();
    Ok(started.ok(json!({ "domains": shown })))
}

/// `POST /api/domains/{type}/{kind} {domain: string | [string], comment?}`: 201 with what was
/// added and, per item, what failed.
pub async fn add_domains(
    State(control): State<Arc<Control>>,
    started: Started,
    Path((kind_name, form)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, PiError> {
    let kind = rule_kind(&kind_name)?;
    let payload: Value = serde_json::from_slice(&body)
        .map_err(|_| PiError::bad_request("Invalid request body data (no valid JSON)"))?;
    let items: Vec<String> = match payload.get("domain") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => {
            return Err(PiError::bad_request(
                "Invalid request: No valid \"domain\" in payload (must be either string or array)",
            ));
        }
    };
    let comment = payload.get("comment").and_then(Value::as_str);
    let (mut added, mut success, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for item in items {
        let rule = match form.as_str() {
            "exact" => format!(
                "|{}^",
                item.trim().trim_end_matches('.').to_ascii_lowercase()
            ),
            "regex" => format!("/{item}/"),
            other => {
                return Err(PiError::bad_request(format!(
                    "unknown domain kind {other:?}"
                )));
            }
        };
        if let Err(why) = validate_custom(&rule) {
            errors.push(json!({ "item": item, "error": why }));
            continue;
        }
        match control.store().add_custom_rule(kind, &rule, comment).await {
            Ok(created) => {
                success.push(json!({ "item": item }));
                added.push(domain_json(&created));
            }
            Err(StoreError::Duplicate { .. }) => {
                errors.push(json!({ "item": item, "error": "UNIQUE constraint failed" }))
            }
            Err(err) => return Err(err.into()),
        }
    }
    control.apply_custom_rules().await?;
    Ok(started.reply(
        StatusCode::CREATED,
        json!({ "domains": added, "processed": { "success": success, "errors": errors } }),
    ))
}

/// `DELETE /api/domains/{type}/{kind}/{domain}`: 204, or 404 when nothing matched.
pub async fn delete_domain(
    State(control): State<Arc<Control>>,
    started: Started,
    Path((kind_name, form, domain)): Path<(String, String, String)>,
) -> Result<Response, PiError> {
    let kind = rule_kind(&kind_name)?;
    let rules = control.store().custom_rules().await?;
    let mut deleted = false;
    for rule in rules.iter().filter(|rule| rule.kind == kind) {
        if pihole_form(&rule.domain) == (form.as_str(), domain.clone()) {
            deleted |= control.store().delete_custom_rule(rule.id).await?;
        }
    }
    if !deleted {
        return Ok(started.reply(StatusCode::NOT_FOUND, json!({})));
    }
    control.apply_custom_rules().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/lists`: hush's lists, with the fields Pi-hole's gravity has no counterpart for
/// (`groups`, `status`, `abp_entries`) at neutral values.
pub async fn lists(State(control): State<Arc<Control>>, started: Started) -> Response {
    let lists = control.lists();
    let items: Vec<Value> = lists
        .reports
        .iter()
        .enumerate()
        .map(|(i, report)| {
            let (updated, _) = control.list_status(report);
            let updated = updated
                .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |since| since.as_secs());
            json!({
                "address": report.source.location,
                "comment": report.source.name.to_string(),
                "groups": [0],
                "enabled": true,
                "id": i + 1,
                "date_added": updated,
                "date_modified": updated,
                "type": match report.source.polarity { Polarity::Block => "block", Polarity::Allow => "allow" },
                "date_updated": updated,
                "number": report.stats.entries,
                "invalid_domains": report.stats.invalid,
                "abp_entries": 0,
                "status": 0,
            })
        })
        .collect();
    started.ok(json!({ "lists": items }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_rules_read_as_pihole_domains() {
        assert_eq!(
            pihole_form("|ads.example.com^"),
            ("exact", "ads.example.com".into())
        );
        assert_eq!(
            pihole_form("/^ad[0-9]+\\./"),
            ("regex", "^ad[0-9]+\\.".into())
        );
        assert_eq!(
            pihole_form("example.com"),
            ("regex", "(\\.|^)example\\.com$".into())
        );
        assert_eq!(
            pihole_form("*.example.com"),
            ("regex", "\\.example\\.com$".into())
        );
    }
}
