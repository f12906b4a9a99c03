//! `cargo xtask bench-log`: the transparency log's speed targets in one run.
//!
//! - durable appends per second with many concurrent writers (group
//!   commit), on SQLite and PostgreSQL, against the same log committing
//!   each append on its own (`max_batch = 1`: one fsync per entry, what a
//!   log without group commit does);
//! - append latency (an entry is integrated into the tree when its append
//!   returns) and the time from append to a signed checkpoint covering it;
//! - full verification of a log of `--verify-entries` entries with
//!   `parcelguard log verify --dir` (the release binary).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use parcel_tlog::log::LogStorage;
use parcel_tlog::note::{KeyKind, NoteKey};
use parcel_tlog::tree::{NoTiles, TILE_WIDTH, TilePath, TreeBuilder, encode_bundle};
use parcel_tlog::{Event, Log, LogOptions};

use crate::bench::median;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Appends per run.
    #[arg(long, default_value_t = 200_000)]
    appends: u64,
    /// Concurrent writer threads.
    #[arg(long, default_value_t = 256)]
    writers: u64,
    /// Runs per measurement; medians are reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Appends of the one-fsync-per-entry baseline.
    #[arg(long, default_value_t = 3_000)]
    baseline_appends: u64,
    /// PostgreSQL server URL (a schema is created and dropped).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg: String,
    /// Skip PostgreSQL.
    #[arg(long)]
    skip_pg: bool,
    /// Entries of the log that is verified in full (0 skips it).
    #[arg(long, default_value_t = 10_000_000)]
    verify_entries: u64,
}

fn key() -> NoteKey {
    #[expect(clippy::expect_used, reason = "a fixed, valid name")]
    NoteKey::from_seed("bench.parcelguard.local/log", KeyKind::Log, &[7; 32]).expect("key")
}

/// A reveal-sized event (about 300 bytes encoded).
fn event(i: u64) -> Event {
    let mut e = Event::new(
        1_795_000_000_000 + i as i64,
        "sf-express",
        &format!("E{:06}", i % 5000),
        "reveal",
    );
    e.role = Some("courier".to_owned());
    e.waybill = Some(format!("SF{:013}", i));
    e.party = Some("recipient".to_owned());
    e.field = Some("phone".to_owned());
    e.purpose = Some("delivery_contact".to_owned());
    e.decision = Some("allow".to_owned());
    e.policies = vec!["courier-recipient-contact".to_owned()];
    e.policy_version = Some("1".to_owned());
    e.device = Some(format!("PDA-{:05}", i % 9000));
    e.detail_sha256 = Some(format!(
        "{:064x}",
        u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    ));
    e
}

/// Opens a fresh log storage for one run.
type Opener<'a> = &'a mut dyn FnMut() -> Result<Arc<dyn LogStorage>>;

struct Load {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    to_checkpoint_p99_ms: f64,
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Appends `total` events from `writers` threads; measures rate, append
/// latency and append-to-checkpoint latency (sampled by a probe thread).
fn load(storage: Arc<dyn LogStorage>, total: u64, writers: u64, max_batch: usize) -> Result<Load> {
    let log = Arc::new(Log::open(
        storage,
        key(),
        LogOptions {
            max_batch,
            ..LogOptions::default()
        },
    )?);
    let done = Arc::new(AtomicBool::new(false));
    let probe = {
        let (log, done) = (log.clone(), done.clone());
        std::thread::spawn(move || -> Vec<f64> {
            let mut out = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let t = Instant::now();
                let Ok(idx) = log.append(&event(u64::MAX / 2)) else {
                    break;
                };
                loop {
                    let covered = log
                        .checkpoint()
                        .ok()
                        .and_then(|cp| parcel_tlog::note::note_text(&cp).ok())
                        .and_then(|t| parcel_tlog::note::parse_checkpoint_text(&t).ok())
                        .is_some_and(|(_, size, _)| size > idx);
                    if covered || done.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                out.push(t.elapsed().as_secs_f64() * 1000.0);
                std::thread::sleep(Duration::from_millis(100));
            }
            out
        })
    };
    let started = Instant::now();
    let per = total / writers;
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let log = log.clone();
            std::thread::spawn(move || -> Result<Vec<f64>> {
                let mut lat = Vec::with_capacity(per as usize);
                for i in 0..per {
                    let e = event(w * per + i);
                    let t = Instant::now();
                    log.append(&e)?;
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                Ok(lat)
            })
        })
        .collect();
    let mut lat = Vec::with_capacity(total as usize);
    for h in handles {
        lat.extend(h.join().map_err(|_| anyhow::anyhow!("writer panicked"))??);
    }
    let secs = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let mut cp = probe
        .join()
        .map_err(|_| anyhow::anyhow!("probe panicked"))?;
    if let Ok(log) = Arc::try_unwrap(log) {
        log.close();
    }
    Ok(Load {
        rate: (per * writers) as f64 / secs,
        p50_ms: percentile(&mut lat, 0.50),
        p99_ms: percentile(&mut lat, 0.99),
        to_checkpoint_p99_ms: percentile(&mut cp, 0.99),
    })
}

fn runs(args: &Args, open: Opener<'_>, total: u64, writers: u64, max_batch: usize) -> Result<Load> {
    let mut all = Vec::new();
    for _ in 0..args.runs {
        all.push(load(open()?, total, writers, max_batch)?);
    }
    Ok(Load {
        rate: median(all.iter().map(|l| l.rate).collect()),
        p50_ms: median(all.iter().map(|l| l.p50_ms).collect()),
        p99_ms: median(all.iter().map(|l| l.p99_ms).collect()),
        to_checkpoint_p99_ms: median(all.iter().map(|l| l.to_checkpoint_p99_ms).collect()),
    })
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let root = crate::workspace_root();
    // Measure optimised code.
    if crate::bench::rerun_in_release(&root, "bench-log")? {
        return Ok(());
    }
    let dir = root.join("target/bench-log");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut n = 0u32;
    let mut sqlite = || -> Result<Arc<dyn LogStorage>> {
        n += 1;
        Ok(Arc::new(parcel_store::SqliteLog::open(
            &dir.join(format!("log-{n}.db")),
        )?))
    };
    let schema = format!("bench_log_{}", std::process::id());
    let drop_schema = || -> Result<()> {
        let mut c = postgres::Client::connect(&args.pg, postgres::NoTls)
            .with_context(|| format!("connecting to {}", args.pg))?;
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
        Ok(())
    };
    let mut pg = || -> Result<Arc<dyn LogStorage>> {
        drop_schema()?;
        Ok(Arc::new(parcel_store::PgLog::open(
            &args.pg,
            Some(&schema),
        )?))
    };
    let mut backends: Vec<(&str, Opener<'_>)> = vec![("SQLite", &mut sqlite)];
    if !args.skip_pg {
        backends.push(("PostgreSQL", &mut pg));
    }
    for (name, open) in backends {
        eprintln!(
            "{name}: {} appends from {} writers, {} runs; then one commit per append ({} appends)...",
            args.appends, args.writers, args.runs, args.baseline_appends
        );
        let group = runs(args, &mut *open, args.appends, args.writers, 8192)?;
        let single = runs(
            args,
            &mut *open,
            args.baseline_appends,
            args.writers.min(32),
            1,
        )?;
        rows.push([
            format!("durable appends/s, {name}, {} writers", args.writers),
            format!(
                "{:.0}/s (p50 {:.1} ms, p99 {:.1} ms)",
                group.rate, group.p50_ms, group.p99_ms
            ),
            format!("{:.0}/s one commit per append", single.rate),
            format!("{:.0}×", group.rate / single.rate),
        ]);
        rows.push([
            format!("append → signed checkpoint p99, {name}"),
            format!("{:.0} ms", group.to_checkpoint_p99_ms),
            "publish interval 1 s".to_owned(),
            String::new(),
        ]);
    }
    if !args.skip_pg {
        drop_schema()?;
    }

    if args.verify_entries > 0 {
        let out = dir.join("published");
        eprintln!(
            "writing a published log of {} entries...",
            args.verify_entries
        );
        let bytes = publish(&out, args.verify_entries)?;
        let bin = crate::bench::release_binary(&root)?;
        let mut times = Vec::new();
        for _ in 0..args.runs {
            let t = Instant::now();
            let o = Command::new(&bin)
                .args([
                    "--data-dir",
                    "/nonexistent",
                    "log",
                    "verify",
                    "--vkey",
                    &key().vkey(),
                    "--dir",
                ])
                .arg(&out)
                .output()?;
            if !o.status.success() {
                bail!("verify failed: {}", String::from_utf8_lossy(&o.stdout));
            }
            times.push(t.elapsed().as_secs_f64());
        }
        rows.push([
            format!(
                "full verification, {} entries ({:.1} GB)",
                args.verify_entries,
                bytes as f64 / 1e9
            ),
            format!("{:.1} s", median(times.clone())),
            "target < 20 s".to_owned(),
            format!(
                "{:.0} entries/s",
                args.verify_entries as f64 / median(times)
            ),
        ]);
        let _ = std::fs::remove_dir_all(&out);
    }

    println!("| measure | parcelguard | peer / target | ratio |");
    println!("|---|---:|---:|---:|");
    for r in rows {
        println!("| {} | {} | {} | {} |", r[0], r[1], r[2], r[3]);
    }
    Ok(())
}

/// Writes a signed log of `n` entries as static files (what `log export`
/// produces); returns the bytes written.
fn publish(dir: &Path, n: u64) -> Result<u64> {
    let _ = std::fs::remove_dir_all(dir);
    let mut builder = TreeBuilder::new(0);
    let mut bytes = 0u64;
    let write = |path: TilePath, data: &[u8], bytes: &mut u64| -> Result<()> {
        let file = dir.join(path.format());
        if let Some(p) = file.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::write(&file, data)?;
        *bytes += data.len() as u64;
        Ok(())
    };
    let bundles = n.div_ceil(TILE_WIDTH);
    let mut partial = std::collections::BTreeMap::new();
    for b in 0..bundles {
        let count = (n - b * TILE_WIDTH).min(TILE_WIDTH);
        let entries: Vec<Vec<u8>> = (0..count)
            .map(|i| event(b * TILE_WIDTH + i).encode())
            .collect::<Result<_, _>>()?;
        for e in &entries {
            builder.append(parcel_tlog::tree::leaf_hash(e), &NoTiles)?;
        }
        write(
            TilePath::bundle(b, count),
            &encode_bundle(&entries)?,
            &mut bytes,
        )?;
        for (level, index, data) in builder.take_dirty() {
            // Full tiles now; partial ones once, at their final width.
            if (data.len() as u64) < TILE_WIDTH * 32 {
                partial.insert((level, index), data);
            } else {
                partial.remove(&(level, index));
                write(
                    TilePath::hashes(level, index, TILE_WIDTH),
                    &data,
                    &mut bytes,
                )?;
            }
        }
    }
    for ((level, index), data) in partial {
        let count = data.len() as u64 / 32;
        write(TilePath::hashes(level, index, count), &data, &mut bytes)?;
    }
    let signed = key().sign_checkpoint(n, &builder.root(&NoTiles)?)?;
    std::fs::write(dir.join("checkpoint"), signed)?;
    Ok(bytes)
}
