//! A strict DER tag-length-value walker: the structural layer under the borrowed views.
//!
//! Low tag numbers only (every X.509, PKCS#10 and CMS tag is one); definite, minimal lengths
//! (X.690 section 10.1); values borrowed from the input. Typed values (OIDs, integers, times)
//! are decoded with the `der` crate on top of this.

#![deny(clippy::arithmetic_side_effects)]

use crate::error::DecodeError;

/// Universal tags used by the views.
pub mod tag {
    /// BOOLEAN
    pub const BOOLEAN: u8 = 0x01;
    /// INTEGER
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING
    pub const OCTET_STRING: u8 = 0x04;
    /// NULL
    pub const NULL: u8 = 0x05;
    /// OBJECT IDENTIFIER
    pub const OID: u8 = 0x06;
    /// UTF8String
    pub const UTF8_STRING: u8 = 0x0c;
    /// PrintableString
    pub const PRINTABLE_STRING: u8 = 0x13;
    /// IA5String
    pub const IA5_STRING: u8 = 0x16;
    /// UTCTime
    pub const UTC_TIME: u8 = 0x17;
    /// GeneralizedTime
    pub const GENERALIZED_TIME: u8 = 0x18;
    /// SEQUENCE (constructed)
    pub const SEQUENCE: u8 = 0x30;
    /// SET (constructed)
    pub const SET: u8 = 0x31;
    /// `[n]` context-specific, constructed (EXPLICIT or constructed IMPLICIT).
    pub const fn context(n: u8) -> u8 {
        0xa0 | n
    }
    /// `[n]` context-specific, primitive (IMPLICIT over a primitive type).
    pub const fn context_primitive(n: u8) -> u8 {
        0x80 | n
    }
}

/// Deepest nesting the views walk into.
pub const MAX_DEPTH: usize = 24;

/// One element: its tag byte, its value octets, and its whole encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The identifier octet.
    pub tag: u8,
    /// The contents octets.
    pub value: &'a [u8],
    /// The whole element (identifier, length and contents).
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Reads one element from the front of `input`; returns it and the rest.
    pub fn read(input: &'a [u8]) -> Result<(Self, &'a [u8]), DecodeError> {
        let tag = *input.first().ok_or(DecodeError::Truncated)?;
        if tag & 0x1f == 0x1f {
            return Err(DecodeError::Unsupported { what: "high tag number" });
        }
        let l = *input.get(1).ok_or(DecodeError::Truncated)?;
        let (len, hdr) = match l {
            0x00..=0x7f => (usize::from(l), 2),
            0x80 => return Err(DecodeError::IndefiniteLength),
            0x81..=0x84 => {
                let n = usize::from(l & 0x7f);
                let bytes = input.get(2..2 + n).ok_or(DecodeError::Truncated)?;
                // DER: no leading zero octet, and the long form only for lengths >= 128.
                if bytes.first() == Some(&0) {
                    return Err(DecodeError::InvalidLength);
                }
                let v = bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
                if v < 0x80 {
                    return Err(DecodeError::InvalidLength);
                }
                (v, 2 + n)
            }
            _ => return Err(DecodeError::InvalidLength),
        };
        let end = hdr.checked_add(len).ok_or(DecodeError::InvalidLength)?;
        let raw = input.get(..end).ok_or(DecodeError::Truncated)?;
        let value = raw.get(hdr..).ok_or(DecodeError::Truncated)?;
        let rest = input.get(end..).ok_or(DecodeError::Truncated)?;
        Ok((Self { tag, value, raw }, rest))
    }

    /// Reads exactly one element: `input` must hold nothing after it.
    pub fn parse_exact(input: &'a [u8]) -> Result<Self, DecodeError> {
        let (t, rest) = Self::read(input)?;
        if !rest.is_empty() {
            return Err(DecodeError::TrailingData);
        }
        Ok(t)
    }

    /// Fails unless the tag is `expected`.
    pub fn with_tag(self, expected: u8) -> Result<Self, DecodeError> {
        if self.tag == expected { Ok(self) } else { Err(DecodeError::UnexpectedTag { expected, found: self.tag }) }
    }

    /// A cursor over the children of this (constructed) element.
    pub fn children(&self) -> Cursor<'a> {
        Cursor { rest: self.value }
    }

    /// The element as an OBJECT IDENTIFIER.
    pub fn oid(&self) -> Result<der::asn1::ObjectIdentifier, DecodeError> {
        self.expect_ref(tag::OID)?;
        der::asn1::ObjectIdentifier::from_bytes(self.value).map_err(|_| DecodeError::InvalidValue { what: "object identifier" })
    }

    /// The element as a non-negative INTEGER's magnitude (leading zero stripped).
    pub fn unsigned_integer(&self) -> Result<&'a [u8], DecodeError> {
        self.expect_ref(tag::INTEGER)?;
        match self.value {
            [] => Err(DecodeError::InvalidValue { what: "integer" }),
            [b, ..] if b & 0x80 != 0 => Err(DecodeError::InvalidValue { what: "negative integer" }),
            [0, b, ..] if b & 0x80 == 0 => Err(DecodeError::InvalidValue { what: "non-minimal integer" }),
            [0, rest @ ..] if !rest.is_empty() => Ok(rest),
            v => Ok(v),
        }
    }

    /// The element as a small non-negative INTEGER.
    pub fn small_integer(&self) -> Result<u32, DecodeError> {
        let m = self.unsigned_integer()?;
        if m.len() > 4 {
            return Err(DecodeError::InvalidValue { what: "integer too large" });
        }
        Ok(m.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
    }

    /// The element as a BIT STRING with no unused bits: the octets after the count.
    pub fn bit_string_octets(&self) -> Result<&'a [u8], DecodeError> {
        self.expect_ref(tag::BIT_STRING)?;
        match self.value.split_first() {
            Some((0, bits)) => Ok(bits),
            Some(_) => Err(DecodeError::Unsupported { what: "bit string with unused bits" }),
            None => Err(DecodeError::InvalidValue { what: "bit string" }),
        }
    }

    /// The element as a BOOLEAN (DER: 0x00 or 0xff).
    pub fn boolean(&self) -> Result<bool, DecodeError> {
        self.expect_ref(tag::BOOLEAN)?;
        match self.value {
            [0x00] => Ok(false),
            [0xff] => Ok(true),
            _ => Err(DecodeError::InvalidValue { what: "boolean" }),
        }
    }

    fn expect_ref(&self, expected: u8) -> Result<(), DecodeError> {
        if self.tag == expected { Ok(()) } else { Err(DecodeError::UnexpectedTag { expected, found: self.tag }) }
    }
}

/// Walks a sequence of elements.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor over `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    /// Whether all elements were read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element, whatever its tag.
    pub fn next_any(&mut self) -> Result<Tlv<'a>, DecodeError> {
        let (t, rest) = Tlv::read(self.rest)?;
        self.rest = rest;
        Ok(t)
    }

    /// The next element, which must have tag `expected`.
    pub fn expect_next(&mut self, expected: u8) -> Result<Tlv<'a>, DecodeError> {
        self.next_any()?.with_tag(expected)
    }

    /// The next element if it has tag `t`, else `None` (nothing consumed).
    pub fn optional(&mut self, t: u8) -> Result<Option<Tlv<'a>>, DecodeError> {
        match self.rest.first() {
            Some(first) if *first == t => self.next_any().map(Some),
            _ => Ok(None),
        }
    }

    /// The tag of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Fails unless every element was read.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() { Ok(()) } else { Err(DecodeError::TrailingData) }
    }
}

impl<'a> Iterator for Cursor<'a> {
    type Item = Result<Tlv<'a>, DecodeError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = self.next_any();
        if r.is_err() {
            self.rest = &[];
        }
        Some(r)
    }
}

/// Checks that `input` is well-formed DER structure all the way down to `MAX_DEPTH`, so
/// later walks over constructed parts cannot fail.
pub fn validate_structure(input: &[u8], depth: usize) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let mut c = Cursor::new(input);
    while !c.is_empty() {
        let t = c.next_any()?;
        if t.tag & 0x20 != 0 {
            validate_structure(t.value, depth.saturating_add(1))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_forms() {
        let (t, rest) = Tlv::read(&[0x04, 0x02, 1, 2, 0xff]).unwrap();
        assert_eq!((t.tag, t.value, rest), (0x04, &[1u8, 2][..], &[0xffu8][..]));
        let mut long = std::vec![0x04, 0x81, 0x80];
        long.extend([0u8; 128]);
        assert_eq!(Tlv::parse_exact(&long).unwrap().value.len(), 128);
    }

    #[test]
    fn rejects_non_der_and_malformed_lengths() {
        let cases: &[(&[u8], DecodeError)] = &[
            (&[], DecodeError::Truncated),
            (&[0x04], DecodeError::Truncated),
            (&[0x04, 0x03, 1], DecodeError::Truncated),
            (&[0x30, 0x80, 0, 0], DecodeError::IndefiniteLength),
            (&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5], DecodeError::InvalidLength),
            (&[0x04, 0x82, 0x00, 0x81], DecodeError::InvalidLength),
            (&[0x04, 0x85, 0, 0, 0, 0, 1], DecodeError::InvalidLength),
            (&[0x1f, 0x22, 0x00], DecodeError::Unsupported { what: "high tag number" }),
        ];
        for (input, err) in cases {
            assert_eq!(Tlv::read(input).unwrap_err(), *err, "{input:02x?}");
        }
        assert_eq!(Tlv::parse_exact(&[0x05, 0x00, 0x00]).unwrap_err(), DecodeError::TrailingData);
    }

    #[test]
    fn integer_and_boolean_rules() {
        let int = |v: &[u8]| {
            let mut e = std::vec![0x02, v.len() as u8];
            e.extend_from_slice(v);
            Tlv::parse_exact(&e).map(|t| t.unsigned_integer().map(|m| m.to_vec())).unwrap()
        };
        assert_eq!(int(&[0x00, 0x80]).unwrap(), [0x80]);
        assert_eq!(int(&[0x7f]).unwrap(), [0x7f]);
        assert!(int(&[0x80]).is_err());
        assert!(int(&[0x00, 0x01]).is_err());
        assert!(int(&[]).is_err());
        assert!(Tlv::parse_exact(&[0x01, 0x01, 0x01]).unwrap().boolean().is_err());
        assert!(Tlv::parse_exact(&[0x01, 0x01, 0xff]).unwrap().boolean().unwrap());
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut v = std::vec::Vec::new();
        for i in 0..40u8 {
            v.push(0x30);
            v.push(2 * (39 - i));
        }
        assert_eq!(validate_structure(&v, 0), Err(DecodeError::TooDeep));
    }
}
