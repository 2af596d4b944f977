//! Where rules come from: reading list files, folders and downloaded copies ([`source`]),
//! downloading URL lists with their on-disk cache ([`download`], [`cache`]), and the two
//! background tasks that rebuild the rules when a list changes: the file watch ([`watch`]) and
//! the download refresh ([`refresh`]). They act on the running server only through
//! [`Rebuild`], so this folder does not depend on the server's control room.

pub mod cache;
pub mod download;
pub mod refresh;
pub mod source;
pub mod watch;

use std::fmt::Display;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;

/// What the list tasks need from the running server: the config in force, and a rebuild of
/// the rules from the lists as they are now.
pub trait Rebuild: Send + Sync + 'static {
    type Error: Display + Send;

    fn config(&self) -> Arc<Config>;

    /// The config file the rebuild re-reads, if there is one: a change to it is a change too.
    fn config_path(&self) -> Option<PathBuf>;

    fn rebuild(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
