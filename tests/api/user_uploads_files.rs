//! Real tiny files for the upload tests: images encoded with the `image` crate (noisy, so
//! they are over the 1 KiB minimum), and video container headers the sniffer recognises.

use std::io::Cursor;

use image::{ImageFormat, RgbImage};

/// A `w`×`h` image of deterministic noise.
fn noise(w: u32, h: u32) -> RgbImage {
    let mut x: u32 = 0x1234_5678;
    RgbImage::from_fn(w, h, |_, _| {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let b = x.to_be_bytes();
        image::Rgb([b[0], b[1], b[2]])
    })
}

pub fn encoded(w: u32, h: u32, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    noise(w, h).write_to(&mut out, format).unwrap();
    out.into_inner()
}

pub fn png(w: u32, h: u32) -> Vec<u8> {
    encoded(w, h, ImageFormat::Png)
}

/// An ISO BMFF file (`ftyp` of `brand`, then a `free` box) of `len` bytes.
pub fn bmff(brand: &[u8; 4], len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&24u32.to_be_bytes());
    v.extend_from_slice(b"ftyp");
    v.extend_from_slice(brand);
    v.extend_from_slice(&0x200u32.to_be_bytes());
    v.extend_from_slice(brand);
    v.extend_from_slice(b"mp41");
    let rest = (len - v.len()) as u32;
    v.extend_from_slice(&rest.to_be_bytes());
    v.extend_from_slice(b"free");
    v.resize(len, 0);
    v
}

/// A WebM (Matroska, DocType `webm`) header padded to `len` bytes.
pub fn webm(len: usize) -> Vec<u8> {
    let mut v = vec![0x1A, 0x45, 0xDF, 0xA3, 0x9F];
    v.extend_from_slice(&[0x42, 0x86, 0x81, 0x01]); // EBMLVersion 1
    v.extend_from_slice(&[0x42, 0xF7, 0x81, 0x01]); // EBMLReadVersion 1
    v.extend_from_slice(&[0x42, 0xF2, 0x81, 0x04]); // EBMLMaxIDLength 4
    v.extend_from_slice(&[0x42, 0xF3, 0x81, 0x08]); // EBMLMaxSizeLength 8
    v.extend_from_slice(&[0x42, 0x82, 0x84]); // DocType
    v.extend_from_slice(b"webm");
    v.extend_from_slice(&[0x42, 0x87, 0x81, 0x04]); // DocTypeVersion 4
    v.extend_from_slice(&[0x42, 0x85, 0x81, 0x02]); // DocTypeReadVersion 2
    v.resize(len, 0);
    v
}
