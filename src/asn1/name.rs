//! `Name` (RFC 5280 section 4.1.2.4): a borrowed view with attribute iteration and a
//! `CN=..,O=..` display form.

use super::oid;
use super::tlv::{Cursor, Tlv, tag};
use crate::error::DecodeError;
use der::asn1::ObjectIdentifier;

/// `Name ::= SEQUENCE OF RelativeDistinguishedName`,
/// `RelativeDistinguishedName ::= SET SIZE (1..MAX) OF AttributeTypeAndValue`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NameRef<'a> {
    der: &'a [u8],
    rdns: &'a [u8],
}

/// One `AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeRef<'a> {
    /// The attribute type.
    pub oid: ObjectIdentifier,
    /// The value element (usually a PrintableString or UTF8String).
    pub value: Tlv<'a>,
}

impl<'a> AttributeRef<'a> {
    /// The value as text, when it is one of the string types and valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        match self.value.tag {
            tag::UTF8_STRING | tag::PRINTABLE_STRING | tag::IA5_STRING | 0x14 | 0x1a => core::str::from_utf8(self.value.value).ok(),
            _ => None,
        }
    }
}

impl<'a> NameRef<'a> {
    /// Parses and checks a Name element.
    pub fn from_tlv(t: Tlv<'a>) -> Result<Self, DecodeError> {
        let t = t.with_tag(tag::SEQUENCE)?;
        for rdn in t.children() {
            let rdn = rdn?.with_tag(tag::SET)?;
            if rdn.value.is_empty() {
                return Err(DecodeError::InvalidValue { what: "empty relative distinguished name" });
            }
            for atv in rdn.children() {
                let mut c = atv?.with_tag(tag::SEQUENCE)?.children();
                c.expect_next(tag::OID)?.oid()?;
                c.next_any()?;
                c.finish()?;
            }
        }
        Ok(Self { der: t.raw, rdns: t.value })
    }

    /// Parses a DER Name (exactly one element).
    pub fn parse(der_bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::from_tlv(Tlv::parse_exact(der_bytes)?)
    }

    /// The DER encoding.
    pub fn as_der(&self) -> &'a [u8] {
        self.der
    }

    /// Whether the name has no attributes (an empty subject).
    pub fn is_empty(&self) -> bool {
        self.rdns.is_empty()
    }

    /// All attributes, in order.
    pub fn attributes(&self) -> NameAttributes<'a> {
        NameAttributes { rdns: Cursor::new(self.rdns), set: Cursor::new(&[]) }
    }

    /// The first attribute of type `oid`.
    pub fn get(&self, attr: &ObjectIdentifier) -> Option<AttributeRef<'a>> {
        self.attributes().find(|a| a.oid == *attr)
    }

    /// The relative distinguished names, each as its DER element (a SET), in order.
    pub fn rdns(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        Cursor::new(self.rdns).filter_map(|r| r.ok()).map(|r| r.raw)
    }

    /// The common name, if present and textual.
    pub fn common_name(&self) -> Option<&'a str> {
        self.get(&oid::COMMON_NAME).and_then(|a| a.as_str())
    }
}

/// Iterator over a Name's attributes.
#[derive(Debug, Clone)]
pub struct NameAttributes<'a> {
    rdns: Cursor<'a>,
    set: Cursor<'a>,
}

impl<'a> Iterator for NameAttributes<'a> {
    type Item = AttributeRef<'a>;
    fn next(&mut self) -> Option<AttributeRef<'a>> {
        loop {
            if let Some(Ok(atv)) = self.set.next() {
                let mut c = atv.children();
                let oid = c.expect_next(tag::OID).ok()?.oid().ok()?;
                let value = c.next_any().ok()?;
                return Some(AttributeRef { oid, value });
            }
            // Structure was checked at parse time, so errors here only end the iteration.
            self.set = self.rdns.next()?.ok()?.children();
        }
    }
}

fn short_name(o: &ObjectIdentifier) -> Option<&'static str> {
    const OIDS: [ObjectIdentifier; 8] = [
        oid::COMMON_NAME,
        oid::COUNTRY,
        oid::LOCALITY,
        oid::STATE,
        oid::ORGANIZATION,
        oid::ORGANIZATIONAL_UNIT,
        oid::SERIAL_NUMBER,
        oid::EMAIL_ADDRESS,
    ];
    const NAMES: [&str; 8] = ["CN", "C", "L", "ST", "O", "OU", "serialNumber", "emailAddress"];
    NAMES.get(oid::position(o, &OIDS)?).copied()
}

impl core::fmt::Display for NameRef<'_> {
    /// RFC 4514-like, most significant first as encoded (`C=US,O=Example,CN=device`); values
    /// that are not text are shown as `#` and hex.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, a) in self.attributes().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match short_name(&a.oid) {
                Some(n) => f.write_str(n)?,
                None => write!(f, "{}", a.oid)?,
            }
            f.write_str("=")?;
            match a.as_str() {
                Some(s) => f.write_str(s)?,
                None => {
                    f.write_str("#")?;
                    for b in a.value.raw {
                        write!(f, "{b:02x}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The same form as `Display` (`C=US,O=Example,CN=device`; an attribute type without a short
/// name as the hex of its OID, a value that is not text as `#` and hex).
#[cfg(feature = "defmt")]
impl defmt::Format for NameRef<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        for (i, a) in self.attributes().enumerate() {
            if i > 0 {
                defmt::write!(f, ",");
            }
            match short_name(&a.oid) {
                Some(n) => defmt::write!(f, "{=str}=", n),
                None => defmt::write!(f, "{=[u8]:02x}=", a.oid.as_bytes()),
            }
            match a.as_str() {
                Some(s) => defmt::write!(f, "{=str}", s),
                None => defmt::write!(f, "#{=[u8]:02x}", a.value.raw),
            }
        }
    }
}

impl core::fmt::Debug for NameRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Name({self})")
    }
}
