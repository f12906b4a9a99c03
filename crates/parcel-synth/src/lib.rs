//! A seeded generator of labelled parcel-industry documents.
//!
//! Each [`Doc`] is a whole "file" (chat transcript, SMS batch, order CSV with
//! Chinese or English headers, JSON API log, nginx log, SQL dump, support
//! ticket, English text) with the byte spans of every piece of personal data
//! in it, and plenty of hard negatives: IDs failing their checksum, Luhn
//! failures, order numbers, timestamps, phone-like runs inside longer
//! numbers, place names in news sentences, bare surnames with 先生/女士.
//!
//! It is the accuracy gate's ground truth and the benchmarks' corpus. It is
//! deterministic: the same seed gives the same documents everywhere.
//! [`workforce`] simulates employees' access events with injected insiders
//! for the insider-risk detector.
#![deny(missing_docs)]

mod docs;
mod values;
pub mod workforce;

use rand::{Rng as _, SeedableRng as _};

pub(crate) type Rng64 = rand_chacha::ChaCha8Rng;

/// The reported types, as named in the scanner's output.
pub const TYPES: [&str; 12] = [
    "cn_mobile",
    "cn_landline",
    "cn_resident_id",
    "bank_card",
    "email",
    "cn_name",
    "cn_address",
    "waybill_no",
    "cn_plate",
    "cn_passport",
    "ipv4",
    "ipv6",
];

/// A labelled span: UTF-8 byte offsets into [`Doc::text`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Label {
    /// One of [`TYPES`].
    pub kind: &'static str,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// The kind of document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocKind {
    /// Customer-service chat.
    Chat,
    /// Delivery SMS notices.
    Sms,
    /// Order export with Chinese headers.
    CsvZh,
    /// Order export with English headers.
    CsvEn,
    /// JSON API log, one object per line.
    JsonLog,
    /// nginx access log.
    Nginx,
    /// SQL dump with INSERT statements.
    SqlDump,
    /// Support ticket.
    Ticket,
    /// English text.
    English,
}

/// One generated document.
#[derive(Debug, Clone)]
pub struct Doc {
    /// Its kind.
    pub kind: DocKind,
    /// A file name (`chat-0007.txt`, `orders-0003.csv`, ...).
    pub name: String,
    /// The text.
    pub text: String,
    /// Labels, sorted by start, non-overlapping.
    pub labels: Vec<Label>,
}

/// Builds a document's text and labels together.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    pub(crate) text: String,
    pub(crate) labels: Vec<Label>,
}

impl Builder {
    pub(crate) fn s(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    pub(crate) fn pii(&mut self, kind: &'static str, value: &str) -> &mut Self {
        let start = self.text.len();
        self.text.push_str(value);
        self.labels.push(Label {
            kind,
            start,
            end: self.text.len(),
        });
        self
    }
}

/// Generates `n_docs` documents from `seed`.
pub fn generate(seed: u64, n_docs: usize) -> Vec<Doc> {
    let mut rng = Rng64::seed_from_u64(seed);
    let div = values::Divisions::load();
    (0..n_docs)
        .map(|i| docs::document(&mut rng, &div, i))
        .collect()
}

/// Appends generated text to `out` until it holds at least `target_bytes`.
/// `pii_line_fraction` of the lines carry personal data (0.01 for sparse
/// application logs, 1.0 for dense order data). Returns the labels written.
pub fn generate_corpus(
    seed: u64,
    target_bytes: usize,
    pii_line_fraction: f64,
    out: &mut Vec<u8>,
) -> usize {
    let mut rng = Rng64::seed_from_u64(seed);
    let div = values::Divisions::load();
    let mut labels = 0;
    let mut n = 0u64;
    while out.len() < target_bytes {
        let (line, count) = docs::corpus_line(&mut rng, &div, pii_line_fraction, n);
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        labels += count;
        n += 1;
    }
    labels
}

#[cfg(test)]
mod tests;

/// The CSV header written by [`shipments_csv`]: the columns
/// `parcelguard import` requires, plus station and courier.
pub const SHIPMENTS_CSV_HEADER: &str = "waybill_no,carrier,sender_name,sender_phone,sender_address,sender_id_number,recipient_name,recipient_phone,recipient_address,station,courier";

/// Writes `n` synthetic, valid shipments as CSV (with header) for import
/// tests and benchmarks. Waybill numbers are `PG` and 13 digits, unique
/// within one seed.
pub fn shipments_csv(seed: u64, n: usize, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut rng = Rng64::seed_from_u64(seed);
    let div = values::Divisions::load();
    writeln!(out, "{SHIPMENTS_CSV_HEADER}")?;
    for i in 0..n {
        let carrier = values::carrier(&mut rng);
        let station = rng.gen_range(1..=20);
        let courier = rng.gen_range(1000..1100);
        writeln!(
            out,
            "PG{:013},{carrier},{},{},{},{},{},{},{},ST{station:02},E{courier}",
            seed.wrapping_mul(1_000_000_000).wrapping_add(i as u64) % 10_000_000_000_000,
            values::name(&mut rng),
            values::mobile_digits(&mut rng),
            values::address(&mut rng, &div).replace(',', " "),
            values::resident_id(&mut rng, &div),
            values::name(&mut rng),
            values::mobile_digits(&mut rng),
            values::address(&mut rng, &div).replace(',', " "),
        )?;
    }
    Ok(())
}
