//! The profile fields' rules, written out so that they accept exactly what the patterns in
//! the OpenAPI document (`routes::profile::PatchBody`) describe: schemathesis checks both
//! directions. Every API that edits a profile (the native one, the compat adapters) uses them.

/// The languages the frontends are translated into.
pub const LANGUAGES: &[&str] = &["en", "zh-CN", "zh-TW", "ja", "ko"];

/// Longest display name, in characters (after trimming).
pub const DISPLAY_NAME_MAX_CHARS: usize = 50;

/// Longest avatar URL, in bytes: what browsers and CDNs reliably handle, and enough for any
/// real image URL (a signed one included); more is abuse of a field shown to others.
pub const AVATAR_URL_MAX_BYTES: usize = 2048;

/// White space trimmed from both ends of a display name: Unicode's `White_Space`, spelled out
/// because the document's pattern lists the same characters.
const TRIM: &[(char, char)] = &[
    ('\t', '\r'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// Never inside a display name: control characters (they break layouts and logs) and the
/// bidi overrides and isolates (they make a name display as something else).
const FORBIDDEN: &[(char, char)] = &[
    ('\u{0}', '\u{1f}'),
    ('\u{7f}', '\u{9f}'),
    ('\u{202a}', '\u{202e}'),
    ('\u{2066}', '\u{2069}'),
];

fn in_ranges(c: char, ranges: &[(char, char)]) -> bool {
    ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// The trimmed display name, or why it is refused.
pub fn display_name(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim_matches(|c| in_ranges(c, TRIM));
    let chars = name.chars().count();
    if chars == 0 {
        return Err("must not be empty or blank (send null to clear it)");
    }
    if chars > DISPLAY_NAME_MAX_CHARS {
        return Err("at most 50 characters");
    }
    if name.chars().any(|c| in_ranges(c, FORBIDDEN)) {
        return Err("no control or bidi-override characters");
    }
    Ok(name.to_string())
}

/// The avatar URL as given, or why it is refused: `http(s)://` a host name (labels of letters,
/// digits and inner hyphens, the last starting with a letter), an optional port 1-65535, an
/// optional path of printable ASCII. No credentials can fit, and no address literals.
pub fn avatar_url(raw: &str) -> Result<String, &'static str> {
    const SHAPE: &str = "an http(s) URL on a host name, without credentials";
    if raw.len() > AVATAR_URL_MAX_BYTES {
        return Err("at most 2048 bytes");
    }
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .ok_or(SHAPE)?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if !path.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
        return Err("the path must be printable ASCII (percent-encode the rest)");
    }
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    let port_ok = port.is_none_or(|p| {
        !p.starts_with('0')
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
    });
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let last_ok = labels
        .last()
        .is_some_and(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()));
    if !(port_ok && labels.iter().all(label_ok) && last_ok) {
        return Err(SHAPE);
    }
    // The grammar above is a strict subset of what the URL standard parses; this only guards
    // against a mistake in it (and catches bad punycode labels, `xn--…`).
    match url::Url::parse(raw) {
        Ok(u) if u.username().is_empty() && u.password().is_none() => Ok(raw.to_string()),
        _ => Err(SHAPE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_is_unicode_white_space() {
        for c in (0..=0x3100u32).filter_map(char::from_u32) {
            assert_eq!(in_ranges(c, TRIM), c.is_whitespace(), "{:?}", c);
        }
    }

    #[test]
    fn display_names() {
        assert_eq!(display_name("  Ada Lovelace \n").unwrap(), "Ada Lovelace");
        assert_eq!(display_name("李小龙").unwrap(), "李小龙");
        assert!(display_name(&"é".repeat(50)).is_ok());
        for bad in [
            "",
            "   ",
            "\u{3000}",
            "a\u{0}b",
            "a\tb",
            "a\u{202e}b",
            "x\u{7f}",
        ] {
            assert!(display_name(bad).is_err(), "{bad:?}");
        }
        assert!(display_name(&"é".repeat(51)).is_err());
    }

    #[test]
    fn avatar_urls() {
        for good in [
            "https://cdn.example.com/a/b.png?x=1#y",
            "http://a",
            "https://my-cdn.example.com:8443/x",
            "http://x1.y--z.ex/@user",
            "https://EXAMPLE.com/",
        ] {
            assert_eq!(avatar_url(good).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "ftp://example.com/a.png",
            "javascript:alert(1)",
            "https://user:pw@example.com/a.png",
            "https://user@example.com/",
            "https://127.0.0.1/a.png",
            "https://[::1]/a.png",
            "https://example.com:0/",
            "https://example.com:65536/",
            "https://example.com:08/",
            "https://-a.com/",
            "https://a..com/",
            "https://example.com/ a",
            "https://example.com/é",
            "HTTPS://example.com/",
            "https://",
            " https://example.com/",
        ] {
            assert!(avatar_url(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert!(avatar_url(&long).is_err());
    }
}
