//! Base64 message bodies as EST carries them (RFC 7030 section 3.2.2, RFC 8951 section 3):
//! decoded ignoring all whitespace (and the trailing NUL libest's default /csrattrs sends),
//! encoded either wrapped at a line length (libest requires line breaks) or on one line
//! (est-ca rejects any).

#![deny(clippy::arithmetic_side_effects)]

use crate::error::{DecodeError, EncodeError};
use base64ct::{Base64, Encoding};

/// Line style of an encoded body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LineStyle {
    /// Lines of this many characters, each ended by `\n` (64 is what libest sends and wants).
    Wrapped(usize),
    /// One line, no line break at all.
    OneLine,
}

impl Default for LineStyle {
    fn default() -> Self {
        Self::Wrapped(64)
    }
}

/// Decodes a base64 body into `out`, skipping ASCII whitespace anywhere and NUL bytes at the
/// end. Anything else that is not base64 is an error, as is padding in the middle.
pub fn decode<'o>(body: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], DecodeError> {
    let end = body.iter().rposition(|b| *b != 0).map_or(0, |p| p.saturating_add(1));
    let mut group = [0u8; 4];
    let mut filled = 0;
    let mut written = 0usize;
    let mut finished = false;
    for &b in body.get(..end).unwrap_or(&[]) {
        if b.is_ascii_whitespace() {
            continue;
        }
        if finished {
            return Err(DecodeError::InvalidValue { what: "base64 after padding" });
        }
        if let Some(slot) = group.get_mut(filled) {
            *slot = b;
        }
        filled = filled.saturating_add(1);
        if filled == 4 {
            let mut three = [0u8; 3];
            let dec = Base64::decode(group, &mut three).map_err(|_| DecodeError::InvalidValue { what: "base64" })?;
            let n = dec.len();
            let next = written.checked_add(n).ok_or(DecodeError::InvalidLength)?;
            out.get_mut(written..next).ok_or(DecodeError::OutputTooSmall { needed: next })?.copy_from_slice(dec);
            written = next;
            finished = n < 3;
            filled = 0;
        }
    }
    if filled != 0 {
        return Err(DecodeError::InvalidValue { what: "base64 length" });
    }
    out.get(..written).ok_or(DecodeError::OutputTooSmall { needed: written })
}

/// The encoded length of `len` bytes in `style` (saturating at `usize::MAX`, which no buffer
/// has, so an absurd length fails as too small a buffer).
pub fn encoded_len(len: usize, style: LineStyle) -> usize {
    let chars = len.div_ceil(3).saturating_mul(4);
    match style {
        LineStyle::OneLine => chars,
        LineStyle::Wrapped(line) if line > 0 => chars.saturating_add(chars.div_ceil(line)),
        LineStyle::Wrapped(_) => chars,
    }
}

/// Encodes `data` as standard base64 into `out` in the given line style.
pub fn encode<'o>(data: &[u8], style: LineStyle, out: &'o mut [u8]) -> Result<&'o [u8], EncodeError> {
    let needed = encoded_len(data.len(), style);
    if out.len() < needed {
        return Err(EncodeError::BufferTooSmall { needed });
    }
    let line = match style {
        LineStyle::Wrapped(l) if l >= 4 && l % 4 == 0 => l,
        LineStyle::Wrapped(_) => return Err(EncodeError::InvalidValue { what: "line length (a multiple of 4)" }),
        LineStyle::OneLine => usize::MAX,
    };
    let per_line_bytes = if line == usize::MAX { data.len().max(1) } else { (line / 4).saturating_mul(3) };
    let mut at = 0usize;
    for chunk in data.chunks(per_line_bytes) {
        for piece in chunk.chunks(48) {
            let mut enc = [0u8; 64];
            let s = Base64::encode(piece, &mut enc).map_err(|_| EncodeError::InvalidValue { what: "base64" })?;
            let next = at.saturating_add(s.len());
            out.get_mut(at..next).ok_or(EncodeError::BufferTooSmall { needed })?.copy_from_slice(s.as_bytes());
            at = next;
        }
        if line != usize::MAX {
            *out.get_mut(at).ok_or(EncodeError::BufferTooSmall { needed })? = b'\n';
            at = at.saturating_add(1);
        }
    }
    out.get(..at).ok_or(EncodeError::BufferTooSmall { needed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_ignores_whitespace_and_trailing_nul() {
        let mut out = [0u8; 32];
        assert_eq!(decode(b"aGVs\r\nbG8g\n d29y bGQ=\n\0", &mut out).unwrap(), b"hello world");
        assert_eq!(decode(b"", &mut out).unwrap(), b"");
        assert!(decode(b"aGVsbG8=aGVs", &mut out).is_err(), "data after padding");
        assert!(decode(b"aGVsb", &mut out).is_err(), "truncated group");
        assert!(decode(b"aGV*bG8=", &mut out).is_err());
        assert!(decode(b"aG\0Vs", &mut out).is_err(), "NUL only at the end");
        assert_eq!(decode(b"aGVsbG8gd29ybGQ=", &mut out[..5]), Err(DecodeError::OutputTooSmall { needed: 6 }));
    }

    #[test]
    fn encoding_wraps_at_64_or_stays_on_one_line() {
        let data: [u8; 100] = core::array::from_fn(|i| i as u8);
        let mut out = [0u8; 256];
        let wrapped = encode(&data, LineStyle::default(), &mut out).unwrap().to_vec();
        let lines: std::vec::Vec<&[u8]> = wrapped.split(|b| *b == b'\n').collect();
        assert_eq!(lines.len(), 4, "3 lines and the empty rest after the final newline");
        assert_eq!(lines[0].len(), 64);
        assert_eq!(wrapped.len(), encoded_len(100, LineStyle::default()));
        let mut back = [0u8; 128];
        assert_eq!(decode(&wrapped, &mut back).unwrap(), &data[..]);
        let one = encode(&data, LineStyle::OneLine, &mut out).unwrap().to_vec();
        assert!(!one.contains(&b'\n'));
        assert_eq!(one.len(), 136);
        assert_eq!(decode(&one, &mut back).unwrap(), &data[..]);
        assert_eq!(encode(&data, LineStyle::OneLine, &mut out[..135]), Err(EncodeError::BufferTooSmall { needed: 136 }));
        assert!(encode(&data, LineStyle::Wrapped(10), &mut out).is_err());
    }
}
