//! `cargo xtask browser-test`: the console's end-to-end tests in headless
//! Chromium. Starts `parcelguard serve --demo` (a small depot, the insider
//! early) on a free port, installs the pinned Playwright driver with
//! `npm ci` when needed, and runs `xtask/browser/console.test.mjs` against
//! the server. Screenshots land in `target/browser-screenshots/`.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// Stops the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let root = crate::workspace_root();
    let bin = match &args.bin {
        Some(b) => b.clone(),
        None => {
            let b = root.join("target/debug/parcelguard");
            if !b.exists() {
                let ok = Command::new(env!("CARGO"))
                    .args(["build", "-p", "parcelguard"])
                    .current_dir(&root)
                    .status()?
                    .success();
                if !ok {
                    bail!("cargo build -p parcelguard failed");
                }
            }
            b
        }
    };
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
    let demo_dir = root.join("target/browser-demo");
    let shots = root.join("target/browser-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let mut child = Command::new(&bin)
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--demo-insider-after",
            "5",
        ])
        .arg("--demo-dir")
        .arg(&demo_dir)
        .arg("--demo-shipments")
        .arg(args.shipments.to_string())
        .env("PARCELGUARD_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let server = Server(child);
    let banner = read_banner(stdout)?;
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
    drop(server);
    println!(
        "browser tests took {:.0} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        display(&shots)
    );
    if !status.success() {
        bail!("browser tests failed");
    }
    Ok(())
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

struct Banner {
    base: String,
    keys: Vec<(String, String)>,
}

impl Banner {
    fn key(&self, role: &str) -> Result<&str> {
        self.keys
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, k)| k.as_str())
            .with_context(|| format!("the demo printed no {role} key"))
    }
}

/// Reads the server's address and the demo keys from its stdout, then
/// keeps draining it on a thread so the server never blocks on a pipe.
fn read_banner(stdout: std::process::ChildStdout) -> Result<Banner> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                // The banner was read; keep draining.
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut base = None;
    let mut keys = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .context("the demo did not print its keys within 60 s")?;
        if let Some(addr) = line.strip_prefix("parcelguard listening on ") {
            base = Some(addr.trim().to_owned());
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("  ")
            && let (Some(role), Some(key)) = (words.first(), words.last())
            && key.starts_with("pgk_")
        {
            keys.push(((*role).to_owned(), (*key).to_owned()));
        }
        if line.contains("watch Alerts") {
            break;
        }
    }
    Ok(Banner {
        base: base.context("the server printed no address")?,
        keys,
    })
}
