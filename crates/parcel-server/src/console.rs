//! Read-only endpoints the security team's console draws from: who am I
//! (`GET /v1/me`), the dashboard figures (`GET /v1/stats`), the access log
//! searched by actor, waybill, purpose and decision (`GET /v1/access-log`),
//! masked shipment listings (`GET /v1/shipments` without a person key), and
//! readiness (`GET /readyz`), and the console itself: a small front end
//! under `/console` (HTML, CSS and JavaScript compiled into the binary, no
//! CDN) that draws everything from these endpoints with the caller's key.
//!
//! The access log and the hourly figures come from the transparency log
//! itself, through an [`ActivityIndex`] brought up to date on each request,
//! so every server sharing a database answers the same. Nothing here
//! returns personal data: log entries hold none and shipments are masked.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use parcel_tlog::Event;
use parcel_tlog::activity::{AccessRecord, ActivityIndex, Filter};
use parcel_vault::Vault;
use parcel_vault::model::Status;
use parcel_vault::store::Principal;
use serde::Deserialize;
use serde_json::json;

use crate::wire::ApiQuery;
use crate::{Action, ApiError, AppState, ShipmentView, blocking, now, principal};

const INDEX_HTML: &str = include_str!("../console/index.html");
const APP_JS: &str = include_str!("../console/app.js");
const STYLE_CSS: &str = include_str!("../console/style.css");

/// Only our own files run, nothing is framed, and no referrer carries a
/// waybill number in a URL to anyone.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The console's pages and assets.
pub(crate) fn pages() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/console/") }),
        )
        .route(
            "/console",
            get(|| async { axum::response::Redirect::to("/console/") }),
        )
        .route(
            "/console/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/console/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/console/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    use axum::http::header;
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The console's view of the log, shared by the request handlers.
#[derive(Debug, Default, Clone)]
pub struct Activity(Arc<Mutex<ActivityIndex>>);

const MAX_PAGE: usize = 500;
const HOUR_MS: i64 = 3_600_000;

impl Activity {
    /// Reads the entries the index has not seen yet and runs `f` over it.
    fn with_fresh<T>(
        &self,
        vault: &Vault,
        f: impl FnOnce(&ActivityIndex) -> T,
    ) -> Result<T, ApiError> {
        let mut ix = self
            .0
            .lock()
            .map_err(|_| ApiError::internal("activity index poisoned"))?;
        if let Some(log) = vault.log() {
            let (size, _) = log
                .tree()
                .map_err(|e| ApiError::from(parcel_vault::VaultError::Log(e)))?;
            while ix.next_index() < size {
                let start = ix.next_index();
                let batch = log
                    .entries(start, size)
                    .map_err(|e| ApiError::from(parcel_vault::VaultError::Log(e)))?;
                if batch.is_empty() {
                    break;
                }
                for (i, bytes) in (start..).zip(&batch) {
                    match Event::decode(bytes) {
                        Ok(e) => ix.ingest(i, &e),
                        Err(e) => {
                            // Not ours to judge here (`log verify` does);
                            // skip it so one odd entry does not blind the
                            // console.
                            tracing::warn!(index = i, error = %e, "log entry does not decode");
                            ix.ingest(i, &Event::new(0, "", "", "undecodable"));
                        }
                    }
                }
            }
        }
        Ok(f(&ix))
    }
}

/// Tenants whose entries `p` may see: their own, and system-wide ones for
/// the security team.
fn tenants(p: &Principal) -> Vec<&str> {
    if matches!(p.role.as_str(), "admin" | "security_auditor") {
        vec![p.tenant.as_str(), ""]
    } else {
        vec![p.tenant.as_str()]
    }
}

fn record_json(r: &AccessRecord) -> serde_json::Value {
    json!({
        "index": r.index, "ts": r.ts, "actor": r.actor, "role": r.role, "action": r.action,
        "waybill_no": r.waybill, "party": r.party, "field": r.field, "purpose": r.purpose,
        "decision": r.decision, "reason": r.reason, "policy_version": r.policy_version,
    })
}

/// `GET /v1/me`: the caller's id, role and station (no secrets).
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "console",
    summary = "The caller and the console pages its role may open",
    responses((status = 200, description = "The caller", body = crate::openapi::Me), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn me(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Reveal).await?;
    let may = |a: Action| a.allowed(&p.role);
    Ok(Json(json!({
        "id": p.id, "tenant": p.tenant, "role": p.role, "station": p.station,
        "may": {
            "dashboard": may(Action::Console), "alerts": may(Action::Alerts),
            "access_log": may(Action::Console), "shipments": may(Action::List),
            "policies": may(Action::ReadPolicies), "principals": may(Action::ManagePrincipals),
        }
    }))
    .into_response())
}

/// `GET /readyz`: 200 when the database answers and the log is open.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    summary = "Readiness: the database answers and the log is open",
    responses((status = 200, description = "Ready", body = String, content_type = "text/plain"), (status = 503, description = "Not ready", body = String, content_type = "text/plain"))
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let vault = state.vault.clone();
    let ready = blocking(move || {
        vault
            .store()
            .count_shipments("")
            .map_err(|_| ApiError::internal("database not ready"))?;
        if let Some(log) = vault.log() {
            log.tree()
                .map_err(|_| ApiError::internal("log not ready"))?;
        }
        Ok(())
    })
    .await;
    match ready {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response(),
    }
}

/// Query of `GET /v1/access-log`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccessLogQuery {
    /// Principal id.
    actor: Option<String>,
    /// Waybill number.
    waybill_no: Option<String>,
    /// Declared purpose.
    purpose: Option<String>,
    /// `allow` or `deny`.
    decision: Option<String>,
    /// `reveal`, `search`, `erase`, `alert`, ….
    action: Option<String>,
    /// Only entries with a smaller index (the previous page's `next_before`).
    before: Option<u64>,
    /// Page size, 1 to 500 (default 100).
    limit: Option<usize>,
}

/// `GET /v1/access-log`: log entries, newest first, filtered.
#[utoipa::path(
    get,
    path = "/v1/access-log",
    tag = "console",
    summary = "Transparency-log entries, newest first, filtered",
    params(AccessLogQuery),
    responses((status = 200, description = "Entries", body = crate::openapi::AccessLog), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn access_log(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<AccessLogQuery>,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Console).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let vault = state.vault.clone();
    let activity = state.activity.clone();
    let body = blocking(move || {
        activity.with_fresh(&vault, |ix| {
            let tenants = tenants(&p);
            let filter = Filter {
                tenants: &tenants,
                actor: q.actor.as_deref(),
                waybill: q.waybill_no.as_deref(),
                purpose: q.purpose.as_deref(),
                decision: q.decision.as_deref(),
                action: q.action.as_deref(),
                before: q.before,
            };
            let found = ix.search(&filter, limit);
            let next = (found.len() == limit)
                .then(|| found.last().map(|r| r.index))
                .flatten();
            json!({
                "entries": found.into_iter().map(record_json).collect::<Vec<_>>(),
                "next_before": next,
            })
        })
    })
    .await?;
    Ok(Json(body).into_response())
}

/// `GET /v1/stats`: the dashboard's figures for the caller's tenant.
#[utoipa::path(
    get,
    path = "/v1/stats",
    tag = "console",
    summary = "The dashboard's figures",
    responses((status = 200, description = "Figures", body = crate::openapi::Stats), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Console).await?;
    let vault = state.vault.clone();
    let activity = state.activity.clone();
    let body = blocking(move || {
        let now_ms = now().saturating_mul(1000);
        let counts = vault
            .store()
            .shipment_counts(&p.tenant)
            .map_err(|e| ApiError::from(parcel_vault::VaultError::from(e)))?;
        let open = vault
            .store()
            .list_alerts(&p.tenant, None, 100_000)
            .map_err(|e| ApiError::from(parcel_vault::VaultError::from(e)))?
            .iter()
            .filter(|a| a.status != "resolved")
            .count();
        let (hours, top) = activity.with_fresh(&vault, |ix| {
            (
                ix.hourly(&p.tenant, now_ms - 23 * HOUR_MS, now_ms),
                ix.top_denials(&p.tenant, now_ms - 24 * HOUR_MS, 8),
            )
        })?;
        let log = match vault.log() {
            Some(log) => {
                let (size, _) = log
                    .tree()
                    .map_err(|e| ApiError::from(parcel_vault::VaultError::Log(e)))?;
                let cp = log
                    .checkpoint()
                    .map_err(|e| ApiError::from(parcel_vault::VaultError::Log(e)))?;
                json!({"size": size, "checkpoint": String::from_utf8_lossy(&cp)})
            }
            None => serde_json::Value::Null,
        };
        let by_status: serde_json::Map<String, serde_json::Value> = counts
            .iter()
            .map(|(s, n)| (s.as_str().to_owned(), json!(n)))
            .collect();
        Ok(json!({
            "shipments": {"total": counts.iter().map(|(_, n)| n).sum::<u64>(), "by_status": by_status},
            "reveals_per_hour": hours.iter().map(|(h, c)| json!({
                "hour": parcel_tlog::entry::format_ts(*h), "allow": c.allow, "deny": c.deny,
            })).collect::<Vec<_>>(),
            "top_denial_reasons": top.iter().map(|(r, n)| json!({"reason": r, "count": n})).collect::<Vec<_>>(),
            "open_alerts": open,
            "log": log,
        }))
    })
    .await?;
    Ok(Json(body).into_response())
}

/// Query of the shipment listing.
#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    pub(crate) status: Option<String>,
    pub(crate) after: Option<String>,
    pub(crate) limit: Option<usize>,
}

/// `GET /v1/shipments` without a person key: masked shipments in waybill
/// order, a page at a time.
pub(crate) async fn list_shipments(
    state: &AppState,
    headers: &HeaderMap,
    q: ListQuery,
) -> Result<Response, ApiError> {
    let p = principal(state, headers, Action::List).await?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<Status>().map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "status: expected one of created, picked_up, in_transit, out_for_delivery, delivered, returned",
                Some("status"),
            )
        })?),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let vault = state.vault.clone();
    let rows = blocking(move || {
        vault
            .store()
            .list_shipments(&p.tenant, status, q.after.as_deref(), limit)
            .map_err(|e| ApiError::from(parcel_vault::VaultError::from(e)))
    })
    .await?;
    let next = (rows.len() == limit)
        .then(|| rows.last().map(|r| r.waybill_no.clone()))
        .flatten();
    let views: Vec<ShipmentView> = rows.iter().map(ShipmentView::from).collect();
    Ok(Json(json!({"shipments": views, "next_after": next})).into_response())
}

/// `GET /v1/alerts/{id}/timeline`: the alerted actor's accesses per hour
/// around the alert (the day before it was raised, and since), beside the
/// median and 90th percentile of the same-role peers in that hour. The
/// actor stays a pseudonym: the answer names no one.
#[utoipa::path(
    get,
    path = "/v1/alerts/{id}/timeline",
    tag = "alerts",
    summary = "The alerted actor's accesses per hour beside same-role peers",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, description = "Hours", body = crate::openapi::Timeline), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn alert_timeline(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Alerts).await?;
    let alert = crate::risk::load(&state, &p.tenant, &id).await?;
    let vault = state.vault.clone();
    let activity = state.activity.clone();
    let body = blocking(move || {
        let from = alert.raised_at_ms - 24 * HOUR_MS;
        let to = (alert.raised_at_ms + 6 * HOUR_MS).min(now().saturating_mul(1000));
        activity.with_fresh(&vault, |ix| {
            let hours = ix.actor_timeline(&alert.tenant, &alert.actor, from, to.max(from));
            json!({
                "alert": alert.id,
                "raised_at_hour": parcel_tlog::entry::format_ts(alert.raised_at_ms.div_euclid(HOUR_MS) * HOUR_MS),
                "hours": hours.iter().map(|h| json!({
                    "hour": parcel_tlog::entry::format_ts(h.hour_ms),
                    "actor": h.actor, "peer_median": h.peer_median,
                    "peer_p90": h.peer_p90, "peers": h.peers,
                })).collect::<Vec<_>>(),
            })
        })
    })
    .await?;
    Ok(Json(body).into_response())
}

/// `GET /v1/policies/history`: every policy-set change the log recorded,
/// newest first.
#[utoipa::path(
    get,
    path = "/v1/policies/history",
    tag = "admin",
    summary = "Policy-set changes recorded in the log, newest first",
    responses((status = 200, description = "Changes", body = crate::openapi::PolicyHistory), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn policy_history(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::ReadPolicies).await?;
    let vault = state.vault.clone();
    let activity = state.activity.clone();
    let body = blocking(move || {
        activity.with_fresh(&vault, |ix| {
            let changes: Vec<_> = ix
                .policy_history()
                .iter()
                .rev()
                .filter(|c| c.tenant == p.tenant || c.tenant.is_empty())
                .map(|c| {
                    json!({
                        "index": c.index, "ts": c.ts, "actor": c.actor,
                        "version": c.version, "previous": c.previous,
                    })
                })
                .collect();
            json!({ "changes": changes })
        })
    })
    .await?;
    Ok(Json(body).into_response())
}
