//! The OpenAPI 3.1 document, served at `/openapi.json`.
//!
//! It is generated from the code: every API route is registered through
//! `utoipa_axum`'s router from its handler's `#[utoipa::path]`, so a route
//! cannot exist without its entry; request bodies and query parameters are
//! the handlers' own types. Response bodies the handlers build as JSON
//! values are described by the schema types below, which CI holds to the
//! real answers with schemathesis (`cargo xtask api-fuzz`).
#![allow(
    dead_code,
    reason = "schema-only types: they describe JSON the handlers build"
)]

use std::collections::BTreeMap;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

/// The document's fixed parts; paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "parcelguard",
        description = "Sealed personal data on parcel waybills: masked shipments, purpose-bound reveal, \
                       the transparency log, insider-risk alerts. Every error has the shape \
                       {\"error\": {\"code\", \"message\", \"field\"}} and never echoes input values.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&Security),
    components(schemas(ErrorBody)),
    tags(
        (name = "shipments", description = "Masked shipments, search and erasure"),
        (name = "reveal", description = "Purpose-bound reveal, tickets and break-glass"),
        (name = "admin", description = "Principals, API keys and policies"),
        (name = "alerts", description = "Insider-risk alerts"),
        (name = "numbers", description = "Privacy numbers (AXB): pool, bindings, call routing and call records"),
        (name = "console", description = "The console's read-only figures"),
        (name = "log", description = "The transparency log's public read paths (C2SP tlog-tiles)"),
        (name = "ops", description = "Health, readiness and metrics"),
    )
)]
pub(crate) struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (`pgk_…`) or, with single sign-on configured, an OIDC token",
                    ))
                    .build(),
            ),
        );
    }
}

/// The error envelope every failing request gets.
#[derive(ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong and where; never the offending value.
#[derive(ToSchema)]
pub(crate) struct ErrorDetail {
    /// Machine-readable code (`invalid`, `not_found`, `not_assigned`, …).
    code: String,
    /// A sentence for people.
    message: String,
    /// The offending field, when one is to blame.
    field: Option<String>,
    /// Every invalid field, when there were several.
    #[schema(required = false)]
    fields: Vec<FieldProblem>,
}

/// One invalid field.
#[derive(ToSchema)]
pub(crate) struct FieldProblem {
    field: String,
    reason: String,
}

/// The errors any authenticated endpoint may answer with.
#[derive(IntoResponses)]
pub(crate) enum Errors {
    /// Malformed request: unparseable JSON or query.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No credentials, or unknown, expired or revoked ones.
    #[response(status = 401)]
    Unauthenticated(ErrorBody),
    /// The caller's role may not do this, or the account is suspended.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// Nothing there (or nothing the caller may know of).
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// Request body too large.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// Well-formed but invalid: the `field` says where.
    #[response(status = 422)]
    Invalid(ErrorBody),
    /// Too many requests from this caller; retry after the given seconds.
    #[response(status = 429)]
    TooMany(ErrorBody),
    /// The database or the transparency log cannot serve this now.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

// ---- shipments ----

/// Lifecycle status.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub(crate) enum StatusDoc {
    Created,
    PickedUp,
    InTransit,
    OutForDelivery,
    Delivered,
    Returned,
}

/// A party as written on a waybill.
#[derive(ToSchema)]
pub(crate) struct PartyInputDoc {
    /// 1 to 64 characters.
    name: String,
    /// A mainland mobile or landline number (`+86`, spaces, dashes accepted).
    phone: String,
    /// The full address as text, or split into divisions.
    address: AddressInputDoc,
    /// Resident ID number (senders, under the real-name rules).
    #[schema(required = false)]
    id_number: Option<String>,
}

/// An address: one string, or its parts.
#[derive(ToSchema, serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum AddressInputDoc {
    /// `广东省深圳市南山区科技园路1号3栋`.
    Text(String),
    /// Already split.
    Parts(AddressPartsDoc),
}

/// An address split into divisions.
#[derive(ToSchema, serde::Deserialize)]
pub(crate) struct AddressPartsDoc {
    province: String,
    city: String,
    district: String,
    /// Street, number, building, unit, room.
    detail: String,
}

/// A delivery window.
#[derive(ToSchema)]
pub(crate) struct WindowDoc {
    /// RFC 3339.
    start: String,
    /// RFC 3339, after `start`.
    end: String,
}

/// A new shipment.
#[derive(ToSchema)]
pub(crate) struct NewShipmentDoc {
    /// Unique per tenant; validated against the carrier's format.
    waybill_no: String,
    /// `SF`, `YTO`, `ZTO`, `JD`, ….
    carrier: String,
    sender: PartyInputDoc,
    recipient: PartyInputDoc,
    #[schema(required = false)]
    origin_station: Option<String>,
    #[schema(required = false)]
    destination_station: Option<String>,
    /// Employee id of the assigned courier.
    #[schema(required = false)]
    courier: Option<String>,
    #[schema(required = false)]
    delivery_window: Option<WindowDoc>,
}

/// A change to a shipment.
#[derive(ToSchema)]
pub(crate) struct ShipmentPatchDoc {
    /// The next status in the lifecycle.
    #[schema(required = false)]
    status: Option<StatusDoc>,
    #[schema(required = false)]
    courier: Option<String>,
    #[schema(required = false)]
    delivery_window: Option<WindowDoc>,
}

/// A batch of new shipments.
#[derive(ToSchema)]
pub(crate) struct BatchDoc {
    /// At most 10,000.
    shipments: Vec<NewShipmentDoc>,
}

/// A party, masked (GB/T 41833-2022).
#[derive(ToSchema)]
pub(crate) struct MaskedPartyDoc {
    /// `张**`.
    name: String,
    /// `138******78`.
    phone: String,
    /// Kept to street level.
    address: String,
    /// Senders only, masked.
    #[schema(required = false)]
    id_number: Option<String>,
    #[schema(required = false)]
    address_unparsed: bool,
    #[schema(required = false)]
    erased: bool,
}

/// A shipment as the API shows it: masked values and status only.
#[derive(ToSchema)]
pub(crate) struct ShipmentDoc {
    waybill_no: String,
    carrier: String,
    status: StatusDoc,
    /// When it entered each status it has been in, RFC 3339.
    status_times: BTreeMap<String, String>,
    #[schema(required = false)]
    origin_station: Option<String>,
    #[schema(required = false)]
    destination_station: Option<String>,
    #[schema(required = false)]
    courier: Option<String>,
    #[schema(required = false)]
    delivery_window: Option<WindowOutDoc>,
    sender: MaskedPartyDoc,
    recipient: MaskedPartyDoc,
    /// Its ciphertexts were destroyed after retention.
    purged: bool,
    updated_at: Option<String>,
}

/// A delivery window as shown.
#[derive(ToSchema)]
pub(crate) struct WindowOutDoc {
    start: Option<String>,
    end: Option<String>,
}

/// One shipment.
#[derive(ToSchema)]
pub(crate) struct OneShipment {
    shipment: ShipmentDoc,
}

/// A created shipment and its label's QR token.
#[derive(ToSchema)]
pub(crate) struct CreatedShipment {
    shipment: ShipmentDoc,
    /// Redeemable only by a carrier's device, through `/v1/reveal`.
    qr_token: String,
}

/// Shipments found or listed.
#[derive(ToSchema)]
pub(crate) struct ShipmentList {
    shipments: Vec<ShipmentDoc>,
    /// Listing only: pass as `after` for the next page (null: last page).
    #[schema(required = false)]
    next_after: Option<String>,
}

/// One item of a batch's outcome.
#[derive(ToSchema)]
pub(crate) struct BatchItem {
    index: u64,
    status: u16,
    #[schema(required = false)]
    shipment: Option<ShipmentDoc>,
    #[schema(required = false)]
    qr_token: Option<String>,
    #[schema(required = false)]
    error: Option<ErrorDetail>,
}

/// A batch's outcome, item by item.
#[derive(ToSchema)]
pub(crate) struct BatchResult {
    created: u64,
    results: Vec<BatchItem>,
}

/// What an erasure did.
#[derive(ToSchema)]
pub(crate) struct Erased {
    erased: ErasedCounts,
}

/// Counts of an erasure.
#[derive(ToSchema)]
pub(crate) struct ErasedCounts {
    shipments: u64,
    parties: u64,
    log_details: u64,
}

/// A transparency-log receipt (RFC 9162 inclusion proof).
#[derive(ToSchema)]
pub(crate) struct ReceiptDoc {
    index: u64,
    /// The entry's bytes, base64.
    entry: String,
    /// The signed checkpoint (C2SP signed note).
    checkpoint: String,
    /// Hashes from the leaf up, base64.
    inclusion_proof: Vec<String>,
}

// ---- reveal ----

/// A policy decision.
#[derive(ToSchema)]
pub(crate) struct DecisionDoc {
    allowed: bool,
    /// The reason code of a denial.
    reason: Option<String>,
    /// Ids of the policies that decided.
    policies: Vec<String>,
    policy_version: String,
}

/// A granted reveal.
#[derive(ToSchema)]
pub(crate) struct RevealAnswer {
    waybill_no: String,
    party: String,
    field: String,
    /// The plaintext (this response is `Cache-Control: no-store`).
    value: String,
    decision: DecisionDoc,
    /// The transparency-log entry written before this answer.
    log_index: u64,
    /// Where its receipt is.
    receipt: String,
}

/// A refused reveal: the error envelope plus the logged decision.
#[derive(ToSchema)]
pub(crate) struct RevealDenied {
    error: ErrorDetail,
    decision: DecisionDoc,
    log_index: u64,
}

/// A registered ticket.
#[derive(ToSchema)]
pub(crate) struct TicketAnswer {
    ticket: TicketDoc,
}

/// A ticket.
#[derive(ToSchema)]
pub(crate) struct TicketDoc {
    ticket_id: String,
    waybill_no: String,
    opened_by: String,
    opened_at: Option<String>,
}

/// A break-glass request or approval.
#[derive(ToSchema)]
pub(crate) struct BreakGlassAnswer {
    break_glass: BTreeMap<String, serde_json::Value>,
}

// ---- admin ----

/// A principal.
#[derive(ToSchema)]
pub(crate) struct PrincipalDoc {
    id: String,
    role: String,
    station: Option<String>,
    /// `active` or `suspended`.
    status: String,
    created_at: Option<String>,
}

/// One principal.
#[derive(ToSchema)]
pub(crate) struct OnePrincipal {
    principal: PrincipalDoc,
}

/// Principals of the caller's tenant.
#[derive(ToSchema)]
pub(crate) struct PrincipalList {
    principals: Vec<PrincipalDoc>,
}

/// An API key (never its secret, except once at creation).
#[derive(ToSchema)]
pub(crate) struct KeyDoc {
    id: String,
    principal: String,
    created_at: Option<String>,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    /// Only in the answer that created it.
    #[schema(required = false)]
    secret: Option<String>,
}

/// A created key.
#[derive(ToSchema)]
pub(crate) struct OneKey {
    api_key: KeyDoc,
}

/// Keys of the caller's tenant.
#[derive(ToSchema)]
pub(crate) struct KeyList {
    api_keys: Vec<KeyDoc>,
}

/// A revocation.
#[derive(ToSchema)]
pub(crate) struct Revoked {
    revoked: bool,
}

/// One policy file.
#[derive(ToSchema)]
pub(crate) struct PolicyFile {
    file: String,
    text: String,
}

/// The policy set in force.
#[derive(ToSchema)]
pub(crate) struct PolicySet {
    version: String,
    policies: u64,
    files: Vec<PolicyFile>,
}

/// A reload's outcome.
#[derive(ToSchema)]
pub(crate) struct Reloaded {
    previous: String,
    version: String,
}

/// Policy-set changes, newest first.
#[derive(ToSchema)]
pub(crate) struct PolicyHistory {
    changes: Vec<PolicyChangeDoc>,
}

/// One policy-set change.
#[derive(ToSchema)]
pub(crate) struct PolicyChangeDoc {
    index: u64,
    ts: String,
    actor: String,
    version: Option<String>,
    previous: Option<String>,
}

// ---- alerts ----

/// An alert as analysts see it: the actor as a pseudonym.
#[derive(ToSchema)]
pub(crate) struct AlertDoc {
    id: String,
    /// `emp-…`, a keyed pseudonym.
    actor: String,
    role: Option<String>,
    station: Option<String>,
    raised_at: String,
    severity: String,
    score: Option<f64>,
    points: Option<f64>,
    /// `open`, `acknowledged` or `resolved`.
    status: String,
    verdict: Option<String>,
    analyst: Option<String>,
    reasons: Option<Vec<String>>,
    signals: Option<Vec<BTreeMap<String, serde_json::Value>>>,
    first_event: Option<String>,
    last_event: Option<String>,
    evidence_kind: Option<String>,
    evidence: Option<Vec<u64>>,
    responses: Option<Vec<String>>,
    escalates: Option<String>,
}

/// One alert.
#[derive(ToSchema)]
pub(crate) struct OneAlert {
    alert: AlertDoc,
}

/// Alerts, most severe first.
#[derive(ToSchema)]
pub(crate) struct AlertList {
    alerts: Vec<AlertDoc>,
}

/// A resolution's outcome.
#[derive(ToSchema)]
pub(crate) struct Resolved {
    alert: AlertDoc,
    lifted_restrictions: u64,
    suppressed: Vec<String>,
    suppress_days: i64,
}

/// A re-identification, logged before it is answered.
#[derive(ToSchema)]
pub(crate) struct Reidentified {
    alert: String,
    actor: String,
    pseudonym: String,
    log_index: Option<u64>,
}

/// The alerted actor's accesses per hour beside their peers'.
#[derive(ToSchema)]
pub(crate) struct Timeline {
    alert: String,
    raised_at_hour: String,
    hours: Vec<TimelineHour>,
}

/// One hour of a timeline.
#[derive(ToSchema)]
pub(crate) struct TimelineHour {
    hour: String,
    actor: u64,
    peer_median: f64,
    peer_p90: f64,
    peers: u64,
}

// ---- console ----

/// The caller.
#[derive(ToSchema)]
pub(crate) struct Me {
    id: String,
    tenant: String,
    role: String,
    station: Option<String>,
    /// Which console pages the role may open.
    may: BTreeMap<String, bool>,
}

/// The dashboard's figures.
#[derive(ToSchema)]
pub(crate) struct Stats {
    shipments: StatsShipments,
    reveals_per_hour: Vec<HourDoc>,
    top_denial_reasons: Vec<ReasonCount>,
    /// Alerts not yet resolved.
    open_alerts: u64,
    log: Option<LogDoc>,
}

/// Shipments by status.
#[derive(ToSchema)]
pub(crate) struct StatsShipments {
    total: u64,
    by_status: BTreeMap<String, u64>,
}

/// Reveal decisions in one hour.
#[derive(ToSchema)]
pub(crate) struct HourDoc {
    hour: String,
    allow: u64,
    deny: u64,
}

/// A denial reason and its count.
#[derive(ToSchema)]
pub(crate) struct ReasonCount {
    reason: String,
    count: u64,
}

/// The log's size and latest signed checkpoint.
#[derive(ToSchema)]
pub(crate) struct LogDoc {
    size: u64,
    checkpoint: String,
}

/// Access-log entries, newest first.
#[derive(ToSchema)]
pub(crate) struct AccessLog {
    entries: Vec<AccessEntry>,
    /// Pass as `before` for the next page (null: last page).
    next_before: Option<u64>,
}

/// One access-log entry (no personal data).
#[derive(ToSchema)]
pub(crate) struct AccessEntry {
    index: u64,
    ts: String,
    actor: String,
    role: Option<String>,
    action: String,
    waybill_no: Option<String>,
    party: Option<String>,
    field: Option<String>,
    purpose: Option<String>,
    decision: Option<String>,
    reason: Option<String>,
    policy_version: Option<String>,
}
