//! The access-control endpoints: `POST /v1/reveal` (the one that returns
//! plaintext), tickets, break-glass requests and approvals, principals and
//! their API keys, and the policy set (read and hot reload).
//!
//! Every change here is recorded in the transparency log before it is
//! answered; reveals and denials are recorded before the answer leaves.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parcel_policy::{Decision, Engine, FIELDS, PARTIES, PURPOSES, Policies, ROLES};
use parcel_vault::model::{Field, Party};
use parcel_vault::reveal::{RevealInput, RevealOptions};
use parcel_vault::store::{BreakGlass, InsertOutcome, Principal, Ticket};
use parcel_vault::{Vault, VaultError};
use serde::Deserialize;
use serde_json::json;

use crate::{Action, ApiError, AppState, auth, blocking, now, parse_json, principal};

/// The reveal side of the server's state: the decision engine, its
/// settings, and where a reload reads policies from.
#[derive(Debug, Clone)]
pub struct Access {
    /// The policy decision point (hot-reloadable).
    pub engine: Arc<Engine>,
    /// Grace period, break-glass timing, quotas.
    pub options: RevealOptions,
    /// Directory of `.cedar` files; `None`: the built-in set.
    pub policy_dir: Option<PathBuf>,
}

impl Access {
    /// The built-in policy set with default options.
    pub fn builtin() -> Result<Self, parcel_policy::PolicyError> {
        Ok(Self {
            engine: Arc::new(Engine::new(Policies::builtin()?)?),
            options: RevealOptions::default(),
            policy_dir: None,
        })
    }

    /// Loads the policy set again from its directory (or the built-in one)
    /// and puts it in force; returns `(old, new)` versions. A set that does
    /// not validate changes nothing.
    pub fn reload(&self) -> Result<(String, String), parcel_policy::PolicyError> {
        let policies = match &self.policy_dir {
            Some(dir) => Policies::from_dir(dir)?,
            None => Policies::builtin()?,
        };
        let new = policies.version().to_owned();
        let old = self.engine.replace(policies);
        Ok((old, new))
    }
}

/// Records a policy-set change from `old` to `new` (versions).
pub fn record_policy_version(
    vault: &Vault,
    actor: &str,
    old: &str,
    new: &str,
) -> Result<(), VaultError> {
    let Some(log) = vault.log() else {
        return Ok(());
    };
    let mut event = parcel_tlog::Event::new(now().saturating_mul(1000), "", actor, "policy_change");
    event.policy_version = Some(new.to_owned());
    log.append(&event.with_detail("previous", old))?;
    Ok(())
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn one_of(value: &str, allowed: &[&str], field: &str) -> Result<(), ApiError> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        &format!("{field}: expected one of {}", allowed.join(", ")),
        Some(field),
    ))
}

fn party_of(s: &str) -> Party {
    if s == "sender" {
        Party::Sender
    } else {
        Party::Recipient
    }
}

fn field_of(s: &str) -> Field {
    match s {
        "name" => Field::Name,
        "phone" => Field::Phone,
        "address" => Field::Address,
        _ => Field::IdNumber,
    }
}

/// What a denied caller is told, by reason code.
fn reason_message(reason: &str) -> &'static str {
    match reason {
        "not_assigned" => "this shipment is not assigned to you",
        "outside_delivery_window" => "outside the shipment's delivery window",
        "not_out_for_delivery" => "the shipment is not out for delivery",
        "not_awaiting_pickup" => "the shipment is not awaiting pickup",
        "field_not_allowed" => "your role may not see this field",
        "purpose_not_allowed" => "no policy allows this purpose for your role and this field",
        "ticket_required" => "give the ticket_id of the case you are working on",
        "ticket_not_for_shipment" => "the ticket is unknown, closed, or about another shipment",
        "not_own_station" => "the shipment does not pass through your station",
        "role_never_reveals" => "your role never sees plaintext",
        "shipment_closed" => "the shipment was closed longer ago than the grace period",
        "erased" => "this person's data has been erased",
        "principal_suspended" => "your account is suspended",
        "approval_required" => {
            "each reveal needs a second person's approval for now: request one at /v1/break-glass"
        }
        "quota_exceeded" => "you have reached your reveal quota; ask your manager",
        "break_glass_not_approved" => {
            "the break-glass request is unknown, unapproved, expired, used, or for another field"
        }
        "not_found" => "no such shipment",
        _ => "denied by policy",
    }
}

fn decision_json(d: &Decision) -> serde_json::Value {
    json!({
        "allowed": d.allowed,
        "reason": d.reason,
        "policies": d.policies,
        "policy_version": d.version,
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RevealBody {
    waybill_no: Option<String>,
    qr_token: Option<String>,
    party: String,
    field: String,
    purpose: String,
    ticket_id: Option<String>,
    device_id: Option<String>,
    location: Option<String>,
    break_glass_id: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/reveal",
    tag = "reveal",
    summary = "Reveal one field for a purpose; logged before it is answered",
    request_body = RevealBody,
    responses((status = 200, description = "Allowed: the value", body = crate::openapi::RevealAnswer), (status = 403, description = "Denied by policy, with an actionable reason code", body = crate::openapi::RevealDenied), (status = 404, description = "No such shipment (logged)", body = crate::openapi::RevealDenied), (status = 410, description = "Erased", body = crate::openapi::ErrorBody), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn reveal(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Reveal).await?;
    let b: RevealBody = parse_json(&body)?;
    one_of(&b.party, &PARTIES, "party")?;
    one_of(&b.field, &FIELDS, "field")?;
    one_of(&b.purpose, &PURPOSES, "purpose")?;
    if b.party == "recipient" && b.field == "id_number" {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "field: recipients have no ID number on a waybill",
            Some("field"),
        ));
    }
    for (name, v) in [
        ("ticket_id", &b.ticket_id),
        ("device_id", &b.device_id),
        ("location", &b.location),
        ("break_glass_id", &b.break_glass_id),
    ] {
        if v.as_ref().is_some_and(|v| v.is_empty() || v.len() > 128) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                &format!("{name}: must be 1 to 128 characters"),
                Some(name),
            ));
        }
    }
    let waybill_no = match (&b.waybill_no, &b.qr_token) {
        (Some(w), None) => w.clone(),
        (None, Some(token)) => {
            let claims = state.vault.open_token(token)?;
            if claims.tenant != p.tenant {
                return Err(VaultError::BadToken.into());
            }
            claims.waybill_no
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "give exactly one of waybill_no, qr_token",
                Some("waybill_no"),
            ));
        }
    };
    let input = RevealInput {
        waybill_no,
        party: party_of(&b.party),
        field: field_of(&b.field),
        purpose: b.purpose,
        ticket_id: b.ticket_id,
        device_id: b.device_id,
        break_glass_id: b.break_glass_id,
    };
    let vault = state.vault.clone();
    let access = state.access.clone();
    let who = p.clone();
    let (outcome, input) = if vault.store().reads_inline() {
        // An embedded store: the reads run on this worker and the quota
        // count and log append are awaited, not waited for on a blocking
        // thread (each such hand-off cost a context switch). Its own task,
        // so that a client hanging up cannot cut a reveal off between its
        // quota count and its log entry.
        tokio::spawn(async move {
            vault
                .reveal_async(&access.engine, &access.options, &p, &input, now())
                .await
                .map(|o| (o, input))
                .map_err(ApiError::from)
        })
        .await
        .map_err(|_| ApiError::internal("worker failed"))??
    } else {
        blocking(move || {
            vault
                .reveal(&access.engine, &access.options, &p, &input, now())
                .map(|o| (o, input))
                .map_err(ApiError::from)
        })
        .await?
    };
    state
        .metrics
        .reveal(outcome.decision.allowed, outcome.decision.reason.as_deref());
    state.observe(|| crate::risk::LiveEvent {
        tenant: who.tenant,
        actor: who.id,
        action: if outcome.decision.allowed {
            parcel_risk::Action::Reveal
        } else {
            parcel_risk::Action::Deny
        },
        role: Some(who.role),
        station: who.station,
        waybill_no: Some(input.waybill_no.clone()),
        // One person per parcel side: the detector counts distinct ones.
        customer: Some(format!("{}/{}", input.waybill_no, input.party.as_str())),
        field: Some(input.field.as_str().to_owned()),
        purpose: Some(input.purpose.clone()),
        assigned: outcome.assigned,
        device: input.device_id.clone(),
        reason: outcome.decision.reason.clone(),
        log_index: outcome.log_index,
    });
    let decision = decision_json(&outcome.decision);
    let response = match &outcome.value {
        Some(value) => (
            StatusCode::OK,
            Json(json!({
                "waybill_no": input.waybill_no,
                "party": input.party.as_str(),
                "field": input.field.as_str(),
                "value": value.as_str(),
                "decision": decision,
                "log_index": outcome.log_index,
                "receipt": format!("/v1/log/receipt/{}", outcome.log_index),
            })),
        )
            .into_response(),
        None => {
            let reason = outcome
                .decision
                .reason
                .clone()
                .unwrap_or_else(|| parcel_policy::DEFAULT_DENY.to_owned());
            let status = if reason == "not_found" {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::FORBIDDEN
            };
            (
                status,
                Json(json!({
                    "error": {"code": reason, "message": reason_message(&reason), "field": null},
                    "decision": decision,
                    "log_index": outcome.log_index,
                })),
            )
                .into_response()
        }
    };
    Ok(no_store(response))
}

fn bad(message: &str, field: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        message,
        Some(field),
    )
}

fn check_id(value: &str, field: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(bad(
            &format!("{field}: 1 to 64 letters, digits, '-', '_' or '.'"),
            field,
        ))
    }
}

/// Appends an administrative event (`actor` did `action`), failing closed.
fn record(
    vault: &Vault,
    tenant: &str,
    actor: &str,
    action: &str,
    details: &[(&str, serde_json::Value)],
) -> Result<(), ApiError> {
    let Some(log) = vault.log() else {
        return Ok(());
    };
    let mut event = parcel_tlog::Event::new(now().saturating_mul(1000), tenant, actor, action);
    for (k, v) in details {
        event = event.with_detail(k, v.clone());
    }
    log.append(&event)
        .map_err(|e| ApiError::from(VaultError::Log(e)))?;
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TicketBody {
    ticket_id: String,
    waybill_no: String,
}

#[utoipa::path(
    post,
    path = "/v1/tickets",
    tag = "reveal",
    summary = "Register a customer-service ticket about a shipment (admin, service)",
    request_body = TicketBody,
    responses((status = 201, description = "Registered", body = crate::openapi::TicketAnswer), (status = 409, description = "Ticket id taken", body = crate::openapi::ErrorBody), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn create_ticket(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Ticket).await?;
    let b: TicketBody = parse_json(&body)?;
    check_id(&b.ticket_id, "ticket_id")?;
    let vault = state.vault.clone();
    let ticket = blocking(move || {
        vault.get(&p.tenant, &b.waybill_no)?;
        let ticket = Ticket {
            tenant: p.tenant.clone(),
            id: b.ticket_id.clone(),
            waybill_no: b.waybill_no.clone(),
            opened_by: p.id.clone(),
            opened_at: now(),
            closed_at: None,
        };
        record(
            &vault,
            &p.tenant,
            &p.id,
            "ticket_open",
            &[
                ("ticket", b.ticket_id.clone().into()),
                ("waybill", b.waybill_no.clone().into()),
            ],
        )?;
        match vault
            .store()
            .put_ticket(&ticket)
            .map_err(VaultError::from)?
        {
            InsertOutcome::Inserted => Ok(ticket),
            InsertOutcome::Duplicate => Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "ticket_id: already registered",
                Some("ticket_id"),
            )),
        }
    })
    .await?;
    let body = json!({"ticket": {
        "ticket_id": ticket.id,
        "waybill_no": ticket.waybill_no,
        "opened_by": ticket.opened_by,
        "opened_at": crate::wire::rfc3339(ticket.opened_at),
    }});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BreakGlassBody {
    waybill_no: String,
    party: String,
    field: String,
    justification: String,
}

#[utoipa::path(
    post,
    path = "/v1/break-glass",
    tag = "reveal",
    summary = "Ask for a reveal outside policy (admin); a second admin must approve",
    request_body = BreakGlassBody,
    responses((status = 201, description = "Requested", body = crate::openapi::BreakGlassAnswer), (status = 409, description = "Cannot be requested now", body = crate::openapi::ErrorBody), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn request_break_glass(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // Admins ask to reveal outside policy; anyone under an insider-risk
    // approval hold asks for a second person's yes to a reveal in policy.
    let p = principal(&state, &headers, Action::Reveal).await?;
    let b: BreakGlassBody = parse_json(&body)?;
    one_of(&b.party, &PARTIES, "party")?;
    one_of(&b.field, &FIELDS, "field")?;
    let words = b.justification.trim().chars().count();
    if !(20..=2000).contains(&words) {
        return Err(bad(
            "justification: write 20 to 2000 characters on why this cannot wait for policy",
            "justification",
        ));
    }
    let vault = state.vault.clone();
    let ttl = state.access.options.break_glass_secs;
    let request = blocking(move || {
        if p.role != "admin"
            && vault
                .store()
                .approval_hold(&p.tenant, &p.id, now())
                .map_err(VaultError::from)?
                .is_none()
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "your role may not do this",
                None,
            ));
        }
        vault.get(&p.tenant, &b.waybill_no)?;
        let mut raw = [0u8; 9];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
        let id = format!(
            "bg_{}",
            raw.iter().map(|x| format!("{x:02x}")).collect::<String>()
        );
        let at = now();
        let request = BreakGlass {
            id: id.clone(),
            tenant: p.tenant.clone(),
            requester: p.id.clone(),
            waybill_no: b.waybill_no.clone(),
            party: b.party.clone(),
            field: b.field.clone(),
            justification: b.justification.clone(),
            created_at: at,
            approved_by: None,
            approved_at: None,
            used_at: None,
        };
        // The justification stays in the store: free text may name people.
        record(
            &vault,
            &p.tenant,
            &p.id,
            "break_glass_request",
            &[
                ("break_glass", id.clone().into()),
                ("waybill", b.waybill_no.clone().into()),
                ("field", format!("{}.{}", b.party, b.field).into()),
            ],
        )?;
        vault
            .store()
            .put_break_glass(&request)
            .map_err(VaultError::from)?;
        tracing::warn!(target: "parcelguard::alert", actor = %p.id, break_glass = %id, "break-glass requested");
        Ok(json!({
            "id": id,
            "waybill_no": request.waybill_no,
            "party": request.party,
            "field": request.field,
            "requester": request.requester,
            "approve_before": crate::wire::rfc3339(at + ttl),
        }))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"break_glass": request}))).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/break-glass/{id}/approve",
    tag = "reveal",
    summary = "Approve another admin's break-glass request",
    params(("id" = String, Path, description = "Break-glass request id")),
    responses((status = 200, description = "Approved", body = crate::openapi::BreakGlassAnswer), (status = 409, description = "Not approvable", body = crate::openapi::ErrorBody), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn approve_break_glass(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::BreakGlass).await?;
    let vault = state.vault.clone();
    let ttl = state.access.options.break_glass_secs;
    blocking(move || {
        let found = vault
            .store()
            .get_break_glass(&p.tenant, &id)
            .map_err(VaultError::from)?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such break-glass request",
                    None,
                )
            })?;
        let at = now();
        let refuse = |m: &str| ApiError::new(StatusCode::CONFLICT, "not_approvable", m, None);
        if found.requester == p.id {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "second_admin_required",
                "a second admin must approve a break-glass request",
                None,
            ));
        }
        if found.approved_by.is_some() {
            return Err(refuse("already approved"));
        }
        if at > found.created_at + ttl {
            return Err(refuse("the approval window has passed; ask again"));
        }
        record(
            &vault,
            &p.tenant,
            &p.id,
            "break_glass_approve",
            &[
                ("break_glass", id.clone().into()),
                ("requester", found.requester.clone().into()),
            ],
        )?;
        if !vault
            .store()
            .approve_break_glass(&p.tenant, &id, &p.id, at, at - ttl)
            .map_err(VaultError::from)?
        {
            return Err(refuse("approved by someone else, or expired, just now"));
        }
        tracing::warn!(target: "parcelguard::alert", approver = %p.id, break_glass = %id, "break-glass approved");
        Ok(Json(json!({"break_glass": {
            "id": id,
            "approved_by": p.id,
            "use_before": crate::wire::rfc3339(at + ttl),
        }}))
        .into_response())
    })
    .await
}

fn principal_json(p: &Principal) -> serde_json::Value {
    json!({"id": p.id, "role": p.role, "station": p.station, "status": p.status,
           "created_at": crate::wire::rfc3339(p.created_at)})
}

#[utoipa::path(
    get,
    path = "/v1/principals",
    tag = "admin",
    summary = "List principals (admin)",
    responses((status = 200, description = "Principals", body = crate::openapi::PrincipalList), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn list_principals(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::ManagePrincipals).await?;
    let vault = state.vault.clone();
    let list = blocking(move || {
        vault
            .store()
            .list_principals(&p.tenant)
            .map_err(|e| VaultError::from(e).into())
    })
    .await?;
    let list: Vec<_> = list.iter().map(principal_json).collect();
    Ok(Json(json!({"principals": list})).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PrincipalBody {
    id: Option<String>,
    role: Option<String>,
    station: Option<String>,
    status: Option<String>,
}

fn upsert_principal(
    state: &AppState,
    admin: &Principal,
    id: &str,
    b: &PrincipalBody,
    create: bool,
) -> Result<Principal, ApiError> {
    check_id(id, "id")?;
    let store = state.vault.store();
    let existing = store
        .get_principal(&admin.tenant, id)
        .map_err(VaultError::from)?;
    let base = match (existing, create) {
        (Some(_), true) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "id: a principal with this id exists",
                Some("id"),
            ));
        }
        (None, false) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such principal",
                None,
            ));
        }
        (Some(p), false) => p,
        (None, true) => Principal {
            tenant: admin.tenant.clone(),
            id: id.to_owned(),
            role: String::new(),
            station: None,
            status: "active".to_owned(),
            created_at: now(),
        },
    };
    let next = Principal {
        role: b.role.clone().unwrap_or(base.role.clone()),
        station: b.station.clone().or(base.station.clone()),
        status: b.status.clone().unwrap_or(base.status.clone()),
        ..base
    };
    one_of(&next.role, &ROLES, "role")?;
    one_of(&next.status, &["active", "suspended"], "status")?;
    // No admin locks themselves out (or, restored, back in): a second
    // admin changes an admin's own account.
    if id == admin.id && (next.role != base.role || next.status != base.status) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "own_account",
            "you cannot change your own role or status; ask another admin",
            Some("id"),
        ));
    }
    if let Some(s) = &next.station {
        check_id(s, "station")?;
    }
    if next.id == admin.id && next.status != "active" {
        return Err(bad("status: you cannot suspend yourself", "status"));
    }
    record(
        &state.vault,
        &admin.tenant,
        &admin.id,
        if create {
            "principal_create"
        } else {
            "principal_update"
        },
        &[
            ("principal", next.id.clone().into()),
            ("role", next.role.clone().into()),
            ("status", next.status.clone().into()),
        ],
    )?;
    store.put_principal(&next).map_err(VaultError::from)?;
    // A suspension or role change applies to the very next request.
    state.auth_cache.forget_principal(&next.tenant, &next.id);
    Ok(next)
}

#[utoipa::path(
    post,
    path = "/v1/principals",
    tag = "admin",
    summary = "Create or update a principal (admin)",
    request_body = PrincipalBody,
    responses((status = 201, description = "Created", body = crate::openapi::OnePrincipal), (status = 409, description = "A principal with this id exists", body = crate::openapi::ErrorBody), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn create_principal(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let admin = principal(&state, &headers, Action::ManagePrincipals).await?;
    let b: PrincipalBody = parse_json(&body)?;
    let id = b.id.clone().unwrap_or_default();
    if b.role.is_none() {
        return Err(bad("role: required", "role"));
    }
    let st = state.clone();
    let p = blocking(move || upsert_principal(&st, &admin, &id, &b, true)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"principal": principal_json(&p)})),
    )
        .into_response())
}

#[utoipa::path(
    patch,
    path = "/v1/principals/{id}",
    tag = "admin",
    summary = "Change a principal's role, station or status (admin)",
    params(("id" = String, Path, description = "Principal id")),
    request_body = PrincipalBody,
    responses((status = 200, description = "Updated", body = crate::openapi::OnePrincipal), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn update_principal(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let admin = principal(&state, &headers, Action::ManagePrincipals).await?;
    let b: PrincipalBody = parse_json(&body)?;
    if b.id.as_ref().is_some_and(|i| *i != id) {
        return Err(bad("id: cannot be changed", "id"));
    }
    let st = state.clone();
    let p = blocking(move || upsert_principal(&st, &admin, &id, &b, false)).await?;
    Ok(Json(json!({"principal": principal_json(&p)})).into_response())
}

#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    /// Days until the key expires (default 90, at most 3650).
    expires_in_days: Option<i64>,
}

/// Makes and stores an API key for a principal; `(id, secret, expiry)`.
pub fn issue_key(
    vault: &Vault,
    tenant: &str,
    actor: &str,
    principal: &str,
    expires_in_days: i64,
) -> Result<auth::NewApiKey, ApiError> {
    let store = vault.store();
    if store
        .get_principal(tenant, principal)
        .map_err(VaultError::from)?
        .is_none()
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such principal",
            None,
        ));
    }
    let at = now();
    let key = auth::new_api_key(tenant, principal, at, Some(at + expires_in_days * 86_400));
    record(
        vault,
        tenant,
        actor,
        "api_key_create",
        &[
            ("principal", principal.into()),
            ("key", key.record.id.clone().into()),
        ],
    )?;
    store.put_api_key(&key.record).map_err(VaultError::from)?;
    Ok(key)
}

fn key_json(k: &parcel_vault::store::ApiKeyRecord) -> serde_json::Value {
    json!({"id": k.id, "principal": k.principal,
           "created_at": crate::wire::rfc3339(k.created_at),
           "expires_at": k.expires_at.and_then(crate::wire::rfc3339),
           "revoked_at": k.revoked_at.and_then(crate::wire::rfc3339)})
}

#[utoipa::path(
    post,
    path = "/v1/principals/{id}/keys",
    tag = "admin",
    summary = "Issue an API key; its secret is shown once",
    params(("id" = String, Path, description = "Principal id")),
    request_body = Option<KeyBody>,
    responses((status = 201, description = "Created", body = crate::openapi::OneKey), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn create_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let admin = principal(&state, &headers, Action::ManagePrincipals).await?;
    let b: KeyBody = if body.is_empty() {
        KeyBody::default()
    } else {
        parse_json(&body)?
    };
    let days = b.expires_in_days.unwrap_or(90);
    if !(1..=3650).contains(&days) {
        return Err(bad("expires_in_days: 1 to 3650", "expires_in_days"));
    }
    let vault = state.vault.clone();
    let key = blocking(move || issue_key(&vault, &admin.tenant, &admin.id, &id, days)).await?;
    let mut v = key_json(&key.record);
    v["secret"] = key.secret.clone().into();
    Ok(no_store(
        (StatusCode::CREATED, Json(json!({"api_key": v}))).into_response(),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "admin",
    summary = "List API keys, never their secrets (admin)",
    responses((status = 200, description = "Keys", body = crate::openapi::KeyList), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn list_keys(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let admin = principal(&state, &headers, Action::ManagePrincipals).await?;
    let vault = state.vault.clone();
    let keys = blocking(move || {
        vault
            .store()
            .list_api_keys(&admin.tenant)
            .map_err(|e| VaultError::from(e).into())
    })
    .await?;
    let keys: Vec<_> = keys.iter().map(key_json).collect();
    Ok(Json(json!({"api_keys": keys})).into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = "admin",
    summary = "Revoke an API key (admin)",
    params(("id" = String, Path, description = "Key id (k_…)")),
    responses((status = 200, description = "Revoked", body = crate::openapi::Revoked), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn revoke_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let admin = principal(&state, &headers, Action::ManagePrincipals).await?;
    let vault = state.vault.clone();
    let cache = state.auth_cache.clone();
    blocking(move || {
        record(
            &vault,
            &admin.tenant,
            &admin.id,
            "api_key_revoke",
            &[("key", id.clone().into())],
        )?;
        if !vault
            .store()
            .revoke_api_key(&admin.tenant, &id, now())
            .map_err(VaultError::from)?
        {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such live key",
                None,
            ));
        }
        cache.clear();
        Ok(())
    })
    .await?;
    Ok(Json(json!({"revoked": true})).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/policies",
    tag = "admin",
    summary = "The Cedar policy set in force",
    responses((status = 200, description = "The set", body = crate::openapi::PolicySet), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn get_policies(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal(&state, &headers, Action::ReadPolicies).await?;
    let p = state.access.engine.policies();
    let files: Vec<_> = p
        .sources()
        .iter()
        .map(|(name, text)| json!({"file": name, "text": text}))
        .collect();
    Ok(Json(json!({"version": p.version(), "policies": p.len(), "files": files})).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/policies/reload",
    tag = "admin",
    summary = "Reload the policy files (admin)",
    responses((status = 200, description = "Reloaded", body = crate::openapi::Reloaded), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn reload_policies(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let admin = principal(&state, &headers, Action::ManagePrincipals).await?;
    let st = state.clone();
    let (old, new) = blocking(move || {
        let (old, new) = st.access.reload().map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_policies",
                &e.to_string(),
                None,
            )
        })?;
        if old != new {
            record_policy_version(&st.vault, &admin.id, &old, &new)?;
        }
        Ok((old, new))
    })
    .await?;
    tracing::info!(old = %old, new = %new, "policy set reloaded");
    Ok(Json(json!({"previous": old, "version": new})).into_response())
}
