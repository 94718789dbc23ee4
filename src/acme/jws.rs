//! JSON Web Signature pieces for ACME (RFC 7515, RFC 7517, RFC 7638, RFC 8555 section 6.2):
//! the account key as a JWK, its thumbprint, base64url, and the External Account Binding
//! HMAC. The flattened JWS itself is assembled by the client around the signature the
//! device key returns (ES256: raw `r || s`; RS256: PKCS#1 v1.5), so the key never enters the
//! crate.

use super::json::Writer;
use crate::asn1::spki::{PublicKey, SpkiRef};
use crate::crypto::KeyType;
use crate::error::{DecodeError, EncodeError};
#[cfg(test)]
use base64ct::Base64UrlUnpadded;
use base64ct::{Base64, Encoding};

/// The account key's public half, as a JWK (RFC 7517) and its JWS algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKey<'a> {
    /// A P-256 key: ES256.
    P256 {
        /// The x coordinate (32 bytes).
        x: &'a [u8],
        /// The y coordinate (32 bytes).
        y: &'a [u8],
    },
    /// An RSA key: RS256.
    Rsa {
        /// The modulus, big-endian, no leading zeros.
        n: &'a [u8],
        /// The public exponent.
        e: &'a [u8],
    },
}

/// The longest base64url RSA modulus (4096 bits).
const MAX_N_B64: usize = 683;

impl<'a> AccountKey<'a> {
    /// The key in a DER SubjectPublicKeyInfo (P-256 or RSA).
    pub fn from_spki(spki: &'a [u8]) -> Result<Self, DecodeError> {
        let spki = SpkiRef::parse(spki)?;
        match spki.key() {
            PublicKey::EcP256(point) => match point {
                [0x04, rest @ ..] if rest.len() == 64 => {
                    let (x, y) = rest.split_at(32);
                    Ok(Self::P256 { x, y })
                }
                _ => Err(DecodeError::InvalidValue { what: "account key point (uncompressed P-256 expected)" }),
            },
            PublicKey::Rsa(k) => Ok(Self::Rsa { n: k.modulus(), e: k.exponent() }),
            _ => Err(DecodeError::Unsupported { what: "account key type (P-256 or RSA expected)" }),
        }
    }

    /// The JWS `alg`: ES256 or RS256.
    pub fn alg(&self) -> &'static str {
        match self {
            Self::P256 { .. } => "ES256",
            Self::Rsa { .. } => "RS256",
        }
    }

    /// The key type the signature comes from.
    pub fn key_type(&self) -> KeyType {
        match self {
            Self::P256 { .. } => KeyType::EcP256,
            Self::Rsa { n, .. } => KeyType::Rsa { bits: u16::try_from(n.len().saturating_mul(8)).unwrap_or(u16::MAX) },
        }
    }

    /// The length of the raw signature (64 for ES256, the modulus length for RS256).
    pub fn signature_len(&self) -> usize {
        match self {
            Self::P256 { .. } => 64,
            Self::Rsa { n, .. } => n.len(),
        }
    }

    /// The JWK's members, their base64url written into `out` (at most 32 + 32 bytes of
    /// base64url for P-256, the modulus's and exponent's for RSA: 700 bytes for 4096 bits).
    pub fn jwk<'o>(&self, out: &'o mut [u8]) -> Result<Jwk<'o>, EncodeError> {
        match self {
            Self::P256 { x, y } => {
                let (xa, ya) = out.split_at_mut(out.len().min(43));
                Ok(Jwk::Ec { crv: "P-256", kty: "EC", x: b64url(x, xa)?, y: b64url(y, ya)? })
            }
            Self::Rsa { n, e } => {
                let (ea, na) = out.split_at_mut(out.len().min(16));
                Ok(Jwk::Rsa { e: b64url(e, ea)?, kty: "RSA", n: b64url(n, na)? })
            }
        }
    }

    /// Writes the JWK with its members in lexicographic order and no whitespace, the form
    /// RFC 7638 hashes for the thumbprint.
    pub fn write_jwk<'o>(&self, out: &'o mut [u8]) -> Result<&'o [u8], EncodeError> {
        let mut members = [0u8; MAX_N_B64 + 16];
        let jwk = self.jwk(&mut members)?;
        let mut w = Writer::new(out);
        jwk.write(&mut w);
        let n = w.finish().map_err(|needed| EncodeError::BufferTooSmall { needed })?;
        out.get(..n).ok_or(EncodeError::BufferTooSmall { needed: n })
    }

    /// The JWK thumbprint (RFC 7638, SHA-256), base64url: what key authorizations end with.
    pub fn thumbprint(&self) -> Result<heapless::String<43>, EncodeError> {
        let mut jwk = [0u8; MAX_N_B64 + 64];
        let jwk = self.write_jwk(&mut jwk)?;
        let digest = crate::crypto::Digest::sha256(jwk);
        let mut out = [0u8; 43];
        let s = b64url(digest.as_bytes(), &mut out)?;
        heapless::String::try_from(s).map_err(|_| EncodeError::BufferTooSmall { needed: 0 })
    }
}

/// A JWK's members (lexicographic order, as RFC 7638 hashes them), serialized as the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jwk<'a> {
    /// An EC key.
    Ec {
        /// "P-256".
        crv: &'a str,
        /// "EC".
        kty: &'a str,
        /// The x coordinate, base64url.
        x: &'a str,
        /// The y coordinate, base64url.
        y: &'a str,
    },
    /// An RSA key.
    Rsa {
        /// The exponent, base64url.
        e: &'a str,
        /// "RSA".
        kty: &'a str,
        /// The modulus, base64url.
        n: &'a str,
    },
}

impl Jwk<'_> {
    /// Writes the JWK as a JSON object, members in lexicographic order, no whitespace.
    pub fn write(&self, w: &mut Writer<'_>) {
        w.raw(b"{");
        match self {
            Self::Ec { crv, kty, x, y } => {
                w.name("crv", true).str(crv).name("kty", false).str(kty).name("x", false).str(x).name("y", false).str(y)
            }
            Self::Rsa { e, kty, n } => w.name("e", true).str(e).name("kty", false).str(kty).name("n", false).str(n),
        };
        w.raw(b"}");
    }
}

/// base64url without padding (RFC 7515 section 2) of `data` into `out`.
pub fn b64url<'o>(data: &[u8], out: &'o mut [u8]) -> Result<&'o str, EncodeError> {
    // base64ct's standard alphabet (linked already for PEM and EST) with its two differing
    // characters swapped and no padding, rather than a second copy of the encoder.
    let needed = b64url_len(data.len());
    let too_small = EncodeError::BufferTooSmall { needed };
    let whole = data.len() - data.len() % 3;
    let (head, tail) = data.split_at_checked(whole).ok_or(too_small)?;
    let out = out.get_mut(..needed).ok_or(too_small)?;
    let (head_out, tail_out) = out.split_at_mut_checked(whole / 3 * 4).ok_or(too_small)?;
    Base64::encode(head, head_out).map_err(|_| too_small)?;
    let mut last = [0u8; 4];
    if !tail.is_empty() {
        let enc = Base64::encode(tail, &mut last).map_err(|_| too_small)?;
        tail_out.copy_from_slice(enc.as_bytes().get(..tail_out.len()).ok_or(too_small)?);
    }
    for b in out.iter_mut() {
        *b = match *b {
            b'+' => b'-',
            b'/' => b'_',
            b => b,
        };
    }
    core::str::from_utf8(out).map_err(|_| too_small)
}

/// The length of `len` bytes in base64url without padding.
pub fn b64url_len(len: usize) -> usize {
    (len / 3).saturating_mul(4).saturating_add(match len % 3 {
        0 => 0,
        1 => 2,
        _ => 3,
    })
}

/// HMAC-SHA256 (the External Account Binding's HS256) of `data` with `key`.
pub fn hs256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::Mac;
    let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC takes keys of any length.
        Err(_) => return [0u8; 32],
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64url_is_base64cts_url_alphabet_without_padding() {
        let data: std::vec::Vec<u8> = (0u32..300).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let mut out = [0u8; 400];
        let mut expected = [0u8; 400];
        for len in 0..=data.len() {
            let want = Base64UrlUnpadded::encode(&data[..len], &mut expected).unwrap();
            assert_eq!(b64url(&data[..len], &mut out).unwrap(), want, "{len} bytes");
            assert_eq!(b64url_len(len), want.len());
            // One byte short: refused with the size needed, nothing panics.
            let short = want.len().saturating_sub(1);
            if len > 0 {
                assert_eq!(b64url(&data[..len], &mut out[..short]), Err(EncodeError::BufferTooSmall { needed: want.len() }));
            }
        }
        // Every byte value, so that '+' and '/' (62 and 63) are met.
        let all: std::vec::Vec<u8> = (0..=255u8).collect();
        let mut big = [0u8; 400];
        assert_eq!(b64url(&all, &mut out).unwrap(), Base64UrlUnpadded::encode(&all, &mut big).unwrap());
    }

    #[test]
    fn the_rfc_7638_example_thumbprint() {
        // RFC 7638 section 3.1: an RSA key and its thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let n = Base64UrlUnpadded::decode_vec(n).unwrap();
        let key = AccountKey::Rsa { n: &n, e: &[1, 0, 1] };
        assert_eq!(key.thumbprint().unwrap().as_str(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert_eq!(key.alg(), "RS256");
        assert_eq!(key.signature_len(), 256);
    }

    #[test]
    fn a_p256_jwk_has_its_members_in_order() {
        let x = [1u8; 32];
        let y = [2u8; 32];
        let mut out = [0u8; 200];
        let jwk = AccountKey::P256 { x: &x, y: &y }.write_jwk(&mut out).unwrap();
        let s = core::str::from_utf8(jwk).unwrap();
        assert!(s.starts_with(r#"{"crv":"P-256","kty":"EC","x":"AQEB"#), "{s}");
        assert!(s.contains(r#","y":"AgIC"#), "{s}");
        assert!(AccountKey::P256 { x: &x, y: &y }.write_jwk(&mut [0u8; 50]).is_err());
    }

    #[test]
    fn base64url_lengths() {
        for len in 0..70 {
            let data = std::vec![0xffu8; len];
            let mut out = [0u8; 100];
            assert_eq!(b64url(&data, &mut out).unwrap().len(), b64url_len(len), "{len}");
        }
    }

    #[test]
    fn hs256_matches_rfc_4231_case_2() {
        let mac = hs256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(mac[..4], [0x5b, 0xdc, 0xc1, 0x46]);
    }
}
