//! Privacy waybill labels over HTTP (`GET
//! /v1/shipments/{waybill_no}/label.{png,pdf,zpl}`), and the assembly of a
//! label's data that `parcelguard label` shares: masked parties from the
//! vault's GB/T 41833 profile, the bound privacy number, the destination
//! sort code and a fresh QR token. Nothing unmasked goes in; printing is
//! recorded in the transparency log.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parcel_label::{LabelData, LabelParty, LabelSize, Layout};
use parcel_vault::numbers::Broker;
use parcel_vault::{Vault, VaultError};

use crate::wire::ApiQuery;
use crate::{Action, ApiError, AppState, blocking, now, principal};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PNG at 203 dpi (or the `dpi` asked for).
    Png,
    /// PDF, one page per label.
    Pdf,
    /// ZPL II for thermal printers (203 dpi).
    Zpl,
}

impl Format {
    /// From a file extension or name.
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext.to_ascii_lowercase().as_str() {
            "png" => Some(Format::Png),
            "pdf" => Some(Format::Pdf),
            "zpl" => Some(Format::Zpl),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Pdf => "application/pdf",
            Format::Zpl => "application/zpl",
        }
    }
}

/// Time on labels: China Standard Time, minutes.
fn printed_at(now: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(now)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(time::macros::offset!(+8));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// What the label shows for the recipient's destination: the divisions of
/// the masked address (province, city, district), which masking keeps.
fn destination(masked_address: &str) -> String {
    let a = parcel_vault::address::parse(masked_address).address;
    let mut parts: Vec<&str> = Vec::new();
    for p in [a.province.as_str(), a.city.as_str(), a.district.as_str()] {
        if !p.is_empty() && parts.last() != Some(&p) {
            parts.push(p);
        }
    }
    parts.join(" ")
}

/// The data of a shipment's label: masked values only.
///
/// # Errors
/// An unknown shipment, the store, or the key store (for the token).
pub fn label_data(
    vault: &Vault,
    broker: Option<&Broker>,
    tenant: &str,
    waybill: &str,
    now: i64,
) -> Result<LabelData, VaultError> {
    let r = vault.get(tenant, waybill)?;
    let party = |p: &parcel_vault::model::MaskedParty| LabelParty {
        name: p.name.clone(),
        phone: p.phone.clone(),
        address: p.address.clone(),
    };
    let privacy_number = match broker {
        Some(b) => b.binding_for(tenant, waybill)?.map(|b| {
            if b.ext == 0 {
                b.number
            } else {
                format!("{} 转 {:04}", b.number, b.ext)
            }
        }),
        None => None,
    };
    Ok(LabelData {
        waybill_no: r.waybill_no.clone(),
        carrier: r.carrier.clone(),
        sender: party(&r.masked.sender),
        recipient: party(&r.masked.recipient),
        privacy_number,
        sort_code: r
            .destination_station
            .clone()
            .unwrap_or_else(|| "-".to_owned()),
        destination: destination(&r.masked.recipient.address),
        qr_token: vault.token_for(tenant, waybill, now)?,
        printed_at: printed_at(now),
    })
}

/// Renders laid-out labels.
///
/// # Errors
/// What the renderer reports (a bad dpi).
pub fn render(
    format: Format,
    layouts: &[Layout],
    dpi: u32,
) -> Result<Vec<u8>, parcel_label::LabelError> {
    let font = parcel_label::Font::embedded()?;
    match format {
        Format::Png => match layouts {
            [one] => parcel_label::render_png(one, font, dpi),
            _ => Err(parcel_label::LabelError::Empty),
        },
        Format::Pdf => parcel_label::render_pdf(layouts, font),
        Format::Zpl => parcel_label::render_zpl(layouts, font, dpi).map(String::into_bytes),
    }
}

/// Records a print in the transparency log (or the store without one).
///
/// # Errors
/// The log could not record it (nothing is printed then).
pub fn record_print(
    vault: &Vault,
    tenant: &str,
    actor: &str,
    waybills: &[String],
    format: Format,
    now: i64,
) -> Result<Option<u64>, VaultError> {
    let mut event = parcel_tlog::Event::new(now.saturating_mul(1000), tenant, actor, "label_print");
    if let [one] = waybills {
        event.waybill = Some(one.clone());
    }
    let event = event
        .with_detail("labels", waybills.len() as u64)
        .with_detail(
            "format",
            match format {
                Format::Png => "png",
                Format::Pdf => "pdf",
                Format::Zpl => "zpl",
            },
        );
    match vault.log() {
        Some(log) => Ok(Some(log.append(&event)?)),
        None => {
            vault.store().audit(&parcel_vault::store::AuditEvent {
                at: now,
                tenant: tenant.to_owned(),
                actor: actor.to_owned(),
                action: "label_print".to_owned(),
                detail: serde_json::json!({"labels": waybills.len()}).to_string(),
            })?;
            Ok(None)
        }
    }
}

/// `?size=` and `?dpi=`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct LabelQuery {
    /// `100x150` (default) or `76x130` (millimetres).
    size: Option<String>,
    /// PNG resolution, 150 to 1200 (default 203).
    dpi: Option<u32>,
}

async fn label(
    state: AppState,
    headers: HeaderMap,
    waybill: String,
    q: LabelQuery,
    format: Format,
) -> Result<Response, ApiError> {
    let p = principal(&state, &headers, Action::Label).await?;
    let size: LabelSize = match q.size.as_deref() {
        None => LabelSize::Mm100x150,
        Some(s) => s.parse().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "size: expected 100x150 or 76x130",
                Some("size"),
            )
        })?,
    };
    let dpi = match (format, q.dpi) {
        (Format::Zpl, _) | (_, None) => 203,
        (_, Some(d)) if (parcel_label::MIN_DPI..=parcel_label::MAX_DPI).contains(&d) => d,
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "dpi: expected 150 to 1200",
                Some("dpi"),
            ));
        }
    };
    let vault = state.vault.clone();
    let broker = state.numbers.as_ref().map(|n| n.broker.clone());
    let bytes = blocking(move || {
        let at = now();
        let data = label_data(&vault, broker.as_deref(), &p.tenant, &waybill, at)
            .map_err(ApiError::from)?;
        let layout =
            parcel_label::layout(&data, size).map_err(|e| ApiError::internal(&e.to_string()))?;
        let bytes =
            render(format, &[layout], dpi).map_err(|e| ApiError::internal(&e.to_string()))?;
        record_print(&vault, &p.tenant, &p.id, &[waybill], format, at).map_err(ApiError::from)?;
        Ok(bytes)
    })
    .await?;
    let mut response = (StatusCode::OK, Bytes::from(bytes)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    // The QR token inside is a credential of sorts: keep labels out of caches.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/v1/shipments/{waybill_no}/label.png",
    tag = "shipments",
    summary = "The shipment's privacy waybill label as PNG",
    params(("waybill_no" = String, Path, description = "Waybill number"), LabelQuery),
    responses((status = 200, description = "The label", content_type = "image/png", body = Vec<u8>), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn png(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(waybill): Path<String>,
    ApiQuery(q): ApiQuery<LabelQuery>,
) -> Result<Response, ApiError> {
    label(state, headers, waybill, q, Format::Png).await
}

#[utoipa::path(
    get,
    path = "/v1/shipments/{waybill_no}/label.pdf",
    tag = "shipments",
    summary = "The shipment's privacy waybill label as PDF",
    params(("waybill_no" = String, Path, description = "Waybill number"), LabelQuery),
    responses((status = 200, description = "The label", content_type = "application/pdf", body = Vec<u8>), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn pdf(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(waybill): Path<String>,
    ApiQuery(q): ApiQuery<LabelQuery>,
) -> Result<Response, ApiError> {
    label(state, headers, waybill, q, Format::Pdf).await
}

#[utoipa::path(
    get,
    path = "/v1/shipments/{waybill_no}/label.zpl",
    tag = "shipments",
    summary = "The shipment's privacy waybill label as ZPL II (thermal printers, 203 dpi)",
    params(("waybill_no" = String, Path, description = "Waybill number"), LabelQuery),
    responses((status = 200, description = "The label", content_type = "application/zpl", body = String), crate::openapi::Errors),
    security(("bearer" = []))
)]
pub(crate) async fn zpl(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(waybill): Path<String>,
    ApiQuery(q): ApiQuery<LabelQuery>,
) -> Result<Response, ApiError> {
    label(state, headers, waybill, q, Format::Zpl).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_and_time() {
        assert_eq!(destination("北京市朝阳区建国路*号"), "北京市 朝阳区");
        assert_eq!(
            destination("广东省深圳市南山区科技园路*号"),
            "广东省 深圳市 南山区"
        );
        // 2026-11-10T00:00:00Z is 08:00 in Beijing.
        assert_eq!(printed_at(1_794_268_800), "2026-11-10 08:00");
        assert_eq!(Format::from_extension("PDF"), Some(Format::Pdf));
        assert_eq!(Format::from_extension("jpg"), None);
    }
}
