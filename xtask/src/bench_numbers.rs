//! `cargo xtask bench-numbers`: the privacy-number broker's speed targets.
//!
//! - bind and unbind operations per second through `Broker` (each one a
//!   transaction on the store and a durable transparency-log entry), 256
//!   at a time, on SQLite (async tasks on 2 workers, as the server runs
//!   them) and PostgreSQL (blocking threads); against the published quota
//!   of Alibaba Cloud's number-protection service (5,000 binds/s), since
//!   that service cannot be run here;
//! - route look-ups per second on 2 threads: the full `Broker::route`
//!   (normalise the caller, keyed hash, index look-up, decrypt the number
//!   to connect) and the bare `Router::route`, with p50/p99 latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use parcel_keys::KeyProvider;
use parcel_tlog::note::{KeyKind, NoteKey};
use parcel_tlog::{Log, LogOptions};
use parcel_vault::mask::MaskProfile;
use parcel_vault::model::{AddressInput, NewShipment, PartyInput};
use parcel_vault::numbers::{Broker, NumberOptions};
use parcel_vault::store::Store;
use parcel_vault::{Vault, VaultOptions};

use crate::bench::median;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Shipments bound and unbound per run.
    #[arg(long, default_value_t = 20_000)]
    shipments: usize,
    /// Concurrent binds and unbinds (the API's concurrent requests): tasks
    /// on a 2-worker runtime on SQLite, blocking threads on PostgreSQL, as
    /// the server runs them.
    #[arg(long, default_value_t = 256)]
    threads: usize,
    /// Pool numbers (one city).
    #[arg(long, default_value_t = 2_000)]
    pool: usize,
    /// Couriers sharing the shipments.
    #[arg(long, default_value_t = 400)]
    couriers: usize,
    /// Runs per measurement; medians are reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Seconds of route look-ups per run.
    #[arg(long, default_value_t = 3)]
    route_secs: u64,
    /// PostgreSQL server URL (a schema is created and dropped).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg: String,
    /// Skip PostgreSQL.
    #[arg(long)]
    skip_pg: bool,
    /// Shipments bound and unbound, untimed, by the same threads or tasks
    /// before each run's timed phases (0 for a cold start).
    #[arg(long, default_value_t = 2_000)]
    warmup: usize,
}

const T: &str = "bench";
/// 2026-11-10T00:00:00Z.
const NOW: i64 = 1_794_268_800;

fn recipient(i: usize) -> String {
    format!("139{:08}", 10_000_000 + i)
}

fn courier_phone(i: usize) -> String {
    format!("137{:08}", 10_000_000 + i)
}

struct Bed {
    vault: Arc<Vault>,
    broker: Arc<Broker>,
    _dir: tempfile::TempDir,
    _schema: Option<DropSchema>,
}

struct DropSchema(String, String);

impl Drop for DropSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.0, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.1));
        }
    }
}

fn bed(args: &Args, pg: bool) -> Result<Bed> {
    let dir = tempfile::tempdir()?;
    parcel_keys::init_local(dir.path())?;
    let keys: Arc<dyn KeyProvider> = Arc::new(parcel_keys::LocalKeyFile::open(dir.path())?);
    let log_key = NoteKey::from_seed("bench.parcelguard.local/log", KeyKind::Log, &[9; 32])?;
    let (store, log_storage, schema): (Arc<dyn Store>, Arc<dyn parcel_tlog::log::LogStorage>, _) =
        if pg {
            let schema = format!("bench_numbers_{}", rand::random::<u32>());
            (
                Arc::new(parcel_store::PgStore::open(&args.pg, Some(&schema))?),
                Arc::new(parcel_store::PgLog::open(&args.pg, Some(&schema))?),
                Some(DropSchema(args.pg.clone(), schema)),
            )
        } else {
            (
                Arc::new(parcel_store::SqliteStore::open(
                    &dir.path().join("vault.db"),
                )?),
                Arc::new(parcel_store::SqliteLog::open(&dir.path().join("log.db"))?),
                None,
            )
        };
    let log = Arc::new(Log::open(log_storage, log_key, LogOptions::default())?);
    let vault = Arc::new(
        Vault::new(
            store.clone(),
            keys,
            VaultOptions {
                mask: MaskProfile::default(),
                retention_secs: 180 * 86_400,
            },
        )?
        .with_log(log),
    );
    let broker = Broker::start(vault.clone(), NumberOptions::default())?;
    let pool: Vec<String> = (0..args.pool)
        .map(|i| format!("171{:08}", 10_000_000 + i))
        .collect();
    broker.load_pool(T, "北京市", &pool, "bench", NOW)?;
    for c in 0..args.couriers {
        broker.set_contact_phone(T, &format!("E{c:04}"), &courier_phone(c), "bench", NOW)?;
    }
    let inputs: Vec<NewShipment> = (0..args.shipments + args.warmup)
        .map(|i| NewShipment {
            waybill_no: format!("SF{i:013}"),
            carrier: "SF".to_owned(),
            sender: PartyInput {
                name: "张三丰".to_owned(),
                phone: "13812345678".to_owned(),
                address: AddressInput::Text("广东省深圳市南山区科技园路1号".to_owned()),
                id_number: Some("11010519491231002X".to_owned()),
            },
            recipient: PartyInput {
                name: "欧阳娜娜".to_owned(),
                phone: recipient(i),
                address: AddressInput::Text("北京市朝阳区建国路88号2单元301室".to_owned()),
                id_number: None,
            },
            origin_station: Some("SZ01".to_owned()),
            destination_station: Some("BJ07".to_owned()),
            courier: Some(format!("E{:04}", i % args.couriers)),
            delivery_window: None,
        })
        .collect();
    for chunk in inputs.chunks(2_000) {
        vault.create_batch(T, chunk, true, NOW)?;
    }
    // Set-up shortcut: every shipment straight to out for delivery in one
    // statement (the lifecycle's own updates are not what is measured).
    let sql = "UPDATE shipments SET status = 'out_for_delivery'";
    match &schema {
        Some(DropSchema(url, s)) => {
            let mut c = postgres::Client::connect(url, postgres::NoTls)?;
            c.batch_execute(&format!("SET search_path = {s}; {sql}"))?;
        }
        None => {
            let c = rusqlite::Connection::open(dir.path().join("vault.db"))?;
            c.execute_batch(sql)?;
        }
    }
    Ok(Bed {
        vault,
        broker,
        _dir: dir,
        _schema: schema,
    })
}

/// One phase of a run: `op(i)` for every `i < n`.
type Phase<'a> = (usize, &'a (dyn Fn(usize) -> Result<()> + Sync));

/// Runs the phases one after another on one pool of `threads` threads (as
/// a server's request threads live across requests), calling `between(k)`
/// after phase `k` while the pool waits; returns each phase's ops/s.
fn phases(
    threads: usize,
    list: &[Phase<'_>],
    between: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<Vec<f64>> {
    let counters: Vec<AtomicUsize> = list.iter().map(|_| AtomicUsize::new(0)).collect();
    let barrier = std::sync::Barrier::new(threads + 1);
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| -> Result<Vec<f64>> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    let mut result = Ok(());
                    for (&(n, op), next) in list.iter().zip(&counters) {
                        barrier.wait();
                        while result.is_ok() && !failed.load(Ordering::Relaxed) {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= n {
                                break;
                            }
                            result = op(i);
                            if result.is_err() {
                                failed.store(true, Ordering::Relaxed);
                            }
                        }
                        barrier.wait();
                    }
                    result
                })
            })
            .collect();
        let mut rates = Vec::with_capacity(list.len());
        let mut outcome = Ok(());
        for (k, &(n, _)) in list.iter().enumerate() {
            barrier.wait();
            let t0 = Instant::now();
            barrier.wait();
            rates.push(n as f64 / t0.elapsed().as_secs_f64());
            if outcome.is_ok() && !failed.load(Ordering::Relaxed) {
                outcome = between(k);
                if outcome.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
            }
        }
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a bench thread panicked"))??;
        }
        outcome.map(|()| rates)
    })
}

struct Routes {
    full_rate: f64,
    full_p50_us: f64,
    full_p99_us: f64,
    index_rate: f64,
}

/// Two threads route calls for `secs` seconds (recipients calling their
/// courier, couriers calling back).
fn routes(bed: &Bed, args: &Args) -> Result<Routes> {
    let live = bed.vault.store().live_bindings()?;
    anyhow::ensure!(!live.is_empty(), "nothing bound");
    let calls: Vec<(String, String, Option<u16>)> = live
        .iter()
        .map(|b| {
            let i: usize = b.waybill_no[2..].parse().unwrap_or(0);
            (
                recipient(i),
                b.number.clone(),
                (b.ext != 0).then_some(b.ext),
            )
        })
        .collect();
    let hashes: Vec<[u8; 16]> = live.iter().map(|b| b.b_hash).collect();
    let secs = Duration::from_secs(args.route_secs);
    let run = |full: bool| -> Result<(f64, Vec<f64>)> {
        let counts: Vec<(u64, Vec<f64>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|t| {
                    let (calls, live, hashes) = (&calls, &live, &hashes);
                    let bed = &bed;
                    s.spawn(move || {
                        let mut n = 0u64;
                        let mut lat = Vec::new();
                        let t0 = Instant::now();
                        let mut i = t * 7919;
                        while t0.elapsed() < secs {
                            for _ in 0..256 {
                                i = (i + 104_729) % calls.len();
                                let (caller, x, ext) = &calls[i];
                                let sample = n.is_multiple_of(64);
                                let ts = sample.then(Instant::now);
                                let ok = if full {
                                    bed.broker.route(T, caller, x, *ext, NOW).is_ok()
                                } else {
                                    let h = hashes.get(i).copied().unwrap_or_default();
                                    let b = &live[i];
                                    bed.broker
                                        .router()
                                        .route(T, &b.number, (b.ext != 0).then_some(b.ext), &h, NOW)
                                        .is_ok()
                                };
                                if let Some(ts) = ts {
                                    lat.push(ts.elapsed().as_secs_f64() * 1e6);
                                }
                                if ok {
                                    n += 1;
                                }
                            }
                        }
                        (n, lat)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or((0, Vec::new())))
                .collect()
        });
        let total: u64 = counts.iter().map(|c| c.0).sum();
        let lat: Vec<f64> = counts.into_iter().flat_map(|c| c.1).collect();
        Ok((total as f64 / secs.as_secs_f64(), lat))
    };
    let (full_rate, mut lat) = run(true)?;
    let (index_rate, _) = run(false)?;
    lat.sort_by(f64::total_cmp);
    let pick = |p: f64| match lat.len() {
        0 => f64::NAN,
        n => lat[((n - 1) as f64 * p).round() as usize],
    };
    Ok(Routes {
        full_rate,
        full_p50_us: pick(0.5),
        full_p99_us: pick(0.99),
        index_rate,
    })
}

fn waybill(i: usize) -> String {
    format!("SF{i:013}")
}

/// An embedded store, as the server drives it: binds and unbinds are
/// tasks on a runtime of 2 workers (the server's on 2 cores), `threads`
/// of them at a time, awaiting the log and the store's writer.
fn async_phases(bed: &Bed, args: &Args) -> Result<(f64, f64, Routes)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let n = args.shipments;
    let phase = |count: usize, first: usize, bind: bool| -> Result<f64> {
        let next = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let t0 = Instant::now();
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..args.threads {
                let (broker, next) = (bed.broker.clone(), next.clone());
                set.spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return anyhow::Ok(());
                        }
                        let w = waybill(first + i);
                        if bind {
                            broker.bind_async(T, &w, "bench", NOW).await?;
                        } else {
                            broker
                                .unbind_waybill_async(T, &w, "bench", "delivered", NOW + 60)
                                .await?;
                        }
                    }
                });
            }
            while let Some(r) = set.join_next().await {
                r??;
            }
            Ok(count as f64 / t0.elapsed().as_secs_f64())
        })
    };
    phase(args.warmup, n, true)?;
    phase(args.warmup, n, false)?;
    let bind = phase(n, 0, true)?;
    let routes = routes(bed, args)?;
    let unbind = phase(n, 0, false)?;
    Ok((bind, unbind, routes))
}

/// A network database, as the server drives it: each bind and unbind
/// holds one of `threads` blocking threads.
fn thread_phases(bed: &Bed, args: &Args) -> Result<(f64, f64, Routes)> {
    let n = args.shipments;
    let bind = |i: usize| -> Result<()> {
        bed.broker.bind(T, &waybill(i), "bench", NOW)?;
        Ok(())
    };
    let unbind = |i: usize| -> Result<()> {
        bed.broker
            .unbind_waybill(T, &waybill(i), "bench", "delivered", NOW + 60)?;
        Ok(())
    };
    let warm_bind = |i: usize| bind(n + i);
    let warm_unbind = |i: usize| unbind(n + i);
    let mut routed = None;
    let rates = phases(
        args.threads,
        &[
            (args.warmup, &warm_bind),
            (args.warmup, &warm_unbind),
            (n, &bind),
            (n, &unbind),
        ],
        &mut |k| {
            if k == 2 {
                routed = Some(routes(bed, args)?);
            }
            Ok(())
        },
    )?;
    Ok((rates[2], rates[3], routed.context("no route phase")?))
}

struct Row {
    bind: f64,
    unbind: f64,
    ops: f64,
    routes: Routes,
}

fn one_run(args: &Args, pg: bool) -> Result<Row> {
    let bed = bed(args, pg)?;
    let n = args.shipments;
    // Warm-up shipments come after the timed ones: the threads' first
    // allocations fault in fresh pages, which a server's long-lived
    // request threads have long done.
    let (bind, unbind, routes) = if bed.broker.reads_inline() {
        async_phases(&bed, args)?
    } else {
        thread_phases(&bed, args)?
    };
    let ops = 2.0 * n as f64 / (n as f64 / bind + n as f64 / unbind);
    if let Some(log) = bed.vault.log() {
        log.close();
    }
    Ok(Row {
        bind,
        unbind,
        ops,
        routes,
    })
}

pub(crate) fn run(args: &Args) -> Result<()> {
    if crate::bench::rerun_in_release(&crate::workspace_root(), "bench-numbers")? {
        return Ok(());
    }
    println!(
        "bench-numbers: {} shipments, {} couriers, {} pool numbers, {} binding threads, {} runs (medians)\n",
        args.shipments, args.couriers, args.pool, args.threads, args.runs
    );
    println!(
        "| backend | bind/s | unbind/s | bind+unbind ops/s | vs 5,000/s quota | Broker::route /s (2 threads) | p50 µs | p99 µs | Router::route /s (2 threads) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut backends = vec![false];
    if !args.skip_pg {
        backends.push(true);
    }
    for pg in backends {
        let mut rows = Vec::new();
        for _ in 0..args.runs {
            rows.push(one_run(args, pg).with_context(|| if pg { "postgres" } else { "sqlite" })?);
        }
        let m = |f: &dyn Fn(&Row) -> f64| median(rows.iter().map(f).collect());
        let ops = m(&|r| r.ops);
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.1}× | {:.0} | {:.1} | {:.1} | {:.0} |",
            if pg { "PostgreSQL" } else { "SQLite" },
            m(&|r| r.bind),
            m(&|r| r.unbind),
            ops,
            ops / 5_000.0,
            m(&|r| r.routes.full_rate),
            m(&|r| r.routes.full_p50_us),
            m(&|r| r.routes.full_p99_us),
            m(&|r| r.routes.index_rate),
        );
    }
    Ok(())
}
