//! Code 128 symbol for the waybill number.
//!
//! `barcoders` does the encoding (patterns, checksum, stop); this module only
//! chooses the code sets: subset B for letters, subset C (two digits per
//! symbol) for long enough digit runs, as GS1's rules for a short symbol do.
//! Typical waybills (`SF` + 13 digits) come out at 156 modules instead of 200.

use barcoders::sym::code128::Code128;

/// Switch to / start with code set B (`barcoders` convention).
const SET_B: char = 'Ɓ';
/// Switch to / start with code set C.
const SET_C: char = 'Ć';

/// Dark (`true`) and light modules of the symbol, without quiet zones.
/// `None` when `data` is not printable ASCII.
pub(crate) fn modules(data: &str) -> Option<Vec<bool>> {
    let spec = code_sets(data)?;
    let code = Code128::new(spec).ok()?;
    Some(code.encode().into_iter().map(|b| b == 1).collect())
}

/// `data` with code-set markers inserted.
fn code_sets(data: &str) -> Option<String> {
    let chars: Vec<char> = data.chars().collect();
    if chars.is_empty() || !chars.iter().all(|c| (' '..='~').contains(c)) {
        return None;
    }
    let mut out = String::with_capacity(chars.len() + 4);
    let mut set: Option<char> = None;
    let mut switch = |out: &mut String, to: char| {
        if set != Some(to) {
            out.push(to);
            set = Some(to);
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if run == 0 {
            switch(&mut out, SET_B);
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let at_start = i == 0;
        let at_end = i + run == chars.len();
        let threshold = match (at_start, at_end) {
            (true, true) => 2,
            (true, false) | (false, true) => 4,
            (false, false) => 6,
        };
        let mut digits = &chars[i..i + run];
        if run >= threshold {
            if run % 2 == 1 {
                // The odd digit goes in set B, before the pairs.
                switch(&mut out, SET_B);
                out.push(digits[0]);
                digits = &digits[1..];
            }
            switch(&mut out, SET_C);
        } else {
            switch(&mut out, SET_B);
        }
        out.extend(digits.iter());
        i += run;
    }
    Some(out)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]
mod tests {
    use super::*;

    #[test]
    fn code_sets_are_chosen() {
        for (data, want) in [
            ("SF1234567890123", "ƁSF1Ć234567890123"),
            ("1234", "Ć1234"),
            ("12345", "Ɓ1Ć2345"),
            ("12", "Ć12"),
            ("1", "Ɓ1"),
            ("A12B", "ƁA12B"),
            ("YT12345678AB", "ƁYTĆ12345678ƁAB"),
            ("JD-0012", "ƁJD-Ć0012"),
            ("JD-001", "ƁJD-001"),
        ] {
            assert_eq!(code_sets(data).unwrap(), want, "{data}");
        }
        assert!(code_sets("").is_none());
        assert!(code_sets("顺丰").is_none());
        assert!(code_sets("A\tB").is_none());
    }

    #[test]
    fn typical_waybill_is_compact() {
        // Start, S, F, 1, CodeC, 6 pairs, check = 12 symbols of 11 + stop 13.
        assert_eq!(modules("SF1234567890123").unwrap().len(), 12 * 11 + 13);
        assert!(modules("SF1234567890123").unwrap()[0]);
    }
}
