//! DNS serving: [`server`] (the front door: binds, starts and stops the listeners) →
//! `udp`/`tcp` → `handler` → [`pipeline`]: `admission` → `policy` → `cache` → `upstream` →
//! `answer_check` → response, each query ending in one [`outcome::Outcome`].

pub mod accept;
pub mod admission;
pub mod answer_check;
pub mod arrival;
pub mod cache;
pub mod datagrams;
pub mod dnssec;
pub mod handler;
pub mod https;
pub mod listener;
pub mod local;
pub mod metrics;
pub mod outcome;
pub mod pipeline;
pub mod policy;
pub mod reply;
pub mod server;
pub mod stream;
pub mod udp;
pub mod upstream;
pub mod wire;
