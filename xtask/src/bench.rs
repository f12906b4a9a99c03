//! `cargo xtask bench-scan`: scanner throughput and peak memory on a dense
//! and a sparse synthetic corpus, against `rg -o -j1` with an equivalent
//! pattern union and against Presidio on a sample, all in one run.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Size of each corpus in MB (10^6 bytes).
    #[arg(long, default_value_t = 200)]
    size_mb: usize,
    /// Runs per measurement; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Size of the file used for the peak-memory check, in MB.
    #[arg(long, default_value_t = 1000)]
    rss_file_mb: usize,
    /// Bytes of the dense corpus given to Presidio, in KB.
    #[arg(long, default_value_t = 100)]
    presidio_kb: usize,
    /// Python interpreter with presidio-analyzer and en_core_web_sm installed.
    #[arg(long, default_value = "python3")]
    python: String,
    /// The spaCy model Presidio loads (a package name or path).
    #[arg(long, default_value = "en_core_web_sm")]
    spacy_model: String,
    /// Skip Presidio.
    #[arg(long)]
    skip_presidio: bool,
}

/// A pattern union covering the same types as the scanner, for ripgrep.
const RG_UNION: &str = concat!(
    r"(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}",
    r"|\(?0\d{2,3}\)?[- ]?\d{7,8}",
    r"|\d{17}[\dXx]|\d{15}",
    r"|\d{4}(?:[ -]?\d{4}){3}\d{0,3}",
    r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    r"|(?:SF|YT|JT|JD[A-Z]{0,2})\d{11,15}|[A-Z]{2}\d{9}[A-Z]{2}",
    r"|[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Z]·?[A-Z0-9]{5,6}",
    r"|[EG]\d{8}|E[A-Z]\d{7}",
    r"|(?:\d{1,3}\.){3}\d{1,3}",
    r"|(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{1,4}",
    r"|(?:收件人|寄件人|联系人|收货人|姓名)[:：]?\p{Han}{2,4}",
    r"|(?:北京|天津|上海|重庆|河北|山西|内蒙古|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|广西|海南|四川|贵州|云南|西藏|陕西|甘肃|青海|宁夏|新疆)[\p{Han}\d\-]{4,60}?[号室组楼]",
);

const PRESIDIO_SCRIPT: &str = r#"
import sys, time
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
nlp = NlpEngineProvider(nlp_configuration={
    "nlp_engine_name": "spacy",
    "models": [{"lang_code": "en", "model_name": sys.argv[2]}],
}).create_engine()
engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
engine.analyze(text="warm up 13812345678", language="en")
t = time.perf_counter()
n = 0
for line in lines:
    n += len(engine.analyze(text=line, language="en"))
dt = time.perf_counter() - t
print(f"{dt} {n}")
"#;

struct Measure {
    secs: f64,
    rss_kb: Option<u64>,
}

/// Builds `parcelguard` in release mode and returns its path.
pub(crate) fn release_binary(root: &Path) -> Result<std::path::PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let built = Command::new(&cargo)
        .current_dir(root)
        .args(["build", "--release", "--quiet", "-p", "parcelguard"])
        .status()?;
    if !built.success() {
        bail!("cargo build --release failed");
    }
    Ok(root.join("target/release/parcelguard"))
}

/// In a debug build, runs `cargo xtask TASK` again from a release build with
/// the same arguments (so optimised code is measured) and returns `true`;
/// in a release build returns `false` and the caller goes on.
pub(crate) fn rerun_in_release(root: &Path, task: &str) -> Result<bool> {
    if !cfg!(debug_assertions) {
        return Ok(false);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["run", "--release", "--quiet", "-p", "xtask", "--", task])
        .args(std::env::args().skip_while(|a| a != task).skip(1))
        .status()?;
    if !status.success() {
        bail!("{task} (release) failed");
    }
    Ok(true)
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs `cmd args` with stdout discarded; returns wall time and peak RSS
/// (via GNU time when available).
fn run_once(cmd: &Path, args: &[&str], ok_codes: &[i32]) -> Result<Measure> {
    run_with_sink(cmd, args, ok_codes, None)
}

/// As [`run_once`], but with `Some(rate)` stdout goes through a pipe that is
/// read no faster than `rate` bytes a second: a consumer slower than the
/// scanner (a `| gzip`, a busy log shipper), which is where unbounded queues
/// inside the scanner would show up as memory.
fn run_with_sink(
    cmd: &Path,
    args: &[&str],
    ok_codes: &[i32],
    throttle: Option<u64>,
) -> Result<Measure> {
    let gnu_time = Path::new("/usr/bin/time");
    let rss_file = std::env::temp_dir().join(format!("pg-bench-rss-{}", std::process::id()));
    let mut command = if gnu_time.exists() {
        let mut c = Command::new(gnu_time);
        c.arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&rss_file)
            .arg(cmd)
            .args(args);
        c
    } else {
        let mut c = Command::new(cmd);
        c.args(args);
        c
    };
    command
        .stdout(if throttle.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("running {}", cmd.display()))?;
    if let (Some(rate), Some(mut out)) = (throttle, child.stdout.take()) {
        let mut buf = vec![0u8; 64 * 1024];
        let mut read = 0u64;
        loop {
            let n = out.read(&mut buf).context("reading the scanner's output")?;
            if n == 0 {
                break;
            }
            read += n as u64;
            let due = std::time::Duration::from_secs_f64(read as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    let status = child
        .wait()
        .with_context(|| format!("running {}", cmd.display()))?;
    let secs = start.elapsed().as_secs_f64();
    let code = status.code().unwrap_or(-1);
    if !ok_codes.contains(&code) {
        bail!("{} {} exited with {code}", cmd.display(), args.join(" "));
    }
    let rss_kb = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()));
    let _ = std::fs::remove_file(&rss_file);
    Ok(Measure { secs, rss_kb })
}

pub(crate) fn measure(cmd: &Path, args: &[&str], ok: &[i32], runs: usize) -> Result<(f64, u64)> {
    let mut secs = Vec::new();
    let mut rss = 0;
    for _ in 0..runs.max(1) {
        let m = run_once(cmd, args, ok)?;
        secs.push(m.secs);
        rss = rss.max(m.rss_kb.unwrap_or(0));
    }
    Ok((median(secs), rss))
}

fn corpus(dir: &Path, name: &str, seed: u64, fraction: f64, bytes: usize) -> Result<PathBuf> {
    let path = dir.join(format!("{name}-{seed}-{bytes}.txt"));
    if path
        .metadata()
        .map(|m| m.len() as usize >= bytes)
        .unwrap_or(false)
    {
        return Ok(path);
    }
    eprintln!(
        "generating {} ({} MB)...",
        path.display(),
        bytes / 1_000_000
    );
    let mut out = Vec::with_capacity(bytes + (1 << 20));
    parcel_synth::generate_corpus(seed, bytes, fraction, &mut out);
    std::fs::write(&path, &out).with_context(|| path.display().to_string())?;
    Ok(path)
}

fn ensure_ripgrep() -> Result<PathBuf> {
    if let Ok(out) = Command::new("rg").arg("--version").output()
        && out.status.success()
    {
        return Ok(PathBuf::from("rg"));
    }
    eprintln!("installing ripgrep from Debian's packages...");
    let ok = Command::new("apt-get")
        .args(["install", "-y", "ripgrep"])
        .status()?
        .success()
        || (Command::new("apt-get").arg("update").status()?.success()
            && Command::new("apt-get")
                .args(["install", "-y", "ripgrep"])
                .status()?
                .success());
    if !ok {
        bail!("ripgrep is needed: apt-get install ripgrep");
    }
    Ok(PathBuf::from("rg"))
}

fn which(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| PathBuf::from(name))
}

pub(crate) fn run(args: &BenchArgs) -> Result<()> {
    let root = crate::workspace_root();
    let dir = root.join("target/bench-scan");
    std::fs::create_dir_all(&dir)?;
    let pg = release_binary(&root)?;
    let rg = which(ensure_ripgrep()?.to_str().unwrap_or("rg"));
    let bytes = args.size_mb * 1_000_000;
    let dense = corpus(&dir, "dense", 1, 1.0, bytes)?;
    let sparse = corpus(&dir, "sparse", 2, 0.01, bytes)?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let jn = cores.to_string();

    let mut rows = Vec::new();
    for (label, path) in [
        ("dense parcel data (every line has PII)", &dense),
        ("sparse logs (1% of lines have PII)", &sparse),
    ] {
        let size = path.metadata()?.len() as f64 / 1e6;
        let p = path.to_str().context("non-UTF-8 path")?;
        let (t1, rss1) = measure(
            &pg,
            &["scan", p, "-j", "1", "--format", "jsonl", "-q"],
            &[0, 1],
            args.runs,
        )?;
        let (tn, rssn) = measure(
            &pg,
            &["scan", p, "-j", &jn, "--format", "jsonl", "-q"],
            &[0, 1],
            args.runs,
        )?;
        let (trg, rssrg) = measure(
            &rg,
            &["-o", "-j1", "--no-filename", "-e", RG_UNION, p],
            &[0, 1],
            args.runs,
        )?;
        rows.push(format!(
            "| {label} | {size:.0} MB | {:.0} MB/s ({:.1} MB RSS) | {:.0} MB/s ({:.1} MB RSS) | {:.0} MB/s ({:.1} MB RSS) | {:.2}× |",
            size / t1,
            rss1 as f64 / 1024.0,
            size / tn,
            rssn as f64 / 1024.0,
            size / trg,
            rssrg as f64 / 1024.0,
            trg / t1,
        ));
    }

    // Peak memory on a large file: the dense corpus repeated.
    let big = dir.join(format!("big-{}.txt", args.rss_file_mb));
    if big
        .metadata()
        .map(|m| (m.len() as usize) < args.rss_file_mb * 1_000_000)
        .unwrap_or(true)
    {
        let mut src = Vec::new();
        File::open(&dense)?.read_to_end(&mut src)?;
        let mut f = File::create(&big)?;
        let mut written = 0;
        while written < args.rss_file_mb * 1_000_000 {
            f.write_all(&src)?;
            written += src.len();
        }
    }
    let big_mb = big.metadata()?.len() as f64 / 1e6;
    let (tbig, rssbig) = measure(&pg, &jsonl_scan(&big, &jn)?, &[0, 1], 1)?;

    // Peak memory when the output is read slowly: findings must wait in a
    // bounded queue, not pile up in memory.
    const SLOW_READER: u64 = 100_000_000;
    let slow = run_with_sink(&pg, &jsonl_scan(&dense, &jn)?, &[0, 1], Some(SLOW_READER))?;

    // Presidio on a sample of the dense corpus.
    let presidio = if args.skip_presidio {
        "skipped (--skip-presidio)".to_owned()
    } else {
        match presidio(args, &dense, &dir, &pg) {
            Ok(s) => s,
            Err(e) => format!("not run: {e:#}"),
        }
    };

    println!(
        "## Scanner throughput ({cores} cores, median of {} runs)\n",
        args.runs
    );
    println!(
        "| corpus | size | parcelguard -j1 | parcelguard -j{cores} | rg -o -j1 (pattern union) | parcelguard -j1 vs rg |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for r in rows {
        println!("{r}");
    }
    println!(
        "\nPeak memory: {big_mb:.0} MB file, -j{cores}: {:.1} MB RSS, {:.0} MB/s.\n",
        rssbig as f64 / 1024.0,
        big_mb / tbig
    );
    println!(
        "Peak memory with a slow consumer: {} MB dense corpus, -j{cores}, JSONL read at {} MB/s: {:.1} MB RSS.\n",
        args.size_mb,
        SLOW_READER / 1_000_000,
        slow.rss_kb.unwrap_or(0) as f64 / 1024.0
    );
    println!("Presidio: {presidio}");
    Ok(())
}

/// `parcelguard` arguments for a quiet JSONL scan of `path` with `jobs` workers.
fn jsonl_scan<'a>(path: &'a Path, jobs: &'a str) -> Result<[&'a str; 7]> {
    let path = path.to_str().context("corpus path is not UTF-8")?;
    Ok(["scan", path, "-j", jobs, "--format", "jsonl", "-q"])
}

fn presidio(args: &BenchArgs, dense: &Path, dir: &Path, pg: &Path) -> Result<String> {
    let sample_bytes = args.presidio_kb * 1000;
    let sample = dir.join(format!("presidio-sample-{sample_bytes}.txt"));
    let mut taken = 0;
    let mut out = File::create(&sample)?;
    for line in BufReader::new(File::open(dense)?).lines() {
        let line = line?;
        if taken + line.len() + 1 > sample_bytes {
            break;
        }
        writeln!(out, "{line}")?;
        taken += line.len() + 1;
    }
    drop(out);
    let script = dir.join("presidio_bench.py");
    std::fs::write(&script, PRESIDIO_SCRIPT)?;
    let o = Command::new(&args.python)
        .arg(&script)
        .arg(&sample)
        .arg(&args.spacy_model)
        .output()?;
    if !o.status.success() {
        bail!(
            "presidio failed (install presidio-analyzer and an en_core_web_sm model): {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let text = String::from_utf8_lossy(&o.stdout);
    let mut parts = text.split_whitespace();
    let secs: f64 = parts.next().context("no timing from presidio")?.parse()?;
    let found: u64 = parts.next().context("no count from presidio")?.parse()?;
    let mb = taken as f64 / 1e6;
    let s = sample.to_str().context("path")?;
    let (ours, _) = measure(
        pg,
        &["scan", s, "-j", "1", "--format", "jsonl", "-q"],
        &[0, 1],
        3,
    )?;
    let ours_out = Command::new(pg)
        .args(["scan", s, "-j", "1", "--format", "jsonl", "-q"])
        .output()?;
    let our_count = ours_out.stdout.iter().filter(|&&b| b == b'\n').count();
    Ok(format!(
        "{:.3} MB/s on a {:.2} MB sample of the dense corpus ({found} findings); parcelguard -j1 on the same sample: {:.1} MB/s including process start-up ({our_count} findings), {:.0}× faster",
        mb / secs,
        mb,
        mb / ours,
        secs / ours
    ))
}
