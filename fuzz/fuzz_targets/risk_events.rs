//! Fuzzes the access-event parser and the detector behind it: every line
//! either parses or gives an error naming its line, and the detector takes
//! whatever parses (any times, any order) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parcel_risk::{Config, Detector, parse_line};

fuzz_target!(|data: &[u8]| {
    let mut detector = Detector::new(Config {
        alerts_per_day: 1.5,
        ..Config::default()
    });
    let mut alerts = Vec::new();
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        match parse_line(line, i as u64 + 1) {
            Ok(Some(ev)) => detector.observe(&ev, &mut alerts),
            Ok(None) => {}
            Err(e) => assert!(e.to_string().starts_with(&format!("line {}", i + 1))),
        }
    }
    detector.finish(&mut alerts);
    assert!(alerts.len() as u64 <= detector.stats().days.max(1) * 2 + 2);
});
