//! parcelguard's HTTP API. The only crate that knows HTTP and the JSON wire
//! types; everything it does goes through [`parcel_vault::Vault`].
//!
//! Every request is authenticated with an API key (or, with single sign-on
//! configured, an OIDC token). Plaintext leaves only through
//! `POST /v1/reveal`, decided by Cedar policies ([`access`]); the other
//! endpoints name the roles allowed to call them ([`Action::allowed`]).
//! Errors always have the shape `{"error": {"code", "message", "field"}}`
//! and never echo input values.
#![deny(missing_docs)]

pub mod access;
pub mod auth;
pub mod console;
pub mod labels;
pub mod metrics;
pub mod numbers;
pub mod oidc;
mod openapi;
pub mod ratelimit;
pub mod risk;
pub mod tlog;
mod wire;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use parcel_vault::crypto::BlindKind;
use parcel_vault::model::{NewShipment, ShipmentPatch};
use parcel_vault::store::Principal;
use parcel_vault::{PersonKey, Vault, VaultError};
use serde::de::DeserializeOwned;
use serde_json::json;

use wire::ApiQuery;
pub use wire::{ApiError, ShipmentView};

/// Largest batch accepted by `POST /v1/shipments/batch`.
pub const MAX_BATCH: usize = 10_000;

/// Shared state of the server.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The vault.
    pub vault: Arc<Vault>,
    /// Recently verified API keys.
    pub auth_cache: Arc<auth::AuthCache>,
    /// Reveal policies, quotas and break-glass settings.
    pub access: Arc<access::Access>,
    /// Single sign-on: the token verifier and the tenant its users belong to.
    pub oidc: Option<Arc<(oidc::OidcVerifier, String)>>,
    /// The live insider-risk monitor, when running.
    pub risk: Option<risk::Monitor>,
    /// The console's index of the transparency log.
    pub activity: console::Activity,
    /// Prometheus metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Per-caller request rate limit, if any.
    pub rate_limit: Option<ratelimit::RateLimit>,
    /// The privacy-number broker, when enabled.
    pub numbers: Option<Arc<numbers::Numbers>>,
}

impl AppState {
    /// State over `vault`, deciding reveals with `access`, with an empty
    /// authentication cache.
    pub fn new(vault: Arc<Vault>, access: access::Access) -> Self {
        Self {
            vault,
            auth_cache: Arc::new(auth::AuthCache::default()),
            access: Arc::new(access),
            oidc: None,
            risk: None,
            activity: console::Activity::default(),
            metrics: Arc::new(metrics::Metrics::default()),
            rate_limit: None,
            numbers: None,
        }
    }

    /// Serves privacy numbers through `broker`; `switch` names the service
    /// accounts that are telephony switches, as `tenant/id`.
    #[must_use]
    pub fn with_numbers(
        mut self,
        broker: Arc<parcel_vault::numbers::Broker>,
        switch: Vec<String>,
    ) -> Self {
        self.numbers = Some(Arc::new(numbers::Numbers { broker, switch }));
        self
    }

    /// Limits each caller to `per_sec` requests a second (`burst` at once);
    /// 0 turns the limit off.
    #[must_use]
    pub fn with_rate_limit(mut self, per_sec: u32, burst: u32) -> Self {
        self.rate_limit = ratelimit::RateLimit::new(per_sec, burst);
        self
    }

    /// Reports open alerts of `tenants` in `/metrics`.
    #[must_use]
    pub fn with_metrics_for(mut self, tenants: Vec<String>) -> Self {
        self.metrics = Arc::new(metrics::Metrics::new(tenants));
        self
    }

    /// Also feeds every access to a live insider-risk monitor (started
    /// here) that stores and answers its alerts.
    pub fn with_risk(mut self, settings: risk::RiskSettings) -> std::io::Result<Self> {
        self.risk = Some(risk::Monitor::start(
            self.vault.clone(),
            self.auth_cache.clone(),
            settings,
        )?);
        Ok(self)
    }

    /// Hands an access to the insider-risk monitor, if one runs.
    pub(crate) fn observe(&self, event: impl FnOnce() -> risk::LiveEvent) {
        if let Some(m) = &self.risk {
            m.observe(event());
        }
    }

    /// Also accepts OIDC tokens verified by `verifier`, for principals of
    /// `tenant` named by the configured claim.
    #[must_use]
    pub fn with_oidc(mut self, verifier: oidc::OidcVerifier, tenant: &str) -> Self {
        self.oidc = Some(Arc::new((verifier, tenant.to_owned())));
        self
    }
}

/// What a request wants to do, for the role check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create shipments.
    Create,
    /// Read masked views.
    Read,
    /// Change status, courier or window.
    Update,
    /// Blind-index search.
    Search,
    /// Erase a person.
    Erase,
    /// Fetch a transparency-log receipt.
    Receipt,
    /// Ask for plaintext (the policies decide; every principal may ask).
    Reveal,
    /// Register a ticket about a shipment.
    Ticket,
    /// Request or approve a break-glass reveal.
    BreakGlass,
    /// Manage principals, API keys and policy reloads.
    ManagePrincipals,
    /// Read the policy set in force.
    ReadPolicies,
    /// Read and work insider-risk alerts (the security team).
    Alerts,
    /// List masked shipments a page at a time.
    List,
    /// The console's dashboard and access log (entries, no personal data).
    Console,
    /// Print a shipment's privacy waybill label (masked values, QR token).
    Label,
}

impl Action {
    /// Whether `role` may do this (interim rules until Cedar policies).
    pub fn allowed(self, role: &str) -> bool {
        match self {
            Action::Create => matches!(role, "admin" | "service"),
            Action::Read => matches!(
                role,
                "admin"
                    | "service"
                    | "courier"
                    | "station_manager"
                    | "customer_service"
                    | "security_auditor"
            ),
            Action::Update => matches!(role, "admin" | "service" | "station_manager"),
            Action::Search => matches!(role, "admin" | "customer_service"),
            Action::Erase => role == "admin",
            // Entries hold no personal data; every principal may check the
            // receipts of its own tenant (the handler scopes them).
            Action::Receipt | Action::Reveal => true,
            Action::Ticket => matches!(role, "admin" | "service"),
            Action::BreakGlass | Action::ManagePrincipals => role == "admin",
            Action::ReadPolicies | Action::Alerts => matches!(role, "admin" | "security_auditor"),
            Action::List => matches!(
                role,
                "admin" | "service" | "station_manager" | "customer_service" | "security_auditor"
            ),
            Action::Console => matches!(role, "admin" | "security_auditor" | "station_manager"),
            Action::Label => matches!(role, "admin" | "service" | "station_manager" | "courier"),
        }
    }
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    summary = "Liveness",
    responses((status = 200, description = "Alive", body = String, content_type = "text/plain"))
)]
async fn healthz() -> &'static str {
    "ok"
}

/// The router: every API route (registered with its OpenAPI entry, so none
/// can exist without one), `/openapi.json`, and the console's pages.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let (api, doc) = api_routes().split_for_parts();
    let doc = Arc::new(doc);
    api.route(
        "/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
    .merge(tlog::tile_routes())
    .merge(console::pages())
    .fallback(|| async {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint", None)
    })
    .method_not_allowed_fallback(|| async {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not take that method",
            None,
        )
    })
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        ratelimit::enforce,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        metrics::track,
    ))
    .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
    .with_state(state)
}

/// The OpenAPI document of [`router`], as served at `/openapi.json`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api_routes().split_for_parts().1
}

fn api_routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa::OpenApi as _;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(console::readyz))
        .routes(routes!(metrics::scrape))
        .routes(routes!(console::me))
        .routes(routes!(console::stats))
        .routes(routes!(console::access_log))
        .routes(routes!(create, search))
        .routes(routes!(batch))
        .routes(routes!(read, update))
        .routes(routes!(labels::png))
        .routes(routes!(labels::pdf))
        .routes(routes!(labels::zpl))
        .routes(routes!(erase))
        .routes(routes!(receipt))
        .routes(routes!(access::reveal))
        .routes(routes!(access::create_ticket))
        .routes(routes!(access::request_break_glass))
        .routes(routes!(access::approve_break_glass))
        .routes(routes!(access::list_principals, access::create_principal))
        .routes(routes!(access::update_principal))
        .routes(routes!(access::create_key))
        .routes(routes!(access::list_keys))
        .routes(routes!(access::revoke_key))
        .routes(routes!(access::get_policies))
        .routes(routes!(access::reload_policies))
        .routes(routes!(console::policy_history))
        .routes(routes!(risk::list))
        .routes(routes!(risk::get_one))
        .routes(routes!(risk::acknowledge))
        .routes(routes!(risk::resolve))
        .routes(routes!(risk::reidentify))
        .routes(routes!(console::alert_timeline))
        .routes(routes!(numbers::add_pool, numbers::get_pool))
        .routes(routes!(numbers::set_phone))
        .routes(routes!(numbers::bind))
        .routes(routes!(numbers::get_binding, numbers::unbind))
        .routes(routes!(numbers::route))
        .routes(routes!(numbers::record_call))
        .routes(routes!(tlog::vkey))
        .routes(routes!(tlog::checkpoint))
}

#[utoipa::path(
    get,
    path = "/v1/log/receipt/{index}",
    tag = "log",
    summary = "A log entry with its inclusion proof and signed checkpoint",
    params(("index" = u64, Path, description = "Entry index")),
    responses((status = 200, description = "The receipt", body = crate::openapi::ReceiptDoc), crate::openapi::Errors),
    security(("bearer" = []))
)]
async fn receipt(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(index): Path<String>,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Receipt).await?;
    let index: u64 = index.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "index: expected a non-negative integer",
            Some("index"),
        )
    })?;
    let Some(log) = state.vault.log().cloned() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this server has no transparency log",
            None,
        ));
    };
    let not_found = move || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("entry {index} does not exist"),
            Some("index"),
        )
    };
    let r = blocking(move || {
        let r = log.receipt(index).map_err(|e| match e {
            parcel_tlog::LogError::NotFound(_) => not_found(),
            other => ApiError::from(VaultError::Log(other)),
        })?;
        // Another tenant's entries (and system-wide ones) are only for
        // admins and auditors; to everyone else they do not exist.
        let tenant = r
            .event()
            .map(|e| e.tenant)
            .map_err(|e| ApiError::from(VaultError::Log(e)))?;
        if tenant != p.tenant && !matches!(p.role.as_str(), "admin" | "security_auditor") {
            return Err(not_found());
        }
        Ok(r)
    })
    .await?;
    Ok(Json(r).into_response())
}

pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Runs blocking vault work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::internal("worker failed"))?
}

pub(crate) async fn principal(
    state: &AppState,
    headers: &HeaderMap,
    action: Action,
) -> Result<Principal, ApiError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    // A key verified in the last AUTH_CACHE_TTL needs no database round
    // trip; revocation and suspension take effect within that time.
    let p = match state.auth_cache.get(header.as_deref()) {
        Some(p) => p,
        None => {
            let vault = state.vault.clone();
            let cache = state.auth_cache.clone();
            let oidc = state.oidc.clone();
            let p = blocking(move || {
                let store = vault.store().as_ref();
                let p = match (&oidc, auth::bearer(header.as_deref())) {
                    (Some(o), Some(token)) if oidc::looks_like_jwt(token) => {
                        auth::authenticate_oidc(store, &o.0, &o.1, token)
                    }
                    _ => auth::authenticate(store, header.as_deref(), now()),
                }
                .map_err(ApiError::from)?;
                cache.put(header.as_deref(), &p);
                Ok(p)
            })
            .await?;
            // A verification that missed the cache is a sign-in.
            state.observe(|| risk::LiveEvent {
                tenant: p.tenant.clone(),
                actor: p.id.clone(),
                action: parcel_risk::Action::Login,
                role: Some(p.role.clone()),
                station: p.station.clone(),
                waybill_no: None,
                customer: None,
                field: None,
                purpose: None,
                assigned: None,
                device: None,
                reason: None,
                log_index: 0,
            });
            p
        }
    };
    if !action.allowed(&p.role) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your role may not do this",
            None,
        ));
    }
    Ok(p)
}

pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        // serde_json's messages can quote the offending value: report only
        // where the problem is.
        let (status, what) = match e.classify() {
            serde_json::error::Category::Data => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "does not match the expected shape",
            ),
            _ => (StatusCode::BAD_REQUEST, "is not valid JSON"),
        };
        ApiError::new(
            status,
            "bad_request",
            &format!(
                "request body {what} (line {}, column {})",
                e.line(),
                e.column()
            ),
            None,
        )
    })
}

#[utoipa::path(
    post,
    path = "/v1/shipments",
    tag = "shipments",
    summary = "Create a shipment (admin, service)",
    request_body = crate::openapi::NewShipmentDoc,
    responses((status = 201, description = "Created", body = crate::openapi::CreatedShipment), (status = 409, description = "Waybill number taken", body = crate::openapi::ErrorBody), crate::openapi::Errors),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Create).await?;
    let input: NewShipment = parse_json(&body)?;
    let vault = state.vault.clone();
    let created = blocking(move || {
        vault
            .create(&p.tenant, &input, now())
            .map_err(ApiError::from)
    })
    .await?;
    let body = json!({"shipment": ShipmentView::from(&created.record), "qr_token": created.token});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct BatchQuery {
    /// All or nothing: one invalid item fails the batch.
    #[serde(default)]
    atomic: bool,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    shipments: Vec<NewShipment>,
}

#[utoipa::path(
    post,
    path = "/v1/shipments/batch",
    tag = "shipments",
    summary = "Create up to 10,000 shipments",
    params(BatchQuery),
    request_body = crate::openapi::BatchDoc,
    responses((status = 200, description = "Outcome per item (atomic batches: 422 when any fails)", body = crate::openapi::BatchResult), crate::openapi::Errors),
    security(("bearer" = []))
)]
async fn batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<BatchQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Create).await?;
    let input: BatchBody = parse_json(&body)?;
    if input.shipments.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "batch_too_large",
            &format!("at most {MAX_BATCH} shipments per batch"),
            Some("shipments"),
        ));
    }
    let vault = state.vault.clone();
    let results = blocking(move || {
        vault
            .create_batch(&p.tenant, &input.shipments, q.atomic, now())
            .map_err(ApiError::from)
    })
    .await?;
    let created = results.iter().filter(|r| r.is_ok()).count();
    let items: Vec<serde_json::Value> = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| match r {
            Ok(c) => json!({"index": i, "status": 201, "shipment": ShipmentView::from(&c.record), "qr_token": c.token}),
            Err(e) => {
                let e = ApiError::from(e);
                json!({"index": i, "status": e.status.as_u16(), "error": e.body()})
            }
        })
        .collect();
    if q.atomic && created == 0 && !items.is_empty() {
        // Still the error envelope, with every item's outcome beside it.
        let error = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "batch_rejected",
            "an atomic batch is stored whole or not at all; see results for the items at fault",
            Some("shipments"),
        );
        let body = json!({"error": error.body(), "created": 0, "results": items});
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response());
    }
    Ok((
        StatusCode::OK,
        Json(json!({"created": created, "results": items})),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/v1/shipments/{waybill_no}",
    tag = "shipments",
    summary = "Read a masked shipment",
    params(("waybill_no" = String, Path, description = "Waybill number")),
    responses((status = 200, description = "The shipment", body = crate::openapi::OneShipment), (status = 410, description = "Erased", body = crate::openapi::ErrorBody), crate::openapi::Errors),
    security(("bearer" = []))
)]
async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(waybill): Path<String>,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Read).await?;
    // A primary-key read is microseconds on SQLite (a round trip on
    // PostgreSQL): cheaper inline than a hand-off to the blocking pool, whose
    // thread wake-ups cost more than the read itself.
    let record = state.vault.get(&p.tenant, &waybill)?;
    Ok(Json(json!({"shipment": ShipmentView::from(&record)})).into_response())
}

#[utoipa::path(
    patch,
    path = "/v1/shipments/{waybill_no}",
    tag = "shipments",
    summary = "Change status, courier or delivery window",
    params(("waybill_no" = String, Path, description = "Waybill number")),
    request_body = crate::openapi::ShipmentPatchDoc,
    responses((status = 200, description = "The shipment", body = crate::openapi::OneShipment), (status = 409, description = "Not a legal next status", body = crate::openapi::ErrorBody), (status = 410, description = "Erased", body = crate::openapi::ErrorBody), crate::openapi::Errors),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(waybill): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Update).await?;
    let patch: ShipmentPatch = parse_json(&body)?;
    let vault = state.vault.clone();
    let numbers = state.numbers.clone();
    // One task for the change and the binding it implies, so that a client
    // hanging up cannot leave a parcel out for delivery without its number.
    let (record, binding) = tokio::spawn(async move {
        let at = now();
        let (record, p, waybill, patch) = blocking(move || {
            let record = vault
                .update(&p.tenant, &waybill, &patch, at)
                .map_err(ApiError::from)?;
            Ok((record, p, waybill, patch))
        })
        .await?;
        let binding = match &numbers {
            Some(n) => {
                let status = record.status;
                numbers::on_store(n, move |n| async move {
                    Ok(
                        numbers::follow_status(&n, &p.tenant, &waybill, &patch, status, &p.id, at)
                            .await,
                    )
                })
                .await?
            }
            None => json!({}),
        };
        Ok::<_, ApiError>((record, binding))
    })
    .await
    .map_err(|_| ApiError::internal("worker failed"))??;
    let mut body = json!({"shipment": ShipmentView::from(&record)});
    if let (Some(obj), serde_json::Value::Object(extra)) = (body.as_object_mut(), binding) {
        obj.extend(extra);
    }
    Ok(Json(body).into_response())
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PersonQuery {
    phone: Option<String>,
    id_number: Option<String>,
    name: Option<String>,
}

/// `GET /v1/shipments`: a blind-index search with a person key, a listing
/// without one.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ShipmentsQuery {
    /// Search: the person's phone (customer service, admin).
    phone: Option<String>,
    /// Search: the person's ID number.
    id_number: Option<String>,
    /// Search: the person's full name.
    name: Option<String>,
    /// Listing: only shipments in this status.
    status: Option<String>,
    /// Listing: the waybill number after which the page starts.
    after: Option<String>,
    /// Listing: page size, 1 to 500 (default 50).
    limit: Option<usize>,
}

fn one_key(q: &PersonQuery, allow_name: bool) -> Result<(BlindKind, String), ApiError> {
    let given: Vec<(BlindKind, &String)> = [
        (BlindKind::Phone, q.phone.as_ref()),
        (BlindKind::IdNumber, q.id_number.as_ref()),
        (BlindKind::Name, q.name.as_ref().filter(|_| allow_name)),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    match given.as_slice() {
        [(k, v)] => Ok((*k, (*v).clone())),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            if allow_name {
                "give exactly one of phone, id_number, name"
            } else {
                "give exactly one of phone, id_number"
            },
            None,
        )),
    }
}

#[utoipa::path(
    get,
    path = "/v1/shipments",
    tag = "shipments",
    summary = "Search by a person (phone, id_number, name) or list a page of masked shipments",
    params(ShipmentsQuery),
    responses((status = 200, description = "Shipments", body = crate::openapi::ShipmentList), crate::openapi::Errors),
    security(("bearer" = []))
)]
async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ShipmentsQuery>,
) -> Result<Response, ApiError> {
    if q.phone.is_none() && q.id_number.is_none() && q.name.is_none() {
        let list = console::ListQuery {
            status: q.status,
            after: q.after,
            limit: q.limit,
        };
        return console::list_shipments(&state, &headers, list).await;
    }
    if q.status.is_some() || q.after.is_some() || q.limit.is_some() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            "status, after and limit list shipments; they do not combine with a person search",
            None,
        ));
    }
    let q = PersonQuery {
        phone: q.phone,
        id_number: q.id_number,
        name: q.name,
    };
    let p = principal(&state, &headers, Action::Search).await?;
    let (kind, value) = one_key(&q, true)?;
    let vault = state.vault.clone();
    let who = p.clone();
    let (found, customer) = blocking(move || {
        let found = vault
            .search(&p.tenant, kind, &value, &p.id, now())
            .map_err(ApiError::from)?;
        // The person looked for, as a keyed pseudonym (never the value).
        let customer = vault
            .pseudonym(&p.tenant, "cust", &format!("{kind:?}\0{value}"))
            .ok();
        Ok((found, customer))
    })
    .await?;
    state.observe(|| risk::LiveEvent {
        tenant: who.tenant,
        actor: who.id,
        action: parcel_risk::Action::Search,
        role: Some(who.role),
        station: who.station,
        waybill_no: None,
        customer,
        field: None,
        purpose: None,
        assigned: None,
        device: None,
        reason: None,
        log_index: 0,
    });
    let views: Vec<ShipmentView> = found.iter().map(ShipmentView::from).collect();
    Ok(Json(json!({"shipments": views})).into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/persons",
    tag = "shipments",
    summary = "Erase a person (PIPL): every party record with this phone or ID number",
    params(PersonQuery),
    responses((status = 200, description = "What was erased", body = crate::openapi::Erased), crate::openapi::Errors),
    security(("bearer" = []))
)]
async fn erase(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<PersonQuery>,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Erase).await?;
    let (kind, value) = one_key(&q, false)?;
    let key = if kind == BlindKind::Phone {
        PersonKey::Phone
    } else {
        PersonKey::IdNumber
    };
    let vault = state.vault.clone();
    let report = blocking(move || {
        vault
            .erase_person(&p.tenant, key, &value, &p.id, now())
            .map_err(ApiError::from)
    })
    .await?;
    Ok(Json(json!({"erased": report})).into_response())
}

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        wire::from_vault(e)
    }
}
