//! `cargo xtask bench-numbers`: the privacy-number broker's speed targets.
//!
//! - bind and unbind operations per second through `Broker` (each one a
//!   transaction on the store and a durable transparency-log entry), from
//!   many threads, on SQLite and PostgreSQL; against the published quota
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
    /// Binding threads (the API's concurrent requests).
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
    let inputs: Vec<NewShipment> = (0..args.shipments)
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

/// Runs `op(i)` for every `i < n` from `threads` threads; returns ops/s.
fn spread(n: usize, threads: usize, op: &(dyn Fn(usize) -> Result<()> + Sync)) -> Result<f64> {
    let next = AtomicUsize::new(0);
    let t0 = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return Ok(());
                        }
                        op(i)?;
                    }
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a bench thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(n as f64 / t0.elapsed().as_secs_f64())
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

struct Row {
    bind: f64,
    unbind: f64,
    ops: f64,
    routes: Routes,
}

fn one_run(args: &Args, pg: bool) -> Result<Row> {
    let bed = bed(args, pg)?;
    let n = args.shipments;
    let bind = spread(n, args.threads, &|i| {
        bed.broker
            .bind(T, &format!("SF{i:013}"), "bench", NOW)
            .map(|_| ())
            .map_err(Into::into)
    })?;
    let routes = routes(&bed, args)?;
    let unbind = spread(n, args.threads, &|i| {
        bed.broker
            .unbind_waybill(T, &format!("SF{i:013}"), "bench", "delivered", NOW + 60)
            .map(|_| ())
            .map_err(Into::into)
    })?;
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
