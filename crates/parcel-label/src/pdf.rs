//! PDF output through `krilla`: one page per label, the page the label size.
//!
//! Text is real text in the label font, which krilla embeds as a subset
//! (CID font) with a `ToUnicode` map, so a viewer can search and copy the
//! masked values and nothing else. Glyphs are placed exactly as the raster
//! renderers place them (same advances, no shaping), so PNG, ZPL and PDF
//! look alike. Symbols are filled rectangles at their nominal module size.

use krilla::Document;
use krilla::geom::{PathBuilder, Point, Rect as KRect};
use krilla::page::PageSettings;
use krilla::surface::Surface;
use krilla::text::{GlyphId, KrillaGlyph};

use crate::LabelError;
use crate::font::Font;
use crate::layout::{BARCODE_QUIET, BarcodeBlock, Element, Layout, QR_QUIET, QrBlock, Rect};
use crate::raster::{PlacedGlyph, place_text};

/// Points per millimetre.
const PT: f32 = 72.0 / 25.4;

/// Renders labels as a PDF, one page per label sized to the label.
///
/// # Errors
/// [`LabelError::Empty`] for no labels, [`LabelError::Pdf`] if the PDF
/// writer fails (for example a font it cannot embed).
pub fn render_pdf(layouts: &[Layout], font: &Font) -> Result<Vec<u8>, LabelError> {
    if layouts.is_empty() {
        return Err(LabelError::Empty);
    }
    let mut doc = Document::new();
    for layout in layouts {
        let settings = PageSettings::from_wh(layout.width_mm() * PT, layout.height_mm() * PT)
            .ok_or(LabelError::Pdf("bad page size"))?;
        let mut page = doc.start_page_with(settings);
        let mut surface = page.surface();
        draw(&mut surface, layout, font);
        surface.finish();
        page.finish();
    }
    // Krilla's errors can quote font internals; keep messages generic.
    doc.finish().map_err(|e| match e {
        krilla::error::KrillaError::Font(..) => LabelError::Pdf("font could not be embedded"),
        _ => LabelError::Pdf("document could not be written"),
    })
}

fn draw(surface: &mut Surface<'_>, layout: &Layout, font: &Font) {
    let mut fills = PathBuilder::new();
    for e in layout.elements() {
        match e {
            Element::Fill(r) => push_rect(&mut fills, r),
            Element::Frame { rect, stroke } => {
                let s = stroke.min(rect.w / 2.0).min(rect.h / 2.0);
                push_rect(&mut fills, &Rect::new(rect.x, rect.y, rect.w, s));
                push_rect(&mut fills, &Rect::new(rect.x, rect.bottom() - s, rect.w, s));
                push_rect(&mut fills, &Rect::new(rect.x, rect.y, s, rect.h));
                push_rect(&mut fills, &Rect::new(rect.right() - s, rect.y, s, rect.h));
            }
            Element::Barcode(b) => barcode(&mut fills, b),
            Element::Qr(q) => qr(&mut fills, q),
            Element::Text(_) => {}
        }
    }
    if let Some(path) = fills.finish() {
        // Default fill: opaque black.
        surface.draw_path(&path);
    }
    for e in layout.elements() {
        if let Element::Text(t) = e {
            for line in place_text(t, font) {
                // One run per face: krilla draws a run in one font.
                for run in line.chunk_by(|a, b| a.glyph.face == b.glyph.face) {
                    draw_run(surface, run, font);
                }
            }
        }
    }
}

fn draw_run(surface: &mut Surface<'_>, run: &[PlacedGlyph], font: &Font) {
    let Some(first) = run.first() else {
        return;
    };
    let Some(face) = font.face(first.glyph.face) else {
        return;
    };
    let mut text = String::with_capacity(run.len() * 3);
    let mut glyphs = Vec::with_capacity(run.len());
    for g in run {
        let start = text.len();
        text.push(g.glyph.ch);
        glyphs.push(KrillaGlyph::new(
            GlyphId::new(u32::from(g.glyph.id.0)),
            g.advance_em,
            0.0,
            0.0,
            0.0,
            start..text.len(),
            None,
        ));
    }
    surface.draw_glyphs(
        Point::from_xy(first.x * PT, first.baseline * PT),
        &glyphs,
        face.pdf().clone(),
        &text,
        first.size * PT,
        false,
    );
}

fn push_rect(pb: &mut PathBuilder, r: &Rect) {
    if let Some(k) = KRect::from_xywh(r.x * PT, r.y * PT, r.w * PT, r.h * PT) {
        pb.push_rect(k);
    }
}

fn barcode(pb: &mut PathBuilder, b: &BarcodeBlock) {
    let total = (b.modules.len() + 2 * BARCODE_QUIET).max(1) as f32;
    let module = b.module_mm.min(b.rect.w / total);
    let x0 = b.rect.x + (b.rect.w - module * b.modules.len() as f32) / 2.0;
    // Merge runs of dark modules into one bar each.
    let mut i = 0;
    while i < b.modules.len() {
        if b.modules[i] {
            let run = b.modules[i..].iter().take_while(|m| **m).count();
            push_rect(
                pb,
                &Rect::new(
                    x0 + i as f32 * module,
                    b.rect.y,
                    run as f32 * module,
                    b.rect.h,
                ),
            );
            i += run;
        } else {
            i += 1;
        }
    }
}

fn qr(pb: &mut PathBuilder, q: &QrBlock) {
    if q.width == 0 {
        return;
    }
    let total = (q.width + 2 * QR_QUIET) as f32;
    let module = q.module_mm.min(q.rect.w.min(q.rect.h) / total);
    let side = module * q.width as f32;
    let x0 = q.rect.x + (q.rect.w - side) / 2.0;
    let y0 = q.rect.y + (q.rect.h - side) / 2.0;
    for (row, cells) in q.modules.chunks(q.width).enumerate() {
        let mut i = 0;
        while i < cells.len() {
            if cells[i] {
                let run = cells[i..].iter().take_while(|m| **m).count();
                push_rect(
                    pb,
                    &Rect::new(
                        x0 + i as f32 * module,
                        y0 + row as f32 * module,
                        run as f32 * module,
                        module,
                    ),
                );
                i += run;
            } else {
                i += 1;
            }
        }
    }
}
