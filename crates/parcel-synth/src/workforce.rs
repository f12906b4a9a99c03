//! A seeded simulator of an express company's workforce and its access
//! events, with injected insiders: the insider-risk detector's evaluation.
//!
//! Couriers, customer-service agents, station managers, auditors and admins
//! work shifts (days off, night shifts, overtime on the peak day) and touch
//! customers' data for real business reasons. A few of them are insiders,
//! one per scenario instance:
//!
//! - `bulk`: one night pull of hundreds of unassigned shipments' phones;
//! - `slow_and_low`: a handful of unassigned lookups hidden in every shift;
//! - `rented_account`: the account used from a stranger's device and
//!   network at night, and once interleaved with the owner's own work;
//! - `departing`: a slow rise over weeks ending in exports;
//! - `enumeration`: a sweep of consecutive waybill numbers;
//! - `curious`: an agent looking up one famous customer without a ticket.
//!
//! Normal work has its own oddities so the detector cannot win by flagging
//! anything unusual: new phones, mobile networks, merchant batches with
//! consecutive waybill numbers, the odd legitimate unassigned reveal, a
//! tripled peak day (11.11). Events come out one day at a time, sorted, in
//! the format `parcelguard watch --events` reads.

use rand::Rng as _;
use rand::SeedableRng as _;
use serde::Serialize;

use crate::Rng64;

/// Unix milliseconds of 2026-10-21T00:00:00+08:00, the first simulated day
/// (so 11.11 is day 21).
pub const DEFAULT_START_MS: i64 = 1_792_512_000_000;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// China Standard Time: days, shifts and timestamps are local.
const OFFSET_MS: i64 = 8 * HOUR_MS;

/// The scenario names, as they appear in [`Insider::scenario`].
pub const SCENARIOS: [&str; 6] = [
    "bulk",
    "slow_and_low",
    "rented_account",
    "departing",
    "enumeration",
    "curious",
];

/// Hours within which each scenario should be caught (the targets;
/// the curious agent has none there, three days is ours).
#[must_use]
pub fn deadline_hours(scenario: &str) -> u32 {
    match scenario {
        "slow_and_low" | "departing" => 120,
        "curious" => 72,
        _ => 24,
    }
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct WorkforceConfig {
    /// Employees in all roles.
    pub employees: usize,
    /// Delivery stations.
    pub stations: usize,
    /// Days simulated.
    pub days: u32,
    /// Unix milliseconds of local midnight of the first day.
    pub start_ms: i64,
    /// Day index of the shopping peak (volume triples), if any.
    pub peak_day: Option<u32>,
    /// Insiders per scenario.
    pub insiders_per_scenario: usize,
    /// Seed: the same seed gives the same events.
    pub seed: u64,
}

impl Default for WorkforceConfig {
    fn default() -> Self {
        Self {
            employees: 500,
            stations: 12,
            days: 30,
            start_ms: DEFAULT_START_MS,
            peak_day: Some(21),
            insiders_per_scenario: 2,
            seed: 7,
        }
    }
}

/// One access event, serialised in the `watch --events` format.
#[derive(Debug, Clone, Serialize)]
pub struct SimEvent {
    /// When, RFC 3339 with the +08:00 offset when serialised.
    #[serde(serialize_with = "ser_ts")]
    pub ts: i64,
    /// Employee id.
    pub actor: String,
    /// `reveal`, `search`, `export`, `login` or `deny`.
    pub action: &'static str,
    /// The actor's role.
    pub role: &'static str,
    /// The station the request came from.
    pub station: String,
    /// Shipment touched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waybill_no: Option<String>,
    /// Pseudonymous id of the person whose data was touched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// Field revealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// Declared purpose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<&'static str>,
    /// Whether the shipment was the actor's to handle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned: Option<bool>,
    /// Device id.
    pub device: String,
    /// Source address.
    pub ip: String,
    /// Records in an export.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Reason code of a denial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

fn ser_ts<S: serde::Serializer>(ts: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339_cst(*ts))
}

/// Formats unix milliseconds as RFC 3339 in China Standard Time.
#[must_use]
pub fn rfc3339_cst(ts_ms: i64) -> String {
    let local = ts_ms + OFFSET_MS;
    let days = local.div_euclid(DAY_MS);
    let ms = local.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    let secs = ms / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+08:00",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Ground truth: one injected insider.
#[derive(Debug, Clone, Serialize)]
pub struct Insider {
    /// The account used.
    pub actor: String,
    /// One of [`SCENARIOS`].
    pub scenario: &'static str,
    /// Unix milliseconds of the first malicious event.
    pub first_ts: i64,
    /// Hours within which it should be caught.
    pub deadline_hours: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Courier,
    Service,
    Manager,
    Auditor,
    Admin,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Courier => "courier",
            Role::Service => "customer_service",
            Role::Manager => "station_manager",
            Role::Auditor => "security_auditor",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone)]
struct Employee {
    id: String,
    role: Role,
    station: String,
    /// Personal volume multiplier (routes and queues differ).
    base: f64,
    shift_start_h: f64,
    shift_len_h: f64,
    /// Weekdays off (0 = Monday).
    days_off: [u32; 2],
    phone: u32,
    new_phone_day: Option<u32>,
    ip: String,
    mobile_ips: [String; 2],
}

#[derive(Debug, Clone)]
struct Plan {
    emp: usize,
    scenario: &'static str,
    day: u32,
    len: u32,
    first_ts: Option<i64>,
}

/// The simulator: call [`Workforce::day`] for each day in order.
#[derive(Debug)]
pub struct Workforce {
    config: WorkforceConfig,
    employees: Vec<Employee>,
    plans: Vec<Plan>,
    rng: Rng64,
    celebrity: String,
    /// Events generated for after the current day (night shifts).
    pending: Vec<SimEvent>,
}

impl Workforce {
    /// Hires the workforce and plans the insiders.
    #[must_use]
    pub fn new(config: WorkforceConfig) -> Self {
        let mut rng = Rng64::seed_from_u64(config.seed);
        let stations = config.stations.max(1);
        let mut employees = Vec::with_capacity(config.employees);
        let n = config.employees.max(stations + 8);
        for i in 0..n {
            let role = if i < stations {
                Role::Manager
            } else if i < stations + 3 {
                Role::Auditor
            } else if i < stations + 5 {
                Role::Admin
            } else if rng.gen_bool(0.17) {
                Role::Service
            } else {
                Role::Courier
            };
            let station_ix = if role == Role::Manager {
                i
            } else {
                rng.gen_range(0..stations)
            };
            let station = match role {
                Role::Service => "HQ-CC".to_string(),
                Role::Auditor | Role::Admin => "HQ".to_string(),
                _ => format!("ST{:02}", station_ix + 1),
            };
            let (shift_start_h, shift_len_h) = match role {
                Role::Courier => (rng.gen_range(7.0..9.0), rng.gen_range(9.0..11.5)),
                Role::Service => match rng.gen_range(0..20) {
                    0..=8 => (8.0, 8.0),
                    9..=17 => (14.0, 8.0),
                    _ => (22.0, 8.0),
                },
                Role::Manager => (rng.gen_range(7.5..8.5), 10.5),
                Role::Auditor | Role::Admin => (9.0, 9.0),
            };
            let first_off = rng.gen_range(0..7);
            let days_off = match role {
                Role::Courier | Role::Manager => [first_off, first_off],
                _ => [first_off, (first_off + 1) % 7],
            };
            let new_phone_day = rng
                .gen_bool(0.03)
                .then(|| rng.gen_range(1..config.days.max(2)));
            employees.push(Employee {
                id: format!("E{:05}", 10_001 + i),
                role,
                station,
                base: lognormal(&mut rng, 0.35),
                shift_start_h,
                shift_len_h,
                days_off,
                phone: 1,
                new_phone_day,
                ip: format!(
                    "10.{}.{}.{}",
                    station_ix + 1,
                    rng.gen_range(0..255),
                    rng.gen_range(1..255)
                ),
                mobile_ips: [
                    format!("100.64.{}.{}", rng.gen_range(0..255), rng.gen_range(1..255)),
                    format!("100.65.{}.{}", rng.gen_range(0..255), rng.gen_range(1..255)),
                ],
            });
        }
        let plans = plan_insiders(&config, &employees, &mut rng);
        Self {
            config,
            employees,
            plans,
            rng,
            celebrity: "C00000042".to_string(),
            pending: Vec::new(),
        }
    }

    /// Employees hired.
    #[must_use]
    pub fn employees(&self) -> usize {
        self.employees.len()
    }

    /// The insiders whose first malicious event has been generated so far
    /// (all of them once every day has been).
    #[must_use]
    pub fn insiders(&self) -> Vec<Insider> {
        self.plans
            .iter()
            .filter_map(|p| {
                Some(Insider {
                    actor: self.employees[p.emp].id.clone(),
                    scenario: p.scenario,
                    first_ts: p.first_ts?,
                    deadline_hours: deadline_hours(p.scenario),
                })
            })
            .collect()
    }

    /// All events of day `d` (0-based), sorted by time; call it for each
    /// day in order (work past midnight comes out with the next day).
    pub fn day(&mut self, d: u32) -> Vec<SimEvent> {
        let mut out = std::mem::take(&mut self.pending);
        let midnight = self.config.start_ms + i64::from(d) * DAY_MS;
        let weekday = weekday(midnight);
        let peak = peak_factor(self.config.peak_day, d);
        for e in 0..self.employees.len() {
            if self.employees[e].new_phone_day == Some(d) {
                self.employees[e].phone += 1;
            }
            self.normal_day(e, midnight, weekday, peak, &mut out);
        }
        for p in 0..self.plans.len() {
            let plan = self.plans[p].clone();
            if d >= plan.day && d < plan.day + plan.len {
                let before = out.len();
                self.insider_day(&plan, d - plan.day, midnight, &mut out);
                let first = out[before..].iter().map(|ev| ev.ts).min();
                if self.plans[p].first_ts.is_none() {
                    self.plans[p].first_ts = first;
                }
            }
        }
        out.sort_by_key(|ev| ev.ts);
        if d + 1 < self.config.days {
            let next = out.partition_point(|ev| ev.ts < midnight + DAY_MS);
            self.pending = out.split_off(next);
        }
        out
    }

    fn normal_day(
        &mut self,
        e: usize,
        midnight: i64,
        weekday: u32,
        peak: f64,
        out: &mut Vec<SimEvent>,
    ) {
        let emp = &self.employees[e];
        let rng = &mut self.rng;
        if emp.days_off.contains(&weekday) && peak < 1.5 || rng.gen_bool(0.03) {
            return;
        }
        let weekend = if weekday >= 5 { 0.8 } else { 1.0 };
        let noise = lognormal(rng, 0.2);
        let overtime = if peak > 1.5 {
            2.5
        } else if rng.gen_bool(0.1) {
            1.5
        } else {
            0.0
        };
        let start = midnight + hours(emp.shift_start_h + rng.gen_range(-0.25..0.25));
        let len = hours(emp.shift_len_h + overtime);
        let device = format!("{}-p{}", emp.id, emp.phone);
        let ip_for = |rng: &mut Rng64| {
            if emp.role == Role::Courier && rng.gen_bool(0.3) {
                emp.mobile_ips[rng.gen_range(0..2)].clone()
            } else {
                emp.ip.clone()
            }
        };
        let ev = |ts: i64, action: &'static str, ip: String| SimEvent {
            ts,
            actor: emp.id.clone(),
            action,
            role: emp.role.name(),
            station: emp.station.clone(),
            waybill_no: None,
            customer: None,
            field: None,
            purpose: None,
            assigned: None,
            device: device.clone(),
            ip,
            count: None,
            reason: None,
        };
        let login_ip = ip_for(rng);
        out.push(ev(start - rng.gen_range(0..600_000), "login", login_ip));
        let mut waybill = 0u64;
        let mut access = |rng: &mut Rng64,
                          out: &mut Vec<SimEvent>,
                          purpose: &'static str,
                          fields: &[(&'static str, f64)]| {
            let ts = start + rng.gen_range(0..len);
            waybill = if waybill > 0 && rng.gen_bool(0.08) {
                waybill + 1
            } else {
                rng.gen_range(100_000_000_000..999_999_999_999)
            };
            let customer = format!("C{:08}", rng.gen_range(100..99_999_999));
            let legit_unassigned = rng.gen_bool(0.004);
            let denied = rng.gen_bool(0.004);
            for &(field, p) in fields {
                if !rng.gen_bool(p) {
                    continue;
                }
                let mut x = ev(ts + rng.gen_range(0..90_000), "reveal", ip_for(rng));
                x.waybill_no = Some(format!("SF{waybill:012}"));
                x.customer = Some(customer.clone());
                x.field = Some(field);
                x.purpose = Some(purpose);
                x.assigned = Some(!legit_unassigned);
                if denied {
                    x.action = "deny";
                    x.reason = Some("outside_delivery_window");
                }
                out.push(x);
            }
        };
        let volume = emp.base * weekend * noise * peak;
        match emp.role {
            Role::Courier => {
                let deliveries = poisson(rng, 110.0 * volume);
                for _ in 0..deliveries {
                    access(
                        rng,
                        out,
                        "delivery_contact",
                        &[("phone", 0.85), ("address", 0.1), ("name", 0.05)],
                    );
                }
                for _ in 0..poisson(rng, 10.0 * volume) {
                    access(rng, out, "pickup", &[("phone", 0.9), ("address", 0.3)]);
                }
                for _ in 0..poisson(rng, 2.0) {
                    let mut x = ev(start + rng.gen_range(0..len), "search", ip_for(rng));
                    x.customer = Some(format!("C{:08}", rng.gen_range(100..99_999_999)));
                    x.assigned = Some(true);
                    out.push(x);
                }
            }
            Role::Service => {
                let tickets = poisson(rng, 55.0 * volume.min(2.2 * emp.base));
                for _ in 0..tickets {
                    let mut s = ev(start + rng.gen_range(0..len), "search", emp.ip.clone());
                    s.customer = Some(format!("C{:08}", rng.gen_range(100..99_999_999)));
                    s.assigned = Some(true);
                    out.push(s);
                    access(
                        rng,
                        out,
                        "customer_service",
                        &[("phone", 0.7), ("address", 0.2), ("name", 0.1)],
                    );
                }
            }
            Role::Manager => {
                for _ in 0..poisson(rng, 20.0 * volume) {
                    access(
                        rng,
                        out,
                        "exception_handling",
                        &[("phone", 0.8), ("address", 0.3)],
                    );
                }
                let mut x = ev(
                    start + rng.gen_range(0..3_600_000),
                    "export",
                    emp.ip.clone(),
                );
                x.count = Some((rng.gen_range(100.0..400.0) * peak) as u32);
                x.purpose = Some("exception_handling");
                out.push(x);
            }
            Role::Auditor => {
                for _ in 0..poisson(rng, 5.0) {
                    let mut x = ev(start + rng.gen_range(0..len), "search", emp.ip.clone());
                    x.customer = Some(format!("C{:08}", rng.gen_range(100..99_999_999)));
                    x.purpose = Some("security_investigation");
                    out.push(x);
                }
                if rng.gen_bool(0.2) {
                    let mut x = ev(start + rng.gen_range(0..len), "deny", emp.ip.clone());
                    x.field = Some("phone");
                    x.reason = Some("purpose_not_allowed");
                    out.push(x);
                }
                if rng.gen_bool(0.15) {
                    let mut x = ev(start + rng.gen_range(0..len), "export", emp.ip.clone());
                    x.count = Some(rng.gen_range(20..100));
                    x.purpose = Some("security_investigation");
                    out.push(x);
                }
            }
            Role::Admin => {
                for _ in 0..poisson(rng, 1.0) {
                    let mut x = ev(start + rng.gen_range(0..len), "search", emp.ip.clone());
                    x.customer = Some(format!("C{:08}", rng.gen_range(100..99_999_999)));
                    out.push(x);
                }
            }
        }
    }

    fn insider_day(&mut self, plan: &Plan, k: u32, midnight: i64, out: &mut Vec<SimEvent>) {
        let emp = self.employees[plan.emp].clone();
        let rng = &mut self.rng;
        let own_device = format!("{}-p{}", emp.id, emp.phone);
        let purpose = match emp.role {
            Role::Service => "customer_service",
            Role::Manager => "exception_handling",
            _ => "delivery_contact",
        };
        let mk = |ts: i64, action: &'static str, device: &str, ip: &str| SimEvent {
            ts,
            actor: emp.id.clone(),
            action,
            role: emp.role.name(),
            station: emp.station.clone(),
            waybill_no: Some(format!(
                "SF{:012}",
                (ts as u64).wrapping_mul(2_654_435_761) % 900_000_000_000 + 100_000_000_000
            )),
            customer: None,
            field: Some("phone"),
            purpose: Some(purpose),
            assigned: Some(false),
            device: device.to_string(),
            ip: ip.to_string(),
            count: None,
            reason: None,
        };
        let random_customer =
            |rng: &mut Rng64| Some(format!("C{:08}", rng.gen_range(100..99_999_999)));
        let in_shift = |rng: &mut Rng64| {
            midnight + hours(emp.shift_start_h + rng.gen_range(0.3..emp.shift_len_h - 0.3))
        };
        match plan.scenario {
            "bulk" => {
                let start = midnight + hours(1.0) + rng.gen_range(0..3_600_000);
                let n = rng.gen_range(300..700);
                let span = rng.gen_range(3_600_000..7_200_000);
                for _ in 0..n {
                    let mut x = mk(
                        start + rng.gen_range(0..span),
                        "reveal",
                        &own_device,
                        &emp.ip,
                    );
                    x.customer = random_customer(rng);
                    out.push(x);
                }
            }
            "slow_and_low" => {
                for _ in 0..rng.gen_range(6..15) {
                    let mut x = mk(in_shift(rng), "reveal", &own_device, &emp.ip);
                    x.customer = random_customer(rng);
                    out.push(x);
                }
            }
            "rented_account" => {
                let device = format!("R-{:x}", rng.gen_range(0x1000_0000u32..0xffff_ffff));
                let ip = format!("172.16.{}.{}", rng.gen_range(0..255), rng.gen_range(1..255));
                let night = midnight + hours(22.0) + rng.gen_range(0..3_600_000);
                let n = rng.gen_range(100..300);
                for _ in 0..n {
                    let mut x = mk(night + rng.gen_range(0..hours(4.0)), "reveal", &device, &ip);
                    x.customer = random_customer(rng);
                    x.assigned = Some(rng.gen_bool(0.15));
                    out.push(x);
                }
                if k == 1 {
                    // The renter also works while the owner does.
                    for _ in 0..50 {
                        let mut x = mk(in_shift(rng), "reveal", &device, &ip);
                        x.customer = random_customer(rng);
                        out.push(x);
                    }
                }
            }
            "departing" => {
                let ramp = f64::from(k + 1) / f64::from(plan.len);
                let extra = poisson(rng, 110.0 * emp.base * (0.15 + 0.9 * ramp));
                for _ in 0..extra {
                    let mut x = mk(in_shift(rng), "reveal", &own_device, &emp.ip);
                    x.customer = random_customer(rng);
                    x.assigned = Some(!rng.gen_bool(0.4));
                    out.push(x);
                }
                if k + 2 >= plan.len {
                    let mut x = mk(in_shift(rng), "export", &own_device, &emp.ip);
                    x.waybill_no = None;
                    x.field = None;
                    x.count = Some(rng.gen_range(1000..4000));
                    out.push(x);
                }
            }
            "enumeration" => {
                let start = in_shift(rng);
                let mut n: u64 = rng.gen_range(100_000_000_000..900_000_000_000);
                for i in 0..rng.gen_range(150..400) {
                    n += rng.gen_range(1..3);
                    let ts = start + i * rng.gen_range(5_000..20_000);
                    let mut x = mk(ts, "search", &own_device, &emp.ip);
                    x.waybill_no = Some(format!("SF{n:012}"));
                    x.field = None;
                    out.push(x);
                    if rng.gen_bool(0.3) {
                        let mut r = mk(ts + 2_000, "reveal", &own_device, &emp.ip);
                        r.waybill_no = Some(format!("SF{n:012}"));
                        r.customer = random_customer(rng);
                        out.push(r);
                    }
                }
            }
            _ => {
                // curious: one famous customer, every field, no ticket.
                let n = if k == 0 {
                    rng.gen_range(3..7)
                } else {
                    rng.gen_range(1..4)
                };
                for _ in 0..n {
                    let mut x = mk(in_shift(rng), "reveal", &own_device, &emp.ip);
                    x.customer = Some(self.celebrity.clone());
                    x.waybill_no = Some("SF100000000042".to_string());
                    x.field = Some(["phone", "address", "name"][rng.gen_range(0..3)]);
                    out.push(x);
                }
            }
        }
    }
}

fn plan_insiders(config: &WorkforceConfig, employees: &[Employee], rng: &mut Rng64) -> Vec<Plan> {
    let mut plans = Vec::new();
    let mut taken = vec![false; employees.len()];
    let days = config.days.max(10);
    for _ in 0..config.insiders_per_scenario {
        for scenario in SCENARIOS {
            let eligible: Vec<usize> = (0..employees.len())
                .filter(|&i| {
                    !taken[i]
                        && match scenario {
                            "curious" => employees[i].role == Role::Service,
                            "departing" => {
                                matches!(employees[i].role, Role::Courier | Role::Service)
                            }
                            _ => {
                                matches!(employees[i].role, Role::Courier | Role::Service)
                                // Night-shift agents work when bulk pulls happen.
                                && employees[i].shift_start_h < 20.0
                            }
                        }
                })
                .collect();
            if eligible.is_empty() {
                continue;
            }
            let emp = eligible[rng.gen_range(0..eligible.len())];
            taken[emp] = true;
            let (day, len) = match scenario {
                "departing" => {
                    let len = (days * 2 / 3).min(21);
                    (rng.gen_range(days / 4..days - len), len)
                }
                "slow_and_low" => (rng.gen_range(days / 4..days - 6), days),
                "rented_account" => (rng.gen_range(days / 4..days - 4), 3),
                "curious" => (rng.gen_range(days / 4..days - 3), 2),
                _ => (rng.gen_range(days / 4..days - 2), 1),
            };
            plans.push(Plan {
                emp,
                scenario,
                day,
                len,
                first_ts: None,
            });
        }
    }
    plans
}

fn hours(h: f64) -> i64 {
    (h * 3_600_000.0) as i64
}

fn weekday(midnight_ms: i64) -> u32 {
    // 1970-01-01 was a Thursday (3 when Monday is 0).
    let days = (midnight_ms + OFFSET_MS).div_euclid(DAY_MS);
    ((days + 3).rem_euclid(7)) as u32
}

fn peak_factor(peak: Option<u32>, d: u32) -> f64 {
    match peak {
        Some(p) if d == p => 3.0,
        Some(p) if d == p + 1 => 2.2,
        Some(p) if d == p + 2 => 1.6,
        Some(p) if d + 1 == p => 1.3,
        _ => 1.0,
    }
}

fn lognormal(rng: &mut Rng64, sigma: f64) -> f64 {
    (normal(rng) * sigma).exp()
}

fn normal(rng: &mut Rng64) -> f64 {
    // Box–Muller; rand 0.8 ships no normal distribution without rand_distr.
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn poisson(rng: &mut Rng64, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda > 30.0 {
        return (lambda + lambda.sqrt() * normal(rng)).round().max(0.0) as u32;
    }
    let l = (-lambda).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.r#gen::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_local_rfc3339() {
        assert_eq!(rfc3339_cst(DEFAULT_START_MS), "2026-10-21T00:00:00+08:00");
        assert_eq!(
            rfc3339_cst(DEFAULT_START_MS + 21 * DAY_MS + 3_723_000),
            "2026-11-11T01:02:03+08:00"
        );
        // 2026-10-21 is a Wednesday.
        assert_eq!(weekday(DEFAULT_START_MS), 2);
    }

    #[test]
    fn same_seed_same_events_and_every_insider_acts() {
        let config = WorkforceConfig {
            employees: 120,
            days: 12,
            ..WorkforceConfig::default()
        };
        let run = |config: &WorkforceConfig| {
            let mut w = Workforce::new(config.clone());
            let events: Vec<SimEvent> = (0..config.days).flat_map(|d| w.day(d)).collect();
            (events, w.insiders())
        };
        let (a, insiders) = run(&config);
        let (b, _) = run(&config);
        assert_eq!(a.len(), b.len());
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.ts == y.ts && x.actor == y.actor)
        );
        assert!(a.windows(2).all(|w| w[0].ts <= w[1].ts));
        assert_eq!(insiders.len(), 2 * SCENARIOS.len());
        for s in SCENARIOS {
            assert!(insiders.iter().any(|i| i.scenario == s), "{s} missing");
        }
        let line = serde_json::to_string(&a[0]).unwrap_or_default();
        assert!(
            line.contains("\"ts\":\"2026-10-21T") && line.contains("\"action\":"),
            "{line}"
        );
    }
}
