//! Fuzzes the detector with arbitrary bytes: the first bytes double as a
//! CSV header. Checks that spans are ordered, in bounds and non-overlapping.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use parcel_detect::{Detector, Options};

static DETECTOR: OnceLock<Option<Detector>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some(d) = DETECTOR.get_or_init(|| Detector::new().ok()).as_ref() else {
        return;
    };
    let ctx = d.document_context(data);
    let found = d.scan(
        data,
        &ctx,
        &Options {
            explain: true,
            min_score: 0.0,
        },
    );
    let mut last = 0;
    for f in found {
        assert!(f.start >= last && f.start < f.end && f.end <= data.len());
        last = f.end;
    }
});
