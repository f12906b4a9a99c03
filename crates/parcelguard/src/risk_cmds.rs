//! `parcelguard watch`: replays an access-event file through the
//! insider-risk detector and writes the alerts.

use std::fs::File;
use std::io::{self, BufRead as _, BufReader, BufWriter, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use parcel_risk::{Alert, Config, Detector, EvidenceKind, parse_line};

use crate::cli::WatchArgs;

/// Malformed lines reported one by one before only counting.
const REPORTED_ERRORS: u64 = 20;

pub(crate) fn watch(args: WatchArgs) -> Result<ExitCode> {
    if !(args.alerts_per_day.is_finite() && args.alerts_per_day > 0.0) {
        bail!("--alerts-per-day: must be a positive number");
    }
    let utc_offset_secs =
        parse_offset(&args.utc_offset).context("--utc-offset: expected ±HH:MM, e.g. +08:00")?;
    let (name, reader) = open_events(&args.events)?;
    let mut reader = reader;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("{}: cannot create", path.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    let mut detector = Detector::new(Config {
        alerts_per_day: args.alerts_per_day,
        utc_offset_secs,
        evidence_kind: EvidenceKind::Line,
        ..Config::default()
    });
    let started = Instant::now();
    let mut line_no = 0u64;
    let mut malformed = 0u64;
    let mut bytes = 0u64;
    let mut alerts: Vec<Alert> = Vec::new();
    let mut raised = 0u64;
    let mut stderr = io::stderr().lock();
    // Lines are parsed where they lie in a large buffer: no copy per line.
    let mut buf = vec![0u8; 1 << 20];
    let (mut start, mut end, mut eof) = (0usize, 0usize, false);
    loop {
        let line = match memchr::memchr(b'\n', &buf[start..end]) {
            Some(i) => {
                let line = start..start + i;
                start += i + 1;
                line
            }
            None if eof => {
                if start == end {
                    break;
                }
                let line = start..end;
                start = end;
                line
            }
            None => {
                buf.copy_within(start..end, 0);
                end -= start;
                start = 0;
                if end == buf.len() {
                    // A line longer than the buffer.
                    buf.resize(buf.len() * 2, 0);
                }
                let n = reader
                    .read(&mut buf[end..])
                    .with_context(|| format!("{name}: read failed after line {line_no}"))?;
                eof = n == 0;
                end += n;
                bytes += n as u64;
                continue;
            }
        };
        line_no += 1;
        match parse_line(&buf[line], line_no) {
            Ok(Some(ev)) => detector.observe(&ev, &mut alerts),
            Ok(None) => {}
            Err(e) => {
                malformed += 1;
                if malformed <= REPORTED_ERRORS {
                    writeln!(stderr, "warning: {name}: {e}; skipped")?;
                }
            }
        }
        if !alerts.is_empty() {
            raised += write_alerts(&mut out, &mut alerts)?;
        }
    }
    detector.finish(&mut alerts);
    raised += write_alerts(&mut out, &mut alerts)?;
    out.flush().context("cannot write the alerts")?;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let stats = detector.stats();
    if malformed > REPORTED_ERRORS {
        writeln!(
            stderr,
            "warning: {name}: {} more malformed lines skipped",
            malformed - REPORTED_ERRORS
        )?;
    }
    writeln!(
        stderr,
        "{} events ({} malformed lines skipped, {} out of order), {} actors, {} days, {raised} alerts; {:.1} MB in {secs:.2} s ({:.0} events/s)",
        stats.events,
        malformed,
        stats.late_events,
        stats.actors,
        stats.days,
        bytes as f64 / 1e6,
        stats.events as f64 / secs
    )?;
    Ok(if raised > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn write_alerts(out: &mut dyn Write, alerts: &mut Vec<Alert>) -> Result<u64> {
    let n = alerts.len() as u64;
    for alert in alerts.drain(..) {
        serde_json::to_writer(&mut *out, &alert).context("cannot write an alert")?;
        out.write_all(b"\n").context("cannot write an alert")?;
    }
    Ok(n)
}

fn open_events(path: &str) -> Result<(String, Box<dyn Read>)> {
    if path == "-" {
        return Ok(("<stdin>".to_string(), Box::new(io::stdin().lock())));
    }
    let file = File::open(path).with_context(|| format!("{path}: cannot open"))?;
    let mut reader = BufReader::new(file);
    let gz = reader
        .fill_buf()
        .with_context(|| format!("{path}: cannot read"))?
        .starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    Ok((path.to_string(), reader))
}

/// `+08:00`, `-05:30`, `Z` → seconds east of UTC.
fn parse_offset(s: &str) -> Option<i32> {
    if s == "Z" || s == "UTC" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 18 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// The live monitor's settings from `[risk]`; errors name the key.
pub(crate) fn settings(
    config: &parcel_config::Config,
) -> Result<parcel_server::risk::RiskSettings> {
    let r = &config.risk;
    let level = |key: &str, v: &str| -> Result<Option<parcel_risk::Severity>> {
        if v == "never" {
            return Ok(None);
        }
        parcel_risk::Severity::parse(v)
            .map(Some)
            .with_context(|| format!("[risk] {key}: expected low, medium, high, critical or never"))
    };
    if !(r.alerts_per_day.is_finite() && r.alerts_per_day > 0.0) {
        bail!("[risk] alerts_per_day: expected a positive number");
    }
    let utc_offset_secs =
        parse_offset(&r.utc_offset).context("[risk] utc_offset: expected ±HH:MM, e.g. +08:00")?;
    let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    Ok(parcel_server::risk::RiskSettings {
        detector: parcel_risk::Config {
            alerts_per_day: r.alerts_per_day,
            utc_offset_secs,
            ..parcel_risk::Config::default()
        },
        webhook: (!r.webhook.is_empty()).then(|| r.webhook.clone()),
        notify_at: level("notify_at", &r.notify_at)?,
        tighten_at: level("tighten_at", &r.tighten_at)?,
        suspend_at: level("suspend_at", &r.suspend_at)?,
        approval_at: level("approval_at", &r.approval_at)?,
        tightened: (int(r.tightened_per_hour), int(r.tightened_per_day)),
        tighten_secs: int(r.tighten_hours).saturating_mul(3600),
        suppress_days: int(r.suppress_days),
    })
}

#[cfg(test)]
mod tests {
    use super::{parse_offset, settings};

    #[test]
    fn offsets() {
        for (s, want) in [
            ("+08:00", Some(28_800)),
            ("-05:30", Some(-19_800)),
            ("Z", Some(0)),
            ("08:00", None),
            ("+8", None),
            ("+25:00", None),
        ] {
            assert_eq!(parse_offset(s), want, "{s}");
        }
    }

    #[test]
    fn risk_settings_name_the_bad_key() {
        let ok = settings(&parcel_config::Config::default()).map_err(|e| e.to_string());
        let ok = ok
            .as_ref()
            .map(|s| (s.notify_at, s.suspend_at, s.tightened));
        assert_eq!(
            ok,
            Ok((
                Some(parcel_risk::Severity::Medium),
                Some(parcel_risk::Severity::Critical),
                (5, 20)
            ))
        );
        let mut c = parcel_config::Config::default();
        c.risk.suspend_at = "never".to_owned();
        assert!(settings(&c).is_ok_and(|s| s.suspend_at.is_none()));
        for (edit, want) in [
            (
                (|c: &mut parcel_config::Config| c.risk.notify_at = "urgent".to_owned())
                    as fn(&mut parcel_config::Config),
                "[risk] notify_at: expected low, medium, high, critical or never",
            ),
            (
                |c| c.risk.utc_offset = "CST".to_owned(),
                "[risk] utc_offset: expected ±HH:MM, e.g. +08:00",
            ),
            (
                |c| c.risk.alerts_per_day = 0.0,
                "[risk] alerts_per_day: expected a positive number",
            ),
        ] {
            let mut c = parcel_config::Config::default();
            edit(&mut c);
            let err = settings(&c).err().map(|e| e.to_string());
            assert_eq!(err.as_deref(), Some(want));
        }
    }
}
