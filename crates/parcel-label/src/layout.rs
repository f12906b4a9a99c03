//! Device-independent label layout: validation of [`LabelData`] and the
//! placement of every element in millimetres (origin top-left, y down).
//!
//! Rows, top to bottom: carrier and print time; sort code (大头笔) and
//! destination; Code 128 barcode with the number under it; recipient (收,
//! larger); sender (寄, smaller); privacy number; QR code with a privacy note.
//! Text is measured with the embedded font, wrapped (CJK anywhere, ASCII
//! words kept whole where they fit), shrunk down to a floor and then cut with
//! an ellipsis, so nothing leaves its box.

use qrcode::{Color, EcLevel, QrCode};

use crate::font::Font;
use crate::{LabelData, LabelError, LabelSize, code128};

/// Line pitch as a multiple of the em size.
pub(crate) const LINE_PITCH: f32 = 1.2;
/// Quiet zone on each side of the Code 128 symbol, in modules.
pub(crate) const BARCODE_QUIET: usize = 10;
/// Quiet zone around the QR symbol, in modules.
pub(crate) const QR_QUIET: usize = 4;
/// Longest waybill number accepted.
pub const MAX_WAYBILL_LEN: usize = 30;
/// Longest QR token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 400;
/// Characters of any one text field considered; the rest cannot fit anyway.
const MAX_FIELD_CHARS: usize = 600;

/// A rectangle in millimetres, origin top-left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl Rect {
    /// A rectangle from its left, top, width and height.
    pub const fn new(x: f32, y: f32, w: f32, h: f32) -> Rect {
        Rect { x, y, w, h }
    }

    /// Right edge.
    pub fn right(&self) -> f32 {
        self.x + self.w
    }

    /// Bottom edge.
    pub fn bottom(&self) -> f32 {
        self.y + self.h
    }

    /// Whether `other` lies within `self` (with a 1 µm tolerance).
    pub fn contains(&self, other: &Rect) -> bool {
        const EPS: f32 = 0.001;
        other.x >= self.x - EPS
            && other.y >= self.y - EPS
            && other.right() <= self.right() + EPS
            && other.bottom() <= self.bottom() + EPS
    }
}

/// Horizontal alignment of text in its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Flush left.
    Left,
    /// Centred.
    Center,
    /// Flush right.
    Right,
}

/// Which datum a text block shows (for tests and integrators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// [`LabelData::carrier`].
    Carrier,
    /// [`LabelData::printed_at`].
    PrintedAt,
    /// [`LabelData::sort_code`].
    SortCode,
    /// [`LabelData::destination`].
    Destination,
    /// The human-readable waybill number under the barcode.
    WaybillNo,
    /// Recipient name (masked).
    RecipientName,
    /// Recipient phone (masked).
    RecipientPhone,
    /// Recipient address (masked).
    RecipientAddress,
    /// Sender name (masked).
    SenderName,
    /// Sender phone (masked).
    SenderPhone,
    /// Sender address (masked).
    SenderAddress,
    /// The privacy number line.
    PrivacyNumber,
    /// Fixed wording: 收, 寄, notes.
    Caption,
}

/// Text laid out in a box: already wrapped into lines that fit.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TextBlock {
    /// What the text is.
    pub field: Field,
    /// The box; the lines stay inside it.
    pub rect: Rect,
    /// Em size in millimetres.
    pub size: f32,
    /// Distance between baselines, in millimetres.
    pub pitch: f32,
    /// The lines, as printed (missing glyphs already substituted).
    pub lines: Vec<String>,
    /// Horizontal alignment.
    pub align: Align,
}

/// A Code 128 symbol centred in its box (the box includes quiet zones).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BarcodeBlock {
    /// The box.
    pub rect: Rect,
    /// The encoded value (the waybill number).
    pub value: String,
    /// Modules, dark = `true`, without quiet zones.
    pub modules: Vec<bool>,
    /// Nominal module width in millimetres.
    pub module_mm: f32,
}

/// A QR symbol centred in its square box (the box includes quiet zones).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct QrBlock {
    /// The box.
    pub rect: Rect,
    /// The encoded value (the QR token).
    pub value: String,
    /// Modules per side, without quiet zones.
    pub width: usize,
    /// Modules row by row, dark = `true`.
    pub modules: Vec<bool>,
    /// Nominal module size in millimetres.
    pub module_mm: f32,
}

/// One thing drawn on the label.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Element {
    /// Text.
    Text(TextBlock),
    /// The waybill barcode.
    Barcode(BarcodeBlock),
    /// The token QR code.
    Qr(QrBlock),
    /// A filled rectangle: rules and separators.
    Fill(Rect),
    /// A rectangle outline drawn inside its bounds with this stroke width.
    Frame {
        /// Outer bounds.
        rect: Rect,
        /// Stroke width in millimetres.
        stroke: f32,
    },
}

impl Element {
    /// The box the element is drawn in.
    pub fn bounds(&self) -> Rect {
        match self {
            Element::Text(t) => t.rect,
            Element::Barcode(b) => b.rect,
            Element::Qr(q) => q.rect,
            Element::Fill(r) | Element::Frame { rect: r, .. } => *r,
        }
    }
}

/// A laid-out label, ready for any renderer.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    size: LabelSize,
    elements: Vec<Element>,
}

impl Layout {
    /// The label size.
    pub fn size(&self) -> LabelSize {
        self.size
    }

    /// Page width in millimetres.
    pub fn width_mm(&self) -> f32 {
        self.size.width_mm()
    }

    /// Page height in millimetres.
    pub fn height_mm(&self) -> f32 {
        self.size.height_mm()
    }

    /// The page rectangle.
    pub fn page(&self) -> Rect {
        Rect::new(0.0, 0.0, self.width_mm(), self.height_mm())
    }

    /// Elements in drawing order.
    pub fn elements(&self) -> &[Element] {
        &self.elements
    }

    /// The text block showing `field`, if any (first one).
    pub fn text(&self, field: Field) -> Option<&TextBlock> {
        self.elements.iter().find_map(|e| match e {
            Element::Text(t) if t.field == field => Some(t),
            _ => None,
        })
    }
}

/// Geometry of one label size, in millimetres.
struct Spec {
    margin: f32,
    rule: f32,
    head_h: f32,
    carrier: f32,
    small: f32,
    sort_h: f32,
    sort: f32,
    dest: f32,
    barcode_h: f32,
    barcode_text: f32,
    rcpt_h: f32,
    rcpt_badge: f32,
    rcpt_name: f32,
    rcpt_addr: f32,
    sndr_h: f32,
    sndr_badge: f32,
    sndr_name: f32,
    sndr_addr: f32,
    privacy_h: f32,
    privacy: f32,
    qr: f32,
    /// Largest barcode module, for a symbol that stays scanner-sized.
    max_module: f32,
}

const SPEC_100X150: Spec = Spec {
    margin: 2.5,
    rule: 0.3,
    head_h: 12.0,
    carrier: 7.0,
    small: 2.6,
    sort_h: 16.0,
    sort: 12.0,
    dest: 4.5,
    barcode_h: 24.0,
    barcode_text: 3.6,
    rcpt_h: 32.0,
    rcpt_badge: 8.0,
    rcpt_name: 5.0,
    rcpt_addr: 4.2,
    sndr_h: 20.0,
    sndr_badge: 5.5,
    sndr_name: 3.4,
    sndr_addr: 3.0,
    privacy_h: 9.0,
    privacy: 4.6,
    qr: 28.0,
    max_module: 0.5,
};

const SPEC_76X130: Spec = Spec {
    margin: 2.0,
    rule: 0.25,
    head_h: 9.0,
    carrier: 5.2,
    small: 2.2,
    sort_h: 13.0,
    sort: 9.5,
    dest: 3.6,
    barcode_h: 19.0,
    barcode_text: 3.0,
    rcpt_h: 27.0,
    rcpt_badge: 6.5,
    rcpt_name: 4.2,
    rcpt_addr: 3.6,
    sndr_h: 17.0,
    sndr_badge: 4.5,
    sndr_name: 3.0,
    sndr_addr: 2.6,
    privacy_h: 7.0,
    privacy: 3.8,
    qr: 24.0,
    max_module: 0.4,
};

/// Smallest em size text is shrunk to before it is cut, in mm (≈ 5 pt).
const MIN_TEXT: f32 = 1.8;

/// Validates `data` and lays it out on a label of `size`.
///
/// # Errors
/// [`LabelError::InvalidField`] naming the field (never echoing the value)
/// when the waybill number is empty, too long or not ASCII letters, digits
/// and `-`, or when the QR token is empty, too long or not printable ASCII
/// (`^` and `~` excluded, they are ZPL command prefixes).
/// [`LabelError::Font`] if the embedded font is unusable.
pub fn layout(data: &LabelData, size: LabelSize) -> Result<Layout, LabelError> {
    validate(data)?;
    let font = Font::embedded()?;
    let spec = match size {
        LabelSize::Mm100x150 => &SPEC_100X150,
        LabelSize::Mm76x130 => &SPEC_76X130,
    };
    let mut b = Builder {
        font,
        elements: Vec::new(),
    };
    let (w, h) = (size.width_mm(), size.height_mm());
    let m = spec.margin;
    let inner_w = w - 2.0 * m;
    let pad = spec.rule * 4.0;
    b.elements.push(Element::Frame {
        rect: Rect::new(m, m, inner_w, h - 2.0 * m),
        stroke: spec.rule,
    });
    let mut y = m;

    // Row: carrier, print time.
    let row = Rect::new(
        m + pad,
        y + pad,
        inner_w - 2.0 * pad,
        spec.head_h - 2.0 * pad,
    );
    b.text_fit(
        Field::Carrier,
        &data.carrier,
        Rect::new(row.x, row.y, row.w * 0.55, row.h),
        spec.carrier,
        1,
        Align::Left,
    );
    b.text_fit(
        Field::PrintedAt,
        &data.printed_at,
        Rect::new(
            row.x + row.w * 0.55,
            row.y,
            row.w * 0.45,
            spec.small * LINE_PITCH,
        ),
        spec.small,
        1,
        Align::Right,
    );
    b.text_fit(
        Field::Caption,
        "隐私面单",
        Rect::new(
            row.x + row.w * 0.55,
            row.bottom() - spec.small * 1.4 * LINE_PITCH,
            row.w * 0.45,
            spec.small * 1.4 * LINE_PITCH,
        ),
        spec.small * 1.4,
        1,
        Align::Right,
    );
    y += spec.head_h;
    b.rule(m, y, inner_w, spec.rule);

    // Row: sort code, destination.
    let row = Rect::new(
        m + pad,
        y + pad,
        inner_w - 2.0 * pad,
        spec.sort_h - 2.0 * pad,
    );
    b.text_fit(
        Field::SortCode,
        &data.sort_code,
        Rect::new(row.x, row.y, row.w * 0.6, row.h),
        spec.sort,
        1,
        Align::Left,
    );
    b.text_fit(
        Field::Destination,
        &data.destination,
        Rect::new(row.x + row.w * 0.6, row.y, row.w * 0.4, row.h),
        spec.dest,
        2,
        Align::Right,
    );
    y += spec.sort_h;
    b.rule(m, y, inner_w, spec.rule);

    // Row: barcode and number.
    let row = Rect::new(
        m + pad,
        y + pad,
        inner_w - 2.0 * pad,
        spec.barcode_h - 2.0 * pad,
    );
    let text_h = spec.barcode_text * LINE_PITCH;
    let bar_rect = Rect::new(row.x, row.y, row.w, row.h - text_h);
    let modules = code128::modules(&data.waybill_no).ok_or(LabelError::InvalidField {
        field: "waybill_no",
        reason: "not encodable as code 128",
    })?;
    let total = (modules.len() + 2 * BARCODE_QUIET) as f32;
    b.elements.push(Element::Barcode(BarcodeBlock {
        rect: bar_rect,
        value: data.waybill_no.clone(),
        module_mm: (bar_rect.w / total).min(spec.max_module),
        modules,
    }));
    b.text_fit(
        Field::WaybillNo,
        &spaced_waybill(&data.waybill_no),
        Rect::new(row.x, bar_rect.bottom(), row.w, text_h),
        spec.barcode_text,
        1,
        Align::Center,
    );
    y += spec.barcode_h;
    b.rule(m, y, inner_w, spec.rule);

    // Rows: recipient, then sender.
    for (party, row_h, badge, badge_text, name, addr, fields) in [
        (
            &data.recipient,
            spec.rcpt_h,
            spec.rcpt_badge,
            "收",
            spec.rcpt_name,
            spec.rcpt_addr,
            [
                Field::RecipientName,
                Field::RecipientPhone,
                Field::RecipientAddress,
            ],
        ),
        (
            &data.sender,
            spec.sndr_h,
            spec.sndr_badge,
            "寄",
            spec.sndr_name,
            spec.sndr_addr,
            [Field::SenderName, Field::SenderPhone, Field::SenderAddress],
        ),
    ] {
        let row = Rect::new(m + pad, y + pad, inner_w - 2.0 * pad, row_h - 2.0 * pad);
        let badge_box = badge * 1.35;
        b.elements.push(Element::Frame {
            rect: Rect::new(row.x, row.y, badge_box, badge_box),
            stroke: spec.rule,
        });
        let inset = (badge_box - badge * LINE_PITCH) / 2.0;
        b.text_fit(
            Field::Caption,
            badge_text,
            Rect::new(row.x, row.y + inset, badge_box, badge * LINE_PITCH),
            badge,
            1,
            Align::Center,
        );
        let tx = row.x + badge_box + pad * 1.5;
        let tw = row.right() - tx;
        let name_h = name * LINE_PITCH;
        b.text_fit(
            fields[0],
            &party.name,
            Rect::new(tx, row.y, tw * 0.4, name_h),
            name,
            1,
            Align::Left,
        );
        b.text_fit(
            fields[1],
            &party.phone,
            Rect::new(tx + tw * 0.4, row.y, tw * 0.6, name_h),
            name,
            1,
            Align::Left,
        );
        let addr_y = row.y + name_h + pad;
        b.text_fit(
            fields[2],
            &party.address,
            Rect::new(tx, addr_y, tw, row.bottom() - addr_y),
            addr,
            usize::MAX,
            Align::Left,
        );
        y += row_h;
        b.rule(m, y, inner_w, spec.rule);
    }

    // Row: privacy number.
    let row = Rect::new(
        m + pad,
        y + pad,
        inner_w - 2.0 * pad,
        spec.privacy_h - 2.0 * pad,
    );
    if let Some(number) = data.privacy_number.as_deref() {
        b.text_fit(
            Field::PrivacyNumber,
            &format!("隐私号 {}", number.trim()),
            Rect::new(row.x, row.y, row.w, row.h),
            spec.privacy,
            1,
            Align::Left,
        );
    }
    y += spec.privacy_h;
    b.rule(m, y, inner_w, spec.rule);

    // Row: QR code and note, print time repeated small.
    let bottom = h - m;
    let room = bottom - y - 2.0 * pad;
    let qr_side = spec.qr.min(room).max(0.0);
    let qr = QrCode::with_error_correction_level(data.qr_token.as_bytes(), EcLevel::M).map_err(
        |_| LabelError::InvalidField {
            field: "qr_token",
            reason: "too long for a qr code",
        },
    )?;
    let width = qr.width();
    let qr_rect = Rect::new(w - m - pad - qr_side, y + pad, qr_side, qr_side);
    b.elements.push(Element::Qr(QrBlock {
        rect: qr_rect,
        value: data.qr_token.clone(),
        width,
        module_mm: qr_side / (width + 2 * QR_QUIET) as f32,
        modules: qr
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect(),
    }));
    let note = Rect::new(m + pad, y + pad, qr_rect.x - m - 2.0 * pad, room);
    b.text_fit(
        Field::Caption,
        "本面单已隐藏收寄件人信息，联系收件人请拨打隐私号，或扫码核验。",
        Rect::new(note.x, note.y, note.w, note.h * 0.7),
        spec.small * 1.2,
        usize::MAX,
        Align::Left,
    );
    Ok(Layout {
        size,
        elements: b.elements,
    })
}

/// The waybill in groups of four for reading aloud: `SF12 3456 …`.
fn spaced_waybill(waybill: &str) -> String {
    let mut out = String::with_capacity(waybill.len() * 5 / 4 + 1);
    for (i, c) in waybill.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn validate(data: &LabelData) -> Result<(), LabelError> {
    let bad = |field, reason| Err(LabelError::InvalidField { field, reason });
    let w = &data.waybill_no;
    if w.is_empty() {
        return bad("waybill_no", "empty");
    }
    if w.len() > MAX_WAYBILL_LEN {
        return bad("waybill_no", "longer than 30 characters");
    }
    if !w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return bad("waybill_no", "only ascii letters, digits and '-' allowed");
    }
    let t = &data.qr_token;
    if t.is_empty() {
        return bad("qr_token", "empty");
    }
    if t.len() > MAX_TOKEN_LEN {
        return bad("qr_token", "longer than 400 bytes");
    }
    if !t
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'^' && b != b'~')
    {
        return bad(
            "qr_token",
            "only printable ascii without '^' and '~' allowed",
        );
    }
    Ok(())
}

struct Builder {
    font: &'static Font,
    elements: Vec<Element>,
}

impl Builder {
    fn rule(&mut self, x: f32, y: f32, w: f32, thickness: f32) {
        self.elements.push(Element::Fill(Rect::new(
            x,
            y - thickness / 2.0,
            w,
            thickness,
        )));
    }

    /// Adds `text` fitted into `rect`: wrapped into at most `max_lines`
    /// lines (and as many as the height allows), shrunk from `size` towards
    /// [`MIN_TEXT`], and cut with an ellipsis if it still does not fit.
    fn text_fit(
        &mut self,
        field: Field,
        text: &str,
        rect: Rect,
        size: f32,
        max_lines: usize,
        align: Align,
    ) {
        let clipped: String = text.chars().take(MAX_FIELD_CHARS).collect();
        let display = self.font.display_text(clipped.trim());
        if display.trim().is_empty() || rect.w <= 0.0 || rect.h <= 0.0 {
            return;
        }
        let (size, lines) = fit(self.font, &display, rect, size, max_lines);
        if lines.is_empty() {
            return;
        }
        self.elements.push(Element::Text(TextBlock {
            field,
            rect,
            size,
            pitch: size * LINE_PITCH,
            lines,
            align,
        }));
    }
}

/// Chooses a size and the lines for `text` in `rect`.
fn fit(font: &Font, text: &str, rect: Rect, size: f32, max_lines: usize) -> (f32, Vec<String>) {
    let mut size = size.min(rect.h / LINE_PITCH);
    let floor = MIN_TEXT.min(size);
    loop {
        let room = ((rect.h / (size * LINE_PITCH)) + 1e-3).floor().max(1.0) as usize;
        let allowed = room.min(max_lines.max(1));
        let lines = wrap(font, text, size, rect.w);
        if lines.len() <= allowed {
            return (size, lines);
        }
        let smaller = size * 0.92;
        if smaller < floor {
            return (size, truncate(font, lines, allowed, size, rect.w));
        }
        size = smaller;
    }
}

/// Keeps `allowed` lines, the last one ending in an ellipsis within `width`.
fn truncate(
    font: &Font,
    mut lines: Vec<String>,
    allowed: usize,
    size: f32,
    width: f32,
) -> Vec<String> {
    lines.truncate(allowed);
    let ellipsis = font.ellipsis();
    if let Some(last) = lines.last_mut() {
        let mut cut: Vec<char> = last.chars().collect();
        loop {
            let s: String = cut.iter().collect::<String>() + ellipsis;
            if font.text_width_mm(&s, size) <= width || cut.is_empty() {
                *last = if font.text_width_mm(&s, size) <= width {
                    s
                } else {
                    String::new()
                };
                break;
            }
            cut.pop();
        }
    }
    lines.retain(|l| !l.is_empty());
    lines
}

/// Greedy line breaking: runs of ASCII letters and digits, and runs of mask
/// stars, stay together when they fit on a line; everything else (CJK)
/// may break anywhere.
pub(crate) fn wrap(font: &Font, text: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut line_w = 0.0f32;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let word_len = match chars[i] {
            '*' => chars[i..].iter().take_while(|c| **c == '*').count(),
            c if c.is_ascii_alphanumeric() => chars[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count(),
            _ => 1,
        };
        let unit = &chars[i..i + word_len];
        let unit_w: f32 = unit.iter().map(|c| font.char_em(*c) * size).sum();
        i += word_len;
        if line_w + unit_w <= width {
            line.extend(unit);
            line_w += unit_w;
            continue;
        }
        if !line.trim().is_empty() && unit_w <= width {
            lines.push(line.trim_end().to_string());
            line = String::new();
            line_w = 0.0;
            if unit == [' '] {
                continue;
            }
            line.extend(unit);
            line_w = unit_w;
            continue;
        }
        // The unit alone is wider than a line: break it by characters.
        for c in unit {
            let cw = font.char_em(*c) * size;
            if line_w + cw > width && !line.is_empty() {
                lines.push(line.trim_end().to_string());
                line = String::new();
                line_w = 0.0;
                if *c == ' ' {
                    continue;
                }
            }
            if cw > width {
                // A glyph wider than the whole box: drop it.
                continue;
            }
            line.push(*c);
            line_w += cw;
        }
    }
    if !line.trim().is_empty() {
        lines.push(line.trim_end().to_string());
    }
    lines.retain(|l| !l.trim().is_empty());
    lines
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
    fn wrap_keeps_words_and_width() {
        let font = Font::embedded().unwrap();
        let lines = wrap(font, "北京市朝阳区建国路88号SOHO现代城A座1201室", 4.0, 30.0);
        assert!(lines.len() >= 2, "{lines:?}");
        for l in &lines {
            assert!(font.text_width_mm(l, 4.0) <= 30.0 + 1e-3, "{l}");
        }
        assert_eq!(
            lines.concat().replace(' ', ""),
            "北京市朝阳区建国路88号SOHO现代城A座1201室"
        );
        // "SOHO" never split.
        assert!(lines.iter().any(|l| l.contains("SOHO")), "{lines:?}");
    }

    #[test]
    fn fit_cuts_with_ellipsis() {
        let font = Font::embedded().unwrap();
        let text = "很长".repeat(100);
        let (size, lines) = fit(font, &text, Rect::new(0.0, 0.0, 20.0, 5.0), 4.0, 1);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].ends_with(font.ellipsis()), "{lines:?}");
        assert!(font.text_width_mm(&lines[0], size) <= 20.0 + 1e-3);
        assert!(size >= MIN_TEXT * 0.9);
    }

    #[test]
    fn spaced() {
        assert_eq!(spaced_waybill("SF1234567890123"), "SF12 3456 7890 123");
        assert_eq!(spaced_waybill("AB"), "AB");
    }
}
