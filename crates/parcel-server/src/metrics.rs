//! Prometheus metrics (`GET /metrics`, OpenMetrics text from the
//! prometheus-client crate) and the structured request log.
//!
//! Labels are chosen so that no personal data can reach a metric or a log
//! line: requests are labelled by their route *template*
//! (`/v1/shipments/{waybill_no}`), never the URI, whose path or query may
//! hold a waybill number or a phone being searched for; reveals by
//! decision and reason code only.

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::{AppState, blocking, now};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RevealLabels {
    decision: &'static str,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

type Latency = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Latency,
    reveals: Family<RevealLabels, Counter>,
    log_entries: Gauge,
    checkpoint_size: Gauge,
    checkpoint_age: Gauge<f64, AtomicU64>,
    alerts_open: Family<TenantLabels, Gauge>,
    risk_dropped: Gauge,
    /// Tenants whose open alerts are reported.
    tenants: Vec<String>,
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Metrics {
    /// Metrics reporting open alerts of `tenants`.
    pub fn new(tenants: Vec<String>) -> Self {
        let mut registry = Registry::with_prefix("parcelguard");
        let requests = Latency::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "HTTP requests by method, route template and status, and how long they took",
            requests.clone(),
        );
        let reveals = Family::<RevealLabels, Counter>::default();
        registry.register(
            "reveals",
            "Reveal decisions by decision and reason code",
            reveals.clone(),
        );
        let log_entries = Gauge::default();
        registry.register(
            "log_entries",
            "Entries in the transparency log",
            log_entries.clone(),
        );
        let checkpoint_size = Gauge::default();
        registry.register(
            "log_checkpoint_size",
            "Tree size the latest signed checkpoint covers",
            checkpoint_size.clone(),
        );
        let checkpoint_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "log_checkpoint_age_seconds",
            "Seconds since this server last saw the signed checkpoint cover the whole log",
            checkpoint_age.clone(),
        );
        let alerts_open = Family::<TenantLabels, Gauge>::default();
        registry.register(
            "alerts_open",
            "Insider-risk alerts not yet resolved (open or acknowledged)",
            alerts_open.clone(),
        );
        let risk_dropped = Gauge::default();
        registry.register(
            "risk_events_dropped",
            "Access events the insider-risk detector's full queue had to drop",
            risk_dropped.clone(),
        );
        Self {
            registry,
            requests,
            reveals,
            log_entries,
            checkpoint_size,
            checkpoint_age,
            alerts_open,
            risk_dropped,
            tenants,
        }
    }

    /// Counts one reveal decision.
    pub(crate) fn reveal(&self, allowed: bool, reason: Option<&str>) {
        self.reveals
            .get_or_create(&RevealLabels {
                decision: if allowed { "allow" } else { "deny" },
                reason: reason.unwrap_or("").to_owned(),
            })
            .inc();
    }
}

/// Middleware: times every request and writes one log line per request
/// with its route template, status and latency.
pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    let secs = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    tracing::info!(
        target: "parcelguard::request",
        method = %method,
        route = %route,
        status,
        ms = secs * 1000.0,
        "request"
    );
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status,
        })
        .observe(secs);
    response
}

/// `GET /metrics`: OpenMetrics text. Gauges are read at scrape time.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    summary = "Prometheus metrics (OpenMetrics text)",
    responses((status = 200, description = "Metrics", body = String, content_type = "application/openmetrics-text"), (status = 503, description = "Unavailable", body = String, content_type = "text/plain"))
)]
pub(crate) async fn scrape(State(state): State<AppState>) -> Response {
    let st = state.clone();
    let refreshed = blocking(move || {
        let m = &st.metrics;
        if let Some(log) = st.vault.log() {
            let (size, _) = log
                .tree()
                .map_err(|e| crate::ApiError::from(parcel_vault::VaultError::Log(e)))?;
            m.log_entries.set(i64::try_from(size).unwrap_or(i64::MAX));
            if let Ok(cp) = log.checkpoint()
                && let Some(size) = std::str::from_utf8(&cp)
                    .ok()
                    .and_then(|t| t.lines().nth(1))
                    .and_then(|l| l.parse::<i64>().ok())
            {
                m.checkpoint_size.set(size);
            }
            if let Some(at) = log.checkpoint_current_at_ms() {
                #[expect(clippy::cast_precision_loss, reason = "milliseconds to seconds")]
                let age = (now().saturating_mul(1000) - at).max(0) as f64 / 1000.0;
                m.checkpoint_age.set(age);
            }
        }
        for t in &m.tenants {
            let open = st
                .vault
                .store()
                .list_alerts(t, None, 100_000)
                .map_err(|e| crate::ApiError::from(parcel_vault::VaultError::from(e)))?
                .iter()
                .filter(|a| a.status != "resolved")
                .count();
            m.alerts_open
                .get_or_create(&TenantLabels { tenant: t.clone() })
                .set(i64::try_from(open).unwrap_or(i64::MAX));
        }
        if let Some(r) = &st.risk {
            m.risk_dropped.set(
                i64::try_from(r.stats.dropped.load(std::sync::atomic::Ordering::Relaxed))
                    .unwrap_or(i64::MAX),
            );
        }
        Ok(())
    })
    .await;
    if refreshed.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics unavailable\n").into_response();
    }
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &state.metrics.registry).is_err() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n").into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
