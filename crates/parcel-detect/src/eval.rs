//! Scoring findings against labelled text: per-type precision, recall and
//! F1. Used by the accuracy gate in CI and by `cargo xtask accuracy`.
//!
//! A finding matches a label of the same type when their spans overlap by at
//! least half of their union (so `+86 138-1234-5678` against a label without
//! the `+86 ` still counts, a neighbouring number does not). Matching is
//! one-to-one.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::PiiType;

/// Counts for one type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Findings that match a label.
    pub tp: u64,
    /// Findings that match none.
    pub fp: u64,
    /// Labels no finding matched.
    pub fn_: u64,
}

impl Counts {
    /// tp / (tp + fp); 1 when nothing was found.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn); 1 when nothing was labelled.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Accumulated scores.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Per type.
    pub per_type: BTreeMap<PiiType, Counts>,
}

fn overlaps_enough(a: (usize, usize), b: (usize, usize)) -> bool {
    let inter = a.1.min(b.1).saturating_sub(a.0.max(b.0));
    let union = a.1.max(b.1) - a.0.min(b.0);
    union > 0 && inter * 2 >= union
}

impl Report {
    /// Adds one document: `gold` and `found` as (type, start, end).
    pub fn add(&mut self, gold: &[(PiiType, usize, usize)], found: &[(PiiType, usize, usize)]) {
        let mut used = vec![false; gold.len()];
        for &(kind, s, e) in found {
            let hit = gold.iter().enumerate().position(|(i, &(gk, gs, ge))| {
                !used[i] && gk == kind && overlaps_enough((s, e), (gs, ge))
            });
            let c = self.per_type.entry(kind).or_default();
            match hit {
                Some(i) => {
                    used[i] = true;
                    c.tp += 1;
                }
                None => c.fp += 1,
            }
        }
        for (i, &(kind, _, _)) in gold.iter().enumerate() {
            if !used[i] {
                self.per_type.entry(kind).or_default().fn_ += 1;
            }
        }
    }

    /// Counts summed over all types.
    pub fn micro(&self) -> Counts {
        self.per_type
            .values()
            .fold(Counts::default(), |a, c| Counts {
                tp: a.tp + c.tp,
                fp: a.fp + c.fp,
                fn_: a.fn_ + c.fn_,
            })
    }

    /// A Markdown table of the scores.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| type | labels | found | TP | FP | FN | precision | recall | F1 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let rows = self
            .per_type
            .iter()
            .map(|(k, c)| (k.as_str(), *c))
            .chain(std::iter::once(("**micro**", self.micro())));
        for (name, c) in rows {
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} | {} | {:.3} | {:.3} | {:.3} |",
                c.tp + c.fn_,
                c.tp + c.fp,
                c.tp,
                c.fp,
                c.fn_,
                c.precision(),
                c.recall(),
                c.f1()
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_matching() {
        let mut r = Report::default();
        let gold = [(PiiType::CnMobile, 4, 15), (PiiType::Email, 20, 30)];
        let found = [(PiiType::CnMobile, 0, 15), (PiiType::CnMobile, 40, 51)];
        r.add(&gold, &found);
        let m = r.per_type[&PiiType::CnMobile];
        assert_eq!((m.tp, m.fp, m.fn_), (1, 1, 0));
        assert_eq!(r.per_type[&PiiType::Email].fn_, 1);
        assert!((r.micro().precision() - 0.5).abs() < 1e-9);
        assert!((r.micro().recall() - 0.5).abs() < 1e-9);
        assert!(r.table().contains("| cn_mobile | 1 | 2 | 1 | 1 | 0 |"));
    }
}
