//! Building a [`RuleSet`]: rules are added source by source into a growing string arena and
//! hash table (a name listed by several sources is stored once, its flags merged), regexes are
//! checked as they come, then [`RuleSetBuilder::finish`] freezes it all. A name added by a
//! source of another group mask than the sources before it becomes mixed: from then on each
//! contribution is also kept in the side table.

use std::hash::{BuildHasher, Hasher};

use hashbrown::HashTable;
use regex::{RegexBuilder, RegexSetBuilder};

use super::parse::{Pattern, Polarity, Rule};
use super::{MixedSlots, REGEX_SIZE_LIMIT, RegexGroup, RuleSet, Slot, Source, SourceId, flags};

/// Why a rule was not added.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddError {
    #[error("regex does not compile: {0}")]
    Regex(String),
    #[error("more than {} sources", u16::MAX)]
    TooManySources,
}

/// Collects rules from sources, then freezes them into a [`RuleSet`].
#[derive(Debug, Default)]
pub struct RuleSetBuilder {
    arena: String,
    table: HashTable<Slot>,
    hasher: foldhash::fast::FixedState,
    block_regexes: Vec<(Box<str>, SourceId)>,
    allow_regexes: Vec<(Box<str>, SourceId)>,
    sources: Vec<Source>,
    mixed: MixedSlots,
}

impl RuleSetBuilder {
    pub fn add_source(&mut self, source: Source) -> Result<SourceId, AddError> {
        let id = u16::try_from(self.sources.len()).map_err(|_| AddError::TooManySources)?;
        self.sources.push(source);
        Ok(SourceId(id))
    }

    /// Makes room in the name table for `names` more names at once. Growing it a doubling at a
    /// time would rehash every name added before, and hold the old and the new table together
    /// (for a million names, 12 and 24 MiB) at each step.
    pub fn reserve_names(&mut self, names: usize) {
        let (arena, hasher) = (&self.arena, &self.hasher);
        self.table.reserve(names, |slot| {
            name_hash(hasher, slot_name(arena, slot).as_bytes())
        });
    }

    /// Adds a rule from `source`; the source's polarity overrides the rule's for allowlists
    /// (an allowlist only ever allows).
    pub fn add(&mut self, source: SourceId, rule: &Rule<'_>) -> Result<(), AddError> {
        let polarity = match self.sources[usize::from(source.0)].polarity {
            Polarity::Allow => Polarity::Allow,
            Polarity::Block => rule.polarity,
        };
        let (name, flag) = match (&rule.pattern, polarity) {
            (Pattern::Regex(pattern), _) => return self.add_regex(source, pattern, polarity),
            (Pattern::Domain(name), Polarity::Block) => (name, flags::BLOCK_DOMAIN),
            (Pattern::Subdomains(name), Polarity::Block) => (name, flags::BLOCK_SUBDOMAINS),
            (Pattern::Exact(name), Polarity::Block) => (name, flags::BLOCK_EXACT),
            (Pattern::Domain(name), Polarity::Allow) => (name, flags::ALLOW_DOMAIN),
            (Pattern::Subdomains(name), Polarity::Allow) => (name, flags::ALLOW_SUBDOMAINS),
            (Pattern::Exact(name), Polarity::Allow) => (name, flags::ALLOW_EXACT),
        };
        self.add_name(source, name, flag, polarity);
        Ok(())
    }

    fn add_name(&mut self, source: SourceId, name: &str, flag: u8, polarity: Polarity) {
        let hash = name_hash(&self.hasher, name.as_bytes());
        let arena = &self.arena;
        let found = self
            .table
            .find_mut(hash, |slot| slot_name(arena, slot) == name);
        let slot = match found {
            Some(slot) => {
                let groups = |source: u16| self.sources[usize::from(source)].groups;
                if slot.flags & flags::MIXED == 0 && groups(slot.any_source()) != groups(source.0) {
                    // Until now one mask held for every flag, credited to the first source of
                    // each polarity: that is exactly what the side table starts from.
                    let before = (0..6)
                        .map(|bit| 1u8 << bit)
                        .filter(|flag| slot.flags & flag != 0);
                    let contributions = before
                        .map(|flag| {
                            let first = if flag & flags::ANY_BLOCK != 0 {
                                slot.block_source
                            } else {
                                slot.allow_source
                            };
                            (flag, first)
                        })
                        .collect();
                    self.mixed.insert(slot.start, contributions);
                    slot.flags |= flags::MIXED;
                }
                if slot.flags & flags::MIXED != 0
                    && let Some(contributions) = self.mixed.get_mut(&slot.start)
                    && !contributions.contains(&(flag, source.0))
                {
                    contributions.push((flag, source.0));
                }
                let first_of_polarity = match polarity {
                    Polarity::Block => slot.flags & flags::ANY_BLOCK == 0,
                    Polarity::Allow => slot.flags & flags::ANY_ALLOW == 0,
                };
                if first_of_polarity {
                    match polarity {
                        Polarity::Block => slot.block_source = source.0,
                        Polarity::Allow => slot.allow_source = source.0,
                    }
                }
                slot.flags |= flag;
                return;
            }
            None => Slot {
                start: self.arena.len() as u32,
                // Normalised names are at most 253 bytes.
                len: name.len() as u8,
                flags: flag,
                block_source: source.0,
                allow_source: source.0,
            },
        };
        self.arena.push_str(name);
        let (arena, hasher) = (&self.arena, &self.hasher);
        self.table.insert_unique(hash, slot, |slot| {
            name_hash(hasher, slot_name(arena, slot).as_bytes())
        });
    }

    fn add_regex(
        &mut self,
        source: SourceId,
        pattern: &str,
        polarity: Polarity,
    ) -> Result<(), AddError> {
        regex_builder(pattern)
            .build()
            .map_err(|err| AddError::Regex(first_line(&err.to_string())))?;
        let group = match polarity {
            Polarity::Block => &mut self.block_regexes,
            Polarity::Allow => &mut self.allow_regexes,
        };
        group.push((Box::from(pattern), source));
        Ok(())
    }

    pub fn finish(mut self) -> RuleSet {
        self.arena.shrink_to_fit();
        let (arena, hasher) = (&self.arena, &self.hasher);
        self.table
            .shrink_to_fit(|slot| name_hash(hasher, slot_name(arena, slot).as_bytes()));
        RuleSet {
            block_regexes: regex_group(self.block_regexes),
            allow_regexes: regex_group(self.allow_regexes),
            arena: self.arena,
            table: self.table,
            hasher: self.hasher,
            sources: self.sources,
            mixed: self.mixed,
        }
    }
}

/// The hash of a name in the table: of its bytes, as a query's suffixes are looked up.
pub(super) fn name_hash(hasher: &foldhash::fast::FixedState, name: &[u8]) -> u64 {
    let mut state = hasher.build_hasher();
    state.write(name);
    state.finish()
}

pub(super) fn slot_name<'a>(arena: &'a str, slot: &Slot) -> &'a str {
    let start = slot.start as usize;
    &arena[start..start + usize::from(slot.len)]
}

fn regex_builder(pattern: &str) -> RegexBuilder {
    let mut builder = RegexBuilder::new(pattern);
    builder.case_insensitive(true).size_limit(REGEX_SIZE_LIMIT);
    builder
}

fn regex_group(rules: Vec<(Box<str>, SourceId)>) -> RegexGroup {
    if rules.is_empty() {
        return RegexGroup::default();
    }
    let set = RegexSetBuilder::new(rules.iter().map(|(pattern, _)| &**pattern))
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT.saturating_mul(rules.len()))
        .build()
        .ok();
    RegexGroup { set, rules }
}

fn first_line(text: &str) -> String {
    text.lines().last().unwrap_or(text).trim().to_owned()
}
