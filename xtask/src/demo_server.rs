//! A `parcelguard serve --demo` for the end-to-end checks (browser tests,
//! API fuzzing): a small depot on a free port, its address and demo keys
//! read from its banner, stopped when dropped.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// A running demo server; dropping it stops the server.
pub(crate) struct Demo {
    child: Child,
    /// What it printed.
    pub(crate) banner: Banner,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The parcelguard binary to run: `given`, or target/debug/parcelguard
/// (built first when missing).
pub(crate) fn binary(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(b) = given {
        return Ok(b.to_path_buf());
    }
    let root = crate::workspace_root();
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
    Ok(b)
}

/// Starts `bin serve --demo` in `dir` with `shipments` and the insider
/// starting 5 s after seeding.
pub(crate) fn start(bin: &Path, dir: &Path, shipments: usize) -> Result<Demo> {
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--demo-insider-after",
            "5",
        ])
        .arg("--demo-dir")
        .arg(dir)
        .arg("--demo-shipments")
        .arg(shipments.to_string())
        .env("PARCELGUARD_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    // Owned before reading, so a failure below still stops the server.
    let mut demo = Demo {
        child,
        banner: Banner {
            base: String::new(),
            keys: Vec::new(),
        },
    };
    demo.banner = read_banner(stdout)?;
    Ok(demo)
}

/// The server's address and its demo keys by role.
pub(crate) struct Banner {
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    keys: Vec<(String, String)>,
}

impl Banner {
    /// The demo key printed for `role`.
    pub(crate) fn key(&self, role: &str) -> Result<&str> {
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
