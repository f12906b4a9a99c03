//! The label font: a fallback chain of TrueType faces used to measure text
//! (layout), to rasterise it (PNG, ZPL bitmaps) and to embed it (PDF).
//!
//! The embedded chain is Roboto (Latin, digits, ASCII punctuation) then
//! Droid Sans Fallback (CJK), both Apache-2.0: Droid Sans Fallback has no
//! ASCII glyph at all but the space, so it cannot print a waybill or a phone
//! number alone. Each character takes the first face that has it; characters
//! no face has are shown as `?` (or `.notdef` when no face has `?`), control
//! characters become spaces. The same substitution is applied everywhere, so
//! what a PDF's text layer says is what is printed.

use std::fmt;
use std::sync::{Arc, OnceLock};

use ab_glyph::{Font as _, FontArc, FontRef, FontVec, GlyphId};

use crate::LabelError;

/// Roboto Regular (Apache-2.0), see `fonts/SOURCES.md`.
static ROBOTO_TTF: &[u8] = include_bytes!("../fonts/Roboto-Regular.ttf");
/// Droid Sans Fallback Full (Apache-2.0), see `fonts/SOURCES.md`.
static DROID_TTF: &[u8] = include_bytes!("../fonts/DroidSansFallbackFull.ttf");

/// Most faces in one chain.
const MAX_FACES: usize = 8;

/// One parsed face, in both parsers' forms.
#[derive(Clone)]
pub(crate) struct Face {
    raster: FontArc,
    pdf: krilla::text::Font,
    units_per_em: f32,
    /// ab_glyph's scale unit (ascent - descent) per em.
    height_em: f32,
}

impl Face {
    fn new(raster: FontArc, pdf: krilla::text::Font) -> Result<Face, LabelError> {
        let units_per_em = raster
            .units_per_em()
            .filter(|u| u.is_finite() && *u > 0.0)
            .ok_or(LabelError::Font("font has no units per em"))?;
        let height = raster.height_unscaled();
        let height_em = if height.is_finite() && height > 0.0 {
            height / units_per_em
        } else {
            1.0
        };
        Ok(Face {
            raster,
            pdf,
            units_per_em,
            height_em,
        })
    }

    fn from_static(bytes: &'static [u8]) -> Option<Face> {
        let raster = FontRef::try_from_slice(bytes).ok()?;
        let pdf = krilla::text::Font::new(bytes.into(), 0)?;
        Face::new(FontArc::new(raster), pdf).ok()
    }

    fn from_vec(bytes: Vec<u8>) -> Result<Face, LabelError> {
        let bad = LabelError::Font("not a usable TrueType/OpenType font");
        let shared = Arc::new(bytes);
        let Some(pdf) = krilla::text::Font::new(shared.clone().into(), 0) else {
            return Err(bad);
        };
        // ab_glyph wants to own its bytes: one copy at load time.
        let raster = FontVec::try_from_vec(shared.as_ref().clone()).map_err(|_| bad)?;
        Face::new(FontArc::new(raster), pdf)
    }

    pub(crate) fn raster(&self) -> &FontArc {
        &self.raster
    }

    pub(crate) fn pdf(&self) -> &krilla::text::Font {
        &self.pdf
    }

    pub(crate) fn height_em(&self) -> f32 {
        self.height_em
    }
}

/// A glyph chosen for a character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GlyphRef {
    /// Index of the face in the chain.
    pub(crate) face: usize,
    pub(crate) id: GlyphId,
    /// The character it stands for in the text layer.
    pub(crate) ch: char,
}

/// A chain of font faces, ready for all three renderers.
#[derive(Clone)]
pub struct Font {
    faces: Vec<Face>,
    /// Ascent share of ascent + |descent| of the first face, to centre the
    /// em box on a line.
    ascent_ratio: f32,
    fallback: GlyphRef,
    ellipsis: &'static str,
}

impl fmt::Debug for Font {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Font")
            .field("faces", &self.faces.len())
            .field(
                "glyphs",
                &self
                    .faces
                    .iter()
                    .map(|x| x.raster.glyph_count())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Font {
    /// The compiled-in chain: Roboto for Latin, Droid Sans Fallback for CJK.
    /// Parsed once, then shared.
    ///
    /// # Errors
    /// [`LabelError::Font`] only if the compiled-in bytes fail to parse,
    /// which the crate's tests rule out.
    pub fn embedded() -> Result<&'static Font, LabelError> {
        static FONT: OnceLock<Option<Font>> = OnceLock::new();
        FONT.get_or_init(|| {
            let faces = vec![
                Face::from_static(ROBOTO_TTF)?,
                Face::from_static(DROID_TTF)?,
            ];
            Font::new(faces).ok()
        })
        .as_ref()
        .ok_or(LabelError::Font("embedded font failed to parse"))
    }

    /// One TrueType/OpenType face (the first of a collection). It should
    /// cover both ASCII and CJK; see [`Font::from_faces`] otherwise.
    ///
    /// # Errors
    /// [`LabelError::Font`] when the bytes are not a usable font.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Font, LabelError> {
        Font::new(vec![Face::from_vec(bytes)?])
    }

    /// A fallback chain: each character is drawn with the first face that
    /// has it (at most 8 faces).
    ///
    /// # Errors
    /// [`LabelError::Font`] when a face is not a usable font, or for no or
    /// too many faces.
    pub fn from_faces(faces: Vec<Vec<u8>>) -> Result<Font, LabelError> {
        if faces.len() > MAX_FACES {
            return Err(LabelError::Font("more than 8 faces"));
        }
        let faces = faces
            .into_iter()
            .map(Face::from_vec)
            .collect::<Result<Vec<_>, _>>()?;
        Font::new(faces)
    }

    fn new(faces: Vec<Face>) -> Result<Font, LabelError> {
        let first = faces.first().ok_or(LabelError::Font("no font face"))?;
        let ascent = first.raster.ascent_unscaled();
        let descent = first.raster.descent_unscaled().abs();
        let ascent_ratio = if ascent > 0.0 && (ascent + descent).is_finite() {
            (ascent / (ascent + descent)).clamp(0.5, 1.0)
        } else {
            0.8
        };
        let mut font = Font {
            faces,
            ascent_ratio,
            fallback: GlyphRef {
                face: 0,
                id: GlyphId(0),
                ch: '\u{FFFD}',
            },
            ellipsis: "...",
        };
        if let Some(q) = font.lookup('?') {
            font.fallback = q;
        }
        if font.lookup('…').is_some() {
            font.ellipsis = "…";
        }
        Ok(font)
    }

    fn lookup(&self, c: char) -> Option<GlyphRef> {
        self.faces.iter().enumerate().find_map(|(face, f)| {
            let id = f.raster.glyph_id(c);
            (id.0 != 0).then_some(GlyphRef { face, id, ch: c })
        })
    }

    /// Whether some face has a glyph for `c`.
    pub fn has_glyph(&self, c: char) -> bool {
        self.lookup(c).is_some()
    }

    /// Width of `text` on one line at an em size of `size_mm`, in mm, with
    /// the same substitution the renderers apply.
    pub fn text_width_mm(&self, text: &str, size_mm: f32) -> f32 {
        text.chars()
            .map(|c| self.advance_em(self.glyph(c)))
            .sum::<f32>()
            * size_mm
    }

    /// Advance of a glyph, in ems.
    pub(crate) fn advance_em(&self, g: GlyphRef) -> f32 {
        self.faces
            .get(g.face)
            .map_or(0.0, |f| f.raster.h_advance_unscaled(g.id) / f.units_per_em)
    }

    /// Advance of character `c` as printed, in ems.
    pub(crate) fn char_em(&self, c: char) -> f32 {
        self.advance_em(self.glyph(c))
    }

    /// The glyph drawn for `c`.
    pub(crate) fn glyph(&self, c: char) -> GlyphRef {
        let c = if c.is_control() { ' ' } else { c };
        self.lookup(c).unwrap_or(self.fallback)
    }

    /// `text` as it will be printed: control characters as spaces, missing
    /// characters as the fallback.
    pub(crate) fn display_text(&self, text: &str) -> String {
        text.chars().map(|c| self.glyph(c).ch).collect()
    }

    pub(crate) fn ellipsis(&self) -> &'static str {
        self.ellipsis
    }

    pub(crate) fn ascent_ratio(&self) -> f32 {
        self.ascent_ratio
    }

    pub(crate) fn face(&self, i: usize) -> Option<&Face> {
        self.faces.get(i)
    }
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
    fn embedded_parses_and_covers_label_text() {
        let font = Font::embedded().unwrap();
        for c in
            "收寄隐私号转欧阳娜娜北京市朝阳区广东省深圳市南山区，*?…0123456789ABCXYZabc-: ".chars()
        {
            assert!(font.has_glyph(c), "{c:?}");
        }
        assert!(font.text_width_mm("收件人", 4.0) > 10.0);
        assert!(font.text_width_mm("", 4.0) == 0.0);
        assert_eq!(font.ellipsis(), "…");
    }

    #[test]
    fn faces_are_chosen_in_order() {
        let font = Font::embedded().unwrap();
        assert_eq!(font.glyph('8').face, 0);
        assert_eq!(font.glyph('收').face, 1);
    }

    #[test]
    fn missing_and_control_chars_are_substituted() {
        let font = Font::embedded().unwrap();
        // A private-use code point no font ships.
        assert_eq!(font.display_text("a\u{F8FF}b\n"), "a?b ");
    }

    #[test]
    fn droid_alone_has_no_ascii() {
        // Why the chain exists; with one face, digits fall back to .notdef.
        let font = Font::from_bytes(DROID_TTF.to_vec()).unwrap();
        assert!(!font.has_glyph('1'));
        assert!(font.has_glyph('收'));
        assert_eq!(font.display_text("1"), "\u{FFFD}");
    }

    #[test]
    fn from_bytes_rejects_garbage() {
        assert!(Font::from_bytes(b"not a font".to_vec()).is_err());
        assert!(Font::from_bytes(Vec::new()).is_err());
        assert!(Font::from_faces(Vec::new()).is_err());
        let chain = Font::from_faces(vec![ROBOTO_TTF.to_vec(), DROID_TTF.to_vec()]).unwrap();
        assert!(chain.has_glyph('1') && chain.has_glyph('收'));
    }
}
