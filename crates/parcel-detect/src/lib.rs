//! parcelguard's PII detection core.
//!
//! [`Detector::scan`] takes a byte slice and returns [`Finding`]s: the type,
//! the UTF-8 byte span, a score in `0..=1`, the validator that confirmed it
//! and, on request, the reasons behind the score. It never sees a file, a
//! socket or a clock: the `parcel-scan` crate does the I/O, chunking and
//! output, the vault reuses [`validate`] and [`mask`].
//!
//! Detection runs in three passes over each slice:
//! 1. numbers: maximal digit runs (never `\b`: a run inside a longer run is
//!    not a phone), joined with separators into groups, validated per type
//!    (mobile segments, area codes, GB 11643, Luhn and BINs, carrier formats,
//!    UPU S10) and scored with the hot words before them;
//! 2. network: e-mail addresses around `@`, IPv6 around `:`, IPv4 in the
//!    number pass;
//! 3. Chinese text: only on lines with non-ASCII bytes, one Aho-Corasick pass
//!    over cue words and administrative-division names finds names (surname
//!    table plus cues) and addresses (division dictionary plus address
//!    grammar).
//!
//! Structure is context too: CSV/TSV headers ([`DocContext`]), JSON keys and
//! SQL `INSERT` column lists.
#![deny(missing_docs)]

mod cjk;
mod context;
pub mod eval;
mod facts;
pub mod mask;
mod net;
mod numbers;
pub mod tables;
pub mod validate;
mod words;

use std::fmt;
use std::str::FromStr;

pub use context::DocContext;
pub use facts::TextFacts;

/// The kinds of personal data the detector reports. Their names
/// ([`PiiType::as_str`]) are part of the output contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiType {
    /// Mainland mobile number.
    CnMobile,
    /// Mainland landline with area code.
    CnLandline,
    /// Resident identity card number (GB 11643).
    CnResidentId,
    /// Payment card number.
    BankCard,
    /// E-mail address.
    Email,
    /// Chinese personal name.
    CnName,
    /// Chinese postal address.
    CnAddress,
    /// Parcel waybill (tracking) number.
    WaybillNo,
    /// Vehicle licence plate.
    CnPlate,
    /// Chinese passport number.
    CnPassport,
    /// IPv4 address.
    Ipv4,
    /// IPv6 address.
    Ipv6,
}

impl PiiType {
    /// Every type, in output order.
    pub const ALL: [PiiType; 12] = [
        Self::CnMobile,
        Self::CnLandline,
        Self::CnResidentId,
        Self::BankCard,
        Self::Email,
        Self::CnName,
        Self::CnAddress,
        Self::WaybillNo,
        Self::CnPlate,
        Self::CnPassport,
        Self::Ipv4,
        Self::Ipv6,
    ];

    /// The type's name in output (`cn_mobile`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CnMobile => "cn_mobile",
            Self::CnLandline => "cn_landline",
            Self::CnResidentId => "cn_resident_id",
            Self::BankCard => "bank_card",
            Self::Email => "email",
            Self::CnName => "cn_name",
            Self::CnAddress => "cn_address",
            Self::WaybillNo => "waybill_no",
            Self::CnPlate => "cn_plate",
            Self::CnPassport => "cn_passport",
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
        }
    }
}

impl fmt::Display for PiiType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown PII type `{0}`; known types: cn_mobile, cn_landline, cn_resident_id, bank_card, email, cn_name, cn_address, waybill_no, cn_plate, cn_passport, ipv4, ipv6"
)]
pub struct UnknownType(pub String);

impl FromStr for PiiType {
    type Err = UnknownType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownType(s.to_owned()))
    }
}

/// One piece of personal data found in a slice.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What it is.
    pub kind: PiiType,
    /// Byte offset of its first byte in the scanned slice.
    pub start: usize,
    /// Byte offset one past its last byte.
    pub end: usize,
    /// Confidence in `0..=1`.
    pub score: f32,
    /// What confirmed it (`gb11643_mod11_2`, `luhn+unionpay_bin`, ...).
    pub validator: &'static str,
    /// Why it scored as it did; filled only with [`Options::explain`].
    pub reasons: Vec<String>,
}

/// Per-scan options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Record the reasons behind each score.
    pub explain: bool,
    /// Drop findings scoring below this.
    pub min_score: f32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            explain: false,
            min_score: 0.5,
        }
    }
}

/// The result of [`Detector::scan_text`].
#[derive(Debug, Clone)]
pub struct Scanned {
    /// The findings, sorted by start, without overlaps.
    pub findings: Vec<Finding>,
    /// What the scan learnt about the text.
    pub text: TextFacts,
}

/// A reusable, thread-safe detector. Build one and share it.
#[derive(Debug)]
pub struct Detector {
    ctx: context::HotWords,
    cjk: cjk::CjkMatcher,
}

/// Errors from building a [`Detector`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An automaton could not be built.
    #[error("building the {what} automaton failed: {reason}")]
    Automaton {
        /// Which one.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// Accumulates findings and their explanations during one scan.
pub(crate) struct Sink<'o> {
    pub(crate) out: Vec<Finding>,
    pub(crate) opts: &'o Options,
}

impl Sink<'_> {
    /// Adds a finding if it clears the minimum score. `reasons` is evaluated
    /// only when explanations were requested.
    pub(crate) fn push(
        &mut self,
        kind: PiiType,
        start: usize,
        end: usize,
        score: f32,
        validator: &'static str,
        reasons: impl FnOnce() -> Vec<String>,
    ) {
        let score = score.clamp(0.0, 1.0);
        if score < self.opts.min_score {
            return;
        }
        let reasons = if self.opts.explain {
            reasons()
        } else {
            Vec::new()
        };
        self.out.push(Finding {
            kind,
            start,
            end,
            score,
            validator,
            reasons,
        });
    }
}

impl Detector {
    /// Builds the detector (parses the tables, compiles the automata).
    pub fn new() -> Result<Self, BuildError> {
        Ok(Self {
            ctx: context::HotWords::new()?,
            cjk: cjk::CjkMatcher::new()?,
        })
    }

    /// Reads the structure of a document from its first bytes (a CSV or TSV
    /// header row). Pass the result to every [`scan`](Self::scan) of that
    /// document's chunks.
    pub fn document_context(&self, head: &[u8]) -> DocContext {
        DocContext::from_head(head, &self.ctx)
    }

    /// Finds personal data in `hay`. Offsets are relative to `hay`. Findings
    /// come back sorted by start, without overlaps.
    pub fn scan(&self, hay: &[u8], doc: &DocContext, opts: &Options) -> Vec<Finding> {
        self.scan_text(hay, doc, opts).findings
    }

    /// [`scan`](Self::scan), with what the scan learnt about the text on
    /// the way ([`TextFacts`]: line counts and UTF-8 validity), for callers
    /// that would otherwise make more passes over it.
    pub fn scan_text(&self, hay: &[u8], doc: &DocContext, opts: &Options) -> Scanned {
        let mut sink = Sink {
            out: Vec::new(),
            opts,
        };
        let env = context::Env {
            hay,
            doc,
            hot: &self.ctx,
        };
        let mut found = numbers::Found::default();
        numbers::scan(&env, &mut sink, &mut found);
        net::scan_emails(&env, &mut sink, &found.ats);
        net::scan_ipv6(&env, &mut sink, &found.colons);
        if !found.non_ascii.is_empty() {
            self.cjk.scan(&env, &mut sink, &found);
        }
        Scanned {
            findings: resolve_overlaps(sink.out),
            text: TextFacts::new(&mut found),
        }
    }
}

/// Sorts findings and removes overlaps, keeping the wider span (then the
/// higher score): an e-mail address beats the phone number inside it.
fn resolve_overlaps(mut found: Vec<Finding>) -> Vec<Finding> {
    found.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
    });
    let mut out: Vec<Finding> = Vec::with_capacity(found.len());
    for f in found {
        match out.last_mut() {
            Some(last) if f.start < last.end => {
                let last_len = last.end - last.start;
                let f_len = f.end - f.start;
                if f_len > last_len || (f_len == last_len && f.score > last.score) {
                    *last = f;
                }
            }
            _ => out.push(f),
        }
    }
    out
}

#[cfg(test)]
mod tests;
