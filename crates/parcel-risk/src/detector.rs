//! The detector: bounded per-actor state, hourly scoring against the
//! actor's own history and their peers, and a daily alert budget.
//!
//! Every event updates one actor's counters for the current local day
//! (distinct customers, accesses with no business reason, off-shift
//! accesses, new devices and networks, concurrent use, sequential waybill
//! numbers, exported records, denials, repeated look-ups of one customer).
//! Each hour of event time the active actors are scored: for every signal
//! the expected count is the largest of a small prior, the peers' median
//! today (same role and station, or the whole role when the station has
//! few) and the actor's own median from one to four weeks back scaled by
//! today's role-wide surge, and the surprise of the observed count is the
//! Poisson divergence `x·ln(x/λ) − x + λ`, divided by the peers' spread so
//! that naturally noisy signals count for less. The signals' points add
//! up, plus half of what the previous six days left over, so a slow rise
//! accumulates.
//!
//! The budget is the only knob: each day earns `alerts_per_day` of credit
//! (fractions carry over). At midnight the day's ranked list spends it;
//! during the day an actor is raised at once only when they outscore every
//! actor left unraised over the last week, so an obvious bulk pull does not
//! wait for midnight and ordinary bad days do not spend the budget early.
//! Because baselines are the peers' *today*, a company-wide surge (11.11)
//! raises every baseline with it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher as _, BuildHasherDefault, Hasher};

use serde::Serialize;
use time::OffsetDateTime;

use crate::event::{AccessEvent, Action};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Distinct customers kept exactly per actor per day; more is reported as
/// "at least".
const MAX_DISTINCT: usize = 8192;
const MAX_DEVICES: usize = 16;
const MAX_REPEAT_TRACKED: usize = 256;
/// Station peer groups smaller than this fall back to the whole role.
const MIN_PEERS: usize = 8;
/// A role with fewer active members than this gives no peer baseline.
const MIN_ROLE_PEERS: usize = 5;
/// Points of a `high` alert: the least that is raised before midnight.
const HIGH_POINTS: f64 = 50.0;
/// Points one signal can contribute in a day.
const CAP_POINTS: f64 = 400.0;

/// Detector settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The daily alert budget K (fractions carry over between days).
    pub alerts_per_day: f64,
    /// Offset of local time from UTC in seconds (days and shifts are
    /// local); China Standard Time by default.
    pub utc_offset_secs: i32,
    /// Days of history kept per actor.
    pub history_days: usize,
    /// Days after an alert before the same actor can be raised again.
    pub realert_days: i64,
    /// Points below which nothing is raised, budget or not.
    pub min_points: f64,
    /// Evidence references kept per alert.
    pub evidence_per_alert: usize,
    /// What the events' `evidence` numbers are.
    pub evidence_kind: EvidenceKind,
    /// Score the touched actor after every event (a server, where event
    /// to alert must take under a second) instead of only at each hour of
    /// event time. The bar is the hourly one: `high` and above everyone
    /// left unraised in the last week; peers are those of the last hourly
    /// scoring, floored by the previous day.
    pub live: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            alerts_per_day: 5.0,
            utc_offset_secs: 8 * 3600,
            history_days: 28,
            realert_days: 7,
            min_points: 6.0,
            evidence_per_alert: 20,
            evidence_kind: EvidenceKind::Line,
            live: false,
        }
    }
}

/// What an alert's evidence numbers refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// Line numbers of the replayed file.
    Line,
    /// Transparency-log indexes.
    LogIndex,
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Clearly unusual.
    Medium,
    /// Likely abuse.
    High,
    /// Mass harvesting.
    Critical,
}

impl Severity {
    fn of(points: f64) -> Self {
        if points >= 200.0 {
            Severity::Critical
        } else if points >= HIGH_POINTS {
            Severity::High
        } else if points >= 15.0 {
            Severity::Medium
        } else {
            Severity::Low
        }
    }

    /// Parses a wire name (`low`, `medium`, `high`, `critical`).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One raised alert.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// The account.
    pub actor: String,
    /// Its role, when events said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Its station, when events said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub station: Option<String>,
    /// Event time at which it was raised.
    #[serde(with = "time::serde::rfc3339")]
    pub raised_at: OffsetDateTime,
    /// 0–1, from the points.
    pub score: f64,
    /// The summed surprise, in nats.
    pub points: f64,
    /// From the points.
    pub severity: Severity,
    /// What was unusual, with the numbers behind it.
    pub reasons: Vec<String>,
    /// Points per signal (machine-readable reasons).
    pub signals: Vec<Signal>,
    /// First event of the day's unusual activity.
    #[serde(with = "time::serde::rfc3339")]
    pub first_event: OffsetDateTime,
    /// Last event seen before raising.
    #[serde(with = "time::serde::rfc3339")]
    pub last_event: OffsetDateTime,
    /// What [`Alert::evidence`] numbers are.
    pub evidence_kind: EvidenceKind,
    /// Line numbers or log indexes of the events behind the reasons.
    pub evidence: Vec<u64>,
    /// Live mode: the actor, already raised today, has since reached a
    /// higher severity. Escalations spend no budget.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub escalation: bool,
}

/// One signal's share of an alert.
#[derive(Debug, Clone, Serialize)]
pub struct Signal {
    /// Signal name (`no_reason`, `volume`, …).
    pub signal: &'static str,
    /// Observed count today.
    pub observed: f64,
    /// Expected count it was compared with.
    pub expected: f64,
    /// Points it contributed.
    pub points: f64,
}

/// Counters for a summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events observed.
    pub events: u64,
    /// Events older than the detector's clock, counted in the current day.
    pub late_events: u64,
    /// Actors with state.
    pub actors: usize,
    /// Days closed.
    pub days: u64,
    /// Alerts raised.
    pub alerts: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    Volume = 0,
    NoReason,
    OffShift,
    NewDevice,
    Concurrent,
    Sequential,
    Exported,
    Denied,
    Repeat,
}

const N: usize = 9;

struct Spec {
    name: &'static str,
    /// Expected count when nothing else says more.
    prior: f64,
    /// Least over-dispersion assumed (events of this kind come in bursts).
    min_dispersion: f64,
    weight: f64,
    /// Whether a role-wide surge scales the actor's own baseline.
    surge: bool,
    /// Whether the prior alone is too little to judge by (everyone has
    /// volume; only peers or history say how much is normal).
    needs_baseline: bool,
}

const SPECS: [Spec; N] = [
    Spec {
        name: "volume",
        prior: 5.0,
        min_dispersion: 1.0,
        weight: 0.5,
        surge: true,
        needs_baseline: true,
    },
    Spec {
        name: "no_reason",
        prior: 0.5,
        min_dispersion: 1.5,
        weight: 1.0,
        surge: true,
        needs_baseline: false,
    },
    Spec {
        name: "off_shift",
        prior: 0.5,
        min_dispersion: 5.0,
        weight: 0.5,
        surge: true,
        needs_baseline: true,
    },
    Spec {
        name: "new_device",
        prior: 0.05,
        min_dispersion: 1.0,
        weight: 1.0,
        surge: false,
        needs_baseline: false,
    },
    Spec {
        name: "concurrent",
        prior: 0.5,
        min_dispersion: 2.0,
        weight: 1.0,
        surge: false,
        needs_baseline: false,
    },
    Spec {
        name: "sequential",
        prior: 1.0,
        min_dispersion: 3.0,
        weight: 1.0,
        surge: true,
        needs_baseline: false,
    },
    Spec {
        name: "exported",
        prior: 50.0,
        min_dispersion: 50.0,
        weight: 1.0,
        surge: true,
        needs_baseline: true,
    },
    Spec {
        name: "denied",
        prior: 1.0,
        min_dispersion: 2.0,
        weight: 0.5,
        surge: true,
        needs_baseline: false,
    },
    Spec {
        name: "repeat",
        prior: 0.1,
        min_dispersion: 1.0,
        weight: 2.0,
        surge: false,
        needs_baseline: false,
    },
];

/// Hashes already-hashed `u64`s as themselves.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type U64Set = HashSet<u64, BuildHasherDefault<Identity>>;

/// Hashes of ids: fast, and seeded per detector (the ids come from other
/// systems' files, so collisions should not be choosable). Nothing the
/// detector reports may depend on the seed; a test runs two detectors.
#[derive(Debug, Clone, Default)]
struct Keys(foldhash::fast::RandomState);

impl Keys {
    fn of(&self, v: impl std::hash::Hash) -> u64 {
        // 0 means "none" in the actor's last-seen slots.
        self.0.hash_one(v) | 1
    }
}

#[derive(Debug, Clone)]
struct DaySummary {
    day: i64,
    x: [f32; N],
    points: f32,
}

#[derive(Debug)]
struct Today {
    day: i64,
    x: [f64; N],
    customers: U64Set,
    saturated: bool,
    hours: [u32; 24],
    accesses: u64,
    exports: u32,
    quota_hits: u32,
    first_ts: i64,
    last_ts: i64,
    span: [(i64, i64); N],
    evidence: Vec<u64>,
    first_evidence: Vec<u64>,
}

impl Today {
    fn new(day: i64) -> Self {
        Self {
            day,
            x: [0.0; N],
            customers: U64Set::default(),
            saturated: false,
            hours: [0; 24],
            accesses: 0,
            exports: 0,
            quota_hits: 0,
            first_ts: i64::MAX,
            last_ts: i64::MIN,
            span: [(i64::MAX, i64::MIN); N],
            evidence: Vec::new(),
            first_evidence: Vec::new(),
        }
    }

    fn reset(&mut self, day: i64) {
        self.day = day;
        self.x = [0.0; N];
        self.customers.clear();
        self.saturated = false;
        self.hours = [0; 24];
        self.accesses = 0;
        self.exports = 0;
        self.quota_hits = 0;
        self.first_ts = i64::MAX;
        self.last_ts = i64::MIN;
        self.span = [(i64::MAX, i64::MIN); N];
        self.evidence.clear();
        self.first_evidence.clear();
    }

    fn bump(&mut self, f: F, by: f64, ts: i64, evidence: u64, keep: usize) {
        let i = f as usize;
        self.x[i] += by;
        let span = &mut self.span[i];
        span.0 = span.0.min(ts);
        span.1 = span.1.max(ts);
        if f != F::Volume && self.evidence.len() < keep && self.evidence.last() != Some(&evidence) {
            self.evidence.push(evidence);
        }
    }
}

#[derive(Debug)]
struct Actor {
    name: Box<str>,
    role: Option<Box<str>>,
    station: Option<Box<str>>,
    history: VecDeque<DaySummary>,
    /// Decayed profile of the hours this actor touches data in.
    hours: [f32; 24],
    /// `hours` normalised at each midnight.
    hour_share: [f64; 24],
    days_seen: u32,
    devices: Vec<(u64, i64)>,
    networks: Vec<(u64, i64)>,
    last_device: (u64, i64),
    last_station: (u64, i64),
    recent_waybills: [u64; 32],
    recent_pos: usize,
    /// Customers touched with no business reason in the last two weeks:
    /// (customer, last time, occasions).
    no_reason_seen: Vec<(u64, i64, u32)>,
    today: Today,
    own: [Option<f64>; N],
    alerted_until: i64,
    carry: f64,
    last_seen_day: i64,
    /// Signals an analyst judged benign for this actor: (signal, until ms).
    suppressed: Vec<(usize, i64)>,
    /// The day and severity of the last alert (live escalation).
    raised: Option<(i64, Severity)>,
}

impl Actor {
    fn new(name: &str, day: i64) -> Self {
        Self {
            name: name.into(),
            role: None,
            station: None,
            history: VecDeque::new(),
            hours: [0.0; 24],
            hour_share: [1.0; 24],
            days_seen: 0,
            devices: Vec::new(),
            networks: Vec::new(),
            last_device: (0, 0),
            last_station: (0, 0),
            recent_waybills: [0; 32],
            recent_pos: 0,
            no_reason_seen: Vec::new(),
            today: Today::new(day),
            own: [None; N],
            alerted_until: i64::MIN,
            carry: 0.0,
            last_seen_day: day,
            suppressed: Vec::new(),
            raised: None,
        }
    }

    /// Starts a new day: medians of one to four weeks back become the own
    /// baseline (so a slow rise is compared with how things were before).
    fn start_day(&mut self, day: i64, day_start_ms: i64) {
        self.today.reset(day);
        self.no_reason_seen
            .retain(|e| e.1 >= day_start_ms - 14 * DAY_MS);
        self.last_seen_day = day;
        let old: Vec<&DaySummary> = self.history.iter().filter(|s| s.day < day - 7).collect();
        let pool: Vec<&DaySummary> = if old.len() >= 5 {
            old
        } else if self.history.len() >= 3 {
            self.history.iter().collect()
        } else {
            Vec::new()
        };
        for (f, own) in self.own.iter_mut().enumerate() {
            *own = if pool.is_empty() {
                None
            } else {
                let mut v: Vec<f64> = pool.iter().map(|s| f64::from(s.x[f])).collect();
                Some(median(&mut v))
            };
        }
        self.carry = 0.5
            * self
                .history
                .iter()
                .filter(|s| s.day >= day - 6)
                .map(|s| (f64::from(s.points) - 3.0).max(0.0))
                .sum::<f64>();
    }

    fn volume(&self) -> f64 {
        self.today.x[F::Volume as usize]
    }

    fn known(list: &mut Vec<(u64, i64)>, key: u64, day: i64) -> bool {
        if let Some(slot) = list.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = day;
            return true;
        }
        if list.len() >= MAX_DEVICES
            && let Some(oldest) = list
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, d))| *d)
                .map(|(i, _)| i)
        {
            list.swap_remove(oldest);
        }
        list.push((key, day));
        false
    }
}

/// Which peers a candidate was compared with (named only when raised).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerKind {
    Station,
    Role,
    DayBefore,
}

/// A scored actor at one tick.
#[derive(Debug)]
struct Candidate {
    key: u64,
    points: f64,
    per: [f64; N],
    expected: [f64; N],
    own: [Option<f64>; N],
    peer_median: [f64; N],
    peer_p99: [f64; N],
    peers: usize,
    peer_kind: PeerKind,
    carry: f64,
}

/// The insider-risk detector. Feed it events in time order with
/// [`Detector::observe`]; alerts come out as event time passes.
#[derive(Debug)]
pub struct Detector {
    config: Config,
    actors: HashMap<u64, Actor, BuildHasherDefault<Identity>>,
    keys: Keys,
    role_hours: HashMap<Box<str>, [f64; 24]>,
    /// `role_hours` normalised at each midnight (what the hot path reads).
    role_share: HashMap<Box<str>, [f64; 24]>,
    day: Option<i64>,
    clock: i64,
    next_tick: i64,
    credit: f64,
    /// Per closed day, the best score nobody was raised for.
    recent_unraised: VecDeque<f64>,
    /// Peer statistics of the last closed day, by "role\u{1f}station" and role.
    prev_groups: HashMap<u64, GroupStats>,
    next_prev_groups: HashMap<u64, GroupStats>,
    /// Today's peer statistics at the last hourly scoring (live mode).
    live_groups: HashMap<u64, GroupStats>,
    stats: Stats,
}

impl Detector {
    /// A detector with no history.
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self {
            config,
            actors: HashMap::default(),
            keys: Keys::default(),
            role_hours: HashMap::new(),
            role_share: HashMap::new(),
            day: None,
            clock: i64::MIN,
            next_tick: i64::MAX,
            credit: 0.0,
            recent_unraised: VecDeque::new(),
            prev_groups: HashMap::new(),
            next_prev_groups: HashMap::new(),
            live_groups: HashMap::new(),
            stats: Stats::default(),
        }
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> Stats {
        Stats {
            actors: self.actors.len(),
            ..self.stats
        }
    }

    fn local_day(&self, ts: i64) -> i64 {
        (ts + i64::from(self.config.utc_offset_secs) * 1000).div_euclid(DAY_MS)
    }

    fn local_hour(&self, ts: i64) -> usize {
        let h = (ts + i64::from(self.config.utc_offset_secs) * 1000).rem_euclid(DAY_MS) / HOUR_MS;
        usize::try_from(h).unwrap_or(0).min(23)
    }

    fn day_start_ms(&self, day: i64) -> i64 {
        day * DAY_MS - i64::from(self.config.utc_offset_secs) * 1000
    }

    /// Observes one event; alerts raised by the time it carries are pushed
    /// to `out`.
    pub fn observe(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        self.stats.events += 1;
        let ts = if ev.ts_ms < self.clock {
            self.stats.late_events += 1;
            self.clock
        } else {
            ev.ts_ms
        };
        self.advance_to(ts, out);
        let day = self.day.unwrap_or_else(|| self.local_day(ts));
        let day_start = self.day_start_ms(day);
        let keys = &self.keys;
        let hour = self.local_hour(ts);
        let keep = self.config.evidence_per_alert;

        // Keyed by a seeded 64-bit hash: one hash per event, no allocation.
        let actor = self
            .actors
            .entry(keys.of(ev.actor.as_ref()))
            .or_insert_with(|| Actor::new(ev.actor.as_ref(), day));
        if actor.today.day != day {
            actor.start_day(day, day_start);
        }
        if let Some(role) = ev.role.as_deref()
            && actor.role.as_deref() != Some(role)
        {
            actor.role = Some(role.into());
        }
        let t = &mut actor.today;
        t.first_ts = t.first_ts.min(ts);
        t.last_ts = t.last_ts.max(ts);
        if t.first_evidence.len() < keep {
            t.first_evidence.push(ev.evidence);
        }
        let data = ev.action.touches_data();
        if data {
            t.accesses += 1;
            t.hours[hour] += 1;
            // The day's first data access names the home station.
            if (actor.station.is_none() || t.accesses == 1)
                && let Some(st) = ev.station.as_deref()
                && actor.station.as_deref() != Some(st)
            {
                actor.station = Some(st.into());
            }
        }
        let customer = ev
            .customer
            .as_deref()
            .or(ev.waybill_no.as_deref())
            .map(|c| keys.of(c));

        match ev.action {
            Action::Reveal | Action::Search | Action::Deny => {
                if let Some(c) = customer {
                    if t.customers.len() < MAX_DISTINCT {
                        t.customers.insert(c);
                    } else {
                        t.saturated = true;
                    }
                }
                t.bump(F::Volume, 0.0, ts, ev.evidence, keep);
                if ev.assigned == Some(false) {
                    t.bump(F::NoReason, 1.0, ts, ev.evidence, keep);
                    if let Some(c) = customer {
                        // Occasions, not fields: several fields of one parcel
                        // within minutes are one look-up.
                        let recent = &mut actor.no_reason_seen;
                        if let Some(e) = recent.iter_mut().find(|e| e.0 == c) {
                            if ts - e.1 >= 10 * 60_000 {
                                e.2 += 1;
                            }
                            e.1 = ts;
                            let extra = f64::from(e.2 - 1);
                            let now = t.x[F::Repeat as usize];
                            if extra > now {
                                t.bump(F::Repeat, extra - now, ts, ev.evidence, keep);
                            }
                        } else {
                            if recent.len() >= MAX_REPEAT_TRACKED
                                && let Some(oldest) = recent
                                    .iter()
                                    .enumerate()
                                    .min_by_key(|(_, e)| e.1)
                                    .map(|(i, _)| i)
                            {
                                recent.swap_remove(oldest);
                            }
                            recent.push((c, ts, 1));
                        }
                    }
                }
                if ev.action == Action::Deny {
                    t.bump(F::Denied, 1.0, ts, ev.evidence, keep);
                    if ev.reason.as_deref() == Some("quota_exceeded") {
                        t.quota_hits += 1;
                    }
                }
            }
            Action::Export => {
                t.exports += 1;
                t.bump(F::Exported, ev.count as f64, ts, ev.evidence, keep);
            }
            Action::Login => {}
        }

        if data {
            // New accounts get no off-shift judgement until they have a
            // week's pattern of their own.
            // Overtime is normal; hours the whole role sleeps through are not.
            let off = actor.days_seen >= 5
                && actor.hour_share[hour] < 0.01
                && ev
                    .role
                    .as_deref()
                    .and_then(|r| self.role_share.get(r))
                    .is_some_and(|share| share[hour] < 0.01);
            if off {
                t.bump(F::OffShift, 1.0, ts, ev.evidence, keep);
            }
            // Enumeration walks waybill numbers or customer (phone) ids.
            let keys = [
                ev.waybill_no.as_deref().and_then(waybill_key),
                ev.customer.as_deref().and_then(waybill_key),
            ];
            let mut adjacent = false;
            for w in keys.into_iter().flatten() {
                adjacent |= actor
                    .recent_waybills
                    .iter()
                    .any(|&m| m != 0 && m != w && m.abs_diff(w) <= 3);
                if !actor.recent_waybills.contains(&w) {
                    actor.recent_waybills[actor.recent_pos] = w;
                    actor.recent_pos = (actor.recent_pos + 1) % actor.recent_waybills.len();
                }
            }
            if adjacent {
                t.bump(F::Sequential, 1.0, ts, ev.evidence, keep);
            }
        }

        let warmed = actor.days_seen >= 3;
        if let Some(device) = ev.device.as_deref().map(|d| keys.of(d)) {
            let had_any = !actor.devices.is_empty();
            if !Actor::known(&mut actor.devices, device, day) && warmed && had_any {
                t.bump(F::NewDevice, 1.0, ts, ev.evidence, keep);
            }
            let (last, at) = actor.last_device;
            if data && last != 0 && last != device && ts - at < 10 * 60_000 {
                t.bump(F::Concurrent, 1.0, ts, ev.evidence, keep);
            }
            actor.last_device = (device, ts);
        }
        if let Some(net) = ev.ip.as_deref().and_then(|ip| network_key(keys, ip)) {
            let had_any = !actor.networks.is_empty();
            if !Actor::known(&mut actor.networks, net, day) && warmed && had_any {
                t.bump(F::NewDevice, 1.0, ts, ev.evidence, keep);
            }
        }
        if let Some(station) = ev.station.as_deref().map(|st| keys.of(st)) {
            let (last, at) = actor.last_station;
            if data && last != 0 && last != station && ts - at < 30 * 60_000 {
                t.bump(F::Concurrent, 1.0, ts, ev.evidence, keep);
            }
            actor.last_station = (station, ts);
        }
        t.x[F::Volume as usize] = t.customers.len() as f64;
        if self.config.live && data {
            self.live_check(ev.actor.as_ref(), day, ts, out);
        }
    }

    /// Live mode: scores the actor an event just touched and raises them
    /// at once when they clear the intraday bar.
    fn live_check(&mut self, name: &str, day: i64, ts: i64, out: &mut Vec<Alert>) {
        let key = self.keys.of(name);
        let Some(a) = self.actors.get(&key) else {
            return;
        };
        let raised_today = a
            .raised
            .is_some_and(|(d, s)| d == day && s < Severity::Critical);
        if a.alerted_until >= day && !raised_today || a.alerted_until < day && self.credit < 1.0 {
            return;
        }
        let role = a.role.as_deref().unwrap_or("");
        let station = a.station.as_deref().unwrap_or("");
        let group = self.keys.of((role, station));
        let (today, prev, kind) = match self.live_groups.get(&group) {
            Some(s) => (Some(s), self.prev_groups.get(&group), PeerKind::Station),
            None => {
                let r = self.keys.of(role);
                let prev = if self.prev_groups.contains_key(&group) {
                    self.prev_groups.get(&group)
                } else {
                    self.prev_groups.get(&r)
                };
                (self.live_groups.get(&r), prev, PeerKind::Role)
            }
        };
        let escalation = a.alerted_until >= day;
        let c = candidate(key, a, today, prev, kind, self.clock);
        if escalation {
            self.emit(&c, day, ts, true, out);
        } else if c.points >= self.intraday_floor() {
            self.raise(&c, day, ts, out);
        }
    }

    /// Suppresses `signals` (by name, as in [`Signal::signal`]) for `actor`
    /// until `until_ms`: an analyst's benign verdict. Unknown names are
    /// ignored; returns how many signals were suppressed.
    pub fn suppress(&mut self, actor: &str, signals: &[&str], until_ms: i64) -> usize {
        let day = self.day.unwrap_or_else(|| self.local_day(until_ms));
        let a = self
            .actors
            .entry(self.keys.of(actor))
            .or_insert_with(|| Actor::new(actor, day));
        let mut n = 0;
        for name in signals {
            if let Some(f) = SPECS.iter().position(|s| s.name == *name) {
                a.suppressed.retain(|&(s, _)| s != f);
                a.suppressed.push((f, until_ms));
                n += 1;
            }
        }
        n
    }

    fn intraday_floor(&self) -> f64 {
        self.recent_unraised
            .iter()
            .copied()
            .fold(HIGH_POINTS, f64::max)
    }

    /// Moves event time forward to `ts` (a server calls this on a timer so
    /// quiet hours still close), running the hourly scoring and midnight
    /// closes it passes.
    pub fn advance_to(&mut self, ts: i64, out: &mut Vec<Alert>) {
        if ts <= self.clock {
            return;
        }
        self.clock = ts;
        let Some(mut day) = self.day else {
            let day = self.local_day(ts);
            self.day = Some(day);
            self.credit = self.config.alerts_per_day.min(self.budget_cap());
            self.next_tick =
                self.day_start_ms(day) + ((ts - self.day_start_ms(day)) / HOUR_MS + 1) * HOUR_MS;
            return;
        };
        while ts >= self.next_tick {
            let tick = self.next_tick;
            let tick_day = self.local_day(tick);
            if tick_day != day {
                // Raised at the day's last instant: the closing day's budget.
                self.close_day(day, tick - 1, out);
                // Skip empty days in one step.
                day = if self.local_day(ts) > tick_day + 1 {
                    self.local_day(ts)
                } else {
                    tick_day
                };
                self.day = Some(day);
                self.credit = (self.credit + self.config.alerts_per_day).min(self.budget_cap());
                if day != tick_day {
                    self.next_tick = self.day_start_ms(day) + HOUR_MS;
                    continue;
                }
            } else {
                self.hourly(day, tick, out);
            }
            self.next_tick = tick + HOUR_MS;
        }
    }

    /// Closes the current day (end of a replay).
    pub fn finish(&mut self, out: &mut Vec<Alert>) {
        if let Some(day) = self.day {
            let at = self.clock;
            self.close_day(day, at, out);
            self.day = None;
            self.next_tick = i64::MAX;
        }
    }

    fn budget_cap(&self) -> f64 {
        self.config.alerts_per_day.ceil().max(1.0)
    }

    /// Raises, during the day, only `high` scores that also beat every
    /// actor left unraised in the last week.
    fn hourly(&mut self, day: i64, tick: i64, out: &mut Vec<Alert>) {
        let floor = self.intraday_floor();
        let candidates = self.score(day, true);
        for c in candidates {
            if c.points < floor || self.credit < 1.0 {
                break;
            }
            self.raise(&c, day, tick, out);
        }
    }

    fn close_day(&mut self, day: i64, at: i64, out: &mut Vec<Alert>) {
        let candidates = self.score(day, false);
        self.prev_groups = std::mem::take(&mut self.next_prev_groups);
        let mut best_unraised = 0.0f64;
        for c in &candidates {
            if c.points >= self.config.min_points && self.credit >= 1.0 {
                self.raise(c, day, at, out);
            } else {
                best_unraised = best_unraised.max(c.points);
                break;
            }
        }
        self.recent_unraised.push_back(best_unraised);
        while self.recent_unraised.len() > 7 {
            self.recent_unraised.pop_front();
        }
        let per: HashMap<u64, f64> = candidates
            .iter()
            .map(|c| (c.key, c.points - c.carry))
            .collect();
        let history_days = self.config.history_days;
        let mut role_counts: HashMap<Box<str>, [u64; 24]> = HashMap::new();
        for (key, actor) in &mut self.actors {
            if actor.today.day != day
                || actor.today.accesses == 0 && actor.today.first_ts == i64::MAX
            {
                continue;
            }
            let points = per.get(key).copied().unwrap_or(0.0);
            let mut x = [0f32; N];
            for (dst, src) in x.iter_mut().zip(actor.today.x) {
                *dst = src as f32;
            }
            actor.history.push_back(DaySummary {
                day,
                x,
                points: points as f32,
            });
            while actor.history.len() > history_days {
                actor.history.pop_front();
            }
            actor.days_seen += 1;
            for (h, n) in actor.hours.iter_mut().zip(actor.today.hours) {
                *h = *h * 0.95 + n as f32;
            }
            let total: f32 = actor.hours.iter().sum();
            if total > 0.0 {
                for (share, h) in actor.hour_share.iter_mut().zip(actor.hours) {
                    *share = f64::from(h / total);
                }
            }
            if let Some(role) = &actor.role {
                let counts = role_counts.entry(role.clone()).or_insert([0u64; 24]);
                for (c, n) in counts.iter_mut().zip(actor.today.hours) {
                    *c += u64::from(n);
                }
            }
        }
        // Integer sums first, one decay a day: the same profile whatever
        // order the actors are visited in.
        for profile in self.role_hours.values_mut() {
            for h in profile.iter_mut() {
                *h *= 0.95;
            }
        }
        for (role, counts) in role_counts {
            let profile = self.role_hours.entry(role).or_insert([0.0; 24]);
            for (h, c) in profile.iter_mut().zip(counts) {
                *h += c as f64;
            }
        }
        self.role_share = self
            .role_hours
            .iter()
            .map(|(role, h)| (role.clone(), normalised(h)))
            .collect();
        let horizon = day - (self.config.history_days as i64 + 7);
        let clock = self.clock;
        self.actors.retain(|_, a| {
            a.suppressed.retain(|&(_, until)| until > clock);
            a.last_seen_day >= horizon || !a.suppressed.is_empty()
        });
        self.stats.days += 1;
    }

    fn raise(&mut self, c: &Candidate, day: i64, at: i64, out: &mut Vec<Alert>) {
        self.emit(c, day, at, false, out);
    }

    fn emit(&mut self, c: &Candidate, day: i64, at: i64, escalation: bool, out: &mut Vec<Alert>) {
        let Some(actor) = self.actors.get_mut(&c.key) else {
            return;
        };
        if escalation {
            if actor
                .raised
                .is_none_or(|(d, s)| d != day || s >= Severity::of(c.points))
            {
                return;
            }
        } else {
            if actor.alerted_until >= day {
                return;
            }
            actor.alerted_until = day + self.config.realert_days - 1;
            self.credit -= 1.0;
            self.stats.alerts += 1;
        }
        actor.raised = Some((day, Severity::of(c.points)));
        let offset = time::UtcOffset::from_whole_seconds(self.config.utc_offset_secs)
            .unwrap_or(time::UtcOffset::UTC);
        let when = |ms: i64| {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH)
                .to_offset(offset)
        };
        let t = &actor.today;
        let mut order: Vec<usize> = (0..N).filter(|&f| c.per[f] >= 0.5).collect();
        order.sort_by(|&a, &b| c.per[b].total_cmp(&c.per[a]));
        let mut reasons: Vec<String> = order
            .iter()
            .take(4)
            .map(|&f| {
                let group = (
                    actor.role.as_deref().unwrap_or(""),
                    actor.station.as_deref().unwrap_or(""),
                );
                reason_text(f, c, t, group, &when)
            })
            .collect();
        if c.carry >= 1.0 {
            reasons.push(format!(
                "sustained: {} points carried from unusual activity on the previous six days",
                fmt_num(c.carry)
            ));
        }
        let first = order
            .iter()
            .map(|&f| t.span[f].0)
            .filter(|&ts| ts != i64::MAX)
            .min()
            .unwrap_or(t.first_ts);
        let evidence = if t.evidence.is_empty() {
            t.first_evidence.clone()
        } else {
            t.evidence.clone()
        };
        out.push(Alert {
            actor: actor.name.to_string(),
            role: actor.role.as_deref().map(str::to_string),
            station: actor.station.as_deref().map(str::to_string),
            raised_at: when(at),
            score: 1.0 - (-c.points / 40.0).exp(),
            points: (c.points * 10.0).round() / 10.0,
            severity: Severity::of(c.points),
            reasons,
            signals: order
                .iter()
                .map(|&f| Signal {
                    signal: SPECS[f].name,
                    observed: t.x[f],
                    expected: (c.expected[f] * 100.0).round() / 100.0,
                    points: (c.per[f] * 10.0).round() / 10.0,
                })
                .collect(),
            first_event: when(if first == i64::MAX { at } else { first }),
            last_event: when(if t.last_ts == i64::MIN { at } else { t.last_ts }),
            evidence_kind: self.config.evidence_kind,
            evidence,
            escalation,
        });
    }

    /// Scores every actor active today, best first, skipping those under a
    /// recent alert.
    fn score(&mut self, day: i64, intraday: bool) -> Vec<Candidate> {
        let active: Vec<(&u64, &Actor)> = self
            .actors
            .iter()
            .filter(|(_, a)| a.today.day == day && a.today.accesses > 0 && a.alerted_until < day)
            .collect();
        let everyone: Vec<&Actor> = self
            .actors
            .values()
            .filter(|a| a.today.day == day && a.today.accesses > 0)
            .collect();
        // Peer groups: role and station, or the role when the station has few.
        let mut by_group: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
        let mut by_role: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, a) in everyone.iter().enumerate() {
            let role = a.role.as_deref().unwrap_or("");
            by_group
                .entry((role, a.station.as_deref().unwrap_or("")))
                .or_default()
                .push(i);
            by_role.entry(role).or_default().push(i);
        }
        let mut group_stats: HashMap<(&str, &str), GroupStats> = HashMap::new();
        let mut role_stats: HashMap<&str, GroupStats> = HashMap::new();
        for (role, members) in &by_role {
            if members.len() >= MIN_ROLE_PEERS {
                role_stats.insert(role, GroupStats::of(&everyone, members));
            }
        }
        for (key, members) in &by_group {
            if members.len() >= MIN_PEERS {
                group_stats.insert(*key, GroupStats::of(&everyone, members));
            }
        }
        let prev_groups = &self.prev_groups;
        let keys = &self.keys;
        if !intraday || self.config.live {
            let mut saved = HashMap::new();
            for ((role, station), s) in &group_stats {
                saved.insert(self.keys.of((role, station)), s.clone());
            }
            for (role, s) in &role_stats {
                saved.insert(self.keys.of(role), s.clone());
            }
            if intraday {
                self.live_groups = saved;
            } else {
                self.next_prev_groups = saved;
                self.live_groups.clear();
            }
        }
        let clock = self.clock;
        let mut out: Vec<Candidate> = active
            .iter()
            .map(|(key, a)| {
                let role = a.role.as_deref().unwrap_or("");
                let station = a.station.as_deref().unwrap_or("");
                // During the day, part of the peers have not started yet:
                // yesterday's full day is the floor of what is normal.
                let (today, prev, kind) = match group_stats.get(&(role, station)) {
                    Some(s) => (
                        Some(s),
                        prev_groups.get(&keys.of((role, station))),
                        PeerKind::Station,
                    ),
                    None => (
                        role_stats.get(role),
                        prev_groups.get(&keys.of(role)),
                        PeerKind::Role,
                    ),
                };
                let prev = if intraday { prev } else { None };
                candidate(**key, a, today, prev, kind, clock)
            })
            .collect();
        // Ties go by name: the hash keys are seeded per process.
        let name = |k: &u64| self.actors.get(k).map(|a| &a.name);
        out.sort_by(|a, b| {
            b.points
                .total_cmp(&a.points)
                .then_with(|| name(&a.key).cmp(&name(&b.key)))
        });
        out
    }
}

/// Scores one actor against its peers (`today`, floored by `prev`) and
/// its own history; signals under a suppression at `clock` count nothing.
fn candidate(
    key: u64,
    a: &Actor,
    today: Option<&GroupStats>,
    prev: Option<&GroupStats>,
    kind: PeerKind,
    clock: i64,
) -> Candidate {
    let blended = GroupStats::blend(today, prev);
    let stats = blended.as_ref().unwrap_or(&EMPTY);
    let kind = if today.is_none() && prev.is_some() {
        PeerKind::DayBefore
    } else {
        kind
    };
    let usable = blended.is_some();
    let surge = if today.is_some() { stats.surge } else { 1.0 };
    let mut per = [0.0; N];
    let mut expected = [0.0; N];
    for f in 0..N {
        let spec = &SPECS[f];
        let x = a.today.x[f];
        let peer = if usable { stats.median[f] } else { 0.0 };
        let own = a.own[f].map_or(0.0, |m| {
            if f == F::Volume as usize {
                m * surge
            } else if spec.surge {
                m * surge.max(1.0)
            } else {
                m
            }
        });
        if spec.needs_baseline && !usable && a.own[f].is_none() {
            continue;
        }
        let lambda = spec.prior.max(peer).max(own);
        expected[f] = lambda;
        if x <= lambda
            || a.suppressed
                .iter()
                .any(|&(s, until)| s == f && until > clock)
        {
            continue;
        }
        let dispersion = if usable {
            stats.dispersion[f].max(spec.min_dispersion)
        } else {
            spec.min_dispersion
        };
        let kl = x * (x / lambda).ln() - x + lambda;
        per[f] = spec.weight * (kl / dispersion).min(CAP_POINTS);
    }
    let points = per.iter().sum::<f64>() + a.carry;
    Candidate {
        key,
        points,
        per,
        expected,
        own: a.own,
        peer_median: if usable { stats.median } else { [0.0; N] },
        peer_p99: if usable { stats.p99 } else { [0.0; N] },
        peers: if usable { stats.n } else { 0 },
        peer_kind: kind,
        carry: a.carry,
    }
}

#[derive(Debug, Clone)]
struct GroupStats {
    n: usize,
    median: [f64; N],
    p99: [f64; N],
    dispersion: [f64; N],
    /// Median of today's volume over own baseline: how busy the day is.
    surge: f64,
}

const EMPTY: GroupStats = GroupStats {
    n: 0,
    median: [0.0; N],
    p99: [0.0; N],
    dispersion: [1.0; N],
    surge: 1.0,
};

impl GroupStats {
    /// Today's peers, floored by yesterday's when given.
    fn blend(today: Option<&GroupStats>, prev: Option<&GroupStats>) -> Option<GroupStats> {
        match (today, prev) {
            (Some(t), Some(p)) => {
                let mut b = t.clone();
                for f in 0..N {
                    b.median[f] = t.median[f].max(p.median[f]);
                    b.dispersion[f] = t.dispersion[f].max(p.dispersion[f]);
                    b.p99[f] = t.p99[f].max(p.p99[f]);
                }
                Some(b)
            }
            (Some(t), None) => Some(t.clone()),
            (None, Some(p)) => Some(GroupStats {
                surge: 1.0,
                ..p.clone()
            }),
            (None, None) => None,
        }
    }

    fn of(all: &[&Actor], members: &[usize]) -> Self {
        let mut medians = [0.0; N];
        let mut p99 = [0.0; N];
        let mut dispersion = [1.0; N];
        let mut v = Vec::with_capacity(members.len());
        for f in 0..N {
            v.clear();
            v.extend(members.iter().map(|&i| all[i].today.x[f]));
            let m = median(&mut v);
            let idx = ((v.len() as f64) * 0.99).ceil() as usize;
            p99[f] = v.get(idx.saturating_sub(1)).copied().unwrap_or(0.0);
            let mut dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
            let mad = median(&mut dev) * 1.4826;
            medians[f] = m;
            dispersion[f] = (mad * mad / m.max(1.0)).max(1.0);
        }
        let mut ratios: Vec<f64> = members
            .iter()
            .filter_map(|&i| {
                let a = all[i];
                let own = a.own[F::Volume as usize]?;
                (own >= 5.0).then(|| a.volume() / own)
            })
            .collect();
        let surge = if ratios.len() >= MIN_PEERS {
            median(&mut ratios)
        } else {
            1.0
        };
        Self {
            n: members.len(),
            median: medians,
            p99,
            dispersion,
            surge,
        }
    }
}

fn normalised(h: &[f64; 24]) -> [f64; 24] {
    let total: f64 = h.iter().sum();
    if total > 0.0 {
        h.map(|x| x / total)
    } else {
        [1.0; 24]
    }
}

/// Median, sorting `v` in place; 0 for an empty slice.
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A waybill number's letters and digits folded into one comparable key, so
/// that consecutive numbers of one carrier differ by one.
fn waybill_key(w: &str) -> Option<u64> {
    let digits_at = w.find(|c: char| c.is_ascii_digit())?;
    let (prefix, digits) = w.split_at(digits_at);
    if digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    // A fixed seed: the tag must not change between runs.
    let tag =
        foldhash::fast::FixedState::with_seed(0x7061_7263).hash_one(prefix) & 0xff00_0000_0000_0000;
    Some(tag | n)
}

/// The network an address belongs to (IPv4 /16, IPv6 /48): a rented
/// account shows up from a network the owner never used.
fn network_key(keys: &Keys, ip: &str) -> Option<u64> {
    if let Ok(v4) = ip.parse::<std::net::Ipv4Addr>() {
        let [a, b, _, _] = v4.octets();
        return Some(keys.of((a, b)));
    }
    let v6 = ip.parse::<std::net::Ipv6Addr>().ok()?;
    let s = v6.segments();
    Some(keys.of((s[0], s[1], s[2])))
}

fn fmt_num(x: f64) -> String {
    if (x - x.round()).abs() < 0.05 {
        format!("{}", x.round() as i64)
    } else {
        format!("{x:.1}")
    }
}

fn reason_text(
    f: usize,
    c: &Candidate,
    t: &Today,
    (role, station): (&str, &str),
    when: &dyn Fn(i64) -> OffsetDateTime,
) -> String {
    let x = t.x[f];
    let (from, to) = t.span[f];
    let span = if from <= to && from != i64::MAX {
        let (a, b) = (when(from), when(to));
        format!(
            " between {:02}:{:02} and {:02}:{:02}",
            a.hour(),
            a.minute(),
            b.hour(),
            b.minute()
        )
    } else {
        String::new()
    };
    let what = match f {
        0 if t.saturated => format!(
            "at least {} distinct customers' records touched",
            fmt_num(x)
        ),
        0 => format!("{} distinct customers' records touched", fmt_num(x)),
        1 => format!(
            "{} accesses with no business reason (shipment not assigned, no ticket){span}",
            fmt_num(x)
        ),
        2 => format!(
            "{} accesses at hours this account does not work{span}",
            fmt_num(x)
        ),
        3 => format!(
            "{} new devices or networks for this account{span}",
            fmt_num(x)
        ),
        4 => format!(
            "{} switches between devices or stations within minutes (concurrent use){span}",
            fmt_num(x)
        ),
        5 => format!(
            "{} look-ups of waybill numbers adjacent to ones just looked up (enumeration){span}",
            fmt_num(x)
        ),
        6 => format!(
            "{} records exported in {} exports{span}",
            fmt_num(x),
            t.exports
        ),
        7 if t.quota_hits > 0 => format!(
            "{} denied requests, {} over quota{span}",
            fmt_num(x),
            t.quota_hits
        ),
        7 => format!("{} denied requests{span}", fmt_num(x)),
        _ => format!(
            "{} repeat look-ups of one customer with no business reason{span}",
            fmt_num(x + 1.0)
        ),
    };
    let own = c.own[f].map_or_else(
        || "no history yet".to_string(),
        |m| format!("own median {}", fmt_num(m)),
    );
    let peers = if c.peers > 0 {
        format!(
            "; peers' median {}, 99th percentile {} ({})",
            fmt_num(c.peer_median[f]),
            fmt_num(c.peer_p99[f]),
            match c.peer_kind {
                PeerKind::Station => format!("{} {role}s at {station}", c.peers),
                PeerKind::Role => format!(
                    "{} {}s",
                    c.peers,
                    if role.is_empty() { "actor" } else { role }
                ),
                PeerKind::DayBefore => format!("{} peers the day before", c.peers),
            }
        )
    } else {
        String::new()
    };
    format!("{what}; {own}{peers}; {} points", fmt_num(c.per[f]))
}
