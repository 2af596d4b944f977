//! Where lists come from beyond local files: downloads of URL lists kept fresh with their
//! on-disk cache ([`cache`], [`download`]), and the watch that reloads the rules when a local
//! list file changes ([`watch`]).

pub mod cache;
pub mod download;
pub mod watch;
