//! Thin, allocation-free adapters over the RustCrypto primitives.
//!
//! Everything here works on caller-provided buffers and returns [`CryptoError`] on bad input;
//! nothing panics. The crates underneath are of one generation (the one embedded-tls 0.19
//! uses: digest 0.10, cipher 0.4, p256 0.13, crypto-bigint 0.5), so firmware that also links
//! embedded-tls carries one copy of each.
//!
//! | module | primitives |
//! |---|---|
//! | [`digest`] | SHA-256; SHA-1 with feature `sha1`; SHA-384 and SHA-512 with feature `sha512` |
//! | [`cbc`] | AES-128/192/256-CBC; 3DES-CBC and DES-CBC (decrypt only) behind `legacy-crypto` |
//! | [`keywrap`] | AES key wrap (RFC 3394) |
//! | [`kdf`] | ANSI X9.63 KDF (SHA-256; SHA-1 and SHA-384 with their features), PBKDF2 (HMAC-SHA256; HMAC-SHA1 with `sha1`) |
//! | [`p256`] | ECDSA verify, ECDH, signature encodings on P-256 |
//! | [`rsa`] | RSA 2048..=4096 on the crate's in-place Montgomery arithmetic ([`rsa::mont`]): PKCS#1 v1.5 and PSS verify, PKCS#1 v1.5 encrypt; private-key operations for software keys (crypto-bigint only to build and generate keys) |
//!
//! [`CryptoError`]: crate::CryptoError

pub mod cbc;
pub mod digest;
pub mod kdf;
pub mod keywrap;
pub mod p256;
pub mod rsa;

pub use digest::{Digest, HashAlgorithm};

/// The type and size of a device key.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KeyType {
    /// ECDSA / ECDH on NIST P-256.
    EcP256,
    /// RSA with a modulus of `bits` bits (2048..=4096).
    Rsa {
        /// Modulus size in bits.
        bits: u16,
    },
}

impl KeyType {
    /// The length of what [`Signer::sign_prehash`](crate::hal::Signer::sign_prehash) writes: 64 for P-256 (raw `r || s`), the
    /// modulus length for RSA.
    pub const fn signature_len(self) -> usize {
        match self {
            Self::EcP256 => crate::crypto::p256::RAW_SIGNATURE_LEN,
            Self::Rsa { bits } => (bits as usize).div_ceil(8),
        }
    }
}
