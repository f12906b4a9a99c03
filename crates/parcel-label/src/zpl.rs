//! ZPL II output for Zebra-compatible thermal printers.
//!
//! Per label: `^XA`, `^PW`/`^LL` for the size at the printer's dpi, rules and
//! frames as `^GB`, the waybill as a native `^BC` Code 128 (automatic code
//! sets, no interpretation line: the number is printed as text), the token as
//! a native `^BQ` QR (model 2, error correction M), and every text block as a
//! `^GFA` bitmap, since printers ship no CJK font. So the only `^FD` data are
//! the waybill number and the token; masked personal values never appear as
//! printer text.

use std::fmt::Write as _;

use crate::font::Font;
use crate::layout::{Element, Layout, TextBlock};
use crate::raster::{self, Canvas, DotRect};
use crate::{LabelError, check_dpi, mm_to_dots};

/// Coverage at or above which a dot is printed (of 255).
const INK_THRESHOLD: u8 = 128;

/// Renders labels as ZPL for a printer of `dpi` (152/203/300/600 typical),
/// one `^XA…^XZ` block per label.
///
/// # Errors
/// [`LabelError::Dpi`] outside [`crate::MIN_DPI`]..=[`crate::MAX_DPI`].
pub fn render_zpl(layouts: &[Layout], font: &Font, dpi: u32) -> Result<String, LabelError> {
    check_dpi(dpi)?;
    let mut out = String::new();
    for layout in layouts {
        label(&mut out, layout, font, dpi);
    }
    Ok(out)
}

fn label(out: &mut String, layout: &Layout, font: &Font, dpi: u32) {
    let w = mm_to_dots(layout.width_mm(), dpi);
    let h = mm_to_dots(layout.height_mm(), dpi);
    // `write!` to a String cannot fail.
    let _ = writeln!(out, "^XA\n^CI28\n^PW{w}\n^LL{h}\n^LH0,0");
    for e in layout.elements() {
        match e {
            Element::Fill(r) => {
                let d = DotRect::from_mm(r, dpi);
                let t = d.width().min(d.height());
                let _ = writeln!(
                    out,
                    "^FO{},{}^GB{},{},{},B,0^FS",
                    d.x0,
                    d.y0,
                    d.width(),
                    d.height(),
                    t
                );
            }
            Element::Frame { rect, stroke } => {
                let d = DotRect::from_mm(rect, dpi);
                let t = raster::frame_stroke_dots(*stroke, dpi).min(d.width().min(d.height()));
                let _ = writeln!(
                    out,
                    "^FO{},{}^GB{},{},{},B,0^FS",
                    d.x0,
                    d.y0,
                    d.width(),
                    d.height(),
                    t
                );
            }
            Element::Barcode(b) => {
                let p = raster::place_barcode(b, dpi);
                // ^BY module width is 1..=10 dots.
                let module = p.module.clamp(1, 10);
                let _ = writeln!(
                    out,
                    "^FO{},{}^BY{},3,{}^BCN,{},N,N,N,A^FD{}^FS",
                    p.x, p.y, module, p.height, p.height, b.value
                );
            }
            Element::Qr(q) => {
                let p = raster::place_qr(q, dpi);
                let mag = p.module.clamp(1, 10);
                let _ = writeln!(out, "^FO{},{}^BQN,2,{}^FDMA,{}^FS", p.x, p.y, mag, q.value);
            }
            Element::Text(t) => text_bitmap(out, t, font, dpi),
        }
    }
    out.push_str("^PQ1\n^XZ\n");
}

/// One `^GFA` graphic for a text block, cropped to its ink.
fn text_bitmap(out: &mut String, t: &TextBlock, font: &Font, dpi: u32) {
    let r = DotRect::from_mm(&t.rect, dpi);
    let (Ok(w), Ok(h)) = (u32::try_from(r.width()), u32::try_from(r.height())) else {
        return;
    };
    let mut canvas = Canvas::new(w, h);
    raster::draw_text(&mut canvas, t, font, dpi, (r.x0, r.y0));
    let Some((x0, y0, x1, y1)) = ink_bounds(&canvas) else {
        return;
    };
    let bytes_per_row = (x1 - x0).div_ceil(8);
    let rows = y1 - y0;
    let total = bytes_per_row * rows;
    let _ = write!(
        out,
        "^FO{},{}^GFA,{total},{total},{bytes_per_row},",
        r.x0 + x0 as i64,
        r.y0 + y0 as i64
    );
    out.reserve(total * 2 + 8);
    for y in y0..y1 {
        let row = y * canvas.width as usize;
        for byte in 0..bytes_per_row {
            let mut v = 0u8;
            for bit in 0..8 {
                let x = x0 + byte * 8 + bit;
                let dark = x < x1
                    && canvas
                        .pixels
                        .get(row + x)
                        .is_some_and(|p| *p <= 255 - INK_THRESHOLD);
                if dark {
                    v |= 0x80 >> bit;
                }
            }
            let _ = write!(out, "{v:02X}");
        }
    }
    out.push_str("^FS\n");
}

/// Bounding box [x0, x1) × [y0, y1) of printed dots.
fn ink_bounds(c: &Canvas) -> Option<(usize, usize, usize, usize)> {
    let w = c.width as usize;
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for (i, p) in c.pixels.iter().enumerate() {
        if *p <= 255 - INK_THRESHOLD {
            let (x, y) = (i % w, i / w);
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x + 1);
            y1 = y1.max(y + 1);
        }
    }
    (x1 > x0 && y1 > y0).then_some((x0, y0, x1, y1))
}
