//! HAL: the secure element's key slots.
//!
//! The element (ATECC608- or SE050-style) generates P-256 keys in numbered slots, never lets
//! them out, signs 32-byte digests and does ECDH. [`SecureElement`] is what its driver offers;
//! [`SeKeySlots`] makes it the runner's [`KeySlots`].

use embedded_enroll::crypto::{Digest, p256};
use embedded_enroll::hal::{Error as HalError, ErrorKind, KeySlots, KeyType};
use embedded_enroll::rand_core::CryptoRngCore;

/// What the secure element's driver offers (ATECC608 `GenKey`, `Sign`, `ECDH`; SE050
/// `GenECCKeyPair`, `ECDSASign`, `ECDHGenerateSharedSecret`). Points and signatures are raw,
/// as the chips give them. The slots must allow signing external digests and ECDH with the
/// result returned in the clear.
pub trait SecureElement {
    /// The driver's error, with its kind (`Busy` while the chip sleeps or executes).
    type Error: HalError;
    /// Generates a new P-256 key in `slot` (replacing the one there, with the chip's own
    /// TRNG); its public key, X || Y.
    fn genkey(&mut self, slot: u8) -> Result<[u8; 64], Self::Error>;
    /// The public key of the key in `slot`, X || Y.
    fn pubkey(&mut self, slot: u8) -> Result<[u8; 64], Self::Error>;
    /// ECDSA with the key in `slot` over a 32-byte digest: r || s.
    fn sign(&mut self, slot: u8, digest: &[u8; 32]) -> Result<[u8; 64], Self::Error>;
    /// ECDH of the key in `slot` with the peer point X || Y (already checked to be on the
    /// curve): the shared x-coordinate.
    fn ecdh(&mut self, slot: u8, peer: &[u8; 64]) -> Result<[u8; 32], Self::Error>;
}

/// The secure element as the lifecycle runner's key slots: every slot holds a P-256 key.
#[derive(Debug)]
pub struct SeKeySlots<SE>(pub SE);

fn kind(e: impl HalError) -> ErrorKind {
    e.kind()
}

impl<SE: SecureElement> KeySlots for SeKeySlots<SE> {
    fn key_type(&self, _slot: u8) -> Option<KeyType> {
        Some(KeyType::EcP256)
    }

    fn generate(&mut self, slot: u8, _rng: &mut dyn CryptoRngCore) -> Result<(), ErrorKind> {
        // The chip makes the key with its own TRNG: the runner's generator is not needed.
        self.0.genkey(slot).map(drop).map_err(kind)
    }

    fn public_key_der(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, ErrorKind> {
        let xy = self.0.pubkey(slot).map_err(kind)?;
        let mut point = [0x04; p256::PUBLIC_KEY_LEN];
        point.get_mut(1..).ok_or(ErrorKind::Other)?.copy_from_slice(&xy);
        // The 91-byte SubjectPublicKeyInfo; the point is checked to be on the curve.
        p256::spki_der(&point, out).map(|spki| spki.len()).map_err(kind)
    }

    fn sign(&mut self, slot: u8, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        // ECDSA signs the leftmost 256 bits of the hash (SEC 1, 4.1.3): a longer hash is cut,
        // a shorter one is the same integer padded on the left.
        let hash = digest.as_bytes();
        let n = hash.len().min(32);
        let mut e = [0u8; 32];
        e.get_mut(32 - n..).ok_or(ErrorKind::Other)?.copy_from_slice(hash.get(..n).ok_or(ErrorKind::Other)?);
        let rs = self.0.sign(slot, &e).map_err(kind)?;
        out.get_mut(..rs.len()).ok_or(ErrorKind::BufferTooSmall)?.copy_from_slice(&rs);
        Ok(rs.len())
    }

    fn agree(&mut self, slot: u8, peer_public_key: &[u8], shared_secret: &mut [u8; 32]) -> Result<(), ErrorKind> {
        // Refuses points off the curve, takes compressed ones, gives 0x04 || X || Y.
        let point = p256::normalize_public_key(peer_public_key).map_err(|_| ErrorKind::InvalidInput)?;
        let mut xy = [0u8; 64];
        xy.copy_from_slice(point.get(1..).ok_or(ErrorKind::InvalidInput)?);
        *shared_secret = self.0.ecdh(slot, &xy).map_err(kind)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! On the host: `cargo test --target x86_64-unknown-linux-gnu`, against a software element.
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use ::p256::ecdsa::signature::hazmat::PrehashSigner;
    use ::p256::elliptic_curve::sec1::ToEncodedPoint;
    use ::p256::{PublicKey, SecretKey, ecdh::diffie_hellman, ecdsa::Signature, ecdsa::SigningKey};
    use embedded_enroll::crypto::p256::verify_prehash_raw;

    /// A secure element in software: two slots, keys from a counter (a test, not a device).
    struct SoftSe([Option<SecretKey>; 2], u8);

    impl SoftSe {
        fn key(&self, slot: u8) -> Result<&SecretKey, ErrorKind> {
            self.0.get(usize::from(slot)).and_then(Option::as_ref).ok_or(ErrorKind::NotFound)
        }
    }

    fn xy(key: &PublicKey) -> [u8; 64] {
        key.to_encoded_point(false).as_bytes().to_vec()[1..].try_into().unwrap()
    }

    impl SecureElement for SoftSe {
        type Error = ErrorKind;
        fn genkey(&mut self, slot: u8) -> Result<[u8; 64], ErrorKind> {
            self.1 += 1;
            let key = SecretKey::from_slice(&[self.1; 32]).unwrap();
            let public = xy(&key.public_key());
            *self.0.get_mut(usize::from(slot)).ok_or(ErrorKind::NotFound)? = Some(key);
            Ok(public)
        }
        fn pubkey(&mut self, slot: u8) -> Result<[u8; 64], ErrorKind> {
            Ok(xy(&self.key(slot)?.public_key()))
        }
        fn sign(&mut self, slot: u8, digest: &[u8; 32]) -> Result<[u8; 64], ErrorKind> {
            let signature: Signature = SigningKey::from(self.key(slot)?).sign_prehash(digest).map_err(|_| ErrorKind::Other)?;
            Ok(signature.to_bytes().into())
        }
        fn ecdh(&mut self, slot: u8, peer: &[u8; 64]) -> Result<[u8; 32], ErrorKind> {
            let mut point = [4u8; 65];
            point[1..].copy_from_slice(peer);
            let peer = PublicKey::from_sec1_bytes(&point).map_err(|_| ErrorKind::InvalidInput)?;
            Ok((*diffie_hellman(self.key(slot)?.to_nonzero_scalar(), peer.as_affine()).raw_secret_bytes()).into())
        }
    }

    /// The runner's generator: the element does not use it.
    struct Unused;
    impl embedded_enroll::rand_core::RngCore for Unused {
        fn next_u32(&mut self) -> u32 {
            unreachable!()
        }
        fn next_u64(&mut self) -> u64 {
            unreachable!()
        }
        fn fill_bytes(&mut self, _: &mut [u8]) {
            unreachable!()
        }
        fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), embedded_enroll::rand_core::Error> {
            unreachable!()
        }
    }
    impl embedded_enroll::rand_core::CryptoRng for Unused {}

    #[test]
    fn slots_give_their_spki_sign_verifiably_and_agree() {
        let mut slots = SeKeySlots(SoftSe([None, None], 0));
        let mut spki = [0u8; 100];
        assert_eq!(slots.public_key_der(0, &mut spki), Err(ErrorKind::NotFound));
        slots.generate(0, &mut Unused).unwrap();
        slots.generate(1, &mut Unused).unwrap();
        assert_eq!(slots.key_type(0), Some(KeyType::EcP256));

        // The SubjectPublicKeyInfo is the key's, as the crate parses it.
        let n = slots.public_key_der(0, &mut spki).unwrap();
        let parsed = embedded_enroll::asn1::spki::SpkiRef::parse(&spki[..n]).unwrap();
        assert_eq!(parsed.key_type(), Some(KeyType::EcP256));
        let point = slots.0.0[0].as_ref().unwrap().public_key().to_encoded_point(false).as_bytes().to_vec();
        assert_eq!(&spki[n - 65..n], &point[..]);
        assert_eq!(slots.public_key_der(0, &mut spki[..90]), Err(ErrorKind::BufferTooSmall));

        // Signatures verify with that key (SHA-256 as is; a longer hash by its leftmost 256 bits).
        let digest = Digest::sha256(b"to be signed");
        let mut sig = [0u8; 64];
        assert_eq!(slots.sign(0, &digest, &mut sig), Ok(64));
        verify_prehash_raw(&point, digest.as_bytes(), &sig).unwrap();
        assert!(
            verify_prehash_raw(slots.0.0[1].as_ref().unwrap().public_key().to_encoded_point(false).as_bytes(), digest.as_bytes(), &sig)
                .is_err()
        );
        assert_eq!(slots.sign(0, &digest, &mut sig[..63]), Err(ErrorKind::BufferTooSmall));

        // ECDH: the same secret both ways; a point off the curve never reaches the element.
        let peer = SecretKey::from_slice(&[0x42; 32]).unwrap();
        let mut shared = [0u8; 32];
        slots.agree(0, peer.public_key().to_encoded_point(false).as_bytes(), &mut shared).unwrap();
        let ours = PublicKey::from_sec1_bytes(&point).unwrap();
        assert_eq!(shared[..], diffie_hellman(peer.to_nonzero_scalar(), ours.as_affine()).raw_secret_bytes()[..]);
        let mut off_curve = peer.public_key().to_encoded_point(false).as_bytes().to_vec().to_vec();
        off_curve[64] ^= 1;
        assert_eq!(slots.agree(0, &off_curve, &mut shared), Err(ErrorKind::InvalidInput));
    }
}
