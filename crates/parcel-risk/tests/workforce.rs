//! The recall gate: a simulated workforce with injected insiders, replayed
//! through the detector at the budget (5 alerts a day per 1,000
//! employees). CI runs it at a small size; `cargo xtask risk-eval` runs the
//! full size and writes the table in `docs/insider-risk.md`.
#![allow(clippy::expect_used, reason = "test helpers outside #[test] functions")]

use std::borrow::Cow;

use parcel_risk::eval::{self, Raised, Truth};
use parcel_risk::{AccessEvent, Action, Config, Detector};
use parcel_synth::workforce::{SimEvent, Workforce, WorkforceConfig};

fn borrowed(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(Cow::Borrowed)
}

fn access(ev: &SimEvent, line: u64) -> AccessEvent<'_> {
    let b = borrowed;
    let s = |s: Option<&'static str>| s.map(Cow::Borrowed);
    AccessEvent {
        ts_ms: ev.ts,
        actor: Cow::Borrowed(&ev.actor),
        action: Action::parse(ev.action).expect("simulator actions are known"),
        role: Some(Cow::Borrowed(ev.role)),
        station: Some(Cow::Borrowed(&ev.station)),
        waybill_no: b(&ev.waybill_no),
        customer: b(&ev.customer),
        field: s(ev.field),
        purpose: s(ev.purpose),
        assigned: ev.assigned,
        device: Some(Cow::Borrowed(&ev.device)),
        ip: Some(Cow::Borrowed(&ev.ip)),
        count: ev.count.map_or(1, u64::from),
        reason: s(ev.reason),
        evidence: line,
    }
}

/// Runs one simulated month and returns the report.
fn run(config: WorkforceConfig) -> eval::Report {
    run_with(config, |_| {})
}

/// Runs one simulated month, passing each event through `edit` first (to
/// drop fields another system's log would not have).
fn run_with(config: WorkforceConfig, edit: impl Fn(&mut SimEvent)) -> eval::Report {
    let mut workforce = Workforce::new(config.clone());
    let budget = 5.0 * workforce.employees() as f64 / 1000.0;
    let mut detector = Detector::new(Config {
        alerts_per_day: budget,
        ..Config::default()
    });
    let mut alerts = Vec::new();
    let mut line = 0;
    for d in 0..config.days {
        for mut ev in workforce.day(d) {
            edit(&mut ev);
            line += 1;
            detector.observe(&access(&ev, line), &mut alerts);
        }
    }
    detector.finish(&mut alerts);
    for a in alerts
        .iter()
        .filter(|_| std::env::var_os("RISK_VERBOSE").is_some())
    {
        eprintln!(
            "{} {} {:.1} {:?}",
            a.raised_at, a.actor, a.points, a.reasons
        );
    }
    let truth: Vec<Truth> = workforce
        .insiders()
        .into_iter()
        .map(|i| Truth {
            actor: i.actor,
            scenario: i.scenario.to_string(),
            first_ts_ms: i.first_ts,
            deadline_hours: i.deadline_hours,
        })
        .collect();
    for t in truth
        .iter()
        .filter(|_| std::env::var_os("RISK_VERBOSE").is_some())
    {
        eprintln!("insider {} {} {}", t.actor, t.scenario, t.first_ts_ms);
    }
    let raised: Vec<Raised> = alerts
        .iter()
        .map(|a| Raised {
            actor: a.actor.clone(),
            at_ms: i64::try_from(a.raised_at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
        })
        .collect();
    let peak = config
        .peak_day
        .map(|d| config.start_ms + i64::from(d) * 86_400_000);
    eval::evaluate(&truth, &raised, budget, 8 * 3600, peak)
}

#[test]
fn insiders_are_caught_within_the_budget() {
    let config = WorkforceConfig {
        employees: 400,
        stations: 8,
        days: 24,
        peak_day: Some(16),
        insiders_per_scenario: 2,
        seed: 11,
        ..WorkforceConfig::default()
    };
    let report = run(config);
    eprintln!("{report}");
    assert!(
        report.recall() >= 0.9,
        "recall {:.3}\n{report}",
        report.recall()
    );
    for row in &report.rows {
        if row.scenario != "curious" {
            assert_eq!(row.caught, row.insiders, "{row:?}\n{report}");
        }
    }
    let cap = (report.budget_per_day.ceil() as usize).max(1);
    assert!(report.max_alerts_per_day <= cap, "{report}");
}

/// The size: 500 employees, 30 days, 11.11 inside. `cargo test
/// --release -p parcel-risk --test workforce -- --ignored` prints the table.
#[test]
#[ignore = "full size; run in release"]
fn full_size_month() {
    for seed in [7, 8, 9, 10] {
        let report = run(WorkforceConfig {
            seed,
            ..WorkforceConfig::default()
        });
        eprintln!("seed {seed}\n{report}");
        assert!(report.recall() >= 0.9, "{report}");
    }
}

/// Another system's access log may not say whether a shipment was the
/// actor's. Without `assigned`, volume, hours, devices, sequences and
/// exports have to carry the detection; printed, not gated.
#[test]
#[ignore = "full size; run in release"]
fn full_size_month_without_assignment() {
    let report = run_with(WorkforceConfig::default(), |ev| ev.assigned = None);
    eprintln!("without `assigned`\n{report}");
}

/// Two detectors (each with its own hash seed) over the same events raise
/// byte-identical alerts: nothing reported depends on the seed or on the
/// order actors sit in a hash map.
#[test]
fn alerts_do_not_depend_on_the_hash_seed() {
    let config = WorkforceConfig {
        employees: 250,
        stations: 5,
        days: 14,
        peak_day: Some(9),
        insiders_per_scenario: 1,
        seed: 5,
        ..WorkforceConfig::default()
    };
    let mut workforce = Workforce::new(config.clone());
    let mut a = Detector::new(Config {
        alerts_per_day: 2.0,
        ..Config::default()
    });
    let mut b = Detector::new(Config {
        alerts_per_day: 2.0,
        ..Config::default()
    });
    let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
    let mut line = 0;
    for d in 0..config.days {
        for ev in workforce.day(d) {
            line += 1;
            let ev = access(&ev, line);
            a.observe(&ev, &mut out_a);
            b.observe(&ev, &mut out_b);
        }
    }
    a.finish(&mut out_a);
    b.finish(&mut out_b);
    let json = |v: &[parcel_risk::Alert]| serde_json::to_string(v).expect("serialises");
    assert!(out_a.len() >= 6, "{} alerts", out_a.len());
    assert_eq!(json(&out_a), json(&out_b));
}
