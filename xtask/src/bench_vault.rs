//! `cargo xtask bench-vault`: the vault's speed targets in one run.
//!
//! - import into SQLite through `parcelguard import`, against inserting the
//!   same rows unencrypted (plaintext columns and a plaintext lookup table
//!   in place of the blind index) into SQLite with the same settings;
//! - the same into PostgreSQL, against `pgp_sym_encrypt` per column
//!   (pgcrypto), both batched with `unnest`;
//! - masked `GET /v1/shipments/{waybill}` over loopback HTTP with wrk;
//! - blind-index lookup latency with the tables filled to `--lookup-rows`
//!   shipments (filler rows carry random bytes of the real sizes).

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use rand::{Rng as _, RngCore as _, SeedableRng as _};

use crate::bench::median;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Shipments per import run.
    #[arg(long, default_value_t = 200_000)]
    count: usize,
    /// Runs per import measurement; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// PostgreSQL server URL (a database `bench_vault` is created and dropped).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg: String,
    /// Skip PostgreSQL.
    #[arg(long)]
    skip_pg: bool,
    /// Seconds of HTTP load.
    #[arg(long, default_value_t = 10)]
    http_secs: u32,
    /// Shipments in the blind-index lookup table (0 skips it).
    #[arg(long, default_value_t = 10_000_000)]
    lookup_rows: u64,
}

struct Row {
    name: &'static str,
    value: String,
    peer: String,
    ratio: String,
    target: &'static str,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let dir = root.join("target/bench-vault");
    std::fs::create_dir_all(&dir)?;
    let bin = crate::bench::release_binary(&root)?;
    let csv = dir.join(format!("shipments-{}.csv", args.count));
    if !csv.exists() {
        eprintln!("generating {}...", csv.display());
        let mut out = std::io::BufWriter::new(std::fs::File::create(&csv)?);
        parcel_synth::shipments_csv(7, args.count, &mut out)?;
        out.flush()?;
    }
    let mut rows = Vec::new();

    // SQLite: parcelguard import vs plaintext inserts.
    let mut ours = Vec::new();
    let mut plain = Vec::new();
    let mut last_dir = PathBuf::new();
    for run in 0..args.runs {
        let data = dir.join(format!("sqlite-{run}"));
        let _ = std::fs::remove_dir_all(&data);
        let secs = import_run(&bin, &data, None, &csv)?;
        ours.push(args.count as f64 / secs);
        last_dir = data;
        let plain_db = dir.join(format!("plain-{run}.db"));
        plain.push(args.count as f64 / plain_sqlite(&plain_db, &csv)?);
        let _ = std::fs::remove_file(&plain_db);
        let _ = std::fs::remove_file(plain_db.with_extension("db-wal"));
        eprintln!(
            "sqlite run {run}: ours {:.0}/s, plaintext {:.0}/s",
            ours[run], plain[run]
        );
    }
    let (o, p) = (median(ours), median(plain));
    rows.push(Row {
        name: "import into SQLite (7 encrypted fields, 5 blind indexes)",
        value: format!("{o:.0} shipments/s"),
        peer: format!("plaintext rows into SQLite: {p:.0}/s"),
        ratio: format!("{:.2}×", o / p),
        target: "≥ 20,000/s and ≥ 0.5×",
    });

    if !args.skip_pg {
        let (o, p) = bench_pg(args, &bin, &dir, &csv)?;
        rows.push(Row {
            name: "import into PostgreSQL",
            value: format!("{o:.0} shipments/s"),
            peer: format!("pgcrypto pgp_sym_encrypt per column: {p:.0}/s"),
            ratio: format!("{:.2}×", o / p),
            target: "(faster than pgcrypto)",
        });
    }

    let (rps, p50, p99) = bench_http(&bin, &last_dir, args)?;
    rows.push(Row {
        name: "masked GET /v1/shipments/{waybill} over loopback (wrk -t1 -c32)",
        value: format!("{rps:.0} req/s, p50 {p50}, p99 {p99}"),
        peer: "-".to_owned(),
        ratio: "-".to_owned(),
        target: "≥ 30,000 req/s",
    });

    if args.lookup_rows > 0 {
        let (p50, p99, s50, s99) = bench_lookup(&dir, args.lookup_rows)?;
        rows.push(Row {
            name: "blind-index lookup (find + read masked rows)",
            value: format!(
                "p50 {p50:.3} ms, p99 {p99:.3} ms at {} shipments",
                args.lookup_rows
            ),
            peer: "-".to_owned(),
            ratio: "-".to_owned(),
            target: "p99 < 2 ms at 10M",
        });
        rows.push(Row {
            name: "audited search (lookup + durable audit event)",
            value: format!("p50 {s50:.3} ms, p99 {s99:.3} ms"),
            peer: "-".to_owned(),
            ratio: "-".to_owned(),
            target: "-",
        });
    }

    let mut out = std::io::stdout().lock();
    writeln!(out, "| measurement | parcelguard | peer | ratio | target |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    for r in rows {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            r.name, r.value, r.peer, r.ratio, r.target
        )?;
    }
    Ok(())
}

/// `parcelguard init` and `import` into a fresh data dir; seconds of the import.
pub(crate) fn import_run(
    bin: &Path,
    data: &Path,
    database: Option<&str>,
    csv: &Path,
) -> Result<f64> {
    let mut init = Command::new(bin);
    init.args(["--log-level", "warn", "--data-dir"]).arg(data);
    if let Some(db) = database {
        init.args(["--database", db]);
    }
    let out = init.arg("init").output()?;
    if !out.status.success() {
        bail!("init failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    std::fs::write(data.join("admin.key"), &out.stdout)?;
    let mut cmd = Command::new(bin);
    cmd.args(["--log-level", "warn", "--data-dir"]).arg(data);
    if let Some(db) = database {
        cmd.args(["--database", db]);
    }
    let start = Instant::now();
    let status = cmd
        .args(["import", "--no-progress"])
        .arg(csv)
        .stdout(Stdio::null())
        .status()?;
    let secs = start.elapsed().as_secs_f64();
    if !status.success() {
        bail!("import failed");
    }
    Ok(secs)
}

fn csv_rows(csv: &Path) -> Result<csv::Reader<std::fs::File>> {
    Ok(csv::Reader::from_path(csv)?)
}

/// The unencrypted baseline: same CSV, same SQLite settings, one
/// transaction, plaintext columns plus a plaintext lookup table.
fn plain_sqlite(db: &Path, csv: &Path) -> Result<f64> {
    let start = Instant::now();
    let mut conn = rusqlite::Connection::open(db)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -65536;
         CREATE TABLE shipments (tenant TEXT, waybill_no TEXT, carrier TEXT, status TEXT, station TEXT, courier TEXT,
            created_at BIGINT, updated_at BIGINT, masked TEXT, sender_name TEXT, sender_phone TEXT, sender_address TEXT,
            sender_id_number TEXT, recipient_name TEXT, recipient_phone TEXT, recipient_address TEXT,
            PRIMARY KEY (tenant, waybill_no));
         CREATE TABLE lookup (tenant TEXT, value TEXT, waybill_no TEXT, party TEXT,
            PRIMARY KEY (tenant, value, waybill_no, party)) WITHOUT ROWID;",
    )?;
    let tx = conn.transaction()?;
    {
        let mut ship = tx.prepare(
            "INSERT INTO shipments VALUES ('default', ?, ?, 'created', ?, ?, 0, 0, '{}', ?, ?, ?, ?, ?, ?, ?)",
        )?;
        let mut look = tx.prepare("INSERT OR IGNORE INTO lookup VALUES ('default', ?, ?, ?)")?;
        for rec in csv_rows(csv)?.records() {
            let r = rec?;
            let f = |i: usize| r.get(i).unwrap_or("");
            ship.execute(rusqlite::params![
                f(0),
                f(1),
                f(9),
                f(10),
                f(2),
                f(3),
                f(4),
                f(5),
                f(6),
                f(7),
                f(8)
            ])?;
            for (v, party) in [
                (f(3), "sender"),
                (f(2), "sender"),
                (f(5), "sender"),
                (f(7), "recipient"),
                (f(6), "recipient"),
            ] {
                look.execute(rusqlite::params![v, f(0), party])?;
            }
        }
    }
    tx.commit()?;
    Ok(start.elapsed().as_secs_f64())
}

fn pg_admin(url: &str, sql: &str) -> Result<()> {
    let mut c = postgres::Client::connect(url, postgres::NoTls)?;
    c.batch_execute(sql)?;
    Ok(())
}

fn bench_pg(args: &Args, bin: &Path, dir: &Path, csv: &Path) -> Result<(f64, f64)> {
    let bench_url = match args.pg.rsplit_once('/') {
        Some((base, _)) => format!("{base}/bench_vault"),
        None => bail!("--pg: expected postgres://…/DATABASE"),
    };
    let mut ours = Vec::new();
    let mut peer = Vec::new();
    for run in 0..args.runs {
        pg_admin(&args.pg, "DROP DATABASE IF EXISTS bench_vault")?;
        pg_admin(&args.pg, "CREATE DATABASE bench_vault")?;
        let data = dir.join(format!("pg-{run}"));
        let _ = std::fs::remove_dir_all(&data);
        ours.push(args.count as f64 / import_run(bin, &data, Some(&bench_url), csv)?);
        peer.push(args.count as f64 / pgcrypto_import(&bench_url, csv)?);
        eprintln!(
            "postgres run {run}: ours {:.0}/s, pgcrypto {:.0}/s",
            ours[run], peer[run]
        );
    }
    pg_admin(&args.pg, "DROP DATABASE IF EXISTS bench_vault")?;
    Ok((median(ours), median(peer)))
}

/// The do-it-yourself approach: `pgp_sym_encrypt` on each personal column,
/// plaintext lookup columns hashed with `digest` for search, in batches.
fn pgcrypto_import(url: &str, csv: &Path) -> Result<f64> {
    let mut c = postgres::Client::connect(url, postgres::NoTls)?;
    c.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS pgcrypto;
         DROP TABLE IF EXISTS diy_shipments;
         CREATE TABLE diy_shipments (waybill_no TEXT PRIMARY KEY, carrier TEXT, station TEXT, courier TEXT,
            sender_name BYTEA, sender_phone BYTEA, sender_address BYTEA, sender_id_number BYTEA,
            recipient_name BYTEA, recipient_phone BYTEA, recipient_address BYTEA,
            sender_phone_hash BYTEA, recipient_phone_hash BYTEA, sender_id_hash BYTEA);
         CREATE INDEX ON diy_shipments (sender_phone_hash); CREATE INDEX ON diy_shipments (recipient_phone_hash);
         CREATE INDEX ON diy_shipments (sender_id_hash);",
    )?;
    let start = Instant::now();
    let mut tx = c.transaction()?;
    let sql = "INSERT INTO diy_shipments SELECT w, c, s, co, pgp_sym_encrypt(a, $12), pgp_sym_encrypt(b, $12), \
        pgp_sym_encrypt(d, $12), pgp_sym_encrypt(e, $12), pgp_sym_encrypt(f, $12), pgp_sym_encrypt(g, $12), \
        pgp_sym_encrypt(h, $12), hmac(b, $12, 'sha256'), hmac(g, $12, 'sha256'), hmac(e, $12, 'sha256') \
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
        $9::text[], $10::text[], $11::text[]) AS u(w, c, s, co, a, b, d, e, f, g, h)";
    let stmt = tx.prepare(sql)?;
    let mut cols: Vec<Vec<String>> = vec![Vec::new(); 11];
    let key = "bench-secret-key".to_owned();
    let flush = |cols: &mut Vec<Vec<String>>, tx: &mut postgres::Transaction<'_>| -> Result<()> {
        if cols[0].is_empty() {
            return Ok(());
        }
        let p: Vec<&(dyn postgres::types::ToSql + Sync)> = cols
            .iter()
            .map(|c| c as &(dyn postgres::types::ToSql + Sync))
            .chain(std::iter::once(&key as _))
            .collect();
        tx.execute(&stmt, &p)?;
        for c in cols.iter_mut() {
            c.clear();
        }
        Ok(())
    };
    for rec in csv_rows(csv)?.records() {
        let r = rec?;
        let f = |i: usize| r.get(i).unwrap_or("").to_owned();
        for (slot, i) in [0usize, 1, 9, 10, 2, 3, 4, 5, 6, 7, 8]
            .into_iter()
            .enumerate()
        {
            cols[slot].push(f(i));
        }
        if cols[0].len() == 2000 {
            flush(&mut cols, &mut tx)?;
        }
    }
    flush(&mut cols, &mut tx)?;
    tx.commit()?;
    Ok(start.elapsed().as_secs_f64())
}

pub(crate) fn ensure_wrk() -> Result<()> {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return Ok(());
    }
    eprintln!("installing wrk from Debian's packages...");
    let ok = Command::new("apt-get")
        .args(["install", "-y", "wrk"])
        .status()?
        .success()
        || (Command::new("apt-get").arg("update").status()?.success()
            && Command::new("apt-get")
                .args(["install", "-y", "wrk"])
                .status()?
                .success());
    if !ok {
        bail!("wrk is needed: apt-get install wrk");
    }
    Ok(())
}

fn bench_http(bin: &Path, data: &Path, args: &Args) -> Result<(f64, String, String)> {
    ensure_wrk()?;
    let key_text = std::fs::read_to_string(data.join("admin.key"))?;
    let key = key_text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("pgk_"))
        .context("admin key not found in init output")?
        .to_owned();
    let (mut server, addr) = spawn_server(bin, data, &[])?;
    let script = data.join("get.lua");
    std::fs::write(
        &script,
        format!(
            "math.randomseed(7)\nrequest = function()\n  local n = math.random(0, {})\n  return wrk.format(\"GET\", string.format(\"/v1/shipments/PG%013d\", 7000000000 + n), {{[\"Authorization\"] = \"Bearer {key}\"}})\nend\n",
            args.count - 1
        ),
    )?;
    let result = run_wrk(&script, &format!("http://{addr}"), args.http_secs);
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    result
}

/// `parcelguard serve` on a free loopback port over `data`, with `env`;
/// the child and the address it printed.
pub(crate) fn spawn_server(
    bin: &Path,
    data: &Path,
    env: &[(&str, &str)],
) -> Result<(std::process::Child, String)> {
    let mut server = Command::new(bin)
        .args(["--log-level", "warn", "--data-dir"])
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut first = String::new();
    BufReader::new(server.stdout.take().context("server stdout")?).read_line(&mut first)?;
    let addr = first
        .trim()
        .rsplit("http://")
        .next()
        .unwrap_or("")
        .to_owned();
    Ok((server, addr))
}

/// wrk -t1 -c32 with `script` against `url` for `secs`; requests/s, p50
/// and p99 as wrk prints them. Any non-2xx answer is an error.
pub(crate) fn run_wrk(script: &Path, url: &str, secs: u32) -> Result<(f64, String, String)> {
    ensure_wrk()?;
    let out = Command::new("wrk")
        .args(["-t1", "-c32", &format!("-d{secs}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{text}");
    if text.contains("Non-2xx") {
        bail!("wrk saw errors:\n{text}");
    }
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .context("wrk printed no Requests/sec")?;
    let pct = |p: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(p).map(|v| v.trim().to_owned()))
            .unwrap_or_default()
    };
    Ok((rps, pct("50%"), pct("99%")))
}

/// Fills a SQLite vault to `rows` shipments (random bytes of real sizes),
/// adds 1,000 real ones, and times lookups of their phones.
fn bench_lookup(dir: &Path, rows: u64) -> Result<(f64, f64, f64, f64)> {
    use parcel_vault::crypto::BlindKind;
    let data = dir.join(format!("lookup-{rows}"));
    let db = data.join("parcelguard.db");
    let fresh = !db.exists();
    std::fs::create_dir_all(&data)?;
    if fresh {
        parcel_keys::init_local(&data)?;
    }
    let store = Arc::new(parcel_store::SqliteStore::open(&db)?);
    let keys = Arc::new(parcel_keys::LocalKeyFile::open(&data)?);
    let vault = parcel_vault::Vault::new(
        store.clone(),
        keys,
        parcel_vault::VaultOptions {
            mask: parcel_vault::mask::MaskProfile::default(),
            retention_secs: 86_400 * 180,
        },
    )?;
    let have = parcel_vault::store::Store::count_shipments(store.as_ref(), "default")?;
    if have < rows {
        eprintln!(
            "filling {} to {rows} shipments (once; kept for later runs)...",
            db.display()
        );
        let mut conn = rusqlite::Connection::open(&db)?;
        conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;")?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(rows);
        let masked = r#"{"sender":{"name":"张**","phone":"138******78","address":"广东省深圳市南山区科技园路*号*栋*单元*室","id_number":"1****************X"},"recipient":{"name":"欧阳**","phone":"139******21","address":"北京市朝阳区建国路*号*单元*室"}}"#;
        let mut i = have;
        while i < rows {
            let tx = conn.transaction()?;
            {
                let mut ship = tx.prepare_cached(
                    "INSERT INTO shipments (tenant, waybill_no, carrier, status, period, created_at, updated_at, masked, \
                     sender_name, sender_phone, sender_address, sender_id_number, recipient_name, recipient_phone, recipient_address) \
                     VALUES ('default', ?, 'SF', 'created', '2026-11', 0, 0, ?, ?, ?, ?, ?, ?, ?, ?)",
                )?;
                let mut blind =
                    tx.prepare_cached("INSERT INTO blind_index VALUES ('default', ?, ?, ?)")?;
                let end = (i + 100_000).min(rows);
                for n in i..end {
                    let w = format!("FILL{n:012}");
                    let blob = |len: usize, rng: &mut rand_chacha::ChaCha8Rng| {
                        let mut b = vec![0u8; len];
                        rng.fill_bytes(&mut b);
                        b
                    };
                    let sizes = [38, 40, 160, 47, 41, 40, 150];
                    let c: Vec<Vec<u8>> = sizes.iter().map(|&s| blob(s, &mut rng)).collect();
                    ship.execute(rusqlite::params![
                        w, masked, c[0], c[1], c[2], c[3], c[4], c[5], c[6]
                    ])?;
                    for party in ["sender", "sender", "sender", "recipient", "recipient"] {
                        blind.execute(rusqlite::params![blob(16, &mut rng), w, party])?;
                    }
                }
                i = end;
            }
            tx.commit()?;
            if i % 1_000_000 == 0 {
                eprintln!("  {i}");
            }
        }
    }
    // 1,000 real shipments with known phones (kept from an earlier run).
    let phones: Vec<String> = (0..1000).map(|n| format!("1391{:07}", n)).collect();
    if vault.get("default", "REAL000000000").is_err() {
        let mut csv_bytes = Vec::new();
        parcel_synth::shipments_csv(99, 1000, &mut csv_bytes)?;
        let mut reader = csv::Reader::from_reader(csv_bytes.as_slice());
        let mut batch = Vec::new();
        for (n, rec) in reader.records().enumerate() {
            let r = rec?;
            let f = |i: usize| r.get(i).unwrap_or("").to_owned();
            let s = parcel_vault::model::NewShipment {
                waybill_no: format!("REAL{n:09}"),
                carrier: f(1),
                sender: parcel_vault::model::PartyInput {
                    name: f(2),
                    phone: f(3),
                    address: parcel_vault::model::AddressInput::Text(f(4)),
                    id_number: Some(f(5)),
                },
                recipient: parcel_vault::model::PartyInput {
                    name: f(6),
                    phone: phones[n].clone(),
                    address: parcel_vault::model::AddressInput::Text(f(8)),
                    id_number: None,
                },
                origin_station: None,
                destination_station: None,
                courier: None,
                delivery_window: None,
            };
            batch.push(s);
        }
        let results = vault.create_batch(
            "default",
            &batch,
            true,
            time::OffsetDateTime::now_utc().unix_timestamp(),
        )?;
        if results.iter().any(Result::is_err) {
            bail!("seeding real shipments failed");
        }
    }
    // Cold-ish: lookups in random order over the 1,000 phones, 5,000 times.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let mut lookup = Vec::new();
    let mut search = Vec::new();
    let indexer = parcel_vault::crypto::BlindIndexer::for_tenant(
        &parcel_keys::LocalKeyFile::open(&data)?,
        "default",
    )?;
    for i in 0..5000 {
        let phone = &phones[rng.gen_range(0..phones.len())];
        let t = Instant::now();
        let hash = indexer.index(BlindKind::Phone, phone);
        let hits = parcel_vault::store::Store::find_blind(store.as_ref(), "default", &hash)?;
        for (w, _) in &hits {
            parcel_vault::store::Store::get_shipment(store.as_ref(), "default", w)?;
        }
        lookup.push(t.elapsed().as_secs_f64() * 1e3);
        if hits.is_empty() {
            bail!("lookup found nothing");
        }
        if i % 5 == 0 {
            let t = Instant::now();
            vault.search("default", BlindKind::Phone, phone, "bench", 0)?;
            search.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok((
        pct(&mut lookup, 0.5),
        pct(&mut lookup, 0.99),
        pct(&mut search, 0.5),
        pct(&mut search, 0.99),
    ))
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}
