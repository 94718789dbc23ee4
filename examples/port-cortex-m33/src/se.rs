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
