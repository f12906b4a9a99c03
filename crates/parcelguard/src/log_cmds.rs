//! The transparency log's subcommands (`log vkey|verify|prove|
//! check-receipt|export`, `witness`) and opening the log for the vault.

use std::io::{self, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use parcel_config::Config;
use parcel_keys::KeyProvider;
use parcel_server::tlog::{HttpCosigner, HttpPublished, WitnessEndpoint, WitnessService};
use parcel_tlog::note::{KeyKind, NoteKey, TrustPolicy, VKey, note_text, parse_checkpoint_text};
use parcel_tlog::tree::{bundles_for_size, tiles_for_size};
use parcel_tlog::verify::{Published, SavedTree, verify_log};
use parcel_tlog::witness::Witness;
use parcel_tlog::{Log, LogError, LogOptions, Receipt};

use crate::cli::{LogCommand, TrustArgs, WitnessArgs};

/// Purpose of the key derived for signing checkpoints.
const LOG_KEY_PURPOSE: &str = "tlog/checkpoint-ed25519";
/// Purpose of the key derived for a witness's cosignatures.
const WITNESS_KEY_PURPOSE: &str = "tlog/witness-ed25519";

fn note_key(keys: &dyn KeyProvider, purpose: &str, name: &str, kind: KeyKind) -> Result<NoteKey> {
    let seed = keys.derive(purpose)?;
    NoteKey::from_seed(name, kind, seed.expose()).with_context(|| format!("key name `{name}`"))
}

/// The log's signing key, derived from the key store's root key.
pub(crate) fn log_key(config: &Config, keys: &dyn KeyProvider) -> Result<NoteKey> {
    note_key(keys, LOG_KEY_PURPOSE, &config.tlog.origin, KeyKind::Log).context("[tlog] origin")
}

/// Opens the transparency log the configuration names, with its witnesses.
pub(crate) fn open_log(config: &Config, keys: &dyn KeyProvider) -> Result<Arc<Log>> {
    let key = log_key(config, keys)?;
    let witnesses = config
        .tlog
        .witnesses
        .iter()
        .enumerate()
        .map(|(i, w)| {
            WitnessEndpoint::parse(w).map_err(|e| anyhow::anyhow!("tlog.witnesses[{i}]: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let cosigner: Option<Arc<dyn parcel_tlog::log::Cosigner>> = if witnesses.is_empty() {
        None
    } else {
        Some(Arc::new(HttpCosigner::new(
            VKey::parse(&key.vkey())?,
            witnesses,
        )))
    };
    let storage = parcel_store::open_log(&config.database.url, &config.data_dir)
        .context("opening the transparency log")?;
    let log = Log::open(
        storage,
        key,
        LogOptions {
            checkpoint_interval: Duration::from_millis(config.tlog.checkpoint_interval_ms.max(1)),
            cosigner,
            ..LogOptions::default()
        },
    )?;
    Ok(Arc::new(log))
}

/// Reads a published log from a directory (as written by `log export`).
struct DirPublished(PathBuf);

impl Published for DirPublished {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, LogError> {
        let file = self.0.join(path);
        match std::fs::read(&file) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LogError::Storage(format!("{}: {e}", file.display()))),
        }
    }
}

fn trust_policy(config: &Config, args: &TrustArgs) -> Result<TrustPolicy> {
    let log = match &args.vkey {
        Some(v) => VKey::parse(v).context("--vkey")?,
        None => {
            let keys = crate::vault_cmds::key_provider(config)
                .context("no --vkey given and no local key store to derive the log's key from")?;
            VKey::parse(&log_key(config, keys.as_ref())?.vkey())?
        }
    };
    if log.kind() != KeyKind::Log {
        bail!("--vkey: that is a witness key, not a log key");
    }
    let mut witnesses = Vec::new();
    for (i, w) in args.witness.iter().enumerate() {
        let k = VKey::parse(w).with_context(|| format!("--witness #{}", i + 1))?;
        if k.kind() != KeyKind::Witness {
            bail!("--witness #{}: not a witness (cosignature/v1) key", i + 1);
        }
        witnesses.push(k);
    }
    if args.witness.is_empty() {
        for (i, w) in config.tlog.witnesses.iter().enumerate() {
            let e = WitnessEndpoint::parse(w)
                .map_err(|e| anyhow::anyhow!("tlog.witnesses[{i}]: {e}"))?;
            witnesses.push(e.vkey);
        }
    }
    let quorum = args
        .quorum
        .unwrap_or(usize::try_from(config.tlog.quorum).unwrap_or(usize::MAX));
    if quorum > witnesses.len() {
        bail!(
            "a quorum of {quorum} cosignatures needs at least {quorum} witness keys; {} given",
            witnesses.len()
        );
    }
    Ok(TrustPolicy {
        log,
        witnesses,
        quorum,
    })
}

pub(crate) fn log(config: &Config, cmd: LogCommand) -> Result<ExitCode> {
    let mut out = io::stdout().lock();
    match cmd {
        LogCommand::Vkey => {
            let keys = crate::vault_cmds::key_provider(config)?;
            writeln!(out, "{}", log_key(config, keys.as_ref())?.vkey())?;
        }
        LogCommand::Verify {
            url,
            dir,
            checkpoint,
            trust,
        } => {
            let policy = trust_policy(config, &trust)?;
            let src: Box<dyn Published> = match (url, dir) {
                (Some(u), None) => Box::new(HttpPublished::new(&u)),
                (None, Some(d)) => Box::new(DirPublished(d)),
                _ => bail!("give exactly one of --url and --dir"),
            };
            let saved = match &checkpoint {
                Some(path) if path.exists() => {
                    let bytes = std::fs::read(path)
                        .with_context(|| format!("{}: cannot read", path.display()))?;
                    let v = policy
                        .verify(&bytes)
                        .with_context(|| format!("{}: saved checkpoint", path.display()))?;
                    Some(SavedTree {
                        size: v.size,
                        root: v.root,
                    })
                }
                _ => None,
            };
            let started = std::time::Instant::now();
            let bar = indicatif::ProgressBar::hidden();
            if io::stderr().is_terminal() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:40} {pos}/{len} entries ({per_sec}, {eta})",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
            }
            let verdict = verify_log(src.as_ref(), &policy, saved, &mut |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            });
            bar.finish_and_clear();
            match verdict {
                Ok(v) => {
                    writeln!(
                        out,
                        "OK: {} entries and {} tiles re-hashed; root matches the checkpoint signed by {}{} ({:.1}s)",
                        v.entries,
                        v.tiles,
                        policy.log.name(),
                        if v.checkpoint.witnesses.is_empty() {
                            String::new()
                        } else {
                            format!(" and cosigned by {}", v.checkpoint.witnesses.join(", "))
                        },
                        started.elapsed().as_secs_f64()
                    )?;
                    if let Some(s) = saved {
                        writeln!(
                            out,
                            "consistent with the saved checkpoint of {} entries",
                            s.size
                        )?;
                    }
                    if checkpoint.is_none() {
                        writeln!(
                            out,
                            "note: without --checkpoint FILE from an earlier run, a log rolled back to an older signed checkpoint cannot be told apart"
                        )?;
                    }
                    if let Some(path) = &checkpoint {
                        std::fs::write(path, &v.signed_checkpoint)
                            .with_context(|| format!("{}: cannot save", path.display()))?;
                        writeln!(out, "saved this checkpoint to {}", path.display())?;
                    }
                }
                Err(e) => {
                    writeln!(out, "FAILED: {e}")?;
                    return Ok(ExitCode::from(1));
                }
            }
        }
        LogCommand::Prove { index, output } => {
            let keys = crate::vault_cmds::key_provider(config)?;
            let log = open_log(config, keys.as_ref())?;
            let receipt = log.receipt(index)?;
            let policy = TrustPolicy::log_only(VKey::parse(&log.vkey())?);
            receipt.verify(&policy)?;
            let json = serde_json::to_string_pretty(&receipt)?;
            match output {
                Some(path) => {
                    std::fs::write(&path, json + "\n")
                        .with_context(|| format!("{}: cannot write", path.display()))?;
                    writeln!(
                        out,
                        "wrote the receipt of entry {index} to {}",
                        path.display()
                    )?;
                }
                None => writeln!(out, "{json}")?,
            }
        }
        LogCommand::CheckReceipt { file, trust } => {
            let policy = trust_policy(config, &trust)?;
            let text =
                std::fs::read(&file).with_context(|| format!("{}: cannot read", file.display()))?;
            let receipt: Receipt = serde_json::from_slice(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}:{}:{}: not a receipt",
                    file.display(),
                    e.line(),
                    e.column()
                )
            })?;
            match receipt.verify(&policy) {
                Ok(c) => {
                    let e = &c.event;
                    writeln!(
                        out,
                        "OK: entry {} ({} by {} at {}) is in the log of {} entries signed by {}{}",
                        receipt.index,
                        e.action,
                        e.actor,
                        e.ts,
                        c.checkpoint.size,
                        policy.log.name(),
                        if c.checkpoint.witnesses.is_empty() {
                            String::new()
                        } else {
                            format!(", cosigned by {}", c.checkpoint.witnesses.join(", "))
                        }
                    )?;
                }
                Err(e) => {
                    writeln!(out, "FAILED: {}: {e}", file.display())?;
                    return Ok(ExitCode::from(1));
                }
            }
        }
        LogCommand::Export { dir } => {
            let keys = crate::vault_cmds::key_provider(config)?;
            let log = open_log(config, keys.as_ref())?;
            let (n, files) = export(&log, &dir)?;
            writeln!(
                out,
                "exported {n} entries ({files} files) to {}; serve it as static files or check it with `parcelguard log verify --dir`",
                dir.display()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the checkpoint, vkey, every hash tile and entry bundle of the
/// latest checkpoint's tree as files at their C2SP paths under `dir`.
fn export(log: &Log, dir: &Path) -> Result<(u64, usize)> {
    let signed = log.publish()?;
    let (_, size, _) = parse_checkpoint_text(&note_text(&signed)?)?;
    let mut paths = tiles_for_size(size);
    paths.extend(bundles_for_size(size));
    for p in &paths {
        let file = dir.join(p.format());
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("{}: cannot create", parent.display()))?;
        }
        std::fs::write(&file, log.read(p)?)
            .with_context(|| format!("{}: cannot write", file.display()))?;
    }
    std::fs::write(dir.join("vkey"), format!("{}\n", log.vkey()))?;
    // The checkpoint last: a reader never sees one without its tiles.
    std::fs::write(dir.join("checkpoint"), &signed)?;
    Ok((size, paths.len() + 2))
}

pub(crate) fn witness(config: &Config, args: WitnessArgs) -> Result<ExitCode> {
    let keys = crate::vault_cmds::key_provider(config)
        .context("the witness's key comes from its own key store: run `parcelguard init` in the witness's data directory first")?;
    let key = note_key(
        keys.as_ref(),
        WITNESS_KEY_PURPOSE,
        &args.name,
        KeyKind::Witness,
    )
    .context("--name")?;
    if args.vkey {
        writeln!(io::stdout().lock(), "{}", key.vkey())?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.log.is_empty() {
        bail!("--log: name at least one log verifier key to witness");
    }
    let mut logs = Vec::new();
    for (i, v) in args.log.iter().enumerate() {
        let k = VKey::parse(v).with_context(|| format!("--log #{}", i + 1))?;
        if k.kind() != KeyKind::Log {
            bail!("--log #{}: not a log (Ed25519 note) key", i + 1);
        }
        logs.push(k);
    }
    let addr = crate::vault_cmds::listen_addr(&args.listen, args.insecure_listen)?;
    let vkey = key.vkey();
    let state = config.data_dir.join("witness-state.json");
    let svc = Arc::new(
        WitnessService::open(Witness::new(key, logs), &state).map_err(anyhow::Error::msg)?,
    );
    let name = args.name;
    crate::vault_cmds::serve_until_signal(
        addr,
        parcel_server::tlog::witness_router(svc),
        None,
        |local| format!("witness {name} listening on http://{local}\nverifier key: {vkey}"),
        |_| None,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// For `serve --demo`: a witness of the log `config` names, with a key
/// store of its own in `dir`, serving on a free loopback port in a thread
/// of its own. Returns its `tlog.witnesses` entry (`URL VKEY`).
pub(crate) fn start_local_witness(config: &Config, dir: &Path) -> Result<String> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    parcel_keys::init_local(dir).context("creating the witness's root key")?;
    let witness_keys = parcel_keys::LocalKeyFile::open(dir)?;
    let key = note_key(
        &witness_keys,
        WITNESS_KEY_PURPOSE,
        "witness.demo/w1",
        KeyKind::Witness,
    )?;
    let vkey = key.vkey();
    let log_keys = crate::vault_cmds::key_provider(config)?;
    let log = VKey::parse(&log_key(config, log_keys.as_ref())?.vkey())?;
    let svc = Arc::new(
        WitnessService::open(
            Witness::new(key, vec![log]),
            &dir.join("witness-state.json"),
        )
        .map_err(anyhow::Error::msg)?,
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    std::thread::Builder::new()
        .name("demo-witness".to_owned())
        .spawn(move || {
            let served = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| {
                    rt.block_on(async move {
                        let listener = tokio::net::TcpListener::from_std(listener)?;
                        axum::serve(listener, parcel_server::tlog::witness_router(svc)).await?;
                        anyhow::Ok(())
                    })
                });
            if let Err(e) = served {
                tracing::error!(error = %format!("{e:#}"), "the demo witness stopped");
            }
        })?;
    Ok(format!("http://{addr} {vkey}"))
}
