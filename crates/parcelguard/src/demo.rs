//! `parcelguard serve --demo`: a simulated depot that drives the real API.
//!
//! The demo gets a data directory of its own (the configured vault is never
//! touched), starts the ordinary server on it, and then behaves like the
//! company's systems and staff would: an admin enrols ~100 employees and
//! issues their keys, the order system files ~20,000 shipments and moves
//! them through their lifecycle, couriers reveal the phone numbers of what
//! they deliver, agents answer tickets, and one courier starts harvesting
//! other couriers' recipients. Everything goes over HTTP with the same
//! requests a real client sends; nothing in the product knows it is a
//! demo, so what the console shows is what the product really did.

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use parcel_config::Config;
use serde_json::{Value, json};

use crate::cli::ServeArgs;

/// File that marks a directory as the demo's, so a rerun may replace it.
const MARKER: &str = ".parcelguard-demo";
const STATIONS: [&str; 4] = ["ST01", "ST02", "ST03", "ST04"];
const COURIERS_PER_STATION: usize = 20;
const AGENTS: usize = 10;
/// Shipments per `POST /v1/shipments/batch`.
const BATCH: usize = 1000;
/// The courier who turns insider.
const INSIDER: &str = "E1307";

pub(crate) fn serve(config: &Config, addr: SocketAddr, args: &ServeArgs) -> Result<ExitCode> {
    let dir = args.demo_dir.as_path();
    fresh_dir(dir)?;
    let mut config = config.clone();
    config.data_dir = dir.to_path_buf();
    config.database.url = String::new();
    config.keys.provider = "file".to_owned();
    config.risk.enabled = true;
    config.numbers.enabled = true;
    config.numbers.switch = vec!["telephony".to_owned()];
    parcel_keys::init_local(dir).context("creating the demo's root key")?;
    // An independent witness cosigns the demo log's checkpoints, as an
    // auditor's would: the console shows its cosignature.
    config.tlog.witnesses = vec![crate::log_cmds::start_local_witness(
        &config,
        &dir.join("witness"),
    )?];
    let admin = crate::vault_cmds::init_vault(&config, &mut io::sink())?;
    let shipments = args.demo_shipments;
    let insider_after = args.demo_insider_after;
    crate::vault_cmds::serve_at(
        &config,
        addr,
        Some(Box::new(move |local| {
            let spawned = std::thread::Builder::new()
                .name("demo-depot".to_owned())
                .spawn(move || {
                    if let Err(e) = run(local, &admin, shipments, insider_after) {
                        tracing::error!(error = %format!("{e:#}"), "the demo depot stopped");
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start the demo depot");
            }
        })),
    )
}

/// Empties `dir` for a new demo, refusing a directory the demo did not make.
fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let ours = dir.join(MARKER).exists();
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("{}: cannot read", dir.display()))?
            .next()
            .is_none();
        if !ours && !empty {
            bail!(
                "--demo-dir {}: exists and was not made by `serve --demo`; choose another directory",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("{}: cannot remove the previous demo", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "made by `parcelguard serve --demo`; replaced at each demo start\n",
    )
    .with_context(|| format!("{}: cannot write", dir.display()))?;
    Ok(())
}

/// A JSON client of the API.
#[derive(Clone)]
struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        Self {
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(30)))
                .http_status_as_error(false)
                .build()
                .into(),
            base: format!("http://{addr}"),
        }
    }

    fn call(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {key}");
        let text = body.map(Value::to_string).unwrap_or_default();
        let mut resp = match method {
            "GET" => self.agent.get(&url).header("authorization", &auth).call(),
            "PATCH" => self
                .agent
                .patch(&url)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(text.as_str()),
            "PUT" => self
                .agent
                .put(&url)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(text.as_str()),
            _ => self
                .agent
                .post(&url)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(text.as_str()),
        }
        .with_context(|| format!("{method} {path}"))?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
    }

    /// Like [`Client::call`], failing unless the answer is 2xx.
    fn ok(&self, key: &str, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let (status, v) = self.call(key, method, path, body)?;
        if !(200..300).contains(&status) {
            bail!(
                "{method} {path}: {status} {}",
                v["error"]["code"].as_str().unwrap_or("")
            );
        }
        Ok(v)
    }
}

/// One enrolled employee or system and its API key.
#[derive(Clone)]
struct Person {
    id: String,
    station: Option<&'static str>,
    key: String,
}

struct Roster {
    couriers: Vec<Person>,
    managers: Vec<Person>,
    agents: Vec<Person>,
    auditors: Vec<Person>,
    orders: Person,
    printer: Person,
    switch: Person,
}

/// The demo: enrol, seed, then work until the server stops.
fn run(addr: SocketAddr, admin: &str, shipments: usize, insider_after: u64) -> Result<()> {
    let c = Client::new(addr);
    wait_healthy(&c)?;
    let roster = enrol(&c, admin)?;
    print_banner(addr, admin, &roster, shipments, insider_after)?;
    let plan = seed_shipments(&c, &roster, admin, shipments)?;
    work(&c, &roster, plan, insider_after)
}

fn wait_healthy(c: &Client) -> Result<()> {
    for _ in 0..100 {
        if let Ok((200, _)) = c.call("", "GET", "/healthz", None) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the server did not come up")
}

fn enrol(c: &Client, admin: &str) -> Result<Roster> {
    let add = |id: String, role: &'static str, station: Option<&'static str>| -> Result<Person> {
        c.ok(
            admin,
            "POST",
            "/v1/principals",
            Some(&json!({"id": id, "role": role, "station": station})),
        )?;
        let k = c.ok(
            admin,
            "POST",
            &format!("/v1/principals/{id}/keys"),
            Some(&json!({"expires_in_days": 7})),
        )?;
        let key = k["api_key"]["secret"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok(Person { id, station, key })
    };
    let mut couriers = Vec::new();
    let mut managers = Vec::new();
    for (s, station) in STATIONS.iter().enumerate() {
        for n in 0..COURIERS_PER_STATION {
            couriers.push(add(format!("E1{}{n:02}", s + 1), "courier", Some(station))?);
        }
        managers.push(add(
            format!("E20{:02}", s + 1),
            "station_manager",
            Some(station),
        )?);
    }
    let agents = (1..=AGENTS)
        .map(|n| add(format!("E30{n:02}"), "customer_service", None))
        .collect::<Result<Vec<_>>>()?;
    let auditors = (1..=2)
        .map(|n| add(format!("E40{n:02}"), "security_auditor", None))
        .collect::<Result<Vec<_>>>()?;
    // A second admin, as break-glass approvals need one.
    add("E5001".to_owned(), "admin", None)?;
    // Couriers' contact phones: side A of their privacy-number bindings.
    for (i, p) in couriers.iter().enumerate() {
        c.ok(
            admin,
            "PUT",
            &format!("/v1/principals/{}/phone", p.id),
            Some(&json!({"phone": format!("137{:08}", 20_000_000 + i)})),
        )?;
    }
    Ok(Roster {
        couriers,
        managers,
        agents,
        auditors,
        orders: add("order-system".to_owned(), "service", None)?,
        printer: add("label-printer".to_owned(), "service", None)?,
        switch: add("telephony".to_owned(), "service", None)?,
    })
}

fn print_banner(
    addr: SocketAddr,
    admin: &str,
    r: &Roster,
    shipments: usize,
    insider_after: u64,
) -> Result<()> {
    let mut out = io::stdout().lock();
    let employees = r.couriers.len() + r.managers.len() + r.agents.len() + r.auditors.len() + 2;
    writeln!(out)?;
    writeln!(
        out,
        "demo depot: {} stations, {employees} employees, {shipments} shipments (seeding now)",
        STATIONS.len()
    )?;
    writeln!(
        out,
        "console:    http://{addr}/console/  (sign in with the security_auditor key)"
    )?;
    writeln!(
        out,
        "demo API keys (valid 7 days, for this demo's data only):"
    )?;
    let rows: [(&str, &str, Option<&str>, &str); 7] = [
        (
            "security_auditor",
            &r.auditors[0].id,
            None,
            &r.auditors[0].key,
        ),
        ("admin", "admin", None, admin),
        (
            "station_manager",
            &r.managers[0].id,
            r.managers[0].station,
            &r.managers[0].key,
        ),
        ("customer_service", &r.agents[0].id, None, &r.agents[0].key),
        (
            "courier",
            &r.couriers[0].id,
            r.couriers[0].station,
            &r.couriers[0].key,
        ),
        ("service", &r.orders.id, None, &r.orders.key),
        ("switch", &r.switch.id, None, &r.switch.key),
    ];
    for (role, id, station, key) in rows {
        let who = match station {
            Some(s) => format!("{id} ({s})"),
            None => id.to_owned(),
        };
        writeln!(out, "  {role:<17} {who:<14} {key}")?;
    }
    writeln!(
        out,
        "one courier starts harvesting other couriers' recipients about {insider_after} s after seeding; watch Alerts"
    )?;
    out.flush()?;
    Ok(())
}

/// Where each seeded shipment is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Created,
    PickedUp,
    InTransit,
    OutForDelivery,
    Delivered,
    Returned,
}

impl Stage {
    /// The status changes that lead from `created` to this stage.
    fn path(self) -> &'static [&'static str] {
        const ALL: [&str; 4] = ["picked_up", "in_transit", "out_for_delivery", "delivered"];
        match self {
            Stage::Created => &[],
            Stage::PickedUp => &ALL[..1],
            Stage::InTransit => &ALL[..2],
            Stage::OutForDelivery => &ALL[..3],
            Stage::Delivered => &ALL,
            Stage::Returned => &["picked_up", "in_transit", "returned"],
        }
    }
}

/// A seeded shipment as the depot's systems know it.
#[derive(Debug, Clone)]
struct Parcel {
    waybill: String,
    courier: usize,
    stage: Stage,
}

/// Hands out deterministic pseudo-random numbers (the demo needs variety,
/// not secrecy).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn window_now() -> Value {
    let now = time::OffsetDateTime::now_utc();
    json!({"start": rfc3339(now - time::Duration::hours(1)), "end": rfc3339(now + time::Duration::hours(4))})
}

/// Files the shipments in batches, then moves them to their stages: the
/// ones out for delivery first (so couriers can start), the rest behind
/// them on a few threads while the depot works.
fn seed_shipments(c: &Client, r: &Roster, admin: &str, n: usize) -> Result<Vec<Parcel>> {
    let mut csv_bytes = Vec::new();
    parcel_synth::shipments_csv(20_261_201, n, &mut csv_bytes)?;
    // A pool of virtual numbers for every city the parcels go to, small
    // enough that busy couriers spill into extensions.
    let mut cities: Vec<String> = Vec::new();
    for row in csv::Reader::from_reader(csv_bytes.as_slice()).records() {
        let a = parcel_vault::address::parse(row?.get(8).unwrap_or_default()).address;
        let city = if a.city.is_empty() {
            a.province.clone()
        } else {
            a.city.clone()
        };
        if !city.is_empty() && !cities.contains(&city) {
            cities.push(city);
        }
    }
    for (i, city) in cities.iter().enumerate() {
        let numbers: Vec<String> = (0..8).map(|k| format!("171{:08}", i * 100 + k)).collect();
        c.ok(
            admin,
            "POST",
            "/v1/numbers/pool",
            Some(&json!({"city": city, "numbers": numbers})),
        )?;
    }
    let mut rows = csv::Reader::from_reader(csv_bytes.as_slice());
    let mut dice = Dice(7);
    let mut parcels = Vec::with_capacity(n);
    let mut batch = Vec::with_capacity(BATCH);
    let started = Instant::now();
    for (i, row) in rows.records().enumerate() {
        let row = row?;
        let courier = dice.below(r.couriers.len());
        let stage = match dice.below(100) {
            0..30 => Stage::Delivered,
            30..32 => Stage::Returned,
            32..40 => Stage::OutForDelivery,
            40..65 => Stage::InTransit,
            65..75 => Stage::PickedUp,
            _ => Stage::Created,
        };
        let field = |k: usize| row.get(k).unwrap_or_default();
        let p = &r.couriers[courier];
        batch.push(json!({
            "waybill_no": field(0), "carrier": field(1),
            "sender": {"name": field(2), "phone": field(3), "address": field(4), "id_number": field(5)},
            "recipient": {"name": field(6), "phone": field(7), "address": field(8)},
            "origin_station": STATIONS[(i + 1) % STATIONS.len()],
            "destination_station": p.station,
            "courier": p.id,
            "delivery_window": window_now(),
        }));
        parcels.push(Parcel {
            waybill: field(0).to_owned(),
            courier,
            stage,
        });
        if batch.len() == BATCH {
            file_batch(c, &r.orders.key, &mut batch)?;
        }
    }
    file_batch(c, &r.orders.key, &mut batch)?;
    tracing::info!(
        shipments = parcels.len(),
        secs = started.elapsed().as_secs_f64(),
        "demo shipments filed"
    );
    // Out for delivery first: couriers work on those.
    let (first, rest): (Vec<Parcel>, Vec<Parcel>) = parcels
        .iter()
        .cloned()
        .partition(|p| p.stage == Stage::OutForDelivery);
    advance_all(c, &r.orders.key, first)?;
    let (c2, key) = (c.clone(), r.orders.key.clone());
    std::thread::Builder::new()
        .name("demo-seed".to_owned())
        .spawn(move || {
            let t = Instant::now();
            match advance_all(&c2, &key, rest) {
                Ok(()) => tracing::info!(secs = t.elapsed().as_secs_f64(), "demo lifecycle seeded"),
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "demo seeding stopped"),
            }
        })?;
    Ok(parcels)
}

/// Moves every parcel along its path, on a few client threads.
fn advance_all(c: &Client, key: &str, parcels: Vec<Parcel>) -> Result<()> {
    let parcels = Arc::new(parcels);
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (c, key, parcels, next) =
                (c.clone(), key.to_owned(), parcels.clone(), next.clone());
            std::thread::spawn(move || -> Result<()> {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(p) = parcels.get(i) else {
                        return Ok(());
                    };
                    for status in p.stage.path() {
                        let mut patch = json!({"status": status});
                        if *status == "out_for_delivery" {
                            patch["delivery_window"] = window_now();
                        }
                        c.ok(
                            &key,
                            "PATCH",
                            &format!("/v1/shipments/{}", p.waybill),
                            Some(&patch),
                        )?;
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a seeding thread failed"))??;
    }
    Ok(())
}

fn file_batch(c: &Client, key: &str, batch: &mut Vec<Value>) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let body = json!({ "shipments": std::mem::take(batch) });
    let v = c.ok(key, "POST", "/v1/shipments/batch", Some(&body))?;
    let created = v["created"].as_u64().unwrap_or(0);
    if created == 0 {
        bail!("the order system's batch was refused");
    }
    Ok(())
}

/// The depot at work, until the server stops: each tick a courier calls a
/// recipient, now and then a parcel is delivered and the next one goes
/// out, agents answer tickets, station managers handle exceptions, and
/// some requests are refused as they would be in real life. After a while
/// the insider starts looking up recipients of other couriers' parcels.
fn work(c: &Client, r: &Roster, parcels: Vec<Parcel>, insider_after: u64) -> Result<()> {
    let mut dice = Dice(42);
    let mut out: Vec<Parcel> = parcels
        .iter()
        .filter(|p| p.stage == Stage::OutForDelivery)
        .cloned()
        .collect();
    let mut transit: Vec<Parcel> = parcels
        .iter()
        .filter(|p| p.stage == Stage::InTransit)
        .cloned()
        .collect();
    let started = Instant::now();
    let insider = r.couriers.iter().position(|p| p.id == INSIDER);
    let mut harvested = 0usize;
    let mut tickets = 0u64;
    loop {
        std::thread::sleep(Duration::from_millis(600));
        if out.is_empty() {
            continue;
        }
        // A courier calls the recipient of a parcel they carry.
        let i = dice.below(out.len());
        let p = out[i].clone();
        let courier = &r.couriers[p.courier];
        if Some(p.courier) != insider || started.elapsed().as_secs() < insider_after {
            reveal(
                c,
                &courier.key,
                &p.waybill,
                "recipient",
                "phone",
                "delivery_contact",
                None,
            )?;
        }
        // Sometimes the parcel is then delivered and another goes out.
        if dice.below(4) == 0 {
            c.call(
                &r.orders.key,
                "PATCH",
                &format!("/v1/shipments/{}", p.waybill),
                Some(&json!({"status": "delivered"})),
            )?;
            out.swap_remove(i);
            if !transit.is_empty() {
                let mut next = transit.swap_remove(dice.below(transit.len()));
                let (s, _) = c.call(
                    &r.orders.key,
                    "PATCH",
                    &format!("/v1/shipments/{}", next.waybill),
                    Some(&json!({"status": "out_for_delivery", "delivery_window": window_now()})),
                )?;
                if s == 200 {
                    next.stage = Stage::OutForDelivery;
                    out.push(next);
                }
            }
        }
        match dice.below(20) {
            // An agent answers a ticket about a parcel.
            0 | 1 => {
                tickets += 1;
                let t = format!("T-{tickets:06}");
                let agent = &r.agents[dice.below(r.agents.len())];
                let wb = &parcels[dice.below(parcels.len())].waybill;
                c.call(
                    &r.orders.key,
                    "POST",
                    "/v1/tickets",
                    Some(&json!({"ticket_id": t, "waybill_no": wb})),
                )?;
                reveal(
                    c,
                    &agent.key,
                    wb,
                    "recipient",
                    "phone",
                    "customer_service",
                    Some(&t),
                )?;
            }
            // An agent forgets the ticket: ticket_required.
            2 => {
                let agent = &r.agents[dice.below(r.agents.len())];
                reveal(
                    c,
                    &agent.key,
                    &parcels[dice.below(parcels.len())].waybill,
                    "recipient",
                    "phone",
                    "customer_service",
                    None,
                )?;
            }
            // A station manager handles an exception at their station.
            3 => {
                let m = &r.managers[dice.below(r.managers.len())];
                if let Some(p) = out
                    .iter()
                    .find(|p| r.couriers[p.courier].station == m.station)
                {
                    reveal(
                        c,
                        &m.key,
                        &p.waybill,
                        "recipient",
                        "address",
                        "exception_handling",
                        None,
                    )?;
                }
            }
            // A courier asks for a field couriers never see.
            4 => {
                reveal(
                    c,
                    &courier.key,
                    &p.waybill,
                    "sender",
                    "id_number",
                    "delivery_contact",
                    None,
                )?;
            }
            // The label printer reads a masked view.
            5 => {
                c.call(
                    &r.printer.key,
                    "GET",
                    &format!("/v1/shipments/{}", p.waybill),
                    None,
                )?;
            }
            _ => {}
        }
        // The insider: other couriers' recipients, four a tick, until stopped.
        if let Some(me) = insider
            && started.elapsed().as_secs() >= insider_after
            && harvested < 400
        {
            for _ in 0..4 {
                let target = &parcels[dice.below(parcels.len())];
                if target.courier == me {
                    continue;
                }
                harvested += 1;
                let (s, v) = c.call(
                    &r.couriers[me].key,
                    "POST",
                    "/v1/reveal",
                    Some(&json!({"waybill_no": target.waybill, "party": "recipient", "field": "phone", "purpose": "delivery_contact"})),
                )?;
                // Suspended (or asked for a second approval): the response
                // worked; the insider gives up.
                if s == 401
                    || v["error"]["code"] == "forbidden"
                    || v["error"]["code"] == "approval_required"
                {
                    tracing::info!(
                        harvested,
                        "demo insider stopped by the insider-risk response"
                    );
                    harvested = usize::MAX;
                    break;
                }
            }
        }
    }
}

fn reveal(
    c: &Client,
    key: &str,
    waybill: &str,
    party: &str,
    field: &str,
    purpose: &str,
    ticket: Option<&str>,
) -> Result<()> {
    let mut body =
        json!({"waybill_no": waybill, "party": party, "field": field, "purpose": purpose});
    if let Some(t) = ticket {
        body["ticket_id"] = json!(t);
    }
    // Allowed or refused, the answer is the product's; the value itself is
    // dropped unread (the demo has no use for plaintext).
    let (status, _) = c.call(key, "POST", "/v1/reveal", Some(&body))?;
    if status >= 500 {
        bail!("POST /v1/reveal: {status}");
    }
    Ok(())
}
