//! A matched rule as people read it: [`RuleText`] borrows the rule from the compiled set and
//! renders it in list syntax.

use std::fmt;
use std::sync::Arc;

use super::NameKind;

/// A rule rendered for people; `Display` gives list syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleText<'a> {
    Name(NameKind, &'a str),
    Regex(&'a str),
}

impl RuleText<'_> {
    /// The rule in list syntax as a shared string: a listed domain, the commonest rule, is
    /// copied once instead of formatted and copied again (the query log keeps one per blocked
    /// query).
    pub fn to_shared(self) -> Arc<str> {
        match self {
            Self::Name(NameKind::Domain, name) => Arc::from(name),
            other => Arc::from(other.to_string()),
        }
    }
}

impl fmt::Display for RuleText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(NameKind::Domain, name) => f.write_str(name),
            Self::Name(NameKind::Subdomains, name) => write!(f, "*.{name}"),
            Self::Name(NameKind::Exact, name) => write!(f, "|{name}^"),
            Self::Regex(pattern) => write!(f, "/{pattern}/"),
        }
    }
}
