//! JSON wire types: the error envelope and the masked shipment view.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parcel_vault::VaultError;
use parcel_vault::model::{MaskedView, ShipmentRecord, Status};
use serde::Serialize;
use serde_json::json;

use crate::auth::AuthError;

/// An error response: `{"error": {"code", "message", "field"}}`.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    code: String,
    message: String,
    field: Option<String>,
    fields: Vec<serde_json::Value>,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
            field: field.map(str::to_owned),
            fields: Vec::new(),
        }
    }

    /// A 500 whose details stay in the server log.
    pub fn internal(detail: &str) -> Self {
        tracing::error!(detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
            None,
        )
    }

    /// The `error` object.
    pub fn body(&self) -> serde_json::Value {
        let mut v = json!({"code": self.code, "message": self.message, "field": self.field});
        if !self.fields.is_empty() {
            v["fields"] = serde_json::Value::Array(self.fields.clone());
        }
        v
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.body()}))).into_response()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthenticated => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                &e.to_string(),
                None,
            ),
            AuthError::Suspended => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", &e.to_string(), None)
            }
            AuthError::Store(s) => ApiError::internal(&s.to_string()),
        }
    }
}

pub(crate) fn from_vault(e: VaultError) -> ApiError {
    let msg = e.to_string();
    match e {
        VaultError::Invalid(errors) => {
            let mut err = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                &msg,
                errors.first().map(|f| f.field.as_str()),
            );
            err.fields = errors
                .iter()
                .map(|f| json!({"field": f.field, "reason": f.reason}))
                .collect();
            err
        }
        VaultError::Conflict => {
            ApiError::new(StatusCode::CONFLICT, "conflict", &msg, Some("waybill_no"))
        }
        VaultError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", &msg, None),
        VaultError::IllegalTransition { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "illegal_transition",
            &msg,
            Some("status"),
        ),
        VaultError::Erased { .. } => ApiError::new(StatusCode::GONE, "erased", &msg, None),
        VaultError::Numbers { reason } => ApiError::new(StatusCode::CONFLICT, reason, &msg, None),
        VaultError::BadToken => {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_token", &msg, Some("token"))
        }
        VaultError::MaskProfile { .. }
        | VaultError::Tampered { .. }
        | VaultError::Keys(_)
        | VaultError::Store(_) => ApiError::internal(&msg),
        VaultError::Log(_) => {
            tracing::error!(error = %msg, "transparency log unavailable; refusing");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "log_unavailable",
                "the transparency log cannot record this action, so it was not done",
                None,
            )
        }
        _ => ApiError::internal(&msg),
    }
}

pub(crate) fn rfc3339(unix: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// A shipment as the API shows it: masked values and status only.
#[derive(Debug, Serialize)]
pub struct ShipmentView {
    waybill_no: String,
    carrier: String,
    status: Status,
    status_times: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin_station: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_station: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    courier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delivery_window: Option<serde_json::Value>,
    #[serde(flatten)]
    masked: MaskedView,
    purged: bool,
    updated_at: Option<String>,
}

impl From<&ShipmentRecord> for ShipmentView {
    fn from(r: &ShipmentRecord) -> Self {
        let mut status_times = serde_json::Map::new();
        for (status, t) in Status::ALL.iter().zip(r.status_times) {
            if let Some(t) = t.and_then(rfc3339) {
                status_times.insert(status.as_str().to_owned(), t.into());
            }
        }
        Self {
            waybill_no: r.waybill_no.clone(),
            carrier: r.carrier.clone(),
            status: r.status,
            status_times,
            origin_station: r.origin_station.clone(),
            destination_station: r.destination_station.clone(),
            courier: r.courier.clone(),
            delivery_window: r
                .window
                .map(|(s, e)| json!({"start": rfc3339(s), "end": rfc3339(e)})),
            masked: r.masked.clone(),
            purged: r.purged_at.is_some(),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// `Query<T>` whose rejections use the error envelope. serde's messages can
/// quote the offending value, so the answer names no values, only that the
/// query string does not fit.
#[derive(Debug)]
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "query string: an unknown parameter, or a value of the wrong type",
                    None,
                )
            })
    }
}
