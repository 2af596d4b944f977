//! `/api/groups` and `/api/clients`: the groups and client entries in force, with each group's
//! lists and schedule and whether it is active now, and each client entry's groups.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::ClientMatch;
use crate::control::Control;
use crate::rules::{GroupMask, Polarity};

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupList {
    pub groups: Vec<GroupItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupItem {
    pub name: String,
    /// Names of the group's block lists and allowlists.
    pub lists: Vec<String>,
    pub allowlists: Vec<String>,
    /// When set, the group's lists apply only inside this weekly window.
    pub schedule: Option<ScheduleItem>,
    /// Whether the group's lists apply now (always, without a schedule).
    pub active: bool,
    /// When `active` changes next (RFC 3339), for a scheduled group.
    pub next_change: Option<String>,
    /// The client entries in the group.
    pub clients: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleItem {
    /// The days a window starts on: `mon` … `sun`.
    pub days: Vec<String>,
    /// `HH:MM`, inclusive.
    pub from: String,
    /// `HH:MM`, exclusive; before `from`: the window runs past midnight.
    pub to: String,
    /// The IANA zone, or `null` for the system's local time.
    pub timezone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    pub clients: Vec<ClientItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientItem {
    pub name: String,
    /// Addresses, networks and device names, as configured.
    #[serde(rename = "match")]
    pub matches: Vec<String>,
    pub groups: Vec<String>,
    /// The groups whose lists apply to it now.
    pub active_groups: Vec<String>,
}

/// The groups: `default` (`blocking.lists`) and every `[[groups]]` entry.
#[utoipa::path(get, path = "/api/groups", tag = "groups",
    responses((status = 200, body = GroupList)))]
pub async fn groups(State(control): State<Arc<Control>>) -> Json<GroupList> {
    let policy = control.policy();
    let groups = &policy.groups;
    let lists = control.lists();
    let now = Timestamp::now();
    let active = groups.active();
    let items = groups
        .groups()
        .iter()
        .enumerate()
        .map(|(index, group)| {
            let bit = GroupMask::of(index);
            let lists_of = |polarity: Polarity| {
                lists
                    .reports
                    .iter()
                    .filter(|r| r.source.polarity == polarity && r.source.groups.intersects(bit))
                    .map(|r| r.source.name.to_string())
                    .collect()
            };
            let schedule = group.schedule.as_ref();
            GroupItem {
                name: group.name.to_string(),
                lists: lists_of(Polarity::Block),
                allowlists: lists_of(Polarity::Allow),
                schedule: schedule.map(|schedule| {
                    let config = &schedule.config;
                    ScheduleItem {
                        days: config.days.iter().map(|d| d.name().to_owned()).collect(),
                        from: config.from.to_string(),
                        to: config.to.to_string(),
                        timezone: config.timezone.clone(),
                    }
                }),
                active: active.intersects(bit),
                next_change: schedule
                    .and_then(|schedule| schedule.next_change(now))
                    .map(|at| at.to_string()),
                clients: groups
                    .clients()
                    .iter()
                    .filter(|client| client.groups.intersects(bit))
                    .map(|client| client.name.to_string())
                    .collect(),
            }
        })
        .collect();
    Json(GroupList { groups: items })
}

/// The `[[clients]]` entries (a client no entry matches is in `default`).
#[utoipa::path(get, path = "/api/clients", tag = "groups",
    responses((status = 200, body = ClientList)))]
pub async fn clients(State(control): State<Arc<Control>>) -> Json<ClientList> {
    let policy = control.policy();
    let groups = &policy.groups;
    let names = |mask| groups.names(mask).iter().map(|g| g.to_string()).collect();
    let items = groups
        .clients()
        .iter()
        .map(|client| ClientItem {
            name: client.name.to_string(),
            matches: client
                .matches
                .iter()
                .map(|matcher| match matcher {
                    ClientMatch::Network(net) if net.prefix_len() == net.max_prefix_len() => {
                        net.addr().to_string()
                    }
                    ClientMatch::Network(net) => net.to_string(),
                    ClientMatch::Device(name) => name.clone(),
                })
                .collect(),
            groups: names(client.groups),
            active_groups: names(client.groups.intersection(groups.active())),
        })
        .collect();
    Json(ClientList { clients: items })
}
