//! `cargo xtask browser-test`: the console's end-to-end tests in headless
//! Chromium. Starts `parcelguard serve --demo` (a small depot, the insider
//! early) on a free port, installs the pinned Playwright driver with
//! `npm ci` when needed, and runs `xtask/browser/console.test.mjs` against
//! the server. Screenshots land in `target/browser-screenshots/`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The parcelguard binary to test [default: target/debug/parcelguard,
    /// built first when missing].
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Chromium to drive.
    #[arg(long, default_value = "/usr/bin/chromium")]
    chromium: PathBuf,
    /// Shipments the demo seeds.
    #[arg(long, default_value_t = 3000)]
    shipments: usize,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let bin = crate::demo_server::binary(args.bin.as_deref())?;
    if !args.chromium.exists() {
        bail!(
            "{}: no Chromium here; install Debian's `chromium` package or pass --chromium",
            args.chromium.display()
        );
    }
    let tests = root.join("xtask/browser");
    if !tests.join("node_modules/playwright-core").exists() {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&tests)
            .status()
            .context("running npm (is Node.js installed?)")?
            .success();
        if !ok {
            bail!("npm ci in xtask/browser failed");
        }
    }
    let shots = root.join("target/browser-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let demo = crate::demo_server::start(&bin, &root.join("target/browser-demo"), args.shipments)?;
    let banner = &demo.banner;
    let started = Instant::now();
    let status = Command::new("node")
        .arg(tests.join("console.test.mjs"))
        .env("PG_BASE", &banner.base)
        .env("PG_KEY_AUDITOR", banner.key("security_auditor")?)
        .env("PG_KEY_COURIER", banner.key("courier")?)
        .env("PG_KEY_MANAGER", banner.key("station_manager")?)
        .env("PG_SCREENSHOTS", &shots)
        .env("CHROMIUM", &args.chromium)
        .status()
        .context("running node")?;
    drop(demo);
    println!(
        "browser tests took {:.0} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        shots.display()
    );
    if !status.success() {
        bail!("browser tests failed");
    }
    Ok(())
}
