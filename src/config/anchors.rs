//! `dns.trust_anchors`: a file of DNSKEY records in zone-file form (`test. 3600 IN DNSKEY 257 3
//! 13 …`) that replaces the built-in root anchor of DNSSEC validation, for private roots and
//! tests. Read once at validation (so a bad file is a config error naming the key) and again
//! when the upstreams are built.

use std::path::Path;

use hickory_proto::dnssec::TrustAnchors;
use hickory_proto::serialize::txt::trust_anchor::Parser;

/// The anchors in `path`, or why they cannot be used.
pub fn load_trust_anchors(path: &Path) -> Result<TrustAnchors, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let parsed = Parser::new(&text).parse().and_then(|entries| {
        let count = entries.len();
        text.parse::<TrustAnchors>().map(|anchors| (anchors, count))
    });
    let (anchors, count) = parsed.map_err(|err| {
        let hint = if text.split_whitespace().any(|word| word == "DS") {
            " (only DNSKEY records can be anchors here: give the key a DS record points to)"
        } else {
            ""
        };
        format!("{}: {err}{hint}", path.display())
    })?;
    if count == 0 {
        return Err(format!("{} holds no DNSKEY record", path.display()));
    }
    Ok(anchors)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `text` as an anchors file: `Ok(())` or the message.
    fn load(text: &str) -> Result<(), String> {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        load_trust_anchors(file.path()).map(drop)
    }

    #[test]
    fn dnskey_records_load_and_everything_else_is_explained() {
        // The root zone's 2017 key-signing key (KSK-2017), as published by IANA.
        let root = ". 172800 IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=\n";
        assert_eq!(load(root), Ok(()));
        let ds = load("example. 3600 IN DS 12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE\n")
            .unwrap_err();
        assert!(ds.contains("only DNSKEY records"), "{ds}");
        let empty = load("; nothing here\n").unwrap_err();
        assert!(empty.contains("holds no DNSKEY record"), "{empty}");
        let garbage = load("this is not a zone file\n").unwrap_err();
        assert!(!garbage.is_empty());
    }
}
