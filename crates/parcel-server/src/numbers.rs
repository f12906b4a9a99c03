//! Privacy-number endpoints (AXB): the pool, employees' contact phones,
//! bindings, the telephony switch's route look-up and its call records.
//!
//! Bindings are made and ended by the shipment lifecycle (`PATCH
//! /v1/shipments/{waybill_no}` to `out_for_delivery`, `delivered`,
//! `returned`) and can be made again or ended here by hand. Only the
//! service accounts named in `numbers.switch` may route calls and post
//! call records: a route answer is the one response here that holds a real
//! number, and it goes to the switch, never to an app.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parcel_numbers::Binding;
use parcel_vault::numbers::{Broker, CallRecord, RouteError};
use parcel_vault::store::Principal;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::wire::{ApiQuery, rfc3339};
use crate::{Action, ApiError, AppState, blocking, now, parse_json, principal};

/// The number broker and who may use the switch's endpoints.
#[derive(Debug, Clone)]
pub struct Numbers {
    /// The broker (routing index, binds, call records).
    pub broker: Arc<Broker>,
    /// The service accounts that are telephony switches, as
    /// `tenant/id`.
    pub switch: Vec<String>,
}

/// A binding as the API shows it: the virtual number and times, never a
/// real phone.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BindingView {
    /// Binding id.
    pub id: String,
    /// The shipment.
    pub waybill_no: String,
    /// The courier (side A).
    pub courier: String,
    /// The virtual number to dial.
    pub number: String,
    /// The extension to dial after it, if the binding has one.
    pub ext: Option<u16>,
    /// End of the delivery window (RFC 3339): after it only the recipient
    /// can call.
    pub window_end: Option<String>,
    /// End of the grace period (RFC 3339): after it nobody can.
    pub expires_at: Option<String>,
}

impl From<&Binding> for BindingView {
    fn from(b: &Binding) -> Self {
        Self {
            id: b.id.clone(),
            waybill_no: b.waybill_no.clone(),
            courier: b.courier.clone(),
            number: b.number.clone(),
            ext: (b.ext != 0).then_some(b.ext),
            window_end: rfc3339(b.window_end),
            expires_at: rfc3339(b.expires_at),
        }
    }
}

/// `{"binding": …}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OneBinding {
    /// The binding.
    pub binding: BindingView,
    /// Whether it existed already.
    pub existing: bool,
    /// Log index of the bind entry, when this call made it.
    pub log_index: Option<u64>,
}

fn switch_only(state: &AppState, p: &Principal) -> Result<Arc<Numbers>, ApiError> {
    let n = numbers(state)?;
    if p.role != "service" || !n.switch.contains(&format!("{}/{}", p.tenant, p.id)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the telephony switch's service account may do this",
            None,
        ));
    }
    Ok(n)
}

/// Runs a broker operation where the store wants it: with an embedded
/// store, awaited on this worker (the log entry and the store write are
/// queued to their writers; no blocking-thread hand-off) in a task of its
/// own, so that a client hanging up cannot cut it off between its log
/// entry and its binding; with a network database, on a blocking thread.
pub(crate) async fn on_store<T, F, Fut>(n: &Arc<Numbers>, op: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(Arc<Numbers>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
{
    let n = n.clone();
    if n.broker.reads_inline() {
        tokio::spawn(op(n))
            .await
            .map_err(|_| ApiError::internal("worker failed"))?
    } else {
        // Not the runtime's `block_on`: the blocking database client runs a
        // runtime of its own, which cannot start inside this one's context.
        blocking(move || pollster::block_on(op(n))).await
    }
}

fn numbers(state: &AppState) -> Result<Arc<Numbers>, ApiError> {
    state.numbers.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "privacy numbers are not enabled",
            None,
        )
    })
}

/// `POST /v1/numbers/pool`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolBody {
    /// City, as addresses write it (`北京市`).
    pub city: String,
    /// Virtual numbers to add.
    pub numbers: Vec<String>,
}

/// What a pool load did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PoolAdded {
    /// Numbers that were new.
    pub added: usize,
}

#[utoipa::path(
    post,
    path = "/v1/numbers/pool",
    tag = "numbers",
    summary = "Add virtual numbers to a city's pool (admin)",
    request_body = PoolBody,
    responses((status = 200, description = "Added", body = PoolAdded), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn add_pool(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::ManagePrincipals).await?;
    let n = numbers(&state)?;
    let b: PoolBody = parse_json(&body)?;
    if b.numbers.len() > 10_000 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "numbers: at most 10000 per request",
            Some("numbers"),
        ));
    }
    let added = blocking(move || {
        n.broker
            .load_pool(&p.tenant, &b.city, &b.numbers, &p.id, now())
            .map_err(ApiError::from)
    })
    .await?;
    Ok(Json(PoolAdded { added }).into_response())
}

/// One city's pool.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PoolCity {
    /// City.
    pub city: String,
    /// Its virtual numbers.
    pub numbers: Vec<String>,
}

/// The tenant's pool.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PoolView {
    /// Cities and their numbers.
    pub cities: Vec<PoolCity>,
    /// Live bindings this server knows of.
    pub live_bindings: usize,
}

#[utoipa::path(
    get,
    path = "/v1/numbers/pool",
    tag = "numbers",
    summary = "The tenant's number pool (admin, security auditor)",
    responses((status = 200, description = "The pool", body = PoolView), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn get_pool(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::ReadPolicies).await?;
    let n = numbers(&state)?;
    let vault = state.vault.clone();
    let view = blocking(move || {
        let mut cities: Vec<PoolCity> = Vec::new();
        for (tenant, city, number) in vault
            .store()
            .pool_numbers()
            .map_err(|e| ApiError::from(parcel_vault::VaultError::from(e)))?
        {
            if tenant != p.tenant {
                continue;
            }
            match cities.last_mut() {
                Some(c) if c.city == city => c.numbers.push(number),
                _ => cities.push(PoolCity {
                    city,
                    numbers: vec![number],
                }),
            }
        }
        Ok(PoolView {
            cities,
            live_bindings: n.broker.router().len(),
        })
    })
    .await?;
    Ok(Json(view).into_response())
}

/// `PUT /v1/principals/{id}/phone`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneBody {
    /// The employee's contact phone (side A of their bindings).
    pub phone: String,
}

impl std::fmt::Debug for PhoneBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PhoneBody { phone: <redacted> }")
    }
}

#[utoipa::path(
    put,
    path = "/v1/principals/{id}/phone",
    tag = "numbers",
    summary = "Set an employee's contact phone, sealed (admin)",
    params(("id" = String, Path, description = "Principal id")),
    request_body = PhoneBody,
    responses((status = 204, description = "Stored"), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn set_phone(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let admin = principal(&state, &headers, Action::ManagePrincipals).await?;
    let n = numbers(&state)?;
    let b: PhoneBody = parse_json(&body)?;
    let phone = Zeroizing::new(b.phone);
    let vault = state.vault.clone();
    blocking(move || {
        if vault
            .store()
            .get_principal(&admin.tenant, &id)
            .map_err(|e| ApiError::from(parcel_vault::VaultError::from(e)))?
            .is_none()
        {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such principal",
                None,
            ));
        }
        n.broker
            .set_contact_phone(&admin.tenant, &id, &phone, &admin.id, now())
            .map_err(ApiError::from)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/numbers/bindings`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindBody {
    /// The shipment (out for delivery).
    pub waybill_no: String,
}

#[utoipa::path(
    post,
    path = "/v1/numbers/bindings",
    tag = "numbers",
    summary = "Bind a privacy number for a shipment out for delivery",
    request_body = BindBody,
    responses(
        (status = 200, description = "Bound (or already bound)", body = OneBinding),
        (status = 409, description = "Cannot bind: pool_exhausted, no_courier_phone, not_out_for_delivery, …", body = crate::openapi::ErrorBody),
        crate::openapi::Errors
    ),
    security(("bearer" = []))
)]
pub(crate) async fn bind(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Update).await?;
    let n = numbers(&state)?;
    let b: BindBody = parse_json(&body)?;
    let bound = on_store(&n, move |n| async move {
        n.broker
            .bind_async(&p.tenant, &b.waybill_no, &p.id, now())
            .await
            .map_err(ApiError::from)
    })
    .await?;
    Ok(Json(OneBinding {
        binding: BindingView::from(bound.binding.as_ref()),
        existing: bound.existing,
        log_index: bound.log_index,
    })
    .into_response())
}

#[utoipa::path(
    get,
    path = "/v1/numbers/bindings/{waybill_no}",
    tag = "numbers",
    summary = "A shipment's live binding (number to dial, times)",
    params(("waybill_no" = String, Path, description = "Waybill number")),
    responses((status = 200, description = "The binding", body = BindingView), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn get_binding(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(waybill): Path<String>,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Read).await?;
    let n = numbers(&state)?;
    let found = blocking(move || {
        n.broker
            .binding_for(&p.tenant, &waybill)
            .map_err(ApiError::from)
    })
    .await?;
    match found {
        Some(b) => Ok(Json(BindingView::from(&b)).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the shipment has no live binding",
            None,
        )),
    }
}

#[utoipa::path(
    delete,
    path = "/v1/numbers/bindings/{waybill_no}",
    tag = "numbers",
    summary = "End a shipment's binding",
    params(("waybill_no" = String, Path, description = "Waybill number")),
    responses((status = 204, description = "Ended"), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn unbind(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(waybill): Path<String>,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Update).await?;
    let n = numbers(&state)?;
    let ended = on_store(&n, move |n| async move {
        n.broker
            .unbind_waybill_async(&p.tenant, &waybill, &p.id, "manual", now())
            .await
            .map_err(ApiError::from)
    })
    .await?;
    match ended {
        Some(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the shipment has no live binding",
            None,
        )),
    }
}

/// `GET /v1/numbers/route`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteQuery {
    /// The calling phone.
    caller: String,
    /// The virtual number dialled.
    called: String,
    /// The extension dialled, if any.
    ext: Option<u16>,
}

impl std::fmt::Debug for RouteQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteQuery")
            .field("called", &self.called)
            .field("ext", &self.ext)
            .finish_non_exhaustive()
    }
}

/// Where to connect a call.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RouteView<'a> {
    /// The real number to connect the call to.
    pub connect_to: &'a str,
    /// The binding.
    pub binding_id: String,
    /// Its shipment.
    pub waybill_no: String,
    /// `courier` or `recipient`: who is calling.
    pub caller_side: &'static str,
    /// Until when the binding connects (RFC 3339).
    pub expires_at: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/numbers/route",
    tag = "numbers",
    summary = "Route a call to a virtual number (the telephony switch)",
    params(RouteQuery),
    responses(
        (status = 200, description = "Connect the call", body = RouteView),
        (status = 403, description = "Refused: unknown_number, unknown_caller, extension_required, expired, restricted_direction (or not the switch)", body = crate::openapi::ErrorBody),
        crate::openapi::Errors
    ),
    security(("bearer" = []))
)]
pub(crate) async fn route(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<RouteQuery>,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Read).await?;
    let n = switch_only(&state, &p)?;
    let caller = Zeroizing::new(q.caller);
    // The look-up itself is in memory; an index miss asks the database,
    // so it runs on the blocking pool.
    let routed =
        blocking(move || Ok(n.broker.route(&p.tenant, &caller, &q.called, q.ext, now()))).await?;
    let answer = match routed {
        Ok(a) => a,
        Err(RouteError::Refused(r)) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                r.code(),
                "the call is not connected",
                None,
            ));
        }
        Err(RouteError::BadCaller(why)) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                &format!("caller: {why}"),
                Some("caller"),
            ));
        }
        Err(RouteError::Vault(e)) => return Err(ApiError::from(e)),
        Err(_) => return Err(ApiError::internal("route failed")),
    };
    let view = RouteView {
        // Borrowed from the zeroized answer: the response bytes are the
        // only other copy.
        connect_to: answer.connect_to.as_str(),
        binding_id: answer.binding.id.clone(),
        waybill_no: answer.binding.waybill_no.clone(),
        caller_side: answer.caller.as_str(),
        expires_at: rfc3339(answer.binding.expires_at),
    };
    let mut response = Json(view).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `POST /v1/numbers/calls`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallBody {
    /// The virtual number dialled.
    pub called: String,
    /// The extension dialled, if any.
    pub ext: Option<u16>,
    /// The calling phone (used to find the binding, never stored).
    pub caller: String,
    /// Call start (RFC 3339).
    pub started_at: String,
    /// Seconds connected.
    pub duration_secs: i64,
    /// `answered`, `missed`, `busy`, `refused` or `failed`.
    pub outcome: String,
}

impl std::fmt::Debug for CallBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallBody")
            .field("called", &self.called)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

/// What a call record was about.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallRecorded {
    /// Log index of the call's entry.
    pub log_index: Option<u64>,
    /// The binding, if the caller is one of its parties.
    pub binding_id: Option<String>,
    /// Its shipment.
    pub waybill_no: Option<String>,
    /// `courier`, `recipient` or `unknown`.
    pub caller_side: &'static str,
}

#[utoipa::path(
    post,
    path = "/v1/numbers/calls",
    tag = "numbers",
    summary = "Record a call (the telephony switch); logged, and fed to insider-risk detection",
    request_body = CallBody,
    responses((status = 201, description = "Recorded", body = CallRecorded), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn record_call(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Read).await?;
    let n = switch_only(&state, &p)?;
    let b: CallBody = parse_json(&body)?;
    let started = time::OffsetDateTime::parse(
        &b.started_at,
        &time::format_description::well_known::Rfc3339,
    )
    .map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "started_at: expected an RFC 3339 time",
            Some("started_at"),
        )
    })?
    .unix_timestamp();
    let call = CallRecord {
        number: b.called,
        ext: b.ext,
        caller: Zeroizing::new(b.caller),
        started_at: started,
        duration_secs: b.duration_secs,
        outcome: b.outcome,
    };
    let tenant = p.tenant.clone();
    let actor = p.id.clone();
    let vault = state.vault.clone();
    let (facts, employee) = blocking(move || {
        let facts = n
            .broker
            .record_call(&tenant, &actor, &call, now())
            .map_err(ApiError::from)?;
        let employee = match &facts.employee {
            Some(e) => vault
                .store()
                .get_principal(&tenant, e)
                .map_err(|e| ApiError::from(parcel_vault::VaultError::from(e)))?,
            None => None,
        };
        Ok((facts, employee))
    })
    .await?;
    // A call by an employee is access to a customer: the detector sees it
    // like a reveal of the phone (or, off their own parcels, a denial).
    if let (Some(e), Some(assigned)) = (employee, facts.assigned) {
        state.observe(|| crate::risk::LiveEvent {
            tenant: e.tenant.clone(),
            actor: e.id.clone(),
            action: if assigned {
                parcel_risk::Action::Reveal
            } else {
                parcel_risk::Action::Deny
            },
            role: Some(e.role.clone()),
            station: e.station.clone(),
            waybill_no: facts.waybill_no.clone(),
            customer: facts
                .waybill_no
                .as_ref()
                .map(|w| format!("{w}/recipient"))
                .or_else(|| Some(format!("number/{}", facts.log_index.unwrap_or(0)))),
            field: Some("phone".to_owned()),
            purpose: Some("call".to_owned()),
            assigned: Some(assigned),
            device: None,
            reason: (!assigned).then(|| "not_assigned".to_owned()),
            log_index: facts.log_index.unwrap_or(0),
        });
    }
    Ok((
        StatusCode::CREATED,
        Json(CallRecorded {
            log_index: facts.log_index,
            binding_id: facts.binding,
            waybill_no: facts.waybill_no,
            caller_side: facts.caller_side,
        }),
    )
        .into_response())
}

/// Follows a status change with the binding it implies: bind on
/// `out_for_delivery`, unbind on `delivered` and `returned`. The status
/// change has happened whatever this says; a failure to bind is reported
/// beside it (`privacy_number_error`) and can be retried with `POST
/// /v1/numbers/bindings`.
pub(crate) async fn follow_status(
    n: &Numbers,
    tenant: &str,
    waybill: &str,
    patch: &parcel_vault::model::ShipmentPatch,
    now_status: parcel_vault::model::Status,
    actor: &str,
    at: i64,
) -> serde_json::Value {
    use parcel_vault::model::Status;
    let (change, courier_changed) = (patch.status, patch.courier.is_some());
    // A new courier out on delivery gets a binding of their own; the old
    // courier's line ends.
    let status = match change {
        Some(s) => s,
        None if courier_changed && now_status == Status::OutForDelivery => {
            if let Err(e) = n
                .broker
                .unbind_waybill_async(tenant, waybill, actor, "courier_changed", at)
                .await
            {
                tracing::warn!(error = %e, "ending a privacy-number binding failed");
            }
            Status::OutForDelivery
        }
        None => return serde_json::json!({}),
    };
    match status {
        Status::OutForDelivery => match n.broker.bind_async(tenant, waybill, actor, at).await {
            Ok(b) => serde_json::json!({"privacy_number": BindingView::from(b.binding.as_ref())}),
            Err(parcel_vault::VaultError::Numbers { reason }) => {
                serde_json::json!({"privacy_number": null, "privacy_number_error": reason})
            }
            Err(e) => {
                tracing::warn!(error = %e, "binding a privacy number failed");
                serde_json::json!({"privacy_number": null, "privacy_number_error": "unavailable"})
            }
        },
        Status::Delivered | Status::Returned => {
            let reason = status.as_str();
            if let Err(e) = n
                .broker
                .unbind_waybill_async(tenant, waybill, actor, reason, at)
                .await
            {
                // The expiry sweep ends it at the latest.
                tracing::warn!(error = %e, "ending a privacy-number binding failed");
            }
            serde_json::json!({})
        }
        _ => serde_json::json!({}),
    }
}
