//! `cargo xtask risk-eval`: the insider-risk evaluation at full size.
//!
//! Simulates the workforce (`parcel_synth::workforce`), writes its events
//! as JSON lines, replays them through the release `parcelguard watch` at
//! the budget (5 alerts a day per 1,000 employees), and prints the
//! per-scenario recall and time-to-alert table, the alert budget's use and
//! the replay speed (median of `--runs`), for docs/insider-risk.md and
//! docs/benchmarks.md.

use std::io::{BufRead as _, BufWriter, Write as _};
use std::path::Path;

use anyhow::{Context as _, Result};
use clap::Args as ClapArgs;
use parcel_risk::eval::{self, Raised, Truth};
use parcel_synth::workforce::{Workforce, WorkforceConfig};

use crate::bench::{measure, median, release_binary, rerun_in_release};

#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// Employees simulated.
    #[arg(long, default_value_t = 500)]
    employees: usize,
    /// Days simulated (from 2026-10-21, so 11.11 is day 21).
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Insiders per scenario.
    #[arg(long, default_value_t = 2)]
    insiders: usize,
    /// Simulator seeds, comma-separated; one table each.
    #[arg(long, value_delimiter = ',', default_value = "7,8,9")]
    seeds: Vec<u64>,
    /// Timed replays per seed (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let root = crate::workspace_root();
    if rerun_in_release(&root, "risk-eval")? {
        return Ok(());
    }
    let bin = release_binary(&root)?;
    let dir = root.join("target/risk-eval");
    std::fs::create_dir_all(&dir)?;
    let mut speeds = Vec::new();
    println!("## Insider-risk evaluation\n");
    println!(
        "`cargo xtask risk-eval --employees {} --days {} --insiders {} --runs {}`\n",
        args.employees, args.days, args.insiders, args.runs
    );
    for &seed in &args.seeds {
        let config = WorkforceConfig {
            employees: args.employees,
            days: args.days,
            insiders_per_scenario: args.insiders,
            seed,
            ..WorkforceConfig::default()
        };
        let events_path = dir.join(format!("events-{seed}.jsonl"));
        let (truth, events, bytes, employees) = simulate(&config, &events_path)?;
        let budget = 5.0 * employees as f64 / 1000.0;
        let alerts_path = dir.join(format!("alerts-{seed}.jsonl"));
        let k = format!("{budget}");
        let watch_args = [
            "watch",
            "--events",
            path_str(&events_path)?,
            "--alerts-per-day",
            &k,
            "-o",
            path_str(&alerts_path)?,
        ];
        let (secs, rss_kb) = measure(&bin, &watch_args, &[0, 1], args.runs)?;
        let raised = read_alerts(&alerts_path)?;
        let peak = config
            .peak_day
            .map(|d| config.start_ms + i64::from(d) * 86_400_000);
        let report = eval::evaluate(&truth, &raised, budget, 8 * 3600, peak);
        println!(
            "### seed {seed}: {employees} employees, {} days, {events} events ({:.0} MB)\n",
            config.days,
            bytes as f64 / 1e6
        );
        println!("{report}");
        let rate = events as f64 / secs;
        speeds.push(rate);
        println!(
            "replay: {secs:.2} s median of {} ({:.2} M events/s, {:.0} MB/s, peak RSS {} MB)\n",
            args.runs,
            rate / 1e6,
            bytes as f64 / 1e6 / secs,
            rss_kb / 1024
        );
    }
    println!(
        "median replay speed over seeds: {:.2} M events/s on one core (target ≥ 1 M/s)",
        median(speeds) / 1e6
    );
    Ok(())
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().context("non-UTF-8 path")
}

fn simulate(config: &WorkforceConfig, path: &Path) -> Result<(Vec<Truth>, u64, u64, usize)> {
    let mut workforce = Workforce::new(config.clone());
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    let mut events = 0u64;
    let mut bytes = 0u64;
    let mut line = Vec::new();
    for d in 0..config.days {
        for ev in workforce.day(d) {
            line.clear();
            serde_json::to_writer(&mut line, &ev)?;
            line.push(b'\n');
            out.write_all(&line)?;
            events += 1;
            bytes += line.len() as u64;
        }
    }
    out.flush()?;
    let truth = workforce
        .insiders()
        .into_iter()
        .map(|i| Truth {
            actor: i.actor,
            scenario: i.scenario.to_string(),
            first_ts_ms: i.first_ts,
            deadline_hours: i.deadline_hours,
        })
        .collect();
    Ok((truth, events, bytes, workforce.employees()))
}

fn read_alerts(path: &Path) -> Result<Vec<Raised>> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut out = Vec::new();
    for line in file.lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let actor = v["actor"]
            .as_str()
            .context("alert without actor")?
            .to_string();
        let at = v["raised_at"].as_str().context("alert without raised_at")?;
        let at_ms = parcel_risk::parse_rfc3339_ms(at).context("raised_at is not RFC 3339")?;
        out.push(Raised { actor, at_ms });
    }
    Ok(out)
}
