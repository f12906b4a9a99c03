//! Scoring the detector against ground truth: per scenario, how many
//! insiders were raised within their deadline and how long it took, and how
//! the budget was spent.

use std::collections::BTreeMap;
use std::fmt;

/// One injected insider.
#[derive(Debug, Clone)]
pub struct Truth {
    /// The account.
    pub actor: String,
    /// Scenario name.
    pub scenario: String,
    /// Unix milliseconds of the first malicious event.
    pub first_ts_ms: i64,
    /// Hours within which it should be raised.
    pub deadline_hours: u32,
}

/// One raised alert, reduced to what the evaluation needs.
#[derive(Debug, Clone)]
pub struct Raised {
    /// The account.
    pub actor: String,
    /// Unix milliseconds it was raised at.
    pub at_ms: i64,
}

/// One scenario's line.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioRow {
    /// Scenario name.
    pub scenario: String,
    /// Insiders injected.
    pub insiders: usize,
    /// Raised within the deadline.
    pub caught: usize,
    /// Raised at all (after the first malicious event).
    pub caught_late: usize,
    /// Deadline in hours.
    pub deadline_hours: u32,
    /// Median hours from first malicious event to alert (of those caught).
    pub median_hours: Option<f64>,
    /// Longest such time.
    pub max_hours: Option<f64>,
}

/// The evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Per scenario, sorted by name.
    pub rows: Vec<ScenarioRow>,
    /// Alerts raised in all.
    pub alerts: usize,
    /// Alerts on injected insiders.
    pub alerts_on_insiders: usize,
    /// Most alerts raised on one local day.
    pub max_alerts_per_day: usize,
    /// Alerts raised on the peak day, if one was named.
    pub peak_day_alerts: Option<usize>,
    /// The daily budget used.
    pub budget_per_day: f64,
}

impl Report {
    /// Insiders raised within their deadline over all insiders.
    #[must_use]
    pub fn recall(&self) -> f64 {
        let n: usize = self.rows.iter().map(|r| r.insiders).sum();
        let caught: usize = self.rows.iter().map(|r| r.caught).sum();
        if n == 0 {
            1.0
        } else {
            caught as f64 / n as f64
        }
    }

    /// Share of alerts that were on insiders.
    #[must_use]
    pub fn precision(&self) -> f64 {
        if self.alerts == 0 {
            1.0
        } else {
            self.alerts_on_insiders as f64 / self.alerts as f64
        }
    }
}

/// Matches alerts to insiders. `utc_offset_secs` decides local days (for
/// alerts per day); `peak_day_start_ms` names the peak day's local midnight.
#[must_use]
pub fn evaluate(
    truth: &[Truth],
    alerts: &[Raised],
    budget_per_day: f64,
    utc_offset_secs: i32,
    peak_day_start_ms: Option<i64>,
) -> Report {
    let day_of = |ms: i64| (ms + i64::from(utc_offset_secs) * 1000).div_euclid(86_400_000);
    let mut per_day: BTreeMap<i64, usize> = BTreeMap::new();
    for a in alerts {
        *per_day.entry(day_of(a.at_ms)).or_default() += 1;
    }
    let mut groups: BTreeMap<&str, Vec<&Truth>> = BTreeMap::new();
    for t in truth {
        groups.entry(t.scenario.as_str()).or_default().push(t);
    }
    let mut rows = Vec::new();
    for (scenario, insiders) in groups {
        let mut hours = Vec::new();
        let mut caught = 0;
        let mut late = 0;
        for t in &insiders {
            let first = alerts
                .iter()
                .filter(|a| a.actor == t.actor && a.at_ms >= t.first_ts_ms)
                .map(|a| a.at_ms)
                .min();
            if let Some(at) = first {
                let h = (at - t.first_ts_ms) as f64 / 3_600_000.0;
                late += 1;
                if h <= f64::from(t.deadline_hours) {
                    caught += 1;
                }
                hours.push(h);
            }
        }
        hours.sort_by(f64::total_cmp);
        rows.push(ScenarioRow {
            scenario: scenario.to_string(),
            insiders: insiders.len(),
            caught,
            caught_late: late,
            deadline_hours: insiders.first().map_or(0, |t| t.deadline_hours),
            median_hours: (!hours.is_empty()).then(|| hours[hours.len() / 2]),
            max_hours: hours.last().copied(),
        });
    }
    let alerts_on_insiders = alerts
        .iter()
        .filter(|a| truth.iter().any(|t| t.actor == a.actor))
        .count();
    Report {
        rows,
        alerts: alerts.len(),
        alerts_on_insiders,
        max_alerts_per_day: per_day.values().copied().max().unwrap_or(0),
        peak_day_alerts: peak_day_start_ms.map(|ms| per_day.get(&day_of(ms)).copied().unwrap_or(0)),
        budget_per_day,
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| scenario | insiders | caught in time | caught at all | deadline | median time to alert | slowest |"
        )?;
        writeln!(f, "|---|---:|---:|---:|---:|---:|---:|")?;
        let hours = |h: Option<f64>| h.map_or_else(|| "–".to_string(), |h| format!("{h:.1} h"));
        for r in &self.rows {
            writeln!(
                f,
                "| {} | {} | {} | {} | {} h | {} | {} |",
                r.scenario,
                r.insiders,
                r.caught,
                r.caught_late,
                r.deadline_hours,
                hours(r.median_hours),
                hours(r.max_hours)
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "recall within deadline {:.3}; {} alerts ({} on insiders, precision {:.3}); budget {:.1}/day, most on one day {}{}",
            self.recall(),
            self.alerts,
            self.alerts_on_insiders,
            self.precision(),
            self.budget_per_day,
            self.max_alerts_per_day,
            self.peak_day_alerts
                .map_or_else(String::new, |n| format!(", on the peak day {n}"))
        )
    }
}
