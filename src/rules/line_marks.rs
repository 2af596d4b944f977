//! Which of the bytes that steer a list line's format detection the line holds, found in one
//! pass. The parser then decides between hosts, plain, adblock, dnsmasq and regex lines with
//! bit tests instead of scanning the line again for each character it asks about: loading a
//! million-line list is mostly this decision.

/// A set of [`LineMarks`] bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineMarks(u16);

impl LineMarks {
    /// ASCII whitespace (space, tab, line feed, vertical tab, form feed, carriage return).
    pub const SPACE: Self = Self(1);
    pub const SLASH: Self = Self(1 << 1);
    pub const HASH: Self = Self(1 << 2);
    pub const SEMICOLON: Self = Self(1 << 3);
    pub const EQUALS: Self = Self(1 << 4);
    pub const DOLLAR: Self = Self(1 << 5);
    pub const CARET: Self = Self(1 << 6);
    pub const STAR: Self = Self(1 << 7);
    /// `\`, `[`, `{`, `+` or `?`: regex syntax that no name, hosts line or adblock rule holds.
    pub const REGEX_SYNTAX: Self = Self(1 << 8);
    /// A byte of a non-ASCII character, which may be Unicode whitespace.
    pub const NON_ASCII: Self = Self(1 << 9);

    const NONE: Self = Self(0);

    pub fn of(line: &str) -> Self {
        Self(
            line.bytes()
                .fold(0, |marks, byte| marks | MARK_OF_BYTE[usize::from(byte)]),
        )
    }

    /// Both sets of marks.
    pub const fn or(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether any of `marks` is present.
    pub fn any(self, marks: Self) -> bool {
        self.0 & marks.0 != 0
    }

    /// Whether `line`, whose marks these are, holds whitespace as `char::is_whitespace` sees it.
    pub fn has_whitespace(self, line: &str) -> bool {
        self.any(Self::SPACE) || (self.any(Self::NON_ASCII) && line.contains(char::is_whitespace))
    }
}

/// The marks of each byte value.
const MARK_OF_BYTE: [u16; 256] = {
    let mut table = [LineMarks::NONE.0; 256];
    let mut byte = 0;
    while byte < 256 {
        let mark = match byte as u8 {
            b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' => LineMarks::SPACE,
            b'/' => LineMarks::SLASH,
            b'#' => LineMarks::HASH,
            b';' => LineMarks::SEMICOLON,
            b'=' => LineMarks::EQUALS,
            b'$' => LineMarks::DOLLAR,
            b'^' => LineMarks::CARET,
            b'*' => LineMarks::STAR,
            b'\\' | b'[' | b'{' | b'+' | b'?' => LineMarks::REGEX_SYNTAX,
            0x80..=0xff => LineMarks::NON_ASCII,
            _ => LineMarks::NONE,
        };
        table[byte] = mark.0;
        byte += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mark_is_found_where_a_scan_finds_its_characters() {
        let cases: &[(LineMarks, &[char])] = &[
            (LineMarks::SLASH, &['/']),
            (LineMarks::HASH, &['#']),
            (LineMarks::SEMICOLON, &[';']),
            (LineMarks::EQUALS, &['=']),
            (LineMarks::DOLLAR, &['$']),
            (LineMarks::CARET, &['^']),
            (LineMarks::STAR, &['*']),
            (LineMarks::REGEX_SYNTAX, &['\\', '[', '{', '+', '?']),
        ];
        let lines = [
            "example.com",
            "0.0.0.0 ads.example.com #x",
            "||ads.example.com^$important",
            "address=/a.com/0.0.0.0",
            "^ad[0-9]+\\.",
            "*.example.com ; why",
            "/track(er)?/",
            "bücher.example",
        ];
        for line in lines {
            let marks = LineMarks::of(line);
            for (mark, chars) in cases {
                assert_eq!(marks.any(*mark), line.contains(*chars), "{line:?} {mark:?}");
            }
            assert_eq!(
                marks.has_whitespace(line),
                line.contains(char::is_whitespace),
                "{line:?}"
            );
        }
    }

    #[test]
    fn whitespace_is_whitespace_as_char_sees_it() {
        for c in ['\u{b}', '\u{c}', '\u{a0}', '\u{3000}', '\u{2028}'] {
            let line = format!("a.com{c}b.com");
            assert!(LineMarks::of(&line).has_whitespace(&line), "{c:?}");
        }
        for line in ["a.com", "bücher.example", "a\u{1c}b.com"] {
            assert!(!LineMarks::of(line).has_whitespace(line), "{line:?}");
        }
        // Every ASCII byte is marked as whitespace exactly when char::is_whitespace says so.
        for byte in 0u8..0x80 {
            let line = (byte as char).to_string();
            assert_eq!(
                LineMarks::of(&line).any(LineMarks::SPACE),
                (byte as char).is_whitespace(),
                "{byte:#x}"
            );
        }
    }
}
