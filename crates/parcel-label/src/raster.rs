//! Rasterisation shared by the PNG and ZPL renderers: an 8-bit grey canvas
//! (255 = paper) in device dots, and the placement rules that snap symbols
//! to whole dots per module so scanners read them at any resolution.

use ab_glyph::{Font as _, Glyph, PxScale, point};

use crate::font::{Font, GlyphRef};
use crate::layout::{
    Align, BARCODE_QUIET, BarcodeBlock, Element, Layout, QR_QUIET, QrBlock, Rect, TextBlock,
};

/// Millimetres to dots (fractional) at `dpi`.
pub(crate) fn dots_f(mm: f32, dpi: u32) -> f32 {
    mm * dpi as f32 / 25.4
}

/// An 8-bit grey image; pixels outside it are ignored when drawn.
#[derive(Debug, Clone)]
pub(crate) struct Canvas {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Row-major, 255 = white.
    pub(crate) pixels: Vec<u8>,
}

impl Canvas {
    pub(crate) fn new(width: u32, height: u32) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![255; width as usize * height as usize],
        }
    }

    /// Darkens pixel (x, y) by `coverage` in 0..=1.
    fn ink(&mut self, x: i64, y: i64, coverage: f32) {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return;
        }
        let idx = y as usize * self.width as usize + x as usize;
        let v = 255 - (coverage.clamp(0.0, 1.0) * 255.0).round() as u8;
        if let Some(p) = self.pixels.get_mut(idx) {
            *p = (*p).min(v);
        }
    }

    /// Fills the dot rectangle [x0, x1) × [y0, y1) black.
    pub(crate) fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64) {
        let x0 = x0.clamp(0, i64::from(self.width));
        let x1 = x1.clamp(0, i64::from(self.width));
        let y0 = y0.clamp(0, i64::from(self.height));
        let y1 = y1.clamp(0, i64::from(self.height));
        for y in y0..y1 {
            let row = y as usize * self.width as usize;
            if let Some(s) = self.pixels.get_mut(row + x0 as usize..row + x1 as usize) {
                s.fill(0);
            }
        }
    }
}

/// A rectangle in whole dots: [x0, x1) × [y0, y1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DotRect {
    pub(crate) x0: i64,
    pub(crate) y0: i64,
    pub(crate) x1: i64,
    pub(crate) y1: i64,
}

impl DotRect {
    pub(crate) fn from_mm(r: &Rect, dpi: u32) -> DotRect {
        let x0 = dots_f(r.x, dpi).round() as i64;
        let y0 = dots_f(r.y, dpi).round() as i64;
        // At least one dot for hairlines.
        let x1 = (dots_f(r.right(), dpi).round() as i64).max(x0 + 1);
        let y1 = (dots_f(r.bottom(), dpi).round() as i64).max(y0 + 1);
        DotRect { x0, y0, x1, y1 }
    }

    pub(crate) fn width(&self) -> i64 {
        self.x1 - self.x0
    }

    pub(crate) fn height(&self) -> i64 {
        self.y1 - self.y0
    }
}

/// Where a Code 128 symbol goes, in dots.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BarcodePlacement {
    /// Left edge of the first bar.
    pub(crate) x: i64,
    pub(crate) y: i64,
    pub(crate) module: i64,
    pub(crate) height: i64,
}

pub(crate) fn place_barcode(b: &BarcodeBlock, dpi: u32) -> BarcodePlacement {
    let r = DotRect::from_mm(&b.rect, dpi);
    let total = (b.modules.len() + 2 * BARCODE_QUIET).max(1) as i64;
    let nominal = dots_f(b.module_mm, dpi).round() as i64;
    let module = nominal.min(r.width() / total).max(1);
    let bars = module * b.modules.len() as i64;
    BarcodePlacement {
        x: r.x0 + (r.width() - bars) / 2,
        y: r.y0,
        module,
        height: r.height(),
    }
}

/// Where a QR symbol goes, in dots.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QrPlacement {
    /// Top-left corner of the first module (inside the quiet zone).
    pub(crate) x: i64,
    pub(crate) y: i64,
    pub(crate) module: i64,
}

pub(crate) fn place_qr(q: &QrBlock, dpi: u32) -> QrPlacement {
    let r = DotRect::from_mm(&q.rect, dpi);
    let total = (q.width + 2 * QR_QUIET).max(1) as i64;
    let module = (r.width().min(r.height()) / total).max(1);
    let side = module * q.width as i64;
    QrPlacement {
        x: r.x0 + (r.width() - side) / 2,
        y: r.y0 + (r.height() - side) / 2,
        module,
    }
}

/// Draws the whole layout onto a page-sized canvas.
pub(crate) fn draw_layout(layout: &Layout, font: &Font, dpi: u32) -> Canvas {
    let w = crate::mm_to_dots(layout.width_mm(), dpi).max(1) as u32;
    let h = crate::mm_to_dots(layout.height_mm(), dpi).max(1) as u32;
    let mut canvas = Canvas::new(w, h);
    for e in layout.elements() {
        match e {
            Element::Text(t) => draw_text(&mut canvas, t, font, dpi, (0, 0)),
            Element::Barcode(b) => draw_barcode(&mut canvas, b, dpi),
            Element::Qr(q) => draw_qr(&mut canvas, q, dpi),
            Element::Fill(r) => {
                let d = DotRect::from_mm(r, dpi);
                canvas.fill(d.x0, d.y0, d.x1, d.y1);
            }
            Element::Frame { rect, stroke } => draw_frame(&mut canvas, rect, *stroke, dpi),
        }
    }
    canvas
}

pub(crate) fn frame_stroke_dots(stroke: f32, dpi: u32) -> i64 {
    (dots_f(stroke, dpi).round() as i64).max(1)
}

fn draw_frame(canvas: &mut Canvas, rect: &Rect, stroke: f32, dpi: u32) {
    let d = DotRect::from_mm(rect, dpi);
    let t = frame_stroke_dots(stroke, dpi);
    canvas.fill(d.x0, d.y0, d.x1, d.y0 + t);
    canvas.fill(d.x0, d.y1 - t, d.x1, d.y1);
    canvas.fill(d.x0, d.y0, d.x0 + t, d.y1);
    canvas.fill(d.x1 - t, d.y0, d.x1, d.y1);
}

fn draw_barcode(canvas: &mut Canvas, b: &BarcodeBlock, dpi: u32) {
    let p = place_barcode(b, dpi);
    for (i, dark) in b.modules.iter().enumerate() {
        if *dark {
            let x = p.x + i as i64 * p.module;
            canvas.fill(x, p.y, x + p.module, p.y + p.height);
        }
    }
}

fn draw_qr(canvas: &mut Canvas, q: &QrBlock, dpi: u32) {
    let p = place_qr(q, dpi);
    for (i, dark) in q.modules.iter().enumerate() {
        if *dark && q.width > 0 {
            let x = p.x + (i % q.width) as i64 * p.module;
            let y = p.y + (i / q.width) as i64 * p.module;
            canvas.fill(x, y, x + p.module, y + p.module);
        }
    }
}

/// One positioned glyph of a text line, in millimetres.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlacedGlyph {
    pub(crate) glyph: GlyphRef,
    /// Pen position (left, on the baseline).
    pub(crate) x: f32,
    pub(crate) baseline: f32,
    /// Em size (may be below the block's size if this font runs wider).
    pub(crate) size: f32,
    /// Advance in ems.
    pub(crate) advance_em: f32,
}

/// Places the glyphs of every line of `t`, in mm, with `font`. A line that
/// this font sets wider than the box is shrunk to fit.
pub(crate) fn place_text(t: &TextBlock, font: &Font) -> Vec<Vec<PlacedGlyph>> {
    let mut out = Vec::with_capacity(t.lines.len());
    for (i, line) in t.lines.iter().enumerate() {
        let natural = font.text_width_mm(line, t.size);
        let size = if natural > t.rect.w && natural > 0.0 {
            t.size * t.rect.w / natural
        } else {
            t.size
        };
        let width = natural * size / t.size.max(f32::MIN_POSITIVE);
        let mut x = match t.align {
            Align::Left => t.rect.x,
            Align::Center => t.rect.x + (t.rect.w - width) / 2.0,
            Align::Right => t.rect.right() - width,
        };
        let top = t.rect.y + i as f32 * t.pitch;
        let baseline = top + (t.pitch - t.size) / 2.0 + font.ascent_ratio() * t.size;
        let mut glyphs = Vec::with_capacity(line.len());
        for c in line.chars() {
            let glyph = font.glyph(c);
            let advance_em = font.advance_em(glyph);
            glyphs.push(PlacedGlyph {
                glyph,
                x,
                baseline,
                size,
                advance_em,
            });
            x += advance_em * size;
        }
        out.push(glyphs);
    }
    out
}

/// Draws text block `t`, shifted by `origin` dots (for sub-canvases).
pub(crate) fn draw_text(
    canvas: &mut Canvas,
    t: &TextBlock,
    font: &Font,
    dpi: u32,
    origin: (i64, i64),
) {
    for line in place_text(t, font) {
        for g in line {
            let Some(face) = font.face(g.glyph.face) else {
                continue;
            };
            let f = face.raster();
            let em_px = dots_f(g.size, dpi);
            let scale = PxScale::from(em_px * face.height_em());
            let glyph = Glyph {
                id: g.glyph.id,
                scale,
                position: point(
                    dots_f(g.x, dpi) - origin.0 as f32,
                    dots_f(g.baseline, dpi) - origin.1 as f32,
                ),
            };
            if let Some(outline) = f.outline_glyph(glyph) {
                let b = outline.px_bounds();
                let (bx, by) = (b.min.x as i64, b.min.y as i64);
                outline.draw(|x, y, c| canvas.ink(bx + i64::from(x), by + i64::from(y), c));
            }
        }
    }
}
