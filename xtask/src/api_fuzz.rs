//! `cargo xtask api-fuzz`: schemathesis (from PyPI, pinned, in a virtual
//! environment under target/) against `/openapi.json` of a running
//! `serve --demo`, as the admin. It fails on any 5xx, any response that
//! does not match the document (status, content type, headers, body), and
//! prints what it found.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

/// The schemathesis release this project was checked with.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";
/// The checks CI holds the API to. Input validation stricter than the
/// schema can say (a phone's format, a Luhn digit) is not a failure here,
/// so `positive_data_acceptance` is left out.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance";

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The parcelguard binary to test [default: target/debug/parcelguard].
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Examples per operation and phase.
    #[arg(long, default_value_t = 25)]
    max_examples: u32,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let st = install(&root.join("target/schemathesis-venv"))?;
    let bin = crate::demo_server::binary(args.bin.as_deref())?;
    let demo = crate::demo_server::start(&bin, &root.join("target/api-fuzz-demo"), 500)?;
    let admin = demo.banner.key("admin")?;
    let report = root.join("target/schemathesis");
    let status = Command::new(&st)
        .arg("run")
        .arg(format!("{}/openapi.json", demo.banner.base))
        .args(["--header", &format!("Authorization: Bearer {admin}")])
        .args(["--checks", CHECKS])
        .args(["--max-examples", &args.max_examples.to_string()])
        .args(["--seed", "20261203", "--workers", "2"])
        .args(["--report", "junit", "--report-dir"])
        .arg(&report)
        .status()
        .context("running schemathesis")?;
    drop(demo);
    if !status.success() {
        bail!(
            "schemathesis found failures (report in {})",
            report.display()
        );
    }
    Ok(())
}

/// The `schemathesis` executable, installed into `venv` when missing.
fn install(venv: &Path) -> Result<PathBuf> {
    let exe = venv.join("bin/schemathesis");
    let pinned = venv.join(".pinned");
    if exe.exists() && std::fs::read_to_string(&pinned).is_ok_and(|p| p == SCHEMATHESIS) {
        return Ok(exe);
    }
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(venv)
        .status()
        .context("running python3 -m venv")?
        .success();
    if !ok {
        bail!("python3 -m venv {} failed", venv.display());
    }
    let ok = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            SCHEMATHESIS,
        ])
        .status()
        .context("running pip")?
        .success();
    if !ok {
        bail!("pip install {SCHEMATHESIS} failed");
    }
    std::fs::write(&pinned, SCHEMATHESIS)?;
    Ok(exe)
}
