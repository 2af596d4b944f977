//! Endpoints that look at or change what hush blocks: the blocking switch, `check`, custom
//! rules and lists.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::params::Params;
use crate::config::HumanDuration;
use crate::control::{Control, ReloadError};
use crate::rules::{Polarity, QueryName, validate_custom};
use crate::store::time::from_unix_micros;
use crate::store::{CustomRule, RuleKind};

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// A JSON body, with extraction failures turned into our error shape.
fn body<T>(payload: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    payload
        .map(|Json(value)| value)
        .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))
}

fn blocking_state(control: &Control) -> Value {
    json!({
        "enabled": control.switch().is_on(),
        "until": control.switch().paused_until().map(rfc3339),
    })
}

pub async fn blocking(State(control): State<Arc<Control>>) -> Json<Value> {
    Json(blocking_state(&control))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetBlocking {
    enabled: bool,
    /// How long blocking stays off (only with `enabled: false`).
    duration: Option<String>,
}

pub async fn set_blocking(
    State(control): State<Arc<Control>>,
    payload: Result<Json<SetBlocking>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let request = body(payload)?;
    let duration = request
        .duration
        .map(|text| {
            text.parse::<HumanDuration>()
                .map_err(|err| ApiError::bad_parameter("duration", err))
        })
        .transpose()?;
    match (request.enabled, duration) {
        (true, Some(_)) => {
            return Err(ApiError::bad_parameter(
                "duration",
                "only applies when turning blocking off",
            ));
        }
        (true, None) => control.switch().turn_on(),
        (false, Some(HumanDuration(duration))) if duration.is_zero() => {
            return Err(ApiError::bad_parameter("duration", "must be longer than 0"));
        }
        (false, duration) => control.switch().turn_off(duration.map(|d| d.0)),
    }
    Ok(Json(blocking_state(&control)))
}

pub async fn check(
    State(control): State<Arc<Control>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::parse(query.as_deref(), &["domain"])?;
    let domain = params.required("domain")?;
    let name = QueryName::from_text(domain).ok_or_else(|| {
        ApiError::bad_parameter("domain", format!("{domain:?} is not a domain name"))
    })?;
    let explanation = control.policy().explain(&name);
    let blocked_by = explanation.blocked_by.as_ref();
    Ok(Json(json!({
        "domain": explanation.domain,
        "blocked": blocked_by.is_some(),
        "rule": blocked_by.map(|by| &by.rule),
        "list": blocked_by.map(|by| &by.list),
        "allowed_by": explanation.allowed_by.map(|by| format!("{} ({})", by.rule, by.list)),
    })))
}

fn rule_json(rule: &CustomRule) -> Value {
    json!({
        "id": rule.id,
        "kind": rule.kind,
        "domain": rule.domain,
        "comment": rule.comment,
        "created": rfc3339(from_unix_micros(rule.created_us)),
    })
}

pub async fn rules(State(control): State<Arc<Control>>) -> Result<Json<Value>, ApiError> {
    let rules = control.store().custom_rules().await?;
    Ok(Json(
        json!({ "rules": rules.iter().map(rule_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    kind: RuleKind,
    domain: String,
    comment: Option<String>,
}

pub async fn add_rule(
    State(control): State<Arc<Control>>,
    payload: Result<Json<NewRule>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request = body(payload)?;
    let domain = request.domain.trim().to_ascii_lowercase();
    validate_custom(&domain)
        .map_err(|why| ApiError::unprocessable(format!("domain {:?}: {why}", request.domain)))?;
    let comment = request
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let rule = control
        .store()
        .add_custom_rule(request.kind, &domain, comment)
        .await?;
    control.apply_custom_rules().await?;
    Ok((StatusCode::CREATED, Json(rule_json(&rule))))
}

pub async fn delete_rule(
    State(control): State<Arc<Control>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_parameter("id", "expected a rule id"))?;
    if !control.store().delete_custom_rule(id).await? {
        return Err(ApiError::not_found(format!("no rule with id {id}")));
    }
    control.apply_custom_rules().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn lists_json(control: &Control) -> Value {
    let lists = control.lists();
    let sources: Vec<Value> = lists
        .reports
        .iter()
        .map(|report| {
            let (updated, error) = control.list_status(report);
            json!({
                "source": report.source.location,
                "category": report.source.category.as_deref(),
                "name": &*report.source.name,
                "kind": match report.source.polarity {
                    Polarity::Block => "block",
                    Polarity::Allow => "allow",
                },
                "entries": report.stats.entries,
                "skipped": report.stats.skipped,
                "unsupported": report.stats.unsupported,
                "invalid": report.stats.invalid,
                "updated": updated.map(rfc3339),
                "error": error,
            })
        })
        .collect();
    json!({ "lists": sources })
}

pub async fn lists(State(control): State<Arc<Control>>) -> Json<Value> {
    Json(lists_json(&control))
}

pub async fn refresh_lists(State(control): State<Arc<Control>>) -> Result<Json<Value>, ApiError> {
    control.refresh_lists().await.map_err(|err| match err {
        // The admin can fix these: they name the config key or the list file.
        ReloadError::Config(_) | ReloadError::List(_) => ApiError::unprocessable(err.to_string()),
        ReloadError::Task(_) => ApiError::internal(err),
    })?;
    Ok(Json(lists_json(&control)))
}
