//! The hardware-abstraction layer: what a port implements so the protocols can use a key,
//! a clock and storage they never own.
//!
//! Small traits, one concern each, all `&mut self`, all implemented for `&mut T` too, with an
//! error type per implementation that maps to an [`ErrorKind`] (the embedded-hal pattern):
//!
//! | trait | what it does | needed for |
//! |---|---|---|
//! | [`Signer`] | public key + `sign_prehash` (ECDSA P-256, RSA PKCS#1 v1.5 2048..=4096) | CSRs, SCEP requests, TLS client auth |
//! | [`KeyAgreement`] | ECDH on the device's P-256 key | CMS KeyAgreeRecipientInfo (EC devices) |
//! | [`Decrypter`] | RSA PKCS#1 v1.5 decryption of a content-encryption key | CMS KeyTransRecipientInfo (RSA devices) |
//! | [`Clock`] | trusted wall-clock time, if any | validity checks, renewal timing |
//! | [`StateStore`] | load/store small records in numbered slots | resuming transactions across reboots |
//! | [`KeySlots`] | keys in numbered slots: generate, public key, sign, decrypt, agree | the lifecycle runner |
//!
//! Randomness is `rand_core::CryptoRngCore`, not a trait of ours. The private key never
//! enters the crate: a key operation is asked for with small owned values (a [`Digest`], a
//! peer public key, a ciphertext) and answered with bytes.
//!
//! [`oneshot`] runs the codecs' two phases around a key operation on one of these traits in
//! one call (sign a CSR, open an envelope), for code that holds its key itself.
//!
//! With the `soft-keys` feature, [`soft`] has software implementations for tests, examples
//! and boards without a secure element.

use crate::CryptoError;
use crate::crypto::digest::{Digest, HashAlgorithm};
use crate::time::UnixTime;

pub mod oneshot;
#[cfg(feature = "soft-keys")]
pub mod soft;

/// What went wrong in a hardware implementation, in terms the protocol layer can act on.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ErrorKind {
    /// The device is busy; the same call may succeed later.
    Busy,
    /// An output buffer was too small.
    BufferTooSmall,
    /// The device cannot do this operation or algorithm (e.g. SHA-1, or RSA on an EC key).
    Unsupported,
    /// No key (or no record) in the addressed slot.
    NotFound,
    /// An input was rejected (a malformed peer key, a ciphertext of the wrong size).
    InvalidInput,
    /// A storage read or write failed.
    Storage,
    /// Any other failure.
    Other,
}

impl core::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Busy => "the device is busy",
            Self::BufferTooSmall => "an output buffer was too small",
            Self::Unsupported => "the device cannot do this operation or algorithm",
            Self::NotFound => "no key or record in the addressed slot",
            Self::InvalidInput => "an input was rejected",
            Self::Storage => "a storage read or write failed",
            Self::Other => "the device failed",
        })
    }
}

/// An implementation's error type.
pub trait Error: core::fmt::Debug {
    /// The kind of failure.
    fn kind(&self) -> ErrorKind;
}

impl Error for ErrorKind {
    fn kind(&self) -> ErrorKind {
        *self
    }
}

impl Error for core::convert::Infallible {
    fn kind(&self) -> ErrorKind {
        match *self {}
    }
}

impl Error for CryptoError {
    fn kind(&self) -> ErrorKind {
        match self {
            CryptoError::BufferTooSmall { .. } => ErrorKind::BufferTooSmall,
            CryptoError::UnsupportedAlgorithm | CryptoError::UnsupportedKeySize { .. } => ErrorKind::Unsupported,
            CryptoError::InvalidLength { .. } | CryptoError::InvalidKey | CryptoError::MessageTooLong => ErrorKind::InvalidInput,
            _ => ErrorKind::Other,
        }
    }
}

/// Names the error type of an implementation.
pub trait ErrorType {
    /// The error type.
    type Error: Error;
}

impl<T: ErrorType + ?Sized> ErrorType for &mut T {
    type Error = T::Error;
}

/// The type and size of a device key (defined with the crypto adapters, which the codecs use
/// too).
pub use crate::crypto::KeyType;

/// Which device key a protocol client asks to use: the key being certified, or the key of
/// the current certificate (renewals, GetCert, GetCRL, TLS client authentication). Most
/// devices have one key for both; a renewal onto a new key (A/B key slots) has two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KeyRole {
    /// The key being certified: the CSR, a first enrollment's self-signed signer
    /// certificate and its PKCSReq, and the reply's envelope after a PKCSReq.
    Requested,
    /// The key of the existing certificate: a RenewalReq, GetCert or GetCRL message, and
    /// the reply's envelope after it.
    Certificate,
    /// The ACME account key: every JWS the ACME client sends.
    Account,
}

/// A private key that can sign a digest: a secure element, a TPM, an HSM or a software key.
pub trait Signer: ErrorType {
    /// The key's type and size.
    fn key_type(&self) -> KeyType;

    /// Writes the public key as a DER `SubjectPublicKeyInfo` (RFC 5280 section 4.1.2.7) into
    /// `out` and returns its length (91 bytes for P-256; about 294 for RSA-2048).
    fn public_key_der(&mut self, out: &mut [u8]) -> Result<usize, Self::Error>;

    /// Signs an already-computed digest and returns the signature length:
    /// - P-256: ECDSA over `digest`, written **raw** as `r || s` (64 bytes, big-endian, as
    ///   secure elements produce it); the crate DER-encodes it where a format needs that.
    /// - RSA: RSASSA-PKCS1-v1_5 with the DigestInfo of `digest.algorithm()`, `k` bytes.
    ///
    /// `out` has at least [`KeyType::signature_len`] bytes.
    fn sign_prehash(&mut self, digest: &Digest, out: &mut [u8]) -> Result<usize, Self::Error>;
}

impl<T: Signer + ?Sized> Signer for &mut T {
    fn key_type(&self) -> KeyType {
        T::key_type(self)
    }
    fn public_key_der(&mut self, out: &mut [u8]) -> Result<usize, Self::Error> {
        T::public_key_der(self, out)
    }
    fn sign_prehash(&mut self, digest: &Digest, out: &mut [u8]) -> Result<usize, Self::Error> {
        T::sign_prehash(self, digest, out)
    }
}

/// ECDH with the device's P-256 key (CMS KeyAgreeRecipientInfo, RFC 5753).
pub trait KeyAgreement: ErrorType {
    /// Computes the shared secret (the x-coordinate, 32 bytes) with `peer_public_key`, a SEC1
    /// point (65-byte uncompressed form). The implementation must reject points that are not on
    /// the curve. The caller wipes `shared_secret` after use.
    fn agree(&mut self, peer_public_key: &[u8], shared_secret: &mut [u8; 32]) -> Result<(), Self::Error>;
}

impl<T: KeyAgreement + ?Sized> KeyAgreement for &mut T {
    fn agree(&mut self, peer_public_key: &[u8], shared_secret: &mut [u8; 32]) -> Result<(), Self::Error> {
        T::agree(self, peer_public_key, shared_secret)
    }
}

/// RSA PKCS#1 v1.5 decryption with the device's RSA key (CMS KeyTransRecipientInfo).
pub trait Decrypter: ErrorType {
    /// Decrypts `ciphertext` (modulus length) expecting a message of exactly
    /// `plaintext.len()` bytes (a content-encryption key).
    ///
    /// **Implicit rejection is required**: if the padding is invalid or the message has
    /// another length, the implementation writes pseudo-random bytes (deterministic for the
    /// key and ciphertext) and returns `Ok`, taking the same time. Returning an error or taking
    /// a different path on bad padding is a padding oracle (Bleichenbacher; the Marvin attack).
    /// Errors are only for public facts: wrong ciphertext length, hardware failure.
    fn decrypt_pkcs1v15(&mut self, ciphertext: &[u8], plaintext: &mut [u8]) -> Result<(), Self::Error>;
}

impl<T: Decrypter + ?Sized> Decrypter for &mut T {
    fn decrypt_pkcs1v15(&mut self, ciphertext: &[u8], plaintext: &mut [u8]) -> Result<(), Self::Error> {
        T::decrypt_pkcs1v15(self, ciphertext, plaintext)
    }
}

/// One device key used by two holders in turn, from a single `&mut` (or owned) key: the TLS
/// connector's client authentication and the protocol client's requests (EST's
/// `/simplereenroll` signs its CSR with the key that signs the TLS CertificateVerify).
///
/// `&SharedKey<K>` implements [`Signer`], [`KeyAgreement`] and [`Decrypter`] whenever `K`
/// does, so each holder gets a copy of the shared reference and no secret material is cloned.
/// The holders take turns (a handshake, then a request): a use while another is in progress,
/// which only a key implementation that calls back into the same key could cause, is refused
/// with [`SharedKeyError::Busy`] ([`ErrorKind::Busy`]), never a panic.
///
/// ```
/// # #[cfg(feature = "soft-keys")] {
/// use embedded_enroll::crypto::Digest;
/// use embedded_enroll::hal::{SharedKey, Signer};
/// use embedded_enroll::hal::soft::SoftP256Key;
/// # let mut rng = rand_core::OsRng;
/// let mut key = SoftP256Key::generate(&mut rng);
/// let shared = SharedKey::new(&mut key);
/// let (mut for_tls, mut for_requests) = (&shared, &shared);
/// let digest = Digest::sha256(b"CSR");
/// let mut sig = [0u8; 64];
/// for_tls.sign_prehash(&digest, &mut sig).unwrap();
/// for_requests.sign_prehash(&digest, &mut sig).unwrap();
/// # }
/// ```
pub struct SharedKey<K> {
    key: core::cell::RefCell<K>,
    /// The key's type, read once (a key does not change type).
    key_type: KeyType,
}

impl<K: Signer> SharedKey<K> {
    /// Shares `key` (an owned key, or `&mut` to one).
    pub fn new(key: K) -> Self {
        let key_type = key.key_type();
        Self { key: core::cell::RefCell::new(key), key_type }
    }
}

impl<K> SharedKey<K> {
    /// The key back.
    pub fn into_inner(self) -> K {
        self.key.into_inner()
    }

    fn with<T, E>(&self, f: impl FnOnce(&mut K) -> Result<T, E>) -> Result<T, SharedKeyError<E>> {
        let mut key = self.key.try_borrow_mut().map_err(|_| SharedKeyError::Busy)?;
        f(&mut key).map_err(SharedKeyError::Key)
    }
}

impl<K> core::fmt::Debug for SharedKey<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SharedKey(key not shown)")
    }
}

/// Why a [`SharedKey`] operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SharedKeyError<E> {
    /// The key was in use by the other holder (a key implementation that re-entered it).
    Busy,
    /// The key's own error.
    Key(E),
}

impl<E: Error> core::fmt::Display for SharedKeyError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Busy => f.write_str("the shared key is in use by its other holder"),
            Self::Key(e) => write!(f, "the key failed: {}", e.kind()),
        }
    }
}

impl<E: Error> Error for SharedKeyError<E> {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Busy => ErrorKind::Busy,
            Self::Key(e) => e.kind(),
        }
    }
}

impl<K: ErrorType> ErrorType for &SharedKey<K> {
    type Error = SharedKeyError<K::Error>;
}

impl<K: Signer> Signer for &SharedKey<K> {
    fn key_type(&self) -> KeyType {
        self.key_type
    }
    fn public_key_der(&mut self, out: &mut [u8]) -> Result<usize, Self::Error> {
        self.with(|k| k.public_key_der(out))
    }
    fn sign_prehash(&mut self, digest: &Digest, out: &mut [u8]) -> Result<usize, Self::Error> {
        self.with(|k| k.sign_prehash(digest, out))
    }
}

impl<K: KeyAgreement> KeyAgreement for &SharedKey<K> {
    fn agree(&mut self, peer_public_key: &[u8], shared_secret: &mut [u8; 32]) -> Result<(), Self::Error> {
        self.with(|k| k.agree(peer_public_key, shared_secret))
    }
}

impl<K: Decrypter> Decrypter for &SharedKey<K> {
    fn decrypt_pkcs1v15(&mut self, ciphertext: &[u8], plaintext: &mut [u8]) -> Result<(), Self::Error> {
        self.with(|k| k.decrypt_pkcs1v15(ciphertext, plaintext))
    }
}

/// The device's key slots, addressed by number (secure element slots, TPM handles, key files):
/// what the lifecycle runner generates keys in and uses them through. A slot's key is used for
/// one operation at a time; the runner never asks for the key material.
pub trait KeySlots {
    /// The type of the key in `slot`, or `None` if the slot holds none.
    fn key_type(&self, slot: u8) -> Option<KeyType>;

    /// Generates a new key in `slot`, replacing what it held (the key the runner asked for;
    /// a device that cannot generate keys, RSA on a small MCU say, may install a provisioned
    /// key instead). `rng` is the runner's generator, for software keys.
    fn generate(&mut self, slot: u8, rng: &mut dyn rand_core::CryptoRngCore) -> Result<(), ErrorKind>;

    /// The public key of `slot` as a DER SubjectPublicKeyInfo into `out`; its length.
    fn public_key_der(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, ErrorKind>;

    /// Signs `digest` with the key in `slot`, as [`Signer::sign_prehash`] does.
    fn sign(&mut self, slot: u8, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind>;

    /// RSA decryption with the key in `slot`, as [`Decrypter::decrypt_pkcs1v15`] does
    /// (implicit rejection required). By default unsupported.
    fn decrypt(&mut self, slot: u8, ciphertext: &[u8], plaintext: &mut [u8]) -> Result<(), ErrorKind> {
        let _ = (slot, ciphertext, plaintext);
        Err(ErrorKind::Unsupported)
    }

    /// ECDH with the key in `slot`, as [`KeyAgreement::agree`] does. By default unsupported.
    fn agree(&mut self, slot: u8, peer_public_key: &[u8], shared_secret: &mut [u8; 32]) -> Result<(), ErrorKind> {
        let _ = (slot, peer_public_key, shared_secret);
        Err(ErrorKind::Unsupported)
    }
}

impl<T: KeySlots + ?Sized> KeySlots for &mut T {
    fn key_type(&self, slot: u8) -> Option<KeyType> {
        T::key_type(self, slot)
    }
    fn generate(&mut self, slot: u8, rng: &mut dyn rand_core::CryptoRngCore) -> Result<(), ErrorKind> {
        T::generate(self, slot, rng)
    }
    fn public_key_der(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, ErrorKind> {
        T::public_key_der(self, slot, out)
    }
    fn sign(&mut self, slot: u8, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        T::sign(self, slot, digest, out)
    }
    fn decrypt(&mut self, slot: u8, ciphertext: &[u8], plaintext: &mut [u8]) -> Result<(), ErrorKind> {
        T::decrypt(self, slot, ciphertext, plaintext)
    }
    fn agree(&mut self, slot: u8, peer_public_key: &[u8], shared_secret: &mut [u8; 32]) -> Result<(), ErrorKind> {
        T::agree(self, slot, peer_public_key, shared_secret)
    }
}

/// Trusted wall-clock time.
pub trait Clock {
    /// Now, or `None` while the device has no trusted time (before NTP or a battery-backed RTC
    /// answers). The protocol clients take wall time as `Config::wall_time`: without it they
    /// skip certificate validity checks (documented per client), and deciding when to check
    /// again once time is known is the caller's ([`crate::lifecycle::Manager`] does it).
    fn now(&mut self) -> Option<UnixTime>;
}

impl<T: Clock + ?Sized> Clock for &mut T {
    fn now(&mut self) -> Option<UnixTime> {
        T::now(self)
    }
}

/// Persistent storage for small records (client snapshots, lifecycle state) in numbered
/// slots. Each `store` replaces one slot's whole record; a store interrupted by power loss may
/// leave that slot torn, which is why the lifecycle layer writes two slots alternately and
/// checksums them.
pub trait StateStore: ErrorType {
    /// How many slots there are (at least 2 for A/B writes).
    fn slots(&self) -> u8;

    /// The largest record one slot holds, in bytes.
    fn capacity(&self) -> usize;

    /// Reads slot `slot` into `out` and returns the record length; 0 means the slot is empty.
    fn load(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, Self::Error>;

    /// Replaces the record in slot `slot`.
    fn store(&mut self, slot: u8, record: &[u8]) -> Result<(), Self::Error>;
}

impl<T: StateStore + ?Sized> StateStore for &mut T {
    fn slots(&self) -> u8 {
        T::slots(self)
    }
    fn capacity(&self) -> usize {
        T::capacity(self)
    }
    fn load(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, Self::Error> {
        T::load(self, slot, out)
    }
    fn store(&mut self, slot: u8, record: &[u8]) -> Result<(), Self::Error> {
        T::store(self, slot, record)
    }
}

/// A [`StateStore`] in RAM: `SLOTS` slots of up to `N` bytes. For tests, hosts, and devices
/// that keep state in retained RAM.
#[derive(Debug, Clone)]
pub struct RamStore<const SLOTS: usize, const N: usize> {
    records: [heapless::Vec<u8, N>; SLOTS],
}

impl<const SLOTS: usize, const N: usize> RamStore<SLOTS, N> {
    /// An empty store.
    pub fn new() -> Self {
        Self { records: core::array::from_fn(|_| heapless::Vec::new()) }
    }
}

impl<const SLOTS: usize, const N: usize> Default for RamStore<SLOTS, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const SLOTS: usize, const N: usize> ErrorType for RamStore<SLOTS, N> {
    type Error = ErrorKind;
}

impl<const SLOTS: usize, const N: usize> StateStore for RamStore<SLOTS, N> {
    fn slots(&self) -> u8 {
        u8::try_from(SLOTS).unwrap_or(u8::MAX)
    }
    fn capacity(&self) -> usize {
        N
    }
    fn load(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, ErrorKind> {
        let rec = self.records.get(usize::from(slot)).ok_or(ErrorKind::NotFound)?;
        out.get_mut(..rec.len()).ok_or(ErrorKind::BufferTooSmall)?.copy_from_slice(rec);
        Ok(rec.len())
    }
    fn store(&mut self, slot: u8, record: &[u8]) -> Result<(), ErrorKind> {
        let rec = self.records.get_mut(usize::from(slot)).ok_or(ErrorKind::NotFound)?;
        rec.clear();
        rec.extend_from_slice(record).map_err(|_| ErrorKind::BufferTooSmall)
    }
}

/// A signature as the `signature` crate carries it: DER `ECDSA-Sig-Value` for P-256, the
/// `k`-byte block for RSA (the encodings TLS and X.509 use).
#[derive(Clone)]
pub struct SignatureBytes {
    bytes: [u8; crate::crypto::rsa::MAX_MODULUS_LEN],
    len: usize,
}

impl AsRef<[u8]> for SignatureBytes {
    fn as_ref(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

impl core::fmt::Debug for SignatureBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SignatureBytes({} bytes)", self.len)
    }
}

/// Adapts a [`Signer`] to `signature::SignerMut` (signature 2.x, the version embedded-tls
/// 0.19 uses), hashing the message with `hash` first. This is how the device key
/// authenticates a TLS client: embedded-tls' `CryptoProvider::signer` can return it.
#[derive(Debug)]
pub struct MessageSigner<S> {
    signer: S,
    hash: HashAlgorithm,
}

impl<S: Signer> MessageSigner<S> {
    /// Wraps `signer`; messages are hashed with `hash` (SHA-256 for
    /// `ecdsa_secp256r1_sha256` and `rsa_pkcs1_sha256`). With a hash the build lacks
    /// ([`HashAlgorithm::is_available`]) every signature fails.
    pub fn new(signer: S, hash: HashAlgorithm) -> Self {
        Self { signer, hash }
    }

    /// Gives the signer back.
    pub fn into_inner(self) -> S {
        self.signer
    }
}

impl<S: Signer> signature::SignerMut<SignatureBytes> for MessageSigner<S> {
    fn try_sign(&mut self, msg: &[u8]) -> Result<SignatureBytes, signature::Error> {
        let digest = self.hash.digest(msg).map_err(|_| signature::Error::new())?;
        let mut raw = [0u8; crate::crypto::rsa::MAX_MODULUS_LEN];
        let n = self.signer.sign_prehash(&digest, &mut raw).map_err(|_| signature::Error::new())?;
        let raw = raw.get(..n).ok_or_else(signature::Error::new)?;
        let mut out = SignatureBytes { bytes: [0; crate::crypto::rsa::MAX_MODULUS_LEN], len: 0 };
        out.len = match self.signer.key_type() {
            KeyType::EcP256 => crate::crypto::p256::signature_raw_to_der(raw, &mut out.bytes).map_err(|_| signature::Error::new())?.len(),
            KeyType::Rsa { .. } => {
                out.bytes.get_mut(..n).ok_or_else(signature::Error::new)?.copy_from_slice(raw);
                n
            }
        };
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key that counts its signatures (the shared key's holders take turns on it).
    struct Counting(u32);
    impl ErrorType for Counting {
        type Error = ErrorKind;
    }
    impl Signer for Counting {
        fn key_type(&self) -> KeyType {
            KeyType::EcP256
        }
        fn public_key_der(&mut self, _: &mut [u8]) -> Result<usize, ErrorKind> {
            Err(ErrorKind::Unsupported)
        }
        fn sign_prehash(&mut self, _: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
            self.0 += 1;
            out.first_mut().map(|b| *b = self.0 as u8).ok_or(ErrorKind::BufferTooSmall)?;
            Ok(1)
        }
    }

    #[test]
    fn a_shared_key_serves_both_holders_in_turn_and_refuses_reentry_without_panicking() {
        let mut key = Counting(0);
        let shared = SharedKey::new(&mut key);
        let (mut a, mut b) = (&shared, &shared);
        let d = Digest::sha256(b"x");
        let mut out = [0u8; 4];
        assert_eq!(a.sign_prehash(&d, &mut out), Ok(1));
        assert_eq!(b.sign_prehash(&d, &mut out), Ok(1));
        assert_eq!(out[0], 2, "both holders reached the one key");
        assert_eq!(a.key_type(), KeyType::EcP256);
        // A use while the key is in use (a key that re-entered itself) is Busy, not a panic.
        let held = shared.key.borrow_mut();
        assert_eq!(b.sign_prehash(&d, &mut out), Err(SharedKeyError::Busy));
        assert_eq!(Error::kind(&SharedKeyError::<ErrorKind>::Busy), ErrorKind::Busy);
        assert_eq!(b.key_type(), KeyType::EcP256, "the type needs no borrow");
        drop(held);
        assert_eq!(b.public_key_der(&mut out), Err(SharedKeyError::Key(ErrorKind::Unsupported)));
        assert_eq!(Error::kind(&SharedKeyError::Key(ErrorKind::Unsupported)), ErrorKind::Unsupported);
        assert_eq!(shared.into_inner().0, 2);
    }

    #[test]
    fn ram_store_round_trips_and_bounds_slots_and_sizes() {
        let mut s = RamStore::<2, 8>::new();
        let mut buf = [0u8; 8];
        assert_eq!(s.load(0, &mut buf), Ok(0));
        s.store(1, b"abc").unwrap();
        assert_eq!(s.load(1, &mut buf), Ok(3));
        assert_eq!(&buf[..3], b"abc");
        assert_eq!(s.store(2, b"x"), Err(ErrorKind::NotFound));
        assert_eq!(s.store(0, &[0; 9]), Err(ErrorKind::BufferTooSmall));
        assert_eq!(s.load(1, &mut buf[..2]), Err(ErrorKind::BufferTooSmall));
        let by_ref = &mut s;
        assert_eq!(by_ref.slots(), 2);
        assert_eq!(StateStore::capacity(&by_ref), 8);
        assert_eq!(by_ref.load(1, &mut buf), Ok(3));
    }

    #[test]
    fn crypto_errors_map_to_kinds() {
        assert_eq!(CryptoError::BufferTooSmall { needed: 3 }.kind(), ErrorKind::BufferTooSmall);
        assert_eq!(CryptoError::UnsupportedAlgorithm.kind(), ErrorKind::Unsupported);
        assert_eq!(CryptoError::InvalidKey.kind(), ErrorKind::InvalidInput);
        assert_eq!(CryptoError::SignatureInvalid.kind(), ErrorKind::Other);
    }

    #[test]
    fn key_type_signature_lengths() {
        assert_eq!(KeyType::EcP256.signature_len(), 64);
        assert_eq!(KeyType::Rsa { bits: 2048 }.signature_len(), 256);
        assert_eq!(KeyType::Rsa { bits: 3071 }.signature_len(), 384);
    }
}
