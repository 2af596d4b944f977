//! Endpoints that look at or change what hush blocks: the blocking switch, `check`, custom
//! rules and lists.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;

use super::error::ApiError;
use super::params::Params;
use super::schema::{
    BlockingState, CheckAnswer, ErrorBody, ListItem, ListReport, NewRule, RuleItem, RuleList,
    SetBlocking,
};
use crate::config::HumanDuration;
use crate::control::{Control, ReloadError};
use crate::rules::{Polarity, QueryName, validate_custom};
use crate::store::CustomRule;
use crate::store::time::from_unix_micros;

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// A JSON body, with extraction failures turned into our error shape.
fn body<T>(payload: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    payload
        .map(|Json(value)| value)
        .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))
}

fn blocking_state(control: &Control) -> BlockingState {
    BlockingState {
        enabled: control.switch().is_on(),
        until: control.switch().paused_until().map(rfc3339),
    }
}

/// Whether blocking is on, and until when it is paused.
#[utoipa::path(get, path = "/api/blocking", tag = "blocking",
    responses((status = 200, body = BlockingState)))]
pub async fn blocking(State(control): State<Arc<Control>>) -> Json<BlockingState> {
    Json(blocking_state(&control))
}

/// Turns blocking on, off, or off for a while.
#[utoipa::path(post, path = "/api/blocking", tag = "blocking", request_body = SetBlocking,
    responses((status = 200, body = BlockingState), (status = 400, body = ErrorBody)))]
pub async fn set_blocking(
    State(control): State<Arc<Control>>,
    payload: Result<Json<SetBlocking>, JsonRejection>,
) -> Result<Json<BlockingState>, ApiError> {
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
        (true, None) => control.set_blocking(true, None).await,
        (false, Some(HumanDuration(duration))) if duration.is_zero() => {
            return Err(ApiError::bad_parameter("duration", "must be longer than 0"));
        }
        (false, duration) => control.set_blocking(false, duration.map(|d| d.0)).await,
    }
    Ok(Json(blocking_state(&control)))
}

/// Whether a name would be blocked, and by which rule of which list.
#[utoipa::path(get, path = "/api/check", tag = "blocking",
    params(
        ("domain" = String, Query, description = "The name to check"),
        ("client" = Option<String>, Query, description = "Answer for this client address (its groups active now); default: the group `default`"),
    ),
    responses((status = 200, body = CheckAnswer), (status = 400, body = ErrorBody)))]
pub async fn check(
    State(control): State<Arc<Control>>,
    RawQuery(query): RawQuery,
) -> Result<Json<CheckAnswer>, ApiError> {
    let params = Params::parse(query.as_deref(), &["domain", "client"])?;
    let domain = params.required("domain")?;
    let name = QueryName::from_text(domain).ok_or_else(|| {
        ApiError::bad_parameter("domain", format!("{domain:?} is not a domain name"))
    })?;
    let client = params
        .text("client")
        .map(|text| {
            text.parse::<IpAddr>().map_err(|_| {
                ApiError::bad_parameter("client", format!("{text:?} is not an IP address"))
            })
        })
        .transpose()?;
    let explanation = control.policy().explain(&name, client);
    let blocked_by = explanation.blocked_by.as_ref();
    Ok(Json(CheckAnswer {
        blocked: blocked_by.is_some(),
        rule: blocked_by.map(|by| by.rule.clone()),
        list: blocked_by.map(|by| by.list.clone()),
        group: blocked_by.and_then(|by| by.group.clone()),
        allowed_by: explanation
            .allowed_by
            .as_ref()
            .map(|by| format!("{} ({})", by.rule, by.list)),
        domain: explanation.domain,
        client: client.map(|client| client.to_string()),
        client_entry: explanation.client,
        groups: explanation.groups,
    }))
}

fn rule_item(rule: &CustomRule) -> RuleItem {
    RuleItem {
        id: rule.id,
        kind: rule.kind,
        domain: rule.domain.clone(),
        comment: rule.comment.clone(),
        created: rfc3339(from_unix_micros(rule.created_us)),
    }
}

/// The custom allow/deny rules.
#[utoipa::path(get, path = "/api/rules", tag = "rules",
    responses((status = 200, body = RuleList)))]
pub async fn rules(State(control): State<Arc<Control>>) -> Result<Json<RuleList>, ApiError> {
    let rules = control.store().custom_rules().await?;
    Ok(Json(RuleList {
        rules: rules.iter().map(rule_item).collect(),
    }))
}

/// Adds a custom rule, applied at once.
#[utoipa::path(post, path = "/api/rules", tag = "rules", request_body = NewRule,
    responses((status = 201, body = RuleItem), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_rule(
    State(control): State<Arc<Control>>,
    payload: Result<Json<NewRule>, JsonRejection>,
) -> Result<(StatusCode, Json<RuleItem>), ApiError> {
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
    Ok((StatusCode::CREATED, Json(rule_item(&rule))))
}

/// Deletes a custom rule.
#[utoipa::path(delete, path = "/api/rules/{id}", tag = "rules",
    params(("id" = i64, Path, description = "The rule's id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
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

fn list_report(control: &Control) -> ListReport {
    let lists = control.lists();
    let groups = Arc::clone(&control.policy().groups);
    let items = lists
        .reports
        .iter()
        .map(|report| {
            let (updated, error) = control.list_status(report);
            ListItem {
                source: report.source.location.clone(),
                category: report.source.category.as_deref().map(str::to_owned),
                name: report.source.name.to_string(),
                vendor: report.source.vendor.as_deref().map(str::to_owned),
                groups: groups
                    .names(report.source.groups)
                    .iter()
                    .map(|group| group.to_string())
                    .collect(),
                kind: match report.source.polarity {
                    Polarity::Block => "block",
                    Polarity::Allow => "allow",
                }
                .to_owned(),
                entries: report.stats.entries,
                skipped: report.stats.skipped,
                unsupported: report.stats.unsupported,
                invalid: report.stats.invalid,
                updated: updated.map(rfc3339),
                error,
            }
        })
        .collect();
    ListReport { lists: items }
}

/// Each list's counts, last update and last error.
#[utoipa::path(get, path = "/api/lists", tag = "lists",
    responses((status = 200, body = ListReport)))]
pub async fn lists(State(control): State<Arc<Control>>) -> Json<ListReport> {
    Json(list_report(&control))
}

/// Downloads the URL lists now and rebuilds the rules.
#[utoipa::path(post, path = "/api/lists/refresh", tag = "lists",
    responses((status = 200, body = ListReport), (status = 422, body = ErrorBody)))]
pub async fn refresh_lists(
    State(control): State<Arc<Control>>,
) -> Result<Json<ListReport>, ApiError> {
    control.refresh_lists().await.map_err(|err| match err {
        // The admin can fix these: they name the config key or the list file.
        ReloadError::Config(_) | ReloadError::List(_) => ApiError::unprocessable(err.to_string()),
        ReloadError::Task(_) => ApiError::internal(err),
    })?;
    Ok(Json(list_report(&control)))
}
