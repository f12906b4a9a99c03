//! Developer tool: times `Detector::scan` alone (no reading, no output) over
//! a file in 1 MiB pieces cut at newlines, and prints a digest of the
//! findings so that an optimisation can be checked to change nothing.
//!
//! `cargo run --release -p parcel-detect --example scan_file -- FILE [RUNS]`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a developer tool"
)]

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: scan_file FILE [RUNS]");
    let runs: usize = args.next().map_or(5, |r| r.parse().expect("RUNS"));
    let data = std::fs::read(&path).expect("read");
    let t = Instant::now();
    let det = parcel_detect::Detector::new().expect("detector");
    let build = t.elapsed();
    let ctx = det.document_context(&data[..data.len().min(64 * 1024)]);
    let opts = parcel_detect::Options::default();
    let mut pieces = Vec::new();
    let mut s = 0;
    while s < data.len() {
        let mut e = (s + (1 << 20)).min(data.len());
        if let Some(nl) = memchr::memchr(b'\n', &data[e..]) {
            e += nl + 1;
        } else {
            e = data.len();
        }
        pieces.push((s, e));
        s = e;
    }
    let mut times = Vec::new();
    let mut digest = 0u64;
    let mut count = 0usize;
    for _ in 0..runs {
        let t = Instant::now();
        let mut d = 0u64;
        let mut n = 0usize;
        for &(s, e) in &pieces {
            for f in det.scan(&data[s..e], &ctx, &opts) {
                let x = ((s + f.start) as u64) << 20
                    ^ ((f.end - f.start) as u64) << 8
                    ^ f.kind as u64
                    ^ u64::from(f.score.to_bits()) << 32;
                d = d.rotate_left(5) ^ x;
                n += 1;
            }
        }
        times.push(t.elapsed().as_secs_f64());
        digest = d;
        count = n;
    }
    times.sort_by(f64::total_cmp);
    let mb = data.len() as f64 / 1e6;
    println!(
        "{path}: {mb:.1} MB, build {:.1} ms, scan median {:.0} MB/s (best {:.0}), {count} findings, digest {digest:016x}",
        build.as_secs_f64() * 1e3,
        mb / times[times.len() / 2],
        mb / times[0],
    );
}
