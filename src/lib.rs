//! hush: a self-hosted DNS sinkhole. A query flows listener → admission → policy → cache →
//! upstream → answer check → response (see [`dns::pipeline`]); the rules it applies are an
//! immutable snapshot ([`rules::RuleSet`]) swapped whole on reload.

pub mod app;
pub mod config;
pub mod dns;
pub mod rules;
