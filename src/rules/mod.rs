//! The rules engine: list lines are parsed ([`parse`]), compiled from list text ([`compile`])
//! into one immutable [`RuleSet`], and asked for a [`Verdict`] per query name. This folder
//! does no I/O; `lists/` reads the text.
//!
//! A `RuleSet` stores every listed name once in a string arena and indexes it with a hash table
//! of small fixed-size slots, so a million rules stay compact and a lookup is one probe per label
//! of the query name, with no allocation. Regex rules sit in a `RegexSet` consulted only when the
//! table does not settle the answer. An allow match always wins over a block match.
//!
//! Groups: every source belongs to a [`GroupMask`] of groups, and a lookup names the groups
//! that are active for the asking client; rules of other groups do not exist for it. A list
//! used by several groups is one source with several bits, so its names are stored once. A
//! name listed by sources of different masks is "mixed": its contributions are kept apart in a
//! small side table, consulted only for such names.

mod build;
pub mod compile;
mod line_marks;
pub mod name;
pub mod parse;
mod text;

use std::collections::HashMap;
use std::sync::Arc;

use hashbrown::HashTable;
use regex::RegexSet;

pub use build::{AddError, RuleSetBuilder};
use build::{name_hash, slot_name};
pub use compile::{
    BUILT_IN_SOURCE, CUSTOM_SOURCE, SourceReport, SourceStats, compile_builtin, compile_custom,
    validate_custom,
};
pub use name::QueryName;
pub use parse::{LineOutcome, Pattern, Polarity, Rule};
pub use text::RuleText;

/// Upper bound on the compiled size of one regex rule: a hostile list line cannot make the
/// engine build a huge automaton.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A list a rule came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Short display name (the file stem or a configured name).
    pub name: Arc<str>,
    /// Where the list was read from.
    pub location: String,
    pub polarity: Polarity,
    /// What the list blocks (`telemetry`, `ads`, `tracking`, …), when known.
    pub category: Option<Arc<str>>,
    /// Whose telemetry the list blocks (`Xiaomi`, `Samsung`, …), when known.
    pub vendor: Option<Arc<str>>,
    /// The groups whose clients the list applies to.
    pub groups: GroupMask,
}

/// A set of groups, one bit each (bit 0: `default`, then `[[groups]]` in config order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GroupMask(pub u16);

impl GroupMask {
    /// Every group: custom and built-in rules, and lookups that ignore groups.
    pub const ALL: Self = Self(u16::MAX);
    /// Only the group `default`.
    pub const DEFAULT: Self = Self(1);

    pub fn of(index: usize) -> Self {
        Self(1u16.checked_shl(index as u32).unwrap_or(0))
    }

    pub fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// The lowest group in the set.
    pub fn first(self) -> Option<usize> {
        (self.0 != 0).then(|| self.0.trailing_zeros() as usize)
    }

    /// The groups in the set, lowest first.
    pub fn indexes(self) -> impl Iterator<Item = usize> {
        (0..16).filter(move |&i| self.0 & (1 << i) != 0)
    }
}

impl Source {
    /// True for lists downloaded from a URL.
    pub fn is_remote(&self) -> bool {
        self.location.starts_with("http://") || self.location.starts_with("https://")
    }
}

/// Index of a [`Source`] in its [`RuleSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceId(u16);

/// The shape of a matched name rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// The name and its subdomains.
    Domain,
    /// Subdomains only.
    Subdomains,
    /// The name only.
    Exact,
}

/// Which rule matched: enough to name it later without holding a string per query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleMatch {
    pub source: SourceId,
    target: MatchTarget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchTarget {
    Name { start: u32, len: u8, kind: NameKind },
    Regex { index: u32 },
}

/// The rules' decision for one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Blocked(RuleMatch),
    Allowed(RuleMatch),
    /// No rule matched.
    Unlisted,
}

mod flags {
    pub const BLOCK_DOMAIN: u8 = 1;
    pub const BLOCK_SUBDOMAINS: u8 = 1 << 1;
    pub const BLOCK_EXACT: u8 = 1 << 2;
    pub const ALLOW_DOMAIN: u8 = 1 << 3;
    pub const ALLOW_SUBDOMAINS: u8 = 1 << 4;
    pub const ALLOW_EXACT: u8 = 1 << 5;
    pub const BLOCK: [u8; 3] = [BLOCK_DOMAIN, BLOCK_SUBDOMAINS, BLOCK_EXACT];
    pub const ALLOW: [u8; 3] = [ALLOW_DOMAIN, ALLOW_SUBDOMAINS, ALLOW_EXACT];
    pub const ANY_BLOCK: u8 = BLOCK_DOMAIN | BLOCK_SUBDOMAINS | BLOCK_EXACT;
    pub const ANY_ALLOW: u8 = ALLOW_DOMAIN | ALLOW_SUBDOMAINS | ALLOW_EXACT;
    /// Listed by sources of different group masks: see the side table.
    pub const MIXED: u8 = 1 << 6;
}

/// One listed name: where it sits in the arena, what it does, and the first list of each
/// polarity that listed it. Unless it is mixed, every source that listed it has the same
/// group mask.
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: u32,
    len: u8,
    flags: u8,
    block_source: u16,
    allow_source: u16,
}

impl Slot {
    /// A source that listed the name (for the group mask of an unmixed slot).
    fn any_source(&self) -> u16 {
        if self.flags & flags::ANY_BLOCK != 0 {
            self.block_source
        } else {
            self.allow_source
        }
    }

    /// Which of this slot's rules of one polarity apply: all three kinds match the query name
    /// itself except `Subdomains`; only `Domain` and `Subdomains` match a parent of it.
    fn matching_kind(
        &self,
        [domain, subdomains, exact]: [u8; 3],
        at_query_name: bool,
    ) -> Option<NameKind> {
        if self.flags & domain != 0 {
            Some(NameKind::Domain)
        } else if at_query_name && self.flags & exact != 0 {
            Some(NameKind::Exact)
        } else if !at_query_name && self.flags & subdomains != 0 {
            Some(NameKind::Subdomains)
        } else {
            None
        }
    }
}

/// A set of regexes of one polarity, matched together.
#[derive(Debug, Default)]
struct RegexGroup {
    set: Option<RegexSet>,
    rules: Vec<(Box<str>, SourceId)>,
}

impl RegexGroup {
    /// The first regex matching `name` whose source belongs to one of `groups`.
    fn first_match(
        &self,
        name: &QueryName,
        sources: &[Source],
        groups: GroupMask,
    ) -> Option<RuleMatch> {
        let set = self.set.as_ref()?;
        let name = name.as_str();
        if !set.is_match(name) {
            return None;
        }
        set.matches(name).into_iter().find_map(|index| {
            let (_, source) = self.rules.get(index)?;
            sources[usize::from(source.0)]
                .groups
                .intersects(groups)
                .then_some(RuleMatch {
                    source: *source,
                    target: MatchTarget::Regex {
                        index: index as u32,
                    },
                })
        })
    }
}

/// What every source of a mixed name contributed: a flag and the source, in the order added.
pub(crate) type MixedSlots = HashMap<u32, Vec<(u8, u16)>, foldhash::fast::FixedState>;

/// The compiled, immutable rules. Shared behind an `Arc` and replaced whole on reload.
#[derive(Debug)]
pub struct RuleSet {
    arena: String,
    table: HashTable<Slot>,
    hasher: foldhash::fast::FixedState,
    block_regexes: RegexGroup,
    allow_regexes: RegexGroup,
    sources: Vec<Source>,
    /// Mixed names by their slot's arena start.
    mixed: MixedSlots,
}

impl RuleSet {
    /// A rule set with no rules: everything is unlisted.
    pub fn empty() -> Self {
        RuleSetBuilder::default().finish()
    }

    /// Decides a query name for every group: allow rules win, then block rules, table before
    /// regexes.
    pub fn decide(&self, name: &QueryName) -> Verdict {
        self.decide_for(name, GroupMask::ALL)
    }

    /// Decides a query name with the rules of `groups` only.
    pub fn decide_for(&self, name: &QueryName, groups: GroupMask) -> Verdict {
        use flags::*;
        let mut blocked = None;
        for (depth, suffix) in name.suffixes().enumerate() {
            let hash = name_hash(&self.hasher, suffix);
            let Some(found) = self
                .table
                .find(hash, |slot| self.name_of(slot).as_bytes() == suffix)
            else {
                continue;
            };
            let at_query_name = depth == 0;
            let Some(slot) = self.slot_for(found, groups, at_query_name) else {
                continue;
            };
            let target = |kind| MatchTarget::Name {
                start: slot.start,
                len: slot.len,
                kind,
            };
            if let Some(kind) = slot.matching_kind(ALLOW, at_query_name) {
                return Verdict::Allowed(RuleMatch {
                    source: SourceId(slot.allow_source),
                    target: target(kind),
                });
            }
            if blocked.is_none() {
                blocked = slot
                    .matching_kind(BLOCK, at_query_name)
                    .map(|kind| RuleMatch {
                        source: SourceId(slot.block_source),
                        target: target(kind),
                    });
            }
        }
        let sources = self.sources.as_slice();
        let blocked = blocked.or_else(|| self.block_regexes.first_match(name, sources, groups));
        match blocked {
            None => Verdict::Unlisted,
            Some(block) => match self.allow_regexes.first_match(name, sources, groups) {
                Some(allow) => Verdict::Allowed(allow),
                None => Verdict::Blocked(block),
            },
        }
    }

    /// The slot as the rules of `groups` see it: as is when its sources belong to them,
    /// nothing when they do not, and for a mixed name the flags of the contributions of
    /// `groups` only, each polarity credited to the first source of the rule kind that matches
    /// here (`at_query_name`: the query name itself, or a parent of it).
    fn slot_for(&self, slot: &Slot, groups: GroupMask, at_query_name: bool) -> Option<Slot> {
        if slot.flags & flags::MIXED == 0 {
            let source = &self.sources[usize::from(slot.any_source())];
            return source.groups.intersects(groups).then_some(*slot);
        }
        let contributions = self.mixed.get(&slot.start)?;
        let in_groups = |source: u16| self.sources[usize::from(source)].groups.intersects(groups);
        let mut seen = Slot { flags: 0, ..*slot };
        for &(flag, source) in contributions {
            if in_groups(source) {
                seen.flags |= flag;
            }
        }
        let first_with = |kind_flags: [u8; 3]| {
            let kind = seen.matching_kind(kind_flags, at_query_name)?;
            let flag = kind_flags[kind as usize];
            contributions
                .iter()
                .find(|&&(f, source)| f == flag && in_groups(source))
                .map(|&(_, source)| source)
        };
        let (block, allow) = (first_with(flags::BLOCK), first_with(flags::ALLOW));
        seen.block_source = block.unwrap_or(slot.block_source);
        seen.allow_source = allow.unwrap_or(slot.allow_source);
        (seen.flags != 0).then_some(seen)
    }

    fn name_of(&self, slot: &Slot) -> &str {
        slot_name(&self.arena, slot)
    }

    /// The list a match came from.
    pub fn source(&self, id: SourceId) -> &Source {
        &self.sources[usize::from(id.0)]
    }

    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// The matched rule written in list syntax, e.g. `example.com`, `*.example.com`, `/^ad/`.
    pub fn rule_text(&self, matched: &RuleMatch) -> RuleText<'_> {
        match matched.target {
            MatchTarget::Name { start, len, kind } => {
                let start = start as usize;
                RuleText::Name(kind, &self.arena[start..start + usize::from(len)])
            }
            MatchTarget::Regex { index } => {
                let group = match self.source(matched.source).polarity {
                    Polarity::Block => &self.block_regexes,
                    Polarity::Allow => &self.allow_regexes,
                };
                let pattern = group
                    .rules
                    .get(index as usize)
                    .map_or("", |(pattern, _)| pattern);
                RuleText::Regex(pattern)
            }
        }
    }

    /// Number of distinct listed names plus regexes.
    pub fn len(&self) -> usize {
        self.table.len() + self.block_regexes.rules.len() + self.allow_regexes.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
