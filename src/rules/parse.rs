//! One list line in, zero or more rules out. The format is detected per line, so a file may mix
//! hosts, plain domains, wildcards, adblock rules, regexes, dnsmasq and RPZ lines. Lines that are
//! not rules say why ([`LineOutcome`]) so every source can report what it skipped; nothing here
//! can fail a whole list.
//!
//! The file is long for its table-driven tests: about 180 of its lines are test lines, one per
//! format and corner case.

use std::borrow::Cow;
use std::net::IpAddr;

use super::line_marks::LineMarks;
use super::name::{NameError, normalize_domain};

/// Whether a rule blocks or allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    Block,
    Allow,
}

/// What a rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern<'a> {
    /// The domain and every subdomain (`example.com`, `||example.com^`).
    Domain(Cow<'a, str>),
    /// Subdomains only (`*.example.com`).
    Subdomains(Cow<'a, str>),
    /// The name itself only (`|example.com^`, RPZ `example.com CNAME .`).
    Exact(Cow<'a, str>),
    /// A regular expression searched anywhere in the name, case-insensitively.
    Regex(Cow<'a, str>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule<'a> {
    pub polarity: Polarity,
    pub pattern: Pattern<'a>,
}

/// What became of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOutcome {
    /// At least one rule was produced.
    Rules,
    /// Blank, a comment, a header or zone boilerplate.
    Comment,
    /// `localhost` and kin in hosts files.
    Local,
    /// Valid syntax hush does not act on (adblock modifiers, cosmetic filters, paths, `server=`).
    Unsupported,
    /// A single label or a TLD-wide wildcard: refused because it would block a whole TLD.
    TooBroad,
    /// Not a rule in any format hush knows.
    Invalid,
}

/// Parses one line, calling `emit` for each rule in it.
pub fn parse_line<'a>(line: &'a str, emit: &mut impl FnMut(Rule<'a>)) -> LineOutcome {
    let line = line.trim_start_matches('\u{feff}').trim();
    // `$TTL`/`$ORIGIN` are zone-file directives of RPZ lists.
    if line.is_empty() || line.starts_with(['#', '!', '[', ';', '$']) {
        return LineOutcome::Comment;
    }
    let marks = LineMarks::of(line);
    if let Some(regex) = regex_body(line) {
        emit(Rule {
            polarity: Polarity::Block,
            pattern: Pattern::Regex(Cow::Borrowed(regex)),
        });
        return LineOutcome::Rules;
    }
    if is_raw_regex(line, marks) {
        emit(Rule {
            polarity: Polarity::Block,
            pattern: Pattern::Regex(Cow::Borrowed(line)),
        });
        return LineOutcome::Rules;
    }
    if marks.any(LineMarks::HASH)
        && ["##", "#@#", "#?#", "#$#", "#%#"]
            .iter()
            .any(|m| line.contains(m))
    {
        return LineOutcome::Unsupported;
    }
    let (line, marks) = if marks.any(LineMarks::HASH.or(LineMarks::SEMICOLON)) {
        let rule = line.split(['#', ';']).next().unwrap_or("").trim();
        (rule, LineMarks::of(rule))
    } else {
        (line, marks)
    };
    if line.is_empty() {
        return LineOutcome::Comment;
    }
    if let Some(rest) = line
        .strip_prefix("address=/")
        .or_else(|| line.strip_prefix("local=/"))
    {
        return parse_dnsmasq(rest, emit);
    }
    if marks.any(LineMarks::EQUALS) && !marks.any(LineMarks::DOLLAR) {
        // Other dnsmasq options (`server=/x/1.2.3.4`, `cname=`) route rather than block.
        return LineOutcome::Unsupported;
    }
    if line.starts_with("@@")
        || line.starts_with('|')
        || marks.any(LineMarks::CARET.or(LineMarks::DOLLAR))
    {
        return parse_adblock(line, emit);
    }
    if marks.has_whitespace(line) {
        let mut tokens = line.split_whitespace();
        let first = tokens.next().unwrap_or("");
        if let Some(second) = tokens.next() {
            if let Some(outcome) = parse_rpz(first, second, tokens, emit) {
                return outcome;
            }
            if host_address(first).is_some() {
                return parse_hosts_names(line.split_whitespace().skip(1), emit);
            }
            return LineOutcome::Invalid;
        }
    }
    // One token: the line was trimmed, so whitespace inside it separates tokens.
    if host_address(line).is_some() {
        // An address with no names.
        return LineOutcome::Invalid;
    }
    match line.strip_prefix("*.") {
        Some(parent) => emit_domain(parent, Polarity::Block, Pattern::Subdomains, emit),
        None if marks.any(LineMarks::STAR) => LineOutcome::Unsupported,
        None => emit_domain(line, Polarity::Block, Pattern::Domain, emit),
    }
}

fn regex_body(line: &str) -> Option<&str> {
    let body = line.strip_prefix('/')?.strip_suffix('/')?;
    (!body.is_empty()).then_some(body)
}

/// Pi-hole regex lists carry bare patterns, one per line (`^ad[0-9]*[_.-]`). Such a line starts
/// with `^` or `(`, or uses regex syntax no name, hosts line or adblock rule contains.
fn is_raw_regex(line: &str, marks: LineMarks) -> bool {
    !marks.has_whitespace(line)
        && !marks.any(LineMarks::SLASH)
        && (line.starts_with(['^', '(']) || marks.any(LineMarks::REGEX_SYNTAX))
}

/// The leading address of a hosts line; IPv6 zone suffixes such as `fe80::1%lo0` are allowed.
fn host_address(token: &str) -> Option<IpAddr> {
    // An IPv4 address starts with a digit and an IPv6 one holds a colon: a name, which is
    // neither, is not handed to the address parser.
    if !token.starts_with(|c: char| c.is_ascii_digit()) && !token.contains(':') {
        return None;
    }
    let address = token.split('%').next().unwrap_or(token);
    address.parse().ok()
}

fn emit_domain<'a>(
    raw: &'a str,
    polarity: Polarity,
    make: fn(Cow<'a, str>) -> Pattern<'a>,
    emit: &mut impl FnMut(Rule<'a>),
) -> LineOutcome {
    match normalize_domain(raw) {
        Ok(name) => {
            emit(Rule {
                polarity,
                pattern: make(name),
            });
            LineOutcome::Rules
        }
        Err(NameError::Local) => LineOutcome::Local,
        Err(NameError::SingleLabel) => LineOutcome::TooBroad,
        Err(NameError::Invalid) => LineOutcome::Invalid,
    }
}

fn parse_hosts_names<'a>(
    names: impl Iterator<Item = &'a str>,
    emit: &mut impl FnMut(Rule<'a>),
) -> LineOutcome {
    let mut outcome = None;
    for name in names {
        let this = emit_domain(name, Polarity::Block, Pattern::Domain, emit);
        outcome = Some(match (outcome, this) {
            (_, LineOutcome::Rules) | (Some(LineOutcome::Rules), _) => LineOutcome::Rules,
            (Some(earlier), _) => earlier,
            (None, this) => this,
        });
    }
    outcome.unwrap_or(LineOutcome::Invalid)
}

/// `address=/a.com/b.com/0.0.0.0` and `local=/a.com/`: every listed domain, with subdomains.
fn parse_dnsmasq<'a>(rest: &'a str, emit: &mut impl FnMut(Rule<'a>)) -> LineOutcome {
    let mut parts: Vec<&str> = rest.split('/').collect();
    // The part after the last slash is the answer address (or empty); hush answers with its own.
    parts.pop();
    if parts.is_empty() || parts.contains(&"#") {
        // `address=/#/` matches every name: that is a resolver setting, not a list entry.
        return LineOutcome::Unsupported;
    }
    parse_hosts_names(parts.into_iter(), emit)
}

/// RPZ policy lines: `name CNAME .` blocks (NXDOMAIN), `name CNAME rpz-passthru.` allows; an
/// optional TTL and class may precede the type. Zone boilerplate (`$TTL`, `@ SOA`, `NS`) is a
/// comment. `None` when the line is not RPZ.
fn parse_rpz<'a>(
    owner: &'a str,
    second: &'a str,
    rest: impl Iterator<Item = &'a str>,
    emit: &mut impl FnMut(Rule<'a>),
) -> Option<LineOutcome> {
    if matches!(owner, "@" | "NS" | "SOA") {
        return Some(LineOutcome::Comment);
    }
    let mut fields = std::iter::once(second)
        .chain(rest)
        .skip_while(|field| field.bytes().all(|b| b.is_ascii_digit()) || *field == "IN");
    match fields.next() {
        Some("NS" | "SOA") => return Some(LineOutcome::Comment),
        Some(kind) if kind.eq_ignore_ascii_case("CNAME") => {}
        _ => return None,
    }
    let polarity = match fields.next() {
        Some(".") => Polarity::Block,
        Some("rpz-passthru.") => Polarity::Allow,
        _ => return Some(LineOutcome::Unsupported),
    };
    Some(match owner.strip_prefix("*.") {
        Some(parent) => emit_domain(parent, polarity, Pattern::Subdomains, emit),
        None => emit_domain(owner, polarity, Pattern::Exact, emit),
    })
}

/// Adblock-style network rules as DNS filters use them (AdGuard DNS syntax): `||x^`, `|x^`,
/// `@@` exceptions, `*` globs, `$important`. Anything that needs a URL or other modifiers is
/// unsupported.
fn parse_adblock<'a>(line: &'a str, emit: &mut impl FnMut(Rule<'a>)) -> LineOutcome {
    let (polarity, rule) = match line.strip_prefix("@@") {
        Some(rest) => (Polarity::Allow, rest),
        None => (Polarity::Block, line),
    };
    let (pattern, modifiers) = match rule.split_once('$') {
        Some((pattern, modifiers)) => (pattern, Some(modifiers)),
        None => (rule, None),
    };
    if let Some(modifiers) = modifiers
        && !modifiers.split(',').all(|m| m.trim() == "important")
    {
        return LineOutcome::Unsupported;
    }
    if let Some(regex) = regex_body(pattern) {
        emit(Rule {
            polarity,
            pattern: Pattern::Regex(Cow::Borrowed(regex)),
        });
        return LineOutcome::Rules;
    }
    if pattern.contains(['/', ':', '?', '=']) {
        return LineOutcome::Unsupported;
    }
    let (start, body) = if let Some(body) = pattern.strip_prefix("||") {
        (Anchor::Domain, body)
    } else if let Some(body) = pattern.strip_prefix('|') {
        (Anchor::Exact, body)
    } else {
        (Anchor::None, pattern)
    };
    let (end_anchored, body) = match body
        .strip_suffix("^|")
        .or_else(|| body.strip_suffix('^'))
        .or_else(|| body.strip_suffix('|'))
    {
        Some(body) => (true, body),
        None => (false, body),
    };
    let body_is_name_like = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'*'));
    if !body_is_name_like || body.bytes().all(|b| matches!(b, b'*' | b'.')) {
        return LineOutcome::Invalid;
    }
    // A trailing dot in adblock syntax means "any name starting so", not an absolute name.
    if !body.contains('*') && !body.ends_with('.') {
        let plain = match start {
            Anchor::Domain => Some(Pattern::Domain as fn(_) -> _),
            Anchor::Exact if end_anchored => Some(Pattern::Exact as fn(_) -> _),
            _ => None,
        };
        if let Some(make) = plain
            && let outcome @ (LineOutcome::Rules | LineOutcome::TooBroad) =
                emit_domain(body, polarity, make, emit)
        {
            return outcome;
        }
    }
    emit(Rule {
        polarity,
        pattern: Pattern::Regex(Cow::Owned(glob_to_regex(start, body, end_anchored))),
    });
    LineOutcome::Rules
}

#[derive(Clone, Copy)]
enum Anchor {
    /// `||`: at the start of the name or of any label.
    Domain,
    /// `|`: at the start of the name.
    Exact,
    None,
}

/// Turns an adblock pattern that is not a plain domain (globs, partial names such as
/// `||tracker.`, unanchored `.ads.com^`) into the equivalent regex over the name.
fn glob_to_regex(start: Anchor, body: &str, end_anchored: bool) -> String {
    let mut regex = String::with_capacity(body.len() * 2 + 8);
    regex.push_str(match start {
        Anchor::Domain => r"(?:^|\.)",
        Anchor::Exact => "^",
        Anchor::None => "",
    });
    for c in body.chars() {
        match c {
            '*' => regex.push_str(".*"),
            '.' => regex.push_str(r"\."),
            c => regex.push(c.to_ascii_lowercase()),
        }
    }
    if end_anchored {
        regex.push('$');
    }
    regex
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> (LineOutcome, Vec<String>) {
        let mut rules = Vec::new();
        let outcome = parse_line(line, &mut |rule: Rule<'_>| {
            let sign = match rule.polarity {
                Polarity::Block => "block",
                Polarity::Allow => "allow",
            };
            let text = match rule.pattern {
                Pattern::Domain(name) => format!("{sign} {name}"),
                Pattern::Subdomains(name) => format!("{sign} *.{name}"),
                Pattern::Exact(name) => format!("{sign} ={name}"),
                Pattern::Regex(re) => format!("{sign} /{re}/"),
            };
            rules.push(text);
        });
        (outcome, rules)
    }

    #[test]
    fn every_line_form() {
        use LineOutcome::*;
        let cases: &[(&str, LineOutcome, &[&str])] = &[
            // comments and blanks
            ("", Comment, &[]),
            ("   \t ", Comment, &[]),
            ("# a comment", Comment, &[]),
            ("   # indented comment", Comment, &[]),
            ("! adblock comment", Comment, &[]),
            ("[Adblock Plus]", Comment, &[]),
            ("; zone comment", Comment, &[]),
            ("\u{feff}# comment after a BOM", Comment, &[]),
            // plain domains
            ("example.com", Rules, &["block example.com"]),
            ("Example.COM.\r", Rules, &["block example.com"]),
            ("\u{feff}bom.example.com", Rules, &["block bom.example.com"]),
            (
                "  spaced.example.com\t",
                Rules,
                &["block spaced.example.com"],
            ),
            ("bücher.example", Rules, &["block xn--bcher-kva.example"]),
            ("example.com # why", Rules, &["block example.com"]),
            ("example.com;why", Rules, &["block example.com"]),
            ("one.example\u{a0}two.example", Invalid, &[]),
            ("^ad\u{3000}x", Invalid, &[]),
            ("com", TooBroad, &[]),
            ("not a domain", Invalid, &[]),
            ("exa$mple", Unsupported, &[]),
            ("1.2.3.4", Invalid, &[]),
            // wildcards
            ("*.example.com", Rules, &["block *.example.com"]),
            ("*.com", TooBroad, &[]),
            ("ads*.example.com", Unsupported, &[]),
            // hosts
            ("0.0.0.0 example.com", Rules, &["block example.com"]),
            (
                "127.0.0.1\tone.com two.com",
                Rules,
                &["block one.com", "block two.com"],
            ),
            ("0.0.0.0 x.com #ad", Rules, &["block x.com"]),
            ("0.0.0.0 x.com#ad", Rules, &["block x.com"]),
            (":: ipv6.example.com", Rules, &["block ipv6.example.com"]),
            ("127.0.0.1 localhost", Local, &[]),
            ("::1 localhost ip6-localhost", Local, &[]),
            ("fe80::1%lo0 localhost", Local, &[]),
            ("0.0.0.0 0.0.0.0", Local, &[]),
            ("255.255.255.255 broadcasthost", Local, &[]),
            ("0.0.0.0 bad..name", Invalid, &[]),
            ("0.0.0.0 lan", TooBroad, &[]),
            ("0.0.0.0", Invalid, &[]),
            ("0.0.0.0 ok.com bad..name", Rules, &["block ok.com"]),
            // adblock
            ("||ads.example.com^", Rules, &["block ads.example.com"]),
            ("||ads.example.com^|", Rules, &["block ads.example.com"]),
            (
                "||no-caret.example.com",
                Rules,
                &["block no-caret.example.com"],
            ),
            ("||Free-4paid.com^", Rules, &["block free-4paid.com"]),
            ("@@||good.example.com^", Rules, &["allow good.example.com"]),
            (
                "@@|exact.example.com^|",
                Rules,
                &["allow =exact.example.com"],
            ),
            ("|exact.example.com^", Rules, &["block =exact.example.com"]),
            (
                "||imp.example.com^$important",
                Rules,
                &["block imp.example.com"],
            ),
            ("||x.example.com^$third-party", Unsupported, &[]),
            ("||x.example.com^$dnsrewrite=0.0.0.0", Unsupported, &[]),
            (
                "||x.example.com^$important,client=1.2.3.4",
                Unsupported,
                &[],
            ),
            ("||example.com/path^", Unsupported, &[]),
            ("://mine.torrent.pw^", Unsupported, &[]),
            ("example.com##.banner", Unsupported, &[]),
            ("example.com#@#.banner", Unsupported, &[]),
            ("||com^", TooBroad, &[]),
            (
                "||ads.livetv*.me^",
                Rules,
                &[r"block /(?:^|\.)ads\.livetv.*\.me$/"],
            ),
            ("||rgfftupf.", Rules, &[r"block /(?:^|\.)rgfftupf\./"]),
            (".bbelements.com^", Rules, &[r"block /\.bbelements\.com$/"]),
            (
                "vkcdnservice.appspot.com^",
                Rules,
                &[r"block /vkcdnservice\.appspot\.com$/"],
            ),
            (
                "@@-ds.metric.gstatic.com^|",
                Rules,
                &[r"allow /-ds\.metric\.gstatic\.com$/"],
            ),
            ("||*^", Invalid, &[]),
            ("||a b^", Invalid, &[]),
            ("/^ad[0-9]+\\./", Rules, &["block /^ad[0-9]+\\./"]),
            ("@@/^good\\./", Rules, &["allow /^good\\./"]),
            ("/^track#1/", Rules, &["block /^track#1/"]),
            ("//", Invalid, &[]),
            (
                "^ad([sxv]?[0-9]*|system)[_.-]",
                Rules,
                &["block /^ad([sxv]?[0-9]*|system)[_.-]/"],
            ),
            (
                "(\\.|^)track\\.example$",
                Rules,
                &["block /(\\.|^)track\\.example$/"],
            ),
            ("^pixels?[-.]", Rules, &["block /^pixels?[-.]/"]),
            // dnsmasq
            ("address=/x.example.com/", Rules, &["block x.example.com"]),
            (
                "address=/x.example.com/0.0.0.0",
                Rules,
                &["block x.example.com"],
            ),
            ("local=/y.example.com/", Rules, &["block y.example.com"]),
            (
                "address=/a.com/b.com/::",
                Rules,
                &["block a.com", "block b.com"],
            ),
            ("address=/#/", Unsupported, &[]),
            ("server=/corp.example/10.0.0.1", Unsupported, &[]),
            // RPZ
            ("$TTL 300", Comment, &[]),
            (
                "@ SOA localhost. root.localhost. 1 43200 3600 86400 300",
                Comment,
                &[],
            ),
            ("  NS localhost.", Comment, &[]),
            ("x.example.com CNAME .", Rules, &["block =x.example.com"]),
            ("*.x.example.com CNAME .", Rules, &["block *.x.example.com"]),
            (
                "ok.example.com CNAME rpz-passthru.",
                Rules,
                &["allow =ok.example.com"],
            ),
            ("x.example.com CNAME elsewhere.example.", Unsupported, &[]),
            (
                "x.example.com 300 IN CNAME .",
                Rules,
                &["block =x.example.com"],
            ),
        ];
        for (line, outcome, rules) in cases {
            let (got_outcome, got_rules) = parse(line);
            assert_eq!(got_outcome, *outcome, "outcome of {line:?}");
            assert_eq!(got_rules, *rules, "rules of {line:?}");
        }
    }
}
