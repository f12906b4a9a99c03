//! `parcelguard numbers …`: the pool file, employees' contact phones and a
//! listing of live bindings; and the broker settings `serve` uses.

use std::io::{self, BufRead as _, Write as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use parcel_config::Config;
use parcel_vault::numbers::{Broker, NumberOptions};
use zeroize::Zeroizing;

use crate::cli::NumbersCommand;
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
