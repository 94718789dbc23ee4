//! BER input, DER parsing: rewrites what real servers send (indefinite lengths, constructed
//! OCTET STRINGs, non-minimal lengths) as definite-length DER-style encoding in a caller
//! buffer, so the rest of the codecs parse strict DER with the `der` crate.
//!
//! X.690 section 8.1 (BER) vs section 10 (DER). The rewrite is schema-free, so it only
//! touches what is unambiguous without a schema: lengths, and *universal* constructed OCTET
//! STRINGs (tag `0x24`), which become primitive. A constructed context-specific element (the
//! `[0] IMPLICIT OCTET STRING` of CMS encrypted content) is left constructed: only the schema
//! knows it is a string, so the CMS parser joins its segments. SET ordering is not changed.
//!
//! The output is never much longer than the input: at most 2 bytes per indefinite-length
//! element (`0x80 .. 00 00` becomes a long-form length of up to 5 bytes). Pass an `out` of
//! `input.len() + 64` for any real message, or read the size needed from
//! [`DecodeError::OutputTooSmall`].

#![deny(clippy::arithmetic_side_effects)]

use crate::error::DecodeError;

/// How deep elements may nest, on every path: constructed elements and constructed OCTET
/// STRING segments inside each other alike (deeper input is [`DecodeError::TooDeep`]). Real
/// CMS and X.509 stay under 16.
///
/// Stack: the normalizer recurses once per level. Measured on thumbv7em-none-eabihf at
/// opt-level "s" (`fuzz/replay32`, stack painting, nested inputs of 1 to 33 levels): 232
/// bytes per level of constructed elements (`convert` + `children`), 112 per level of
/// constructed OCTET STRING segments (`children` alone); at most about 7.5 KiB for the
/// deepest accepted input, on top of the caller's frame.
pub const MAX_DEPTH: usize = 32;

/// Length of an element's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Len {
    Definite(usize),
    Indefinite,
}

/// The identifier and length octets of one element.
#[derive(Debug, Clone, Copy)]
struct Header {
    /// Tag octets (1 to 4 bytes) start at the element's offset.
    tag_len: usize,
    first_tag_byte: u8,
    constructed: bool,
    len: Len,
    /// Tag plus length octets.
    header_len: usize,
}

fn byte(input: &[u8], at: usize) -> Result<u8, DecodeError> {
    input.get(at).copied().ok_or(DecodeError::Truncated)
}

/// `a + b` for offsets and lengths taken from input: never wraps (a 32-bit `usize` is easily
/// reached by a 4-byte length field).
fn add(a: usize, b: usize) -> Result<usize, DecodeError> {
    a.checked_add(b).ok_or(DecodeError::InvalidLength)
}

fn read_header(input: &[u8], at: usize) -> Result<Header, DecodeError> {
    let first = byte(input, at)?;
    let mut tag_len = 1;
    if first & 0x1f == 0x1f {
        // High tag number form: continuation bytes have bit 8 set. Limit to 3 of them.
        loop {
            let b = byte(input, add(at, tag_len)?)?;
            tag_len = add(tag_len, 1)?;
            if b & 0x80 == 0 {
                break;
            }
            if tag_len > 4 {
                return Err(DecodeError::InvalidValue { what: "tag number" });
            }
        }
    }
    let l = byte(input, add(at, tag_len)?)?;
    let constructed = first & 0x20 != 0;
    let (len, len_octets) = match l {
        0x00..=0x7f => (Len::Definite(usize::from(l)), 1),
        0x80 if constructed => (Len::Indefinite, 1),
        0x80 => return Err(DecodeError::IndefiniteLength),
        0x81..=0x84 => {
            let n = usize::from(l & 0x7f);
            let mut v: usize = 0;
            for i in 0..n {
                v = v.checked_mul(256).ok_or(DecodeError::InvalidLength)? | usize::from(byte(input, add(add(at, tag_len)?, add(1, i)?)?)?);
            }
            (Len::Definite(v), 1 + n)
        }
        _ => return Err(DecodeError::InvalidLength),
    };
    Ok(Header { tag_len, first_tag_byte: first, constructed, len, header_len: add(tag_len, len_octets)? })
}

fn write_length(out: &mut Out<'_>, len: usize) -> Result<(), DecodeError> {
    let n = super::writer::length_len(len);
    if n == 1 {
        return out.put(&[len as u8]);
    }
    // n is 2..=9 (a length of 1 to 8 octets after the first).
    let octets = n.checked_sub(1).ok_or(DecodeError::InvalidLength)?;
    out.put(&[0x80 | u8::try_from(octets).map_err(|_| DecodeError::InvalidLength)?])?;
    let be = (len as u64).to_be_bytes();
    let from = be.len().checked_sub(octets).ok_or(DecodeError::InvalidLength)?;
    out.put(be.get(from..).ok_or(DecodeError::InvalidLength)?)
}

/// Output cursor; with `buf: None` it only counts.
struct Out<'o> {
    buf: Option<&'o mut [u8]>,
    pos: usize,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        let end = self.pos.checked_add(bytes.len()).ok_or(DecodeError::InvalidLength)?;
        if let Some(buf) = self.buf.as_deref_mut() {
            buf.get_mut(self.pos..end).ok_or(DecodeError::OutputTooSmall { needed: end })?.copy_from_slice(bytes);
        }
        self.pos = end;
        Ok(())
    }
}

/// What converting one element gives: input bytes consumed and output bytes produced.
struct Converted {
    consumed: usize,
    produced: usize,
}

/// Converts the element at `at`, whose container ends at `limit`, writing into `out` (or only
/// measuring when `out.buf` is `None`).
fn convert(input: &[u8], at: usize, limit: usize, depth: usize, out: &mut Out<'_>) -> Result<Converted, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let h = read_header(input, at)?;
    let content_start = add(at, h.header_len)?;
    if content_start > limit {
        return Err(DecodeError::Truncated);
    }
    if !h.constructed {
        let Len::Definite(len) = h.len else { return Err(DecodeError::IndefiniteLength) };
        let end = add(content_start, len)?;
        if end > limit {
            return Err(DecodeError::Truncated);
        }
        let start_pos = out.pos;
        out.put(input.get(at..add(at, h.tag_len)?).ok_or(DecodeError::Truncated)?)?;
        write_length(out, len)?;
        out.put(input.get(content_start..end).ok_or(DecodeError::Truncated)?)?;
        return Ok(Converted { consumed: end.saturating_sub(at), produced: out.pos.saturating_sub(start_pos) });
    }
    let merge_string = h.first_tag_byte == 0x24;
    // First pass: measure the converted content (and find where the input element ends).
    let mut probe = Out { buf: None, pos: 0 };
    let (consumed_content, content_len) = children(input, content_start, limit, h.len, depth, merge_string, &mut probe)?;
    let start_pos = out.pos;
    if merge_string {
        out.put(&[0x04])?;
    } else {
        out.put(input.get(at..add(at, h.tag_len)?).ok_or(DecodeError::Truncated)?)?;
    }
    write_length(out, content_len)?;
    if out.buf.is_some() {
        children(input, content_start, limit, h.len, depth, merge_string, out)?;
    } else {
        out.pos = add(out.pos, content_len)?;
    }
    Ok(Converted { consumed: add(h.header_len, consumed_content)?, produced: out.pos.saturating_sub(start_pos) })
}

/// Converts the children of a constructed element. Returns (input consumed including an
/// end-of-contents marker, output produced). With `merge_string`, children must be OCTET
/// STRINGs and only their contents are written.
fn children(
    input: &[u8],
    start: usize,
    limit: usize,
    len: Len,
    depth: usize,
    merge_string: bool,
    out: &mut Out<'_>,
) -> Result<(usize, usize), DecodeError> {
    // Checked here too: nested constructed OCTET STRING segments recurse through this
    // function alone, without passing through `convert`.
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let end = match len {
        Len::Definite(l) => {
            let e = start.checked_add(l).ok_or(DecodeError::InvalidLength)?;
            if e > limit {
                return Err(DecodeError::Truncated);
            }
            e
        }
        Len::Indefinite => limit,
    };
    let out_start = out.pos;
    let mut at = start;
    loop {
        if len == Len::Indefinite {
            let eoc_end = add(at, 2)?;
            if eoc_end > end {
                return Err(DecodeError::Truncated);
            }
            if input.get(at..eoc_end) == Some(&[0, 0]) {
                return Ok((eoc_end.saturating_sub(start), out.pos.saturating_sub(out_start)));
            }
        } else if at == end {
            return Ok((at.saturating_sub(start), out.pos.saturating_sub(out_start)));
        } else if at > end {
            return Err(DecodeError::Truncated);
        }
        if merge_string {
            let h = read_header(input, at)?;
            match (h.first_tag_byte, h.len) {
                (0x04, Len::Definite(l)) => {
                    let cs = add(at, h.header_len)?;
                    let ce = add(cs, l)?;
                    if ce > end {
                        return Err(DecodeError::Truncated);
                    }
                    out.put(input.get(cs..ce).ok_or(DecodeError::Truncated)?)?;
                    at = ce;
                }
                (0x24, _) => {
                    let (consumed, _) = children(input, add(at, h.header_len)?, end, h.len, depth.saturating_add(1), true, out)?;
                    at = add(add(at, h.header_len)?, consumed)?;
                }
                (found, _) => return Err(DecodeError::UnexpectedTag { expected: 0x04, found }),
            }
        } else {
            let c = convert(input, at, end, depth.saturating_add(1), out)?;
            at = add(at, c.consumed)?;
        }
    }
}

/// Rewrites the single BER element in `input` with definite lengths and primitive OCTET
/// STRINGs into `out`. Fails with [`DecodeError::TrailingData`] if bytes follow it.
pub fn normalize<'o>(input: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], DecodeError> {
    let mut probe = Out { buf: None, pos: 0 };
    let measured = convert(input, 0, input.len(), 0, &mut probe)?;
    if measured.consumed != input.len() {
        return Err(DecodeError::TrailingData);
    }
    if out.len() < measured.produced {
        return Err(DecodeError::OutputTooSmall { needed: measured.produced });
    }
    let mut w = Out { buf: Some(&mut *out), pos: 0 };
    convert(input, 0, input.len(), 0, &mut w)?;
    out.get(..measured.produced).ok_or(DecodeError::OutputTooSmall { needed: measured.produced })
}

/// Whether `input` is one element in definite-length form throughout, with no constructed
/// OCTET STRING: then it needs no [`normalize`] copy.
pub fn is_definite(input: &[u8]) -> bool {
    let mut probe = Out { buf: None, pos: 0 };
    match convert(input, 0, input.len(), 0, &mut probe) {
        Ok(c) => c.consumed == input.len() && c.produced == input.len() && !has_constructed_string(input, 0, input.len(), 0),
        Err(_) => false,
    }
}

/// Whether a constructed OCTET STRING occurs in `input[at..end]`. Input already checked by
/// `convert`; still bounded on its own: depth, and offsets that never wrap or run backwards.
fn has_constructed_string(input: &[u8], mut at: usize, end: usize, depth: usize) -> bool {
    while at < end && depth <= MAX_DEPTH {
        let Ok(h) = read_header(input, at) else { return false };
        let Len::Definite(l) = h.len else { return true };
        if h.first_tag_byte == 0x24 {
            return true;
        }
        let (Ok(cs), Some(next)) = (add(at, h.header_len), at.checked_add(h.header_len).and_then(|c| c.checked_add(l))) else {
            return false;
        };
        if next > end {
            return false;
        }
        if h.constructed && has_constructed_string(input, cs, next, depth.saturating_add(1)) {
            return true;
        }
        at = next;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(input: &[u8]) -> Result<std::vec::Vec<u8>, DecodeError> {
        let mut out = [0u8; 512];
        normalize(input, &mut out).map(|s| s.to_vec())
    }

    #[test]
    fn definite_der_passes_through_unchanged() {
        let der = [0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xaa];
        assert_eq!(norm(&der).unwrap(), der);
        assert!(is_definite(&der));
    }

    #[test]
    fn indefinite_lengths_become_definite() {
        // SEQUENCE (indefinite) { INTEGER 5, SEQUENCE (indefinite) { NULL } }
        let ber = [0x30, 0x80, 0x02, 0x01, 0x05, 0x30, 0x80, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(norm(&ber).unwrap(), [0x30, 0x07, 0x02, 0x01, 0x05, 0x30, 0x02, 0x05, 0x00]);
        assert!(!is_definite(&ber));
    }

    #[test]
    fn constructed_octet_strings_are_joined_recursively() {
        // OCTET STRING (constructed, indefinite) { "ab", (constructed) { "c" }, "" }
        let ber = [0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x24, 0x03, 0x04, 0x01, b'c', 0x04, 0x00, 0x00, 0x00];
        assert_eq!(norm(&ber).unwrap(), [0x04, 0x03, b'a', b'b', b'c']);
        assert!(!is_definite(&[0x24, 0x03, 0x04, 0x01, b'c']));
    }

    #[test]
    fn context_specific_constructed_elements_are_kept() {
        let ber = [0xa0, 0x80, 0x04, 0x01, 0x01, 0x04, 0x01, 0x02, 0x00, 0x00];
        assert_eq!(norm(&ber).unwrap(), [0xa0, 0x06, 0x04, 0x01, 0x01, 0x04, 0x01, 0x02]);
    }

    #[test]
    fn long_lengths_and_non_minimal_lengths_are_rewritten_minimally() {
        let mut ber = std::vec![0x04, 0x82, 0x00, 0x03, 1, 2, 3];
        assert_eq!(norm(&ber).unwrap(), [0x04, 0x03, 1, 2, 3]);
        ber = std::vec![0x30, 0x80];
        ber.extend([0x04, 0x81, 0xc8]);
        ber.extend([7u8; 200]);
        ber.extend([0, 0]);
        let out = norm(&ber).unwrap();
        assert_eq!(&out[..6], &[0x30, 0x81, 0xcb, 0x04, 0x81, 0xc8]);
        assert_eq!(out.len(), 3 + 3 + 200);
    }

    #[test]
    fn high_tag_numbers_are_copied() {
        let ber = [0xbf, 0x81, 0x00, 0x80, 0x05, 0x00, 0x00, 0x00];
        assert_eq!(norm(&ber).unwrap(), [0xbf, 0x81, 0x00, 0x02, 0x05, 0x00]);
    }

    /// Constructed OCTET STRINGs nested in each other recurse through `children` alone: the
    /// depth bound must hold there too (it did not: a few KiB of reply ran a 16 KiB stack out).
    /// Run on a 64 KiB thread so an unbounded recursion overflows instead of passing.
    #[test]
    fn nested_constructed_octet_strings_are_bounded() {
        let levels = 5000;
        let mut ber: std::vec::Vec<u8> = core::iter::repeat_n([0x24u8, 0x80], levels).flatten().collect();
        ber.extend([0x04, 0x01, 0xaa]);
        ber.extend(core::iter::repeat_n(0u8, 2 * levels));
        let shallow: std::vec::Vec<u8> = [0x24, 0x80, 0x24, 0x80, 0x04, 0x01, 0xaa, 0, 0, 0, 0].to_vec();
        let result = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || (norm(&ber), is_definite(&ber), norm(&shallow)))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(result.0, Err(DecodeError::TooDeep));
        assert!(!result.1);
        assert_eq!(result.2.unwrap(), [0x04, 0x01, 0xaa]);
    }

    /// Length fields at their largest: offsets are checked, never wrapped (on 32-bit targets a
    /// 4-byte length reaches `usize::MAX`).
    #[test]
    fn maximal_lengths_never_wrap() {
        for input in [
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x00][..],
            &[0x30, 0x80, 0x04, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00][..],
            &[0x24, 0x80, 0x04, 0x84, 0xff, 0xff, 0xff, 0xfe, 0x00, 0x00][..],
            &[0x30, 0x06, 0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
        ] {
            assert!(norm(input).is_err(), "{input:02x?}");
            assert!(!is_definite(input));
        }
    }

    /// Table of malformed inputs: each gives its typed error, never a panic.
    #[test]
    fn malformed_inputs_give_typed_errors() {
        let deep: std::vec::Vec<u8> = core::iter::repeat_n([0x30u8, 0x80], 40).flatten().chain(core::iter::repeat_n(0u8, 80)).collect();
        let cases: &[(&[u8], DecodeError)] = &[
            (&[], DecodeError::Truncated),
            (&[0x30], DecodeError::Truncated),
            (&[0x30, 0x05, 0x02, 0x01], DecodeError::Truncated),
            (&[0x04, 0x80, 0x00, 0x00], DecodeError::IndefiniteLength),
            (&[0x30, 0x80, 0x05, 0x00], DecodeError::Truncated),
            (&[0x30, 0x85, 1, 1, 1, 1, 1], DecodeError::InvalidLength),
            (&[0x30, 0xff], DecodeError::InvalidLength),
            (&[0x30, 0x00, 0x00], DecodeError::TrailingData),
            (&[0x30, 0x03, 0x02, 0x05, 0x01], DecodeError::Truncated),
            (&[0x24, 0x03, 0x02, 0x01, 0x01], DecodeError::UnexpectedTag { expected: 0x04, found: 0x02 }),
            (&[0x1f, 0x81, 0x81, 0x81, 0x81, 0x01, 0x00], DecodeError::InvalidValue { what: "tag number" }),
            (&deep, DecodeError::TooDeep),
        ];
        for (input, expected) in cases {
            assert_eq!(norm(input).unwrap_err(), *expected, "input {input:02x?}");
            assert!(!is_definite(input));
        }
        let mut small = [0u8; 3];
        assert_eq!(normalize(&[0x30, 0x03, 0x02, 0x01, 0x05], &mut small), Err(DecodeError::OutputTooSmall { needed: 5 }));
        assert_eq!(small, [0; 3], "nothing written when the output is too small");
    }
}
