//! parcelguard's privacy waybill labels (隐私面单).
//!
//! A label never carries a plaintext name, phone or address: the caller hands
//! [`LabelData`] with values that are *already masked* (`张**`,
//! `138******78`), a privacy (virtual) number for the courier to dial and an
//! opaque QR token that authorised apps exchange for the real contact.
//!
//! [`layout`] validates the data and places every element in millimetres,
//! device-independent, on one of the two standard electronic waybill sizes
//! ([`LabelSize`]). Text is wrapped and, if need be, shrunk or cut to stay in
//! its box, measured with the glyph advances of the embedded font. The
//! renderers then draw a [`Layout`]:
//!
//! - [`render_png`]: 8-bit grey PNG at a given dpi (203, 300, …);
//! - [`render_pdf`]: one page per label, real text in the CJK font, embedded
//!   as a subset with a `ToUnicode` map, so the text is searchable;
//! - [`render_zpl`]: one `^XA…^XZ` per label for Zebra-compatible thermal
//!   printers; native `^BC` (Code 128) and `^BQ` (QR) symbols, text as
//!   `^GFA` bitmaps since printers lack CJK fonts.
//!
//! The crate is pure: no file, network, clock or environment access. The
//! fonts (Roboto for Latin and Droid Sans Fallback for CJK, both Apache-2.0,
//! see `fonts/SOURCES.md`) are compiled in ([`Font::embedded`]);
//! [`Font::from_bytes`] and [`Font::from_faces`] take others.
//!
//! ```
//! use parcel_label::{Font, LabelData, LabelParty, LabelSize, layout, render_pdf, render_zpl};
//!
//! let data = LabelData {
//!     waybill_no: "SF1234567890123".into(),
//!     carrier: "SF".into(),
//!     recipient: LabelParty {
//!         name: "张**".into(),
//!         phone: "138******78".into(),
//!         address: "广东省深圳市南山区科技园路*号".into(),
//!     },
//!     privacy_number: Some("17100001234 转 5678".into()),
//!     sort_code: "BJ07".into(),
//!     qr_token: "PGQ1.abc".into(),
//!     ..LabelData::default()
//! };
//! let label = layout(&data, "76x130".parse()?)?;
//! let font = Font::embedded()?;
//! let zpl = render_zpl(std::slice::from_ref(&label), font, 203)?;
//! assert!(zpl.starts_with("^XA") && zpl.contains("^FDSF1234567890123^FS"));
//! let pdf = render_pdf(&[label], font)?;
//! assert!(pdf.starts_with(b"%PDF"));
//! # Ok::<(), parcel_label::LabelError>(())
//! ```
#![deny(missing_docs)]

mod code128;
mod font;
mod layout;
mod pdf;
mod png_out;
mod raster;
mod zpl;

use std::fmt;
use std::str::FromStr;

pub use font::Font;
pub use layout::{
    Align, BarcodeBlock, Element, Field, Layout, MAX_TOKEN_LEN, MAX_WAYBILL_LEN, QrBlock, Rect,
    TextBlock, layout,
};
pub use pdf::render_pdf;
pub use png_out::render_png;
pub use zpl::render_zpl;

/// Lowest resolution the raster renderers accept, in dots per inch.
pub const MIN_DPI: u32 = 150;
/// Highest resolution the raster renderers accept, in dots per inch.
pub const MAX_DPI: u32 = 1200;

/// One party (sender or recipient) as printed: every value already masked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelParty {
    /// Masked name, e.g. `张**`.
    pub name: String,
    /// Masked phone, e.g. `138******78`.
    pub phone: String,
    /// Masked address, e.g. `广东省深圳市南山区科技园路*号`.
    pub address: String,
}

/// Everything printed on one label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelData {
    /// Waybill number, ASCII letters, digits and `-` (Code 128).
    pub waybill_no: String,
    /// Carrier code or name, e.g. `SF`.
    pub carrier: String,
    /// Sender, masked.
    pub sender: LabelParty,
    /// Recipient, masked.
    pub recipient: LabelParty,
    /// Virtual number to dial, e.g. `17100001234` or `17100001234 转 5678`.
    pub privacy_number: Option<String>,
    /// Destination sort code (大头笔), printed big, e.g. `BJ07`.
    pub sort_code: String,
    /// Destination, e.g. `北京市 朝阳区`.
    pub destination: String,
    /// Opaque ASCII token encoded as the QR code, e.g. `PGQ1.…`.
    pub qr_token: String,
    /// Print time, formatted by the caller, e.g. `2026-12-03 10:00`.
    pub printed_at: String,
}

/// The two standard electronic waybill sizes (width × height).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelSize {
    /// 100 mm × 150 mm, the common 一联单.
    Mm100x150,
    /// 76 mm × 130 mm, the compact size.
    Mm76x130,
}

impl LabelSize {
    /// Width in millimetres.
    pub fn width_mm(self) -> f32 {
        match self {
            LabelSize::Mm100x150 => 100.0,
            LabelSize::Mm76x130 => 76.0,
        }
    }

    /// Height in millimetres.
    pub fn height_mm(self) -> f32 {
        match self {
            LabelSize::Mm100x150 => 150.0,
            LabelSize::Mm76x130 => 130.0,
        }
    }

    /// The name [`FromStr`] accepts: `100x150` or `76x130`.
    pub fn as_str(self) -> &'static str {
        match self {
            LabelSize::Mm100x150 => "100x150",
            LabelSize::Mm76x130 => "76x130",
        }
    }
}

impl fmt::Display for LabelSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LabelSize {
    type Err = LabelError;

    /// Accepts `100x150` and `76x130` (also with `mm` or `×`, any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .trim()
            .to_ascii_lowercase()
            .replace('×', "x")
            .replace("mm", "")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        match norm.as_str() {
            "100x150" => Ok(LabelSize::Mm100x150),
            "76x130" => Ok(LabelSize::Mm76x130),
            _ => Err(LabelError::UnknownSize),
        }
    }
}

/// Why a label could not be laid out or rendered. Messages name the field,
/// never its value: the value may be personal data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    /// A field of [`LabelData`] cannot be printed.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field, e.g. `waybill_no` or `qr_token`.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// [`LabelSize::from_str`] got a name it does not know.
    #[error("unknown label size (expected 100x150 or 76x130)")]
    UnknownSize,
    /// The resolution is outside [`MIN_DPI`]..=[`MAX_DPI`].
    #[error("dpi {0} out of range 150..=1200")]
    Dpi(u32),
    /// The font bytes could not be used.
    #[error("font: {0}")]
    Font(&'static str),
    /// [`render_pdf`] was given no label.
    #[error("no label to render")]
    Empty,
    /// The PDF writer failed.
    #[error("pdf: {0}")]
    Pdf(&'static str),
    /// The PNG encoder failed.
    #[error("png: {0}")]
    Png(String),
}

/// Checks a raster resolution.
pub(crate) fn check_dpi(dpi: u32) -> Result<(), LabelError> {
    if (MIN_DPI..=MAX_DPI).contains(&dpi) {
        Ok(())
    } else {
        Err(LabelError::Dpi(dpi))
    }
}

/// Millimetres to device dots at `dpi`, rounded.
pub(crate) fn mm_to_dots(mm: f32, dpi: u32) -> i64 {
    (f64::from(mm) * f64::from(dpi) / 25.4).round() as i64
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]
mod tests {
    use super::*;

    #[test]
    fn size_parses() {
        for (s, want) in [
            ("100x150", LabelSize::Mm100x150),
            ("76x130", LabelSize::Mm76x130),
            (" 100X150mm ", LabelSize::Mm100x150),
            ("76×130", LabelSize::Mm76x130),
        ] {
            assert_eq!(s.parse::<LabelSize>().unwrap(), want, "{s}");
        }
        for s in ["", "100x100", "a4", "150x100"] {
            assert!(s.parse::<LabelSize>().is_err(), "{s}");
        }
        assert_eq!(LabelSize::Mm76x130.to_string(), "76x130");
    }

    #[test]
    fn dots() {
        assert_eq!(mm_to_dots(100.0, 203), 799);
        assert_eq!(mm_to_dots(150.0, 203), 1199);
        assert_eq!(mm_to_dots(25.4, 300), 300);
    }
}
