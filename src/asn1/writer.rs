//! A two-pass DER writer: every element is measured before its header is written, so nested
//! structures come out in one forward pass over a caller buffer, without allocation.
//!
//! [`encode`] measures the whole output first: a buffer that is too small is reported with
//! the size needed and left untouched. `SET OF` contents are sorted in place after writing
//! (X.690 section 11.6), which is what DER asks of signed attributes and attribute sets.

use super::tlv::{Tlv, tag};
use crate::error::EncodeError;
use der::asn1::ObjectIdentifier;

/// Output cursor; with no buffer it only counts.
pub struct Writer<'o> {
    buf: Option<&'o mut [u8]>,
    pos: usize,
}

/// What the writers take: a function that writes (or measures) some contents.
///
/// The generic entry points ([`encode`], [`measure`], [`Writer::tlv`], ...) are thin wrappers
/// over one non-generic body each taking this as `&dyn`: without that, each closure in the
/// codecs gets its own copy of the measuring and header logic (about 6 KiB of flash on Cortex-M).
type Contents<'f> = dyn Fn(&mut Writer<'_>) -> Result<(), EncodeError> + 'f;

/// Encodes with `f` into `out`: measures first, then writes. Returns the encoding.
pub fn encode<F>(out: &mut [u8], f: F) -> Result<&[u8], EncodeError>
where
    F: Fn(&mut Writer<'_>) -> Result<(), EncodeError>,
{
    encode_dyn(out, &f)
}

fn encode_dyn<'o>(out: &'o mut [u8], f: &Contents<'_>) -> Result<&'o [u8], EncodeError> {
    let needed = measure_dyn(f)?;
    if out.len() < needed {
        return Err(EncodeError::BufferTooSmall { needed });
    }
    let mut w = Writer { buf: Some(&mut *out), pos: 0 };
    f(&mut w)?;
    if w.pos != needed {
        return Err(EncodeError::InvalidValue { what: "encoding changed between passes" });
    }
    out.get(..needed).ok_or(EncodeError::BufferTooSmall { needed })
}

/// The length `f` writes.
pub fn measure<F>(f: &F) -> Result<usize, EncodeError>
where
    F: Fn(&mut Writer<'_>) -> Result<(), EncodeError>,
{
    measure_dyn(f)
}

fn measure_dyn(f: &Contents<'_>) -> Result<usize, EncodeError> {
    let mut m = Writer { buf: None, pos: 0 };
    f(&mut m)?;
    Ok(m.pos)
}

/// Octets of a DER length header for `len` content octets.
pub const fn length_len(len: usize) -> usize {
    match len {
        0..=0x7f => 1,
        0x80..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xff_ffff => 4,
        _ => 5,
    }
}

/// Octets of a whole element with `len` content octets and a one-byte tag.
pub const fn tlv_len(len: usize) -> usize {
    1 + length_len(len) + len
}

impl Writer<'_> {
    /// Bytes written (or counted) so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether this pass writes (`false`: it only measures).
    pub fn is_writing(&self) -> bool {
        self.buf.is_some()
    }

    /// Appends raw, already-encoded bytes.
    pub fn raw(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.pos.checked_add(bytes.len()).ok_or(EncodeError::InvalidValue { what: "length" })?;
        if let Some(buf) = self.buf.as_deref_mut() {
            buf.get_mut(self.pos..end).ok_or(EncodeError::BufferTooSmall { needed: end })?.copy_from_slice(bytes);
        }
        self.pos = end;
        Ok(())
    }

    /// Advances over `len` bytes without writing them (the caller fills them in after the
    /// encoding is done, e.g. with ciphertext made in place).
    pub fn skip(&mut self, len: usize) -> Result<(), EncodeError> {
        let end = self.pos.checked_add(len).ok_or(EncodeError::InvalidValue { what: "length" })?;
        if let Some(buf) = self.buf.as_deref_mut()
            && buf.len() < end
        {
            return Err(EncodeError::BufferTooSmall { needed: end });
        }
        self.pos = end;
        Ok(())
    }

    /// Writes a tag and a DER length.
    pub fn header(&mut self, t: u8, len: usize) -> Result<(), EncodeError> {
        self.raw(&[t])?;
        let n = length_len(len);
        if n == 1 {
            return self.raw(&[len as u8]);
        }
        self.raw(&[0x80 | (n as u8 - 1)])?;
        let be = (len as u64).to_be_bytes();
        self.raw(be.get(be.len() - (n - 1)..).unwrap_or(&[]))
    }

    /// Writes an element with tag `t` whose contents `f` writes.
    pub fn tlv<F>(&mut self, t: u8, f: F) -> Result<(), EncodeError>
    where
        F: Fn(&mut Writer<'_>) -> Result<(), EncodeError>,
    {
        self.tlv_dyn(t, &f)
    }

    fn tlv_dyn(&mut self, t: u8, f: &Contents<'_>) -> Result<(), EncodeError> {
        let len = measure_dyn(f)?;
        self.header(t, len)?;
        if self.buf.is_some() {
            let start = self.pos;
            f(self)?;
            if self.pos - start != len {
                return Err(EncodeError::InvalidValue { what: "encoding changed between passes" });
            }
        } else {
            self.pos += len;
        }
        Ok(())
    }

    /// `SEQUENCE { f }`
    pub fn sequence<F>(&mut self, f: F) -> Result<(), EncodeError>
    where
        F: Fn(&mut Writer<'_>) -> Result<(), EncodeError>,
    {
        self.tlv_dyn(tag::SEQUENCE, &f)
    }

    /// `SET OF` (or an IMPLICIT-tagged SET OF with tag `t`): writes the elements `f` writes,
    /// then sorts them by their encodings.
    pub fn set_of<F>(&mut self, t: u8, f: F) -> Result<(), EncodeError>
    where
        F: Fn(&mut Writer<'_>) -> Result<(), EncodeError>,
    {
        self.set_of_dyn(t, &f)
    }

    fn set_of_dyn(&mut self, t: u8, f: &Contents<'_>) -> Result<(), EncodeError> {
        let len = measure_dyn(f)?;
        self.header(t, len)?;
        let start = self.pos;
        if self.buf.is_some() {
            f(self)?;
        } else {
            self.pos += len;
        }
        if let Some(buf) = self.buf.as_deref_mut() {
            sort_elements(buf.get_mut(start..start + len).ok_or(EncodeError::BufferTooSmall { needed: start + len })?)?;
        }
        Ok(())
    }

    /// A primitive element with contents `value`.
    pub fn primitive(&mut self, t: u8, value: &[u8]) -> Result<(), EncodeError> {
        self.header(t, value.len())?;
        self.raw(value)
    }

    /// OBJECT IDENTIFIER
    pub fn oid(&mut self, o: &ObjectIdentifier) -> Result<(), EncodeError> {
        self.primitive(tag::OID, o.as_bytes())
    }

    /// NULL
    pub fn null(&mut self) -> Result<(), EncodeError> {
        self.raw(&[tag::NULL, 0])
    }

    /// BOOLEAN
    pub fn boolean(&mut self, v: bool) -> Result<(), EncodeError> {
        self.raw(&[tag::BOOLEAN, 1, if v { 0xff } else { 0 }])
    }

    /// A non-negative INTEGER from its big-endian magnitude (leading zeros are stripped and
    /// a zero octet added where the top bit is set).
    pub fn unsigned_integer(&mut self, magnitude: &[u8]) -> Result<(), EncodeError> {
        let first = magnitude.iter().position(|b| *b != 0).unwrap_or(magnitude.len());
        let m = magnitude.get(first..).unwrap_or(&[]);
        match m.first() {
            None => self.raw(&[tag::INTEGER, 1, 0]),
            Some(b) if b & 0x80 != 0 => {
                self.header(tag::INTEGER, m.len() + 1)?;
                self.raw(&[0])?;
                self.raw(m)
            }
            Some(_) => self.primitive(tag::INTEGER, m),
        }
    }

    /// A small non-negative INTEGER.
    pub fn small_integer(&mut self, v: u32) -> Result<(), EncodeError> {
        self.unsigned_integer(&v.to_be_bytes())
    }

    /// OCTET STRING
    pub fn octet_string(&mut self, v: &[u8]) -> Result<(), EncodeError> {
        self.primitive(tag::OCTET_STRING, v)
    }

    /// BIT STRING with no unused bits.
    pub fn bit_string(&mut self, v: &[u8]) -> Result<(), EncodeError> {
        self.header(tag::BIT_STRING, v.len() + 1)?;
        self.raw(&[0])?;
        self.raw(v)
    }

    /// A BIT STRING of named bits (bit `n` of `bits` is named bit `n`), DER-trimmed (X.690
    /// section 11.2.2: no trailing zero bits).
    pub fn named_bits(&mut self, bits: u16) -> Result<(), EncodeError> {
        let mut bytes = [0u8; 2];
        for n in 0..16 {
            if bits & (1 << n) != 0
                && let Some(b) = bytes.get_mut(n / 8)
            {
                *b |= 0x80 >> (n % 8);
            }
        }
        if bits == 0 {
            return self.raw(&[tag::BIT_STRING, 1, 0]);
        }
        let highest = 15 - bits.leading_zeros() as usize;
        let used_bytes = highest / 8 + 1;
        let unused = 7 - (highest % 8) as u8;
        self.header(tag::BIT_STRING, used_bytes + 1)?;
        self.raw(&[unused])?;
        self.raw(bytes.get(..used_bytes).unwrap_or(&[]))
    }
}

/// Sorts the consecutive elements in `region` by their encodings, in place.
fn sort_elements(region: &mut [u8]) -> Result<(), EncodeError> {
    // Insertion sort over element boundaries: sets here have a handful of members.
    let bad = |_| EncodeError::InvalidValue { what: "SET OF element" };
    let mut sorted_end = match region.is_empty() {
        true => return Ok(()),
        false => Tlv::read(region).map_err(bad)?.0.raw.len(),
    };
    while sorted_end < region.len() {
        let next_len = Tlv::read(region.get(sorted_end..).unwrap_or(&[])).map_err(bad)?.0.raw.len();
        // Find where the next element belongs among the sorted ones.
        let mut insert_at = 0;
        loop {
            if insert_at >= sorted_end {
                break;
            }
            let here = Tlv::read(region.get(insert_at..).unwrap_or(&[])).map_err(bad)?.0.raw;
            let next = region.get(sorted_end..sorted_end + next_len).unwrap_or(&[]);
            if next < here {
                break;
            }
            insert_at += here.len();
        }
        if let Some(window) = region.get_mut(insert_at..sorted_end + next_len) {
            window.rotate_right(next_len);
        }
        sorted_end += next_len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_lengths_are_exact_in_short_and_long_forms() {
        let mut out = [0u8; 400];
        let big = [7u8; 200];
        let enc = encode(&mut out, |w| {
            w.sequence(|w| {
                w.small_integer(0)?;
                w.octet_string(&big)?;
                w.null()
            })
        })
        .unwrap();
        assert_eq!(&enc[..4], &[0x30, 0x81, 0xd0, 0x02]);
        assert_eq!(enc.len(), 3 + 3 + 3 + 200 + 2);
        let t = Tlv::parse_exact(enc).unwrap();
        assert_eq!(t.children().count(), 3);
    }

    #[test]
    fn too_small_buffer_reports_need_and_stays_untouched() {
        let mut out = [0xaau8; 5];
        let r = encode(&mut out, |w| w.octet_string(&[1, 2, 3, 4]));
        assert_eq!(r, Err(EncodeError::BufferTooSmall { needed: 6 }));
        assert_eq!(out, [0xaa; 5]);
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        let mut out = [0u8; 16];
        assert_eq!(encode(&mut out, |w| w.unsigned_integer(&[0, 0, 0x80])).unwrap(), &[0x02, 0x02, 0x00, 0x80]);
        assert_eq!(encode(&mut out, |w| w.unsigned_integer(&[0, 0x7f])).unwrap(), &[0x02, 0x01, 0x7f]);
        assert_eq!(encode(&mut out, |w| w.unsigned_integer(&[])).unwrap(), &[0x02, 0x01, 0x00]);
        assert_eq!(encode(&mut out, |w| w.small_integer(256)).unwrap(), &[0x02, 0x02, 0x01, 0x00]);
    }

    #[test]
    fn set_of_is_sorted_by_encoding() {
        let mut out = [0u8; 32];
        let enc = encode(&mut out, |w| {
            w.set_of(tag::SET, |w| {
                w.octet_string(&[3])?;
                w.small_integer(9)?;
                w.octet_string(&[1, 1])?;
                w.octet_string(&[2])
            })
        })
        .unwrap();
        assert_eq!(enc, &[0x31, 0x0d, 0x02, 0x01, 0x09, 0x04, 0x01, 0x02, 0x04, 0x01, 0x03, 0x04, 0x02, 0x01, 0x01]);
    }

    #[test]
    fn named_bits_are_trimmed() {
        let mut out = [0u8; 8];
        // digitalSignature | keyEncipherment = bits 0 and 2: 0b1010_0000, 5 unused bits.
        assert_eq!(encode(&mut out, |w| w.named_bits(0b101)).unwrap(), &[0x03, 0x02, 0x05, 0xa0]);
        // keyCertSign | cRLSign = bits 5, 6: 0b0000_0110, 1 unused bit.
        assert_eq!(encode(&mut out, |w| w.named_bits(0b110_0000)).unwrap(), &[0x03, 0x02, 0x01, 0x06]);
        // decipherOnly = bit 8.
        assert_eq!(encode(&mut out, |w| w.named_bits(1 << 8)).unwrap(), &[0x03, 0x03, 0x07, 0x00, 0x80]);
    }
}
