//! Domain names as the rules engine sees them: lower case, no trailing dot, IDNs as punycode,
//! labels of `[a-z0-9_-]`. List entries go through [`normalize_domain`] once at compile time;
//! query names are written into a stack buffer by [`QueryName`] on the hot path, allocating
//! nothing.

use std::borrow::Cow;

use hickory_proto::rr::LowerName;

/// The longest presentation form of a domain name without the trailing dot (RFC 1035 §2.3.4).
const MAX_NAME_LEN: usize = 253;

/// Why a list entry is not a usable domain name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// Not a domain name at all (bad characters, empty or over-long labels, an IP address).
    Invalid,
    /// A single label such as `com` or `lan`: blocking it would block a whole TLD.
    SingleLabel,
    /// `localhost`, `broadcasthost` and their kin, which hosts files carry for the OS.
    Local,
}

/// Normalises a list entry: case, trailing dot, IDN, and validity. An ASCII entry (nearly all
/// of them) is checked in one pass over its bytes, and copied only when it has capitals.
pub fn normalize_domain(raw: &str) -> Result<Cow<'_, str>, NameError> {
    let trimmed = raw.strip_suffix('.').unwrap_or(raw);
    if !trimmed.is_ascii() {
        let name = idna::domain_to_ascii(trimmed).map_err(|_| NameError::Invalid)?;
        if is_local_name(&name) {
            return Err(NameError::Local);
        }
        check_ascii_name(&name)?;
        return Ok(Cow::Owned(name));
    }
    if is_local_name(trimmed) {
        return Err(NameError::Local);
    }
    Ok(match check_ascii_name(trimmed)? {
        Case::Lower => Cow::Borrowed(trimmed),
        Case::HasCapitals => Cow::Owned(trimmed.to_ascii_lowercase()),
    })
}

/// Whether a checked name still needs lowering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Lower,
    HasCapitals,
}

/// The names hosts files carry for the OS, in any letter case.
fn is_local_name(name: &str) -> bool {
    const LOCAL_NAMES: [&str; 12] = [
        "localhost",
        "localhost.localdomain",
        "local",
        "broadcasthost",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-mcastprefix",
        "ip6-allnodes",
        "ip6-allrouters",
        "ip6-allhosts",
        "0.0.0.0",
    ];
    LOCAL_NAMES
        .iter()
        .any(|local| local.eq_ignore_ascii_case(name))
}

/// Checks an ASCII name in one pass: at least two labels of 1 to 63 bytes of `[A-Za-z0-9_-]`,
/// at most [`MAX_NAME_LEN`] bytes, and not all digits (`1.2.3.4` is an address, and no TLD is
/// numeric).
fn check_ascii_name(name: &str) -> Result<Case, NameError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(NameError::Invalid);
    }
    let (mut labels, mut label_len) = (1usize, 0usize);
    let (mut all_numeric, mut case) = (true, Case::Lower);
    for byte in name.bytes() {
        match byte {
            b'.' => {
                if label_len == 0 || label_len > 63 {
                    return Err(NameError::Invalid);
                }
                labels += 1;
                label_len = 0;
                continue;
            }
            b'0'..=b'9' => {}
            b'a'..=b'z' | b'-' | b'_' => all_numeric = false,
            b'A'..=b'Z' => {
                all_numeric = false;
                case = Case::HasCapitals;
            }
            _ => return Err(NameError::Invalid),
        }
        label_len += 1;
    }
    if label_len == 0 || label_len > 63 || all_numeric {
        return Err(NameError::Invalid);
    }
    if labels < 2 {
        return Err(NameError::SingleLabel);
    }
    Ok(case)
}

/// A query name in the rules' form, held in fixed buffers so the hot path does not allocate.
/// Where each label starts is noted as the name is written, so walking its parent domains
/// (once per rule set, for every query) never searches the text for dots.
pub struct QueryName {
    buf: [u8; MAX_WIRE_NAME],
    len: usize,
    /// Where each label starts in `buf`, leftmost first.
    label_starts: [u8; MAX_LABELS],
    labels: usize,
}

/// The longest name on the wire is 255 bytes, so its text (dots for length bytes, no root) is
/// at most 253: these buffers have room to spare.
const MAX_WIRE_NAME: usize = 256;
/// A label takes at least two bytes of a 255-byte wire name.
const MAX_LABELS: usize = 128;

impl QueryName {
    fn empty() -> Self {
        Self {
            buf: [0; MAX_WIRE_NAME],
            len: 0,
            label_starts: [0; MAX_LABELS],
            labels: 0,
        }
    }

    /// Notes that a label starts at the current end of the text; `None` past the buffers.
    fn start_label(&mut self) -> Option<()> {
        if self.len > 0 {
            *self.buf.get_mut(self.len)? = b'.';
            self.len += 1;
        }
        *self.label_starts.get_mut(self.labels)? = u8::try_from(self.len).ok()?;
        self.labels += 1;
        Some(())
    }

    /// Converts a wire name; `None` when it cannot match any rule (a label holding a dot or a
    /// non-ASCII byte, which no normalised list entry has).
    pub fn from_lower(name: &LowerName) -> Option<Self> {
        let mut out = Self::empty();
        for label in name.iter() {
            if !label.is_ascii() || label.contains(&b'.') {
                return None;
            }
            out.start_label()?;
            let end = out.len + label.len();
            let text = out.buf.get_mut(out.len..end)?;
            text.copy_from_slice(label);
            text.make_ascii_lowercase();
            out.len = end;
        }
        Some(out)
    }

    /// Parses a name typed by a person (`hush check`, the API); IDNs become punycode.
    pub fn from_text(text: &str) -> Option<Self> {
        let text = text.trim();
        let trimmed = text.strip_suffix('.').unwrap_or(text);
        let ascii = idna::domain_to_ascii(trimmed).ok()?;
        if ascii.is_empty() || ascii.len() > MAX_NAME_LEN || ascii.split('.').any(str::is_empty) {
            return None;
        }
        let mut out = Self::empty();
        for label in ascii.split('.') {
            out.start_label()?;
            out.buf
                .get_mut(out.len..out.len + label.len())?
                .copy_from_slice(label.as_bytes());
            out.len += label.len();
        }
        Some(out)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever written into the buffer.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The text as bytes: what every lookup on the hot path compares and hashes, so that
    /// none of them checks the UTF-8 of a text that is ASCII by construction.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The name and each parent domain in turn, most specific first, without allocating:
    /// `a.b.c` yields `a.b.c`, `b.c`, `c`.
    pub fn suffixes(&self) -> impl Iterator<Item = &[u8]> {
        let name = self.as_bytes();
        self.label_starts[..self.labels]
            .iter()
            .filter_map(move |&start| name.get(usize::from(start)..))
    }

    /// Whether the name is `zone` or below it (`zone` in the same form: lower case, no
    /// trailing dot).
    pub fn is_within(&self, zone: &[u8]) -> bool {
        self.as_bytes()
            .strip_suffix(zone)
            .is_some_and(|rest| rest.is_empty() || rest.ends_with(b"."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        let cases: &[(&str, Result<&str, NameError>)] = &[
            ("example.com", Ok("example.com")),
            ("Example.COM.", Ok("example.com")),
            ("_dmarc.example.com", Ok("_dmarc.example.com")),
            ("xn--bcher-kva.example", Ok("xn--bcher-kva.example")),
            ("bücher.example", Ok("xn--bcher-kva.example")),
            ("ÄPFEL.de", Ok("xn--pfel-koa.de")),
            ("localhost", Err(NameError::Local)),
            ("LocalHost.", Err(NameError::Local)),
            ("IP6-AllNodes", Err(NameError::Local)),
            ("broadcasthost", Err(NameError::Local)),
            ("0.0.0.0", Err(NameError::Local)),
            ("com", Err(NameError::SingleLabel)),
            ("1.2.3.4", Err(NameError::Invalid)),
            ("1.2.3.4.", Err(NameError::Invalid)),
            ("1.2.3.x4", Ok("1.2.3.x4")),
            ("A-b_C.Example", Ok("a-b_c.example")),
            ("a.", Err(NameError::SingleLabel)),
            ("a..", Err(NameError::Invalid)),
            ("a.b.", Ok("a.b")),
            ("a..b", Err(NameError::Invalid)),
            (".a.b", Err(NameError::Invalid)),
            ("a b.com", Err(NameError::Invalid)),
            ("a*.com", Err(NameError::Invalid)),
            ("ex/ample.com", Err(NameError::Invalid)),
            ("", Err(NameError::Invalid)),
        ];
        for (input, expected) in cases {
            let got = normalize_domain(input).map(|name| name.into_owned());
            assert_eq!(got.as_deref().map_err(|e| *e), *expected, "{input:?}");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert_eq!(normalize_domain(&long_label), Err(NameError::Invalid));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        assert_eq!(normalize_domain(&long_name), Err(NameError::Invalid));
    }

    #[test]
    fn query_names_walk_their_suffixes() {
        let name =
            LowerName::from(hickory_proto::rr::Name::from_ascii("A.B.Example.com.").unwrap());
        let query = QueryName::from_lower(&name).unwrap();
        assert_eq!(query.as_str(), "a.b.example.com");
        let suffixes: Vec<&[u8]> = query.suffixes().collect();
        assert_eq!(
            suffixes,
            [
                b"a.b.example.com".as_slice(),
                b"b.example.com",
                b"example.com",
                b"com"
            ]
        );
        let root =
            QueryName::from_lower(&LowerName::from(hickory_proto::rr::Name::root())).unwrap();
        assert_eq!(root.suffixes().count(), 0);
        // Labels no list entry can hold: a dot inside one, a non-ASCII byte.
        for odd in [&b"a.b"[..], b"caf\xc3\xa9"] {
            let name = hickory_proto::rr::Name::from_labels([odd, b"example", b"com"]).unwrap();
            assert!(QueryName::from_lower(&LowerName::from(name)).is_none());
        }
    }

    #[test]
    fn typed_names_become_punycode() {
        assert_eq!(
            QueryName::from_text("Bücher.Example.").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        assert!(QueryName::from_text("a..b").is_none());
        assert!(QueryName::from_text("").is_none());
        let typed = QueryName::from_text("www.Example.com").unwrap();
        let suffixes: Vec<&[u8]> = typed.suffixes().collect();
        assert_eq!(
            suffixes,
            [b"www.example.com".as_slice(), b"example.com", b"com"]
        );
    }

    #[test]
    fn a_name_is_within_its_zones_only() {
        let name = QueryName::from_text("nas.home.arpa").unwrap();
        assert!(name.is_within(b"home.arpa"));
        assert!(name.is_within(b"nas.home.arpa"));
        assert!(name.is_within(b"arpa"));
        assert!(!name.is_within(b"me.arpa"));
        assert!(!name.is_within(b"x.nas.home.arpa"));
    }

    #[test]
    fn names_past_the_wire_limit_are_refused() {
        // 128 one-byte labels: more than a 255-byte wire name can hold.
        let labels = vec!["a"; 128].join(".");
        assert!(QueryName::from_text(&labels).is_none());
        let longest = vec!["a"; 127].join(".");
        assert_eq!(
            QueryName::from_text(&longest).unwrap().suffixes().count(),
            127
        );
    }
}
