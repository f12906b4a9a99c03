//! The dictionary of Chinese anchor words (administrative-division names,
//! cues, honorifics, plate characters) for the Chinese-text pass.
//!
//! Why not one Aho-Corasick automaton over every anchor: building it over
//! some 3,900 division names took 60% of the scanner's start-up (about
//! 12 ms, paid by every `parcelguard scan` run, however small the input),
//! far more than the lines it searches need. Division names are whole
//! words of two characters or more, so a table keyed by a word's first two
//! characters finds the same matches: at each character, the words that
//! start there are the entries under that key (longest first), and the
//! first that the text holds is the leftmost-longest match there. The
//! table builds in well under a millisecond. ASCII cues (`receiverName`)
//! stay with Aho-Corasick: they are few, and case-insensitive.
//!
//! The search's contract is Aho-Corasick's leftmost-longest, non-overlapping
//! iteration over the words; the tests check it against that automaton.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;

/// Words keyed by their first two characters, each group longest first.
#[derive(Debug)]
pub(crate) struct Words<K> {
    /// One bit per Basic Multilingual Plane code point: whether a word
    /// starts with it. Most characters of a line start none.
    first: Vec<u64>,
    /// First two characters → the range of `entries` under that key.
    heads: HashMap<u64, (u32, u32), FxBuildHasher>,
    /// Words of two characters or more, grouped by head, longest first
    /// (and in insertion order among words of one length).
    entries: Vec<(Box<[u8]>, K)>,
    /// One-character words.
    singles: HashMap<char, K, FxBuildHasher>,
}

/// Errors from [`Words::new`].
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WordsError {
    /// A word is empty or holds an ASCII byte (those belong to the ASCII
    /// matcher: the two matchers' words must not share a byte).
    #[error("anchor word {0} is empty or holds an ASCII byte")]
    NotNonAscii(usize),
}

fn head_key(a: char, b: char) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

impl<K: Copy> Words<K> {
    /// Builds the table. `words` are unique, in priority order (the first
    /// of two words of one length and head wins, as with Aho-Corasick's
    /// pattern order); each is non-empty and holds no ASCII byte.
    pub(crate) fn new<'a>(
        words: impl IntoIterator<Item = (&'a str, K)>,
    ) -> Result<Self, WordsError> {
        let mut keyed: Vec<(u64, usize, usize, &'a str, K)> = Vec::new();
        let mut singles = HashMap::with_hasher(FxBuildHasher);
        let mut first = vec![0u64; 0x1_0000 / 64];
        for (order, (w, kind)) in words.into_iter().enumerate() {
            let mut chars = w.chars();
            let Some(a) = chars.next() else {
                return Err(WordsError::NotNonAscii(order));
            };
            if w.bytes().any(|b| b.is_ascii()) {
                return Err(WordsError::NotNonAscii(order));
            }
            if let Some(slot) = first.get_mut(a as usize / 64) {
                *slot |= 1 << (a as usize % 64);
            }
            match chars.next() {
                None => {
                    singles.entry(a).or_insert(kind);
                }
                Some(b) => keyed.push((head_key(a, b), usize::MAX - w.len(), order, w, kind)),
            }
        }
        // Grouped by head, longest first, then in the order given.
        keyed.sort_unstable_by_key(|&(key, neg_len, order, _, _)| (key, neg_len, order));
        let mut heads = HashMap::with_capacity_and_hasher(keyed.len(), FxBuildHasher);
        let mut entries = Vec::with_capacity(keyed.len());
        for (key, _, _, w, kind) in keyed {
            let at = u32::try_from(entries.len()).unwrap_or(u32::MAX);
            heads
                .entry(key)
                .and_modify(|r: &mut (u32, u32)| r.1 = at + 1)
                .or_insert((at, at + 1));
            entries.push((Box::from(w.as_bytes()), kind));
        }
        Ok(Self {
            first,
            heads,
            entries,
            singles,
        })
    }

    fn may_start(&self, c: char) -> bool {
        self.first
            .get(c as usize / 64)
            .is_none_or(|bits| bits & (1 << (c as usize % 64)) != 0)
    }

    /// The leftmost-longest, non-overlapping matches in `hay[from..to]`,
    /// appended to `out` as (start, end, kind) in order.
    pub(crate) fn find_all(
        &self,
        hay: &[u8],
        from: usize,
        to: usize,
        out: &mut Vec<(usize, usize, K)>,
    ) {
        let hay = &hay[..to];
        let mut i = from;
        while i < to {
            // No word starts with an ASCII byte (nor inside a character).
            if hay[i].is_ascii() {
                i += 1;
                continue;
            }
            let Some((a, la)) = crate::cjk::char_at(hay, i) else {
                i += 1;
                continue;
            };
            if self.may_start(a)
                && let Some((end, kind)) = self.longest_at(hay, i, a, la)
            {
                out.push((i, end, kind));
                i = end;
                continue;
            }
            i += la;
        }
    }

    fn longest_at(&self, hay: &[u8], i: usize, a: char, la: usize) -> Option<(usize, K)> {
        if let Some((b, _)) = crate::cjk::char_at(hay, i + la)
            && let Some(&(s, e)) = self.heads.get(&head_key(a, b))
        {
            let rest = &hay[i..];
            for (w, kind) in &self.entries[s as usize..e as usize] {
                if rest.starts_with(w) {
                    return Some((i + w.len(), *kind));
                }
            }
        }
        self.singles.get(&a).map(|&k| (i + la, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasick, MatchKind};

    fn reference(words: &[&str], hay: &str) -> Vec<(usize, usize, usize)> {
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(words)
            .unwrap();
        ac.find_iter(hay)
            .map(|m| (m.start(), m.end(), m.pattern().as_usize()))
            .collect()
    }

    fn ours(words: &[&str], hay: &str) -> Vec<(usize, usize, usize)> {
        let table = Words::new(words.iter().copied().zip(0..)).unwrap();
        let mut out = Vec::new();
        table.find_all(hay.as_bytes(), 0, hay.len(), &mut out);
        out
    }

    #[test]
    fn leftmost_longest_cases() {
        let words = [
            "南山区",
            "南山",
            "山区",
            "深圳市",
            "深圳",
            "京",
            "北京市",
            "市",
        ];
        // (haystack, expected (start, end, word index)) in byte offsets.
        type Span = (usize, usize, usize);
        let cases: &[(&str, &[Span])] = &[
            ("深圳市南山区科技园", &[(0, 9, 3), (9, 18, 0)]),
            ("北京市", &[(0, 9, 6)]),
            ("北京", &[(3, 6, 5)]),
            ("南山路", &[(0, 6, 1)]),
            ("a山区b", &[(1, 7, 2)]),
            ("", &[]),
            ("abc", &[]),
        ];
        for (hay, want) in cases {
            assert_eq!(&ours(&words, hay), want, "{hay}");
            assert_eq!(&reference(&words, hay), want, "{hay}");
        }
    }

    #[test]
    fn rejects_words_with_ascii() {
        assert_eq!(
            Words::new([("南山", 0), ("name", 1)]).err(),
            Some(WordsError::NotNonAscii(1))
        );
        assert_eq!(
            Words::new([("", 0)]).err(),
            Some(WordsError::NotNonAscii(0))
        );
    }

    proptest::proptest! {
        /// Random text over the words' characters (and bytes that break
        /// UTF-8) finds what Aho-Corasick finds.
        #[test]
        fn agrees_with_aho_corasick(
            picks in proptest::collection::vec(0usize..12, 0..40),
            junk in proptest::collection::vec(proptest::num::u8::ANY, 0..6),
        ) {
            let words = ["南山区", "南山", "山区", "区", "深圳市", "深圳", "京", "北京市", "𠀀山", "山𠀀区", "é京"];
            let pieces = ["南", "山", "区", "深", "圳", "市", "北", "京", "𠀀", "é", "x", "\n"];
            let mut hay: Vec<u8> = picks.iter().flat_map(|&p| pieces[p].bytes()).collect();
            hay.extend_from_slice(&junk);
            let table = Words::new(words.iter().copied().zip(0..)).unwrap();
            let mut got = Vec::new();
            table.find_all(&hay, 0, hay.len(), &mut got);
            let ac = AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(words).unwrap();
            let want: Vec<_> = ac.find_iter(&hay).map(|m| (m.start(), m.end(), m.pattern().as_usize())).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
