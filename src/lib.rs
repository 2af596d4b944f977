//! hush: a self-hosted DNS sinkhole. A query flows listener → admission → policy → cache →
//! upstream → answer check → response (see [`dns::pipeline`]); the rules it applies are an
//! immutable snapshot ([`rules::RuleSet`]) swapped whole on reload; every query becomes one
//! event for the query history ([`querylog`], [`store`]), browsed through the HTTP [`api`] and
//! the [`web`] dashboard.

pub mod api;
pub mod app;
pub mod config;
pub mod control;
pub mod dns;
pub mod fuzzing;
pub mod groups;
pub mod lists;
pub mod naming;
pub mod pihole;
pub mod querylog;
pub mod rules;
pub mod store;
pub mod sync;
pub mod tls;
pub mod web;
