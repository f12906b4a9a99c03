//! PNG output: the label rasterised at a given dpi as an 8-bit grey image,
//! with the resolution recorded in the `pHYs` chunk.

use crate::font::Font;
use crate::layout::Layout;
use crate::{LabelError, check_dpi, raster};

/// Renders one label as an 8-bit greyscale PNG at `dpi` (e.g. 203 or 300).
/// The image is the label size in mm at that dpi, rounded to whole pixels.
///
/// # Errors
/// [`LabelError::Dpi`] outside [`crate::MIN_DPI`]..=[`crate::MAX_DPI`],
/// [`LabelError::Png`] if encoding fails.
pub fn render_png(layout: &Layout, font: &Font, dpi: u32) -> Result<Vec<u8>, LabelError> {
    check_dpi(dpi)?;
    let canvas = raster::draw_layout(layout, font, dpi);
    encode_gray(&canvas, dpi)
}

pub(crate) fn encode_gray(canvas: &raster::Canvas, dpi: u32) -> Result<Vec<u8>, LabelError> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, canvas.width, canvas.height);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let per_metre = (f64::from(dpi) / 0.0254).round() as u32;
    enc.set_pixel_dims(Some(png::PixelDimensions {
        xppu: per_metre,
        yppu: per_metre,
        unit: png::Unit::Meter,
    }));
    let png_err = |e: png::EncodingError| LabelError::Png(e.to_string());
    let mut writer = enc.write_header().map_err(png_err)?;
    writer.write_image_data(&canvas.pixels).map_err(png_err)?;
    writer.finish().map_err(png_err)?;
    Ok(out)
}
