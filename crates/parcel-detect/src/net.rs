//! E-mail addresses (found around `@`) and IPv6 addresses (found around `:`),
//! both from positions the number pass's classifier collects.

use std::net::Ipv6Addr;

use crate::context::Env;
use crate::numbers::with_context;
use crate::{PiiType, Sink};

fn is_local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// Top-level domains that are really file extensions (`icon@2x.png`).
const FILE_EXTENSIONS: &[&[u8]] = &[
    b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"js", b"css", b"map", b"ico",
];

/// Looks for e-mail addresses around `ats`, the `@` signs of the text in
/// order (the number pass's classifier collects them).
pub(crate) fn scan_emails(env: &Env<'_>, sink: &mut Sink<'_>, ats: &[usize]) {
    let hay = env.hay;
    let mut resume = 0;
    for &at in ats {
        if at < resume {
            continue;
        }
        let mut s = at;
        while s > 0 && is_local_char(hay[s - 1]) && at - s < 64 {
            s -= 1;
        }
        while s < at && matches!(hay[s], b'.' | b'-' | b'+') {
            s += 1;
        }
        let mut e = at + 1;
        while e < hay.len() && is_domain_char(hay[e]) && e - at < 255 {
            e += 1;
        }
        while e > at + 1 && matches!(hay[e - 1], b'.' | b'-') {
            e -= 1;
        }
        if s == at || e <= at + 1 {
            continue;
        }
        let local = &hay[s..at];
        let domain = &hay[at + 1..e];
        if local.starts_with(b".") || local.ends_with(b".") || local.windows(2).any(|w| w == b"..")
        {
            continue;
        }
        let labels: Vec<&[u8]> = domain.split(|&b| b == b'.').collect();
        let Some(tld) = labels.last() else { continue };
        if labels.len() < 2
            || labels
                .iter()
                .any(|l| l.is_empty() || l.len() > 63 || l.starts_with(b"-") || l.ends_with(b"-"))
            || tld.len() < 2
            || !tld.iter().all(u8::is_ascii_alphabetic)
            || FILE_EXTENSIONS.iter().any(|x| tld.eq_ignore_ascii_case(x))
        {
            continue;
        }
        let ctx = env.context(s);
        let (score, why) = with_context(PiiType::Email, 0.9, ctx);
        sink.push(PiiType::Email, s, e, score, "email_syntax", || {
            let mut r = vec!["local@domain with a valid alphabetic top-level domain".to_owned()];
            r.extend(why.map(String::from));
            r
        });
        resume = e;
    }
}

pub(crate) fn is_v6_char(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// If the colon at `c` is the first of a whole `HH:MM:SS` token (a time,
/// never an IPv6 address: three groups and no `::`), where the token ends.
#[inline]
pub(crate) fn time_token_end(hay: &[u8], c: usize) -> Option<usize> {
    let t: [u8; 8] = hay.get(c.checked_sub(2)?..c + 6)?.try_into().ok()?;
    // The eight bytes at once: digits at 0, 1, 3, 4, 6 and 7 (one high bit
    // per digit byte, little-endian), colons at 2 and 5.
    let w = u64::from_le_bytes(t);
    const DIGITS: u64 = 0x8080_0080_8000_8080;
    const COLONS: u64 = 0x0000_3A00_003A_0000;
    if crate::numbers::digit_bytes(w) & DIGITS != DIGITS || w & !(0xFF * (DIGITS >> 7)) != COLONS {
        return None;
    }
    let hexish = |b: u8| b.is_ascii_hexdigit() || b == b':';
    let before_ok = c < 3 || !hexish(hay[c - 3]);
    let after_ok = hay.get(c + 6).is_none_or(|&b| !hexish(b));
    (before_ok && after_ok).then_some(c + 6)
}

/// Whether a byte could stand beside a colon inside an IPv6 address.
pub(crate) fn hexish(b: Option<&u8>) -> bool {
    b.is_some_and(|&b| b.is_ascii_hexdigit() || b == b':')
}

/// Looks for IPv6 addresses around `colons`: in order, those with a hex
/// digit or a colon on both sides (the number pass collects them). Most
/// colons in logs are `"key":"value"` or `key: value` and are not among
/// them; every address worth reporting (two non-zero groups) has such a
/// colon, and its candidate span is the same as from its first colon
/// whenever the run of address characters before it is shorter than the
/// 40-byte look-back (every real address is).
pub(crate) fn scan_ipv6(env: &Env<'_>, sink: &mut Sink<'_>, colons: &[usize]) {
    let hay = env.hay;
    let mut resume = 0;
    for &colon in colons {
        if colon < resume {
            continue;
        }
        if let Some(end) = time_token_end(hay, colon) {
            resume = end;
            continue;
        }
        let mut s = colon;
        while s > 0 && is_v6_char(hay[s - 1]) && colon - s < 40 {
            s -= 1;
        }
        let mut e = colon;
        while e < hay.len() && is_v6_char(hay[e]) && e - s < 46 {
            e += 1;
        }
        resume = e;
        // Trailing dots and a leading/trailing lone colon are punctuation.
        while e > s && hay[e - 1] == b'.' {
            e -= 1;
        }
        while s < e && hay[s] == b'.' {
            s += 1;
        }
        let before = s.checked_sub(1).map(|i| hay[i]);
        let after = hay.get(e).copied();
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            || after.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            continue;
        }
        let cand = &hay[s..e];
        let colons = cand.iter().filter(|&&b| b == b':').count();
        let hex = cand.iter().filter(|b| b.is_ascii_hexdigit()).count();
        // Full form has seven colons; anything shorter must compress with
        // `::`. This rejects times (10:23:45) before parsing.
        if colons < 2 || hex < 4 || (colons < 7 && memchr::memmem::find(cand, b"::").is_none()) {
            continue;
        }
        let Ok(text) = std::str::from_utf8(cand) else {
            continue;
        };
        let Ok(addr) = text.parse::<Ipv6Addr>() else {
            continue;
        };
        // `::` alone or tiny values are syntax, not addresses; a compressed
        // address needs at least two non-zero groups.
        if addr.segments().iter().filter(|&&g| g != 0).count() < 2 {
            continue;
        }
        let ctx = env.context(s);
        let (score, why) = with_context(PiiType::Ipv6, 0.85, ctx);
        sink.push(PiiType::Ipv6, s, e, score, "ipv6_parse", || {
            let mut r = vec!["parses as an IPv6 address".to_owned()];
            r.extend(why.map(String::from));
            r
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`time_token_end`] as plainly as it can be written.
    fn naive_time_token_end(hay: &[u8], c: usize) -> Option<usize> {
        let t = hay.get(c.checked_sub(2)?..c + 6)?;
        let hexish = |b: u8| b.is_ascii_hexdigit() || b == b':';
        let digits = |r: std::ops::Range<usize>| t[r].iter().all(u8::is_ascii_digit);
        let before_ok = c < 3 || !hexish(hay[c - 3]);
        let after_ok = hay.get(c + 6).is_none_or(|&b| !hexish(b));
        (before_ok
            && after_ok
            && digits(0..2)
            && t[2] == b':'
            && digits(3..5)
            && t[5] == b':'
            && digits(6..8))
        .then_some(c + 6)
    }

    proptest::proptest! {
        #[test]
        fn time_tokens_agree_with_naive(text in "([0-9]{2}:[0-9]{2}:[0-9]{2}|[0-9:a-fT. /;]){0,6}", c in 0usize..20) {
            let hay = text.as_bytes();
            proptest::prop_assert_eq!(time_token_end(hay, c), naive_time_token_end(hay, c));
        }
    }

    #[test]
    fn time_token_cases() {
        for (text, c, want) in [
            ("10:23:45", 2, Some(8)),
            ("T10:23:45.1", 3, Some(9)),
            ("a10:23:45", 3, None),
            ("10:23:45f", 2, None),
            ("10:2x:45", 2, None),
            ("10:23;45", 2, None),
            ("1:23:45", 1, None),
        ] {
            assert_eq!(time_token_end(text.as_bytes(), c), want, "{text}");
            assert_eq!(naive_time_token_end(text.as_bytes(), c), want, "{text}");
        }
    }
}
