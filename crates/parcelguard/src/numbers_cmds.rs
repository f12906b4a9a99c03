//! `parcelguard numbers …`: the pool file, employees' contact phones and a
//! listing of live bindings; the broker settings `serve` uses; and
//! `parcelguard label`, which prints what the label endpoints serve.

use std::io::{self, BufRead as _, Write as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use parcel_config::Config;
use parcel_vault::numbers::{Broker, NumberOptions};
use zeroize::Zeroizing;

use crate::cli::{LabelArgs, NumbersCommand};
use crate::vault_cmds::{now, open_vault};

/// The broker settings from `[numbers]`.
pub(crate) fn options(config: &Config) -> NumberOptions {
    let secs = |v: u64| i64::try_from(v).unwrap_or(i64::MAX / 4);
    NumberOptions {
        grace_secs: secs(config.numbers.grace_secs),
        default_window_secs: secs(config.numbers.default_window_secs),
        extensions: config.numbers.extensions,
    }
}

/// Ends expired bindings once a minute.
pub(crate) async fn expiry_loop(broker: Arc<Broker>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let b = broker.clone();
        match tokio::task::spawn_blocking(move || b.expire(now())).await {
            Ok(Ok(n)) if n > 0 => tracing::info!(ended = n, "expired privacy-number bindings"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "expiring bindings failed"),
            Err(e) => tracing::warn!(error = %e, "expiry task failed"),
        }
    }
}

pub(crate) fn numbers(config: &Config, cmd: NumbersCommand) -> Result<ExitCode> {
    let vault = open_vault(config)?;
    let broker = Broker::start(vault.clone(), options(config))?;
    let tenant = &config.vault.tenant;
    let mut out = io::stdout().lock();
    match cmd {
        NumbersCommand::LoadPool { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let lines = parcel_numbers::parse_pool(&text)
                .map_err(|e| anyhow::anyhow!("{}:{e}", file.display()))?;
            // Group by city, checking every number before anything is
            // stored, so a bad line adds nothing.
            let mut by_city: Vec<(String, Vec<String>)> = Vec::new();
            for l in &lines {
                if let Err(why) = parcel_vault::model::normalize_phone(&l.number) {
                    bail!("{}:{}: number: {why}", file.display(), l.line);
                }
                match by_city.iter_mut().find(|(c, _)| *c == l.city) {
                    Some((_, v)) => v.push(l.number.clone()),
                    None => by_city.push((l.city.clone(), vec![l.number.clone()])),
                }
            }
            let mut added = 0;
            for (city, numbers) in &by_city {
                added += broker.load_pool(tenant, city, numbers, "cli", now())?;
            }
            writeln!(
                out,
                "{} numbers read for {} cities; {added} new in the pool",
                lines.len(),
                by_city.len()
            )?;
        }
        NumbersCommand::SetPhone { principal } => {
            if vault.store().get_principal(tenant, &principal)?.is_none() {
                bail!("no principal {principal} in tenant {tenant}");
            }
            let mut line = Zeroizing::new(String::new());
            io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the phone from stdin")?;
            broker.set_contact_phone(tenant, &principal, line.trim(), "cli", now())?;
            writeln!(out, "contact phone of {principal} set (sealed)")?;
        }
        NumbersCommand::List => {
            for (t, city, number) in vault.store().pool_numbers()? {
                if t == *tenant {
                    writeln!(out, "pool\t{city}\t{number}")?;
                }
            }
            let mut live = vault.store().live_bindings()?;
            live.retain(|b| b.tenant == *tenant);
            live.sort_by(|a, b| a.waybill_no.cmp(&b.waybill_no));
            for b in &live {
                let ext = if b.ext == 0 {
                    String::new()
                } else {
                    format!(" ext {}", b.ext)
                };
                writeln!(
                    out,
                    "binding\t{}\t{}{ext}\t{}\tuntil {}",
                    b.waybill_no,
                    b.number,
                    b.courier,
                    parcel_tlog::entry::format_ts(b.expires_at.saturating_mul(1000))
                )?;
            }
            writeln!(out, "{} live bindings", live.len())?;
        }
    }
    if let Some(log) = vault.log() {
        log.close();
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn label(config: &Config, args: &LabelArgs) -> Result<ExitCode> {
    use parcel_server::labels::{Format, label_data, record_print, render};
    let format = args
        .output
        .extension()
        .and_then(|e| e.to_str())
        .and_then(Format::from_extension)
        .context("--output: name a .png, .pdf or .zpl file")?;
    let size: parcel_label::LabelSize = args
        .size
        .parse()
        .map_err(|_| anyhow::anyhow!("--size: expected 100x150 or 76x130"))?;
    let waybills: Vec<String> = match (&args.waybill_no, &args.batch) {
        (Some(w), None) => vec![w.clone()],
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect()
        }
        _ => bail!("give a waybill number or --batch FILE"),
    };
    if waybills.is_empty() {
        bail!("no waybill numbers to print");
    }
    if format == Format::Png && waybills.len() > 1 {
        bail!("a PNG holds one label: use a .pdf or .zpl output for --batch");
    }
    let vault = open_vault(config)?;
    let broker = if config.numbers.enabled {
        Some(Broker::start(vault.clone(), options(config))?)
    } else {
        None
    };
    let tenant = &config.vault.tenant;
    let bar = if waybills.len() > 1 && io::IsTerminal::is_terminal(&io::stderr()) {
        let bar = indicatif::ProgressBar::new(waybills.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} labels  {per_sec}  ETA {eta}",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let at = now();
    let mut layouts = Vec::with_capacity(waybills.len());
    for (i, w) in waybills.iter().enumerate() {
        let data = label_data(&vault, broker.as_deref(), tenant, w, at).map_err(|e| {
            let place = match &args.batch {
                Some(f) => format!("{}: entry {}", f.display(), i + 1),
                None => "waybill".to_owned(),
            };
            anyhow::anyhow!("{place} ({w}): {e}")
        })?;
        layouts.push(parcel_label::layout(&data, size)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let bytes = render(format, &layouts, args.dpi)?;
    record_print(&vault, tenant, "cli", &waybills, format, at)?;
    crate::commands::write_redacted(&args.output, |w| {
        w.write_all(&bytes)?;
        Ok(())
    })?;
    writeln!(
        io::stderr(),
        "wrote {} label(s) to {} ({} bytes)",
        waybills.len(),
        args.output.display(),
        bytes.len()
    )?;
    if let Some(log) = vault.log() {
        log.close();
    }
    Ok(ExitCode::SUCCESS)
}
