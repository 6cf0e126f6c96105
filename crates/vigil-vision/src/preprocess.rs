//! Shared image → tensor helpers: crop-and-resize and pixel normalisation.
//!
//! Resizing uses `fast_image_resize` (SIMD, bilinear convolution); `vigil bench` also
//! times `image::imageops::resize` on the same job so the choice stays measured.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use crate::result::BBox;

/// Memory layout of a model's image input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[N, C, H, W]`.
    Nchw,
    /// `[N, H, W, C]`.
    Nhwc,
}

/// How 8-bit pixels become model input: `value = (pixel − mean[c]) × scale[c]`, with
/// channels in RGB or BGR order (`mean`/`scale` are given in the model's channel order).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    /// Tensor layout.
    pub layout: Layout,
    /// True when the model expects BGR channel order.
    pub bgr: bool,
    /// Per-channel mean, in pixel units (0–255), model channel order.
    pub mean: [f32; 3],
    /// Per-channel multiplier applied after subtracting the mean.
    pub scale: [f32; 3],
}

/// Crops `region` (original-image pixels, may extend past the edges: the outside is
/// filled with black) and resizes it to `width × height` with bilinear filtering.
pub fn crop_resize(img: &RgbImage, region: BBox, width: u32, height: u32) -> RgbImage {
    let (iw, ih) = img.dimensions();
    let inside = region.clamp_to(iw, ih);
    let mut out = RgbImage::new(width, height);
    if inside.width < 1.0 || inside.height < 1.0 || region.width <= 0.0 || region.height <= 0.0 {
        return out;
    }
    // Where the in-image part of the region lands in the output.
    let sx = width as f32 / region.width;
    let sy = height as f32 / region.height;
    let dx = ((inside.x - region.x) * sx).round().max(0.0) as u32;
    let dy = ((inside.y - region.y) * sy).round().max(0.0) as u32;
    let dw = ((inside.width * sx).round() as u32).clamp(1, width.saturating_sub(dx).max(1));
    let dh = ((inside.height * sy).round() as u32).clamp(1, height.saturating_sub(dy).max(1));
    let mut part = RgbImage::new(dw, dh);
    let options = ResizeOptions::new()
        .crop(
            f64::from(inside.x),
            f64::from(inside.y),
            f64::from(inside.width),
            f64::from(inside.height),
        )
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    let mut resizer = Resizer::new();
    if resizer.resize(img, &mut part, &options).is_err() {
        // Only possible with a zero-sized image, excluded above; keep the black output.
        return out;
    }
    image::imageops::replace(&mut out, &part, i64::from(dx), i64::from(dy));
    out
}

/// Appends one image to a batch buffer in the layout and normalisation `norm` asks for.
pub fn push_tensor(img: &RgbImage, norm: &Normalize, out: &mut Vec<f32>) {
    let (w, h) = img.dimensions();
    let plane = (w * h) as usize;
    let order: [usize; 3] = if norm.bgr { [2, 1, 0] } else { [0, 1, 2] };
    let start = out.len();
    out.resize(start + plane * 3, 0.0);
    let dst = &mut out[start..];
    for (i, px) in img.pixels().enumerate() {
        for (c, &src_c) in order.iter().enumerate() {
            let v = (f32::from(px.0[src_c]) - norm.mean[c]) * norm.scale[c];
            match norm.layout {
                Layout::Nchw => dst[c * plane + i] = v,
                Layout::Nhwc => dst[i * 3 + c] = v,
            }
        }
    }
}

/// Reference: the same crop-and-resize with `image::imageops` (used by the benchmark).
pub fn crop_resize_with_image_crate(
    img: &RgbImage,
    region: BBox,
    width: u32,
    height: u32,
) -> RgbImage {
    let r = region.clamp_to(img.width(), img.height());
    let view = image::imageops::crop_imm(
        img,
        r.x as u32,
        r.y as u32,
        r.width.max(1.0) as u32,
        r.height.max(1.0) as u32,
    );
    image::imageops::resize(
        &view.to_image(),
        width,
        height,
        image::imageops::FilterType::Triangle,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_resize_pads_outside_with_black() {
        let img = RgbImage::from_pixel(10, 10, image::Rgb([255, 255, 255]));
        // Region twice the image, image in the top-left quarter.
        let out = crop_resize(
            &img,
            BBox {
                x: 0.0,
                y: 0.0,
                width: 20.0,
                height: 20.0,
            },
            20,
            20,
        );
        assert_eq!(out.get_pixel(2, 2).0, [255, 255, 255]);
        assert_eq!(out.get_pixel(15, 15).0, [0, 0, 0]);
    }

    #[test]
    fn push_tensor_orders_channels_and_layout() {
        let img = RgbImage::from_pixel(2, 1, image::Rgb([10, 20, 30]));
        let norm = Normalize {
            layout: Layout::Nchw,
            bgr: true,
            mean: [0.0; 3],
            scale: [1.0; 3],
        };
        let mut v = Vec::new();
        push_tensor(&img, &norm, &mut v);
        assert_eq!(v, vec![30.0, 30.0, 20.0, 20.0, 10.0, 10.0]);
        let norm = Normalize {
            layout: Layout::Nhwc,
            bgr: false,
            mean: [10.0; 3],
            scale: [0.5; 3],
        };
        let mut v = Vec::new();
        push_tensor(&img, &norm, &mut v);
        assert_eq!(v, vec![0.0, 5.0, 10.0, 0.0, 5.0, 10.0]);
    }
}
