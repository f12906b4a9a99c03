//! Fuzzes the format readers and streaming redaction: arbitrary bytes (gzip
//! or not) through `open`-style decoding, the chunker and the redactor.
#![no_main]

use std::io::Read;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use parcel_detect::mask::{Operator, Redactor};
use parcel_detect::{Detector, Options};
use parcel_scan::chunk::Chunker;
use parcel_scan::redact::{Operators, Redaction};

static DETECTOR: OnceLock<Option<Detector>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some(d) = DETECTOR.get_or_init(|| Detector::new().ok()).as_ref() else {
        return;
    };
    // Chunking at a tiny size must still cover every byte exactly once.
    let mut chunker = Chunker::new(data, 64);
    let mut covered = 0u64;
    while let Ok(Some(c)) = chunker.next_chunk() {
        assert_eq!(c.base, covered);
        covered += c.keep_before as u64;
    }
    assert_eq!(covered, data.len() as u64);

    let input: Box<dyn Read> = if data.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2_reader(data))
    } else {
        Box::new(data)
    };
    let ops = Operators {
        default: Operator::Hash,
        per_type: Default::default(),
    };
    let r = Redactor::with_keys(&[1; 32], &[2; 32]);
    let mut out = Vec::new();
    let redaction = Redaction {
        detector: d,
        redactor: &r,
        ops: &ops,
        opts: &Options::default(),
        types: None,
    };
    let _ = redaction.run(input, &mut out, "fuzz");
});

fn flate2_reader(data: &[u8]) -> impl Read + '_ {
    parcel_scan::input::gzip_reader(data)
}
