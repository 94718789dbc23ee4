//! RSA with 2048- to 4096-bit moduli, without allocation: the operations run on the in-place
//! Montgomery arithmetic of [`mont`] (one code path for every key size, working storage sized
//! to the key); crypto-bigint `Uint`s hold a software key's values and build and generate keys.
//!
//! - [`RsaPublicKey`]: PKCS#1 v1.5 signature verification (SHA-256/384/512; SHA-1 only with
//!   `legacy-crypto`), RSASSA-PSS verification, and PKCS#1 v1.5 encryption (CMS key transport
//!   to a SCEP CA).
//! - [`RsaPrivateKey`] (feature `soft-keys`): signing and decryption with the CRT, blinding,
//!   a fault check, and implicit rejection for PKCS#1 v1.5 decryption.
//!
//! The `rsa` crate is not used because it needs `alloc`. Cost on a Cortex-M4 (`bench/run.sh`,
//! docs/footprint.md): RSA-2048 sign or decrypt about 46 M instructions and under 8 KiB of
//! stack, verify 1.5 M.

#[cfg(feature = "soft-keys")]
mod arith;
pub mod mont;
pub mod padding;
#[cfg(feature = "soft-keys")]
mod prime;
#[cfg(feature = "soft-keys")]
mod private;

/// Largest modulus in bytes (4096 bits).
pub const MAX_MODULUS_LEN: usize = 512;
/// Smallest modulus in bits.
pub const MIN_MODULUS_BITS: usize = 2048;
pub use padding::PssParams;

/// The longest public exponent accepted, in bytes: an odd exponent of at most 2^32.
pub const MAX_EXPONENT_LEN: usize = 4;
#[cfg(feature = "soft-keys")]
pub use private::{RsaPrivateKey, RsaPrivateKey2048, RsaPrivateKey3072, RsaPrivateKey4096};

use crate::CryptoError;
use crate::crypto::digest::HashAlgorithm;
use rand_core::CryptoRngCore;

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017 A.1.1).
#[derive(der::Sequence)]
struct RsaPublicKeyAsn1<'a> {
    modulus: der::asn1::UintRef<'a>,
    public_exponent: der::asn1::UintRef<'a>,
}

/// A borrowed RSA public key: big-endian modulus and exponent without leading zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsaPublicKey<'a> {
    n: &'a [u8],
    e: &'a [u8],
}

impl<'a> RsaPublicKey<'a> {
    /// Checks and wraps a modulus and exponent (big-endian; leading zeros are ignored).
    ///
    /// The modulus must be odd and 2048..=4096 bits, a whole number of bytes; the exponent
    /// odd, at least 3, below the modulus and at most 2^32 ([`MAX_EXPONENT_LEN`] bytes).
    pub fn new(modulus: &'a [u8], exponent: &'a [u8]) -> Result<Self, CryptoError> {
        let n = strip_zeros(modulus);
        let e = strip_zeros(exponent);
        let bits = bit_len(n);
        // Whole bytes only (as rustls-webpki): a 2047- or 2052-bit modulus is not a key any
        // real implementation makes.
        if !(MIN_MODULUS_BITS..=MAX_MODULUS_LEN * 8).contains(&bits) || !bits.is_multiple_of(8) {
            return Err(CryptoError::UnsupportedKeySize { bits: u16::try_from(bits).unwrap_or(u16::MAX) });
        }
        let odd = |x: &[u8]| x.last().is_some_and(|b| b & 1 == 1);
        // The exponent is at most 2^32 (it is odd, so at most 4 bytes): a huge one would make a
        // verification arbitrarily costly (as rustls-webpki and Mbed TLS bound it).
        if !odd(n)
            || !odd(e)
            || (e.len() == 1 && e.first() == Some(&1))
            || e.len() > MAX_EXPONENT_LEN
            || e.len() > n.len()
            || (e.len() == n.len() && e >= n)
        {
            return Err(CryptoError::InvalidKey);
        }
        Ok(Self { n, e })
    }

    /// Parses a DER `RSAPublicKey` (the contents of an RSA SubjectPublicKeyInfo bit string).
    pub fn from_pkcs1_der(der_bytes: &'a [u8]) -> Result<Self, CryptoError> {
        // The crate's strict DER walker, with the rules of `der`'s `UintRef` (minimal, not
        // negative): the same keys accepted as through `der`'s decoder, without linking it.
        use crate::asn1::tlv::{Tlv, tag};
        let parsed = (|| {
            let mut c = Tlv::parse_exact(der_bytes)?.with_tag(tag::SEQUENCE)?.children();
            let n = c.expect_next(tag::INTEGER)?.unsigned_integer()?;
            let e = c.expect_next(tag::INTEGER)?.unsigned_integer()?;
            c.finish()?;
            Ok::<_, crate::error::DecodeError>((n, e))
        })();
        let (n, e) = parsed.map_err(|_| CryptoError::InvalidKey)?;
        Self::new(n, e)
    }

    /// Writes the DER `RSAPublicKey` into `out`.
    pub fn to_pkcs1_der<'o>(&self, out: &'o mut [u8]) -> Result<&'o [u8], CryptoError> {
        use der::Encode;
        let k = RsaPublicKeyAsn1 {
            modulus: der::asn1::UintRef::new(self.n).map_err(|_| CryptoError::InvalidKey)?,
            public_exponent: der::asn1::UintRef::new(self.e).map_err(|_| CryptoError::InvalidKey)?,
        };
        let needed = k.encoded_len().and_then(usize::try_from).map_err(|_| CryptoError::InvalidKey)?;
        let out = out.get_mut(..needed).ok_or(CryptoError::BufferTooSmall { needed })?;
        k.encode_to_slice(out).map_err(|_| CryptoError::BufferTooSmall { needed })
    }

    /// The modulus, big-endian, no leading zeros.
    pub fn modulus(&self) -> &'a [u8] {
        self.n
    }

    /// The public exponent, big-endian, no leading zeros.
    pub fn exponent(&self) -> &'a [u8] {
        self.e
    }

    /// The modulus length in bytes (`k` in RFC 8017): the length of signatures and ciphertexts.
    pub fn modulus_len(&self) -> usize {
        self.n.len()
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> u16 {
        u16::try_from(bit_len(self.n)).unwrap_or(u16::MAX)
    }

    /// RSAVP1: `signature^e mod n` into `em` (`k` bytes). A signature of the wrong length or
    /// not below the modulus is [`CryptoError::SignatureInvalid`].
    fn open_signature<'b>(&self, signature: &[u8], em: &'b mut [u8; MAX_MODULUS_LEN]) -> Result<&'b [u8], CryptoError> {
        let k = self.modulus_len();
        if signature.len() != k {
            return Err(CryptoError::SignatureInvalid);
        }
        let em = em.get_mut(..k).ok_or(CryptoError::SignatureInvalid)?;
        mont::public_op(self.n, self.e, signature, em).map_err(|_| CryptoError::SignatureInvalid)?;
        Ok(em)
    }

    /// Verifies an RSASSA-PKCS1-v1_5 signature over `digest` (RFC 8017 section 8.2.2).
    ///
    /// SHA-1 is refused with [`CryptoError::UnsupportedAlgorithm`] unless `legacy-crypto` is
    /// enabled.
    // Each verification in a frame of its own (stack): inlined, the two encoded-message
    // buffers and the ECDSA branch of the caller shared one frame.
    #[inline(never)]
    pub fn verify_pkcs1v15(&self, hash: HashAlgorithm, digest: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        check_signature_hash(hash)?;
        if digest.len() != hash.output_len() {
            return Err(CryptoError::InvalidLength { what: "digest" });
        }
        let mut em = [0u8; MAX_MODULUS_LEN];
        let em = self.open_signature(signature, &mut em)?;
        padding::emsa_pkcs1v15_verify(hash, digest, em)
    }

    /// Verifies an RSASSA-PSS signature over `digest` (RFC 8017 section 8.1.2).
    #[inline(never)]
    pub fn verify_pss(&self, params: PssParams, digest: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        check_signature_hash(params.hash)?;
        let mut em = [0u8; MAX_MODULUS_LEN];
        let em = self.open_signature(signature, &mut em)?;
        padding::emsa_pss_verify(params, digest, em, bit_len(self.n))
    }

    /// RSAES-PKCS1-v1_5 encryption of `msg` (at most `k - 11` bytes) into `out` (`k` bytes).
    pub fn encrypt_pkcs1v15<'o>(&self, rng: &mut impl CryptoRngCore, msg: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], CryptoError> {
        let k = self.modulus_len();
        let out = out.get_mut(..k).ok_or(CryptoError::BufferTooSmall { needed: k })?;
        let mut em = zeroize::Zeroizing::new([0u8; MAX_MODULUS_LEN]);
        let em = em.get_mut(..k).ok_or(CryptoError::InvalidKey)?;
        padding::eme_pkcs1v15_encode(rng, msg, em)?;
        mont::public_op(self.n, self.e, em, out)?;
        Ok(out)
    }
}

/// Refuses SHA-1 signatures unless `legacy-crypto` is on.
pub(crate) fn check_signature_hash(hash: HashAlgorithm) -> Result<(), CryptoError> {
    if hash == HashAlgorithm::Sha1 && !cfg!(feature = "legacy-crypto") {
        return Err(CryptoError::UnsupportedAlgorithm);
    }
    Ok(())
}

fn strip_zeros(x: &[u8]) -> &[u8] {
    let first = x.iter().position(|b| *b != 0).unwrap_or(x.len());
    x.get(first..).unwrap_or(&[])
}

fn bit_len(x: &[u8]) -> usize {
    match x.first() {
        Some(b) => x.len() * 8 - b.leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `RSAPublicKey` encodings, well-formed and not: the walker here must accept and refuse
    /// exactly what `der`'s derived decoder (which it replaced) does.
    #[test]
    fn pkcs1_public_keys_decode_as_the_der_crate_does() {
        use der::Decode;
        let der_of = |parts: &[&[u8]], trailing: &[u8]| {
            let body: std::vec::Vec<u8> = parts.concat();
            let mut t = std::vec![0x30, 0x82, (body.len() >> 8) as u8, body.len() as u8];
            t.extend_from_slice(&body);
            t.extend_from_slice(trailing);
            t
        };
        let int = |v: &[u8]| {
            let mut t =
                if v.len() < 128 { std::vec![0x02, v.len() as u8] } else { std::vec![0x02, 0x82, (v.len() >> 8) as u8, v.len() as u8] };
            t.extend_from_slice(v);
            t
        };
        let mut modulus = std::vec![0xc5u8; 256];
        modulus[255] |= 1;
        let mut padded = std::vec![0u8];
        padded.extend_from_slice(&modulus);
        let mut double_zero = std::vec![0u8, 0];
        double_zero.extend_from_slice(&modulus);
        let cases = [
            der_of(&[&int(&padded), &int(&[1, 0, 1])], &[]),
            der_of(&[&int(&modulus), &int(&[1, 0, 1])], &[]),
            der_of(&[&int(&double_zero), &int(&[1, 0, 1])], &[]),
            der_of(&[&int(&padded), &int(&[0, 1, 0, 1])], &[]),
            der_of(&[&int(&padded), &int(&[3])], &[]),
            der_of(&[&int(&padded), &int(&[1, 0, 1])], &[0]),
            der_of(&[&int(&padded)], &[]),
            der_of(&[&int(&padded), &int(&[1, 0, 1]), &int(&[1])], &[]),
            der_of(&[&int(&padded), &int(&[])], &[]),
            der_of(&[&int(&padded), &int(&[0x81])], &[]),
        ];
        for c in &cases {
            let theirs =
                RsaPublicKeyAsn1::from_der(c).ok().and_then(|k| RsaPublicKey::new(k.modulus.as_bytes(), k.public_exponent.as_bytes()).ok());
            assert_eq!(RsaPublicKey::from_pkcs1_der(c).ok(), theirs, "{:02x?}", &c[..8]);
        }
        assert!(RsaPublicKey::from_pkcs1_der(&cases[0]).is_ok());
    }

    #[test]
    fn key_checks_reject_weak_or_malformed_keys() {
        let mut n = [0xffu8; 256];
        assert!(RsaPublicKey::new(&n, &[1, 0, 1]).is_ok());
        assert_eq!(RsaPublicKey::new(&n[..128], &[1, 0, 1]), Err(CryptoError::UnsupportedKeySize { bits: 1024 }));
        assert_eq!(RsaPublicKey::new(&[0xffu8; 513], &[3]), Err(CryptoError::UnsupportedKeySize { bits: 4104 }));
        assert_eq!(RsaPublicKey::new(&n, &[1]), Err(CryptoError::InvalidKey));
        assert_eq!(RsaPublicKey::new(&n, &[2]), Err(CryptoError::InvalidKey));
        assert_eq!(RsaPublicKey::new(&n, &[]), Err(CryptoError::InvalidKey));
        assert_eq!(RsaPublicKey::new(&n, &n), Err(CryptoError::InvalidKey));
        n[255] = 0xfe;
        assert_eq!(RsaPublicKey::new(&n, &[3]), Err(CryptoError::InvalidKey));
        let mut padded = [0u8; 258];
        padded[2..].fill(0xff);
        assert_eq!(RsaPublicKey::new(&padded, &[0, 3]).unwrap().modulus_len(), 256);
        assert!(RsaPublicKey::from_pkcs1_der(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
    }

    #[test]
    fn wrong_length_signatures_fail_without_panicking() {
        let n = [0xffu8; 256];
        let k = RsaPublicKey::new(&n, &[1, 0, 1]).unwrap();
        let d = [0u8; 32];
        assert_eq!(k.verify_pkcs1v15(HashAlgorithm::Sha256, &d, &[1u8; 255]), Err(CryptoError::SignatureInvalid));
        assert_eq!(k.verify_pkcs1v15(HashAlgorithm::Sha256, &d, &[0xffu8; 256]), Err(CryptoError::SignatureInvalid));
        assert_eq!(k.verify_pkcs1v15(HashAlgorithm::Sha256, &d, &[1u8; 256]), Err(CryptoError::SignatureInvalid));
        assert_eq!(k.verify_pkcs1v15(HashAlgorithm::Sha256, &d[..5], &[1u8; 256]), Err(CryptoError::InvalidLength { what: "digest" }));
        assert_eq!(k.verify_pss(PssParams::new(HashAlgorithm::Sha256), &d, &[1u8; 256]), Err(CryptoError::SignatureInvalid));
        #[cfg(not(feature = "legacy-crypto"))]
        assert_eq!(k.verify_pkcs1v15(HashAlgorithm::Sha1, &[0; 20], &[1u8; 256]), Err(CryptoError::UnsupportedAlgorithm));
    }
}
