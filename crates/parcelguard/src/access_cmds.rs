//! Access control from the command line: `policy validate|test|schema`,
//! the API-key commands of `keys`, and the reveal set-up `serve` uses
//! (policies from `reveal.policy_dir`, quotas, SIGHUP reload).

use std::io::{self, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use parcel_config::Config;
use parcel_policy::{Engine, Policies, PolicyError};
use parcel_server::access::Access;
use parcel_vault::Vault;
use parcel_vault::reveal::RevealOptions;
use parcel_vault::store::Principal;

use crate::cli::PolicyCommand;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub(crate) fn policy(cmd: PolicyCommand) -> Result<ExitCode> {
    let mut out = io::stdout().lock();
    match cmd {
        PolicyCommand::Schema => {
            write!(out, "{}", parcel_policy::SCHEMA_SRC)?;
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Validate { dir } => match Policies::from_dir(&dir) {
            Ok(p) => {
                writeln!(
                    out,
                    "OK: {} policies in {} valid against the schema; version {}",
                    p.len(),
                    dir.display(),
                    p.version()
                )?;
                Ok(ExitCode::SUCCESS)
            }
            Err(PolicyError::Invalid(problems)) => {
                let mut err = io::stderr().lock();
                for p in &problems {
                    writeln!(err, "{p}")?;
                }
                writeln!(
                    err,
                    "{} problems; nothing is valid until all are fixed",
                    problems.len()
                )?;
                Ok(ExitCode::from(1))
            }
            Err(e) => Err(e.into()),
        },
        PolicyCommand::Test { dir, cases } => {
            let policies = Policies::from_dir(&dir)?;
            let version = policies.version().to_owned();
            let engine = Engine::new(policies)?;
            let text = std::fs::read_to_string(&cases)
                .with_context(|| format!("{}: cannot read", cases.display()))?;
            let results = parcel_policy::cases::run(&engine, &cases.display().to_string(), &text)?;
            let failed: Vec<_> = results.iter().filter(|r| !r.passed()).collect();
            for r in &failed {
                writeln!(
                    out,
                    "FAIL {}:{}: {}: expected {}{}, got {}{} (policies: {})",
                    cases.display(),
                    r.line,
                    r.name,
                    r.expected,
                    r.expected_reason
                        .as_ref()
                        .map(|x| format!(" ({x})"))
                        .unwrap_or_default(),
                    if r.decision.allowed { "allow" } else { "deny" },
                    r.decision
                        .reason
                        .as_ref()
                        .map(|x| format!(" ({x})"))
                        .unwrap_or_default(),
                    r.decision.policies.join(", ")
                )?;
            }
            writeln!(
                out,
                "policy cases ({version}): {} passed, {} failed",
                results.len() - failed.len(),
                failed.len()
            )?;
            Ok(if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// The reveal set-up from `[reveal]`: policies (directory or built-in),
/// grace period, break-glass timing and quotas.
pub(crate) fn access(config: &Config) -> Result<Access> {
    let r = &config.reveal;
    let policy_dir = (!r.policy_dir.is_empty()).then(|| PathBuf::from(&r.policy_dir));
    let policies = match &policy_dir {
        Some(dir) => Policies::from_dir(dir).context("[reveal] policy_dir")?,
        None => Policies::builtin()?,
    };
    let secs = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let quotas = ["courier", "customer_service", "station_manager", "admin"]
        .iter()
        .map(|role| {
            let (h, d) = r.quota.for_role(role);
            ((*role).to_owned(), secs(h), secs(d))
        })
        .collect();
    Ok(Access {
        engine: Arc::new(Engine::new(policies)?),
        options: RevealOptions {
            grace_secs: secs(r.grace_secs),
            break_glass_secs: secs(r.break_glass_secs),
            quotas,
            quota_lease: secs(r.quota.lease.max(1)),
        },
        policy_dir,
    })
}

/// Reloads the policies on every SIGHUP; a set that does not validate is
/// reported and the one in force stays.
pub(crate) async fn reload_on_sighup(access: Arc<Access>, vault: Arc<Vault>) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP; reload policies through the API");
            return;
        };
        while hup.recv().await.is_some() {
            let (a, v) = (access.clone(), vault.clone());
            let done = tokio::task::spawn_blocking(move || -> Result<(String, String)> {
                let (old, new) = a.reload()?;
                if old != new {
                    parcel_server::access::record_policy_version(&v, "sighup", &old, &new)?;
                }
                Ok((old, new))
            })
            .await;
            match done {
                Ok(Ok((old, new))) => tracing::info!(%old, %new, "policy set reloaded on SIGHUP"),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "policy reload failed; the previous set stays in force")
                }
                Err(e) => tracing::error!(error = %e, "policy reload task failed"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (access, vault);
}

/// `keys create-api-key`.
pub(crate) fn create_api_key(
    config: &Config,
    vault: &Vault,
    principal: &str,
    role: Option<&str>,
    station: Option<&str>,
    days: i64,
) -> Result<()> {
    let tenant = &config.vault.tenant;
    let store = vault.store();
    store.put_tenant(tenant, tenant, now())?;
    if let Some(role) = role {
        if !parcel_policy::ROLES.contains(&role) {
            bail!(
                "--role {role}: expected one of {}",
                parcel_policy::ROLES.join(", ")
            );
        }
        let existing = store.get_principal(tenant, principal)?;
        store.put_principal(&Principal {
            tenant: tenant.clone(),
            id: principal.to_owned(),
            role: role.to_owned(),
            station: station.map(str::to_owned),
            status: existing
                .as_ref()
                .map_or_else(|| "active".to_owned(), |p| p.status.clone()),
            created_at: existing.map_or_else(now, |p| p.created_at),
        })?;
    }
    if !(1..=3650).contains(&days) {
        bail!("--expires-in-days {days}: 1 to 3650");
    }
    let key = parcel_server::access::issue_key(vault, tenant, "cli", principal, days)
        .map_err(|e| anyhow::anyhow!("{}", e.body()["message"].as_str().unwrap_or("failed")))
        .with_context(|| format!("--principal {principal} (create it with --role)"))?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "API key for {principal} (shown once, stored only as a hash; id {}, expires in {days} days):",
        key.record.id
    )?;
    writeln!(out, "  {}", key.secret)?;
    Ok(())
}

/// `keys list`.
pub(crate) fn list_keys(config: &Config, vault: &Vault) -> Result<()> {
    let mut out = io::stdout().lock();
    let fmt = |t: Option<i64>| {
        t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "-".to_owned())
    };
    writeln!(
        out,
        "{:<16} {:<16} {:<22} {:<22} status",
        "id", "principal", "created", "expires"
    )?;
    for k in vault.store().list_api_keys(&config.vault.tenant)? {
        let status = if k.revoked_at.is_some() {
            "revoked"
        } else if k.expires_at.is_some_and(|e| e <= now()) {
            "expired"
        } else {
            "live"
        };
        writeln!(
            out,
            "{:<16} {:<16} {:<22} {:<22} {status}",
            k.id,
            k.principal,
            fmt(Some(k.created_at)),
            fmt(k.expires_at)
        )?;
    }
    Ok(())
}

/// The single-sign-on verifier from `[auth]`, if `auth.jwks` is set: the
/// key set is read from a file or fetched once from its URL at start-up.
pub(crate) fn oidc(config: &Config) -> Result<Option<parcel_server::oidc::OidcVerifier>> {
    let a = &config.auth;
    if a.jwks.is_empty() {
        return Ok(None);
    }
    let text = if a.jwks.starts_with("https://") || a.jwks.starts_with("http://") {
        ureq::get(&a.jwks)
            .call()
            .and_then(|mut r| r.body_mut().read_to_string())
            .with_context(|| format!("[auth] jwks: fetching {}", a.jwks))?
    } else {
        std::fs::read_to_string(&a.jwks).with_context(|| format!("[auth] jwks: {}", a.jwks))?
    };
    let verifier = parcel_server::oidc::OidcVerifier::from_jwks(
        &text,
        parcel_server::oidc::OidcSettings {
            issuer: a.issuer.clone(),
            audience: a.audience.clone(),
            claim: a.claim.clone(),
            leeway_secs: a.leeway_secs,
        },
    )
    .context("[auth]")?;
    Ok(Some(verifier))
}
