//! Software keys (feature `soft-keys`): the private key lives in RAM, in this crate.
//!
//! Meant for tests, examples, host tools and boards without a secure element. Key material is
//! zeroized on drop, and every private operation is constant-time with respect to the key
//! as far as the underlying code is (p256's scalar arithmetic; the crate's own Montgomery
//! arithmetic for RSA, `crypto::rsa::mont`, plus RSA blinding). A secure element remains the better place for a key.

use super::{Decrypter, ErrorKind, ErrorType, KeyAgreement, KeyType, Signer};
use crate::CryptoError;
use crate::crypto::digest::Digest;
use crate::crypto::rsa::RsaPrivateKey2048;
use crate::crypto::rsa::{RsaPrivateKey, check_signature_hash};
use der::Encode;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use rand_core::CryptoRngCore;

pub use crate::crypto::rsa::{
    RsaPrivateKey2048 as SoftRsaKey2048, RsaPrivateKey3072 as SoftRsaKey3072, RsaPrivateKey4096 as SoftRsaKey4096,
};

/// A software RSA key; see the size aliases [`SoftRsaKey2048`], [`SoftRsaKey3072`],
/// [`SoftRsaKey4096`].
pub type SoftRsaKey<const L: usize, const H: usize> = RsaPrivateKey<L, H>;

/// Length of a P-256 SubjectPublicKeyInfo ([`crate::crypto::p256::SPKI_LEN`]).
pub const P256_SPKI_LEN: usize = crate::crypto::p256::SPKI_LEN;

/// A software ECDSA/ECDH key on P-256. Signatures are deterministic (RFC 6979).
///
/// The public key is computed once, when the key is made, and kept with it (a signature
/// costs one scalar multiplication, not two).
#[derive(Clone)]
pub struct SoftP256Key {
    signing: SigningKey,
}

impl core::fmt::Debug for SoftP256Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SoftP256Key(secret not shown)")
    }
}

impl SoftP256Key {
    /// Generates a fresh key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self::from_secret(&p256::SecretKey::random(rng))
    }

    /// A key from its 32-byte big-endian scalar (must be in `1..n`).
    pub fn from_bytes(scalar: &[u8]) -> Result<Self, CryptoError> {
        p256::SecretKey::from_slice(scalar).map(|secret| Self::from_secret(&secret)).map_err(|_| CryptoError::InvalidKey)
    }

    /// A key from an unencrypted DER PKCS#8 `PrivateKeyInfo` (what `openssl genpkey` writes).
    pub fn from_pkcs8_der(der_bytes: &[u8]) -> Result<Self, CryptoError> {
        use p256::pkcs8::DecodePrivateKey;
        p256::SecretKey::from_pkcs8_der(der_bytes).map(|secret| Self::from_secret(&secret)).map_err(|_| CryptoError::InvalidKey)
    }

    /// A key from a DER SEC1 `ECPrivateKey` (what `openssl ecparam -genkey` writes).
    pub fn from_sec1_der(der_bytes: &[u8]) -> Result<Self, CryptoError> {
        p256::SecretKey::from_sec1_der(der_bytes).map(|secret| Self::from_secret(&secret)).map_err(|_| CryptoError::InvalidKey)
    }

    fn from_secret(secret: &p256::SecretKey) -> Self {
        Self { signing: SigningKey::from(secret) }
    }

    /// The public key as an uncompressed SEC1 point.
    pub fn public_key_sec1(&self) -> [u8; crate::crypto::p256::PUBLIC_KEY_LEN] {
        let mut out = [0u8; crate::crypto::p256::PUBLIC_KEY_LEN];
        let point = self.signing.verifying_key().to_encoded_point(false);
        for (d, s) in out.iter_mut().zip(point.as_bytes()) {
            *d = *s;
        }
        out
    }
}

impl ErrorType for SoftP256Key {
    type Error = CryptoError;
}

impl Signer for SoftP256Key {
    fn key_type(&self) -> KeyType {
        KeyType::EcP256
    }

    fn public_key_der(&mut self, out: &mut [u8]) -> Result<usize, CryptoError> {
        let out = out.get_mut(..P256_SPKI_LEN).ok_or(CryptoError::BufferTooSmall { needed: P256_SPKI_LEN })?;
        let (head, point) = out.split_at_mut(crate::crypto::p256::SPKI_HEADER.len());
        head.copy_from_slice(&crate::crypto::p256::SPKI_HEADER);
        point.copy_from_slice(&self.public_key_sec1());
        Ok(P256_SPKI_LEN)
    }

    fn sign_prehash(&mut self, digest: &Digest, out: &mut [u8]) -> Result<usize, CryptoError> {
        check_signature_hash(digest.algorithm())?;
        let out = out
            .get_mut(..crate::crypto::p256::RAW_SIGNATURE_LEN)
            .ok_or(CryptoError::BufferTooSmall { needed: crate::crypto::p256::RAW_SIGNATURE_LEN })?;
        let sig: p256::ecdsa::Signature =
            self.signing.sign_prehash(digest.as_bytes()).map_err(|_| CryptoError::InvalidLength { what: "digest" })?;
        out.copy_from_slice(&sig.to_bytes());
        Ok(out.len())
    }
}

impl KeyAgreement for SoftP256Key {
    fn agree(&mut self, peer_public_key: &[u8], shared_secret: &mut [u8; 32]) -> Result<(), CryptoError> {
        let secret = p256::SecretKey::from(self.signing.as_nonzero_scalar());
        crate::crypto::p256::ecdh(&secret, peer_public_key, shared_secret)
    }
}

impl<const L: usize, const H: usize> ErrorType for RsaPrivateKey<L, H> {
    type Error = CryptoError;
}

impl<const L: usize, const H: usize> Signer for RsaPrivateKey<L, H> {
    fn key_type(&self) -> KeyType {
        KeyType::Rsa { bits: self.bits() }
    }

    fn public_key_der(&mut self, out: &mut [u8]) -> Result<usize, CryptoError> {
        let mut pkcs1 = [0u8; crate::crypto::rsa::MAX_MODULUS_LEN + 32];
        let pkcs1 = self.public_key_pkcs1_der(&mut pkcs1)?;
        let spki = spki::SubjectPublicKeyInfo {
            algorithm: spki::AlgorithmIdentifierRef { oid: RSA_ENCRYPTION, parameters: Some(der::asn1::AnyRef::NULL) },
            subject_public_key: der::asn1::BitStringRef::from_bytes(pkcs1).map_err(|_| CryptoError::InvalidKey)?,
        };
        let needed = spki.encoded_len().and_then(usize::try_from).map_err(|_| CryptoError::InvalidKey)?;
        let out = out.get_mut(..needed).ok_or(CryptoError::BufferTooSmall { needed })?;
        spki.encode_to_slice(out).map_err(|_| CryptoError::BufferTooSmall { needed })?;
        Ok(needed)
    }

    fn sign_prehash(&mut self, digest: &Digest, out: &mut [u8]) -> Result<usize, CryptoError> {
        self.sign_pkcs1v15(digest.algorithm(), digest.as_bytes(), out).map(|s| s.len())
    }
}

impl<const L: usize, const H: usize> Decrypter for RsaPrivateKey<L, H> {
    fn decrypt_pkcs1v15(&mut self, ciphertext: &[u8], plaintext: &mut [u8]) -> Result<(), CryptoError> {
        self.decrypt_pkcs1v15_implicit(ciphertext, plaintext)
    }
}

/// rsaEncryption (RFC 8017 appendix C).
const RSA_ENCRYPTION: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// What [`SoftKeySlots::generate`](crate::hal::KeySlots::generate) makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoftKeyKind {
    /// ECDSA/ECDH P-256.
    P256,
    /// RSA-2048 (generation takes seconds on a host, minutes on a microcontroller).
    Rsa2048,
}

/// One software key (in place: no allocator, so the RSA variant's size is the slot's).
#[allow(clippy::large_enum_variant)]
enum SoftKey {
    P256(SoftP256Key),
    Rsa2048(RsaPrivateKey2048),
}

/// Software keys in `N` numbered slots, as [`KeySlots`](crate::hal::KeySlots) for the
/// lifecycle runner: for hosts, tests and emulators. The keys live in RAM (zeroized on drop
/// by their types); a device keeps them in a secure element or encrypted flash instead.
pub struct SoftKeySlots<const N: usize> {
    kind: SoftKeyKind,
    slots: [Option<SoftKey>; N],
}

impl<const N: usize> core::fmt::Debug for SoftKeySlots<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SoftKeySlots")
            .field("kind", &self.kind)
            .field("filled", &self.slots.iter().filter(|s| s.is_some()).count())
            .finish()
    }
}

impl<const N: usize> SoftKeySlots<N> {
    /// Empty slots; `generate` makes keys of `kind`.
    pub fn new(kind: SoftKeyKind) -> Self {
        Self { kind, slots: core::array::from_fn(|_| None) }
    }

    /// Installs a provisioned P-256 key in `slot`.
    pub fn insert_p256(&mut self, slot: u8, key: SoftP256Key) -> Result<(), ErrorKind> {
        *self.slots.get_mut(usize::from(slot)).ok_or(ErrorKind::NotFound)? = Some(SoftKey::P256(key));
        Ok(())
    }

    /// Installs a provisioned RSA-2048 key in `slot`.
    pub fn insert_rsa2048(&mut self, slot: u8, key: RsaPrivateKey2048) -> Result<(), ErrorKind> {
        *self.slots.get_mut(usize::from(slot)).ok_or(ErrorKind::NotFound)? = Some(SoftKey::Rsa2048(key));
        Ok(())
    }

    fn key(&mut self, slot: u8) -> Result<&mut SoftKey, ErrorKind> {
        self.slots.get_mut(usize::from(slot)).and_then(Option::as_mut).ok_or(ErrorKind::NotFound)
    }
}

impl<const N: usize> crate::hal::KeySlots for SoftKeySlots<N> {
    fn key_type(&self, slot: u8) -> Option<KeyType> {
        match self.slots.get(usize::from(slot))?.as_ref()? {
            SoftKey::P256(_) => Some(KeyType::EcP256),
            SoftKey::Rsa2048(_) => Some(KeyType::Rsa { bits: 2048 }),
        }
    }
    fn generate(&mut self, slot: u8, rng: &mut dyn CryptoRngCore) -> Result<(), ErrorKind> {
        let mut rng = rng;
        let key = match self.kind {
            SoftKeyKind::P256 => SoftKey::P256(SoftP256Key::generate(&mut rng)),
            SoftKeyKind::Rsa2048 => SoftKey::Rsa2048(RsaPrivateKey2048::generate(&mut rng).map_err(|e| crate::hal::Error::kind(&e))?),
        };
        *self.slots.get_mut(usize::from(slot)).ok_or(ErrorKind::NotFound)? = Some(key);
        Ok(())
    }
    fn public_key_der(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, ErrorKind> {
        match self.key(slot)? {
            SoftKey::P256(k) => k.public_key_der(out).map_err(|e| crate::hal::Error::kind(&e)),
            SoftKey::Rsa2048(k) => k.public_key_der(out).map_err(|e| crate::hal::Error::kind(&e)),
        }
    }
    fn sign(&mut self, slot: u8, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        match self.key(slot)? {
            SoftKey::P256(k) => k.sign_prehash(digest, out).map_err(|e| crate::hal::Error::kind(&e)),
            SoftKey::Rsa2048(k) => k.sign_prehash(digest, out).map_err(|e| crate::hal::Error::kind(&e)),
        }
    }
    fn decrypt(&mut self, slot: u8, ciphertext: &[u8], plaintext: &mut [u8]) -> Result<(), ErrorKind> {
        match self.key(slot)? {
            SoftKey::Rsa2048(k) => k.decrypt_pkcs1v15(ciphertext, plaintext).map_err(|e| crate::hal::Error::kind(&e)),
            SoftKey::P256(_) => Err(ErrorKind::Unsupported),
        }
    }
    fn agree(&mut self, slot: u8, peer_public_key: &[u8], shared_secret: &mut [u8; 32]) -> Result<(), ErrorKind> {
        match self.key(slot)? {
            SoftKey::P256(k) => k.agree(peer_public_key, shared_secret).map_err(|e| crate::hal::Error::kind(&e)),
            SoftKey::Rsa2048(_) => Err(ErrorKind::Unsupported),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::HashAlgorithm;
    use crate::hal::{MessageSigner, SignatureBytes};
    use rand::SeedableRng;
    use signature::SignerMut;

    #[test]
    fn p256_soft_key_signs_verifiably_and_exports_spki() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut key = SoftP256Key::generate(&mut rng);
        let mut spki = [0u8; 100];
        let n = key.public_key_der(&mut spki).unwrap();
        assert_eq!(n, 91);
        assert_eq!(&spki[26..91], &key.public_key_sec1()[..]);
        let d = HashAlgorithm::Sha256.digest(b"msg").unwrap();
        let mut sig = [0u8; 64];
        assert_eq!(key.sign_prehash(&d, &mut sig).unwrap(), 64);
        crate::crypto::p256::verify_prehash_raw(&key.public_key_sec1(), d.as_bytes(), &sig).unwrap();
        assert_eq!(key.sign_prehash(&d, &mut sig[..63]), Err(CryptoError::BufferTooSmall { needed: 64 }));
        assert_eq!(key.public_key_der(&mut spki[..90]), Err(CryptoError::BufferTooSmall { needed: 91 }));
        assert!(SoftP256Key::from_bytes(&[0u8; 32]).is_err());
        assert!(SoftP256Key::from_pkcs8_der(&[0x30, 0x00]).is_err());
        assert!(SoftP256Key::from_sec1_der(&[]).is_err());
    }

    #[test]
    fn message_signer_gives_der_ecdsa_for_the_signature_crate() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let mut key = SoftP256Key::generate(&mut rng);
        let public = key.public_key_sec1();
        let mut signer = MessageSigner::new(&mut key, HashAlgorithm::Sha256);
        let sig: SignatureBytes = signer.try_sign(b"tls transcript").unwrap();
        let d = HashAlgorithm::Sha256.digest(b"tls transcript").unwrap();
        crate::crypto::p256::verify_prehash(&public, d.as_bytes(), sig.as_ref()).unwrap();
        assert_eq!(sig.as_ref()[0], 0x30, "DER SEQUENCE");
    }

    #[test]
    fn soft_keys_agree_on_ecdh() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut a = SoftP256Key::generate(&mut rng);
        let mut b = SoftP256Key::generate(&mut rng);
        let (mut s1, mut s2) = ([0u8; 32], [0u8; 32]);
        a.agree(&b.public_key_sec1(), &mut s1).unwrap();
        b.agree(&a.public_key_sec1(), &mut s2).unwrap();
        assert_eq!(s1, s2);
        assert_eq!(a.agree(&[4u8; 65], &mut s1), Err(CryptoError::InvalidKey));
    }
}
