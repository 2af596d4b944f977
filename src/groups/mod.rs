//! Clients and groups at run time: which groups a query's client belongs to (its address or
//! device name against `[[clients]]`), and which groups are active now (their schedules). Built
//! from the config with the rules and swapped with them on reload; on the hot path a lookup is
//! a hash probe or two and an atomic load: the schedules are evaluated by a background clock
//! ([`spawn_clock`]) that stores the active groups as bits, never per query.

mod schedule;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use ipnet::IpNet;
use jiff::Timestamp;
use tokio::task::JoinHandle;

pub use schedule::Schedule;

use crate::config::{ClientMatch, Config, DEFAULT_GROUP};
use crate::rules::GroupMask;

/// How often the clock re-evaluates the schedules: a window edge applies within this long.
pub const CLOCK_TICK: Duration = Duration::from_secs(5);

/// One group: its name and, if it has one, its schedule.
#[derive(Debug)]
pub struct Group {
    pub name: Arc<str>,
    pub schedule: Option<Schedule>,
}

/// One `[[clients]]` entry.
#[derive(Debug)]
pub struct Client {
    pub name: Arc<str>,
    pub matches: Vec<ClientMatch>,
    pub groups: GroupMask,
}

#[derive(Debug)]
pub struct Groups {
    /// Index 0 is `default`; then `[[groups]]` in config order (the bits of [`GroupMask`]).
    groups: Vec<Group>,
    clients: Vec<Client>,
    /// Exact addresses (single-address matches) to the first entry naming them.
    by_address: HashMap<IpAddr, u16, foldhash::fast::RandomState>,
    /// Networks, in entry order.
    networks: Vec<(IpNet, u16)>,
    /// Device names to the first entry naming them.
    by_device: HashMap<Box<str>, u16, foldhash::fast::RandomState>,
    /// Groups active now: those without a schedule, and those whose window is open.
    active: AtomicU16,
}

impl Groups {
    pub fn new(config: &Config) -> Self {
        let mut groups = vec![Group {
            name: Arc::from(DEFAULT_GROUP),
            schedule: None,
        }];
        groups.extend(config.groups.iter().map(|group| Group {
            name: Arc::from(group.name.as_str()),
            schedule: group.schedule.as_ref().map(Schedule::new),
        }));
        let index_of = |name: &str| groups.iter().position(|group| &*group.name == name);
        let clients: Vec<Client> = config
            .clients
            .iter()
            .map(|entry| Client {
                name: Arc::from(entry.name.as_str()),
                matches: entry.matches.clone(),
                groups: entry
                    .groups
                    .iter()
                    .filter_map(|name| index_of(name))
                    .fold(GroupMask(0), |mask, index| mask.union(GroupMask::of(index))),
            })
            .collect();
        let mut by_address = HashMap::default();
        let mut networks = Vec::new();
        let mut by_device = HashMap::default();
        for (index, client) in clients.iter().enumerate() {
            let index = index as u16;
            for matcher in &client.matches {
                match matcher {
                    ClientMatch::Network(net) if net.prefix_len() == net.max_prefix_len() => {
                        by_address.entry(net.addr()).or_insert(index);
                    }
                    ClientMatch::Network(net) => networks.push((*net, index)),
                    ClientMatch::Device(name) => {
                        by_device.entry(Box::from(name.as_str())).or_insert(index);
                    }
                }
            }
        }
        let groups = Self {
            groups,
            clients,
            by_address,
            networks,
            by_device,
            active: AtomicU16::new(0),
        };
        groups.tick(Timestamp::now());
        groups
    }

    /// The `[[clients]]` entry of a client: the first that names its device or matches its
    /// address.
    pub fn client_of(&self, address: IpAddr, device: Option<&str>) -> Option<&Client> {
        // Most households configure no entries: then no query pays for a lookup.
        if self.clients.is_empty() {
            return None;
        }
        let address = address.to_canonical();
        let mut best = self.by_address.get(&address).copied();
        if let Some(index) = device.and_then(|device| self.by_device.get(device)) {
            best = Some(best.map_or(*index, |best| best.min(*index)));
        }
        let earlier = |index: u16| best.is_none_or(|best| index < best);
        if let Some((_, index)) = self
            .networks
            .iter()
            .take_while(|(_, index)| earlier(*index))
            .find(|(net, _)| net.contains(&address))
        {
            best = Some(*index);
        }
        best.and_then(|index| self.clients.get(usize::from(index)))
    }

    /// The groups a client belongs to (`default` when no entry matches it), active or not.
    pub fn member_of(&self, address: IpAddr, device: Option<&str>) -> GroupMask {
        self.client_of(address, device)
            .map_or(GroupMask::DEFAULT, |client| client.groups)
    }

    /// The groups whose rules apply to a client's query now.
    pub fn active_for(&self, address: IpAddr, device: Option<&str>) -> GroupMask {
        self.member_of(address, device).intersection(self.active())
    }

    /// The groups active now.
    pub fn active(&self) -> GroupMask {
        GroupMask(self.active.load(Ordering::Relaxed))
    }

    /// Re-evaluates the schedules at `now`.
    pub fn tick(&self, now: Timestamp) {
        let active = self
            .groups
            .iter()
            .enumerate()
            .filter(|(_, group)| group.schedule.as_ref().is_none_or(|s| s.is_open(now)))
            .fold(GroupMask(0), |mask, (index, _)| {
                mask.union(GroupMask::of(index))
            });
        self.active.store(active.0, Ordering::Relaxed);
    }

    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    pub fn clients(&self) -> &[Client] {
        &self.clients
    }

    /// The name of a group by its index.
    pub fn name(&self, index: usize) -> Option<&Arc<str>> {
        self.groups.get(index).map(|group| &group.name)
    }

    /// The names of the groups in `mask`, in config order.
    pub fn names(&self, mask: GroupMask) -> Vec<Arc<str>> {
        mask.indexes()
            .filter_map(|index| self.name(index).cloned())
            .collect()
    }
}

/// The background clock: every [`CLOCK_TICK`], the groups in force (`current` gives them: the
/// swapped policy's) re-evaluate their schedules, so a window edge switches blocking without a
/// reload.
pub fn spawn_clock(current: impl Fn() -> Arc<Groups> + Send + 'static) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(CLOCK_TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            current().tick(Timestamp::now());
        }
    })
}
