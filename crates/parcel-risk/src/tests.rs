//! Unit tests of the detector: scripted teams with one insider each, the
//! budget, surges, suppression, bounded state, and the event parser's
//! robustness.

use std::borrow::Cow;

use proptest::prelude::*;

use crate::{AccessEvent, Action, Alert, Config, Detector, Severity, parse_line};

/// 2026-11-02T00:00:00+08:00, a Monday.
const DAY0: i64 = 1_793_548_800_000;
const H: i64 = 3_600_000;
const D: i64 = 24 * H;

/// A scripted event; owned so tests can build them freely.
#[derive(Clone)]
struct Ev {
    ts: i64,
    actor: String,
    action: Action,
    assigned: Option<bool>,
    customer: String,
    waybill: String,
    device: String,
    ip: String,
    count: u64,
    line: u64,
}

impl Ev {
    fn access(&self) -> AccessEvent<'_> {
        let mut a = AccessEvent::new(self.ts, Cow::Borrowed(self.actor.as_str()), self.action);
        a.role = Some(Cow::Borrowed("courier"));
        a.station = Some(Cow::Borrowed("ST01"));
        a.assigned = self.assigned;
        a.customer = Some(Cow::Borrowed(&self.customer));
        a.waybill_no = Some(Cow::Borrowed(&self.waybill));
        a.device = Some(Cow::Borrowed(&self.device));
        a.ip = Some(Cow::Borrowed(&self.ip));
        a.count = self.count;
        a.evidence = self.line;
        a
    }
}

/// Twelve couriers delivering `per_day * factor(day)` assigned parcels
/// between 08:00 and 18:00 on `days` days.
fn team(days: i64, per_day: i64, factor: impl Fn(i64) -> i64) -> Vec<Ev> {
    let mut out = Vec::new();
    let mut serial = 0u64;
    for day in 0..days {
        for c in 0..12 {
            let n = per_day * factor(day) + (c * 7 + day * 3) % 11;
            for i in 0..n {
                serial += 1;
                out.push(Ev {
                    ts: DAY0 + day * D + 8 * H + i * (10 * H / n) + c * 1000,
                    actor: format!("E{c}"),
                    action: Action::Reveal,
                    assigned: Some(true),
                    customer: format!("c{}", serial * 7919 % 1_000_003),
                    waybill: format!("SF{:012}", serial * 104_729 % 999_999_999_989),
                    device: format!("phone-{c}"),
                    ip: format!("10.1.{c}.9"),
                    count: 1,
                    line: 0,
                });
            }
        }
    }
    out
}

/// Sorts, numbers the lines and replays; returns every alert.
fn replay(mut events: Vec<Ev>, config: Config) -> Vec<Alert> {
    events.sort_by_key(|e| e.ts);
    let mut detector = Detector::new(config);
    let mut alerts = Vec::new();
    for (i, e) in events.iter_mut().enumerate() {
        e.line = i as u64 + 1;
        detector.observe(&e.access(), &mut alerts);
    }
    detector.finish(&mut alerts);
    alerts
}

fn pull(actor: &str, start: i64, n: i64, spacing_ms: i64, device: &str, ip: &str) -> Vec<Ev> {
    (0..n)
        .map(|i| Ev {
            ts: start + i * spacing_ms,
            actor: actor.to_string(),
            action: Action::Reveal,
            assigned: Some(false),
            customer: format!("x{}", i * 31 + 5),
            waybill: format!("JT{:013}", 5_000_000 + i * 977),
            device: device.to_string(),
            ip: ip.to_string(),
            count: 1,
            line: 0,
        })
        .collect()
}

fn ms(alert: &Alert) -> i64 {
    i64::try_from(alert.raised_at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

#[test]
fn a_quiet_team_raises_nothing() {
    let alerts = replay(team(14, 80, |_| 1), Config::default());
    assert!(alerts.is_empty(), "{:#?}", alerts.first());
}

#[test]
fn a_night_bulk_pull_is_raised_within_hours_with_its_numbers() {
    let mut events = team(12, 80, |_| 1);
    let start = DAY0 + 10 * D + H; // 01:00 on day 10
    events.extend(pull("E5", start, 300, 12_000, "phone-5", "10.1.5.9"));
    let alerts = replay(events, Config::default());
    let alert = alerts.iter().find(|a| a.actor == "E5").expect("E5 raised");
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert!(ms(alert) - start <= 2 * H, "raised at {}", alert.raised_at);
    assert_eq!(alert.severity, Severity::Critical);
    assert!(
        alert.reasons[0].starts_with("300 accesses with no business reason")
            && alert.reasons[0].contains("between 01:00 and 01:59")
            && alert.reasons[0].contains("own median 0")
            && alert.reasons[0].contains("peers"),
        "{:?}",
        alert.reasons
    );
    assert_eq!(alert.signals[0].signal, "no_reason");
    assert_eq!(alert.first_event.hour(), 1);
    // Evidence points at the pull's lines, which are the only reason-less ones.
    assert!(!alert.evidence.is_empty() && alert.evidence.len() <= 20);
    let json = serde_json::to_value(alert).expect("serialises");
    for key in [
        "actor",
        "raised_at",
        "score",
        "severity",
        "reasons",
        "first_event",
        "last_event",
        "evidence",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    assert_eq!(json["severity"], "critical");
    assert!(
        json["raised_at"]
            .as_str()
            .is_some_and(|s| s.ends_with("+08:00")),
        "{json}"
    );
}

#[test]
fn a_company_wide_surge_raises_nothing() {
    // Day 10 is 11.11: everyone's volume triples, and stays doubled after.
    let alerts = replay(
        team(14, 60, |d| match d {
            10 => 3,
            11..=13 => 2,
            _ => 1,
        }),
        Config::default(),
    );
    assert!(alerts.is_empty(), "{:#?}", alerts.first());
}

#[test]
fn the_budget_caps_a_day_and_the_ranking_picks_the_worst() {
    let mut events = team(12, 80, |_| 1);
    // Four insiders on day 10, daytime, of different sizes.
    for (c, n) in [(1, 20), (2, 60), (3, 200), (4, 40)] {
        events.extend(pull(
            &format!("E{c}"),
            DAY0 + 10 * D + 10 * H,
            n,
            30_000,
            &format!("phone-{c}"),
            "10.1.1.9",
        ));
    }
    let config = Config {
        alerts_per_day: 2.0,
        ..Config::default()
    };
    let alerts = replay(events, config);
    let day10: Vec<&str> = alerts
        .iter()
        .filter(|a| (ms(a) - DAY0) / D == 10)
        .map(|a| a.actor.as_str())
        .collect();
    assert_eq!(day10.len(), 2, "{alerts:#?}");
    assert!(day10.contains(&"E3") && day10.contains(&"E2"), "{day10:?}");
}

#[test]
fn an_actor_is_not_raised_again_within_the_realert_window() {
    let mut events = team(16, 80, |_| 1);
    for day in [9, 10, 11] {
        events.extend(pull(
            "E7",
            DAY0 + day * D + 11 * H,
            50,
            60_000,
            "phone-7",
            "10.1.7.9",
        ));
    }
    let alerts = replay(events, Config::default());
    let e7: Vec<&Alert> = alerts.iter().filter(|a| a.actor == "E7").collect();
    assert_eq!(e7.len(), 1, "{alerts:#?}");
}

#[test]
fn a_rented_account_shows_new_device_network_and_concurrent_use() {
    let mut events = team(12, 80, |_| 1);
    // Interleaved with the owner's own shift, from a stranger's phone.
    events.extend(pull(
        "E9",
        DAY0 + 10 * D + 9 * H,
        40,
        9 * 60_000,
        "burner",
        "172.16.4.4",
    ));
    let alerts = replay(events, Config::default());
    let alert = alerts.iter().find(|a| a.actor == "E9").expect("E9 raised");
    let signals: Vec<&str> = alert.signals.iter().map(|s| s.signal).collect();
    for s in ["no_reason", "new_device", "concurrent"] {
        assert!(signals.contains(&s), "{signals:?} {:?}", alert.reasons);
    }
}

#[test]
fn exports_and_enumeration_are_signals_of_their_own() {
    let mut events = team(12, 80, |_| 1);
    // E2 exports 3,000 records; E3 walks consecutive waybill numbers with
    // reason-less searches.
    events.push(Ev {
        ts: DAY0 + 10 * D + 15 * H,
        actor: "E2".into(),
        action: Action::Export,
        assigned: None,
        customer: String::new(),
        waybill: String::new(),
        device: "phone-2".into(),
        ip: "10.1.2.9".into(),
        count: 3000,
        line: 0,
    });
    events.extend((0..120).map(|i| Ev {
        ts: DAY0 + 10 * D + 14 * H + i * 10_000,
        actor: "E3".into(),
        action: Action::Search,
        assigned: Some(true),
        customer: format!("q{i}"),
        waybill: format!("SF{:012}", 777_000_000 + i),
        device: "phone-3".into(),
        ip: "10.1.3.9".into(),
        count: 1,
        line: 0,
    }));
    let alerts = replay(events, Config::default());
    let top = |actor: &str| {
        alerts
            .iter()
            .find(|a| a.actor == actor)
            .map(|a| a.signals[0].signal)
    };
    assert_eq!(top("E2"), Some("exported"), "{alerts:#?}");
    assert_eq!(top("E3"), Some("sequential"), "{alerts:#?}");
}

#[test]
fn state_is_bounded_by_inactivity() {
    let mut events = team(3, 20, |_| 1);
    // Only E0 keeps working for six more weeks.
    for day in 3..45 {
        events.push(Ev {
            ts: DAY0 + day * D + 9 * H,
            actor: "E0".into(),
            action: Action::Login,
            assigned: None,
            customer: String::new(),
            waybill: String::new(),
            device: "phone-0".into(),
            ip: "10.1.0.9".into(),
            count: 1,
            line: 0,
        });
    }
    let mut detector = Detector::new(Config::default());
    let mut alerts = Vec::new();
    for e in &events {
        detector.observe(&e.access(), &mut alerts);
    }
    assert_eq!(detector.stats().actors, 1);
}

proptest! {
    #[test]
    fn parsing_never_panics_and_errors_never_echo_values(
        value in "[0-9]{11}",
        field in prop::sample::select(vec!["ts", "actor", "action", "assigned", "count", "customer", "device"]),
        junk in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let _ = parse_line(&junk, 1);
        let line = format!(
            r#"{{"ts":"2026-11-11T01:02:03Z","actor":"E1","action":"reveal","{field}":[{value}]}}"#
        );
        let err = parse_line(line.as_bytes(), 9).err().map(|e| e.to_string()).unwrap_or_default();
        prop_assert!(err.starts_with("line 9"), "{err}");
        prop_assert!(!err.contains(&value), "{err}");
    }
}

#[test]
fn live_mode_raises_a_pull_within_minutes_and_a_quiet_team_never() {
    let live = Config {
        live: true,
        ..Config::default()
    };
    assert!(replay(team(14, 80, |_| 1), live.clone()).is_empty());
    let mut events = team(12, 80, |_| 1);
    // 10:30 on day 10: mid-shift, between two hourly scorings.
    let start = DAY0 + 10 * D + 10 * H + 30 * 60_000;
    events.extend(pull("E5", start, 300, 12_000, "phone-5", "10.1.5.9"));
    let hourly = replay(events.clone(), Config::default());
    let all = replay(events, live);
    let (escalations, alerts): (Vec<Alert>, Vec<Alert>) =
        all.into_iter().partition(|a| a.escalation);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].actor, "E5");
    // As the pull goes on it is escalated once to critical, spending no budget.
    assert_eq!(escalations.len(), 1, "{escalations:#?}");
    assert_eq!(escalations[0].actor, "E5");
    assert_eq!(escalations[0].severity, Severity::Critical);
    assert!(escalations[0].raised_at > alerts[0].raised_at);
    let offline = hourly.iter().find(|a| a.actor == "E5").expect("E5 raised");
    assert!(
        ms(offline) - start >= 29 * 60_000,
        "hourly at {}",
        offline.raised_at
    );
    // The bar is `high`: some tens of reason-less look-ups, minutes apart.
    assert!(
        ms(&alerts[0]) - start <= 10 * 60_000,
        "live at {}",
        alerts[0].raised_at
    );
    assert!(alerts[0].severity >= Severity::High);
}

#[test]
fn a_benign_verdict_suppresses_the_pattern_until_it_expires() {
    let run = |start: i64, until: i64| {
        let mut events = team(12, 80, |_| 1);
        events.extend(pull("E5", start, 300, 12_000, "phone-5", "10.1.5.9"));
        events.sort_by_key(|e| e.ts);
        let mut detector = Detector::new(Config::default());
        assert_eq!(
            detector.suppress("E5", &["no_reason", "volume", "nonsense"], until),
            2
        );
        let mut alerts = Vec::new();
        for e in &events {
            detector.observe(&e.access(), &mut alerts);
        }
        detector.finish(&mut alerts);
        alerts
    };
    let day_shift = DAY0 + 10 * D + 10 * H;
    let suppressed = run(day_shift, DAY0 + 20 * D);
    assert!(suppressed.is_empty(), "{suppressed:#?}");
    // Expired before the pull: raised as usual.
    let alerts = run(day_shift, DAY0 + 9 * D);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].signals[0].signal, "no_reason");
    // Suppression is per signal: the same pull at 01:00 is another pattern.
    let night = run(DAY0 + 10 * D + H, DAY0 + 20 * D);
    assert_eq!(night.len(), 1);
    let signals: Vec<_> = night[0].signals.iter().map(|s| s.signal).collect();
    assert_eq!(signals, ["off_shift"]);
}
