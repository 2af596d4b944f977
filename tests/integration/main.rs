//! Integration tests: hush started in-process on loopback, real DNS packets over UDP and TCP,
//! an in-process upstream. One binary with a module per area so the crate links once.

mod api;
mod blocking;
mod cli;
mod corpus;
mod coverage;
mod dashboard;
mod dnssec;
mod egress;
mod encrypted;
mod faults;
mod forwarding;
mod fuzz_seeds;
mod groups;
mod hardening;
mod history;
mod home;
mod lists;
mod openapi;
mod pihole;
mod priority;
mod serving;
mod sessions;
mod shared;
mod support;
