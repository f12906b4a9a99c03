//! The vault's subcommands: `serve`, `import` and `keys`, and the vault part
//! of `init` (database, tenant, first admin API key).

use std::io::{self, BufRead as _, BufReader, Read, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use parcel_config::Config;
use parcel_keys::{EnvKey, KeyProvider, LocalKeyFile};
use parcel_vault::mask::{AddressMask, MaskProfile, NameMask};
use parcel_vault::model::{AddressInput, NewShipment, PartyInput};
use parcel_vault::store::{InsertOutcome, Principal, Store};
use parcel_vault::{Vault, VaultOptions};

use crate::cli::{ImportArgs, KeysCommand, ServeArgs};

pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The masking profile from `[vault.mask]`, checked against the standard.
pub(crate) fn mask_profile(config: &Config) -> Result<MaskProfile> {
    let m = &config.vault.mask;
    let profile = MaskProfile {
        name: if m.name == "all" {
            NameMask::All
        } else {
            NameMask::Surname
        },
        phone_keep_prefix: m.phone_keep_prefix,
        phone_keep_suffix: m.phone_keep_suffix,
        address: if m.address == "district" {
            AddressMask::District
        } else {
            AddressMask::Road
        },
        id_keep_prefix: m.id_keep_prefix,
        id_keep_suffix: m.id_keep_suffix,
    };
    profile.validate().context("[vault.mask]")?;
    Ok(profile)
}

pub(crate) fn key_provider(config: &Config) -> Result<Arc<dyn KeyProvider>> {
    Ok(match config.keys.provider.as_str() {
        "env" => Arc::new(EnvKey::from_var(&config.keys.env_var)?),
        "pkcs11" => Arc::new(pkcs11(config)?),
        _ => Arc::new(LocalKeyFile::open(&config.data_dir)?),
    })
}

/// Opens the configured PKCS#11 token, reading the PIN from its variable.
pub(crate) fn pkcs11(config: &Config) -> Result<parcel_keys::Pkcs11Key> {
    let k = &config.keys;
    let pin = zeroize::Zeroizing::new(std::env::var(&k.pkcs11_pin_env).with_context(|| {
        format!(
            "environment variable {} (the token's user PIN) is not set",
            k.pkcs11_pin_env
        )
    })?);
    Ok(parcel_keys::Pkcs11Key::open(
        Path::new(&k.pkcs11_module),
        &k.pkcs11_token,
        &pin,
    )?)
}

/// Opens the store and the vault the configuration names.
pub(crate) fn open_vault(config: &Config) -> Result<Arc<Vault>> {
    let profile = mask_profile(config)?;
    let keys = key_provider(config)?;
    let store = parcel_store::open(&config.database.url, &config.data_dir)
        .context("opening the database")?;
    let retention =
        i64::try_from(config.vault.retention_days).unwrap_or(i64::MAX / 86_400) * 86_400;
    let log = crate::log_cmds::open_log(config, keys.as_ref())?;
    let vault = Vault::new(
        store,
        keys,
        VaultOptions {
            mask: profile,
            retention_secs: retention,
        },
    )?
    .with_log(log);
    Ok(Arc::new(vault))
}

/// The vault half of `init`: database, tenant, admin principal and key.
/// Creates the tenant and the first admin, printing the admin's API key
/// (and returning it, for the demo).
pub(crate) fn init_vault(config: &Config, out: &mut dyn io::Write) -> Result<String> {
    let vault = open_vault(config)?;
    let store = vault.store();
    let tenant = &config.vault.tenant;
    store.put_tenant(tenant, tenant, now())?;
    store.put_principal(&Principal {
        tenant: tenant.clone(),
        id: "admin".to_owned(),
        role: "admin".to_owned(),
        station: None,
        status: "active".to_owned(),
        created_at: now(),
    })?;
    let key = parcel_server::auth::new_api_key(tenant, "admin", now(), None);
    store.put_api_key(&key.record)?;
    writeln!(
        out,
        "created {} database for tenant `{tenant}`",
        store.backend()
    )?;
    writeln!(
        out,
        "admin API key (shown once, stored only as a hash; id {}):",
        key.record.id
    )?;
    writeln!(out, "  {}", key.secret)?;
    Ok(key.secret)
}

/// Parses `--listen` and refuses plain HTTP off loopback unless allowed.
pub(crate) fn listen_addr(listen: &str, insecure: bool) -> Result<SocketAddr> {
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen}: expected HOST:PORT"))?;
    if !addr.ip().is_loopback() && !insecure {
        bail!(
            "--listen {addr}: plain HTTP is only served on loopback; put a TLS proxy in front and pass --insecure-listen"
        );
    }
    Ok(addr)
}

/// A certificate chain and its key, PEM files, for HTTPS.
#[derive(Debug, Clone)]
pub(crate) struct TlsFiles {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

/// `[server] tls_cert` and `tls_key`: both or neither.
pub(crate) fn tls_files(config: &Config) -> Result<Option<TlsFiles>> {
    let s = &config.server;
    match (s.tls_cert.is_empty(), s.tls_key.is_empty()) {
        (true, true) => Ok(None),
        (false, false) => Ok(Some(TlsFiles {
            cert: s.tls_cert.clone().into(),
            key: s.tls_key.clone().into(),
        })),
        _ => bail!("[server] tls_cert and tls_key: give both (or neither, for plain HTTP)"),
    }
}

/// Serves `app` on `addr` until SIGTERM or Ctrl-C, letting in-flight
/// requests finish; over TLS (rustls) when `tls` is given. `banner` gives
/// the first stdout lines (tests and scripts read the address from the
/// first). `started` runs inside the runtime, with the bound address,
/// before serving; the task it returns is stopped afterwards.
pub(crate) fn serve_until_signal(
    addr: SocketAddr,
    app: axum::Router,
    tls: Option<&TlsFiles>,
    banner: impl FnOnce(SocketAddr) -> String,
    started: impl FnOnce(SocketAddr) -> Option<tokio::task::JoinHandle<()>>,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let tls_config = match tls {
            Some(t) => {
                // One process-wide provider; a second install is a no-op.
                let _ = rustls::crypto::ring::default_provider().install_default();
                Some(
                    axum_server::tls_rustls::RustlsConfig::from_pem_file(&t.cert, &t.key)
                        .await
                        .with_context(|| {
                            format!(
                                "[server] tls_cert {} / tls_key {}: cannot load the certificate and key",
                                t.cert.display(),
                                t.key.display()
                            )
                        })?,
                )
            }
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let local = listener.local_addr()?;
        // The banner is for whoever started us; a stdout they closed after
        // reading the first line is no reason to stop serving.
        let mut out = io::stdout().lock();
        if let Err(e) = writeln!(out, "{}", banner(local)).and_then(|()| out.flush()) {
            tracing::warn!(error = %e, "could not print the start-up banner");
        }
        drop(out);
        let task = started(local);
        // Client addresses reach the handlers (rate limits of callers
        // without a credential).
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        match tls_config {
            None => {
                axum::serve(listener, service)
                    .with_graceful_shutdown(shutdown_signal())
                    .await?;
            }
            Some(config) => {
                let handle = axum_server::Handle::new();
                let stop = handle.clone();
                tokio::spawn(async move {
                    shutdown_signal().await;
                    stop.graceful_shutdown(Some(Duration::from_secs(30)));
                });
                axum_server::from_tcp_rustls(listener.into_std()?, config)
                    .handle(handle)
                    .serve(service)
                    .await?;
            }
        }
        if let Some(task) = task {
            task.abort();
        }
        anyhow::Ok(())
    })
}

pub(crate) fn serve(config: &Config, args: ServeArgs) -> Result<ExitCode> {
    let listen = args
        .listen
        .clone()
        .unwrap_or_else(|| config.server.listen.clone());
    let tls = tls_files(config)?;
    // Over TLS any address is fine; plain HTTP stays on loopback unless
    // told otherwise.
    let addr = listen_addr(&listen, args.insecure_listen || tls.is_some())?;
    if args.demo {
        return crate::demo::serve(config, addr, &args);
    }
    serve_at(config, addr, None)
}

/// A callback run once the server listens, with its address.
pub(crate) type OnListen = Box<dyn FnOnce(SocketAddr) + Send>;

/// Serves the API on `addr` until a signal; `on_listen` runs once it
/// accepts connections.
pub(crate) fn serve_at(
    config: &Config,
    addr: SocketAddr,
    on_listen: Option<OnListen>,
) -> Result<ExitCode> {
    let vault = open_vault(config)?;
    let max_body = usize::try_from(config.server.max_body_bytes).unwrap_or(usize::MAX);
    let access = crate::access_cmds::access(config)?;
    // Every decision records the version of the set that made it; changes
    // while serving are recorded as `policy_change` entries.
    let version = access.engine.policies().version().to_owned();
    let mut state = parcel_server::AppState::new(vault.clone(), access)
        .with_metrics_for(vec![config.vault.tenant.clone()])
        .with_rate_limit(
            config.server.rate_limit_per_sec,
            config.server.rate_limit_burst,
        );
    if let Some(verifier) = crate::access_cmds::oidc(config)? {
        state = state.with_oidc(verifier, &config.vault.tenant);
    }
    if config.risk.enabled {
        state = state
            .with_risk(crate::risk_cmds::settings(config)?)
            .context("starting the insider-risk monitor")?;
    }
    let broker = if config.numbers.enabled {
        let broker = parcel_vault::numbers::Broker::start(
            vault.clone(),
            crate::numbers_cmds::options(config),
        )
        .context("starting the privacy-number broker")?;
        // A bare id names a service account of the configured tenant.
        let switch = config
            .numbers
            .switch
            .iter()
            .map(|s| match s.contains('/') {
                true => s.clone(),
                false => format!("{}/{s}", config.vault.tenant),
            })
            .collect();
        state = state.with_numbers(broker.clone(), switch);
        Some(broker)
    } else {
        None
    };
    let risk = state.risk.clone();
    let access = state.access.clone();
    let rate_limit = state.rate_limit.clone();
    let app = parcel_server::router(state, max_body);
    let backend = vault.store().backend();
    let retention_vault = vault.clone();
    let reload_vault = vault.clone();
    let tls = tls_files(config)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    serve_until_signal(
        addr,
        app,
        tls.as_ref(),
        |local| {
            tracing::info!(address = %local, backend, policy_version = %version, tls = tls.is_some(), "serving");
            format!("parcelguard listening on {scheme}://{local}")
        },
        |local| {
            if let Some(f) = on_listen {
                f(local);
            }
            tokio::spawn(crate::access_cmds::reload_on_sighup(access, reload_vault));
            if let Some(limit) = rate_limit {
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_secs(60));
                    loop {
                        tick.tick().await;
                        limit.shrink();
                    }
                });
            }
            if let Some(b) = broker {
                tokio::spawn(crate::numbers_cmds::expiry_loop(b));
            }
            Some(tokio::spawn(retention_loop(retention_vault)))
        },
    )?;
    // In-flight requests are done: let the detector see their events (and
    // store what they raise), then seal the log with a final checkpoint.
    if let Some(m) = risk {
        m.sync(Duration::from_secs(5));
    }
    // In-flight requests are done: seal the log with a final checkpoint.
    if let Some(log) = vault.log() {
        log.close();
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Purges expired shipments at start-up and then hourly.
async fn retention_loop(vault: Arc<Vault>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let v = vault.clone();
        let job = move || {
            // Quota windows older than two days count nothing any more.
            if let Err(e) = v.store().prune_quota(now() - 2 * 86_400) {
                tracing::warn!(error = %e, "pruning reveal quotas failed");
            }
            v.purge_expired("retention", now())
        };
        match tokio::task::spawn_blocking(job).await {
            Ok(Err(e)) => tracing::error!(error = %e, "retention run failed"),
            Err(e) => tracing::error!(error = %e, "retention task failed"),
            Ok(Ok(_)) => {}
        }
    }
}

pub(crate) fn keys(config: &Config, cmd: KeysCommand) -> Result<ExitCode> {
    let vault = open_vault(config)?;
    let mut out = io::stdout().lock();
    match cmd {
        KeysCommand::Rotate => {
            let r = vault.rotate("cli", now())?;
            writeln!(
                out,
                "new key-encryption key v{}; re-wrapped {} data keys",
                r.kek_version, r.rewrapped
            )?;
        }
        KeysCommand::Retire => {
            let retired = vault.retire_keks("cli", now())?;
            if retired.is_empty() {
                writeln!(
                    out,
                    "nothing to retire: every older key-encryption key still wraps a data key"
                )?;
            } else {
                let list: Vec<String> = retired.iter().map(|v| format!("v{v}")).collect();
                writeln!(out, "destroyed key-encryption keys {}", list.join(", "))?;
            }
        }
        KeysCommand::PurgeExpired => {
            let r = vault.purge_expired("cli", now())?;
            writeln!(
                out,
                "purged {} shipments past retention; destroyed {} data keys",
                r.purged,
                r.keys_destroyed.len()
            )?;
            for k in r.keys_destroyed {
                writeln!(out, "  destroyed data key {k}")?;
            }
        }
        KeysCommand::CreateApiKey {
            principal,
            role,
            station,
            expires_in_days,
        } => {
            drop(out);
            crate::access_cmds::create_api_key(
                config,
                &vault,
                &principal,
                role.as_deref(),
                station.as_deref(),
                expires_in_days,
            )?;
        }
        KeysCommand::Revoke { id } => {
            let tenant = &config.vault.tenant;
            if let Some(log) = vault.log() {
                let event = parcel_tlog::Event::new(now() * 1000, tenant, "cli", "api_key_revoke")
                    .with_detail("key", id.as_str());
                log.append(&event)?;
            }
            if !vault.store().revoke_api_key(tenant, &id, now())? {
                bail!("{id}: no such live key in tenant `{tenant}` (see `keys list`)");
            }
            writeln!(
                out,
                "revoked {id}; servers stop accepting it within 2 seconds"
            )?;
        }
        KeysCommand::List => {
            drop(out);
            crate::access_cmds::list_keys(config, &vault)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One parsed input record.
struct Item {
    line: u64,
    shipment: Result<NewShipment, String>,
}

fn open_input(path: &Path) -> Result<Box<dyn Read>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut reader = BufReader::new(file);
    let gz = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputKind {
    Csv,
    Jsonl,
}

fn input_kind(path: &Path) -> Result<InputKind> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name = name.strip_suffix(".gz").unwrap_or(name);
    if name.ends_with(".csv") {
        Ok(InputKind::Csv)
    } else if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
        Ok(InputKind::Jsonl)
    } else {
        bail!(
            "{}: expected a .csv or .jsonl file (optionally .gz)",
            path.display()
        )
    }
}

const REQUIRED: [&str; 9] = [
    "waybill_no",
    "carrier",
    "sender_name",
    "sender_phone",
    "sender_address",
    "sender_id_number",
    "recipient_name",
    "recipient_phone",
    "recipient_address",
];

/// Streams the records of a file, calling `f` for each.
fn for_each_item(path: &Path, mut f: impl FnMut(Item) -> Result<()>) -> Result<()> {
    let reader = open_input(path)?;
    match input_kind(path)? {
        InputKind::Jsonl => {
            let mut lines = BufReader::new(reader);
            let mut buf = String::new();
            let mut line = 0u64;
            loop {
                buf.clear();
                if lines
                    .read_line(&mut buf)
                    .with_context(|| format!("{}:{}", path.display(), line + 1))?
                    == 0
                {
                    break;
                }
                line += 1;
                if buf.trim().is_empty() {
                    continue;
                }
                let shipment = serde_json::from_str::<NewShipment>(&buf).map_err(|e| {
                    format!(
                        "column {}: not a shipment object ({:?} error)",
                        e.column(),
                        e.classify()
                    )
                });
                f(Item { line, shipment })?;
            }
            zeroize::Zeroize::zeroize(&mut buf);
        }
        InputKind::Csv => {
            let mut csv = csv::ReaderBuilder::new()
                .flexible(false)
                .from_reader(reader);
            let headers = csv
                .headers()
                .with_context(|| format!("{}:1: cannot read the header row", path.display()))?
                .clone();
            let col = |name: &str| headers.iter().position(|h| h.trim() == name);
            let missing: Vec<&str> = REQUIRED
                .iter()
                .copied()
                .filter(|c| col(c).is_none())
                .collect();
            if !missing.is_empty() {
                bail!(
                    "{}:1: header row lacks {}",
                    path.display(),
                    missing.join(", ")
                );
            }
            let idx: Vec<usize> = REQUIRED.iter().filter_map(|c| col(c)).collect();
            let station = col("station").or_else(|| col("destination_station"));
            let origin = col("origin_station");
            let courier = col("courier");
            let mut record = csv::StringRecord::new();
            loop {
                match csv.read_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => {}
                    Err(e) => {
                        let line = e.position().map_or(0, csv::Position::line);
                        f(Item {
                            line,
                            shipment: Err("malformed CSV row (quoting or column count)".to_owned()),
                        })?;
                        continue;
                    }
                }
                let line = record.position().map_or(0, csv::Position::line);
                let get = |i: usize| record.get(idx[i]).unwrap_or("").to_owned();
                let opt = |c: Option<usize>| {
                    c.and_then(|i| record.get(i))
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                };
                let id = get(5);
                let shipment = NewShipment {
                    waybill_no: get(0).trim().to_owned(),
                    carrier: get(1).trim().to_owned(),
                    sender: PartyInput {
                        name: get(2),
                        phone: get(3),
                        address: AddressInput::Text(get(4)),
                        id_number: Some(id),
                    },
                    recipient: PartyInput {
                        name: get(6),
                        phone: get(7),
                        address: AddressInput::Text(get(8)),
                        id_number: None,
                    },
                    origin_station: opt(origin),
                    destination_station: opt(station),
                    courier: opt(courier),
                    delivery_window: None,
                };
                f(Item {
                    line,
                    shipment: Ok(shipment),
                })?;
            }
        }
    }
    Ok(())
}

/// Rows inserted per statement batch inside the import's one transaction.
const IMPORT_BATCH: usize = 1000;

pub(crate) fn import(config: &Config, args: ImportArgs) -> Result<ExitCode> {
    let vault = open_vault(config)?;
    let tenant = config.vault.tenant.clone();
    vault.store().put_tenant(&tenant, &tenant, now())?;
    let path = args.file.as_path();
    let started = Instant::now();

    // One pass inside one transaction: a reader thread parses, validates and
    // seals while this thread inserts. Any invalid record (without
    // --skip-invalid) stops the inserts; the rest is still checked so every
    // error is reported, and the transaction is rolled back.
    let total = count_records(path)?;
    let bar = progress_bar(total, args.no_progress);
    let at = now();
    vault.prepare(&tenant, at)?;
    let store: &dyn Store = vault.store().as_ref();
    let mut tx = store.begin()?;
    let (mut imported, mut duplicates, mut invalid) =
        (0u64, Vec::<u64>::new(), Vec::<(u64, String)>::new());
    let skip = args.skip_invalid;
    std::thread::scope(|scope| -> Result<()> {
        let (send, recv) = std::sync::mpsc::sync_channel::<Batch>(4);
        let vault = &vault;
        let tenant = &tenant;
        let reader = scope.spawn(move || -> Result<()> {
            let mut batch = Batch::default();
            for_each_item(path, |item| {
                let sealed = item.shipment.and_then(|s| {
                    s.validate("")
                        .and_then(|clean| vault.seal(tenant, &clean, at))
                        .map_err(|e| match e {
                            parcel_vault::VaultError::Invalid(errors) => errors
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("; "),
                            other => other.to_string(),
                        })
                });
                match sealed {
                    Ok(row) => {
                        batch.rows.push(row);
                        batch.lines.push(item.line);
                    }
                    Err(problem) => batch.invalid.push((item.line, problem)),
                }
                if batch.rows.len() + batch.invalid.len() >= IMPORT_BATCH {
                    // A closed channel means the inserting side failed; it
                    // reports why.
                    if send.send(std::mem::take(&mut batch)).is_err() {
                        bail!("import stopped");
                    }
                }
                Ok(())
            })?;
            let _ = send.send(batch);
            Ok(())
        });
        for batch in recv {
            bar.inc((batch.rows.len() + batch.invalid.len()) as u64);
            invalid.extend(batch.invalid);
            if !invalid.is_empty() && !skip {
                continue;
            }
            for (outcome, line) in tx.insert(&batch.rows)?.iter().zip(&batch.lines) {
                match outcome {
                    InsertOutcome::Inserted => imported += 1,
                    InsertOutcome::Duplicate => duplicates.push(*line),
                }
            }
        }
        reader
            .join()
            .map_err(|_| anyhow::anyhow!("the import reader thread failed"))?
    })?;
    let mut err = io::stderr().lock();
    for (line, problem) in invalid.iter().take(50) {
        writeln!(err, "{}:{line}: {problem}", path.display())?;
    }
    if invalid.len() > 50 {
        writeln!(err, "… and {} more invalid records", invalid.len() - 50)?;
    }
    drop(err);
    if !skip && (!invalid.is_empty() || !duplicates.is_empty()) {
        drop(tx);
        bar.abandon();
        if !invalid.is_empty() {
            bail!(
                "{}: {} of {total} records are invalid; nothing was imported (fix them, or pass --skip-invalid)",
                path.display(),
                invalid.len()
            );
        }
        let lines: Vec<String> = duplicates.iter().take(20).map(u64::to_string).collect();
        bail!(
            "{}: {} waybill numbers already exist (lines {}); nothing was imported (pass --skip-invalid to skip them)",
            path.display(),
            duplicates.len(),
            lines.join(", ")
        );
    }
    tx.commit()?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "imported {imported} shipments from {} in {secs:.1}s ({:.0}/s); skipped {} invalid and {} duplicate records",
        path.display(),
        imported as f64 / secs.max(1e-9),
        invalid.len(),
        duplicates.len()
    )?;
    tracing::info!(
        imported,
        invalid = invalid.len(),
        duplicates = duplicates.len(),
        "import finished"
    );
    Ok(ExitCode::SUCCESS)
}

/// Sealed rows (with their line numbers) and problems, handed from the
/// reader thread to the inserting one.
#[derive(Default)]
struct Batch {
    rows: Vec<parcel_vault::store::SealedShipment>,
    lines: Vec<u64>,
    invalid: Vec<(u64, String)>,
}

/// Lines of the file minus a CSV header: the progress bar's total.
fn count_records(path: &Path) -> Result<u64> {
    let mut reader = open_input(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut lines = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .with_context(|| format!("{}: read failed", path.display()))?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
    Ok(match input_kind(path)? {
        InputKind::Csv => lines.saturating_sub(1),
        InputKind::Jsonl => lines,
    })
}

fn progress_bar(total: u64, hidden: bool) -> indicatif::ProgressBar {
    if hidden || !io::IsTerminal::is_terminal(&io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} shipments  {per_sec}  ETA {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}
