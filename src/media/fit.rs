//! Fitting a reference image to a video size: resized to cover `W×H` and center-cropped to
//! exactly that (providers refuse an `input_reference` whose size differs from the video's).
//! Decoding runs on the blocking pool, a bounded number at once, under pixel and memory
//! limits; the size is read from the header first, so an image that already fits is passed
//! through untouched.

use std::io::Cursor;
use std::sync::OnceLock;

use bytes::Bytes;
use image::{ImageFormat, ImageReader, Limits};
use tokio::sync::Semaphore;

/// Why an image could not be fitted.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("the image is {0}x{1}, larger than {2} pixels")]
    TooLarge(u32, u32, u64),
    #[error("the image could not be decoded: {0}")]
    Undecodable(String),
    #[error("the video size '{0}' is not WIDTHxHEIGHT")]
    BadSize(String),
}

/// `720x1280` → `(720, 1280)`.
pub fn parse_size(size: &str) -> Option<(u32, u32)> {
    let (w, h) = size.split_once('x')?;
    let (w, h) = (w.trim().parse().ok()?, h.trim().parse().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}

/// Width and height from the image's header, without decoding it.
pub fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let s = imagesize::blob_size(bytes).ok()?;
    Some((u32::try_from(s.width).ok()?, u32::try_from(s.height).ok()?))
}

fn slots(n: usize) -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| Semaphore::new(n.max(1)))
}

/// What [`fit`] needs to know besides the image.
#[derive(Clone, Copy, Debug)]
pub struct FitLimits {
    pub max_pixels: u64,
    /// Images decoded at once (the first value seen sizes the process-wide pool).
    pub concurrency: usize,
}

/// `bytes` (of type `ext`: `png`, `jpg`, `webp` or `gif`) fitted to `size`: `None` when it
/// already has that size and is PNG, JPEG or WebP (or its header cannot be read: it goes
/// as it is, the provider decides), else the fitted image and its extension (`jpg` for a
/// JPEG, `png` otherwise).
pub async fn fit(
    bytes: Bytes,
    ext: &str,
    size: &str,
    limits: FitLimits,
) -> Result<Option<(Bytes, &'static str)>, FitError> {
    let (tw, th) = parse_size(size).ok_or_else(|| FitError::BadSize(size.into()))?;
    let Some((w, h)) = dimensions(&bytes) else {
        return Ok(None);
    };
    if (w, h) == (tw, th) && ext != "gif" {
        return Ok(None);
    }
    let pixels = u64::from(w) * u64::from(h);
    if pixels > limits.max_pixels || u64::from(tw) * u64::from(th) > limits.max_pixels {
        return Err(FitError::TooLarge(w, h, limits.max_pixels));
    }
    let _slot = slots(limits.concurrency)
        .acquire()
        .await
        .map_err(|e| FitError::Undecodable(e.to_string()))?;
    let jpeg = ext == "jpg";
    let max_alloc = limits.max_pixels.saturating_mul(8);
    tokio::task::spawn_blocking(move || fit_now(&bytes, tw, th, jpeg, max_alloc))
        .await
        .map_err(|e| FitError::Undecodable(e.to_string()))?
        .map(Some)
}

fn fit_now(
    bytes: &[u8],
    w: u32,
    h: u32,
    jpeg: bool,
    max_alloc: u64,
) -> Result<(Bytes, &'static str), FitError> {
    let bad = |e: image::ImageError| FitError::Undecodable(e.to_string());
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| FitError::Undecodable(e.to_string()))?;
    let mut lim = Limits::default();
    lim.max_alloc = Some(max_alloc);
    reader.limits(lim);
    let img = reader.decode().map_err(bad)?;
    let fitted = img.resize_to_fill(w, h, image::imageops::FilterType::Triangle);
    let mut out = Cursor::new(Vec::new());
    if jpeg {
        fitted
            .to_rgb8()
            .write_to(&mut out, ImageFormat::Jpeg)
            .map_err(bad)?;
        Ok((out.into_inner().into(), "jpg"))
    } else {
        fitted.write_to(&mut out, ImageFormat::Png).map_err(bad)?;
        Ok((out.into_inner().into(), "png"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Bytes {
        let img = image::RgbaImage::from_pixel(w, h, image::Rgba([10, 20, 30, 255]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner().into()
    }

    const LIMITS: FitLimits = FitLimits {
        max_pixels: 1_000_000,
        concurrency: 2,
    };

    #[tokio::test]
    async fn a_mismatched_image_is_fitted_and_a_fitting_one_left_alone() {
        let (out, ext) = fit(png(64, 48), "png", "32x32", LIMITS)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ext, "png");
        assert_eq!(dimensions(&out), Some((32, 32)));
        assert!(fit(png(32, 32), "png", "32x32", LIMITS)
            .await
            .unwrap()
            .is_none());
        // Unreadable headers go as they are.
        let fake = Bytes::from_static(b"\x89PNG\r\n\x1a\nfake");
        assert!(fit(fake, "png", "32x32", LIMITS).await.unwrap().is_none());
        let huge = FitLimits {
            max_pixels: 100,
            ..LIMITS
        };
        assert!(matches!(
            fit(png(64, 48), "png", "8x8", huge).await,
            Err(FitError::TooLarge(64, 48, 100))
        ));
        assert_eq!(parse_size("720x1280"), Some((720, 1280)));
        assert_eq!(parse_size("0x10"), None);
    }
}
