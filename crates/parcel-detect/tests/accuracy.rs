//! The accuracy gate: per-type precision/recall/F1 on a seeded synthetic
//! corpus of parcel-industry documents (`parcel-synth`), with hard
//! negatives. Fails CI when micro-F1 < 0.97 or any type's F1 < 0.93.
#![allow(clippy::unwrap_used, reason = "test")]

use parcel_detect::eval::Report;
use parcel_detect::{Detector, Options, PiiType};

fn evaluate(seed: u64, docs: usize) -> Report {
    let detector = Detector::new().unwrap();
    let mut report = Report::default();
    for doc in parcel_synth::generate(seed, docs) {
        let ctx = detector.document_context(doc.text.as_bytes());
        let found: Vec<_> = detector
            .scan(doc.text.as_bytes(), &ctx, &Options::default())
            .into_iter()
            .map(|f| (f.kind, f.start, f.end))
            .collect();
        let gold: Vec<(PiiType, usize, usize)> = doc
            .labels
            .iter()
            .map(|l| (l.kind.parse().unwrap(), l.start, l.end))
            .collect();
        report.add(&gold, &found);
    }
    report
}

#[test]
fn accuracy_gate() {
    for seed in [1, 2] {
        let report = evaluate(seed, 270);
        println!("seed {seed}:\n{}", report.table());
        let micro = report.micro();
        assert!(
            micro.f1() >= 0.97,
            "micro-F1 {:.3} < 0.97\n{}",
            micro.f1(),
            report.table()
        );
        for t in PiiType::ALL {
            let c = report.per_type.get(&t).copied().unwrap_or_default();
            assert!(
                c.tp + c.fn_ >= 20,
                "{t}: too few labels ({}) to judge",
                c.tp + c.fn_
            );
            assert!(
                c.f1() >= 0.93,
                "{t}: F1 {:.3} < 0.93\n{}",
                c.f1(),
                report.table()
            );
        }
    }
}
