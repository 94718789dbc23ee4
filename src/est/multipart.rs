//! The EST `/serverkeygen` response (RFC 7030 section 4.4.2, RFC 8951): a `multipart/mixed`
//! body (RFC 2046 section 5.1) with two parts, the private key the server made and the
//! certificate for it.
//!
//! ```text
//! Content-Type: multipart/mixed; boundary=est-server-boundary
//!
//! --est-server-boundary
//! Content-Type: application/pkcs8                   <- or application/pkcs7-mime;
//! Content-Transfer-Encoding: base64                    smime-type=server-generated-key (CMS)
//!
//! MIIEvQIBADANBgkqhkiG9w0BAQEFAASC...
//! --est-server-boundary
//! Content-Type: application/pkcs7-mime; smime-type=certs-only
//! Content-Transfer-Encoding: base64
//!
//! MIIDOAYJKoZIhvcNAQcCoIIDKTCCAyUC...
//! --est-server-boundary--
//! ```
//!
//! [`ServerKeyGen::parse`] takes the response's Content-Type value and body and gives a
//! zero-copy view of the two parts, still base64, found by their content types (in either
//! order). The framing is read as RFC 2046 writes it, and leniently where servers differ:
//! CRLF or bare LF line ends, a preamble and an epilogue, transport padding after the
//! delimiters, header names in any case, folded header lines, the boundary parameter quoted or
//! not. Part headers are bounded ([`MAX_PART_HEADER_LEN`], [`MAX_PART_HEADERS`]), as is the
//! number of parts ([`MAX_PARTS`]).
//!
//! The key part is read by its DER shape, not its label: libest labels a bare PKCS#1
//! `RSAPrivateKey` `application/pkcs8` (see [`KeyFormat`]).
//!
//! # The private key is secret
//!
//! [`ServerKeyGen::decode_key`] decodes into a caller buffer and returns a [`DecodedKey`] that
//! zeroizes the whole buffer when dropped (also when decoding fails). A `Zeroizing` buffer
//! works too: pass `&mut buf[..]` of a `zeroize::Zeroizing<[u8; N]>`. The response body the
//! view borrows holds the same key in base64: the caller must wipe it too once done, with
//! [`wipe_key_part`] or by zeroizing the whole body buffer. (The base64 decoder keeps up to
//! four characters of it on its stack frame, which this crate cannot reach.)
//!
//! ```
//! use embedded_enroll::est::multipart::{KeyFormat, ServerKeyGen};
//! use embedded_enroll::http::base64::{self, LineStyle};
//!
//! // SEC1 ECPrivateKey { version 1, privateKey OCTET STRING } as a stand-in key.
//! let mut key_der = vec![0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20];
//! key_der.extend([0x11; 32]);
//! let mut b64 = [0u8; 128];
//! let key_b64 = std::str::from_utf8(base64::encode(&key_der, LineStyle::default(), &mut b64)?).unwrap();
//! let body = format!(
//!     "--b1\r\nContent-Type: application/pkcs8\r\n\r\n{key_b64}\r\n\
//!      --b1\r\nContent-Type: application/pkcs7-mime; smime-type=certs-only\r\n\r\nMAA=\r\n--b1--\r\n"
//! );
//! let response = ServerKeyGen::parse("multipart/mixed; boundary=b1", body.as_bytes())?;
//! let mut out = [0u8; 64];
//! {
//!     let key = response.decode_key(&mut out)?;
//!     assert_eq!(key.format(), KeyFormat::Sec1Ec);
//!     assert_eq!(key.der(), &key_der[..]);
//! } // `key` dropped: `out` is zeroized
//! assert_eq!(out, [0u8; 64]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::asn1::algorithm::AlgorithmIdentifierRef;
use crate::asn1::tlv::{Tlv, tag};
use crate::error::DecodeError;
use crate::http::base64;
use core::fmt;
use core::ops::Range;
use der::asn1::ObjectIdentifier;
use zeroize::Zeroize;

pub use crate::http::mime::{
    Boundary, MAX_BOUNDARY_LEN, MAX_PART_HEADER_LEN, MAX_PART_HEADERS, MAX_PARTS, MultipartError, Part, Parts, parts,
};

/// How the decoded private key is encoded, read from its DER shape.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey` (RFC 5958), unencrypted: what RFC 7030
    /// asks for.
    Pkcs8 {
        /// The private key algorithm (`rsaEncryption`, `id-ecPublicKey`, ...).
        algorithm: ObjectIdentifier,
    },
    /// PKCS#1 `RSAPrivateKey` (RFC 8017 appendix A.1.2): what libest sends, labelled
    /// `application/pkcs8`.
    Pkcs1Rsa,
    /// SEC1 `ECPrivateKey` (RFC 5915).
    Sec1Ec,
    /// A CMS `ContentInfo` (RFC 7030 section 4.4.2 with additional encryption: EnvelopedData,
    /// perhaps inside SignedData) of this content type, to be opened with
    /// [`crate::asn1::cms`].
    Cms {
        /// The content type.
        content_type: ObjectIdentifier,
    },
}

/// The format of a DER private key (or CMS message), by its shape.
pub fn key_format(der_bytes: &[u8]) -> Result<KeyFormat, DecodeError> {
    let mut c = Tlv::parse_exact(der_bytes)?.with_tag(tag::SEQUENCE)?.children();
    let first = c.next_any()?;
    if first.tag == tag::OID {
        let content_type = first.oid()?;
        c.expect_next(tag::context(0))?;
        c.finish()?;
        return Ok(KeyFormat::Cms { content_type });
    }
    let version = first.small_integer()?;
    let second = c.next_any()?;
    match (version, second.tag) {
        (0 | 1, tag::SEQUENCE) => {
            let algorithm = AlgorithmIdentifierRef::from_tlv(second)?.oid;
            c.expect_next(tag::OCTET_STRING)?;
            Ok(KeyFormat::Pkcs8 { algorithm })
        }
        (0 | 1, tag::INTEGER) => {
            // modulus, then publicExponent .. coefficient: seven more INTEGERs.
            for _ in 0..7 {
                c.expect_next(tag::INTEGER)?;
            }
            Ok(KeyFormat::Pkcs1Rsa)
        }
        (1, tag::OCTET_STRING) => Ok(KeyFormat::Sec1Ec),
        _ => Err(DecodeError::Unsupported { what: "private key format" }),
    }
}

/// Whether the private key `key_der` (PKCS#8, PKCS#1 RSA or SEC1 P-256, as [`key_format`]
/// tells) is the key of the public key `spki`: RSA by modulus and exponent, P-256 by the
/// public point computed from the private scalar. A server-generated key must be the one its
/// certificate certifies; a key this cannot check (another algorithm, CMS) is an error.
pub fn key_matches_spki(key_der: &[u8], spki: &crate::asn1::spki::SpkiRef<'_>) -> Result<bool, DecodeError> {
    use crate::asn1::spki::PublicKey;
    let unsupported = DecodeError::Unsupported { what: "server-generated key type" };
    let mut c = Tlv::parse_exact(key_der)?.with_tag(tag::SEQUENCE)?.children();
    match key_format(key_der)? {
        KeyFormat::Pkcs8 { .. } => {
            c.next_any()?;
            c.next_any()?;
            let inner = c.expect_next(tag::OCTET_STRING)?.value;
            match key_format(inner)? {
                KeyFormat::Pkcs1Rsa | KeyFormat::Sec1Ec => key_matches_spki(inner, spki),
                // PKCS#8 with an EC key: RFC 5915 ECPrivateKey inside, version 1.
                _ => Err(unsupported),
            }
        }
        KeyFormat::Pkcs1Rsa => {
            c.next_any()?;
            let n = c.expect_next(tag::INTEGER)?.unsigned_integer()?;
            let e = c.expect_next(tag::INTEGER)?.unsigned_integer()?;
            match spki.key() {
                PublicKey::Rsa(k) => Ok(strip_zeros(k.modulus()) == strip_zeros(n) && strip_zeros(k.exponent()) == strip_zeros(e)),
                _ => Ok(false),
            }
        }
        KeyFormat::Sec1Ec => {
            c.next_any()?;
            let scalar = c.expect_next(tag::OCTET_STRING)?.value;
            let PublicKey::EcP256(point) = spki.key() else { return Ok(false) };
            let Ok(secret) = p256::SecretKey::from_slice(scalar) else { return Err(DecodeError::InvalidValue { what: "EC private key" }) };
            let ours = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
            let theirs =
                crate::crypto::p256::normalize_public_key(point).map_err(|_| DecodeError::InvalidValue { what: "EC public key" })?;
            Ok(ours.as_bytes() == theirs.as_slice())
        }
        KeyFormat::Cms { .. } => Err(unsupported),
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b.get(first..).unwrap_or(&[])
}

/// A decoded private key in a caller buffer, which is zeroized (all of it) on drop.
pub struct DecodedKey<'o> {
    buf: &'o mut [u8],
    len: usize,
    format: KeyFormat,
}

impl DecodedKey<'_> {
    /// The key's DER (secret: copy it into the key store, never log it).
    pub fn der(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// The key's format.
    pub fn format(&self) -> KeyFormat {
        self.format
    }
}

impl Drop for DecodedKey<'_> {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

impl fmt::Debug for DecodedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodedKey").field("format", &self.format).field("len", &self.len).finish_non_exhaustive()
    }
}

/// A `/serverkeygen` response: the key part and the certificate part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerKeyGen<'a> {
    key: Part<'a>,
    certificates: Part<'a>,
}

/// Whether a part holds the key (`Some(true)`), the certificates (`Some(false)`) or neither.
fn part_kind(p: &Part<'_>) -> Option<bool> {
    if p.media_type_is("application/pkcs8") {
        return Some(true);
    }
    if !p.media_type_is("application/pkcs7-mime") {
        return None;
    }
    match p.parameter("smime-type") {
        Some(t) if t.eq_ignore_ascii_case("server-generated-key") => Some(true),
        Some(t) if t.eq_ignore_ascii_case("certs-only") => Some(false),
        // libest's /cacerts sends application/pkcs7-mime without smime-type.
        None => Some(false),
        Some(_) => None,
    }
}

impl<'a> ServerKeyGen<'a> {
    /// Reads a `/serverkeygen` body given the response's Content-Type value. The two parts
    /// are found by content type; other parts are skipped.
    pub fn parse(content_type: &str, body: &'a [u8]) -> Result<Self, MultipartError> {
        let mut key = None;
        let mut certificates = None;
        for p in parts(content_type, body)? {
            let p = p?;
            let slot = match part_kind(&p) {
                Some(true) => &mut key,
                Some(false) => &mut certificates,
                None => continue,
            };
            if slot.replace(p).is_some() {
                return Err(MultipartError::DuplicatePart);
            }
        }
        Ok(Self {
            key: key.ok_or(MultipartError::MissingKeyPart)?,
            certificates: certificates.ok_or(MultipartError::MissingCertificatePart)?,
        })
    }

    /// The key part (its content is the secret key in base64).
    pub fn key_part(&self) -> Part<'a> {
        self.key
    }

    /// The certificate part.
    pub fn certificates_part(&self) -> Part<'a> {
        self.certificates
    }

    /// Whether the key part is a CMS message (`smime-type=server-generated-key`: the key is
    /// encrypted to the client, RFC 7030 section 4.4.2).
    pub fn key_is_encrypted(&self) -> bool {
        self.key.media_type_is("application/pkcs7-mime")
    }

    /// Where the key part's content lies in the body, to wipe it (see [`wipe_key_part`]).
    pub fn key_range(&self) -> Range<usize> {
        self.key.range()
    }

    /// Decodes the key part into `out` and reads its format. The returned [`DecodedKey`]
    /// zeroizes all of `out` when dropped; on an error `out` is zeroized before returning.
    pub fn decode_key<'o>(&self, out: &'o mut [u8]) -> Result<DecodedKey<'o>, MultipartError> {
        self.key.check_transfer_encoding()?;
        let len = match base64::decode(self.key.body(), out) {
            Ok(d) => d.len(),
            Err(e) => {
                out.zeroize();
                return Err(e.into());
            }
        };
        match key_format(out.get(..len).unwrap_or(&[])) {
            Ok(format) => Ok(DecodedKey { buf: out, len, format }),
            Err(e) => {
                out.zeroize();
                Err(e.into())
            }
        }
    }

    /// Decodes the certificate part into `out`: a certs-only CMS SignedData, perhaps BER
    /// (normalize it with [`crate::asn1::ber::normalize`], then read it with
    /// [`SignedDataRef`](crate::asn1::cms::signed_data::SignedDataRef)).
    pub fn decode_certificates<'o>(&self, out: &'o mut [u8]) -> Result<&'o [u8], MultipartError> {
        self.certificates.decode_base64(out)
    }
}

/// Zeroizes the key part's content (the key in base64) inside a `/serverkeygen` body, once
/// the key is stored. The rest of the body is left as it is and still parses.
pub fn wipe_key_part(content_type: &str, body: &mut [u8]) -> Result<(), MultipartError> {
    let range = ServerKeyGen::parse(content_type, body)?.key_range();
    if let Some(key) = body.get_mut(range) {
        key.zeroize();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SEC1 P-256 keys are matched by the point computed from the scalar.
    #[test]
    fn p256_server_keys_match_only_their_own_public_key() {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
        let mut sec1 = std::vec![0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20];
        sec1.extend([7u8; 32]);
        let spki_of = |point: &[u8]| {
            let mut d = hex_literal::hex!("3059301306072a8648ce3d020106082a8648ce3d030107034200").to_vec();
            d.extend_from_slice(point);
            d
        };
        let ours = spki_of(secret.public_key().to_encoded_point(false).as_bytes());
        let other = p256::SecretKey::from_slice(&[8u8; 32]).unwrap();
        let theirs = spki_of(other.public_key().to_encoded_point(false).as_bytes());
        let spki = |d: &'static [u8]| crate::asn1::spki::SpkiRef::parse(d).unwrap();
        let (ours, theirs): (&'static [u8], &'static [u8]) = (std::vec::Vec::leak(ours), std::vec::Vec::leak(theirs));
        assert_eq!(key_matches_spki(&sec1, &spki(ours)), Ok(true));
        assert_eq!(key_matches_spki(&sec1, &spki(theirs)), Ok(false));
    }
    use std::string::String;
    use std::vec::Vec;

    /// A SEC1 ECPrivateKey-shaped stand-in, base64.
    const SEC1: &str = "MCUCAQEEIBERERERERERERERERERERERERERERERERERERERERER";

    fn body(nl: &str, boundary: &str) -> String {
        std::format!(
            "preamble{nl}--{boundary}{nl}Content-Type: application/pkcs8{nl}Content-Transfer-Encoding: base64{nl}{nl}{SEC1}{nl}\
             --{boundary}  {nl}content-type: Application/PKCS7-MIME; smime-type=\"certs-only\"{nl}{nl}MAA={nl}--{boundary}--{nl}epilogue{nl}"
        )
    }

    #[test]
    fn crlf_and_lf_framing() {
        for nl in ["\r\n", "\n"] {
            let text = body(nl, "b-1");
            let r = ServerKeyGen::parse("multipart/mixed; boundary=b-1", text.as_bytes()).unwrap();
            assert_eq!(r.key_part().body(), SEC1.as_bytes());
            assert_eq!(r.key_part().content_type(), Some("application/pkcs8"));
            assert_eq!(r.key_part().transfer_encoding(), Some("base64"));
            assert_eq!(r.certificates_part().body(), b"MAA=");
            assert_eq!(r.certificates_part().parameter("smime-type"), Some("certs-only"));
            assert!(!r.key_is_encrypted());
            assert_eq!(&text.as_bytes()[r.key_range()], SEC1.as_bytes());
            let mut out = [0u8; 8];
            assert_eq!(r.decode_certificates(&mut out).unwrap(), [0x30, 0x00]);
            let mut key = [0u8; 64];
            let k = r.decode_key(&mut key).unwrap();
            assert_eq!(k.format(), KeyFormat::Sec1Ec);
            assert_eq!(k.der().len(), 39);
            assert!(!std::format!("{k:?}").contains("17"), "no key bytes in Debug");
            drop(k);
            assert_eq!(key, [0u8; 64]);
        }
    }

    #[test]
    fn structural_errors() {
        let ct = "multipart/mixed; boundary=b-1";
        let good = body("\r\n", "b-1");
        let cut = good.find("--b-1--").unwrap();
        assert_eq!(ServerKeyGen::parse(ct, &good.as_bytes()[..cut]), Err(MultipartError::MissingCloseDelimiter));
        assert_eq!(ServerKeyGen::parse(ct, b"no delimiter here"), Err(MultipartError::MissingOpeningDelimiter));
        assert_eq!(ServerKeyGen::parse(ct, b"--b-1--\r\n"), Err(MultipartError::MissingKeyPart));
        let only_key = good.replace("Application/PKCS7-MIME", "text/plain");
        assert_eq!(ServerKeyGen::parse(ct, only_key.as_bytes()), Err(MultipartError::MissingCertificatePart));
        let two_keys = good.replace("Application/PKCS7-MIME; smime-type=\"certs-only\"", "application/pkcs8");
        assert_eq!(ServerKeyGen::parse(ct, two_keys.as_bytes()), Err(MultipartError::DuplicatePart));
        let bad_header = good.replace("Content-Transfer-Encoding: base64", "no colon");
        assert_eq!(ServerKeyGen::parse(ct, bad_header.as_bytes()), Err(MultipartError::MalformedHeader));
        let huge = good.replace("Content-Transfer-Encoding: base64", &std::format!("X-Big: {}", "a".repeat(2000)));
        assert_eq!(ServerKeyGen::parse(ct, huge.as_bytes()), Err(MultipartError::HeaderTooLarge));
        let many = good.replace("Content-Transfer-Encoding: base64", &"X: y\r\n".repeat(20));
        assert_eq!(ServerKeyGen::parse(ct, many.as_bytes()), Err(MultipartError::HeaderTooLarge));
        let qp = good.replace("Content-Transfer-Encoding: base64", "Content-Transfer-Encoding: quoted-printable");
        let r = ServerKeyGen::parse(ct, qp.as_bytes()).unwrap();
        let mut out = [0u8; 64];
        assert!(matches!(r.decode_key(&mut out), Err(MultipartError::UnsupportedTransferEncoding)));
        // A boundary that is only a prefix of a line is not a delimiter.
        let prefix = good.replace("--b-1  \r\n", "--b-1x\r\n");
        assert_eq!(ServerKeyGen::parse(ct, prefix.as_bytes()), Err(MultipartError::MissingCertificatePart));
        let mut many_parts = String::from("--b\r\n");
        for _ in 0..MAX_PARTS + 1 {
            many_parts.push_str("\r\nx\r\n--b\r\n");
        }
        assert_eq!(ServerKeyGen::parse("multipart/mixed; boundary=b", many_parts.as_bytes()), Err(MultipartError::TooManyParts));
    }

    #[test]
    fn key_shapes() {
        let seq = |parts: &[&[u8]]| {
            let c: Vec<u8> = parts.concat();
            let mut v = std::vec![0x30, c.len() as u8];
            v.extend(c);
            v
        };
        let int0: &[u8] = &[0x02, 0x01, 0x00];
        let alg = seq(&[&[0x06, 0x03, 0x2b, 0x65, 0x70]]);
        assert!(matches!(key_format(&seq(&[int0, &alg, &[0x04, 0x00]])), Ok(KeyFormat::Pkcs8 { .. })));
        let ints: Vec<u8> = [int0; 9].concat();
        assert_eq!(key_format(&seq(&[&ints])), Ok(KeyFormat::Pkcs1Rsa));
        assert!(key_format(&seq(&[&[int0; 5].concat()])).is_err(), "too few RSA integers");
        let cms = seq(&[&[0x06, 0x03, 0x2a, 0x86, 0x48], &[0xa0, 0x00]]);
        assert!(matches!(key_format(&cms), Ok(KeyFormat::Cms { .. })));
        assert!(key_format(&seq(&[&[0x02, 0x01, 0x05], &[0x04, 0x00]])).is_err());
        assert!(key_format(&[0x04, 0x00]).is_err());
        // A failed decode leaves nothing behind.
        let bad =
            "--b\r\nContent-Type: application/pkcs8\r\n\r\nMAMCAQU=\r\n--b\r\nContent-Type: application/pkcs7-mime\r\n\r\nMAA=\r\n--b--";
        let r = ServerKeyGen::parse("multipart/mixed; boundary=b", bad.as_bytes()).unwrap();
        let mut out = [0xaau8; 16];
        assert!(r.decode_key(&mut out).is_err());
        assert_eq!(out, [0u8; 16]);
    }

    #[test]
    fn wipe_key_part_in_place() {
        let mut text = body("\n", "w").into_bytes();
        wipe_key_part("multipart/mixed; boundary=w", &mut text).unwrap();
        let r = ServerKeyGen::parse("multipart/mixed; boundary=w", &text).unwrap();
        assert!(r.key_part().body().iter().all(|b| *b == 0));
        assert_eq!(r.certificates_part().body(), b"MAA=");
    }

    #[test]
    fn folded_headers_and_no_headers() {
        let text = "--f\r\nContent-Type:\r\n application/pkcs7-mime;\r\n\tsmime-type=server-generated-key\r\n\r\nMAA=\r\n--f\r\n\r\nbody without headers\r\n--f\r\nContent-Type: application/pkcs7-mime\r\n\r\nMAA=\r\n--f--";
        let r = ServerKeyGen::parse("multipart/mixed; boundary=f", text.as_bytes()).unwrap();
        assert!(r.key_is_encrypted());
        assert_eq!(r.key_part().parameter("smime-type"), Some("server-generated-key"));
        let all: Vec<Part<'_>> = parts("multipart/mixed; boundary=f", text.as_bytes()).unwrap().map(Result::unwrap).collect();
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].content_type(), None);
        assert_eq!(all[1].body(), b"body without headers");
    }

    #[test]
    fn never_panics_on_truncation_or_mutation() {
        let text = body("\r\n", "bnd");
        let bytes = text.as_bytes();
        for cut in 0..bytes.len() {
            let r = ServerKeyGen::parse("multipart/mixed; boundary=bnd", &bytes[..cut]);
            assert!(r.is_err() || cut >= text.find("--bnd--").unwrap() + 7, "{cut}");
        }
        let mut out = [0u8; 128];
        for i in 0..bytes.len() {
            for v in [b'\r', b'\n', b'-', b'"', 0, 0xff, b':', b' '] {
                let mut m = bytes.to_vec();
                m[i] = v;
                if let Ok(r) = ServerKeyGen::parse("multipart/mixed; boundary=bnd", &m) {
                    let _ = r.decode_key(&mut out).map(|k| k.format());
                    let _ = r.decode_certificates(&mut out);
                    let _ = (r.key_part().content_type(), r.certificates_part().parameter("smime-type"));
                }
            }
        }
    }
}
