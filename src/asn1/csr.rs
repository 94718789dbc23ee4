//! Builders for what a device signs: a PKCS#10 certification request (RFC 2986) and a
//! self-signed certificate (RFC 5280; SCEP's signer certificate, RFC 8894 section 2.3).
//!
//! ```text
//! CertificationRequest ::= SEQUENCE {
//!      certificationRequestInfo CertificationRequestInfo,
//!      signatureAlgorithm       AlgorithmIdentifier,
//!      signature                BIT STRING }
//! CertificationRequestInfo ::= SEQUENCE {
//!      version       INTEGER { v1(0) },
//!      subject       Name,
//!      subjectPKInfo SubjectPublicKeyInfo,
//!      attributes    [0] IMPLICIT SET OF Attribute }
//! ```
//!
//! Signing is always to-be-signed, then signature, then assemble, so the key can sit in a
//! secure element: [`CsrBuilder::encode_info`] gives the bytes to sign, [`assemble`] puts the
//! pieces together. (`hal::oneshot` does all three with a HAL key in one buffer.)

use super::oid;
use super::tlv::tag;
use super::writer::{Writer, encode, length_len, measure, tlv_len};
use crate::crypto::KeyType;
use crate::crypto::{Digest, HashAlgorithm};
use crate::error::EncodeError;
use crate::time::UnixTime;
use der::asn1::ObjectIdentifier;

/// Largest SubjectPublicKeyInfo of a device key (RSA-4096 is 550 bytes).
pub const MAX_SPKI_LEN: usize = 600;

/// One attribute of a subject name, encoded as its own RDN in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAttribute<'a> {
    /// The attribute type (see the constructors).
    pub oid: ObjectIdentifier,
    /// The value. Encoded as PrintableString when every character allows it, else
    /// UTF8String; emailAddress as IA5String.
    pub value: &'a str,
}

impl<'a> NameAttribute<'a> {
    /// commonName (CN)
    pub const fn common_name(value: &'a str) -> Self {
        Self { oid: oid::COMMON_NAME, value }
    }
    /// organizationName (O)
    pub const fn organization(value: &'a str) -> Self {
        Self { oid: oid::ORGANIZATION, value }
    }
    /// organizationalUnitName (OU)
    pub const fn organizational_unit(value: &'a str) -> Self {
        Self { oid: oid::ORGANIZATIONAL_UNIT, value }
    }
    /// countryName (C), two letters
    pub const fn country(value: &'a str) -> Self {
        Self { oid: oid::COUNTRY, value }
    }
    /// localityName (L)
    pub const fn locality(value: &'a str) -> Self {
        Self { oid: oid::LOCALITY, value }
    }
    /// stateOrProvinceName (ST)
    pub const fn state(value: &'a str) -> Self {
        Self { oid: oid::STATE, value }
    }
    /// serialNumber (the device serial, not the certificate's)
    pub const fn serial_number(value: &'a str) -> Self {
        Self { oid: oid::SERIAL_NUMBER, value }
    }
    /// emailAddress (PKCS #9)
    pub const fn email_address(value: &'a str) -> Self {
        Self { oid: oid::EMAIL_ADDRESS, value }
    }
}

/// A subjectAltName entry to request.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectAltName<'a> {
    /// dNSName
    Dns(&'a str),
    /// iPAddress: 4 bytes (IPv4) or 16 (IPv6)
    Ip(&'a [u8]),
    /// uniformResourceIdentifier
    Uri(&'a str),
    /// rfc822Name
    Email(&'a str),
}

/// An extension passed through as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// Extension type.
    pub oid: ObjectIdentifier,
    /// Critical flag.
    pub critical: bool,
    /// The DER value that goes inside `extnValue`.
    pub value: &'a [u8],
}

/// The PKCS #9 challengePassword (RFC 2985 section 5.4.1): a `DirectoryString`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ChallengePassword<'a> {
    /// PrintableString (what most SCEP servers expect).
    Printable(&'a str),
    /// UTF8String.
    Utf8(&'a str),
}

impl core::fmt::Debug for ChallengePassword<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ChallengePassword(not shown)")
    }
}

/// A PKCS#10 request to build.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsrBuilder<'a> {
    subject: &'a [NameAttribute<'a>],
    subject_alt_names: &'a [SubjectAltName<'a>],
    key_usage: Option<u16>,
    extended_key_usage: &'a [ObjectIdentifier],
    extensions: &'a [Extension<'a>],
    challenge_password: Option<ChallengePassword<'a>>,
}

impl<'a> CsrBuilder<'a> {
    /// A request for `subject` (may be empty when the SAN carries the identity).
    pub fn new(subject: &'a [NameAttribute<'a>]) -> Self {
        Self { subject, ..Self::default() }
    }
    /// The subject this request is for.
    pub fn subject(&self) -> &'a [NameAttribute<'a>] {
        self.subject
    }
    /// Requests these subjectAltName entries.
    pub fn subject_alt_names(mut self, names: &'a [SubjectAltName<'a>]) -> Self {
        self.subject_alt_names = names;
        self
    }
    /// Requests keyUsage bits (see [`crate::asn1::cert::KeyUsage`]), marked critical.
    pub fn key_usage(mut self, bits: u16) -> Self {
        self.key_usage = Some(bits);
        self
    }
    /// Requests these extendedKeyUsage purposes.
    pub fn extended_key_usage(mut self, purposes: &'a [ObjectIdentifier]) -> Self {
        self.extended_key_usage = purposes;
        self
    }
    /// Adds extensions as they are (after the ones above).
    pub fn extensions(mut self, extensions: &'a [Extension<'a>]) -> Self {
        self.extensions = extensions;
        self
    }
    /// Adds a challengePassword attribute (SCEP's shared secret, EST's PoP binding).
    pub fn challenge_password(mut self, password: ChallengePassword<'a>) -> Self {
        self.challenge_password = Some(password);
        self
    }

    /// Whether this request already carries an extension of type `o` (through its
    /// subjectAltName, keyUsage or extendedKeyUsage settings, or the extra extensions).
    pub fn covers_extension(&self, o: &ObjectIdentifier) -> bool {
        (oid::same(o, &oid::SUBJECT_ALT_NAME) && !self.subject_alt_names.is_empty())
            || (oid::same(o, &oid::KEY_USAGE) && self.key_usage.is_some())
            || (oid::same(o, &oid::EXT_KEY_USAGE) && !self.extended_key_usage.is_empty())
            || self.extensions.iter().any(|e| oid::same(&e.oid, o))
    }

    /// The extra extensions given with [`extensions`](Self::extensions).
    pub fn extra_extensions(&self) -> &'a [Extension<'a>] {
        self.extensions
    }

    fn has_extensions(&self) -> bool {
        !self.subject_alt_names.is_empty() || self.key_usage.is_some() || !self.extended_key_usage.is_empty() || !self.extensions.is_empty()
    }

    /// Writes `CertificationRequestInfo` for the key whose SubjectPublicKeyInfo is
    /// `spki_der` into `out`: the bytes to sign.
    pub fn encode_info<'o>(&self, spki_der: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], EncodeError> {
        encode(out, |w| self.write_info(w, spki_der))
    }

    fn write_info(&self, w: &mut Writer<'_>, spki_der: &[u8]) -> Result<(), EncodeError> {
        w.sequence(|w| {
            w.small_integer(0)?;
            write_name(w, self.subject)?;
            w.raw(spki_der)?;
            w.set_of(tag::context(0), |w| {
                if let Some(p) = self.challenge_password {
                    w.sequence(|w| {
                        w.oid(&oid::CHALLENGE_PASSWORD)?;
                        w.set_of(tag::SET, |w| match p {
                            ChallengePassword::Printable(s) if is_printable(s) => w.primitive(tag::PRINTABLE_STRING, s.as_bytes()),
                            ChallengePassword::Printable(_) => {
                                Err(EncodeError::InvalidValue { what: "challenge password is not PrintableString" })
                            }
                            ChallengePassword::Utf8(s) => w.primitive(tag::UTF8_STRING, s.as_bytes()),
                        })
                    })?;
                }
                if self.has_extensions() {
                    w.sequence(|w| {
                        w.oid(&oid::EXTENSION_REQUEST)?;
                        w.set_of(tag::SET, |w| {
                            write_extensions(w, self.subject_alt_names, self.key_usage, self.extended_key_usage, self.extensions)
                        })
                    })?;
                }
                Ok(())
            })
        })
    }

    /// Builds the request for the key with SubjectPublicKeyInfo `spki_der` and type `key`,
    /// has `sign` sign its digest (with `hash`) and assembles it, all in `out`: what
    /// `hal::oneshot::sign_csr` runs with a HAL key.
    pub(crate) fn sign_in_place<'o>(
        &self,
        spki_der: &[u8],
        key: KeyType,
        hash: HashAlgorithm,
        out: &'o mut [u8],
        sign: SignFn<'_>,
    ) -> SignResult<'o> {
        sign_and_assemble(key, hash, out, |w| self.write_info(w, spki_der), sign)
    }
}

/// A self-signed certificate to build: SCEP's signer certificate for a first enrollment
/// (RFC 8894 section 2.3), same subject and key as the request.
#[derive(Debug, Clone, Copy)]
pub struct SelfSignedCertificate<'a> {
    /// Subject (and issuer).
    pub subject: &'a [NameAttribute<'a>],
    /// Serial number magnitude (positive; 8 or more random bytes from the RNG are usual).
    pub serial: &'a [u8],
    /// Start of validity.
    pub not_before: UnixTime,
    /// End of validity.
    pub not_after: UnixTime,
}

impl SelfSignedCertificate<'_> {
    /// Writes the `TBSCertificate` for the key with SubjectPublicKeyInfo `spki_der` and type
    /// `key`, to be signed with `hash`: the bytes to sign. Then [`assemble`] makes the
    /// certificate from them and the signature, wherever the key lives.
    pub fn encode_tbs<'o>(&self, spki_der: &[u8], key: KeyType, hash: HashAlgorithm, out: &'o mut [u8]) -> Result<&'o [u8], EncodeError> {
        self.encode_tbs_with(spki_der, key, hash, &[], &[], out)
    }

    /// [`Self::encode_tbs`] with subjectAltName entries and further extensions (an ACME
    /// tls-alpn-01 validation certificate: its identifier and the critical acmeIdentifier).
    pub fn encode_tbs_with<'o>(
        &self,
        spki_der: &[u8],
        key: KeyType,
        hash: HashAlgorithm,
        sans: &[SubjectAltName<'_>],
        extensions: &[Extension<'_>],
        out: &'o mut [u8],
    ) -> Result<&'o [u8], EncodeError> {
        let (mut nb, mut na) = ([0u8; 17], [0u8; 17]);
        let (not_before, not_after) = self.validity(&mut nb, &mut na)?;
        encode(out, |w| self.write_tbs(w, spki_der, key, hash, (not_before, not_after), (sans, extensions)))
    }

    /// Builds the certificate for the key with SubjectPublicKeyInfo `spki` and type
    /// `key_type`, has `sign` sign its digest (with `hash`) and assembles it, all in `out`:
    /// what `hal::oneshot::sign_certificate` runs with a HAL key.
    pub(crate) fn sign_in_place<'o>(
        &self,
        spki: &[u8],
        key_type: KeyType,
        hash: HashAlgorithm,
        out: &'o mut [u8],
        sign: SignFn<'_>,
    ) -> SignResult<'o> {
        let (mut nb, mut na) = ([0u8; 17], [0u8; 17]);
        let (not_before, not_after) = self.validity(&mut nb, &mut na)?;
        sign_and_assemble(key_type, hash, out, |w| self.write_tbs(w, spki, key_type, hash, (not_before, not_after), (&[], &[])), sign)
    }

    /// Checks the serial number and encodes notBefore and notAfter (in `nb` and `na`).
    fn validity<'t>(&self, nb: &'t mut [u8; 17], na: &'t mut [u8; 17]) -> Result<(&'t [u8], &'t [u8]), EncodeError> {
        if self.serial.iter().all(|b| *b == 0) {
            return Err(EncodeError::InvalidValue { what: "serial number" });
        }
        Ok((encode_time(self.not_before, nb)?, encode_time(self.not_after, na)?))
    }

    fn write_tbs(
        &self,
        w: &mut Writer<'_>,
        spki: &[u8],
        key: KeyType,
        hash: HashAlgorithm,
        (not_before, not_after): (&[u8], &[u8]),
        (sans, extensions): (&[SubjectAltName<'_>], &[Extension<'_>]),
    ) -> Result<(), EncodeError> {
        let ku = crate::asn1::cert::KeyUsage::DIGITAL_SIGNATURE
            | match key {
                KeyType::Rsa { .. } => crate::asn1::cert::KeyUsage::KEY_ENCIPHERMENT,
                _ => crate::asn1::cert::KeyUsage::KEY_AGREEMENT,
            };
        w.sequence(|w| {
            w.tlv(tag::context(0), |w| w.small_integer(2))?;
            w.unsigned_integer(self.serial)?;
            write_signature_algorithm(w, key, hash)?;
            write_name(w, self.subject)?;
            w.sequence(|w| {
                w.raw(not_before)?;
                w.raw(not_after)
            })?;
            write_name(w, self.subject)?;
            w.raw(spki)?;
            w.tlv(tag::context(3), |w| write_extensions(w, sans, Some(ku), &[], extensions))
        })
    }
}

/// `Name` with one RDN per attribute.
pub fn write_name(w: &mut Writer<'_>, attrs: &[NameAttribute<'_>]) -> Result<(), EncodeError> {
    w.sequence(|w| {
        for a in attrs {
            w.set_of(tag::SET, |w| {
                w.sequence(|w| {
                    w.oid(&a.oid)?;
                    let t = match oid::position(&a.oid, &[oid::EMAIL_ADDRESS, oid::COUNTRY, oid::SERIAL_NUMBER]) {
                        Some(0) if a.value.is_ascii() => tag::IA5_STRING,
                        Some(1 | 2) if !is_printable(a.value) => {
                            return Err(EncodeError::InvalidValue { what: "country or serialNumber is not PrintableString" });
                        }
                        _ if is_printable(a.value) => tag::PRINTABLE_STRING,
                        _ => tag::UTF8_STRING,
                    };
                    if a.value.is_empty() {
                        return Err(EncodeError::InvalidValue { what: "empty name attribute" });
                    }
                    w.primitive(t, a.value.as_bytes())
                })
            })?;
        }
        Ok(())
    })
}

/// `Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension`
fn write_extensions(
    w: &mut Writer<'_>,
    sans: &[SubjectAltName<'_>],
    key_usage: Option<u16>,
    eku: &[ObjectIdentifier],
    extra: &[Extension<'_>],
) -> Result<(), EncodeError> {
    w.sequence(|w| {
        if let Some(bits) = key_usage {
            write_extension(w, &oid::KEY_USAGE, true, |w| w.named_bits(bits))?;
        }
        if !eku.is_empty() {
            write_extension(w, &oid::EXT_KEY_USAGE, false, |w| {
                w.sequence(|w| {
                    for o in eku {
                        w.oid(o)?;
                    }
                    Ok(())
                })
            })?;
        }
        if !sans.is_empty() {
            write_extension(w, &oid::SUBJECT_ALT_NAME, false, |w| {
                w.sequence(|w| {
                    for s in sans {
                        match s {
                            SubjectAltName::Email(v) => w.primitive(0x81, v.as_bytes())?,
                            SubjectAltName::Dns(v) => w.primitive(0x82, v.as_bytes())?,
                            SubjectAltName::Uri(v) => w.primitive(0x86, v.as_bytes())?,
                            SubjectAltName::Ip(v) if v.len() == 4 || v.len() == 16 => w.primitive(0x87, v)?,
                            SubjectAltName::Ip(_) => return Err(EncodeError::InvalidValue { what: "IP address length" }),
                        }
                    }
                    Ok(())
                })
            })?;
        }
        for e in extra {
            write_extension(w, &e.oid, e.critical, |w| w.raw(e.value))?;
        }
        Ok(())
    })
}

fn write_extension<F>(w: &mut Writer<'_>, o: &ObjectIdentifier, critical: bool, value: F) -> Result<(), EncodeError>
where
    F: Fn(&mut Writer<'_>) -> Result<(), EncodeError>,
{
    w.sequence(|w| {
        w.oid(o)?;
        if critical {
            w.boolean(true)?;
        }
        w.tlv(tag::OCTET_STRING, &value)
    })
}

/// The `AlgorithmIdentifier` of a signature by `key` with `hash`.
pub fn write_signature_algorithm(w: &mut Writer<'_>, key: KeyType, hash: HashAlgorithm) -> Result<(), EncodeError> {
    w.sequence(|w| match key {
        KeyType::Rsa { .. } => {
            w.oid(&match hash {
                HashAlgorithm::Sha1 => oid::SHA1_WITH_RSA,
                HashAlgorithm::Sha256 => oid::SHA256_WITH_RSA,
                HashAlgorithm::Sha384 => oid::SHA384_WITH_RSA,
                HashAlgorithm::Sha512 => oid::SHA512_WITH_RSA,
            })?;
            w.null()
        }
        KeyType::EcP256 => w.oid(&match hash {
            HashAlgorithm::Sha1 => oid::ECDSA_WITH_SHA1,
            HashAlgorithm::Sha256 => oid::ECDSA_WITH_SHA256,
            HashAlgorithm::Sha384 => oid::ECDSA_WITH_SHA384,
            HashAlgorithm::Sha512 => oid::ECDSA_WITH_SHA512,
        }),
    })
}

/// Assembles `SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }` from parts made
/// elsewhere: a CSR from [`CsrBuilder::encode_info`] or a certificate from
/// [`SelfSignedCertificate::encode_tbs`]. `signature` is what the device key's signature over the digest of `tbs` is (raw
/// `r || s` for ECDSA, which is DER-encoded here).
pub fn assemble<'o>(tbs: &[u8], key: KeyType, hash: HashAlgorithm, signature: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], EncodeError> {
    let mut der_sig = [0u8; crate::crypto::p256::MAX_DER_SIGNATURE_LEN];
    let sig = signature_for_x509(key, signature, &mut der_sig)?;
    encode(out, |w| {
        w.sequence(|w| {
            w.raw(tbs)?;
            write_signature_algorithm(w, key, hash)?;
            w.bit_string(sig)
        })
    })
}

fn signature_for_x509<'s>(key: KeyType, raw: &'s [u8], der_buf: &'s mut [u8; 72]) -> Result<&'s [u8], EncodeError> {
    match key {
        KeyType::EcP256 => Ok(crate::crypto::p256::signature_raw_to_der(raw, der_buf)?),
        KeyType::Rsa { .. } => Ok(raw),
    }
}

/// A signature over a digest by the device key, written into the buffer given (its length
/// returned): how the one-buffer builders ask for the key operation they need.
pub(crate) type SignFn<'s> = &'s mut dyn FnMut(&Digest, &mut [u8]) -> Result<usize, EncodeError>;

/// What the one-buffer builders return: the DER written, in the caller's buffer.
pub(crate) type SignResult<'o> = Result<&'o [u8], EncodeError>;

/// Writes the to-be-signed part with `tbs`, signs its digest with `sign` (a key of type
/// `key`), and assembles the signed structure, all in `out` (the TBS is written once, then
/// moved into place).
fn sign_and_assemble<'o, F>(key: KeyType, hash: HashAlgorithm, out: &'o mut [u8], tbs: F, sign: SignFn<'_>) -> SignResult<'o>
where
    F: Fn(&mut Writer<'_>) -> Result<(), EncodeError>,
{
    let tbs_len = measure(&tbs)?;
    let alg_len = measure(&|w: &mut Writer<'_>| write_signature_algorithm(w, key, hash))?;
    let sig_max = match key {
        KeyType::EcP256 => crate::crypto::p256::MAX_DER_SIGNATURE_LEN,
        KeyType::Rsa { .. } => key.signature_len(),
    };
    let content_max = tbs_len + alg_len + tlv_len(sig_max + 1);
    let header_max = 1 + length_len(content_max);
    let needed = header_max + content_max;
    if out.len() < needed {
        return Err(EncodeError::BufferTooSmall { needed });
    }
    // 1. To-be-signed, at the latest place it can start.
    let tbs_bytes = encode(out.get_mut(header_max..).ok_or(EncodeError::BufferTooSmall { needed })?, &tbs)?;
    let digest: Digest = hash.digest(tbs_bytes)?;
    // 2. Signature.
    let mut raw = [0u8; crate::crypto::rsa::MAX_MODULUS_LEN];
    let n = sign(&digest, &mut raw)?;
    let mut der_sig = [0u8; crate::crypto::p256::MAX_DER_SIGNATURE_LEN];
    let sig = signature_for_x509(key, raw.get(..n).ok_or(EncodeError::InvalidValue { what: "signature" })?, &mut der_sig)?;
    // 3. Assemble: move the TBS to where the real header ends, then write around it.
    let content = tbs_len + alg_len + tlv_len(sig.len() + 1);
    let header = 1 + length_len(content);
    out.copy_within(header_max..header_max + tbs_len, header);
    let mut head = [0u8; 6];
    let h = encode(&mut head, |w| w.header(tag::SEQUENCE, content))?;
    out.get_mut(..header).ok_or(EncodeError::BufferTooSmall { needed })?.copy_from_slice(h);
    let tail = out.get_mut(header + tbs_len..).ok_or(EncodeError::BufferTooSmall { needed })?;
    encode(tail, |w| {
        write_signature_algorithm(w, key, hash)?;
        w.bit_string(sig)
    })?;
    out.get(..header + content).ok_or(EncodeError::BufferTooSmall { needed })
}

/// UTCTime through 2049, GeneralizedTime after (RFC 5280 section 4.1.2.5).
pub(crate) fn encode_time(t: UnixTime, out: &mut [u8; 17]) -> Result<&[u8], EncodeError> {
    let secs = u64::try_from(t.as_secs()).map_err(|_| EncodeError::InvalidValue { what: "time before 1970" })?;
    let [year, month, day, hour, minute, second] = super::civil::from_secs(secs).ok_or(EncodeError::InvalidValue { what: "time" })?;
    // At most 9999 (civil::MAX_SECS), the others below 60.
    let [year, month, day, hour, minute, second] = [year, month, day, hour, minute, second].map(|v| v as u16);
    let mut digits = [0u8; 15];
    let (tag_byte, n) = if year < 2050 { (tag::UTC_TIME, 13) } else { (tag::GENERALIZED_TIME, 15) };
    let parts: [(u16, usize); 6] = [(year, if year < 2050 { 2 } else { 4 }), (month, 2), (day, 2), (hour, 2), (minute, 2), (second, 2)];
    let mut i = 0;
    for (v, width) in parts {
        let mut v = if width == 2 { v % 100 } else { v };
        for k in (0..width).rev() {
            if let Some(d) = digits.get_mut(i + k) {
                *d = b'0' + (v % 10) as u8;
            }
            v /= 10;
        }
        i += width;
    }
    if let Some(z) = digits.get_mut(n - 1) {
        *z = b'Z';
    }
    out[0] = tag_byte;
    out[1] = n as u8;
    out.get_mut(2..2 + n).ok_or(EncodeError::InvalidValue { what: "time" })?.copy_from_slice(digits.get(..n).unwrap_or(&[]));
    Ok(out.get(..2 + n).unwrap_or(&[]))
}

pub(crate) fn is_printable(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
}

/// A borrowed view of a PKCS#10 request: what a server receives, and what tests check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsrRef<'a> {
    info: &'a [u8],
    subject: super::name::NameRef<'a>,
    spki: super::spki::SpkiRef<'a>,
    attributes: &'a [u8],
    signature_algorithm: super::algorithm::AlgorithmIdentifierRef<'a>,
    signature: &'a [u8],
}

impl<'a> CsrRef<'a> {
    /// Parses one DER CertificationRequest.
    pub fn parse(der_bytes: &'a [u8]) -> Result<Self, crate::error::DecodeError> {
        use super::tlv::Tlv;
        let mut c = Tlv::parse_exact(der_bytes)?.with_tag(tag::SEQUENCE)?.children();
        let info = c.expect_next(tag::SEQUENCE)?;
        let signature_algorithm = super::algorithm::AlgorithmIdentifierRef::from_tlv(c.expect_next(tag::SEQUENCE)?)?;
        let signature = c.expect_next(tag::BIT_STRING)?.bit_string_octets()?;
        c.finish()?;
        let mut i = info.children();
        if i.expect_next(tag::INTEGER)?.small_integer()? != 0 {
            return Err(crate::error::DecodeError::Unsupported { what: "CSR version" });
        }
        let subject = super::name::NameRef::from_tlv(i.expect_next(tag::SEQUENCE)?)?;
        let spki = super::spki::SpkiRef::from_tlv(i.expect_next(tag::SEQUENCE)?)?;
        let attributes = i.expect_next(tag::context(0))?.value;
        i.finish()?;
        for a in super::tlv::Cursor::new(attributes) {
            let mut ac = a?.with_tag(tag::SEQUENCE)?.children();
            ac.expect_next(tag::OID)?.oid()?;
            ac.expect_next(tag::SET)?;
            ac.finish()?;
        }
        Ok(Self { info: info.raw, subject, spki, attributes, signature_algorithm, signature })
    }

    /// The subject.
    pub fn subject(&self) -> super::name::NameRef<'a> {
        self.subject
    }
    /// The public key.
    pub fn spki(&self) -> super::spki::SpkiRef<'a> {
        self.spki
    }
    /// The signed `CertificationRequestInfo`.
    pub fn info_der(&self) -> &'a [u8] {
        self.info
    }

    /// The values of attribute `attr` (its SET's elements), if present.
    pub fn attribute(&self, attr: &ObjectIdentifier) -> Option<super::tlv::Cursor<'a>> {
        super::tlv::Cursor::new(self.attributes).filter_map(Result::ok).find_map(|a| {
            let mut c = a.children();
            let o = c.expect_next(tag::OID).ok()?.oid().ok()?;
            oid::same(&o, attr).then(|| c.expect_next(tag::SET).ok().map(|s| s.children())).flatten()
        })
    }

    /// The challengePassword, if present and textual.
    pub fn challenge_password(&self) -> Option<&'a str> {
        let v = self.attribute(&oid::CHALLENGE_PASSWORD)?.next()?.ok()?;
        core::str::from_utf8(v.value).ok()
    }

    /// The requested extensions (the `Extensions` SEQUENCE's contents), if any.
    pub fn requested_extensions(&self) -> Option<&'a [u8]> {
        let v = self.attribute(&oid::EXTENSION_REQUEST)?.next()?.ok()?;
        (v.tag == tag::SEQUENCE).then_some(v.value)
    }

    /// Checks the request's signature with its own key (proof of possession).
    pub fn verify_signature(&self) -> Result<(), crate::CryptoError> {
        let alg = super::algorithm::SignatureAlgorithm::from_identifier(&self.signature_algorithm, None)
            .map_err(|_| crate::CryptoError::UnsupportedAlgorithm)?;
        self.spki.verify_message(alg, self.info, self.signature)
    }
}
