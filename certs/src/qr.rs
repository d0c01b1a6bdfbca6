//! QR codes: how a licence travels on paper and screens.
//!
//! Two encodings. [`QrEncoding::Compact`] puts the presentation in the code as it is, which
//! any SD-JWT reader understands. [`QrEncoding::Compressed`] follows the EU digital COVID
//! certificate: zlib, then base45 (RFC 9285), behind the prefix `TB1:`. Base45 fits the QR
//! alphanumeric mode, so the code is smaller for the same token.
//!
//! Reading is bounded at every step: image dimensions and allocation before decoding pixels,
//! the text length before base45, and the decompressed size (a zlib bomb is refused with
//! `licence.decompression_limit`). The result is only a token: it still goes through
//! [`crate::verify`].

use std::io::{Cursor, Write};

use flate2::Compression;
use flate2::write::ZlibEncoder;
use image::{ImageFormat, ImageReader, Luma};
use qrcode::{EcLevel, QrCode};

use crate::error::LicenceError;
use crate::status::inflate_bounded;

/// Prefix of compressed QR texts: Tongban, format version 1.
pub const QR_PREFIX: &str = "TB1:";

/// Largest image side accepted when reading a QR code, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 4096;

/// How a token is put into a QR code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrEncoding {
    /// The token as is.
    Compact,
    /// `TB1:` + base45(zlib(token)).
    Compressed,
}

/// A rendered QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrImages {
    /// The text inside the code.
    pub text: String,
    /// SVG document.
    pub svg: String,
    /// PNG image bytes.
    pub png: Vec<u8>,
}

const BASE45: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Encodes bytes as base45 (RFC 9285).
pub fn base45_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(2) * 3);
    let mut push = |v: usize| out.push(char::from(BASE45[v % 45]));
    for chunk in bytes.chunks(2) {
        if let [a, b] = chunk {
            let n = usize::from(*a) * 256 + usize::from(*b);
            push(n);
            push(n / 45);
            push(n / 2025);
        } else if let [a] = chunk {
            let n = usize::from(*a);
            push(n);
            push(n / 45);
        }
    }
    out
}

/// Decodes base45 (RFC 9285), refusing characters outside the alphabet, a dangling single
/// character and groups whose value does not fit their bytes.
pub fn base45_decode(text: &str) -> Result<Vec<u8>, LicenceError> {
    let values = text
        .bytes()
        .map(|c| {
            BASE45
                .iter()
                .position(|&a| a == c)
                .ok_or(LicenceError::BadBase45)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(values.len() / 3 * 2 + 1);
    for group in values.chunks(3) {
        match *group {
            [c, d, e] => {
                let n = c + d * 45 + e * 2025;
                let n = u16::try_from(n).map_err(|_| LicenceError::BadBase45)?;
                out.extend_from_slice(&n.to_be_bytes());
            }
            [c, d] => {
                let n = u8::try_from(c + d * 45).map_err(|_| LicenceError::BadBase45)?;
                out.push(n);
            }
            _ => return Err(LicenceError::BadBase45),
        }
    }
    Ok(out)
}

/// The text to put in a QR code for `token`.
pub fn qr_text(token: &str, encoding: QrEncoding) -> Result<String, LicenceError> {
    match encoding {
        QrEncoding::Compact => Ok(token.to_owned()),
        QrEncoding::Compressed => {
            let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
            let compressed = encoder
                .write_all(token.as_bytes())
                .and_then(|()| encoder.finish())
                .map_err(|e| LicenceError::Internal(format!("compressing a token: {e}")))?;
            Ok(format!("{QR_PREFIX}{}", base45_encode(&compressed)))
        }
    }
}

/// The token inside a QR text of either encoding. `max_token_bytes` bounds both the text and
/// the decompressed token.
pub fn token_from_qr_text(text: &str, max_token_bytes: usize) -> Result<String, LicenceError> {
    let too_large = LicenceError::TooLarge {
        what: "the QR text",
        limit: max_token_bytes,
    };
    let Some(body) = text.strip_prefix(QR_PREFIX) else {
        if text.len() > max_token_bytes {
            return Err(too_large);
        }
        return Ok(text.to_owned());
    };
    if body.len() > max_token_bytes.saturating_mul(2) {
        return Err(too_large);
    }
    let compressed = base45_decode(body)?;
    let token = inflate_bounded(&compressed, max_token_bytes)?;
    String::from_utf8(token).map_err(|_| LicenceError::Malformed {
        reason: "the decompressed token is not UTF-8",
    })
}

/// Renders `token` as a QR code (error correction level M) in SVG and PNG.
pub fn render(token: &str, encoding: QrEncoding) -> Result<QrImages, LicenceError> {
    let text = qr_text(token, encoding)?;
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|_| LicenceError::QrTooLarge)?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .build();
    let pixels = code.render::<Luma<u8>>().module_dimensions(4, 4).build();
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(pixels)
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|e| LicenceError::Internal(format!("encoding a PNG: {e}")))?;
    Ok(QrImages { text, svg, png })
}

/// Reads the token from a PNG or JPEG photo or scan of a QR code.
pub fn decode_image(bytes: &[u8], max_token_bytes: usize) -> Result<String, LicenceError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| LicenceError::ImageInvalid)?;
    if !matches!(reader.format(), Some(ImageFormat::Png | ImageFormat::Jpeg)) {
        return Err(LicenceError::ImageInvalid);
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|_| LicenceError::ImageInvalid)?
        .into_luma8();
    let (width, height) = image.dimensions();
    let width = usize::try_from(width).map_err(|_| LicenceError::ImageInvalid)?;
    let height = usize::try_from(height).map_err(|_| LicenceError::ImageInvalid)?;
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        image
            .get_pixel_checked(x as u32, y as u32)
            .map_or(255, |p| p.0[0])
    });
    let text = prepared
        .detect_grids()
        .into_iter()
        .find_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .ok_or(LicenceError::QrUnreadable)?;
    token_from_qr_text(&text, max_token_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9285_examples() {
        // RFC 9285 §4.3 examples.
        assert_eq!(base45_encode(b"AB"), "BB8");
        assert_eq!(base45_encode(b"Hello!!"), "%69 VD92EX0");
        assert_eq!(base45_encode(b"base-45"), "UJCLQE7W581");
        assert_eq!(base45_decode("QED8WEX0"), Ok(b"ietf!".to_vec()));
        // "GGW" is 65536, one more than two bytes hold; lower case and a lone character are
        // outside the encoding.
        for bad in ["GGW", "bb8", "A", "QED8WEX0A0"] {
            assert_eq!(
                base45_decode(bad).map_err(|e| e.code()),
                Err("licence.bad_base45"),
                "{bad}"
            );
        }
    }

    #[test]
    fn compressed_round_trip_and_bomb() {
        let token = "eyJhbGciOiJFUzI1NiJ9.e30.sig~abc~";
        let text = qr_text(token, QrEncoding::Compressed).expect("encode");
        assert!(text.starts_with(QR_PREFIX));
        assert_eq!(token_from_qr_text(&text, 1024).as_deref(), Ok(token));
        let bomb = qr_text(&"A".repeat(1_000_000), QrEncoding::Compressed).expect("encode");
        assert!(bomb.len() < 4000);
        assert_eq!(
            token_from_qr_text(&bomb, 16 * 1024).map_err(|e| e.code()),
            Err("licence.decompression_limit")
        );
    }

    #[test]
    fn png_round_trip() {
        let token = "eyJhbGciOiJFUzI1NiJ9.eyJhIjoxfQ.c2ln~WyJzIiwiYSIsImIiXQ~";
        for encoding in [QrEncoding::Compact, QrEncoding::Compressed] {
            let images = render(token, encoding).expect("render");
            assert!(images.svg.starts_with("<?xml"));
            assert_eq!(decode_image(&images.png, 16 * 1024).as_deref(), Ok(token));
        }
        assert_eq!(
            decode_image(b"not an image", 1024).map_err(|e| e.code()),
            Err("licence.image_invalid")
        );
    }
}
