//! Runs the xtask binary itself. Besides checking its commands, this makes
//! `cargo test --workspace` build `target/debug/xtask` with the workspace's
//! unified features, so CI runs that binary instead of a `cargo xtask` that
//! would rebuild shared dependencies under xtask's own feature set.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::process::Command;

fn xtask(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn shipments_are_seeded_csv_for_import() {
    let a = xtask(&["shipments", "--count", "25", "--seed", "7"]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let b = xtask(&["shipments", "--count", "25", "--seed", "7"]);
    assert_eq!(a.stdout, b.stdout, "same seed, same rows");
    let c = xtask(&["shipments", "--count", "25", "--seed", "8"]);
    assert_ne!(a.stdout, c.stdout, "another seed, other rows");

    let mut rows = csv::Reader::from_reader(a.stdout.as_slice());
    let headers = rows.headers().unwrap().clone();
    assert!(headers.iter().any(|h| h == "waybill_no"), "{headers:?}");
    let records: Vec<_> = rows.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(records.len(), 25);
    assert!(records.iter().all(|r| r.len() == headers.len()));
}

#[test]
fn every_task_is_listed() {
    let out = xtask(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for task in [
        "bench-scan",
        "bench-numbers",
        "browser-test",
        "api-fuzz",
        "accuracy",
    ] {
        assert!(help.contains(task), "{task} missing from --help");
    }
}
