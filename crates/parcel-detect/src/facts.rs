//! What a scan learns about its text besides the findings: how many
//! newlines stand before a position, and whether the text is valid UTF-8.
//!
//! The number pass's classifier looks at every byte anyway; it counts the
//! newlines and marks the non-ASCII bytes as it goes, so a caller that
//! needs line numbers or an encoding check makes no second and third pass
//! over the text (those passes were about a tenth of a sparse-log scan).

use crate::numbers::Found;

/// Facts about one scanned text. Each method takes the same bytes that were
/// scanned; given other bytes, its answers mean nothing.
#[derive(Debug, Clone, Default)]
pub struct TextFacts {
    /// (position, newlines before it), ascending, the first at 0 and then
    /// about every [`crate::numbers::LINE_MARK_EVERY`] bytes.
    line_marks: Vec<(usize, u64)>,
    /// Ranges holding every non-ASCII byte of the text, in order and apart:
    /// the byte before each range and the byte after it are ASCII (or
    /// outside the text).
    non_ascii: Vec<(usize, usize)>,
}

impl TextFacts {
    pub(crate) fn new(found: &mut Found) -> Self {
        let mut non_ascii: Vec<(usize, usize)> = Vec::new();
        for &(first, end) in &found.non_ascii {
            match non_ascii.last_mut() {
                // A character cut by a block boundary: one range.
                Some(last) if last.1 == first => last.1 = end,
                _ => non_ascii.push((first, end)),
            }
        }
        Self {
            line_marks: std::mem::take(&mut found.line_marks),
            non_ascii,
        }
    }

    /// The number of newlines in `hay[..pos]`.
    pub fn newlines_before(&self, hay: &[u8], pos: usize) -> u64 {
        self.newlines_before_from(hay, pos, (0, 0))
    }

    /// [`newlines_before`](Self::newlines_before), given an earlier answer
    /// `known` = (position, newlines before it): the count goes on from
    /// whichever is nearer below `pos`, that answer or the scan's own
    /// mark. Callers walking forward through findings pass their last one.
    pub fn newlines_before_from(&self, hay: &[u8], pos: usize, known: (usize, u64)) -> u64 {
        let pos = pos.min(hay.len());
        let k = self.line_marks.partition_point(|&(p, _)| p <= pos);
        let mark = k
            .checked_sub(1)
            .and_then(|k| self.line_marks.get(k))
            .copied()
            .unwrap_or((0, 0));
        let (from, count) = if known.0 <= pos && known.0 > mark.0 {
            known
        } else {
            mark
        };
        count + memchr::memchr_iter(b'\n', &hay[from..pos]).count() as u64
    }

    /// Whether `hay[..end]` holds a byte sequence that is not UTF-8. A
    /// character cut short at `end` is not one (the rest may follow in
    /// the next piece of the input), as with [`std::str::Utf8Error::error_len`].
    pub fn has_invalid_utf8(&self, hay: &[u8], end: usize) -> bool {
        let end = end.min(hay.len());
        self.non_ascii
            .iter()
            .take_while(|&&(s, _)| s < end)
            .any(|&(s, e)| {
                // Up to and including the ASCII byte after the range, so
                // that a character cut short inside the text is an error,
                // as it would be in a check of the whole text.
                let upto = (e + 1).min(end);
                std::str::from_utf8(&hay[s..upto]).is_err_and(|err| err.error_len().is_some())
            })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Detector, DocContext, Options};
    use proptest::strategy::Strategy;

    fn check(det: &Detector, hay: &[u8]) -> Result<(), proptest::test_runner::TestCaseError> {
        let text = det
            .scan_text(hay, &DocContext::default(), &Options::default())
            .text;
        for pos in (0..=hay.len()).step_by(7).chain([hay.len()]) {
            let naive = memchr::memchr_iter(b'\n', &hay[..pos]).count() as u64;
            proptest::prop_assert_eq!(
                text.newlines_before(hay, pos),
                naive,
                "newlines before {}",
                pos
            );
            // Going on from an earlier, right answer.
            let at = pos / 2;
            let known = (at, memchr::memchr_iter(b'\n', &hay[..at]).count() as u64);
            proptest::prop_assert_eq!(
                text.newlines_before_from(hay, pos, known),
                naive,
                "newlines before {} from {}",
                pos,
                at
            );
            let invalid = std::str::from_utf8(&hay[..pos]).is_err_and(|e| e.error_len().is_some());
            proptest::prop_assert_eq!(
                text.has_invalid_utf8(hay, pos),
                invalid,
                "utf-8 before {}",
                pos
            );
        }
        Ok(())
    }

    proptest::proptest! {
        /// Line counts and UTF-8 validity agree with a pass of their own,
        /// at every cut, on text mixing ASCII lines, Chinese characters
        /// (some cut or broken) and long runs that span the classifier's
        /// blocks and line marks.
        #[test]
        fn facts_agree_with_separate_passes(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::string::string_regex("[a-z0-9 :@\n]{0,80}").unwrap().prop_map(String::into_bytes),
                    proptest::string::string_regex("[收件人深圳市é\n]{0,20}").unwrap().prop_map(String::into_bytes),
                    proptest::collection::vec(proptest::num::u8::ANY, 0..4),
                    (0usize..9000).prop_map(|n| vec![b'x'; n]),
                ],
                0..12,
            ),
        ) {
            let hay: Vec<u8> = pieces.concat();
            check(&Detector::new().unwrap(), &hay)?;
        }
    }

    #[test]
    fn facts_of_edge_texts() {
        let det = Detector::new().unwrap();
        let mut long = "深".repeat(30_000).into_bytes();
        long.extend_from_slice(b"\n\xE6\xB7");
        for hay in [&b""[..], b"\n", b"\xE6", "a\n深圳\n".as_bytes(), &long] {
            check(&det, hay).unwrap();
        }
        // A character cut short, or whole, at every place around the
        // classifier's first blocks (64 bytes each).
        for at in 0..200 {
            for tail in [&b"\xE6\xB7a"[..], b"\xE6\xB7\xB1a", b"\xE6a\xB7", b"\xB7\n"] {
                let mut hay = vec![b'x'; at];
                hay.extend_from_slice(tail);
                hay.extend_from_slice(&[b'y'; 70]);
                check(&det, &hay).unwrap();
            }
        }
    }
}
