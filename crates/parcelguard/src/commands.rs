//! Subcommand implementations: thin glue between the CLI, configuration and
//! the library crates.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal as _, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use parcel_config::Config;
use parcel_detect::mask::{Operator, Redactor};
use parcel_detect::{Detector, Options, PiiType};
use parcel_keys::{EnvKey, KeyProvider, LocalKeyFile};
use parcel_scan::output::{Format, Printer};
use parcel_scan::scan::{FileEvent, ScanOptions, ValueMode};

use crate::cli::{Cli, Command, FormatArg, LogFormatArg, RedactArgs, ScanArgs, ShowValues};

/// Loads configuration (file, environment, then flags) and runs the command.
pub(crate) fn run(cli: Cli) -> Result<ExitCode> {
    let mut config = Config::load(cli.global.config.as_deref(), std::env::vars())?.config;
    if let Some(dir) = cli.global.data_dir {
        config.data_dir = dir;
    }
    if let Some(f) = cli.global.log_format {
        config.log.format = match f {
            LogFormatArg::Human => "human",
            LogFormatArg::Json => "json",
        }
        .to_owned();
    }
    if let Some(l) = cli.global.log_level {
        config.log.level = l;
    }
    if let Some(url) = cli.global.database {
        config.database.url = url;
    }
    parcel_telemetry::init(config.log.format.parse()?, &config.log.level)?;

    match cli.command {
        Command::Init => init(&config),
        Command::Scan(args) => scan(&config, args),
        Command::Redact(args) => redact(&config, args),
        Command::Serve(args) => crate::vault_cmds::serve(&config, args),
        Command::Import(args) => crate::vault_cmds::import(&config, args),
        Command::Keys(cmd) => crate::vault_cmds::keys(&config, cmd),
        Command::Log(cmd) => crate::log_cmds::log(&config, cmd),
        Command::Policy(cmd) => crate::access_cmds::policy(cmd),
        Command::Numbers(cmd) => crate::numbers_cmds::numbers(&config, cmd),
        Command::Label(args) => crate::numbers_cmds::label(&config, &args),
        Command::Witness(args) => crate::log_cmds::witness(&config, args),
        Command::Watch(args) => crate::risk_cmds::watch(args),
    }
}

fn init(config: &Config) -> Result<ExitCode> {
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create the data directory", dir.display()))?;
    let mut out = io::stdout().lock();
    writeln!(out, "created data directory {}", dir.display())?;
    match config.keys.provider.as_str() {
        "pkcs11" => {
            let hsm = crate::vault_cmds::pkcs11(config)?;
            let created = hsm.init()?;
            writeln!(
                out,
                "{} the root key and key-encryption key in {} (key id {})",
                if created { "created" } else { "found" },
                hsm.describe(),
                hsm.key_id()?
            )?;
        }
        "env" => {
            let key = EnvKey::from_var(&config.keys.env_var)?;
            writeln!(
                out,
                "using the root key from {} (key id {})",
                key.describe(),
                key.key_id()?
            )?;
        }
        _ => {
            let key_path = parcel_keys::init_local(dir)?;
            let key = LocalKeyFile::open(dir)?;
            writeln!(
                out,
                "created root key {} (mode 0600, key id {})",
                key_path.display(),
                key.key_id()?
            )?;
            writeln!(
                out,
                "back the key up somewhere safe: data encrypted under it cannot be read without it"
            )?;
        }
    }
    crate::vault_cmds::init_vault(config, &mut out)?;
    tracing::info!(data_dir = %dir.display(), "initialised");
    Ok(ExitCode::SUCCESS)
}

fn key_provider(config: &Config) -> Result<std::sync::Arc<dyn KeyProvider>> {
    crate::vault_cmds::key_provider(config)
}

fn parse_types(list: &[String]) -> Result<Option<Vec<PiiType>>> {
    if list.is_empty() {
        return Ok(None);
    }
    let types = list
        .iter()
        .map(|t| t.trim().parse::<PiiType>())
        .collect::<Result<Vec<_>, _>>()
        .context("--types")?;
    Ok(Some(types))
}

fn min_score(flag: Option<f32>, config: &Config) -> Result<f32> {
    let v = flag.unwrap_or(config.scan.min_score as f32);
    if !(0.0..=1.0).contains(&v) {
        bail!("--min-score: must be between 0 and 1");
    }
    Ok(v)
}

fn scan(config: &Config, args: ScanArgs) -> Result<ExitCode> {
    let detector = Detector::new()?;
    let jobs = match args.jobs.unwrap_or(config.scan.jobs as usize) {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let opts = ScanOptions {
        jobs,
        detect: Options {
            explain: args.explain,
            min_score: min_score(args.min_score, config)?,
        },
        types: parse_types(&args.types)?,
        values: match args.show_values {
            None => ValueMode::Hidden,
            Some(ShowValues::Masked) => ValueMode::Masked,
            Some(ShowValues::Full) => ValueMode::Full,
        },
        ..ScanOptions::default()
    };
    let walk = parcel_scan::input::WalkOptions {
        hidden: args.hidden || config.scan.hidden,
        globs: args.globs.clone(),
    };
    let paths = if !args.paths.is_empty() {
        args.paths.clone()
    } else if io::stdin().is_terminal() {
        vec![".".to_owned()]
    } else {
        vec!["-".to_owned()]
    };
    let (inputs, walk_issues) = parcel_scan::input::collect(&paths, &walk)?;
    let mut errors = 0u64;
    for issue in &walk_issues {
        errors += 1;
        eprintln!("warning: {}: {}", issue.path, issue.message);
    }
    let stdout = io::stdout();
    let format = match args.format {
        Some(FormatArg::Jsonl) => Format::Jsonl,
        Some(FormatArg::Sarif) => Format::Sarif,
        Some(FormatArg::Table) => Format::Table,
        None if stdout.is_terminal() => Format::Table,
        None => Format::Jsonl,
    };
    let mut printer = Printer::new(BufWriter::new(stdout.lock()), format, args.explain);
    let mut write_error: Option<io::Error> = None;
    let summary = parcel_scan::scan::run(&detector, &inputs, &opts, |event| match event {
        FileEvent::Findings { path, findings, .. } => {
            if write_error.is_none()
                && let Err(e) = printer.findings(&path, &findings)
            {
                write_error = Some(e);
            }
        }
        FileEvent::Done(report) => {
            for issue in &report.issues {
                eprintln!("warning: {}: {}", report.path, issue.message);
            }
        }
    });
    if let Some(e) = write_error
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        return Err(e).context("writing results");
    }
    printer.finish().or_else(|e| {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    errors += summary.files_with_issues;
    if !args.quiet {
        let per_type: Vec<String> = summary
            .per_type
            .iter()
            .map(|(t, n)| format!("{t}={n}"))
            .collect();
        eprintln!(
            "scanned {} files ({} skipped as binary), {:.1} MB in {:.2}s ({:.1} MB/s); {} findings{}{}{}",
            summary.files,
            summary.binary_skipped,
            summary.bytes as f64 / 1e6,
            summary.elapsed.as_secs_f64(),
            summary.mb_per_s(),
            summary.findings(),
            if per_type.is_empty() { "" } else { ": " },
            per_type.join(", "),
            if errors > 0 {
                format!("; {errors} files with problems")
            } else {
                String::new()
            },
        );
    }
    Ok(if errors > 0 {
        ExitCode::from(2)
    } else if summary.findings() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn parse_ops(list: &[String]) -> Result<parcel_scan::redact::Operators> {
    let mut ops = parcel_scan::redact::Operators {
        default: Operator::Mask,
        per_type: HashMap::new(),
    };
    for item in list {
        match item.split_once('=') {
            Some((t, op)) => {
                let t: PiiType = t.parse().with_context(|| format!("--op {item}"))?;
                let op: Operator = op
                    .parse()
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("--op {item}"))?;
                ops.per_type.insert(t, op);
            }
            None => {
                ops.default = item
                    .parse()
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("--op {item}"))?;
            }
        }
    }
    Ok(ops)
}

fn redact(config: &Config, args: RedactArgs) -> Result<ExitCode> {
    let ops = parse_ops(&args.ops)?;
    let needs_keys = std::iter::once(&ops.default)
        .chain(ops.per_type.values())
        .any(|op| matches!(op, Operator::Hash | Operator::Fpe));
    let redactor = if needs_keys {
        let keys = key_provider(config).context("the hash and fpe operators need the key store")?;
        let hmac = keys.derive("scan/redact-hmac")?;
        let fpe = keys.derive("scan/redact-ff1")?;
        Redactor::with_keys(hmac.expose(), fpe.expose())
    } else {
        Redactor::without_keys()
    };
    let detector = Detector::new()?;
    let opts = Options {
        explain: false,
        min_score: min_score(args.min_score, config)?,
    };
    let types = parse_types(&args.types)?;
    let input = if args.input == "-" {
        parcel_scan::input::Input::Stdin
    } else {
        parcel_scan::input::Input::File(args.input.clone().into())
    };
    let reader = parcel_scan::input::open(&input).with_context(|| input.display())?;
    let redaction = parcel_scan::redact::Redaction {
        detector: &detector,
        redactor: &redactor,
        ops: &ops,
        opts: &opts,
        types: types.as_deref(),
    };
    let summary = match &args.output {
        None => redaction.run(reader, BufWriter::new(io::stdout().lock()), "<stdout>")?,
        Some(path) => write_redacted(path, |out| {
            Ok(redaction.run(reader, out, &path.display().to_string())?)
        })?,
    };
    let total: u64 = summary.per_type.values().sum();
    eprintln!(
        "redacted {total} values in {:.1} MB from {}",
        summary.bytes as f64 / 1e6,
        input.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes to a temporary file beside `path` and renames it into place, so a
/// failed run never leaves a half-written copy.
pub(crate) fn write_redacted<T>(
    path: &Path,
    f: impl FnOnce(&mut dyn Write) -> Result<T>,
) -> Result<T> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().context("--output needs a file name")?;
    let tmp = dir.join(format!(".{}.parcelguard-tmp", name.to_string_lossy()));
    let file = File::create(&tmp).with_context(|| tmp.display().to_string())?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    let mut w = BufWriter::new(file);
    let result = if gz {
        let mut enc = flate2::write::GzEncoder::new(&mut w, flate2::Compression::default());
        f(&mut enc).and_then(|v| {
            enc.finish()?;
            Ok(v)
        })
    } else {
        f(&mut w)
    };
    let result = result.and_then(|v| {
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(v)
    });
    match result {
        Ok(v) => {
            std::fs::rename(&tmp, path).with_context(|| path.display().to_string())?;
            // Make the rename itself durable.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .with_context(|| dir.display().to_string())?;
            Ok(v)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
