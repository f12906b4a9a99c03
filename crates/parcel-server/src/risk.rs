//! Live insider-risk monitoring: every access the server handles (reveals,
//! denials, searches) feeds [`parcel_risk::Detector`] as it happens, on a
//! thread of its own; alerts are stored, answered per severity (webhook,
//! tightened quota, suspension), and worked through by analysts over
//! `/v1/alerts`.
//!
//! The request path never waits for the detector: events go through a
//! bounded queue and are counted as dropped when it is full. Employees are
//! pseudonymous in every alert view (`emp-…`, a keyed hash); re-identifying
//! one is a logged action of its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};

use crate::wire::ApiQuery;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use parcel_risk::{AccessEvent, Alert, Detector, Severity};
use parcel_vault::Vault;
use parcel_vault::store::{AlertRecord, AlertUpdate, QuotaOverride};
use serde::Deserialize;
use serde_json::json;

use crate::{Action, ApiError, AppState, auth, blocking, now, parse_json, principal};

/// Events waiting for the detector before new ones are dropped.
const QUEUE: usize = 65_536;
/// Signals an analyst may suppress with one benign verdict, at most.
const MAX_SUPPRESS_DAYS: i64 = 365;

/// How the server watches for insiders and what it does about them.
#[derive(Debug, Clone)]
pub struct RiskSettings {
    /// The detector's settings (`live` and log-index evidence are forced).
    pub detector: parcel_risk::Config,
    /// Where alerts are posted (JSON), if anywhere.
    pub webhook: Option<String>,
    /// Least severity posted to the webhook.
    pub notify_at: Option<Severity>,
    /// Least severity that tightens the actor's reveal quota.
    pub tighten_at: Option<Severity>,
    /// Least severity that suspends the actor's principal.
    pub suspend_at: Option<Severity>,
    /// Least severity after which each of the actor's reveals needs a
    /// second person's approval (for `tighten_secs`).
    pub approval_at: Option<Severity>,
    /// The tightened quota: reveals per hour and per day.
    pub tightened: (i64, i64),
    /// How long a tightened quota (or an approval hold) lasts, seconds.
    pub tighten_secs: i64,
    /// Days a benign verdict suppresses the alert's signals by default.
    pub suppress_days: i64,
}

impl Default for RiskSettings {
    fn default() -> Self {
        Self {
            detector: parcel_risk::Config::default(),
            webhook: None,
            notify_at: Some(Severity::Medium),
            tighten_at: Some(Severity::High),
            suspend_at: Some(Severity::Critical),
            approval_at: None,
            tightened: (5, 20),
            tighten_secs: 72 * 3600,
            suppress_days: 30,
        }
    }
}

/// One access, as the server saw it.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// Tenant.
    pub tenant: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: parcel_risk::Action,
    /// The actor's role.
    pub role: Option<String>,
    /// The actor's station.
    pub station: Option<String>,
    /// The shipment touched.
    pub waybill_no: Option<String>,
    /// A pseudonym of the person touched.
    pub customer: Option<String>,
    /// Field revealed.
    pub field: Option<String>,
    /// Declared purpose.
    pub purpose: Option<String>,
    /// Whether the shipment is the actor's.
    pub assigned: Option<bool>,
    /// Device id.
    pub device: Option<String>,
    /// Denial reason.
    pub reason: Option<String>,
    /// The transparency-log index recording it.
    pub log_index: u64,
}

enum Msg {
    Event(Box<LiveEvent>, i64, Instant),
    Suppress {
        tenant: String,
        actor: String,
        signals: Vec<String>,
        until_ms: i64,
    },
    Sync(Sender<()>),
}

/// Counters of the monitor, for metrics and the benchmark.
#[derive(Debug, Default)]
pub struct MonitorStats {
    /// Events observed.
    pub events: AtomicU64,
    /// Events dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Alerts raised.
    pub alerts: AtomicU64,
    /// Microseconds from the triggering event's arrival to the stored
    /// alert, of the last alert.
    pub last_latency_us: AtomicU64,
    /// The largest such latency seen.
    pub max_latency_us: AtomicU64,
}

/// The running monitor (cheap to clone).
#[derive(Debug, Clone)]
pub struct Monitor {
    tx: Sender<Msg>,
    /// Counters.
    pub stats: Arc<MonitorStats>,
    settings: Arc<RiskSettings>,
}

fn unix_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

impl Monitor {
    /// Starts the detector thread over `vault` (alerts are stored there and
    /// recorded in its log); `auth_cache` is cleared of suspended principals.
    pub fn start(
        vault: Arc<Vault>,
        auth_cache: Arc<auth::AuthCache>,
        mut settings: RiskSettings,
    ) -> std::io::Result<Self> {
        settings.detector.live = true;
        settings.detector.evidence_kind = parcel_risk::EvidenceKind::LogIndex;
        let settings = Arc::new(settings);
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let stats = Arc::new(MonitorStats::default());
        let notifier = settings.webhook.clone().map(Notifier::start).transpose()?;
        let worker = Worker {
            vault,
            auth_cache,
            settings: settings.clone(),
            stats: stats.clone(),
            detectors: HashMap::new(),
            notifier,
            last_alert: HashMap::new(),
        };
        std::thread::Builder::new()
            .name("risk-monitor".to_owned())
            .spawn(move || worker.run(&rx))?;
        Ok(Self {
            tx,
            stats,
            settings,
        })
    }

    /// Hands one access to the detector without waiting.
    pub fn observe(&self, event: LiveEvent) {
        let msg = Msg::Event(Box::new(event), unix_ms(), Instant::now());
        match self.tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let n = self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                if n.is_power_of_two() {
                    tracing::warn!(dropped = n + 1, "insider-risk queue full: events dropped");
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::error!("insider-risk monitor has stopped");
            }
        }
    }

    /// Waits until every event handed over so far is processed (tests,
    /// graceful shutdown); false on timeout.
    pub fn sync(&self, timeout: Duration) -> bool {
        let (done, wait) = crossbeam_channel::bounded(1);
        if self.tx.send(Msg::Sync(done)).is_err() {
            return false;
        }
        wait.recv_timeout(timeout).is_ok()
    }

    fn suppress(&self, tenant: &str, actor: &str, signals: Vec<String>, until_ms: i64) {
        let _ = self.tx.send(Msg::Suppress {
            tenant: tenant.to_owned(),
            actor: actor.to_owned(),
            signals,
            until_ms,
        });
    }
}

/// How long the monitor lets events gather once its queue is empty.
const COALESCE: Duration = Duration::from_millis(2);

struct Worker {
    vault: Arc<Vault>,
    auth_cache: Arc<auth::AuthCache>,
    settings: Arc<RiskSettings>,
    stats: Arc<MonitorStats>,
    detectors: HashMap<String, Detector>,
    notifier: Option<Notifier>,
    /// The last alert id per (tenant, actor), which an escalation names.
    last_alert: HashMap<(String, String), String>,
}

impl Worker {
    fn run(mut self, rx: &Receiver<Msg>) {
        let mut alerts = Vec::new();
        loop {
            if rx.is_empty() {
                // Under load, let events gather for a moment rather than
                // being woken for each one (a context switch per reveal);
                // an alert waits at most this much longer.
                std::thread::sleep(COALESCE);
            }
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(Msg::Event(ev, ts_ms, arrived)) => {
                    self.stats.events.fetch_add(1, Ordering::Relaxed);
                    let tenant = ev.tenant.clone();
                    let access = AccessEvent {
                        role: ev.role.as_deref().map(Into::into),
                        station: ev.station.as_deref().map(Into::into),
                        waybill_no: ev.waybill_no.as_deref().map(Into::into),
                        customer: ev.customer.as_deref().map(Into::into),
                        field: ev.field.as_deref().map(Into::into),
                        purpose: ev.purpose.as_deref().map(Into::into),
                        assigned: ev.assigned,
                        device: ev.device.as_deref().map(Into::into),
                        reason: ev.reason.as_deref().map(Into::into),
                        evidence: ev.log_index,
                        ..AccessEvent::new(ts_ms, ev.actor.as_str(), ev.action)
                    };
                    self.detector(&tenant).observe(&access, &mut alerts);
                    for alert in alerts.drain(..) {
                        self.handle(&tenant, alert, Some(arrived));
                    }
                }
                Ok(Msg::Suppress {
                    tenant,
                    actor,
                    signals,
                    until_ms,
                }) => {
                    let names: Vec<&str> = signals.iter().map(String::as_str).collect();
                    self.detector(&tenant).suppress(&actor, &names, until_ms);
                }
                Ok(Msg::Sync(done)) => {
                    let _ = done.send(());
                }
                Err(RecvTimeoutError::Timeout) => {
                    // Quiet hours still close: hourly scoring and midnight.
                    let ts = unix_ms();
                    let tenants: Vec<String> = self.detectors.keys().cloned().collect();
                    for tenant in tenants {
                        self.detector(&tenant).advance_to(ts, &mut alerts);
                        for alert in alerts.drain(..) {
                            self.handle(&tenant, alert, None);
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn detector(&mut self, tenant: &str) -> &mut Detector {
        if !self.detectors.contains_key(tenant) {
            let mut d = Detector::new(self.settings.detector.clone());
            // Benign verdicts survive restarts.
            match self.vault.store().suppressions(tenant, unix_ms()) {
                Ok(list) => {
                    for (actor, signal, until) in list {
                        d.suppress(&actor, &[signal.as_str()], until);
                    }
                }
                Err(e) => tracing::error!(error = %e, "reading alert suppressions failed"),
            }
            self.detectors.insert(tenant.to_owned(), d);
        }
        match self.detectors.get_mut(tenant) {
            Some(d) => d,
            None => unreachable!("inserted above"),
        }
    }

    fn handle(&mut self, tenant: &str, alert: Alert, arrived: Option<Instant>) {
        let id = format!("al_{:016x}", rand::random::<u64>());
        let key = (tenant.to_owned(), alert.actor.clone());
        // An escalation's restrictions belong to the alert it escalates, so
        // one verdict on that alert lifts them.
        let origin = if alert.escalation {
            self.last_alert.get(&key).cloned()
        } else {
            None
        };
        let owner = origin.clone().unwrap_or_else(|| id.clone());
        let s = &self.settings;
        let at_least = |bar: Option<Severity>| bar.is_some_and(|b| alert.severity >= b);
        let mut responses = Vec::new();
        let store = self.vault.store();
        let now = now();
        if at_least(s.suspend_at) {
            match store.get_principal(tenant, &alert.actor) {
                Ok(Some(mut p)) if p.status != "suspended" && p.role != "admin" => {
                    p.status = "suspended".to_owned();
                    match store.put_principal(&p) {
                        Ok(()) => {
                            self.auth_cache.forget_principal(tenant, &p.id);
                            responses.push("suspend");
                        }
                        Err(e) => tracing::error!(error = %e, alert = %id, "suspension failed"),
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, alert = %id, "suspension failed"),
            }
        }
        if at_least(s.tighten_at) {
            let o = QuotaOverride {
                tenant: tenant.to_owned(),
                principal: alert.actor.clone(),
                per_hour: s.tightened.0,
                per_day: s.tightened.1,
                until: now + s.tighten_secs,
                reason: owner.clone(),
            };
            match store.put_quota_override(&o) {
                Ok(()) => responses.push("tighten_quota"),
                Err(e) => tracing::error!(error = %e, alert = %id, "tightening the quota failed"),
            }
        }
        if at_least(s.approval_at) && alert.role.as_deref() != Some("admin") {
            match store.put_approval_hold(tenant, &alert.actor, now + s.tighten_secs, &owner) {
                Ok(()) => responses.push("require_approval"),
                Err(e) => {
                    tracing::error!(error = %e, alert = %id, "setting an approval hold failed")
                }
            }
        }
        let shown = pseudonym(&self.vault, tenant, &alert.actor);
        if at_least(s.notify_at)
            && let Some(n) = &self.notifier
        {
            n.send(json!({
                "alert": id,
                "tenant": tenant,
                "actor": shown,
                "severity": alert.severity.as_str(),
                "score": alert.score,
                "raised_at": rfc3339(alert.raised_at),
                "reasons": alert.reasons,
                "responses": responses,
                "link": format!("/v1/alerts/{id}"),
            }));
            responses.push("notify");
        }
        let mut body = serde_json::to_value(&alert).unwrap_or_else(|_| json!({}));
        if let Some(obj) = body.as_object_mut() {
            obj.insert("responses".to_owned(), json!(responses));
            if let Some(prev) = &origin {
                obj.insert("escalates".to_owned(), json!(prev));
            }
        }
        self.last_alert.insert(key, id.clone());
        if self.last_alert.len() > 100_000 {
            self.last_alert.clear();
        }
        let record = AlertRecord {
            tenant: tenant.to_owned(),
            id: id.clone(),
            actor: alert.actor.clone(),
            raised_at_ms: i64::try_from(alert.raised_at.unix_timestamp_nanos() / 1_000_000)
                .unwrap_or(0),
            severity: alert.severity.as_str().to_owned(),
            score_milli: (alert.score * 1000.0).round() as i64,
            body: body.to_string(),
            status: "open".to_owned(),
            verdict: None,
            analyst: None,
            note: None,
            updated_at: now,
        };
        if let Err(e) = store.put_alert(&record) {
            tracing::error!(error = %e, alert = %id, "storing an alert failed");
            return;
        }
        if let Some(log) = self.vault.log() {
            let mut event =
                parcel_tlog::Event::new(record.raised_at_ms, tenant, "risk-monitor", "alert");
            event = event
                .with_detail("alert", id.as_str())
                .with_detail("subject", shown.as_str())
                .with_detail("severity", alert.severity.as_str())
                .with_detail("responses", json!(responses));
            if let Err(e) = log.append(&event) {
                tracing::error!(error = %e, alert = %id, "logging an alert failed");
            }
        }
        self.stats.alerts.fetch_add(1, Ordering::Relaxed);
        if let Some(t0) = arrived {
            let us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.stats.last_latency_us.store(us, Ordering::Relaxed);
            self.stats.max_latency_us.fetch_max(us, Ordering::Relaxed);
        }
        tracing::warn!(
            target: "parcelguard::alert",
            alert = %id,
            actor = %shown,
            severity = alert.severity.as_str(),
            responses = ?responses,
            "insider-risk alert raised"
        );
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Posts alerts to the webhook from a thread of its own, so a slow
/// receiver delays nobody.
struct Notifier {
    tx: Sender<serde_json::Value>,
}

impl Notifier {
    fn start(url: String) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<serde_json::Value>(1024);
        std::thread::Builder::new()
            .name("risk-webhook".to_owned())
            .spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(5)))
                    .http_status_as_error(false)
                    .build()
                    .into();
                for body in rx {
                    let sent = agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .send(body.to_string());
                    match sent {
                        Ok(r) if r.status().is_success() => {}
                        Ok(r) => {
                            tracing::warn!(status = r.status().as_u16(), "alert webhook refused")
                        }
                        Err(e) => tracing::warn!(error = %e, "alert webhook failed"),
                    }
                }
            })?;
        Ok(Self { tx })
    }

    fn send(&self, body: serde_json::Value) {
        if self.tx.try_send(body).is_err() {
            tracing::warn!("alert webhook queue full: notification dropped");
        }
    }
}

fn pseudonym(vault: &Vault, tenant: &str, actor: &str) -> String {
    vault
        .pseudonym(tenant, "emp", actor)
        .unwrap_or_else(|_| "emp-unknown".to_owned())
}

/// The analyst's view of a stored alert: the actor as a pseudonym.
fn view(state: &AppState, r: &AlertRecord) -> serde_json::Value {
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_else(|_| json!({}));
    let get = |k: &str| body.get(k).cloned().unwrap_or(serde_json::Value::Null);
    let raised =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(r.raised_at_ms) * 1_000_000)
            .map(rfc3339)
            .unwrap_or_default();
    json!({
        "id": r.id,
        "actor": pseudonym(&state.vault, &r.tenant, &r.actor),
        "role": get("role"),
        "station": get("station"),
        "raised_at": raised,
        "severity": r.severity,
        "score": get("score"),
        "points": get("points"),
        "status": r.status,
        "verdict": r.verdict,
        "analyst": r.analyst,
        "reasons": get("reasons"),
        "signals": get("signals"),
        "first_event": get("first_event"),
        "last_event": get("last_event"),
        "evidence_kind": get("evidence_kind"),
        "evidence": get("evidence"),
        "responses": get("responses"),
        "escalates": get("escalates"),
    })
}

fn db(e: parcel_vault::store::StoreError) -> ApiError {
    ApiError::from(parcel_vault::VaultError::from(e))
}

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such alert",
        Some("id"),
    )
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    status: Option<String>,
    limit: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/v1/alerts",
    tag = "alerts",
    summary = "Insider-risk alerts, most severe first",
    params(ListQuery),
    responses((status = 200, description = "Alerts", body = crate::openapi::AlertList), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Alerts).await?;
    if let Some(s) = &q.status
        && !matches!(s.as_str(), "open" | "acknowledged" | "resolved")
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "status: expected one of open, acknowledged, resolved",
            Some("status"),
        ));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let st = state.clone();
    let rows = blocking(move || {
        st.vault
            .store()
            .list_alerts(&p.tenant, q.status.as_deref(), limit)
            .map_err(db)
    })
    .await?;
    let alerts: Vec<serde_json::Value> = rows.iter().map(|r| view(&state, r)).collect();
    Ok(Json(json!({ "alerts": alerts })).into_response())
}

pub(crate) async fn load(
    state: &AppState,
    tenant: &str,
    id: &str,
) -> Result<AlertRecord, ApiError> {
    let vault = state.vault.clone();
    let (tenant, id) = (tenant.to_owned(), id.to_owned());
    blocking(move || {
        vault
            .store()
            .get_alert(&tenant, &id)
            .map_err(db)?
            .ok_or_else(not_found)
    })
    .await
}

#[utoipa::path(
    get,
    path = "/v1/alerts/{id}",
    tag = "alerts",
    summary = "One alert",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, description = "The alert", body = crate::openapi::OneAlert), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Alerts).await?;
    let r = load(&state, &p.tenant, &id).await?;
    Ok(Json(json!({ "alert": view(&state, &r) })).into_response())
}

#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AckBody {
    note: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    verdict: String,
    note: Option<String>,
    suppress_days: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReidentifyBody {
    justification: String,
}

fn check_note(note: Option<&String>, field: &str) -> Result<(), ApiError> {
    if note.is_some_and(|n| n.is_empty() || n.chars().count() > 2000) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            &format!("{field}: must be 1 to 2000 characters"),
            Some(field),
        ));
    }
    Ok(())
}

/// Records an analyst's action on an alert in the transparency log.
fn record(
    vault: &Vault,
    tenant: &str,
    actor: &str,
    action: &str,
    alert: &str,
    extra: Option<(&str, &str)>,
) -> Result<Option<u64>, ApiError> {
    let Some(log) = vault.log() else {
        return Ok(None);
    };
    let mut event = parcel_tlog::Event::new(now().saturating_mul(1000), tenant, actor, action)
        .with_detail("alert", alert);
    if let Some((k, v)) = extra {
        event = event.with_detail(k, v);
    }
    log.append(&event)
        .map(Some)
        .map_err(|e| ApiError::from(parcel_vault::VaultError::Log(e)))
}

fn conflict(what: &str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "conflict", what, Some("status"))
}

/// Applies an analyst's status change (compare-and-set), or says why not.
fn transition(
    vault: &Vault,
    tenant: &str,
    id: &str,
    update: &AlertUpdate<'_>,
    refused: &str,
) -> Result<(), ApiError> {
    if vault.store().update_alert(tenant, id, update).map_err(db)? {
        Ok(())
    } else {
        Err(conflict(refused))
    }
}

#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/ack",
    tag = "alerts",
    summary = "Acknowledge an open alert",
    params(("id" = String, Path, description = "Alert id")),
    request_body = Option<AckBody>,
    responses((status = 200, description = "Acknowledged", body = crate::openapi::OneAlert), (status = 409, description = "Not open", body = crate::openapi::ErrorBody), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn acknowledge(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Alerts).await?;
    let b: AckBody = if body.is_empty() {
        AckBody::default()
    } else {
        parse_json(&body)?
    };
    check_note(b.note.as_ref(), "note")?;
    load(&state, &p.tenant, &id).await?;
    let st = state.clone();
    let updated = blocking(move || {
        transition(
            &st.vault,
            &p.tenant,
            &id,
            &AlertUpdate {
                from: &["open"],
                status: "acknowledged",
                verdict: None,
                analyst: &p.id,
                note: b.note.as_deref(),
                at: now(),
            },
            "only an open alert can be acknowledged",
        )?;
        record(&st.vault, &p.tenant, &p.id, "alert_ack", &id, None)?;
        st.vault
            .store()
            .get_alert(&p.tenant, &id)
            .map_err(db)?
            .ok_or_else(not_found)
    })
    .await?;
    Ok(Json(json!({ "alert": view(&state, &updated) })).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/resolve",
    tag = "alerts",
    summary = "Resolve an alert with a verdict",
    params(("id" = String, Path, description = "Alert id")),
    request_body = ResolveBody,
    responses((status = 200, description = "Resolved", body = crate::openapi::Resolved), (status = 409, description = "Already resolved", body = crate::openapi::ErrorBody), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn resolve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Alerts).await?;
    let b: ResolveBody = parse_json(&body)?;
    if !matches!(b.verdict.as_str(), "malicious" | "benign" | "inconclusive") {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "verdict: expected one of malicious, benign, inconclusive",
            Some("verdict"),
        ));
    }
    check_note(b.note.as_ref(), "note")?;
    let default_days = state.risk.as_ref().map_or(30, |m| m.settings.suppress_days);
    let days = b.suppress_days.unwrap_or(default_days);
    if !(0..=MAX_SUPPRESS_DAYS).contains(&days) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            &format!("suppress_days: expected 0 to {MAX_SUPPRESS_DAYS}"),
            Some("suppress_days"),
        ));
    }
    let alert = load(&state, &p.tenant, &id).await?;
    let st = state.clone();
    let (updated, suppressed, lifted) = blocking(move || {
        let store = st.vault.store();
        transition(
            &st.vault,
            &p.tenant,
            &id,
            &AlertUpdate {
                from: &["open", "acknowledged"],
                status: "resolved",
                verdict: Some(&b.verdict),
                analyst: &p.id,
                note: b.note.as_deref(),
                at: now(),
            },
            "this alert is already resolved",
        )?;
        // A benign verdict: the same pattern from this actor is normal for
        // a while (the signals that made the alert, not the actor).
        let mut suppressed: Vec<String> = Vec::new();
        let mut lifted = 0;
        if b.verdict == "benign" {
            // What this alert set on the actor goes with it (a suspension
            // is lifted by an admin, deliberately).
            lifted = store
                .lift_restrictions(&p.tenant, &alert.actor, &id)
                .map_err(db)?;
        }
        if b.verdict == "benign" && days > 0 {
            let body: serde_json::Value =
                serde_json::from_str(&alert.body).unwrap_or_else(|_| json!({}));
            suppressed = body
                .get("signals")
                .and_then(|s| s.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.get("signal")?.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let until = (now() + days * 86_400).saturating_mul(1000);
            for signal in &suppressed {
                store
                    .put_suppression(&p.tenant, &alert.actor, signal, until)
                    .map_err(db)?;
            }
            if let Some(m) = &st.risk {
                m.suppress(&p.tenant, &alert.actor, suppressed.clone(), until);
            }
        }
        record(
            &st.vault,
            &p.tenant,
            &p.id,
            "alert_resolve",
            &id,
            Some(("verdict", b.verdict.as_str())),
        )?;
        let updated = store
            .get_alert(&p.tenant, &id)
            .map_err(db)?
            .ok_or_else(not_found)?;
        Ok((updated, suppressed, lifted))
    })
    .await?;
    Ok(Json(json!({
        "alert": view(&state, &updated),
        "lifted_restrictions": lifted,
        "suppressed": suppressed,
        "suppress_days": if suppressed.is_empty() { 0 } else { days },
    }))
    .into_response())
}

#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/reidentify",
    tag = "alerts",
    summary = "Name the alerted employee (logged first)",
    params(("id" = String, Path, description = "Alert id")),
    request_body = ReidentifyBody,
    responses((status = 200, description = "Named", body = crate::openapi::Reidentified), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn reidentify(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Alerts).await?;
    let b: ReidentifyBody = parse_json(&body)?;
    let n = b.justification.trim().chars().count();
    if !(10..=2000).contains(&n) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "justification: write 10 to 2000 characters saying why",
            Some("justification"),
        ));
    }
    let alert = load(&state, &p.tenant, &id).await?;
    let st = state.clone();
    let index = blocking(move || {
        // No log, no name: the re-identification is durable first.
        let index = record(&st.vault, &p.tenant, &p.id, "alert_reidentify", &id, None)?;
        if index.is_none() {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_log",
                "re-identification needs a transparency log to record it",
                None,
            ));
        }
        Ok(index)
    })
    .await?;
    Ok(Json(json!({
        "alert": alert.id,
        "actor": alert.actor,
        "pseudonym": pseudonym(&state.vault, &alert.tenant, &alert.actor),
        "log_index": index,
    }))
    .into_response())
}
